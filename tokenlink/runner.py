"""Run a scenario: simulate every sweep point and stream it into one HDF5 trace.

Data flow of one point: resolved scenario -> its plan
(:func:`~tokenlink.scenario.plan.point_plan`: what the point simulates) ->
link (``phy.OFDMLink`` for ``link.mode: bits``, ``bridge.TokenLink`` for
analog / digital tokens) -> batches until the stopping rule -> metrics ->
:class:`PointResult` -> the trace writer. Points are independent: each seeds
the generators from ``(run.seed, point index)``, so a resumed run, a run on
Ray and an uninterrupted local run give the same numbers, and points can be
simulated in any order or in parallel. One process (the caller) owns the trace.

SNR: every frame (a slot for ``bits``, a token frame for analog / digital,
one test question for semantic points) runs at the plan's mean Es/N0 minus
its own log-normal shadowing draw when the plan has shadowing
(``phy.snr_type: link_budget``), from a stream of its own
(:class:`~tokenlink.phy.snr.Shadowing`, seeded from the point's seed): the
bits, channels and noise are those of the same point without shadowing.
Every point records ``esno_db`` (the mean) and ``esno_db_std`` (the spread
drawn); token points also ``esno_db_per_frame``, semantic points
``sample_esno_db`` (one per test question).

Stopping rules (per point, like Sionna's ``sim_ber``), batch by batch:

* ``bits``: at ``max_bits`` bits; with ``early_stop``, as soon as there are
  ``min_bit_errors`` bit errors (and, with ``max_rel_stderr``, the BER's
  standard error is at most that fraction of it).
* ``digital``: at ``max_frames`` frames (``run.batch_size`` per batch); with
  ``early_stop``, as soon as there are ``min_bit_errors`` bit errors (and, with
  ``max_rel_stderr``, the standard error of the mean per-frame bit errors is
  at most that fraction of it).
* ``analog``: at ``max_frames`` frames; with ``early_stop`` and
  ``max_rel_stderr``, as soon as the standard error of the mean per-frame
  NMSE is at most that fraction of it.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Optional, Sequence, Union

import numpy as np

from .common.progress import Progress, ProgressLike, resolve_progress
from .scenario import Scenario, SweepPoint, SweepPoints, load_scenario
from .scenario.plan import PointPlan, StopPlan, point_plan
from .scenario.warnings import scenario_warnings

if TYPE_CHECKING:  # torch loads when a point is simulated, not to validate or to refuse a run
    import torch

    from tokenlink.phy.snr import Shadowing

    from .trace.lock import TraceLock

__all__ = ["PointResult", "RunResult", "run", "simulate_point", "point_seed", "smoke"]

#: Budgets of ``--smoke``: every point runs, briefly (seconds for a whole scenario).
SMOKE_RUN = {"batch_size": 8, "max_bits": 20_000, "min_bit_errors": 100, "max_frames": 16}


@dataclass
class PointResult:
    """What one sweep point produced: metrics (scalars or arrays) and raw arrays."""

    index: int
    key: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    raw: dict[str, np.ndarray] = field(default_factory=dict)
    elapsed_s: float = 0.0


@dataclass
class RunResult:
    """Returned by :func:`run`: the trace, the points simulated by this call
    (not those a resume skipped), the figures and the final status."""

    trace_path: Path
    points: list[PointResult]
    figures: list[Path]
    status: str


def point_seed(seed: int, index: int) -> int:
    """The seed of sweep point ``index``: independent streams per point."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, dtype=np.uint64)[0])


#: Figures of a ``--smoke`` run (:func:`tokenlink.plots.plot_trace` arguments).
SMOKE_FIGURES = {"formats": ("png",), "dpi": 80}


def smoke(scenario: Scenario) -> Scenario:
    """The scenario with tiny budgets (:data:`SMOKE_RUN`, and the semantic ones of
    :func:`tokenlink.semantic_run.semantic_smoke`), for a seconds-long check."""
    run_cfg = scenario.run.model_copy(update={k: min(getattr(scenario.run, k), v) for k, v in SMOKE_RUN.items()})
    scenario = scenario.model_copy(update={"run": run_cfg})
    if scenario.semantic is not None:
        from .semantic_run import semantic_smoke

        scenario = semantic_smoke(scenario)
    if scenario.fedsl is not None:
        from .fedsl_run import fedsl_smoke

        scenario = fedsl_smoke(scenario)
    return scenario


