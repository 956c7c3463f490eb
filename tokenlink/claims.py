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

__all__ = ["Comparison", "Claim", "ablation_accuracy", "compare", "verdict", "PAPER_A_GAIN_PERCENT",
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
        seed = int(p.params.get(SEED_PARAM, trace.attrs.get("seed", 0)))
        out.setdefault(str(p.params[VARIANT]), {})[(seed, _snr(p))] = float(p.metrics["accuracy"])
    return out


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
