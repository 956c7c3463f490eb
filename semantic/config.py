"""Validated configuration of the semantic pipeline (the scenario's ``semantic:`` section).

One frozen pydantic model per concern, rejecting unknown keys, in the style
of :mod:`tokenlink.bridge.config`. The pipeline (Paper A, token
communication for multimodal models)::

    media --frozen encoder--> [N, width] --projection--> [N, 384] --compression--> [K, 384]
          --bridge/ (analog or digital, one channel realization per device)-->
          --MLP receiver--> [K, 384] --foundation model (MiniLM + LoRA) with the question--> answer

Stage 1 (``align``): contrastive split fine-tuning, InfoNCE between pooled,
L2-normalised received modality tokens and the foundation model's caption
embedding, plus ``mse_weight`` times the text-reconstruction MSE; trains
projections, compressors and receivers. Stage 2 (``task``): collaborative
fine-tuning of LoRA adapters, projections, compressors, receivers and the
answer head on the task, with ``align_weight`` times the stage-1 loss kept
as an auxiliary term. The channel is in the loop in both stages unless
``train_snr_db`` is `None` (ideal channel).
"""

from __future__ import annotations

import math
from typing import Any, Literal, Optional, Union, get_args

from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, model_validator

from ..common.config import StrictConfig

__all__ = [
    "DATASET_NAMES",
    "COMPRESSIONS",
    "TRAIN_LINK_MODES",
    "EncoderConfig",
    "LoraConfig",
    "AlignStage",
    "TaskStage",
    "SemanticConfig",
]

DatasetName = Literal["easy_vqa", "mnist", "fashion_mnist", "synav", "music_avqa", "valor32k"]
DATASET_NAMES: tuple[str, ...] = ("easy_vqa", "mnist", "fashion_mnist", "synav", "music_avqa", "valor32k")
Compression = Literal["none", "uniform", "pool", "attention"]
COMPRESSIONS: tuple[str, ...] = ("none", "uniform", "pool", "attention")


class EncoderConfig(StrictConfig):
    """The device's modality encoders: ``width`` channels per encoder token;
    each is pretrained on its own modality's training split (attribute
    prediction, ``pretrain_epochs`` epochs) and then frozen. Weights are
    cached by configuration (``tokenlink.semantic.cache``)."""

    width: PositiveInt = 128
    pretrain_epochs: PositiveInt = 3
    pretrain_batch_size: PositiveInt = 64
    pretrain_lr: PositiveFloat = 1e-3


class LoraConfig(StrictConfig):
    """LoRA adapters on the foundation model (``rank`` 0: none, the foundation
    model stays frozen). ``alpha`` `None`: the rank (scale 1). ``targets``:
    MiniLM's attention projections (``query``, ``key``, ``value``) and the
    ``dense`` output layers."""

    rank: NonNegativeInt = 8
    alpha: Optional[PositiveFloat] = None
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    targets: tuple[Literal["query", "key", "value", "dense"], ...] = ("query", "value")

    @model_validator(mode="after")
    def _check(self) -> "LoraConfig":
        if not self.targets or len(set(self.targets)) != len(self.targets):
            raise ValueError(f"targets must name distinct layers, at least one, got {list(self.targets)}")
        return self


Schedule = Literal["constant", "cosine"]
TrainLinkMode = Literal["analog", "digital"]
TrainChannel = Literal["link", "embedding_awgn"]
TRAIN_LINK_MODES: tuple[str, ...] = get_args(TrainLinkMode)


class _Stage(StrictConfig):
    """What both stages share: the learning-rate schedule over the stage's steps.

    ``schedule``: ``"constant"`` (the configured learning rates throughout)
    or ``"cosine"`` (half a cosine from the configured rates to zero at the
    stage's last step); either way after ``warmup_steps`` steps of linear
    warm-up from rate / ``warmup_steps``.
    """

    schedule: Schedule = "constant"
    warmup_steps: NonNegativeInt = 0


