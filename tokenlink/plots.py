"""Paper-ready figures from a trace file alone.

:func:`plot_trace` reads the complete points of a trace and draws what the
metrics allow:

* ``ber`` / ``ser`` / ``ter`` vs SNR (log y), one figure per metric; the BER of uncoded
  ``bits`` points over AWGN or flat Rayleigh fading with perfect CSI gets its exact closed
  form (dotted) next to it;
* ``nmse`` vs SNR, in dB (``10 log10 NMSE``);
* ``accuracy`` vs SNR, and accuracy vs BER and vs the median per-sample NMSE
  (same transmissions), with the blind model's accuracy (``prior_accuracy``) dashed;
* with per-question arrays (``sample_correct`` and ``sample_ber`` / ``sample_nmse``): accuracy
  vs the link each question met, the questions of every test SNR binned by their own BER / NMSE;
* a train-SNR x test-SNR accuracy heatmap when a ``*train_snr*`` parameter is swept;
* the training curves of every distinct trained model (``train_task_loss``,
  ``train_task_accuracy``: moving median / mean over 2 % of the steps);
* for federated split learning points (``round_test_accuracy``): ``fedsl_accuracy_vs_round``,
  test accuracy per round and vs the cumulative latency estimate, one line per point;
  ``fedsl_accuracy_vs_setting`` and ``fedsl_<quantity>_vs_setting`` (final accuracy; mean per
  round of ``grad_sq_norm``, ``quantization_variance``, ``dropout_variance``) against each swept
  setting, one panel per setting, the others at their most common value (a one-at-a-time study);
  ``fedsl_traffic``, totals per point as bars (uplink channel uses and bits, downlink bits,
  model uploads, client FLOPs); ``fedsl_bound_vs_round``, those three quantities per round;
* for network points (``user_ber``, :mod:`tokenlink.phy.multiuser`): ``users``, each
  user's BER (log; analog token points: NMSE [dB]) and mean Es/N0 per RE against the user
  index, one line per point.

The x axis is the swept SNR parameter (``phy.snr_db``, ``esno_db``, ...:
"Es/N0 [dB]", or "Eb/N0 [dB]" when the name or a root attribute /
parameter says Eb/N0). When a link-budget distance (``*distance_m``) is
swept, each figure is drawn vs distance [m] and vs the per-point metric
``esno_db`` (a user's distance ``network.users.<k>...distance_m``: vs that user's
``user_esno_db``). Every other swept parameter splits the points into curves,
labelled ``name=value, ...``; a swept seed (``semantic.train_seed``) does not:
the points of one setting that differ only in it are drawn as their mean with a
min-max band (the training curves keep one curve per seed). Points with zero
errors cannot sit on a log axis: they are drawn as open triangles at the 95 % upper bound ``3/n``
("rule of three", n = bits, symbols or tokens) when the count is in the
trace, and left out otherwise.

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas: no
pyplot state, no display needed.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .scenario.sweep import VARIANT
from .trace import Trace, TraceError, TracePoint, label_names, read_trace, swept_params

__all__ = ["plot_trace", "trace_figures"]

STYLE = {
    "font.size": 11,
    "axes.labelsize": 12,
    "axes.titlesize": 11,
    "legend.fontsize": 9,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "lines.linewidth": 1.5,
    "lines.markersize": 5,
}
MARKERS = ("o", "s", "^", "D", "v", "<", ">", "p", "*", "h", "X", "P")
#: error-rate metric -> (axis label, count it is a rate of)
RATES = {
    "ber": ("Bit error rate", "bits"),
    "ser": ("Symbol error rate", "symbols"),
    "ter": ("Token error rate", "tokens"),
}
_SNR = re.compile(r"(snr|esno|es_no|ebno|eb_no)(_db)?$")
_EBNO = re.compile(r"eb_?no|eb/n0")


@dataclass
class _Axis:
    """One choice of x axis: where x comes from and which parameters it consumes."""

    tag: str  # file-name part: "snr", "distance", "esno"
    label: str
    x: Callable[[TracePoint], Any]
    consumes: tuple[str, ...]  # swept parameters that do not split curves
    log: bool = False


def _is_snr(name: str) -> bool:
    name = name.lower()
    return "train" not in name and bool(_SNR.search(name))


def _is_train_snr(name: str) -> bool:
    name = name.lower()
    return "train" in name and bool(re.search(r"snr|esno|ebno|es_no|eb_no", name))


def _snr_hints(trace: Trace, points: list[TracePoint]) -> list[str]:
    """String root attributes and parameters whose name mentions the SNR (e.g. ``snr_type="ebno"``)."""
    items = [*trace.attrs.items(), *points[0].params.items()]
    return [v for k, v in items if "snr" in k.lower() and isinstance(v, str)]


def _snr_label(name: str, hints: Sequence[str]) -> str:
    """"Eb/N0 [dB]" when the parameter name or a hint says Eb/N0, else "Es/N0 [dB]"."""
    return "Eb/N0 [dB]" if any(_EBNO.search(h.lower()) for h in (name, *hints)) else "Es/N0 [dB]"


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _is_numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _axes(trace: Trace, points: list[TracePoint], swept: list[str]) -> list[_Axis]:
    # inf (noiseless) counts as numeric here; non-finite x values are dropped per curve
    numeric = [n for n in swept if all(_is_numeric(p.params.get(n)) for p in points)]
    snr = [n for n in numeric if _is_snr(n)]
    distance = [n for n in numeric if n.lower().endswith("distance_m")]
    axes = []
    if snr:
        label = _snr_label(snr[0], _snr_hints(trace, points))
        axes.append(_Axis("snr", label, lambda p, n=snr[0]: p.params[n], (snr[0],)))
    if distance:
        d = distance[0]
        values = [v for p in points if (v := _number(p.params[d])) is not None]
        axes.append(_Axis("distance", "Distance [m]", lambda p: p.params[d], (d,),
                          log=bool(values) and min(values) > 0 and max(values) / min(values) > 20))
        user = re.match(r"network\.users\.(\d+)\.", d)
        if user and all(p.metrics.get("user_esno_db") is not None for p in points):
            k = int(user.group(1))  # the swept device's own Es/N0 (each user has its own budget)
            axes.append(_Axis("esno", f"Es/N0 of user {k} from its link budget [dB]",
                              lambda p: float(np.asarray(p.metrics["user_esno_db"], float)[k]), (d,)))
        elif all(_number(p.metrics.get("esno_db")) is not None for p in points):
            axes.append(_Axis("esno", "Es/N0 from the link budget [dB]", lambda p: p.metrics["esno_db"], (d,)))
    if not axes and numeric:
        axes.append(_Axis(re.sub(r"\W+", "_", numeric[0]), numeric[0], lambda p: p.params[numeric[0]], (numeric[0],)))
    return axes


def _is_seed(name: str) -> bool:
    """A swept seed (``semantic.train_seed``, ``...seed``): its points are repeats, pooled into one curve."""
    return bool(re.search(r"(^|[._])seed$", name.lower()))


def _curves(points: list[TracePoint], swept: list[str], consumed: Sequence[str]) -> dict[str, list[TracePoint]]:
    """Points grouped by the values of the swept parameters that are not on an axis; swept
    seeds never split curves (their points are pooled: see :func:`_grouped`)."""
    others = _label_names(points, [n for n in swept if n not in consumed and not _is_seed(n)])
    curves: dict[str, list[TracePoint]] = {}
    for p in points:
        label = ", ".join(f"{n}={_text(p.params.get(n))}" for n in others)
        curves.setdefault(label, []).append(p)
    return curves


def _label_names(points: list[TracePoint], names: list[str]) -> list[str]:
    """``names`` without those a point's ``variant`` (``sweep.labels``) decides."""
    return label_names(points, names, VARIANT)


