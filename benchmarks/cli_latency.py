"""How long the ``tokenlink`` command takes to answer, against a bare interpreter.

Each command runs in a fresh process (as a user types it), ``--repeat`` times;
the table shows the median wall time, its ratio to ``python -c pass`` (the
floor: interpreter start-up) and the peak resident memory of the process
(``os.wait4``; never below this script's own ~16 MB, which a child holds
until ``exec``):

* ``python -c pass``
* ``tokenlink --help``
* ``tokenlink validate`` of a 2-line scenario
* ``tokenlink info`` and ``tokenlink export --csv`` of a small trace (written
  here, without simulating)
* ``tokenlink run --help``
* ``tokenlink validate`` of a generated sweep of ``--sweep-points`` points
  (default 100,000: a grid of 1000 SNRs x 100 Rician K factors), run
  ``--sweep-repeat`` times; a run longer than ``--timeout`` is reported as such.

Goals (issue 12): validate, info, export and --help under 1.5 s; the 100k-point
sweep validated in under 10 s with memory that does not grow with the points.
``tokenlink`` is run as its console script does (``from tokenlink.cli import
main``) with this interpreter. Time it on an idle machine: other processes on
the cores inflate every number.

    .venv/bin/python benchmarks/cli_latency.py [--repeat 7] [--sweep-points 100000] [--dir /tmp/x]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
TOKENLINK = [sys.executable, "-c", "import sys; from tokenlink.cli import main; sys.exit(main())"]


@dataclass
class Timing:
    """Median wall time [s] and peak RSS [MB] of the runs of one command."""

    name: str
    seconds: list[float]
    peak_rss_mb: float
    problem: str = ""

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")


def _run_once(command: Sequence[str], timeout_s: float) -> tuple[float, float, str]:
    """Wall time [s], peak RSS [MB] (``os.wait4``: the rusage of this child only) and a
    problem ("" when it exited 0)."""
    with tempfile.TemporaryFile() as errors:
        t0 = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors, cwd=ROOT)
        timer = threading.Timer(timeout_s, process.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        elapsed = time.perf_counter() - t0
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        stderr = errors.read().decode(errors="replace").strip()
    problem = ""
    if process.returncode != 0:
        problem = (f"killed after {timeout_s:g} s" if elapsed >= timeout_s
                   else f"exit {process.returncode}: {stderr.splitlines()[-1] if stderr else ''}")
    return elapsed, usage.ru_maxrss / 1024.0, problem  # ru_maxrss is in KiB on Linux


def measure(name: str, command: Sequence[str], repeat: int, timeout_s: float) -> Timing:
    seconds, peak, problem = [], 0.0, ""
    for _ in range(repeat):
        elapsed, rss_mb, problem = _run_once(command, timeout_s)
        peak = max(peak, rss_mb)
        if problem:
            break
        seconds.append(elapsed)
    return Timing(name, seconds, peak, problem)


_WRITE_TRACE = """
import sys
from tokenlink.trace import TraceWriter
path, scenario = sys.argv[1], open(sys.argv[2]).read()
writer = TraceWriter(path, scenario_yaml=scenario, fingerprint="benchmark", seed=1, name="two_lines",
                     num_points=3, overwrite=True)
for i, snr_db in enumerate((0.0, 5.0, 10.0)):
    writer.write_point(f"p{i}", i, {"phy.snr_db": snr_db}, {"ber": 0.1 / (i + 1), "ser": 0.2 / (i + 1)}, {}, 0.1)
writer.close("complete")
"""


def write_inputs(folder: Path, sweep_points: int) -> dict[str, Path]:
    """The 2-line scenario, a small trace (3 points) and the big sweep.

    The trace is written by a child process: this one stays small, since a
    child's peak RSS counts what it inherited before ``exec``."""
    two = folder / "two_lines.yaml"
    two.write_text("name: two_lines\nphy: {snr_db: 5}\n")
    trace = folder / "small.h5"
    subprocess.run([sys.executable, "-c", _WRITE_TRACE, str(trace), str(two)], check=True, cwd=ROOT)
    num_k = 100 if sweep_points >= 100 else 1
    num_snr = max(1, sweep_points // num_k)
    sweep = folder / "sweep.yaml"
    sweep.write_text(
        "name: big_sweep\nphy: {channel: {model: rician}}\nsweep:\n  grid:\n"
        f"    phy.snr_db: [{', '.join(f'{-20 + 60 * i / num_snr:.4f}' for i in range(num_snr))}]\n"
        f"    phy.channel.k_factor: [{', '.join(f'{0.1 * (i + 1):g}' for i in range(num_k))}]\n")
    return {"two": two, "trace": trace, "sweep": sweep, "points": num_snr * num_k}


def table(timings: Sequence[Timing], floor_s: float) -> str:
    width = max(len(t.name) for t in timings)
    lines = [f"{'command':<{width}}  {'runs':>4}  {'median s':>8}  {'x python':>8}  {'peak MB':>7}  note",
             "-" * (width + 45)]
    for t in timings:
        ratio = t.median_s / floor_s if t.seconds else float("nan")
        lines.append(f"{t.name:<{width}}  {len(t.seconds):>4}  {t.median_s:>8.3f}  {ratio:>8.1f}  "
                     f"{t.peak_rss_mb:>7.0f}  {t.problem}")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per command (default: 7)")
    parser.add_argument("--sweep-points", type=int, default=100_000, help="points of the big sweep (default: 100000)")
    parser.add_argument("--sweep-repeat", type=int, default=3, help="runs of the big sweep's validate (default: 3)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds before a run is killed (default: 300)")
    parser.add_argument("--dir", type=Path, default=None, help="folder for the inputs (default: a temporary one)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.sweep_repeat < 0 or args.sweep_points < 1:
        parser.error("--repeat and --sweep-points must be >= 1, --sweep-repeat >= 0")

    folder = args.dir or Path(tempfile.mkdtemp(prefix="tokenlink-cli-latency-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        inputs = write_inputs(folder, args.sweep_points)
        cases = [
            ("python -c pass", [sys.executable, "-c", "pass"]),
            ("tokenlink --help", [*TOKENLINK, "--help"]),
            ("tokenlink validate <2-line scenario>", [*TOKENLINK, "validate", str(inputs["two"])]),
            ("tokenlink info <3-point trace>", [*TOKENLINK, "info", str(inputs["trace"])]),
            ("tokenlink export <3-point trace> --csv",
             [*TOKENLINK, "export", str(inputs["trace"]), "--csv", "-o", str(folder / "small.csv")]),
            ("tokenlink run --help", [*TOKENLINK, "run", "--help"]),
        ]
        print(f"{sys.executable}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
              f"median of {args.repeat} runs", flush=True)
        timings = [measure(name, command, args.repeat, args.timeout) for name, command in cases]
        if args.sweep_repeat:
            timings.append(measure(f"tokenlink validate <{inputs['points']:,}-point sweep>",
                                   [*TOKENLINK, "validate", str(inputs["sweep"])], args.sweep_repeat, args.timeout))
        print(table(timings, timings[0].median_s))
        goals = [t for t in timings[1:6] if t.seconds and t.median_s > 1.5]
        print("goal (validate, info, export, --help under 1.5 s): "
              + ("met" if not goals else "missed by " + ", ".join(t.name for t in goals)))
    finally:
        if args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
