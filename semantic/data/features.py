"""Loaders of the real audio-visual sets whose media we only have as
pre-extracted features: MUSIC-AVQA (questions) and VALOR-32K (captions).

Neither can be downloaded here; both loaders read the published annotation
files plus per-video feature files, and are tested on small generated files
in the same format (layouts in docs/data.md).

MUSIC-AVQA (GeWu-Lab/MUSIC-AVQA, checked against its ``net_grd_avst``
dataloader): ``json/avqa-{train,val,test}.json`` is a list of records
``{"video_id": "00000272", "question_id": 50, "type": "[\\"Audio-Visual\\",
\\"Temporal\\"]", "question_content": "Where is the <FL> sounding
instrument?", "templ_values": "[\\"first\\"]", "question_deleted": 0,
"anser": "left"}`` (``type`` and ``templ_values`` are JSON strings; the
answer key is spelled ``anser``). Placeholders ``<...>`` are filled in order
from ``templ_values``. Features: ``feats/vggish/<video_id>.npy`` [T, 128]
(T = 60, one per second) and a visual folder (``feats/res18/<video_id>.npy``
[T, 512] pooled ResNet-18 by default; 14x14 maps [T, 512, 14, 14] are
average-pooled).

VALOR-32K (VALOR-32K-annotations): ``desc_{train,val,test}.json`` is a list
of ``{"video_id": ..., "desc": caption}``. VALOR ships no features; we read
``features/{audio,video}/<video_id>.npy`` [T, D] or one HDF5 file per
modality, ``features/{audio,video}.h5``, with one dataset per video id.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .base import QASplit, check_option_range, choice_error, multi_hot

__all__ = ["load_music_avqa", "load_valor32k", "resample_segments", "fill_template", "music_avqa_question_type"]

MUSIC_AVQA_HOW_TO_GET = ("annotations from https://github.com/GeWu-Lab/MUSIC-AVQA (data/json), features "
                         "(VGGish, ResNet-18) from its README's links; layout in docs/data.md")
VALOR_HOW_TO_GET = ("annotations from https://casia-iva-group.github.io/projects/VALOR/download.html "
                    "(VALOR-32K-annotations), features extracted by you; layout in docs/data.md")
_PLACEHOLDER = re.compile(r"<[^<>]+>")


def resample_segments(features: np.ndarray, num_segments: int) -> np.ndarray:
    """float32 ``[num_segments, D]`` from ``[T, D]`` (or ``[T, D, H, W]``, averaged over H, W):
    ``num_segments`` evenly spaced time steps (the last one repeated when T is shorter)."""
    features = np.asarray(features, dtype=np.float32)
    if features.ndim == 4:
        features = features.mean(axis=(2, 3))
    if features.ndim == 1:
        features = features[None, :]
    if features.ndim != 2 or features.shape[0] == 0:
        raise ValueError(f"semantic.dataset: feature array has shape {list(features.shape)}; "
                         "expected [T, D] or [T, D, H, W]")
    steps = np.round(np.linspace(0, features.shape[0] - 1, num_segments)).astype(np.int64)
    return features[steps]


def _parse_list(text) -> list:
    if isinstance(text, list):
        return text
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        value = ast.literal_eval(text)  # literals only: safe
    return list(value)


def fill_template(question_content: str, templ_values) -> str:
    """``"Where is the <FL> sounding instrument?"`` + ``'["first"]'``
    -> ``"Where is the first sounding instrument?"``."""
    values = iter(_parse_list(templ_values))
    return _PLACEHOLDER.sub(lambda m: str(next(values, m.group(0))), question_content.strip())


def music_avqa_question_type(type_field) -> str:
    """``'["Audio-Visual", "Temporal"]'`` -> ``"audio_visual_temporal"``."""
    parts = _parse_list(type_field)
    return "_".join(str(p).lower().replace("-", "_") for p in parts)


def _object_values(record: dict) -> list[str]:
    """The values filling ``<Object>`` placeholders (instrument names) of one record."""
    names = _PLACEHOLDER.findall(record.get("question_content", ""))
    values = _parse_list(record.get("templ_values", "[]"))
    return [str(v) for n, v in zip(names, values, strict=False) if n.lower() == "<object>"]


def _read_json_list(path: Path, dataset: str, how_to_get: str) -> list:
    if not path.is_file():
        raise FileNotFoundError(f"semantic.dataset {dataset}: expected {path}; get it: {how_to_get}")
    records = json.loads(path.read_text())
    if isinstance(records, dict):  # some releases wrap the list
        records = records.get("annotations", records.get("data", list(records.values())))
    return list(records)


def _find_annotation(root: Path, names: list[str]) -> Path:
    """``root/<name>`` or ``root/<sub>/<name>`` for the usual sub-folders; else the first expected path."""
    for sub in ("", "json", "data/json", "VALOR-32K-annotations", "annotations"):
        for name in names:
            if (root / sub / name).is_file():
                return root / sub / name
    return root / names[0]


class _FeatureSource:
    """Per-video features of one modality: ``<folder>/<video_id>.npy`` or ``<folder>.h5`` (dataset per video id)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.h5_path = folder.with_suffix(".h5")
        self._h5 = None

    def exists(self) -> bool:
        return self.folder.is_dir() or self.h5_path.is_file()

    def expected(self, video_id: str) -> Path:
        return self.folder / f"{video_id}.npy" if not self.h5_path.is_file() else self.h5_path

    def get(self, video_id: str) -> Optional[np.ndarray]:
        if self.folder.is_dir():
            path = self.folder / f"{video_id}.npy"
            if path.is_file():
                return np.load(path, allow_pickle=False)
        if self.h5_path.is_file():
            if self._h5 is None:
                import h5py

                self._h5 = h5py.File(self.h5_path, "r")
            if video_id in self._h5:
                return self._h5[video_id][()]
        return None

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None


