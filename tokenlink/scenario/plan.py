"""What a sweep point simulates: :func:`point_plan`, one explicit function of the point's scenario.

The runner simulates a ``bits``, ``analog`` or ``digital`` point from its
:class:`PointPlan` alone (PHY, token link, SNR and shadowing, stopping rule,
synthetic tokens, raw arrays), and hands a semantic point's SNR, shadowing
and seed from it to the semantic pipeline. A scenario field that does not
reach the plan cannot change a number. ``tests/test_field_guard.py`` walks
every sweepable field and checks both ways that changing it changes the
plan exactly when the scenario's own unused-field rule (:mod:`.sweep`) does
not call the field unused for that point.

The plan keeps only what its kind reads: the options of the link mode a
point does not use are left at their defaults, the stopping fields a kind
does not read are `None`, and so on; ``run.early_stop`` is folded into the
early-stopping fields it switches on.

Pure configuration: building a plan imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from ..bridge.config import TOKEN_LINK_MODES, AnalogConfig, DigitalConfig, TokenLinkConfig
from ..phy.config import PhyConfig
from ..phy.multiuser import NetworkConfig

if TYPE_CHECKING:
    from .schema import Scenario, TokensSection

__all__ = ["PointPlan", "SnrPlan", "StopPlan", "SemanticPlan", "point_plan", "plan_kind", "RAW_BY_KIND",
           "SEMANTIC_OUTPUT_ONLY", "SEMANTIC_TRAINING_ONLY"]

#: Raw arrays (``run.raw.arrays``) each kind of point records.
RAW_BY_KIND: dict[str, tuple[str, ...]] = {
    "bits": ("h_freq", "llr", "symbols"),
    "analog": ("tokens", "h_freq"),
    "digital": ("tokens", "h_freq", "llr"),
    "semantic": (),
}
#: Semantic fields that say where and how often checkpoints are written: the trained
#: weights (training resumes exactly) and every number are the same whatever they are.
SEMANTIC_OUTPUT_ONLY = ("checkpoint_dir", "checkpoint_every")
#: Semantic fields (dotted below ``semantic``) that only change training: unused when
#: ``semantic.checkpoint`` names a trained model (its weights are loaded as they are).
SEMANTIC_TRAINING_ONLY = (
    "align.epochs", "align.lr", "align.batch_size", "align.mse_weight", "align.max_steps",
    "align.schedule", "align.warmup_steps", "task", "train_snr_db", "channel_bank_size", "lora.dropout",
    "train_seed", "train_phy",
)


@dataclass(frozen=True)
class SnrPlan:
    """The SNR of a point: mean Es/N0 per RE ``esno_db`` [dB] (with ``snr_type: link_budget``
    the mean link-budget SNR) and the log-normal shadowing drawn per frame, standard
    deviation ``shadowing_std_db`` [dB] (0: every frame runs at ``esno_db``)."""

    esno_db: float
    shadowing_std_db: float


@dataclass(frozen=True)
class StopPlan:
    """The stopping rule of a point (runner module doc); a field the kind does not read is `None`.

    ``batch_size``: slots (``bits``) or frames per batch; ``max_bits`` (``bits``) or
    ``max_frames`` (token kinds): the cap; ``min_bit_errors`` (``bits``, ``digital``) and
    ``max_rel_stderr``: stop early once reached (`None`: no such early stop).
    """

    batch_size: int
    max_bits: Optional[int]
    max_frames: Optional[int]
    min_bit_errors: Optional[int]
    max_rel_stderr: Optional[float]


@dataclass(frozen=True)
class SemanticPlan:
    """What a semantic point's numbers depend on: ``weights``, the model evaluated (the
    training configuration of :func:`tokenlink.semantic_run.training_config`, or
    ``{"checkpoint": folder}``), and ``evaluation``, the semantic fields its evaluation reads
    (as plain data)."""

    weights: dict[str, Any]
    evaluation: dict[str, Any]


@dataclass(frozen=True)
class PointPlan:
    """Everything one sweep point simulates (module doc).

    ``kind``: ``"bits"``, ``"analog"``, ``"digital"`` or ``"semantic"``; ``network``: the users
    of an OFDMA uplink (``bits`` only; `None`: one device owns the grid); ``seed``: ``run.seed``
    (the point's streams are seeded from it and the point's index); ``phy``: the OFDM link;
    ``link``: the token link (token and semantic kinds, the unused mode's options at their
    defaults); ``tokens``: the synthetic tokens (``analog``, ``digital``); ``stop``: the
    stopping rule (not semantic); ``raw``: the raw arrays recorded; ``semantic``: the model
    and its evaluation.
    """

    kind: str
    seed: int
    phy: PhyConfig
    snr: SnrPlan
    link: Optional[TokenLinkConfig]
    tokens: Optional["TokensSection"]
    stop: Optional[StopPlan]
    raw: tuple[str, ...]
    semantic: Optional[SemanticPlan]
    network: Optional[NetworkConfig] = None


def plan_kind(scenario: "Scenario") -> str:
    """``"semantic"`` with a semantic section, else ``link.mode``."""
    return "semantic" if scenario.semantic is not None else scenario.link.mode


def point_plan(scenario: "Scenario") -> PointPlan:
    """The :class:`PointPlan` of a point's scenario (``point.scenario``; the scenario itself
    without a sweep)."""
    kind = plan_kind(scenario)
    run = scenario.run
    snr = SnrPlan(scenario.esno_db(), scenario.phy.frame_shadowing_std_db())
    link = tokens = stop = semantic = None
    if kind != "bits":
        link = _link(scenario)
    if kind in ("analog", "digital"):
        tokens = scenario.link.tokens
    if kind != "semantic":
        early = run.early_stop
        stop = StopPlan(
            batch_size=run.batch_size,
            max_bits=run.max_bits if kind == "bits" else None,
            max_frames=run.max_frames if kind != "bits" else None,
            min_bit_errors=run.min_bit_errors if early and kind != "analog" else None,
            max_rel_stderr=run.max_rel_stderr if early else None,
        )
    else:
        semantic = _semantic(scenario)
    raw = tuple(a for a in run.raw.arrays if a in RAW_BY_KIND[kind])
    return PointPlan(kind, run.seed, scenario.phy_config(), snr, link, tokens, stop, raw, semantic,
                     _network(scenario.network))


def _network(network: Optional[NetworkConfig]) -> Optional[NetworkConfig]:
    """The network as simulated: MU-MIMO shares no resource blocks (shares, layout and the users'
    demands at their defaults)."""
    if network is None or network.sharing == "ofdma":
        return network
    users = tuple(u.model_copy(update={"demand_res": None}) for u in network.users)
    return network.model_copy(update={"users": users, "shares": "equal", "layout": "contiguous"})


def _link(scenario: "Scenario") -> TokenLinkConfig:
    """The point's token link, with the options of a mode it neither sends nor trains with at their defaults."""
    cfg = scenario.token_link_config()
    modes = {cfg.mode}
    if scenario.semantic is not None and scenario.semantic.train_link_mode is not None:
        modes.add(scenario.semantic.train_link_mode)
    update: dict[str, Any] = {}
    if "analog" not in modes:
        update["analog"] = AnalogConfig()
    if "digital" not in modes:
        update["digital"] = DigitalConfig()
    return cfg.model_copy(update=update)


def _semantic(scenario: "Scenario") -> SemanticPlan:
    from ..semantic_run import training_config

    sem = scenario.semantic
    evaluation = sem.model_dump(mode="json", exclude=set(SEMANTIC_OUTPUT_ONLY))
    if sem.checkpoint is None:
        weights = training_config(scenario)
        trained = sem.train_link_mode or scenario.link.mode  # the options of the other mode do not train
        if "link" in weights:  # (not with the public-code training channel, which never sees the link)
            weights["link"] = {k: v for k, v in weights["link"].items() if k not in TOKEN_LINK_MODES or k == trained}
        return SemanticPlan(weights, evaluation)
    for dotted in SEMANTIC_TRAINING_ONLY:
        *parents, name = dotted.split(".")
        table = evaluation
        for parent in parents:
            table = table[parent]
        table.pop(name)
    return SemanticPlan({"checkpoint": scenario.semantic.checkpoint}, evaluation)
