"""easy-VQA (PyPI ``easy-vqa==1.0``, MIT): 64x64 RGB images of one coloured
shape, template questions about its shape, colour and presence.

The package ships ``data/{train,test}/images/<id>.png``,
``data/{train,test}/questions.json`` (a list of ``[question, answer,
image_id]``) and ``data/answers.txt`` (13 answers). We decode the PNGs once
with PIL and cache the arrays; each image's shape and colour are derived from
its own questions (every image has a "what shape/colour ..." question or
enough presence questions to pin both down).
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .base import QASplit, cached_split, file_stamp, multi_hot

__all__ = ["load_easy_vqa", "easy_vqa_data_dir", "SHAPES", "COLOURS"]

LOADER_VERSION = 1
SHAPES = ("circle", "rectangle", "triangle")
COLOURS = ("red", "green", "blue", "yellow", "teal", "brown", "black", "gray")
HOW_TO_GET = "pip install easy-vqa==1.0 (or pass root= a folder holding train/, test/ and answers.txt)"


def easy_vqa_data_dir(root: Union[str, Path, None] = None) -> Path:
    """The ``data`` folder of easy-VQA: ``root`` (or ``root/data``), else the installed package's."""
    if root is not None:
        root = Path(root).expanduser()
        candidates = [root, root / "data"]
    else:
        spec = importlib.util.find_spec("easy_vqa")
        locations = list(spec.submodule_search_locations or []) if spec else []
        candidates = [Path(loc) / "data" for loc in locations]
    for folder in candidates:
        if (folder / "answers.txt").is_file():
            return folder
    expected = candidates[0] / "answers.txt" if candidates else Path("easy_vqa/data/answers.txt")
    raise FileNotFoundError(f"semantic.dataset easy_vqa: expected {expected}; get it with: {HOW_TO_GET}")


def _question_type(answer: str) -> str:
    if answer in ("yes", "no"):
        return "yes_no"
    return "shape" if answer in SHAPES else "color"


_NEGATED = re.compile(r"\b(not|no)\b")


def _derive_labels(entries: list, num_images: int) -> tuple[list[str], list[str]]:
    """Each image's shape and colour from its questions: ``([num_images] shapes, [num_images] colours)``."""
    shape_of: list[Optional[str]] = [None] * num_images
    colour_of: list[Optional[str]] = [None] * num_images
    absent_shapes: list[set] = [set() for _ in range(num_images)]
    absent_colours: list[set] = [set() for _ in range(num_images)]
    for question, answer, image_id in entries:
        words = set(re.findall(r"[a-z]+", question))
        named_shapes = words & set(SHAPES)
        named_colours = words & set(COLOURS)
        if answer in SHAPES:
            shape_of[image_id] = answer
        elif answer in COLOURS:
            colour_of[image_id] = answer
        else:  # presence question: "is there (not) a red shape?" / "... a circle?"
            present = (answer == "yes") != bool(_NEGATED.search(question))
            for name, known, absent in ((named_shapes, shape_of, absent_shapes),
                                        (named_colours, colour_of, absent_colours)):
                for value in name:
                    if present:
                        known[image_id] = value
                    else:
                        absent[image_id].add(value)
        if answer in SHAPES and named_colours:  # "what is the red shape?" -> red rectangle
            colour_of[image_id] = next(iter(named_colours))
        if answer in COLOURS and named_shapes:  # "what color is the circle?" -> circle
            shape_of[image_id] = next(iter(named_shapes))
    for i in range(num_images):  # elimination: all other shapes/colours absent
        if shape_of[i] is None and len(absent_shapes[i]) == len(SHAPES) - 1:
            shape_of[i] = next(s for s in SHAPES if s not in absent_shapes[i])
        if colour_of[i] is None and len(absent_colours[i]) == len(COLOURS) - 1:
            colour_of[i] = next(c for c in COLOURS if c not in absent_colours[i])
    return shape_of, colour_of  # type: ignore[return-value]


def _pixel_features(image: np.ndarray) -> tuple[np.ndarray, float]:
    """The shape's pure colour (most frequent non-background pixel) and its bounding-box fill ratio."""
    pixels = image.reshape(-1, 3).astype(np.int32)
    background = pixels[0]
    foreground = np.abs(pixels - background).sum(axis=1) > 60
    if not foreground.any():
        return background.astype(np.float64), 0.0
    values, counts = np.unique(pixels[foreground], axis=0, return_counts=True)
    ys, xs = np.nonzero(foreground.reshape(image.shape[:2]))
    fill = foreground.sum() / ((np.ptp(ys) + 1) * (np.ptp(xs) + 1))
    return values[np.argmax(counts)].astype(np.float64), float(fill)


