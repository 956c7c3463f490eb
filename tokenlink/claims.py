"""Paper A's claims, tested against the traces of tokenlink's studies.

A claim is checked from the accuracy of paired models: the full method and one
variant of it (``sweep.labels``: the swept parameter ``variant``), trained with
the same training seeds (``semantic.train_seed``) and tested on the same
questions and channel realizations at every test Es/N0 (``phy.snr_db``). The
gain of one seed at one SNR is ``accuracy(full) - accuracy(variant)``; a gain
is *consistent* at an SNR when every seed's gain has the same sign.

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

from .scenario.sweep import VARIANT
from .trace import Trace, TracePoint

__all__ = ["Comparison", "Claim", "ablation_accuracy", "compare", "verdict", "gain_summary", "steps_to_converge",
           "convergence_steps", "convergence_verdict", "PAPER_A_GAIN_PERCENT", "CONVERGED_SHARE", "FULL",
           "SNR_PARAM", "SEED_PARAM"]

#: Paper A's abstract: "a 13.7 % improvement in test accuracy" (against no alignment, across SNRs).
PAPER_A_GAIN_PERCENT = 13.7
SNR_PARAM = "phy.snr_db"
SEED_PARAM = "semantic.train_seed"
FULL = "full"


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


def ablation_accuracy(trace: Trace) -> dict[str, dict[tuple[int, float], float]]:
    """``{variant: {(seed, snr_db): accuracy}}`` of a trace's complete points with a ``variant``;
    a trace that sweeps no seed has the run's seed for every point."""
    out: dict[str, dict[tuple[int, float], float]] = {}
    for p in trace.complete_points:
        if VARIANT not in p.params or p.metrics.get("accuracy") is None:
            continue
        out.setdefault(str(p.params[VARIANT]), {})[(_seed(trace, p), _snr(p))] = float(p.metrics["accuracy"])
    return out


def _seed(trace: Trace, p: TracePoint) -> int:
    """The point's training seed: the swept ``semantic.train_seed``, else the run's seed."""
    return int(p.params.get(SEED_PARAM, trace.attrs.get("seed", 0)))


def _snr(p: TracePoint) -> float:
    return float(p.params.get(SNR_PARAM, p.metrics.get("esno_db", np.nan)))


def compare(table: dict[str, dict[tuple[int, float], float]], variant: str) -> Optional[Comparison]:
    """The full method against ``variant`` on the (seed, SNR) pairs both have; `None` if either is missing."""
    if FULL not in table or variant not in table:
        return None
    shared = sorted(set(table[FULL]) & set(table[variant]))
    seeds = tuple(sorted({s for s, _ in shared}))
    snrs = tuple(sorted({x for _, x in shared}))
    if not seeds or any((s, x) not in table[FULL] or (s, x) not in table[variant] for s in seeds for x in snrs):
        return None
    grid = lambda name: np.array([[table[name][s, x] for x in snrs] for s in seeds])  # noqa: E731
    return Comparison(variant, snrs, seeds, grid(FULL), grid(variant))


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
    window = max(1, values.size // 50)
    smoothed = np.convolve(values, np.ones(window) / window, mode="full")[:values.size]
    smoothed[:window - 1] = np.cumsum(values[:window - 1]) / np.arange(1, window)  # shorter windows at the start
    final = values[-max(1, values.size // 10):].mean()
    return int(np.argmax(smoothed >= share * final)) + 1


def convergence_steps(trace: Trace) -> dict[str, dict[int, int]]:
    """``{variant: {seed: steps to converge}}`` of a trace's trained models (stage 2, from the
    ``train_task_accuracy`` curve each point carries; the points of one model share it)."""
    out: dict[str, dict[int, int]] = {}
    for p in trace.complete_points:
        curve = p.metrics.get("train_task_accuracy")
        if VARIANT not in p.params or not isinstance(curve, np.ndarray) or curve.size == 0:
            continue
        out.setdefault(str(p.params[VARIANT]), {}).setdefault(_seed(trace, p), steps_to_converge(curve))
    return out


def convergence_verdict(steps: dict[str, dict[int, int]], variant: str) -> Optional[tuple[str, str, str]]:
    """(our number, verdict, why) of "the full method converges in fewer steps than ``variant``",
    paired by seed; `None` when either has no training curve."""
    if FULL not in steps or variant not in steps:
        return None
    seeds = sorted(set(steps[FULL]) & set(steps[variant]))
    if not seeds:
        return None
    full = np.array([steps[FULL][s] for s in seeds], dtype=float)
    other = np.array([steps[variant][s] for s in seeds], dtype=float)
    ours = (f"{full.mean():.0f} vs {other.mean():.0f} steps to {CONVERGED_SHARE:.0%} of the final training "
            f"accuracy (full: {', '.join(f'{v:.0f}' for v in full)}; {variant}: "
            f"{', '.join(f'{v:.0f}' for v in other)}; seeds {', '.join(map(str, seeds))})")
    faster = int((full < other).sum())
    why = f"the full method is faster for {faster} of {len(seeds)} seeds."
    if faster == len(seeds):
        return ours, "holds", why
    return ours, ("holds partly" if full.mean() < other.mean() else "does not hold here"), why
