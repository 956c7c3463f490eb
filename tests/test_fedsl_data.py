"""Image sets for the VGG (tokenlink.semantic.fedsl.data), on small generated files in each source's format."""

import gzip
import json
import os
import pickle

import numpy as np
import pytest
import torch

from tokenlink.semantic.fedsl.data import (CIFAR10_CLASSES, load_cifar10, load_image_dataset, to_vgg_images)


def test_grey_28x28_is_zero_padded_to_32_and_replicated_to_three_channels():
    images = np.full((2, 28, 28, 1), 255, dtype=np.uint8)
    images[1, 0, 0, 0] = 51
    x = to_vgg_images(images)
    assert x.shape == (2, 3, 32, 32) and x.dtype == torch.float32
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 0], x[:, 2])
    assert (x[:, :, 2:30, 2:30] > 0).all() and x[:, :, :2].abs().sum() == 0 and x[:, :, :, 30:].abs().sum() == 0
    assert x[1, 0, 2, 2] == pytest.approx(0.2)


def test_colour_64x64_is_average_pooled_to_32():
    images = np.zeros((1, 64, 64, 3), dtype=np.uint8)
    images[0, 0, 0] = (255, 0, 0)  # one red pixel in the top-left 2x2 block
    x = to_vgg_images(images)
    assert x.shape == (1, 3, 32, 32)
    assert x[0, :, 0, 0].tolist() == pytest.approx([0.25, 0.0, 0.0])


# ------------------------------------------------------------------ CIFAR-10
def _write_cifar(folder, protocol):
    """data_batch_1..5 (3 images each) and test_batch (2 images), the python-pickle format."""
    rng = np.random.default_rng(0)
    written = {}
    for name, n in [(f"data_batch_{k}", 3) for k in range(1, 6)] + [("test_batch", 2)]:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).tolist()
        batch = {b"batch_label": b"generated " + name.encode(), b"labels": labels, b"data": data,
                 b"filenames": [f"img_{i}.png".encode() for i in range(n)], b"empty": b""}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=protocol)
        written[name] = (data, labels)
    return written


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_cifar10_loader_reads_generated_batches(tmp_path, protocol):
    written = _write_cifar(tmp_path, protocol)
    train = load_cifar10("train", root=tmp_path)
    test = load_cifar10("test", root=tmp_path)
    assert train.images.shape == (15, 3, 32, 32) and test.images.shape == (2, 3, 32, 32)
    assert train.class_names == CIFAR10_CLASSES
    data, labels = written["test_batch"]
    assert test.labels.tolist() == labels
    # row layout: 1024 red (row-major 32x32), then green, then blue
    assert test.images[1, 1, 0, 5] == pytest.approx(data[1, 1024 + 5] / 255.0)
    assert test.images[0, 2, 31, 31] == pytest.approx(data[0, 3071] / 255.0)
    assert train.labels.tolist() == sum((written[f"data_batch_{k}"][1] for k in range(1, 6)), [])


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_cifar10_loader_refuses_a_pickle_that_calls_os_system(tmp_path):
    _write_cifar(tmp_path, 2)
    marker = tmp_path / "pwned"
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": _Exploit(marker), b"labels": [0]}, f, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="system"):
        load_cifar10("test", root=tmp_path)
    assert not marker.exists()


def test_cifar10_missing_files_say_where_to_put_them(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        load_cifar10("train", root=tmp_path)
    message = str(error.value)
    assert "\n" not in message and str(tmp_path / "data_batch_1") in message and "cifar-10-python" in message


# ---------------------------------------------------------- MNIST, easy-VQA
def test_mnist_images_come_from_the_digits_loader_as_32x32x3(tmp_path):
    rng = np.random.default_rng(1)
    splits = tuple((rng.integers(0, 256, size=(n, 784)).astype(np.float32) / 256.0,
                    rng.integers(0, 10, size=n)) for n in (4, 2, 3))
    with gzip.open(tmp_path / "mnist.pkl.gz", "wb") as f:
        pickle.dump(splits, f, protocol=2)
    test = load_image_dataset("mnist", "test", root=tmp_path)
    assert test.images.shape == (3, 3, 32, 32) and test.labels.tolist() == splits[2][1].tolist()
    pixel = np.rint(splits[2][0][0, 28 * 5 + 7] * 256) / 255.0
    assert test.images[0, 1, 2 + 5, 2 + 7] == pytest.approx(pixel)
    assert len(test.subset([2, 0])) == 2


def test_easy_vqa_images_are_labelled_by_shape_and_colour(tmp_path):
    from PIL import Image

    answers = ["circle", "rectangle", "triangle", "red", "green", "blue", "yellow", "teal", "brown", "black",
               "gray", "yes", "no"]
    (tmp_path / "answers.txt").write_text("\n".join(answers) + "\n")
    split = tmp_path / "test"
    (split / "images").mkdir(parents=True)
    for i in range(2):
        Image.fromarray(np.full((64, 64, 3), 40 * i, dtype=np.uint8)).save(split / "images" / f"{i}.png")
    questions = [["what shape is this?", "circle", 0], ["what color is the shape?", "red", 0],
                 ["what shape is this?", "triangle", 1], ["what color is the shape?", "teal", 1]]
    (split / "questions.json").write_text(json.dumps(questions))
    data = load_image_dataset("easy_vqa", "test", root=tmp_path)
    assert data.images.shape == (2, 3, 32, 32)
    assert [data.class_names[k] for k in data.labels.tolist()] == ["red circle", "teal triangle"]
    assert len(data.class_names) == 24


def test_unknown_image_dataset_raises_naming_the_allowed_ones():
    with pytest.raises(ValueError, match="allowed: mnist, fashion_mnist, easy_vqa, cifar10"):
        load_image_dataset("imagenet", "train")