# ------------------------------------------------------------------ one point
def simulate_point(point: SweepPoint, device: str = "cpu", smoke_run: bool = False,
                   checkpoint_root: Optional[Path] = None) -> PointResult:
    """Simulate one sweep point on ``device`` (see the module docstring), from its
    :class:`~tokenlink.scenario.plan.PointPlan`.

    Semantic points evaluate the model trained for them (:func:`tokenlink.semantic_run.ensure_trained`)
    whose checkpoints are under ``checkpoint_root``."""
    from tokenlink.phy import set_seed
    from tokenlink.phy.snr import Shadowing

    scenario = smoke(point.scenario) if smoke_run else point.scenario
    plan = point_plan(scenario)
    t0 = time.perf_counter()
    seed = point_seed(plan.seed, point.index)
    set_seed(seed)  # channels, noise, bits: Sionna's generators
    shadowing = Shadowing(plan.snr.shadowing_std_db, point_seed(seed, 2))  # its own stream
    if scenario.fedsl is not None:  # a federated split learning run (tokenlink.fedsl_run)
        from .fedsl_run import fedsl_point

        if checkpoint_root is None:
            raise ValueError("a fedsl point needs the checkpoint_root its run is checkpointed into")
        metrics, raw = fedsl_point(scenario, checkpoint_root, device)
    elif plan.kind == "semantic":
        from .semantic_run import evaluate_point

        if checkpoint_root is None:
            raise ValueError("a semantic point needs the checkpoint_root its model was trained into")
        metrics, raw = evaluate_point(scenario, checkpoint_root, device, seed, shadowing=shadowing,
                                      shadowing_seed=point_seed(seed, 3))
    elif plan.kind == "bits" and plan.network is not None:
        from .network_run import network_bits_point

        metrics, raw = network_bits_point(plan, device, point_seed(seed, 3))
    elif plan.kind == "bits":
        metrics, raw = _bits_point(plan, device, shadowing)
    else:
        metrics, raw = _token_point(plan, device, point_seed(seed, 1), shadowing)
    return PointResult(point.index, point.key, dict(point.params), metrics, raw, time.perf_counter() - t0)


def _bits_point(plan: PointPlan, device: str, shadowing: Shadowing) -> tuple[dict, dict]:
    import torch

    from tokenlink.phy import build_link, esno_db_to_no, simulate_ber

    stop, esno_db = plan.stop, plan.snr.esno_db
    link = build_link(plan.phy, device=device)
    curve = simulate_ber(link, [esno_db], batch_size=stop.batch_size, max_bits=stop.max_bits,
                         min_bit_errors=stop.min_bit_errors or 2**62, max_rel_stderr=stop.max_rel_stderr,
                         early_stop=False, shadowing=shadowing)
    metrics = {
        "esno_db": esno_db,
        "esno_db_std": float(curve.esno_db_drawn_std[0]),
        "ber": float(curve.ber[0]),
        "ser": float(curve.ser[0]),
        "ber_stderr": float(curve.ber_stderr[0]),
        "bits": int(curve.num_bits[0]),
        "bit_errors": int(curve.bit_errors[0]),
        "symbols": int(curve.num_symbols[0]),
        "symbol_errors": int(curve.symbol_errors[0]),
        "slots": int(curve.num_slots[0]),
    }
    raw = {}
    if plan.raw:  # one extra batch, recorded as it crossed the link
        no: Any = esno_db_to_no(esno_db)
        if shadowing.std_db > 0:  # its slots draw their shadowing too, recorded next to them
            raw["esno_db"] = shadowing.esno_db(esno_db, stop.batch_size)
            no = torch.as_tensor(esno_db_to_no(raw["esno_db"]), dtype=link.dtype, device=link.device)
        with torch.no_grad():
            out = link(link.source(stop.batch_size), no, return_channel=True)
        arrays = {"h_freq": out.h_freq, "llr": out.llr, "symbols": out.x_hat}
        raw.update({name: _to_numpy(arrays[name]) for name in plan.raw})
    return metrics, raw


