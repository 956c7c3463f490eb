"""The multiuser study on the claims page: accuracy vs the weaker device's distance and vs
the split of the resource blocks (``scenarios/semantic_multiuser.yaml``, study 5).

A trace whose scenario has ``semantic:`` and ``network:`` and sweeps one device's
link-budget distance (``network.users.<k>.link_budget.distance_m``), optionally the
split ``network.shares``, and the training seed (``semantic.train_seed``) gives, per
split and distance: the accuracy (mean over seeds, min to max), the swept device's mean
Es/N0 per resource element, its slots per frame and the frame's airtime; each split's
paired gain over the reference split (the scenario's own ``network.shares``: same seed,
same questions and realizations), with whether every seed agrees in sign; and, for the
reference split, the accuracy per question type and each device's caption recall@1 vs
the distance. Paper A states no number for this; the section reports, it gives no
verdict. Only reads traces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import numpy as np
import yaml

from .claims import mean_range, scenario_of, training_seed
from .trace import Trace, TracePoint, swept_params

__all__ = ["MultiuserStudy", "multiuser_study", "multiuser_tables", "SHARES_PARAM", "MULTIUSER_FIGURES"]

SHARES_PARAM = "network.shares"
_DISTANCE = re.compile(r"^network\.users\.(\d+)\.link_budget\.distance_m$")
#: The figures of :func:`tokenlink.plots.trace_figures` the section shows (file stem -> caption).
MULTIUSER_FIGURES = {
    "accuracy_vs_distance": "accuracy vs the swept device's distance, one curve per split, mean over training "
                            "seeds with the min-max band",
    "accuracy_vs_esno": "accuracy vs the swept device's own Es/N0 per resource element",
}


@dataclass(frozen=True)
class MultiuserStudy:
    """What a multiuser trace sweeps: the swept device (index and modality), its distances, the
    splits (``network.shares`` values, as tuples) with the reference split, and the seeds."""

    device: int
    modality: str
    modalities: tuple[str, ...]
    distance_param: str
    distances_m: tuple[float, ...]
    splits: tuple[tuple[float, ...], ...]
    reference: tuple[float, ...]
    seeds: tuple[int, ...]


def _split(p: TracePoint, base: tuple[float, ...]) -> tuple[float, ...]:
    """The point's ``network.shares`` (a trace keeps a swept list as its text, ``"[0.75, 0.25]"``)."""
    shares = p.params.get(SHARES_PARAM)
    if isinstance(shares, str):
        shares = yaml.safe_load(shares)
    return tuple(float(s) for s in shares) if shares is not None else base


def multiuser_study(trace: Trace) -> Optional[MultiuserStudy]:
    """The study a trace is, or `None` when it is no multiuser semantic study (no ``network:``
    and ``semantic:`` section, or no swept device distance)."""
    s = scenario_of(trace)
    network, semantic = s.get("network"), s.get("semantic")
    points = trace.complete_points
    if not network or not semantic or not points:
        return None
    distance = [n for n in swept_params(points) if _DISTANCE.match(n)]
    if len(distance) != 1:
        return None
    device = int(_DISTANCE.match(distance[0]).group(1))
    modalities = tuple(semantic.get("modalities") or ())
    users = network.get("users") or []
    base = tuple(float(x) for x in (network.get("shares") or [1.0 / max(len(users), 1)] * len(users)))
    splits = sorted({_split(p, base) for p in points}, key=lambda sp: sp[device])
    seeds = sorted({training_seed(trace, p) for p in points})
    return MultiuserStudy(
        device=device, modality=modalities[device] if device < len(modalities) else f"device {device}",
        modalities=modalities, distance_param=distance[0],
        distances_m=tuple(sorted({float(p.params[distance[0]]) for p in points})),
        splits=tuple(splits), reference=base if base in splits else splits[0], seeds=tuple(seeds))


def _points(trace: Trace, study: MultiuserStudy) -> dict[tuple[tuple[float, ...], float, int], TracePoint]:
    return {(_split(p, study.reference), float(p.params[study.distance_param]),
             training_seed(trace, p)): p for p in trace.complete_points}