class AlignStage(_Stage):
    """Stage 1, contrastive split fine-tuning (``epochs`` 0 skips it).

    ``temperature``: InfoNCE temperature (``learnable_temperature``: trained,
    starting there). ``mse_weight``: weight of the text-reconstruction MSE
    between the pooled received tokens and the caption embedding.
    ``max_steps``: stop the stage after this many optimizer steps (a budget
    for quick runs; `None`: all epochs). ``target``: what each modality's tokens
    are aligned to (in stage 1 and the stage-2 auxiliary term, and what
    retrieval recall@k is measured against): ``"joint"``, the item's one
    caption (paper A), or ``"per_modality"``, a caption of what that modality
    alone can know (SynAV: the frames' objects and positions, the audio's
    instruments, pitches and loudness; a one-modality data set: its caption).
    """

    epochs: NonNegativeInt = 1
    lr: PositiveFloat = 1e-3
    batch_size: PositiveInt = 64
    temperature: PositiveFloat = 0.07
    learnable_temperature: bool = False
    mse_weight: NonNegativeFloat = 1.0
    max_steps: Optional[PositiveInt] = None
    target: Literal["joint", "per_modality"] = "joint"


class TaskStage(_Stage):
    """Stage 2, collaborative fine-tuning on the task (``epochs`` 0 skips it).

    ``lr``: projections, compressors, receivers and answer head;
    ``lora_lr``: LoRA adapters. ``align_weight``: weight of the stage-1 loss
    kept as an auxiliary term. ``max_steps``: as in :class:`AlignStage`.
    """

    epochs: NonNegativeInt = 2
    lr: PositiveFloat = 1e-3
    lora_lr: PositiveFloat = 1e-3
    batch_size: PositiveInt = 32
    align_weight: NonNegativeFloat = 0.1
    weight_decay: NonNegativeFloat = 0.0
    max_steps: Optional[PositiveInt] = None