def _token_point(plan: PointPlan, device: str, tokens_seed: int, shadowing: Shadowing) -> tuple[dict, dict]:
    import torch

    from tokenlink.bridge import TokenLink

    stop, tokens_cfg, esno_db = plan.stop, plan.tokens, plan.snr.esno_db
    link = TokenLink(plan.link, device=device).eval()
    digital = plan.kind == "digital"
    shadowed = shadowing.std_db > 0
    gen = torch.Generator(device=link.device).manual_seed(tokens_seed % 2**63)

    def draw(batch: int) -> torch.Tensor:
        return _draw_tokens(tokens_cfg.distribution, (batch, tokens_cfg.num_tokens, tokens_cfg.dim), gen, link.device)

    if digital and _needs_calibration(plan.link.digital):
        link.calibrate(draw(max(stop.batch_size, 64)))
    wanted = set(plan.raw)
    frames = bits = bit_errors = token_errors = 0
    err_energy = token_energy = 0.0
    nmse_per_frame: list[np.ndarray] = []
    errors_per_frame: list[np.ndarray] = []
    esno_per_frame: list[np.ndarray] = []
    raw: dict[str, np.ndarray] = {}
    resources = None
    with torch.no_grad():
        while True:
            tokens = draw(stop.batch_size)
            batch = tokens.shape[0]
            frame_esno = shadowing.esno_db(esno_db, batch) if shadowed else np.full(batch, esno_db)
            esno_per_frame.append(frame_esno)
            first = frames == 0
            out = link.transmit(tokens, snr_db=torch.as_tensor(frame_esno) if shadowed else esno_db,
                                return_metrics=True, return_realization=first and "h_freq" in wanted,
                                return_llr=first and digital and "llr" in wanted)
            if first:
                resources = out.resources
                raw = _token_raw(out, tokens, wanted)
            m = out.metrics
            frames += batch
            nmse_per_frame.append(m.nmse.double().cpu().numpy())
            err = (out.tokens.double() - tokens.double()).square().sum()
            err_energy += float(err)
            token_energy += float(tokens.double().square().sum())
            if digital:
                frame_bits = resources.num_bits
                frame_errors = torch.round(m.ber.double() * frame_bits)
                errors_per_frame.append(frame_errors.cpu().numpy())
                bits += frame_bits * batch
                bit_errors += int(frame_errors.sum())
                token_errors += int(torch.round(m.ter.double() * tokens_cfg.num_tokens).sum())
            if _done(stop, frames, bit_errors, errors_per_frame, nmse_per_frame, digital):
                break
    per_frame = np.concatenate(nmse_per_frame)
    esno_frames = np.concatenate(esno_per_frame)
    num_tokens = frames * tokens_cfg.num_tokens
    metrics: dict[str, Any] = {
        "esno_db": esno_db,
        "esno_db_std": float(esno_frames.std()) if shadowed else 0.0,
        "esno_db_per_frame": esno_frames,
        "nmse": err_energy / token_energy,
        "mse": err_energy / (num_tokens * tokens_cfg.dim),
        "nmse_mean_per_frame": float(per_frame.mean()),
        "nmse_per_frame": per_frame,
        "frames": frames,
        "tokens": num_tokens,
        "channel_uses_per_frame": resources.channel_uses,
        "slots_per_frame": resources.num_slots,
        "airtime_s_per_frame": resources.airtime_s,
    }
    if digital:
        metrics.update({
            "ber": bit_errors / bits,
            "ter": token_errors / num_tokens,
            "bits": bits,
            "bit_errors": bit_errors,
            "token_errors": token_errors,
            "spectral_efficiency_bps_hz": resources.spectral_efficiency_bps_hz,
        })
    return metrics, raw


def _needs_calibration(digital) -> bool:
    return digital.quantizer == "vector" or digital.clip is None


def _done(stop: StopPlan, frames: int, bit_errors: int, errors: list[np.ndarray], nmse: list[np.ndarray],
          digital: bool) -> bool:
    """The token stopping rule (module doc); ``errors`` / ``nmse``: per-frame bit errors / NMSE so far."""
    if frames >= stop.max_frames:
        return True
    if digital:
        if stop.min_bit_errors is None or bit_errors < stop.min_bit_errors:
            return False
        return stop.max_rel_stderr is None or _precise(np.concatenate(errors), stop.max_rel_stderr)
    return stop.max_rel_stderr is not None and _precise(np.concatenate(nmse), stop.max_rel_stderr)


