"""Paper A's claims, tested against the traces of tokenlink's studies.

A claim is checked from the accuracy of paired models: a reference (the full method,
or a study's first label) and one variant of it (``sweep.labels``: the swept
parameter ``variant``), trained with
the same training seeds (``semantic.train_seed``) and tested on the same
questions and channel realizations at every test Es/N0 (``phy.snr_db``). The
gain of one seed at one SNR is ``accuracy(reference) - accuracy(variant)``; a gain
is *consistent* at an SNR when every seed's gain has the same sign. A study that
sweeps more than the variant, the seed and the SNR (the token length K) has one
group of variants per value: ``"full, K=8"`` is compared with ``"no_alignment, K=8"``.

Verdicts, in plain words (:func:`verdict`):

* ``holds``: the gain is consistently positive at every test SNR and, when the
  paper gives a number, the mean relative gain over the SNRs reaches it;
* ``holds partly``: consistently positive at some SNRs only, or smaller than the
  paper's number;
* ``does not hold here``: consistently positive at no SNR.

Only reads traces (no torch, no Sionna).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

import yaml

from .scenario.sweep import VARIANT
from .trace import Trace, TracePoint, label_names, swept_params

__all__ = [
    "Comparison", "Claim", "ablation_accuracy", "compare", "verdict", "gain_summary", "steps_to_converge",
    "trained_models", "training_seed", "mean_range", "convergence_steps", "convergence_seconds",
    "convergence_verdict", "group_params", "group_of",
    "point_name", "short_name", "smoothed_curve", "final_value", "reference_variant", "scenario_of",
    "PAPER_A_GAIN_PERCENT", "CONVERGED_SHARE", "FULL", "SNR_PARAM", "SEED_PARAM", "SHORT_NAMES",
]

#: Paper A's abstract: "a 13.7 % improvement in test accuracy" (against no alignment, across SNRs).
PAPER_A_GAIN_PERCENT = 13.7
SNR_PARAM = "phy.snr_db"
SEED_PARAM = "semantic.train_seed"
FULL = "full"
#: How a swept parameter is named in a group's name (``"full, K=8"``); others by their last field.
SHORT_NAMES = {"semantic.num_tokens": "K", "phy.grid.pilot_ofdm_symbol_indices": "pilots"}


@dataclass(frozen=True)
class Comparison:
    """The full method against one variant: accuracies ``[seed, snr]`` of both, paired by seed."""

    variant: str
    snrs_db: tuple[float, ...]
    seeds: tuple[int, ...]
    full: np.ndarray
    other: np.ndarray

    @property
    def gain_points(self) -> np.ndarray:
        """Gain per seed and SNR, in accuracy points (percentage points), ``[seed, snr]``."""
        return 100.0 * (self.full - self.other)

    @property
    def relative_percent(self) -> np.ndarray:
        """Gain of the seeds' mean accuracy relative to the variant's, in percent, per SNR."""
        return 100.0 * (self.full.mean(axis=0) / self.other.mean(axis=0) - 1.0)

    @property
    def consistent(self) -> np.ndarray:
        """Per SNR: +1 when every seed's gain is positive, -1 when every one is negative, else 0."""
        gain = self.gain_points
        return np.where((gain > 0).all(axis=0), 1, np.where((gain < 0).all(axis=0), -1, 0))


@dataclass(frozen=True)
class Claim:
    """One row of the claims table."""

    claim: str
    ours: str
    data: str
    differences: str
    verdict: str
    why: str


def mean_range(values, fmt: str = "{:.3f}") -> str:
    """A table cell for one value per training seed: ``mean (min to max)``, the value alone
    for one seed, ``-`` for none."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return "-"
    if v.size == 1:
        return fmt.format(v[0])
    return f"{fmt.format(v.mean())} ({fmt.format(v.min())} to {fmt.format(v.max())})"


def scenario_of(trace: Trace) -> dict:
    """The trace's scenario as a dict (empty when it has none or it does not parse)."""
    try:
        data = yaml.safe_load(str(trace.attrs.get("scenario_yaml") or "")) or {}
    except yaml.YAMLError:
        data = {}
    return data if isinstance(data, dict) else {}


def reference_variant(trace: Trace) -> str:
    """What a study's variants are compared with: ``full`` when the study has it, else the first of
    its ``sweep.labels`` (``analog_k32`` in the analog-vs-digital study)."""
    labels = (scenario_of(trace).get("sweep") or {}).get("labels") or []
    return FULL if FULL in labels or not labels else str(labels[0])


def group_params(trace: Trace) -> list[str]:
    """Swept parameters that split a study's variants into groups: all but the variant, the seeds,
    the test SNR and the parameters a variant decides (e.g. ``semantic.num_tokens``)."""
    points = [p for p in trace.complete_points if VARIANT in p.params]
    swept = [n for n in swept_params(points) if n not in (SNR_PARAM, SEED_PARAM) and not n.endswith("seed")]
    return [n for n in label_names(points, swept, VARIANT) if n != VARIANT]