class SemanticConfig(StrictConfig):
    """The semantic pipeline of a scenario (see the module doc).

    ``dataset`` / ``dataset_options`` / ``data_root``: the data set
    (``tokenlink.semantic.data.load_dataset``); ``modalities``: which of its
    modalities the devices send (`None`: all). ``train_questions`` /
    ``test_questions``: random subsets of that many questions (`None`: all).

    ``num_tokens``: K tokens per modality after ``compression`` (``"none"``
    sends the encoder's N tokens; K must not exceed N). Each token carries
    the foundation model's width (384 values) over the link.

    ``train_snr_db``: Es/N0 per RE [dB] while training: a number (fixed), a
    ``[low, high]`` range (a uniform draw in dB per sample) or `None` (ideal
    channel: the link is bypassed in training). ``channel_bank_size``:
    realizations in the training channel bank (fresh ones for evaluation).
    ``train_link_mode``: the link mode the model trains over, ``"analog"`` or
    ``"digital"`` (`None`: each point's own ``link.mode``). Set it to train
    one model and evaluate it over both kinds of link: points that differ
    only in ``link.mode`` (or in the options of the mode they do not train
    with) then share one trained model; a digital evaluation of a model
    trained over the analog link fits the quantizer to its training tokens.

    ``train_channel``: what the model trains over: ``"link"`` (the scenario's token link, or
    its network's) or ``"embedding_awgn"``, the channel of paper A's public code: real AWGN on
    each sample's power-normalized embeddings at ``train_snr_db`` (SNR per real value, the
    same number as Es/N0 per RE of the analog link; :class:`~tokenlink.bridge.EmbeddingAWGN`),
    no PHY. Evaluation is always over the scenario's link; with ``"embedding_awgn"`` the link
    does not enter the training key, so one model serves every link it is tested on.

    ``train_over_network``: with a scenario ``network`` (one device per modality, in order),
    train over the network's token link (each device on its own resource blocks and channel
    model; Es/N0 per sample from ``train_snr_db`` as always, so the devices' distances and
    link budgets never enter training), or (``false``) over one full-grid link per device as
    without a network, so that one model serves every allocation it is evaluated on.

    ``train_seed``: the seed of training (initial weights, training subset and order, the
    training channel draws and bank); `None`: ``run.seed``. Sweep it to train several models
    of one configuration (a study's seeds): evaluation draws still follow ``run.seed``, so
    every seed's model is tested on the same questions and channel realizations (paired).

    ``train_phy``: PHY fields the model trains over instead of the scenario's ``phy`` (any field
    of ``phy`` but the SNR and link budget, merged section by section: ``{channel: {max_speed_mps:
    3.0}}`` changes the speed alone), e.g. to train over TDL-C and test the same model over AWGN or
    at other speeds; `None`: the scenario's ``phy``. It replaces ``phy`` in the training key, so
    points that differ only in the test ``phy`` share one model (checked by the scenario).

    ``input_scale``: ``"words"`` rescales each received token to the RMS of
    MiniLM's word embeddings before it enters the foundation model (so its
    position and token-type embeddings still count); ``"none"``: as received.

    ``checkpoint``: a trained model's checkpoint folder to evaluate without
    training (its architecture fields must match); `None`: train (or resume)
    into ``checkpoint_dir`` (`None`: ``<trace without .h5>_checkpoints/``),
    one sub-folder per training configuration. ``checkpoint_every``:
    optimizer steps between checkpoints within a stage.
    """

    dataset: DatasetName = "easy_vqa"
    dataset_options: dict[str, Any] = Field(default_factory=dict)
    data_root: Optional[str] = None
    modalities: Optional[tuple[str, ...]] = None
    train_questions: Optional[PositiveInt] = None
    test_questions: Optional[PositiveInt] = 2000
    encoder: EncoderConfig = EncoderConfig()
    num_tokens: PositiveInt = 32
    compression: Compression = "pool"
    max_question_tokens: PositiveInt = 32
    input_scale: Literal["words", "none"] = "words"
    lora: LoraConfig = LoraConfig()
    align: AlignStage = AlignStage()
    task: TaskStage = TaskStage()
    train_snr_db: Union[None, float, tuple[float, float]] = (0.0, 20.0)
    train_link_mode: Optional[TrainLinkMode] = None
    train_channel: TrainChannel = "link"
    train_over_network: bool = True
    train_seed: Optional[NonNegativeInt] = None
    train_phy: Optional[dict[str, Any]] = None
    channel_bank_size: Optional[PositiveInt] = 4096
    eval_batch_size: PositiveInt = 128
    checkpoint: Optional[str] = None
    checkpoint_dir: Optional[str] = None
    checkpoint_every: PositiveInt = 200

    @model_validator(mode="after")
    def _check(self) -> "SemanticConfig":
        snr = self.train_snr_db
        values = () if snr is None else (snr,) if isinstance(snr, (int, float)) else snr
        if any(not math.isfinite(v) for v in values) or (len(values) == 2 and values[0] > values[1]):
            raise ValueError(f"train_snr_db must be a finite number, [low, high] with low <= high, or null "
                             f"(ideal channel), got {snr!r}")
        if self.train_channel == "embedding_awgn" and snr is None:
            raise ValueError("train_snr_db: train_channel 'embedding_awgn' needs an SNR (a number or [low, high]); "
                             "allowed: null only with train_channel 'link' (ideal channel)")
        if self.modalities is not None and (not self.modalities or len(set(self.modalities)) != len(self.modalities)):
            raise ValueError(f"modalities must name distinct modalities of the data set, got {list(self.modalities)}")
        return self

    def train_snr_range(self) -> Optional[tuple[float, float]]:
        """``train_snr_db`` as a ``(low, high)`` range (equal ends when fixed), `None` for an ideal channel."""
        snr = self.train_snr_db
        if snr is None:
            return None
        return (float(snr), float(snr)) if isinstance(snr, (int, float)) else (float(snr[0]), float(snr[1]))

    def architecture(self) -> dict[str, Any]:
        """The fields a checkpoint's weights depend on in shape (must match to load it)."""
        return {
            "dataset": self.dataset,
            "modalities": list(self.modalities) if self.modalities is not None else None,
            "encoder_width": self.encoder.width,
            "num_tokens": self.num_tokens,
            "compression": self.compression,
            "input_scale": self.input_scale,
            "lora_rank": self.lora.rank,
            "lora_targets": list(self.lora.targets),
        }