def _precise(values: np.ndarray, max_rel_stderr: float) -> bool:
    """Whether the standard error of the mean of ``values`` (2 or more) is at most ``max_rel_stderr`` x the mean."""
    return values.size > 1 and values.std(ddof=1) / math.sqrt(values.size) <= max_rel_stderr * values.mean()


def _draw_tokens(distribution: str, shape: tuple, gen: torch.Generator, device: str) -> torch.Tensor:
    """Synthetic tokens with unit variance per value."""
    import torch

    if distribution == "gaussian":
        return torch.randn(shape, generator=gen, device=device)
    u = torch.rand(shape, generator=gen, device=device)
    if distribution == "uniform":
        return (u - 0.5) * math.sqrt(12.0)
    # laplace, variance 2 b^2 = 1; inverse CDF
    u = u.clamp(1e-7, 1 - 1e-7) - 0.5
    return -torch.sign(u) * torch.log1p(-2 * u.abs()) / math.sqrt(2.0)


def _token_raw(out, tokens: torch.Tensor, wanted: set) -> dict[str, np.ndarray]:
    raw = {}
    if "tokens" in wanted:
        raw["tokens_tx"] = _to_numpy(tokens)
        raw["tokens_rx"] = _to_numpy(out.tokens)
    if "h_freq" in wanted and out.realization is not None:
        raw["h_freq"] = _to_numpy(out.realization.h_freq)
    if "llr" in wanted and out.llr is not None:
        raw["llr"] = _to_numpy(out.llr)
    return raw


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


# ------------------------------------------------------------------ executors
def _local(points: Sequence[SweepPoint], device: str, smoke_run: bool,
           checkpoint_root: Optional[Path]) -> Iterator[PointResult]:
    for point in points:
        yield simulate_point(point, device, smoke_run, checkpoint_root)


def _ray_task(point: SweepPoint, device: str, smoke_run: bool, threads: int,
              checkpoint_root: Optional[Path]) -> PointResult:
    import torch

    torch.set_num_threads(threads)
    return simulate_point(point, device, smoke_run, checkpoint_root)


def _ray(points: Sequence[SweepPoint], device: str, smoke_run: bool, address: Optional[str],
         num_cpus: Optional[int], checkpoint_root: Optional[Path]) -> Iterator[PointResult]:
    """Sweep points as Ray tasks (one CPU each); results come back to this
    process, which alone writes the trace. At most twice as many tasks as CPUs
    are in flight, so finished results do not pile up in memory. Semantic
    models are trained by the driver first; the workers read their
    checkpoints (on a cluster: a shared file system)."""
    import ray

    started = not ray.is_initialized()
    if started:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
        if address:
            kwargs["address"] = address
        else:
            kwargs["num_cpus"] = num_cpus or os.cpu_count()
        ray.init(**kwargs)
    pending: list = []
    try:
        task = ray.remote(num_cpus=1)(_ray_task)
        limit = max(1, 2 * int(ray.cluster_resources().get("CPU", 1)))
        queue = iter(points)
        point = next(queue, None)
        while point is not None or pending:
            while point is not None and len(pending) < limit:
                pending.append(task.remote(point, device, smoke_run, 1, checkpoint_root))
                point = next(queue, None)
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        for ref in pending:  # interrupted: drop the work in flight
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