def _shape_from_fill(fill: float) -> str:
    """Rectangle fills its bounding box (> 0.905 here), a circle about pi/4 of it (0.73-0.90),
    a triangle about half (0.51-0.67)."""
    return "rectangle" if fill > 0.905 else ("circle" if fill > 0.70 else "triangle")


def _fill_from_pixels(images: np.ndarray, shapes: list, colours: list) -> int:
    """Fill labels the questions leave open from the pixels; returns how many images needed it.

    Colour: the labelled image with the nearest pure shape colour; shape: the
    bounding-box fill ratio (:func:`_shape_from_fill`).
    """
    missing = [i for i in range(len(shapes)) if shapes[i] is None or colours[i] is None]
    if not missing:
        return 0
    features = [_pixel_features(image) for image in images]
    known = [i for i in range(len(colours)) if colours[i] is not None]
    palette = np.stack([features[i][0] for i in known])
    for i in missing:
        if colours[i] is None:
            colours[i] = colours[known[int(np.argmin(np.sum((palette - features[i][0]) ** 2, axis=1)))]]
        if shapes[i] is None:
            shapes[i] = _shape_from_fill(features[i][1])
    return len(missing)


def _build(split: str, data_dir: Path) -> QASplit:
    from PIL import Image

    entries = json.loads((data_dir / split / "questions.json").read_text())
    answer_vocab = [a.strip() for a in (data_dir / "answers.txt").read_text().splitlines() if a.strip()]
    image_dir = data_dir / split / "images"
    ids = sorted(int(p.stem) for p in image_dir.glob("*.png"))
    if ids != list(range(len(ids))):
        raise ValueError(f"semantic.dataset easy_vqa: images in {image_dir} are not numbered 0..{len(ids) - 1}")
    images = np.stack([np.asarray(Image.open(image_dir / f"{i}.png").convert("RGB"), dtype=np.uint8) for i in ids])
    shapes, colours = _derive_labels(entries, len(ids))
    num_from_pixels = _fill_from_pixels(images, shapes, colours)
    answer_index = {a: k for k, a in enumerate(answer_vocab)}
    names = list(SHAPES) + list(COLOURS)
    attributes = multi_hot(([SHAPES.index(s), len(SHAPES) + COLOURS.index(c)]
                            for s, c in zip(shapes, colours, strict=True)), len(names))
    return QASplit(
        name="easy_vqa",
        split=split,
        media={"image": images},
        media_kind={"image": "image"},
        captions=[f"a {c} {s}" for s, c in zip(shapes, colours, strict=True)],
        questions=[e[0] for e in entries],
        question_types=[_question_type(e[1]) for e in entries],
        answers=np.array([answer_index[e[1]] for e in entries], dtype=np.int64),
        item_index=np.array([e[2] for e in entries], dtype=np.int64),
        answer_vocab=answer_vocab,
        attributes={"image": attributes},
        attribute_names={"image": names},
        info={"source": str(data_dir), "licence": "MIT", "package": "easy-vqa 1.0",
              "labels_from_pixels": num_from_pixels, "loader_version": LOADER_VERSION},
    )


def load_easy_vqa(split: str, root: Union[str, Path, None] = None, cache: bool = True) -> QASplit:
    """easy-VQA ``split`` ("train": 4000 images / 38,575 questions, "test": 1000 / 9,673).

    :param split: ``"train"`` or ``"test"``
    :param root: folder holding ``train/``, ``test/`` and ``answers.txt`` (default: the installed package)
    :param cache: read/write the decoded arrays in ``cache_dir("datasets")``
    :output: modality ``"image"``: uint8 ``[N, 64, 64, 3]``; 13 answers;
        question types ``shape``, ``color``, ``yes_no``; image attributes
        3 shapes + 8 colours (one-hot each)
    """
    data_dir = easy_vqa_data_dir(root)
    questions_path = data_dir / split / "questions.json"
    if not questions_path.is_file():
        raise FileNotFoundError(f"semantic.dataset easy_vqa: expected {questions_path}; get it with: {HOW_TO_GET}")
    config = {"dataset": "easy_vqa", "split": split, "loader_version": LOADER_VERSION,
              "questions": file_stamp(questions_path), "answers": file_stamp(data_dir / "answers.txt")}
    return cached_split(config, lambda: _build(split, data_dir), use_cache=cache)