def point_name(p: TracePoint, groups: list[str]) -> str:
    """A point's variant with its group: ``"full"``, or ``"full, K=8"``."""
    extra = [f"{short_name(n)}={_text(p.params.get(n))}" for n in groups]
    return ", ".join([str(p.params[VARIANT]), *extra])


def short_name(param: str) -> str:
    """A swept parameter's name in a group's name: :data:`SHORT_NAMES`, else its last field."""
    return SHORT_NAMES.get(param, param.rsplit(".", 1)[-1])


def group_of(name: str) -> str:
    """The group part of a variant's name: ``"K=8"`` of ``"full, K=8"``, ``""`` of ``"full"``."""
    return name.partition(", ")[2]


def _text(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def ablation_accuracy(trace: Trace) -> dict[str, dict[tuple[int, float], float]]:
    """``{variant: {(seed, snr_db): accuracy}}`` of a trace's complete points with a ``variant``
    (named with its group, :func:`group_params`); a trace that sweeps no seed has the run's seed
    for every point."""
    groups = group_params(trace)
    out: dict[str, dict[tuple[int, float], float]] = {}
    for p in trace.complete_points:
        if VARIANT not in p.params or p.metrics.get("accuracy") is None:
            continue
        out.setdefault(point_name(p, groups), {})[(training_seed(trace, p), _snr(p))] = float(p.metrics["accuracy"])
    return out


def training_seed(trace: Trace, p: TracePoint) -> int:
    """The point's training seed: the swept ``semantic.train_seed``, else the run's seed."""
    return int(p.params.get(SEED_PARAM, trace.attrs.get("seed", 0)))


def _snr(p: TracePoint) -> float:
    return float(p.params.get(SNR_PARAM, p.metrics.get("esno_db", np.nan)))


def compare(table: dict[str, dict[tuple[int, float], float]], variant: str,
            reference: str = FULL) -> Optional[Comparison]:
    """``reference`` against ``variant`` on the (seed, SNR) pairs both have; `None` if either is missing."""
    if reference not in table or variant not in table or reference == variant:
        return None
    shared = sorted(set(table[reference]) & set(table[variant]))
    seeds = tuple(sorted({s for s, _ in shared}))
    snrs = tuple(sorted({x for _, x in shared}))
    if not seeds or any((s, x) not in table[reference] or (s, x) not in table[variant] for s in seeds for x in snrs):
        return None
    grid = lambda name: np.array([[table[name][s, x] for x in snrs] for s in seeds])  # noqa: E731
    return Comparison(variant, snrs, seeds, grid(reference), grid(variant))


def verdict(c: Comparison, target_percent: Optional[float] = None) -> tuple[str, str]:
    """(verdict, why in one sentence) of the claim "the full method beats ``c.variant``" (by
    ``target_percent`` on average over the SNRs, when given); see the module doc."""
    positive = [x for x, sign in zip(c.snrs_db, c.consistent, strict=True) if sign > 0]
    negative = [x for x, sign in zip(c.snrs_db, c.consistent, strict=True) if sign < 0]
    mean_rel = float(np.mean(c.relative_percent))
    seeds = f"all {len(c.seeds)} seeds" if len(c.seeds) > 1 else "the one seed"
    where = (f"better for {seeds} at {_db(positive)}" if positive else f"better for {seeds} at no test SNR")
    if negative:
        where += f", worse for {seeds} at {_db(negative)}"
    size = f"mean relative gain {mean_rel:+.1f} %"
    if target_percent is not None:
        size += f" (the paper: +{target_percent:g} %)"
    why = f"{where}; {size}."
    if not positive:
        return "does not hold here", why
    if len(positive) == len(c.snrs_db) and (target_percent is None or mean_rel >= target_percent):
        return "holds", why
    return "holds partly", why


def _db(values: list[float]) -> str:
    return ", ".join(f"{v:g}" for v in values) + " dB"


def gain_summary(c: Comparison) -> str:
    """Our number for a claims row: the mean gain over SNRs in points and percent, with its seed range."""
    per_seed = c.gain_points.mean(axis=1)  # each seed's gain averaged over the SNRs
    spread = (f", each seed's mean {per_seed.min():+.1f} to {per_seed.max():+.1f} points" if len(c.seeds) > 1
              else "")
    best = int(np.argmax(c.gain_points.mean(axis=0)))
    return (f"{c.gain_points.mean():+.1f} points ({np.mean(c.relative_percent):+.1f} %) on average over "
            f"{_db(list(c.snrs_db))}{spread}; largest at {c.snrs_db[best]:g} dB: "
            f"{c.gain_points.mean(axis=0)[best]:+.1f} points ({c.relative_percent[best]:+.1f} %)")


# ------------------------------------------------------------------ convergence
#: A model has converged when its smoothed training accuracy first reaches this share of its final value.
CONVERGED_SHARE = 0.9


def steps_to_converge(accuracy: np.ndarray, share: float = CONVERGED_SHARE) -> int:
    """Optimizer steps until the training accuracy, a moving mean over 2 % of the steps (as the
    training-curve figure draws it), first reaches ``share`` x its final value (the mean of the last
    10 % of the steps). Steps count from 1."""
    values = np.asarray(accuracy, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("no training accuracy to measure convergence on")
    return int(np.argmax(smoothed_curve(values) >= share * final_value(values))) + 1


def smoothed_curve(values: np.ndarray) -> np.ndarray:
    """A training curve's trailing moving mean over 2 % of its steps (shorter windows at the start)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    window = max(1, values.size // 50)
    smoothed = np.convolve(values, np.ones(window) / window, mode="full")[:values.size]
    smoothed[:window - 1] = np.cumsum(values[:window - 1]) / np.arange(1, window)
    return smoothed


def final_value(values: np.ndarray) -> float:
    """A training curve's final value: the mean of its last 10 % of steps."""
    values = np.asarray(values, dtype=np.float64).ravel()
    return float(values[-max(1, values.size // 10):].mean())


def trained_models(trace: Trace) -> dict[tuple[str, int], tuple[TracePoint, np.ndarray]]:
    """``{(variant, seed): (its first point, its stage-2 training accuracy)}`` of a trace's trained
    models (the ``train_task_accuracy`` curve each point carries; the points of one model share it)."""
    groups = group_params(trace)
    out: dict[tuple[str, int], tuple[TracePoint, np.ndarray]] = {}
    for p in trace.complete_points:
        curve = p.metrics.get("train_task_accuracy")
        if VARIANT in p.params and isinstance(curve, np.ndarray) and curve.size:
            out.setdefault((point_name(p, groups), training_seed(trace, p)), (p, curve))
    return out


def convergence_steps(trace: Trace) -> dict[str, dict[int, int]]:
    """``{variant: {seed: steps to converge}}`` of a trace's trained models (stage 2)."""
    out: dict[str, dict[int, int]] = {}
    for (name, seed), (_, curve) in trained_models(trace).items():
        out.setdefault(name, {})[seed] = steps_to_converge(curve)
    return out


def convergence_seconds(trace: Trace) -> dict[str, dict[int, tuple[float, bool]]]:
    """``{variant: {seed: (seconds, measured)}}``: seconds of training (stage 1 included) until stage 2
    converged (:func:`steps_to_converge`), from the per-step times ``train_task_time_s``
    (``measured``), else estimated from the whole training's ``train_time_s`` as if every step of both
    stages took as long (``measured`` false; checkpoints trained before per-step times were kept)."""
    out: dict[str, dict[int, tuple[float, bool]]] = {}
    for (name, seed), (p, curve) in trained_models(trace).items():
        steps = steps_to_converge(curve)
        times = p.metrics.get("train_task_time_s")
        if isinstance(times, np.ndarray) and times.size == curve.size:
            value = (float(times[steps - 1]), True)
        else:
            align = np.size(p.metrics.get("train_align_loss", ()))
            total = float(p.metrics.get("train_time_s", np.nan))
            value = (total * (align + steps) / (align + curve.size), False)
        out.setdefault(name, {})[seed] = value
    return out


def convergence_verdict(steps: dict[str, dict[int, int]], variant: str,
                        reference: str = FULL) -> Optional[tuple[str, str, str]]:
    """(our number, verdict, why) of "``reference`` (the full method) converges in fewer steps than
    ``variant``", paired by seed; `None` when either has no training curve."""
    if reference not in steps or variant not in steps:
        return None
    seeds = sorted(set(steps[reference]) & set(steps[variant]))
    if not seeds:
        return None
    full = np.array([steps[reference][s] for s in seeds], dtype=float)
    other = np.array([steps[variant][s] for s in seeds], dtype=float)
    ours = (f"{full.mean():.0f} vs {other.mean():.0f} steps to {CONVERGED_SHARE:.0%} of the final training "
            f"accuracy ({reference}: {', '.join(f'{v:.0f}' for v in full)}; {variant}: "
            f"{', '.join(f'{v:.0f}' for v in other)}; seeds {', '.join(map(str, seeds))})")
    faster = int((full < other).sum())
    why = f"the full method is faster for {faster} of {len(seeds)} seeds."
    if faster == len(seeds):
        return ours, "holds", why
    return ours, ("holds partly" if full.mean() < other.mean() else "does not hold here"), why