def _text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _new_figure(title: str) -> tuple[Figure, Any]:
    fig = Figure(figsize=(6.4, 4.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if title:
        ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    return fig, ax


def _finish(fig: Figure, ax: Any, extra_handles: Sequence[Line2D] = ()) -> Figure:
    """Legend inside the axes when it is small, else below them (the figure grows to fit)."""
    handles, labels = ax.get_legend_handles_labels()
    handles, labels = handles + list(extra_handles), labels + [h.get_label() for h in extra_handles]
    if not labels:
        return fig
    if len(labels) <= 4 and max(map(len, labels)) <= 32:
        ax.legend(handles, labels, loc="best")
    else:
        ncol = 2 if max(map(len, labels)) <= 40 else 1
        fig.set_figheight(fig.get_figheight() + 0.25 * math.ceil(len(labels) / ncol))
        fig.legend(handles, labels, loc="outside lower center", ncol=ncol)
    return fig


def _series(curve: list[TracePoint], x: Callable[[TracePoint], Any], y: Callable[[TracePoint], Any]):
    """(x, y, point) sorted by x, finite values only."""
    rows = [(_number(x(p)), _number(y(p)), p) for p in curve]
    return sorted(((a, b, p) for a, b, p in rows if a is not None and b is not None), key=lambda r: r[0])


def _grouped(curve: list[TracePoint], x: Callable[[TracePoint], Any], y: Callable[[TracePoint], Any]
             ) -> list[tuple[float, np.ndarray, list[TracePoint]]]:
    """(x, y values, points) per distinct x, sorted by x: the repeats of one setting (its seeds)
    share an x and are drawn as their mean with a min-max band."""
    groups: dict[float, list[tuple[float, TracePoint]]] = {}
    for a, b, p in _series(curve, x, y):
        groups.setdefault(a, []).append((b, p))
    return [(a, np.array([b for b, _ in rows]), [p for _, p in rows]) for a, rows in groups.items()]


def _band_handle(bands: int) -> list[Line2D]:
    """The legend entry of the min-max bands, when some x has ``bands`` > 1 repeats."""
    return [Line2D([], [], color="0.6", linewidth=6, alpha=0.35,
                   label=f"min-max over {bands} seeds, line: mean")] if bands > 1 else []


def _mean_and_band(ax: Any, groups: list[tuple[float, np.ndarray, list[TracePoint]]], marker: str,
                   label: str) -> tuple[Any, int]:
    """Plot the mean of each x's values, and their min-max band when an x has several; returns
    (line, largest number of repeats)."""
    xs = [a for a, _, _ in groups]
    line, = ax.plot(xs, [float(v.mean()) for _, v, _ in groups], marker=marker, label=label)
    repeats = max((v.size for _, v, _ in groups), default=0)
    if repeats > 1:
        ax.fill_between(xs, [float(v.min()) for _, v, _ in groups], [float(v.max()) for _, v, _ in groups],
                        color=line.get_color(), alpha=0.2, linewidth=0)
    return line, repeats


def _rate_figure(points, swept, axis: _Axis, metric: str, title: str,
                 theory: Optional[Callable[[list[TracePoint]], Optional[Callable]]] = None) -> Figure:
    ylabel, count = RATES[metric]
    fig, ax = _new_figure(title)
    bounds = False
    repeats = 0
    for i, (label, curve) in enumerate(_curves(points, swept, axis.consumes).items()):
        groups = _grouped(curve, axis.x, lambda p: p.metrics.get(metric))
        rows = [(a, float(v.mean()), ps) for a, v, ps in groups]
        pos = [(a, v) for a, v, _ in groups if v.mean() > 0]
        line, seeds = _mean_and_band(ax, [(a, v, []) for a, v in pos], MARKERS[i % len(MARKERS)], label)
        repeats = max(repeats, seeds)
        zero = [(a, 3.0 / n) for a, b, ps in rows   # no errors in any repeat: the bound of all their counts
                if b == 0 and (n := sum(_number(p.metrics.get(count)) or 0 for p in ps)) > 0]
        closed_form = theory(curve) if theory is not None and rows else None
        if closed_form is not None:
            x = np.linspace(rows[0][0], rows[-1][0], 200)
            y = closed_form(x)
            measured = [b for _, b in pos + zero]
            keep = y >= min(measured) / 10 if measured else np.ones_like(y, dtype=bool)  # no axis down to 1e-30
            ax.plot(x[keep], y[keep], linestyle=":", color=line.get_color(),
                    label=f"{label}, closed form" if label else "closed form")
        if zero:
            bounds = True
            ax.plot([a for a, _ in zero], [b for _, b in zero], linestyle="none", marker="v",
                    markerfacecolor="none", color=line.get_color(), label="_zero_errors")
    ax.set_yscale("log")
    ax.set_xscale("log" if axis.log else "linear")
    ax.set_xlabel(axis.label)
    ax.set_ylabel(ylabel)
    extra = [Line2D([], [], linestyle="none", marker="v", markerfacecolor="none", color="0.3",
                    label=f"no errors: 95 % upper bound 3/{count}")] if bounds else []
    return _finish(fig, ax, extra + _band_handle(repeats))


def _closed_form_ber(trace: Trace) -> Callable[[list[TracePoint]], Optional[Callable]]:
    """For a curve of ``link.mode: bits`` points at Es/N0 per RE over AWGN or flat Rayleigh fading
    with perfect CSI: the exact uncoded BER of its constellation (:mod:`tokenlink.phy.theory`), with
    maximum-ratio combining over the base station's antennas, as a function of Es/N0 [dB] per antenna.
    A network whose users all run at the phy SNR over the phy channel: the same for OFDMA, and for
    MU-MIMO with ZF over Rayleigh the diversity N_r - K + 1. `None` for every other curve (no
    closed form is drawn)."""
    import yaml

    from .phy.config import MODULATIONS
    from .phy.theory import ber_awgn, ber_rayleigh_mrc

    try:
        base = yaml.safe_load(str(trace.attrs.get("scenario_yaml") or "")) or {}
    except yaml.YAMLError:
        base = {}

    def value(point: TracePoint, dotted: str) -> Any:
        if dotted in point.params:
            return point.params[dotted]
        node: Any = base
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node

    def curve_theory(curve: list[TracePoint]) -> Optional[Callable]:
        fields = ("link.mode", "phy.snr_type", "phy.receiver.estimator", "phy.channel.model", "phy.modulation",
                  "phy.base_station.num_rx_antennas", "phy.receiver.equalizer", "network.sharing")
        settings = {tuple(value(p, f) for f in fields) for p in curve}
        if len(settings) != 1:
            return None
        mode, snr_type, estimator, model, modulation, num_rx, _, _ = settings.pop()
        if mode != "bits" or snr_type != "es_no" or estimator != "perfect" or modulation not in MODULATIONS:
            return None
        bits, num_rx = MODULATIONS[modulation][1], int(num_rx or 1)
        network = base.get("network") if isinstance(base, dict) else None
        if network:  # every user at the phy SNR over the phy channel, or no closed form
            users = network.get("users") or []
            if any(u.get("esno_db") is not None or u.get("link_budget") or u.get("channel") for u in users):
                return None
            if value(curve[0], "network.sharing") == "mu_mimo":  # ZF: N_r - K + 1 branches; LMMSE: none
                if value(curve[0], "phy.receiver.equalizer") != "zf" or model != "rayleigh":
                    return None
                return lambda esno_db: ber_rayleigh_mrc(esno_db, bits, num_rx - len(users) + 1)
        if model == "awgn":  # maximum-ratio combining of N_r unit-gain antennas: array gain N_r
            return lambda esno_db: ber_awgn(np.asarray(esno_db) + 10 * np.log10(num_rx), bits)
        if model == "rayleigh":
            return lambda esno_db: ber_rayleigh_mrc(esno_db, bits, num_rx)
        return None

    return curve_theory


def _line_figure(points, swept, axis: _Axis, y: Callable[[TracePoint], Any], ylabel: str, title: str,
                 decorate: Optional[Callable[[Any, list[TracePoint]], None]] = None) -> Figure:
    fig, ax = _new_figure(title)
    repeats = 0
    for i, (label, curve) in enumerate(_curves(points, swept, axis.consumes).items()):
        repeats = max(repeats, _mean_and_band(ax, _grouped(curve, axis.x, y), MARKERS[i % len(MARKERS)], label)[1])
    if decorate is not None:
        decorate(ax, points)
    ax.set_xscale("log" if axis.log else "linear")
    ax.set_xlabel(axis.label)
    ax.set_ylabel(ylabel)
    return _finish(fig, ax, _band_handle(repeats))


def _nmse_db(p: TracePoint) -> Optional[float]:
    value = _number(p.metrics.get("nmse"))
    return 10 * math.log10(value) if value is not None and value > 0 else None


def _accuracy_vs(points, swept, axis: _Axis, x: Callable[[TracePoint], Any], xlabel: str, log_x: bool,
                 title: str) -> Figure:
    """Task accuracy against a link metric of the same transmissions, one curve per setting; the
    repeats (seeds) of one axis value are drawn at their mean metric and mean accuracy."""
    fig, ax = _new_figure(title)
    for i, (label, curve) in enumerate(_curves(points, swept, axis.consumes).items()):
        rows = []
        for _, _, ps in _grouped(curve, axis.x, lambda p: 0.0):
            pairs = [(a, b) for p in ps if (a := _number(x(p))) is not None
                     and (b := _number(p.metrics.get("accuracy"))) is not None]
            if pairs:
                rows.append((float(np.mean([a for a, _ in pairs])), float(np.mean([b for _, b in pairs]))))
        rows = sorted(r for r in rows if r[0] > 0 or not log_x)  # zero BER has no place on a log axis
        if rows:
            ax.plot([a for a, _ in rows], [b for _, b in rows], marker=MARKERS[i % len(MARKERS)], label=label)
    _prior_line(ax, points)
    ax.set_xscale("log" if log_x else "linear")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Task accuracy")
    return _finish(fig, ax)


def _accuracy_per_realization(points, swept, axis: _Axis, sample: str, xlabel: str, title: str,
                              bins: int = 15) -> Optional[Figure]:
    """Task accuracy against the link quality each test question actually met: every curve pools the
    per-question ``sample_correct`` and ``sample_<metric>`` of all its points (every test SNR and seed),
    sorts them into ``bins`` bins of equal counts by the metric, and draws each bin's accuracy
    (with a 95 % binomial interval) at the bin's median metric. NMSE is in dB; the questions whose
    frame had no bit error (BER 0, no place on a log axis) are reported in the legend."""
    fig, ax = _new_figure(title)
    drawn = False
    for i, (label, curve) in enumerate(_curves(points, swept, axis.consumes).items()):
        xs, ys = [], []
        for p in curve:
            x, y = p.metrics.get(f"sample_{sample}"), p.metrics.get("sample_correct")
            if isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and x.shape == y.shape:
                xs.append(x.astype(np.float64).ravel())
                ys.append(y.astype(np.float64).ravel())
        if not xs:
            continue
        x, y = np.concatenate(xs), np.concatenate(ys)
        keep = np.isfinite(x) & (x > 0)
        name = label or "all points"
        if sample == "ber" and (~keep).any():
            zero = ~keep & np.isfinite(x)
            name += f" (BER 0: {y[zero].mean():.3f} of {int(zero.sum())})" if zero.any() else ""
        x, y = x[keep], y[keep]
        if x.size < bins:
            continue
        if sample == "nmse":
            x = 10 * np.log10(x)
        order = np.argsort(x, kind="stable")
        groups = np.array_split(order, bins)
        centers = np.array([np.median(x[g]) for g in groups])
        acc = np.array([y[g].mean() for g in groups])
        half = np.array([1.96 * math.sqrt(max(a * (1 - a), 1e-12) / g.size) for a, g in zip(acc, groups, strict=True)])
        ax.errorbar(centers, acc, yerr=half, marker=MARKERS[i % len(MARKERS)], capsize=2, label=name)
        drawn = True
    if not drawn:
        return None
    _prior_line(ax, points)
    ax.set_xscale("log" if sample == "ber" else "linear")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Task accuracy (questions binned by their link)")
    return _finish(fig, ax)


def _prior_line(ax: Any, points: list[TracePoint]) -> None:
    """The blind model's accuracy (``prior_accuracy``: the question alone), dashed, when the trace has it."""
    priors = sorted({round(v, 9) for p in points if (v := _number(p.metrics.get("prior_accuracy"))) is not None})
    for value in priors:
        ax.axhline(value, linestyle="--", color="0.45", linewidth=1.0,
                   label="question alone (blind)" if value == priors[0] else "_prior")


def _median_nmse_db(p: TracePoint) -> Optional[float]:
    """Median per-sample NMSE [dB] (``sample_nmse``; the mean is dominated by deep fades), else ``nmse``."""
    samples = p.metrics.get("sample_nmse")
    value = float(np.median(samples)) if isinstance(samples, np.ndarray) and samples.size else _number(
        p.metrics.get("nmse"))
    return 10 * math.log10(value) if value is not None and value > 0 else None


def _heatmaps(points, swept, train: str, test: str, hints: Sequence[str], title: str) -> list[Figure]:
    """Accuracy over (train SNR, test SNR), one heatmap per combination of the other swept parameters."""
    figures = []
    for label, curve in _curves(points, swept, (train, test)).items():
        rows = [(p.params[train], p.params[test], _number(p.metrics.get("accuracy"))) for p in curve]
        trains = sorted({r[0] for r in rows})
        tests = sorted({r[1] for r in rows})
        cells: dict[tuple[int, int], list[float]] = {}  # a cell's repeats (seeds) are averaged
        for tr, te, acc in rows:
            if acc is not None:
                cells.setdefault((trains.index(tr), tests.index(te)), []).append(acc)
        grid = np.full((len(trains), len(tests)), np.nan)
        for cell, values in cells.items():
            grid[cell] = float(np.mean(values))
        fig, ax = _new_figure(", ".join(s for s in (title, label) if s))
        ax.grid(False)
        im = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
        ax.set_xticks(range(len(tests)), [_text(v) for v in tests])
        ax.set_yticks(range(len(trains)), [_text(v) for v in trains])
        ax.set_xlabel(f"Test {_snr_label(test, hints)}")
        ax.set_ylabel(f"Training {_snr_label(train, hints)}")
        if grid.size <= 225:
            for (r, c), acc in np.ndenumerate(grid):
                if not np.isnan(acc):
                    ax.text(c, r, f"{acc:.2f}", ha="center", va="center", fontsize=8,
                            color="white" if acc < np.nanmean(grid) else "black")
        fig.colorbar(im, ax=ax, label="Task accuracy")
        figures.append(fig)
    return figures


def _moving(values: np.ndarray, window: int, statistic: Callable[..., np.ndarray],
            max_points: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """(steps, smoothed): ``statistic`` (``np.nanmean`` or ``np.nanmedian``) of the last
    ``window`` values (fewer at the start, NaNs skipped) at every step, or at
    ``max_points`` evenly spaced steps of a longer curve (cost independent of its length).
    Steps count from 1."""
    ends = np.unique(np.linspace(0, len(values) - 1, min(len(values), max_points)).round().astype(int))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN window gives NaN, not a warning
        smoothed = np.array([statistic(values[max(0, end + 1 - window):end + 1]) for end in ends])
    return ends + 1, smoothed


#: Training curve -> (axis label, smoothing). The loss takes a median: one step hit by
#: a deep fade can have a loss 100x the others and would dominate a mean over its window;
#: batch accuracies are bounded, and their mean is not stuck on multiples of 1 / batch.
_TRAINING_CURVES = {"loss": ("Training loss (moving median)", np.nanmedian),
                    "accuracy": ("Training accuracy (moving mean)", np.nanmean)}


def _training_figure(points, swept, title: str) -> Optional[Figure]:
    """Task loss and accuracy per optimizer step, one curve per distinct trained model.

    Points that share a trained model (they differ only in the test SNR) carry
    the same curves; they are drawn once, labelled by the other swept parameters.
    """
    labels = _label_names(points, [n for n in swept if not _is_snr(n)])
    models: dict[bytes, tuple[str, dict[str, np.ndarray]]] = {}
    for p in points:
        curves = {name: np.asarray(p.metrics[f"train_task_{name}"], dtype=np.float64).ravel()
                  for name in ("loss", "accuracy") if np.ndim(p.metrics.get(f"train_task_{name}")) == 1}
        if curves:
            key = b"".join(v.tobytes() for v in curves.values())
            label = ", ".join(f"{n}={_text(p.params[n])}" for n in labels if n in p.params) or "trained model"
            models.setdefault(key, (label, curves))
    if not models:
        return None
    fig = Figure(figsize=(10.0, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    if title:
        fig.suptitle(title)
    for i, (label, curves) in enumerate(models.values()):
        for ax, (name, (_, statistic)) in zip(axes, _TRAINING_CURVES.items(), strict=True):
            if name in curves:
                values = curves[name]
                window = max(1, len(values) // 50)
                ax.plot(*_moving(values, window, statistic), color=f"C{i % 10}", label=label)
    for ax, (ylabel, _) in zip(axes, _TRAINING_CURVES.values(), strict=True):
        ax.set_xlabel("Optimizer step (task stage)")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
    return _finish(fig, axes[1])


def _users_figure(points: list[TracePoint], swept: list[str], title: str) -> Figure:
    """Per-user BER (log; zero-error users at ``3/bits``, open), or per-user NMSE [dB] for analog
    token points without a BER, and mean Es/N0 vs user index."""
    fig = Figure(figsize=(6.4, 6.4), layout="constrained")
    FigureCanvasAgg(fig)
    ber_ax, snr_ax = fig.subplots(2, 1, sharex=True)
    if title:
        ber_ax.set_title(title)
    for i, (label, curve) in enumerate(_curves(points, swept, ()).items()):
        for p in curve:
            marker = MARKERS[i % len(MARKERS)]
            if "user_ber" not in p.metrics:
                nmse_db = 10 * np.log10(np.maximum(np.asarray(p.metrics["user_nmse"], float), 1e-30))
                users = np.arange(nmse_db.size)
                line, = ber_ax.plot(users, nmse_db, marker=marker, label=label or None)
                ber_ax.set_ylabel("NMSE of the received tokens [dB]")
            else:
                ber = np.asarray(p.metrics["user_ber"], float)
                users = np.arange(ber.size)
                bits = np.asarray(p.metrics.get("user_bits", np.full(ber.size, np.nan)), float)
                line, = ber_ax.plot(users[ber > 0], ber[ber > 0], marker=marker, label=label or None)
                ber_ax.set_yscale("log")
                ber_ax.set_ylabel("Bit error rate")
                zero = ber == 0
                if zero.any():
                    ber_ax.plot(users[zero], 3.0 / bits[zero], linestyle="none", marker="v",
                                markerfacecolor="none", color=line.get_color())
            if "user_esno_db" in p.metrics:
                snr_ax.plot(users, np.asarray(p.metrics["user_esno_db"], float), marker=marker,
                            color=line.get_color())
    snr_ax.set_ylabel("Mean Es/N0 per RE [dB]")
    snr_ax.set_xlabel("User")
    for ax in (ber_ax, snr_ax):
        ax.grid(True, which="both", alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    return _finish(fig, ber_ax)


def _fedsl_figure(points: list[TracePoint], swept: list[str], title: str) -> Figure:
    """Federated split learning points (``round_test_accuracy``, :mod:`tokenlink.fedsl_run`): test
    accuracy per round and against the cumulative latency estimate (``round_latency_s``), one line
    per point, labelled by the swept parameters (a swept seed: one line per seed, same colour)."""
    fig = Figure(figsize=(10.0, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2, sharey=True)
    if title:
        fig.suptitle(title)
    for i, (label, curve) in enumerate(_curves(points, swept, ()).items()):
        for n, p in enumerate(curve):
            accuracy = np.asarray(p.metrics["round_test_accuracy"], dtype=np.float64).ravel()
            rounds = np.arange(1, accuracy.size + 1)
            name = (label or "run") if n == 0 else None
            axes[0].plot(rounds, accuracy, marker=MARKERS[i % len(MARKERS)], color=f"C{i % 10}", label=name)
            latency = p.metrics.get("round_latency_s")
            if latency is not None:
                axes[1].plot(np.cumsum(np.asarray(latency, dtype=np.float64).ravel()), accuracy,
                             marker=MARKERS[i % len(MARKERS)], color=f"C{i % 10}")
    axes[0].set_xlabel("Round")
    axes[1].set_xlabel("Estimated latency (client compute + uplink airtime) [s]")
    axes[0].set_ylabel("Test accuracy")
    for ax in axes:
        ax.grid(True, alpha=0.3)
    axes[0].xaxis.get_major_locator().set_params(integer=True)
    return _finish(fig, axes[0])


#: Per-round quantities of paper B's convergence bound (``round_<name>``) -> axis label.
FEDSL_BOUND = {"grad_sq_norm": "Squared cut-layer gradient norm",
               "quantization_variance": "Quantization variance per value",
               "dropout_variance": "Dropout variance per value"}


def _fedsl_fields(points: list[TracePoint], swept: list[str]) -> list[str]:
    """The swept settings of a FedSL study: every swept parameter but ``variant`` and seeds."""
    return [n for n in swept if n != VARIANT and not _is_seed(n)]


def _fedsl_slices(points: list[TracePoint], fields: list[str], field: str) -> dict[str, list[TracePoint]]:
    """The lines of ``field``'s panel in a one-at-a-time study. The centre is every field's most
    common value; the line ``""`` holds the points that differ from the centre in ``field`` alone,
    the line ``"<other>=<v>"`` those that differ in ``field`` and in ``other`` (= v) alone (e.g.
    Es/N0 with the digital link). Lines where ``field`` takes fewer than two values are left out."""
    centre = {}
    for n in fields:
        values = [repr(p.params.get(n)) for p in points]
        centre[n] = max(values, key=values.count)
    lines: dict[str, list[TracePoint]] = {}
    for p in points:
        off = [n for n in fields if n != field and repr(p.params.get(n)) != centre[n]]
        if len(off) <= 1:
            lines.setdefault(f"{off[0]}={_text(p.params.get(off[0]))}" if off else "", []).append(p)
    return {k: v for k, v in lines.items() if len({repr(p.params.get(field)) for p in v}) > 1}


def _fedsl_vs_setting(points: list[TracePoint], swept: list[str], y: Callable[[TracePoint], Any],
                      ylabel: str, title: str, log: bool = False) -> Optional[Figure]:
    """``y`` of every point against each swept setting, one panel per setting (see
    :func:`_fedsl_slices`); numbers on a numeric axis (log when they span a factor >= 8),
    other values (``iid``, ``analog``) evenly spaced. ``log``: log y, symmetric-log (zeros kept)
    when a value is 0. `None` when no setting has two values."""
    fields = _fedsl_fields(points, swept)
    panels = {f: s for f in fields if (s := _fedsl_slices(points, fields, f))}
    if not panels:
        return None
    fig = Figure(figsize=(3.4 * len(panels) + 0.6, 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    if title:
        fig.suptitle(title)
    values_y = []
    for ax, (field, lines) in zip(axes, panels.items(), strict=True):
        xs = [p.params.get(field) for line in lines.values() for p in line]
        numeric = all(_number(x) is not None for x in xs)
        order = sorted({repr(x): x for x in xs}.values(), key=lambda v: float(v) if numeric else 0)
        where = {repr(v): float(v) if numeric else float(i) for i, v in enumerate(order)}
        for i, (label, line) in enumerate(lines.items()):
            rows = sorted(((where[repr(p.params.get(field))], _number(y(p))) for p in line), key=lambda r: r[0])
            rows = [r for r in rows if r[1] is not None]
            values_y += [b for _, b in rows]
            ax.plot([a for a, _ in rows], [b for _, b in rows], marker=MARKERS[i % len(MARKERS)],
                    color=f"C{i % 10}", label=label or "others at the centre")
        if numeric and min(where.values()) > 0 and max(where.values()) >= 8 * min(where.values()):
            ax.set_xscale("log")
        ax.set_xticks(list(where.values()), [_text(v) for v in order])
        ax.minorticks_off()
        ax.set_xlabel(field)
        ax.grid(True, which="both", alpha=0.3)
        if len(lines) > 1:
            ax.legend(loc="best", fontsize=7)
    positive = [v for v in values_y if v > 0]
    if log and positive:
        axes[0].set_yscale("symlog", linthresh=min(positive)) if len(positive) < len(values_y) \
            else axes[0].set_yscale("log")
    axes[0].set_ylabel(ylabel)
    return fig


def _round_mean(name: str) -> Callable[[TracePoint], Optional[float]]:
    """The mean over a point's rounds of ``round_<name>`` (finite rounds only; `None` if none)."""
    def mean(p: TracePoint) -> Optional[float]:
        values = np.asarray(p.metrics.get(f"round_{name}", []), dtype=np.float64).ravel()
        values = values[np.isfinite(values)]
        return float(values.mean()) if values.size else None
    return mean


def _fedsl_point_labels(points: list[TracePoint], swept: list[str]) -> list[str]:
    """A short name per point: its ``variant``, else its swept parameters."""
    names = _label_names(points, [n for n in swept if not _is_seed(n)])
    return [str(p.params[VARIANT]) if VARIANT in p.params else
            ", ".join(f"{n}={_text(p.params.get(n))}" for n in names) or p.key for p in points]


def _fedsl_traffic(points: list[TracePoint], swept: list[str], title: str) -> Figure:
    """Per point, totals over the run as horizontal bars: uplink channel uses, uplink bits (ideal or
    digital uplink; an analog link sends values, no bits), cut-layer gradient (downlink) bits,
    FedAvg's model exchange bits and client FLOPs. Panels with no finite nonzero value are left out."""
    panels = {"uplink_channel_uses": "Uplink channel uses", "uplink_bits": "Uplink bits",
              "downlink_bits": "Downlink (gradient) bits", "model_uplink_bits": "Model upload bits",
              "client_flops": "Client FLOPs (fwd + bwd)"}
    table = {k: [_number(p.metrics.get(k)) for p in points] for k in panels}
    table = {k: v for k, v in table.items() if any(x for x in v)}
    labels = _fedsl_point_labels(points, swept)
    fig = Figure(figsize=(2.8 * len(table) + 1.6, 1.2 + 0.28 * len(points)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(1, len(table), sharey=True))
    if title:
        fig.suptitle(f"{title}: totals over the run")
    for ax, (name, values) in zip(axes, table.items(), strict=True):
        ax.barh(np.arange(len(points)), [np.nan if v is None else v for v in values], color="C0")
        ax.set_xlabel(panels[name])
        ax.grid(True, axis="x", alpha=0.3)
    axes[0].set_yticks(np.arange(len(points)), labels)
    axes[0].invert_yaxis()
    return fig


def _fedsl_bound_vs_round(points: list[TracePoint], swept: list[str], title: str) -> Figure:
    """The convergence-bound quantities (:data:`FEDSL_BOUND`) per round, one line per point (log y;
    rounds with a zero, e.g. no quantization, are not drawn)."""
    fig = Figure(figsize=(12.0, 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(FEDSL_BOUND))
    if title:
        fig.suptitle(title)
    for i, (p, label) in enumerate(zip(points, _fedsl_point_labels(points, swept), strict=True)):
        for ax, name in zip(axes, FEDSL_BOUND, strict=True):
            values = np.asarray(p.metrics.get(f"round_{name}", []), dtype=np.float64).ravel()
            values = np.where(values > 0, values, np.nan)
            ax.plot(np.arange(1, values.size + 1), values, marker=MARKERS[i % len(MARKERS)], color=f"C{i % 10}",
                    label=label if ax is axes[0] else None)
    for ax, ylabel in zip(axes, FEDSL_BOUND.values(), strict=True):
        ax.set_yscale("log")
        ax.set_xlabel("Round")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    return _finish(fig, axes[0])


def _fedsl_study_figures(points: list[TracePoint], swept: list[str], title: str) -> list[tuple[str, Figure]]:
    """The study figures of FedSL points: final accuracy and the per-round means of the bound
    quantities vs each swept setting, traffic and FLOPs bars, the bound quantities per round."""
    figures = []
    for stem, y, ylabel, log in [("fedsl_accuracy_vs_setting", lambda p: p.metrics.get("accuracy"),
                                  "Final test accuracy", False),
                                 *((f"fedsl_{name}_vs_setting", _round_mean(name), f"{label} (mean of rounds)", True)
                                   for name, label in FEDSL_BOUND.items())]:
        fig = _fedsl_vs_setting(points, swept, y, ylabel, title, log)
        if fig is not None:
            figures.append((stem, fig))
    figures.append(("fedsl_traffic", _fedsl_traffic(points, swept, title)))
    if any(f"round_{name}" in p.metrics for p in points for name in FEDSL_BOUND):
        figures.append(("fedsl_bound_vs_round", _fedsl_bound_vs_round(points, swept, title)))
    return figures


def trace_figures(path: Union[str, os.PathLike]) -> list[tuple[str, Figure]]:
    """The figures :func:`plot_trace` would save, as ``(file stem, Figure)`` pairs.

    Only complete points are used. Raises :class:`TraceError` when the trace has none.
    """
    trace = read_trace(path)
    points = trace.complete_points
    if not points:
        raise TraceError(f"{trace.path}: no complete points to plot")
    swept = swept_params(points)
    metrics = {m for p in points for m in p.metrics}
    title = str(trace.attrs.get("name") or "")
    figures: list[tuple[str, Figure]] = []
    with matplotlib.rc_context(STYLE):
        for n, axis in enumerate(_axes(trace, points, swept)):
            for metric in RATES:
                if metric in metrics:
                    theory = _closed_form_ber(trace) if metric == "ber" and axis.tag == "snr" else None
                    figures.append((f"{metric}_vs_{axis.tag}",
                                    _rate_figure(points, swept, axis, metric, title, theory)))
            if "nmse" in metrics:
                figures.append((f"nmse_vs_{axis.tag}",
                                _line_figure(points, swept, axis, _nmse_db, "NMSE [dB]", title)))
            if "accuracy" in metrics:
                figures.append((f"accuracy_vs_{axis.tag}", _line_figure(
                    points, swept, axis, lambda p: p.metrics.get("accuracy"), "Task accuracy", title, _prior_line)))
                if n == 0:  # accuracy against the link metrics of the same transmissions, once
                    if "ber" in metrics:
                        figures.append(("accuracy_vs_ber", _accuracy_vs(
                            points, swept, axis, lambda p: p.metrics.get("ber"), "Bit error rate", True, title)))
                    if "nmse" in metrics:
                        figures.append(("accuracy_vs_nmse", _accuracy_vs(
                            points, swept, axis, _median_nmse_db, "Median NMSE of the received tokens [dB]",
                            False, title)))
                    for sample, xlabel in (("ber", "Bit error rate of the question's frame"),
                                           ("nmse", "NMSE of the question's received tokens [dB]")):
                        if "sample_correct" in metrics and f"sample_{sample}" in metrics:
                            fig = _accuracy_per_realization(points, swept, axis, sample, xlabel, title)
                            if fig is not None:
                                figures.append((f"accuracy_vs_sample_{sample}", fig))
        train = [n for n in _label_names(points, swept) if _is_train_snr(n)]  # not one of a variant's settings
        test = [n for n in swept if _is_snr(n)]
        if train and test and "accuracy" in metrics:
            maps = _heatmaps(points, swept, train[0], test[0], _snr_hints(trace, points), title)
            for i, fig in enumerate(maps):
                figures.append(("accuracy_train_vs_test_snr" + (f"_{i + 1}" if len(maps) > 1 else ""), fig))
        if "user_ber" in metrics or "user_nmse" in metrics:
            figures.append(("users", _users_figure(points, swept, title)))
        if "round_test_accuracy" in metrics:
            figures.append(("fedsl_accuracy_vs_round", _fedsl_figure(points, swept, title)))
            figures.extend(_fedsl_study_figures(points, swept, title))
        training = _training_figure(points, swept, title)
        if training is not None:
            figures.append(("training_curves", training))
    return figures


def plot_trace(path: Union[str, os.PathLike], out_dir: Union[str, os.PathLike],
               formats: Sequence[str] = ("png", "pdf"), dpi: int = 200) -> list[Path]:
    """Draw the figures of a trace (see the module docstring) into ``out_dir``.

    :param path: the trace file.
    :param out_dir: output folder, created if needed.
    :param formats: file formats matplotlib knows, e.g. ``("png", "pdf", "svg")``.
    :param dpi: resolution of raster formats [dots per inch].
    :output files: the files written, ``<stem>.<format>`` per figure and format
        (e.g. ``ber_vs_snr.png``).
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise TraceError(f"{out}: cannot create the figure folder ({err.strerror or err})") from None
    written = []
    with matplotlib.rc_context(STYLE):
        for stem, fig in trace_figures(path):
            for fmt in formats:
                target = out / f"{stem}.{fmt}"
                try:
                    fig.savefig(target, dpi=dpi, bbox_inches="tight")  # a wide legend below the axes stays whole
                except OSError as err:
                    raise TraceError(f"{target}: cannot write the figure ({err.strerror or err})") from None
                written.append(target)
    return written
