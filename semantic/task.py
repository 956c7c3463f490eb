"""A data set made ready for the split model: everything frozen is computed once.

The device encoders are frozen after pretraining, and so are the foundation
model's base weights, so per split we compute once: the encoder tokens of
every item (modality -> [num_items, N, width]), the caption embeddings of
every item ([num_items, d_model], unit norm, base weights) and the tokenized
questions ([num_questions, L]). Training then costs only the trainable parts
and the link.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from ..common.errors import did_you_mean
from ..common.progress import ProgressLike, format_duration, resolve_progress
from .config import SemanticConfig
from .data import QASplit, load_dataset, modality_captions
from .encoders import encode, pretrained_encoder
from .foundation import FoundationModel

__all__ = ["TaskData", "SplitTensors", "prepare_task", "select_modalities", "batch_encoded", "batch_questions",
           "question_prior"]


@dataclass
class SplitTensors:
    """One split as tensors (on the run's device)."""

    encoded: dict[str, torch.Tensor]
    """modality -> [num_items, N, width], float32: frozen-encoder tokens."""
    captions: torch.Tensor
    """[num_items, d_model], float32, unit norm: caption embeddings (foundation base weights)."""
    modality_captions: dict[str, torch.Tensor]
    """modality -> [num_items, d_model], float32, unit norm: the caption embedding each modality is aligned to
    (``align.target``: ``captions`` itself for every modality with ``"joint"``)."""
    input_ids: torch.Tensor
    """[num_questions, L], int64: tokenized questions (padded to the longest)."""
    attention_mask: torch.Tensor
    """[num_questions, L], int64."""
    answers: torch.Tensor
    """[num_questions], int64: index into the answer vocabulary."""
    item_index: torch.Tensor
    """[num_questions], int64: the item each question is about."""


@dataclass
class TaskData:
    """Train and test splits of one data set, ready for :mod:`tokenlink.semantic.train`."""

    name: str
    modalities: tuple[str, ...]
    answer_vocab: list[str]
    train_split: QASplit
    test_split: QASplit
    train: SplitTensors
    test: SplitTensors
    sequence_shapes: dict[str, tuple[int, int]]
    """modality -> (N tokens, width) of the frozen encoder."""
    encoder_info: dict[str, dict]

    @property
    def has_questions(self) -> bool:
        return len(self.train_split) > 0 and len(self.test_split) > 0


def prepare_task(
    cfg: SemanticConfig,
    foundation: FoundationModel,
    seed: int,
    device: str = "cpu",
    progress: ProgressLike = False,
    test_seed: Optional[int] = None,
) -> TaskData:
    """Load the data set, pretrain (or load) and freeze the encoders, and
    compute encoder tokens, caption embeddings and tokenized questions.

    ``seed`` draws the training subset and the encoders' pretraining; ``test_seed`` (`None`:
    ``seed``) the test subset, so that models trained with different seeds can be tested on
    the same questions.

    ``progress``: a line when the data set is loaded and one when its tokens are ready, and the
    encoder pretraining stages (:mod:`tokenlink.common.progress`)."""
    progress = resolve_progress(progress)
    start = time.perf_counter()
    progress.message(f"data: loading {cfg.dataset} (train and test splits)")
    options = dict(cfg.dataset_options)
    train = load_dataset(cfg.dataset, "train", cfg.data_root, **options)
    test = load_dataset(cfg.dataset, "test", cfg.data_root, **options)
    if cfg.train_questions is not None and cfg.train_questions < len(train):
        train = train.subset(num_questions=cfg.train_questions, seed=seed)
    if cfg.test_questions is not None and cfg.test_questions < len(test):
        test = test.subset(num_questions=cfg.test_questions, seed=(seed if test_seed is None else test_seed) + 1)
    modalities = select_modalities(cfg, train)

    encoders, info = {}, {}
    for m in modalities:
        key = json.dumps({"dataset": cfg.dataset, "options": options, "modality": m,
                          "train_questions": cfg.train_questions, "subset_seed": seed}, sort_keys=True)
        encoders[m] = pretrained_encoder(
            train.media_kind[m], tuple(train.media[m].shape[1:]), train.media[m], train.attributes[m],
            dataset_key=key, width=cfg.encoder.width, epochs=cfg.encoder.pretrain_epochs, seed=seed,
            device=device, sample_rate_hz=train.sample_rate_hz, progress=progress,
        )
        info[m] = {"kind": train.media_kind[m], "input_shape": list(train.media[m].shape[1:])}

    def tensors(split: QASplit) -> SplitTensors:
        encoded = {m: encode(encoders[m], split.media[m], device=device).to(device) for m in modalities}
        captions = foundation.sentence_embeddings(split.captions).to(device)
        if cfg.align.target == "per_modality":
            targets = {m: foundation.sentence_embeddings(texts).to(device)
                       for m, texts in modality_captions(split, modalities).items()}
        else:
            targets = dict.fromkeys(modalities, captions)
        if len(split):
            ids, mask = foundation.tokenize(split.questions)
        else:
            ids = mask = torch.zeros(0, 2, dtype=torch.long)
        return SplitTensors(encoded, captions, targets, ids.to(device), mask.to(device),
                            torch.as_tensor(split.answers, dtype=torch.long, device=device),
                            torch.as_tensor(split.item_index, dtype=torch.long, device=device))

    train_t, test_t = tensors(train), tensors(test)
    progress.message(f"data: {cfg.dataset} ready in {format_duration(time.perf_counter() - start)}: "
                     f"{len(train)} train / {len(test)} test questions, {train.num_items} + {test.num_items} "
                     "items encoded by the frozen encoders")
    shapes = {m: (int(train_t.encoded[m].shape[1]), int(train_t.encoded[m].shape[2])) for m in modalities}
    for m in modalities:
        info[m]["tokens"] = list(shapes[m])
    return TaskData(cfg.dataset, modalities, list(train.answer_vocab), train, test, train_t, test_t, shapes, info)


def select_modalities(cfg: SemanticConfig, split: QASplit) -> tuple[str, ...]:
    """``cfg.modalities`` (default: all of the data set's), checked against the data set."""
    available = list(split.media)
    if cfg.modalities is None:
        return tuple(available)
    for m in cfg.modalities:
        if m not in split.media:
            raise ValueError(f"semantic.modalities: {m!r} is not a modality of {cfg.dataset}"
                             f"{did_you_mean(m, available)}; "
                             f"allowed: {', '.join(available)}")
    return tuple(cfg.modalities)


def batch_encoded(data: SplitTensors, items: torch.Tensor, modalities: Optional[tuple[str, ...]] = None
                  ) -> dict[str, torch.Tensor]:
    """modality -> [len(items), N, width]: the encoder tokens of these items."""
    names = modalities if modalities is not None else tuple(data.encoded)
    return {m: data.encoded[m][items] for m in names}


def batch_questions(data: SplitTensors, questions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and mask [len(questions), L'] of these questions, trailing padding trimmed."""
    ids, mask = data.input_ids[questions], data.attention_mask[questions]
    length = int(mask.sum(dim=1).max()) if mask.numel() else 0
    return ids[:, :length], mask[:, :length]


def question_prior(train: QASplit, test: QASplit) -> np.ndarray:
    """What a blind model answers: for every test question [num_questions] int64, the most frequent
    training answer of the same question text, else of the same question type, else of all training
    questions (ties: the smaller answer index). No media and no channel: the accuracy a model must
    clearly beat to show that the tokens carried something."""
    by_text: dict[str, Counter] = {}
    by_type: dict[str, Counter] = {}
    overall: Counter = Counter()
    for text, kind, answer in zip(train.questions, train.question_types, train.answers, strict=True):
        by_text.setdefault(text, Counter())[int(answer)] += 1
        by_type.setdefault(kind, Counter())[int(answer)] += 1
        overall[int(answer)] += 1

    def majority(counts: Counter) -> int:
        return min(counts, key=lambda a: (-counts[a], a))

    fallback = majority(overall) if overall else 0
    return np.asarray([majority(by_text[t]) if t in by_text else majority(by_type[k]) if k in by_type else fallback
                       for t, k in zip(test.questions, test.question_types, strict=True)], dtype=np.int64)