def _split_name(study: MultiuserStudy, split: tuple[float, ...], rbs: Optional[np.ndarray]) -> str:
    names = " : ".join(study.modalities) if study.modalities else "devices"
    if rbs is not None:
        return f"{' : '.join(str(int(r)) for r in rbs)} RBs ({names})"
    return f"shares {' : '.join(f'{s:g}' for s in split)} ({names})"


def multiuser_tables(trace: Trace, study: MultiuserStudy) -> list[str]:
    """The section's markdown lines after its figures (see the module docstring)."""
    points = _points(trace, study)
    d, dev = study.distances_m, study.device

    def at(split, dist):
        return [points[split, dist, s] for s in study.seeds if (split, dist, s) in points]

    def metric(split, dist, name, index=None):
        out = []
        for p in at(split, dist):
            value = p.metrics.get(name)
            if value is not None:
                out.append(float(np.asarray(value)[index]) if index is not None else float(value))
        return out

    names = {}
    for split in study.splits:
        some = next((p for dist in d for p in at(split, dist)), None)
        rbs = some.metrics.get("user_resource_blocks") if some is not None else None
        names[split] = _split_name(study, split, None if rbs is None else np.asarray(rbs))
    head = "| | " + " | ".join(f"{x:g} m" for x in d) + " |"
    rule = "|---|" + "---:|" * len(d)
    lines = ["", f"Test accuracy vs the {study.modality} device's distance, per split of the resource blocks "
             f"(mean over training seeds {', '.join(map(str, study.seeds))}, min to max); below it, the "
             f"{study.modality} device's mean Es/N0 per resource element, its slots per frame and the frame's "
             "airtime (the slowest device's):", "", head, rule]
    for split in study.splits:
        lines.append(f"| accuracy, {names[split]} | " + " | ".join(mean_range(metric(split, x, "accuracy")) for x in d)
                     + " |")
    for split in study.splits:
        cells = []
        for x in d:
            esno, slots, air = (metric(split, x, n, i) for n, i in
                                (("user_esno_db", dev), ("user_slots", dev), ("airtime_s", None)))
            cells.append(f"{np.mean(esno):.1f} dB, {int(slots[0])} slots, {np.mean(air) * 1e3:.2f} ms"
                         if esno and slots and air else "-")
        lines.append(f"| {study.modality} link, {names[split]} | " + " | ".join(cells) + " |")
    prior = [float(p.metrics["prior_accuracy"]) for p in trace.complete_points if "prior_accuracy" in p.metrics]
    if prior:
        lines += ["", f"The blind question prior (the answer from the question alone) is {np.mean(prior):.3f}."]

    others = [sp for sp in study.splits if sp != study.reference]
    if others:
        lines += ["", f"Paired gain of each split over {names[study.reference]}, in accuracy points (mean over "
                  "seeds, min to max; same seed, same test questions and realizations); *all seeds* when every "
                  "seed's gain has the same sign:", "", head, rule]
        for split in others:
            cells = []
            for x in d:
                gains = [100.0 * (float(points[split, x, s].metrics["accuracy"])
                                  - float(points[study.reference, x, s].metrics["accuracy"]))
                         for s in study.seeds if (split, x, s) in points and (study.reference, x, s) in points]
                cell = mean_range(gains, "{:+.1f}")
                if len(gains) > 1 and (all(g > 0 for g in gains) or all(g < 0 for g in gains)):
                    cell += ", all seeds"
                cells.append(cell)
            lines.append(f"| {names[split]} | " + " | ".join(cells) + " |")

    sample = next((p for x in d for p in at(study.reference, x)), None)
    if sample is not None:
        types = sorted(n for n in sample.metrics if n.startswith("accuracy_") and isinstance(sample.metrics[n], float))
        recalls = [f"recall_at_1_{m}" for m in study.modalities if f"recall_at_1_{m}" in sample.metrics]
        if types or recalls:
            lines += ["", f"Accuracy per question type and caption recall@1 per device, {names[study.reference]} "
                      "(mean over seeds, min to max):", "", head, rule]
            for name in types:
                lines.append(f"| {name.replace('accuracy_', '')} questions | "
                             + " | ".join(mean_range(metric(study.reference, x, name)) for x in d) + " |")
            for name in recalls:
                lines.append(f"| recall@1 of the {name.replace('recall_at_1_', '')} device's captions | "
                             + " | ".join(mean_range(metric(study.reference, x, name), "{:.2f}") for x in d) + " |")
    return lines
