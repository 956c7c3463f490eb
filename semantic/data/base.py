"""The common format of every data set in semantic/: one split of a
(multimodal) question-answering set over media items, :class:`QASplit`.

A split holds ``num_items`` media items (an image, a clip of frames and a
waveform, or pre-extracted feature sequences; one array per modality, first
axis the item) and ``num_questions`` questions, each about one item
(``item_index``) with one answer (an index into ``answer_vocab``). Every item
has a caption (for contrastive alignment) and, per modality, a multi-hot
attribute vector (what that modality shows or sounds) to pretrain its encoder.

Also here: how a split is written to and read from a cache entry
(:func:`save_split`, :func:`load_split`, :func:`cached_split`) and the one-line
error helpers shared by the loaders.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Union

import numpy as np

from tokenlink.common.errors import closest_choice
from tokenlink.semantic.cache import atomic_dir, cache_dir, config_key

__all__ = [
    "MEDIA_KINDS",
    "SPLITS",
    "QASplit",
    "save_split",
    "load_split",
    "cached_split",
    "choice_error",
    "check_option_range",
]

#: How a modality's array is laid out (see :class:`QASplit`).
MEDIA_KINDS = ("image", "frames", "waveform", "features")

#: Split names a data set may have.
SPLITS = ("train", "val", "test")

#: Expected number of dimensions and dtype of each media kind.
_KIND_LAYOUT = {
    "image": (4, np.uint8, "uint8 [N, H, W, C] with C = 1 or 3"),
    "frames": (5, np.uint8, "uint8 [N, T, H, W, C] with C = 1 or 3"),
    "waveform": (2, np.float32, "float32 [N, S] in [-1, 1]"),
    "features": (3, np.float32, "float32 [N, T, D]"),
}

#: Bumped when the cached layout changes, so old entries are never read.
CACHE_FORMAT_VERSION = 1


def choice_error(what: str, value: Any, allowed: Iterable[str], prefix: str = "semantic.dataset") -> ValueError:
    """A one-line ValueError: ``unknown <what> '<value>'; allowed: a, b (did you mean a?)``."""
    allowed = list(allowed)
    close = closest_choice(value, allowed, cutoff=0.5)
    hint = f" (did you mean {close}?)" if close is not None else ""
    return ValueError(f"{prefix}: unknown {what} {value!r}; allowed: {', '.join(allowed)}{hint}")


def check_option_range(dataset: str, option: str, value: Any, low: float, high: float, kind: type = int) -> None:
    """Raise a one-line ValueError unless ``low <= value <= high`` (and ``value`` is a ``kind``)."""
    ok_type = isinstance(value, (int, np.integer)) if kind is int else isinstance(value, (int, float, np.number))
    if isinstance(value, bool) or not ok_type or not (low <= value <= high):
        kind_name = "an integer" if kind is int else "a number"
        raise ValueError(
            f"semantic.dataset {dataset}: option {option}={value!r} is not allowed; "
            f"must be {kind_name} in [{low}, {high}]"
        )


@dataclass
class QASplit:
    """One split of a (multimodal) question-answering set over media items.

    :param name: data set name (``"easy_vqa"``, ``"mnist"``, ``"fashion_mnist"``,
        ``"synav"``, ``"music_avqa"``, ``"valor32k"``)
    :param split: ``"train"``, ``"test"`` or ``"val"`` (where the source has one)
    :param media: modality name (``"image"``, ``"video"``, ``"audio"``) -> array
        ``[num_items, ...]`` laid out as its ``media_kind`` says
    :param media_kind: modality -> kind: ``"image"`` uint8 ``[N, H, W, C]``
        (C = 1 or 3); ``"frames"`` uint8 ``[N, T, H, W, C]``; ``"waveform"``
        float32 ``[N, S]`` in [-1, 1] at ``sample_rate_hz``; ``"features"``
        float32 ``[N, T, D]`` (pre-extracted features)
    :param captions: ``[num_items]`` one caption per item
    :param questions: ``[num_questions]`` (empty for caption-only sets)
    :param question_types: ``[num_questions]``
    :param answers: ``[num_questions]`` int64 index into ``answer_vocab``
    :param item_index: ``[num_questions]`` int64 index of the item a question is about
    :param answer_vocab: the answers, identical list and order in every split of a data set
    :param attributes: modality -> ``[num_items, num_attributes]`` float32
        multi-hot targets (what that modality shows or sounds); a modality
        without labels has no entry
    :param attribute_names: modality -> ``[num_attributes]`` names of those columns
    :param sample_rate_hz: sampling rate of the waveform modalities [Hz]
    :param info: provenance (source files, seed, generator version, sizes)
    :param item_meta: optional per-item arrays ``[num_items, ...]`` (e.g. the
        object table of a generated clip); :meth:`subset` keeps them aligned

    Example::

        split = load_dataset("easy_vqa", "train")
        small = split.subset(num_questions=256, seed=1)
        image = small.media["image"][small.item_index[0]]   # uint8 [64, 64, 3]
        answer = small.answer_vocab[small.answers[0]]
    """

    name: str
    split: str
    media: dict[str, np.ndarray]
    media_kind: dict[str, str]
    captions: list[str]
    questions: list[str]
    question_types: list[str]
    answers: np.ndarray
    item_index: np.ndarray
    answer_vocab: list[str]
    attributes: dict[str, np.ndarray]
    attribute_names: dict[str, list[str]]
    sample_rate_hz: Optional[int] = None
    info: dict = field(default_factory=dict)
    item_meta: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        """Number of questions."""
        return len(self.questions)

    @property
    def num_items(self) -> int:
        """Number of media items (first axis of every media array)."""
        for array in self.media.values():
            return int(array.shape[0])
        return len(self.captions)

    @property
    def num_questions(self) -> int:
        """Number of questions (same as ``len(split)``)."""
        return len(self.questions)

    # ------------------------------------------------------------------ checks
    def _fail(self, field_name: str, message: str) -> ValueError:
        return ValueError(f"QASplit {self.name}/{self.split}: field {field_name!r} {message}")

    def validate(self) -> None:
        """Check shapes, dtypes and ranges; raise a one-line ValueError naming the field."""
        if self.split not in SPLITS:
            raise self._fail("split", f"is {self.split!r}; allowed: {', '.join(SPLITS)}")
        if set(self.media) != set(self.media_kind):
            raise self._fail("media_kind",
                             f"has modalities {sorted(self.media_kind)} but media has {sorted(self.media)}")
        num_items = self.num_items
        for modality, array in self.media.items():
            self._validate_media(modality, array, num_items)
        if len(self.captions) != num_items:
            raise self._fail("captions", f"has {len(self.captions)} entries, expected num_items={num_items}")
        self._validate_questions(num_items)
        self._validate_attributes(num_items)
        for key, array in self.item_meta.items():
            if not isinstance(array, np.ndarray) or array.shape[:1] != (num_items,):
                raise self._fail("item_meta", f"entry {key!r} must be an array [num_items={num_items}, ...]")

    def _validate_media(self, modality: str, array: np.ndarray, num_items: int) -> None:
        kind = self.media_kind[modality]
        if kind not in MEDIA_KINDS:
            raise self._fail("media_kind", f"of {modality!r} is {kind!r}; allowed: {', '.join(MEDIA_KINDS)}")
        ndim, dtype, layout = _KIND_LAYOUT[kind]
        if not isinstance(array, np.ndarray) or array.ndim != ndim or array.dtype != dtype:
            got = f"{array.dtype} {list(array.shape)}" if isinstance(array, np.ndarray) else type(array).__name__
            raise self._fail("media", f"{modality!r} is {got}; kind {kind!r} needs {layout}")
        if array.shape[0] != num_items:
            raise self._fail("media", f"{modality!r} has {array.shape[0]} items, expected {num_items}")
        if kind in ("image", "frames") and array.shape[-1] not in (1, 3):
            raise self._fail("media", f"{modality!r} has {array.shape[-1]} channels; allowed: 1 or 3")
        if kind == "waveform":
            if self.sample_rate_hz is None or self.sample_rate_hz <= 0:
                raise self._fail("sample_rate_hz",
                                 f"is {self.sample_rate_hz!r}; a waveform modality needs a positive rate")
            if array.size and float(np.max(np.abs(array))) > 1.0:
                raise self._fail("media", f"{modality!r} waveform leaves [-1, 1]")
        if kind == "features" and array.size and not np.all(np.isfinite(array)):
            raise self._fail("media", f"{modality!r} features contain NaN or inf")

    def _validate_questions(self, num_items: int) -> None:
        num_questions = len(self.questions)
        if len(self.question_types) != num_questions:
            raise self._fail("question_types", f"has {len(self.question_types)} entries, expected {num_questions}")
        for field_name in ("answers", "item_index"):
            array = getattr(self, field_name)
            if not isinstance(array, np.ndarray) or array.dtype != np.int64 or array.shape != (num_questions,):
                got = f"{array.dtype} {list(array.shape)}" if isinstance(array, np.ndarray) else type(array).__name__
                raise self._fail(field_name, f"is {got}; expected int64 [{num_questions}]")
        if len(set(self.answer_vocab)) != len(self.answer_vocab):
            raise self._fail("answer_vocab", "has duplicate entries")
        if num_questions and (self.answers.min() < 0 or self.answers.max() >= len(self.answer_vocab)):
            raise self._fail("answers", f"has values outside [0, {len(self.answer_vocab)})")
        if num_questions and (self.item_index.min() < 0 or self.item_index.max() >= num_items):
            raise self._fail("item_index", f"has values outside [0, {num_items})")

    def _validate_attributes(self, num_items: int) -> None:
        if set(self.attributes) != set(self.attribute_names):
            raise self._fail("attribute_names",
                             f"has {sorted(self.attribute_names)} but attributes has {sorted(self.attributes)}")
        for modality, array in self.attributes.items():
            if modality not in self.media:
                raise self._fail("attributes", f"names modality {modality!r} that is not in media")
            names = self.attribute_names[modality]
            if not isinstance(array, np.ndarray) or array.dtype != np.float32 or array.shape != (num_items, len(names)):
                got = f"{array.dtype} {list(array.shape)}" if isinstance(array, np.ndarray) else type(array).__name__
                raise self._fail("attributes", f"{modality!r} is {got}; expected float32 [{num_items}, {len(names)}]")
            if array.size and not np.all((array == 0) | (array == 1)):
                raise self._fail("attributes", f"{modality!r} is not multi-hot (values other than 0 and 1)")

    # ------------------------------------------------------------------ subsets
    def subset(self, num_questions: Optional[int] = None, num_items: Optional[int] = None, seed: int = 0) -> "QASplit":
        """A random, reproducible small subset.

        ``num_items`` first draws that many items; ``num_questions`` then draws
        that many of the questions about the kept items. Only the items the
        kept questions refer to stay (all drawn items when the split has no
        questions), in their original order, and ``item_index`` is re-indexed.
        ``info["subset"]`` records the parent indices (``parent_items``,
        ``parent_questions``).

        :param num_questions: questions to keep (all if `None` or larger than available)
        :param num_items: items to draw from (all if `None` or larger than available)
        :param seed: seed of the draw
        """
        rng = np.random.default_rng(seed)
        items = np.arange(self.num_items)
        if num_items is not None and num_items < self.num_items:
            items = np.sort(rng.choice(self.num_items, size=num_items, replace=False))
        question_ids = np.flatnonzero(np.isin(self.item_index, items))
        if num_questions is not None and num_questions < len(question_ids):
            question_ids = np.sort(rng.choice(question_ids, size=num_questions, replace=False))
        if len(self.questions):
            items = np.unique(self.item_index[question_ids])
        remap = np.full(self.num_items, -1, dtype=np.int64)
        remap[items] = np.arange(len(items))
        info = dict(self.info)
        info["subset"] = {"seed": seed, "num_questions": num_questions, "num_items": num_items,
                          "parent_num_items": self.num_items, "parent_num_questions": len(self),
                          "parent_items": items.tolist(), "parent_questions": question_ids.tolist()}
        return QASplit(
            name=self.name,
            split=self.split,
            media={m: a[items] for m, a in self.media.items()},
            media_kind=dict(self.media_kind),
            captions=[self.captions[i] for i in items],
            questions=[self.questions[i] for i in question_ids],
            question_types=[self.question_types[i] for i in question_ids],
            answers=self.answers[question_ids].astype(np.int64),
            item_index=remap[self.item_index[question_ids]],
            answer_vocab=list(self.answer_vocab),
            attributes={m: a[items] for m, a in self.attributes.items()},
            attribute_names={m: list(n) for m, n in self.attribute_names.items()},
            sample_rate_hz=self.sample_rate_hz,
            info=info,
            item_meta={k: a[items] for k, a in self.item_meta.items()},
        )

    def question_type_counts(self) -> dict[str, int]:
        """Question type -> number of questions, in order of first appearance."""
        counts: dict[str, int] = {}
        for question_type in self.question_types:
            counts[question_type] = counts.get(question_type, 0) + 1
        return counts


# ---------------------------------------------------------------------- cache
_ARRAY_GROUPS = ("media", "attributes", "item_meta")


def save_split(split: QASplit, folder: Union[str, os.PathLike]) -> None:
    """Write ``split`` to ``folder`` as ``arrays.npz`` (uncompressed) + ``meta.json``."""
    folder = Path(folder)
    arrays = {"answers": split.answers, "item_index": split.item_index}
    for group in _ARRAY_GROUPS:
        for key, array in getattr(split, group).items():
            arrays[f"{group}/{key}"] = array
    np.savez(folder / "arrays.npz", **arrays)
    meta = {f.name: getattr(split, f.name) for f in fields(split)
            if f.name not in _ARRAY_GROUPS + ("answers", "item_index")}
    meta["format_version"] = CACHE_FORMAT_VERSION
    (folder / "meta.json").write_text(json.dumps(meta, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def load_split(folder: Union[str, os.PathLike]) -> QASplit:
    """Read a split written by :func:`save_split`."""
    folder = Path(folder)
    meta = json.loads((folder / "meta.json").read_text())
    meta.pop("format_version", None)
    groups: dict[str, dict[str, np.ndarray]] = {g: {} for g in _ARRAY_GROUPS}
    with np.load(folder / "arrays.npz", allow_pickle=False) as npz:
        answers, item_index = npz["answers"], npz["item_index"]
        for key in npz.files:
            group, _, name = key.partition("/")
            if group in groups:
                groups[group][name] = npz[key]
    return QASplit(answers=answers, item_index=item_index, **groups, **meta)


def cached_split(config: dict, build: Callable[[], QASplit], use_cache: bool = True,
                 root: Union[str, os.PathLike, None] = None) -> QASplit:
    """The split made by ``build()`` for ``config``, read from the cache when there.

    The entry is ``cache_dir("datasets", root) / "<name>-<split>-<config_key>"``;
    ``config`` must name everything the split depends on (source file sizes
    and times, options, loader version).
    """
    if not use_cache:
        return build()
    config = dict(config, cache_format_version=CACHE_FORMAT_VERSION)
    entry = cache_dir("datasets", root) / f"{config['dataset']}-{config['split']}-{config_key(config)}"
    if not (entry / "meta.json").exists():
        split = build()
        with atomic_dir(entry) as tmp:
            if tmp is not None:
                save_split(split, tmp)
        if not (entry / "meta.json").exists():  # lost a race to a broken entry: use what we built
            return split
    split = load_split(entry)
    split.info = dict(split.info, cache_entry=str(entry))
    return split


def file_stamp(path: Union[str, os.PathLike]) -> dict:
    """Path, size and modification time of a source file: part of a cache key."""
    stat = os.stat(path)
    return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def multi_hot(rows: Iterable[Iterable[int]], num_columns: int) -> np.ndarray:
    """float32 ``[len(rows), num_columns]`` with ones at each row's column indices."""
    rows = list(rows)
    out = np.zeros((len(rows), num_columns), dtype=np.float32)
    for r, columns in enumerate(rows):
        out[r, list(columns)] = 1.0
    return out
