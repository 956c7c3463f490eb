"""How long loading (= validating) a large sweep takes, and its peak memory.

A scenario whose grid sweep has ``--points`` points over several sections
(``phy.snr_db`` x ``phy.channel.model`` x ``link.mode`` x
``link.digital.bits_per_value``, and a zip of ``phy.grid.fft_size`` with
``link.tokens.num_tokens``) is loaded with :func:`tokenlink.load_scenario`,
which validates every point. Each size runs in a fresh subprocess, so the
peak resident set size (``ru_maxrss``) is that of one load. Then the first and
the last point are built, to show that asking for a point is cheap.

    .venv/bin/python benchmarks/sweep_validation.py [--points 20000 100000]

Numbers depend on the machine and its load (the cores may be shared).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

_CHILD = r"""
import json, resource, sys, time
from tokenlink.scenario import load_scenario

n = int(sys.argv[1])
zip_len = 2
per_snr = 4 * 2 * 5 * zip_len
num_snr = max(1, n // per_snr)
source = {
    "phy": {"channel": {"model": "awgn"}},
    "link": {"mode": "digital"},
    "sweep": {
        "grid": {
            "phy.snr_db": [round(-10 + 30 * i / num_snr, 6) for i in range(num_snr)],
            "phy.channel.model": ["awgn", "rayleigh", "tdl", "cdl"],
            "link.mode": ["analog", "digital"],
            "link.digital.bits_per_value": [2, 4, 6, 8, 10],
        },
        "zip": {"phy.grid.fft_size": [76, 128], "link.tokens.num_tokens": [32, 64]},
    },
}
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
scenario = load_scenario(source)
load_s = time.perf_counter() - start
num = scenario.sweep.num_points()
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
points = scenario.points()
first, last = points[0], points[len(points) - 1]
point_s = time.perf_counter() - start
print(json.dumps({"points": num, "load_s": load_s, "peak_rss_mb": rss1 / 1024,
                  "rss_before_load_mb": rss0 / 1024, "first_and_last_point_s": point_s,
                  "last_key": last.key}))
"""


def measure(num_points: int, timeout: float) -> dict:
    """Load a ``num_points`` sweep in a subprocess; its timings [s] and peak RSS [MB]."""
    try:
        out = subprocess.run([sys.executable, "-c", _CHILD, str(num_points)], capture_output=True, text=True,
                             timeout=timeout, check=True).stdout
    except subprocess.TimeoutExpired:
        return {"points": num_points, "timeout_s": timeout}
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--timeout", type=float, default=600.0, help="per size [s]")
    args = parser.parse_args()
    for n in args.points:
        print(json.dumps(measure(n, args.timeout)), flush=True)


if __name__ == "__main__":
    main()
