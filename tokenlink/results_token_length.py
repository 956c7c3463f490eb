"""The token-length study on the claims page: "quicker convergence even with reduced token lengths".

A trace that sweeps ``semantic.num_tokens`` (K) with the variants ``full`` and
``no_alignment`` (``scenarios/semantic_token_length_easy_vqa.yaml``) gives, per K
and seed, the optimizer steps of stage 2 until the smoothed training accuracy
reaches 90 % of its final value (:func:`tokenlink.claims.steps_to_converge`), the
seconds of training until then (stage 1 included: alignment costs time that the
variant without it does not spend), and the test accuracy per Es/N0 against the
channel uses per image. The claim holds at a K when the full method needs fewer
steps for every seed. Only reads traces.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np

from .claims import (CONVERGED_SHARE, FULL, SNR_PARAM, convergence_seconds, convergence_steps, final_value,
                     group_params, point_name, smoothed_curve, trained_models)
from .scenario.sweep import VARIANT
from .trace import Trace

__all__ = ["TOKEN_LENGTH_CLAIM", "token_length_claim", "token_length_section", "K_PARAM", "BASELINE"]

TOKEN_LENGTH_CLAIM = ("Quicker convergence even with reduced token lengths (paper A's abstract), against the "
                      "method without alignment: K = 8 ... 64")
K_PARAM = "semantic.num_tokens"
STUDY_TOKEN_LENGTHS = (8, 16, 32, 64)  # the token lengths the study's scenario sweeps
BASELINE = "no_alignment"


def _token_lengths(trace: Trace) -> list[int]:
    return sorted({int(p.params[K_PARAM]) for p in trace.complete_points if K_PARAM in p.params})


def _pair(steps: dict, k: int) -> Optional[tuple[np.ndarray, np.ndarray, list[int]]]:
    """(full's steps, the baseline's steps, seeds) at token length ``k``, paired by seed."""
    full, other = steps.get(f"{FULL}, K={k}"), steps.get(f"{BASELINE}, K={k}")
    if not full or not other:
        return None
    seeds = sorted(set(full) & set(other))
    if not seeds:
        return None
    return (np.array([full[s] for s in seeds], float), np.array([other[s] for s in seeds], float), seeds)


def token_length_claim(trace: Trace) -> Optional[tuple[str, str, str]]:
    """(our number, verdict, why) of the claim, from the steps to converge per K; `None` without curves."""
    steps = convergence_steps(trace)
    pairs = {k: pair for k in _token_lengths(trace) if (pair := _pair(steps, k)) is not None}
    if not pairs:
        return None
    every = [k for k, (f, o, _) in pairs.items() if (f < o).all()]
    on_average = [k for k, (f, o, _) in pairs.items() if f.mean() < o.mean() and k not in every]
    slower = [k for k, (f, o, _) in pairs.items() if f.mean() >= o.mean()]
    seeds = len(next(iter(pairs.values()))[2])
    ours = "; ".join(f"K={k}: {f.mean():.0f} vs {o.mean():.0f} steps" for k, (f, o, _) in pairs.items())
    ours += f" to {CONVERGED_SHARE:.0%} of the final training accuracy (full vs {BASELINE}, mean over {seeds} seeds)"
    parts = [f"faster for every seed at K = {', '.join(map(str, every))}" if every else "faster for every seed "
             "at no K"]
    if on_average:
        parts.append(f"faster on average (not for every seed) at K = {', '.join(map(str, on_average))}")
    if slower:
        parts.append(f"not faster on average at K = {', '.join(map(str, slower))}")
    why = "the full method is " + "; ".join(parts) + "."
    if missing := [k for k in STUDY_TOKEN_LENGTHS if k not in pairs]:
        why += f" K = {', '.join(map(str, missing))} not in the trace."
    if len(every) == len(pairs):
        return ours, "holds", why
    return ours, ("holds partly" if every or on_average else "does not hold here"), why


def _curves(trace: Trace) -> dict[str, dict[int, dict[str, object]]]:
    """``{name: {seed: {"accuracy": curve, "final": value, "channel_uses": n, "train_s": s}}}`` per trained model."""
    out: dict[str, dict[int, dict[str, object]]] = {}
    for (name, seed), (p, curve) in trained_models(trace).items():
        out.setdefault(name, {})[seed] = {
            "accuracy": curve, "final": final_value(curve), "channel_uses": p.metrics.get("channel_uses_per_sample"),
            "train_s": float(p.metrics.get("train_time_s", np.nan))}
    return out


def _spread(values: np.ndarray, fmt: str = "{:.0f}") -> str:
    if values.size == 1:
        return fmt.format(values[0])
    return f"{fmt.format(values.mean())} ({fmt.format(values.min())} to {fmt.format(values.max())})"


def token_length_section(trace: Trace, figures_dir: Path, page_dir: Path, name: str) -> tuple[list[str], list[Path]]:
    """The study's convergence table and figure (training curves, steps to converge vs K, test
    accuracy vs channel uses per image)."""
    steps, seconds, curves = convergence_steps(trace), convergence_seconds(trace), _curves(trace)
    ks = _token_lengths(trace)
    accuracy: dict[tuple[str, float], list[float]] = {}
    groups = group_params(trace)
    for p in trace.complete_points:
        if VARIANT in p.params and p.metrics.get("accuracy") is not None:
            accuracy.setdefault((point_name(p, groups), float(p.params[SNR_PARAM])), []).append(
                float(p.metrics["accuracy"]))
    snrs = sorted({x for _, x in accuracy})
    lines = ["", f"Convergence per token length (stage 2; steps until the training accuracy, a moving mean over 2 % "
             f"of the steps, first reaches {CONVERGED_SHARE:.0%} of its final value; seconds of training until then, "
             "stage 1 included; mean over seeds, min to max):", "",
             "| K | channel uses per image | variant | steps to converge | seconds to converge | whole training [s] "
             "| final training accuracy | " + " | ".join(f"test {x:g} dB" for x in snrs) + " |",
             "|---:|---:|---|---:|---:|---:|---:|" + "---:|" * len(snrs)]
    estimated = False
    for k in ks:
        for variant in (FULL, BASELINE):
            key = f"{variant}, K={k}"
            if key not in steps:
                continue
            seeds = sorted(steps[key])
            secs = [seconds[key][s] for s in seeds]
            estimated |= not all(measured for _, measured in secs)
            mark = "" if all(measured for _, measured in secs) else " (est.)"
            uses = curves[key][seeds[0]]["channel_uses"]
            lines.append(
                f"| {k} | {uses if uses is not None else '-'} | {variant} | "
                f"{_spread(np.array([steps[key][s] for s in seeds], float))} | "
                f"{_spread(np.array([v for v, _ in secs]))}{mark} | "
                f"{_spread(np.array([curves[key][s]['train_s'] for s in seeds]))} | "
                f"{_spread(np.array([curves[key][s]['final'] for s in seeds]), '{:.3f}')} | "
                + " | ".join(f"{np.mean(accuracy[key, x]):.3f}" if (key, x) in accuracy else "-" for x in snrs) + " |")
    lines += ["", "Seconds are wall-clock time and grow when other jobs share the machine's cores during a "
              "training; steps do not depend on it."]
    if estimated:
        lines += ["", "(est.): models trained before per-step times were recorded (the ablation's K = 32 "
                  "checkpoints); their seconds assume every step of both stages took as long."]
    figures = [_figure(trace, ks, steps, curves, accuracy, snrs, figures_dir / f"{name}_convergence.png")]
    lines += ["", f"![{name}: training accuracy, steps to converge vs K, and test accuracy vs channel uses]"
              f"({os.path.relpath(figures[0], page_dir)})"]
    return lines, figures


def _figure(trace: Trace, ks: list[int], steps: dict, curves: dict, accuracy: dict, snrs: list[float],
            target: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(14.0, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    left, middle, right = fig.subplots(1, 3)
    fig.suptitle(str(trace.attrs.get("name") or ""))
    style = {FULL: "-", BASELINE: "--"}
    for i, k in enumerate(ks):
        for variant, line in style.items():
            models = curves.get(f"{variant}, K={k}")
            if models:
                mean = np.mean([m["accuracy"] for m in models.values()], axis=0)
                left.plot(np.arange(1, mean.size + 1), smoothed_curve(mean), line, color=f"C{i}",
                          label=f"K={k}, {variant}")
    left.set(xlabel="Optimizer step (task stage)", ylabel="Training accuracy (moving mean, mean over seeds)")
    for variant, marker in ((FULL, "o"), (BASELINE, "s")):
        have = [k for k in ks if f"{variant}, K={k}" in steps]
        values = [np.array(list(steps[f"{variant}, K={k}"].values()), float) for k in have]
        if have:
            mean = np.array([v.mean() for v in values])
            middle.errorbar(have, mean, yerr=[mean - [v.min() for v in values], [v.max() for v in values] - mean],
                            marker=marker, linestyle=style[variant], capsize=3, label=variant)
    middle.set(xscale="log", xlabel="Tokens per image K", ylabel=f"Steps to {CONVERGED_SHARE:.0%} of final accuracy")
    middle.set_xticks(ks, [str(k) for k in ks])
    middle.set_xticks([], minor=True)
    for i, x in enumerate(snrs):
        for variant, marker in ((FULL, "o"), (BASELINE, "s")):
            have = [k for k in ks if (f"{variant}, K={k}", x) in accuracy]
            uses = [curves[f"{variant}, K={k}"][min(curves[f"{variant}, K={k}"])]["channel_uses"] for k in have]
            if have and all(u is not None for u in uses):
                right.plot(uses, [np.mean(accuracy[f"{variant}, K={k}", x]) for k in have], marker=marker,
                           linestyle=style[variant], color=f"C{i}", label=f"{x:g} dB, {variant}")
    right.set(xscale="log", xlabel="Channel uses (REs) per image", ylabel="Test accuracy (mean over seeds)")
    for ax in (left, middle, right):
        ax.grid(True, alpha=0.3)
    left.legend(fontsize="small")
    middle.legend(fontsize="small")
    right.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))  # outside: the curves fill the axes
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=150, bbox_inches="tight")
    return target