def _load_features(video_ids: list[str], sources: dict[str, _FeatureSource], num_segments: int, on_missing: str,
                   dataset: str, how_to_get: str) -> tuple[dict[str, np.ndarray], list[str]]:
    """``({modality: float32 [N, num_segments, D]}, kept video ids)``; a video missing any modality is
    an error, or dropped when ``on_missing == "skip"``."""
    for modality, source in sources.items():
        if not source.exists():
            raise FileNotFoundError(f"semantic.dataset {dataset}: expected {modality} features in {source.folder}/ "
                                    f"(<video_id>.npy) or {source.h5_path}; get them: {how_to_get}")
    arrays: dict[str, list] = {m: [] for m in sources}
    kept = []
    try:
        for video_id in video_ids:
            loaded = {m: s.get(video_id) for m, s in sources.items()}
            missing = [m for m, a in loaded.items() if a is None]
            if missing:
                if on_missing == "skip":
                    continue
                path = sources[missing[0]].expected(video_id)
                raise FileNotFoundError(f"semantic.dataset {dataset}: expected {missing[0]} features of video "
                                        f"{video_id!r} in {path} (pass on_missing='skip' to drop such videos); "
                                        f"get them: {how_to_get}")
            for modality, array in loaded.items():
                arrays[modality].append(resample_segments(array, num_segments))
            kept.append(video_id)
    finally:
        for source in sources.values():
            source.close()
    media = {}
    for modality, rows in arrays.items():
        dims = {r.shape[1] for r in rows}
        if len(dims) > 1:
            raise ValueError(f"semantic.dataset {dataset}: {modality} features have different widths {sorted(dims)}")
        width = dims.pop() if dims else 0
        media[modality] = np.stack(rows) if rows else np.zeros((0, num_segments, width), dtype=np.float32)
    return media, kept


def _check_common(dataset: str, num_segments: int, on_missing: str) -> None:
    check_option_range(dataset, "num_segments", num_segments, 1, 10_000)
    if on_missing not in ("error", "skip"):
        raise choice_error(f"value of option on_missing for {dataset}", on_missing, ("error", "skip"))