# ------------------------------------------------------------------ the run
def run(
    scenario: Union[Scenario, str, os.PathLike, dict],
    output: Union[str, os.PathLike, None] = None,
    *,
    overrides: Sequence[str] = (),
    resume: bool = False,
    overwrite: bool = False,
    executor: str = "local",
    address: Optional[str] = None,
    num_cpus: Optional[int] = None,
    smoke_run: bool = False,
    plots: bool = True,
    progress: ProgressLike = True,
    summary: Optional[bool] = None,
    on_point: Optional[Callable[[PointResult], None]] = None,
) -> RunResult:
    """Run a scenario into one HDF5 trace (and figures next to it).

    :param scenario: a :class:`~tokenlink.scenario.Scenario`, a YAML path or a dict.
    :param output: trace path; default ``run.output`` or ``results/<name>.h5``.
    :param overrides: ``"a.b=v"`` strings, as ``--set`` (path or dict sources only).
    :param resume: continue an existing trace of the same scenario, skipping complete points.
    :param overwrite: replace an existing trace (kept intact until the new one is written).
    :param executor: ``"local"`` (this process) or ``"ray"`` (one task per point).
    :param address: Ray cluster to join (default: start a local Ray).
    :param smoke_run: tiny budgets (:data:`SMOKE_RUN`) for a quick check.
    :param plots: write the figures (:func:`tokenlink.plots.plot_trace`) into ``<trace without .h5>/``
        (PNG and PDF; a smoke run: PNG at screen resolution, :data:`SMOKE_FIGURES`).
    :param progress: how to show progress on stderr (sweep, semantic training, encoder pretraining):
        ``"auto"`` (live bars on a terminal, plain lines otherwise), ``"bar"``, ``"lines"``, ``"none"``,
        a :class:`~tokenlink.common.progress.Progress`, or a bool: `True` is ``"auto"``, `False` is
        ``"none"`` and no summary table.
    :param summary: print the trace's summary table on stdout at the end (default: unless
        ``progress`` is `False` / `None`).
    :param on_point: called with each :class:`PointResult` after it is written.

    On Ctrl-C the trace is closed as ``interrupted`` (every finished point
    kept) and ``KeyboardInterrupt`` propagates.

    One writer per trace: the trace's lock (:class:`~tokenlink.trace.lock.TraceLock`) is
    taken as soon as the output path is known, before any training or simulation, and
    held until this call returns (figures included). If another process holds it:
    :class:`~tokenlink.trace.lock.TraceLockError`, one line, nothing touched.
    """
    from .trace.lock import TraceLock

    if executor not in ("local", "ray"):
        raise ValueError(f"executor must be 'local' or 'ray', got {executor!r}")
    if not isinstance(scenario, Scenario) or overrides:
        scenario = load_scenario(scenario, overrides)
    path = Path(output) if output is not None else scenario.output_path()
    with TraceLock(path) as lock:
        return _run_locked(scenario, path, lock, resume=resume, overwrite=overwrite, executor=executor,
                           address=address, num_cpus=num_cpus, smoke_run=smoke_run, plots=plots,
                           progress=resolve_progress(progress),
                           summary=progress not in (False, None) if summary is None else summary,
                           on_point=on_point)