# ------------------------------------------------------------------ MUSIC-AVQA
def load_music_avqa(split: str, root: Union[str, Path, None] = None, audio_features: str = "vggish",
                    visual_features: str = "res18", num_segments: int = 10, on_missing: str = "error",
                    include_deleted: bool = False) -> QASplit:
    """MUSIC-AVQA ``split`` from its annotations and pre-extracted features.

    :param root: folder holding ``json/avqa-*.json`` (or the json files) and ``feats/``
    :param audio_features: sub-folder of ``feats/`` with the audio features (VGGish [T, 128])
    :param visual_features: sub-folder of ``feats/`` with the visual features
        (pooled ResNet-18 [T, 512]; ``res18_14x14`` maps are average-pooled)
    :param num_segments: time steps kept per video (evenly spaced; the official code keeps 10 of 60)
    :param on_missing: ``"error"`` or ``"skip"`` (drop videos and their questions)
    :param include_deleted: keep records with ``question_deleted`` = 1
    :output: modalities ``"audio"``, ``"video"``: float32 ``[N, num_segments, D]``
        (kind ``features``); answer vocab from the train annotations (order of
        first appearance, as the official code); question types such as
        ``audio_counting``, ``visual_location``, ``audio_visual_temporal``;
        attributes of both modalities: the instruments named in the item's
        questions (weak labels)
    """
    if root is None:
        raise FileNotFoundError("semantic.dataset music_avqa: expected root= a folder with json/avqa-train.json "
                                f"and feats/; get it: {MUSIC_AVQA_HOW_TO_GET}")
    _check_common("music_avqa", num_segments, on_missing)
    root = Path(root).expanduser()
    train_records = _read_json_list(_find_annotation(root, ["avqa-train.json"]), "music_avqa", MUSIC_AVQA_HOW_TO_GET)
    records = train_records if split == "train" else _read_json_list(
        _find_annotation(root, [f"avqa-{split}.json"]), "music_avqa", MUSIC_AVQA_HOW_TO_GET)
    if not include_deleted:
        records = [r for r in records if not int(r.get("question_deleted", 0))]
    answer_vocab = list(dict.fromkeys(str(r["anser"]) for r in train_records))
    instruments = sorted({v for r in train_records for v in _object_values(r)})
    video_ids = list(dict.fromkeys(str(r["video_id"]) for r in records))
    feats = root / "feats" if (root / "feats").is_dir() else root / "data" / "feats"
    sources = {"audio": _FeatureSource(feats / audio_features), "video": _FeatureSource(feats / visual_features)}
    media, kept = _load_features(video_ids, sources, num_segments, on_missing, "music_avqa", MUSIC_AVQA_HOW_TO_GET)
    item_of = {v: i for i, v in enumerate(kept)}
    answer_index = {a: i for i, a in enumerate(answer_vocab)}
    usable = [r for r in records if str(r["video_id"]) in item_of and str(r["anser"]) in answer_index]
    named: list[set] = [set() for _ in kept]
    for r in records:
        if str(r["video_id"]) in item_of:
            named[item_of[str(r["video_id"])]].update(v for v in _object_values(r) if v in instruments)
    columns = [[instruments.index(v) for v in sorted(s)] for s in named]
    labels = multi_hot(columns, len(instruments))
    return QASplit(
        name="music_avqa",
        split=split,
        media=media,
        media_kind={"audio": "features", "video": "features"},
        captions=[_music_caption(sorted(s)) for s in named],
        questions=[fill_template(r["question_content"], r.get("templ_values", "[]")) for r in usable],
        question_types=[music_avqa_question_type(r.get("type", "[]")) for r in usable],
        answers=np.array([answer_index[str(r["anser"])] for r in usable], dtype=np.int64),
        item_index=np.array([item_of[str(r["video_id"])] for r in usable], dtype=np.int64),
        answer_vocab=answer_vocab,
        attributes={"audio": labels, "video": labels.copy()},
        attribute_names={"audio": list(instruments), "video": list(instruments)},
        info={"source": str(root), "licence": "see https://gewu-lab.github.io/MUSIC-AVQA/ (repository code: GPL-3.0)",
              "audio_features": audio_features, "visual_features": visual_features, "num_segments": num_segments,
              "video_ids": kept, "num_records": len(records),
              "dropped_questions": len(records) - len(usable), "dropped_videos": len(video_ids) - len(kept)},
    )


def _music_caption(instruments: list[str]) -> str:
    names = [i.replace("_", " ") for i in instruments]
    if not names:
        return "a music performance"
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"a music performance with {listed}"


# ------------------------------------------------------------------- VALOR-32K
def load_valor32k(split: str, root: Union[str, Path, None] = None, num_segments: int = 10,
                  on_missing: str = "error") -> QASplit:
    """VALOR-32K ``split`` (captions only) from its annotations and pre-extracted features.

    :param root: folder holding ``desc_{split}.json`` (or ``VALOR-32K-annotations/``) and ``features/``
    :param num_segments: time steps kept per video (evenly spaced)
    :param on_missing: ``"error"`` or ``"skip"`` (drop videos without features)
    :output: modalities ``"audio"``, ``"video"``: float32 ``[N, num_segments, D]``
        (kind ``features``); ``captions`` = the ``desc`` fields; no questions,
        no answers, no attributes
    """
    if root is None:
        raise FileNotFoundError("semantic.dataset valor32k: expected root= a folder with desc_train.json and "
                                f"features/; get it: {VALOR_HOW_TO_GET}")
    _check_common("valor32k", num_segments, on_missing)
    root = Path(root).expanduser()
    records = _read_json_list(_find_annotation(root, [f"desc_{split}.json"]), "valor32k", VALOR_HOW_TO_GET)
    captions = {}
    for r in records:
        captions.setdefault(str(r["video_id"]), str(r["desc"]))
    sources = {"audio": _FeatureSource(root / "features" / "audio"),
               "video": _FeatureSource(root / "features" / "video")}
    media, kept = _load_features(list(captions), sources, num_segments, on_missing, "valor32k", VALOR_HOW_TO_GET)
    return QASplit(
        name="valor32k",
        split=split,
        media=media,
        media_kind={"audio": "features", "video": "features"},
        captions=[captions[v] for v in kept],
        questions=[],
        question_types=[],
        answers=np.zeros(0, dtype=np.int64),
        item_index=np.zeros(0, dtype=np.int64),
        answer_vocab=[],
        attributes={},
        attribute_names={},
        info={"source": str(root), "licence": "VALOR-32K annotations: research use (see the VALOR project page)",
              "num_segments": num_segments, "video_ids": kept, "dropped_videos": len(captions) - len(kept)},
    )