def _run_locked(scenario: Scenario, path: Path, lock: TraceLock, *, resume: bool, overwrite: bool, executor: str,
                address: Optional[str], num_cpus: Optional[int], smoke_run: bool, plots: bool, progress: Progress,
                summary: bool, on_point: Optional[Callable[[PointResult], None]]) -> RunResult:
    """The body of :func:`run`, with the trace's lock held."""
    from .trace import TraceWriter

    if path.exists() and not (resume or overwrite):
        raise ValueError(f"{path}: a trace already exists; use --overwrite to replace it or --resume to continue it "
                         "(Python: overwrite=True / resume=True)")
    from tokenlink.phy import resolve_device  # torch and Sionna load here, once the run is accepted

    device = resolve_device(scenario.run.device)
    points = scenario.points()
    if scenario.semantic is not None:  # data, modalities, K, weights: fail before anything is written
        from .semantic_run import preflight, training_key

        for point in {(training_key(p.scenario), p.scenario.semantic.checkpoint): p for p in points}.values():
            preflight(smoke(point.scenario) if smoke_run else point.scenario)
    if scenario.fedsl is not None:  # the data set's files: fail before anything is written
        from .fedsl_run import preflight as fedsl_preflight

        for dataset in {(p.scenario.fedsl.dataset, p.scenario.fedsl.data_root): p for p in points}.values():
            fedsl_preflight(dataset.scenario)
    fingerprint = scenario.fingerprint() + (":smoke" if smoke_run else "")
    warnings = scenario_warnings(scenario)  # once per run: on stderr and in the trace
    for warning in warnings:
        print(warning.line, file=sys.stderr, flush=True)
    writer = TraceWriter(path, scenario_yaml=scenario.to_yaml(), fingerprint=fingerprint, seed=scenario.run.seed,
                         name=scenario.name, resume=resume, overwrite=overwrite,
                         raw_max_mb=scenario.run.raw.max_mb, num_points=len(points),
                         extra_attrs={"device": device, "executor": executor, "smoke": smoke_run,
                                      "warnings_json": json.dumps([str(w) for w in warnings])}, lock=lock)
    todo = points.select([n for n, key in enumerate(points.keys()) if key not in writer.completed_keys])
    if scenario.semantic is not None:
        todo = _grouped_by_training(todo)
    results: list[PointResult] = []
    status = "failed"
    checkpoint_root = None
    bar = None
    try:
        if scenario.semantic is not None:
            checkpoint_root = _train_semantic(todo, path, device, smoke_run, progress)
        if scenario.fedsl is not None:  # each point trains (or resumes) its run there
            from .semantic_run import checkpoint_root_for

            checkpoint_root = checkpoint_root_for(path)
        bar = progress.stage(scenario.name, total=len(points), initial=len(points) - len(todo), unit="point")
        stream: Iterable[PointResult] = (
            _ray(todo, device, smoke_run, address, num_cpus, checkpoint_root) if executor == "ray"
            else _local(todo, device, smoke_run, checkpoint_root))
        if todo:
            bar.set_postfix(_describe(todo[0].params))
        for result in stream:
            writer.write_point(result.key, result.index, _trace_params(result.params), result.metrics, result.raw,
                               result.elapsed_s)
            results.append(_summary_only(result))
            if on_point is not None:
                on_point(result)
            shown = "accuracy" if "accuracy" in result.metrics else "ber"
            bar.set_postfix(_describe(result.params) + f" {shown}={_fmt(result.metrics.get(shown))}")
            bar.update(1)
        status = "complete"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        if bar is not None:
            bar.close()
        writer.close(status)
    figures: list[Path] = []
    if plots:
        from .plots import plot_trace

        # A smoke run checks that the figures draw: PNG only, at screen resolution.
        figures = plot_trace(path, path.with_suffix(""), **(SMOKE_FIGURES if smoke_run else {}))
    if summary:
        from .trace import trace_summary

        print(trace_summary(path))
    return RunResult(path, sorted(results, key=lambda r: r.index), figures, status)


def _train_semantic(todo: Sequence[SweepPoint], path: Path, device: str, smoke_run: bool, progress: Progress) -> Path:
    """Train (or resume, or find finished) each distinct semantic model the points need; returns the
    checkpoint root ``<trace without .h5>_checkpoints``."""
    from .semantic_run import checkpoint_root_for, distinct_trainings, ensure_trained

    root = checkpoint_root_for(path)
    prepared = (SweepPoint(p.index, p.key, p.params, smoke(p.scenario) if smoke_run else p.scenario) for p in todo)
    for point in distinct_trainings(prepared, root):
        progress.message(f"training the semantic model of {point.key} ({_describe(point.params)})")
        ensure_trained(point.scenario, root, device, progress)
    return root


def _grouped_by_training(todo: SweepPoints) -> SweepPoints:
    """The points in the order of their trained models' first points, each model's points together in
    point order: the evaluation builds one model at a time (a zip of ablation variants varies fastest,
    and would otherwise rebuild a model and its data at every point). The trace is keyed by point."""
    from .semantic_run import training_key

    keys = [training_key(p.scenario) for p in todo]
    first: dict[str, int] = {}
    for n, key in enumerate(keys):
        first.setdefault(key, n)
    return todo.select(sorted(range(len(keys)), key=lambda n: (first[keys[n]], n)))


def _summary_only(result: PointResult) -> PointResult:
    """The result without its raw arrays (they are in the trace): memory does not grow with the sweep."""
    return PointResult(result.index, result.key, result.params, result.metrics, {}, result.elapsed_s)


def _trace_params(params: dict[str, Any]) -> dict[str, Any]:
    """Swept values as trace attributes (lists, e.g. a swept range, become text)."""
    return {k: (v if v is None or isinstance(v, (bool, int, float, str)) else str(v)) for k, v in params.items()}


def _describe(params: dict[str, Any]) -> str:
    return ", ".join(f"{k.split('.')[-1]}={v}" for k, v in params.items()) or "single point"


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.2e}"

