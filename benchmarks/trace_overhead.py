"""What writing a trace costs per sweep point (tokenlink.trace.TraceWriter).

Cases, each a fresh trace:

* metrics only: the runner's scalars (ber, ser, ter, nmse, counts, esno_db, ...)
  plus a 64-value per-frame NMSE array;
* + raw arrays of one typical point (64 frames of a 14 x 76 slot): h_freq
  complex64 [64, 14, 76], tokens_tx / tokens_rx int32 [64, 128], LLRs
  float32 [64, 3648] -- 1.5 MB of random-looking data, gzip (default) or lzf;
* + raw arrays once the run's 64 MB cap is used up (they are skipped);

with and without fsync (fsync=True, the default, also survives a power cut),
and the per-point cost early and late in a 1000-point run (it must not grow).
For comparison, the cost the simple "copy the whole trace, add the point,
rename" scheme would pay per point once the trace holds 64 MB of raw data.

    .venv/bin/python benchmarks/trace_overhead.py [--points 40] [--dir /tmp/x]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from tokenlink.trace import TraceWriter


def _metrics(i: int, rng: np.random.Generator) -> dict:
    ber = float(rng.random() * 1e-2)
    return {"ber": ber, "ser": 2 * ber, "ter": 10 * ber, "nmse": float(rng.random()), "mse": float(rng.random()),
            "bits": 3_648_000, "bit_errors": int(ber * 3_648_000), "symbols": 912_000, "symbol_errors": 1234,
            "tokens": 8192, "token_errors": 321, "frames": 1000, "esno_db": float(i), "elapsed_s": 2.5,
            "per_frame_nmse": rng.random(64)}


def _raw(rng: np.random.Generator) -> dict:
    h = rng.standard_normal((64, 14, 76)) + 1j * rng.standard_normal((64, 14, 76))
    return {"h_freq": h.astype(np.complex64),
            "tokens_tx": rng.integers(0, 4096, (64, 128), dtype=np.int32),
            "tokens_rx": rng.integers(0, 4096, (64, 128), dtype=np.int32),
            "llr": rng.standard_normal((64, 3648)).astype(np.float32)}


def _params(i: int) -> dict:
    return {"phy.snr_db": float(i % 31), "channel.model": "tdl", "link.mode": "digital", "phy.estimator": "ls",
            "semantic.num_tokens": 128, "train.train_snr_db": None}


def _run(folder: Path, n: int, *, raw: bool, fsync: bool, compression="gzip", raw_max_mb=64.0) -> list[float]:
    """Seconds per write_point call, in order."""
    rng = np.random.default_rng(0)
    path = folder / "bench.h5"
    times = []
    with TraceWriter(path, scenario_yaml="bench: true\n", fingerprint="bench", seed=0, overwrite=True,
                     fsync=fsync, raw_compression=compression, raw_max_mb=raw_max_mb) as tw:
        for i in range(n):
            metrics, arrays = _metrics(i, rng), (_raw(rng) if raw else None)
            t0 = time.perf_counter()
            tw.write_point(f"p{i}", i, _params(i), metrics, raw=arrays, elapsed_s=2.5)
            times.append(time.perf_counter() - t0)
    return times


def _copy_scheme_cost(folder: Path, size_mb: float, fsync: bool) -> float:
    """Seconds to copy (and fsync) a trace of size_mb: the per-point price of copy-on-commit."""
    src, dst = folder / "big.h5", folder / "big.h5.tmp"
    src.write_bytes(np.random.default_rng(0).bytes(int(size_mb * 1e6)))
    costs = []
    for _ in range(5):
        t0 = time.perf_counter()
        shutil.copyfile(src, dst)
        if fsync:
            fd = os.open(dst, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
        costs.append(time.perf_counter() - t0)
        dst.unlink()
    src.unlink()
    return statistics.median(costs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=40, help="points per case (default 40)")
    parser.add_argument("--dir", type=Path, default=None, help="folder for the scratch traces (default: a temp dir)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="trace_bench_", dir=args.dir))
    n = args.points
    ms = lambda xs: 1e3 * statistics.median(xs)  # noqa: E731
    rows = []
    try:
        for fsync in (True, False):
            rows.append((f"metrics only, fsync={fsync}", ms(_run(folder, n, raw=False, fsync=fsync))))
            for comp in ("gzip", "lzf"):
                rows.append((f"+ 1.5 MB raw ({comp}), fsync={fsync}", ms(_run(folder, n, raw=True, fsync=fsync,
                                                                             compression=comp))))
            capped = _run(folder, n, raw=True, fsync=fsync, raw_max_mb=0.0)
            rows.append((f"+ raw beyond the cap (skipped), fsync={fsync}", ms(capped)))
        long = _run(folder, 1000, raw=False, fsync=True)
        rows.append(("metrics only, points 1-100 of 1000, fsync=True", ms(long[:100])))
        rows.append(("metrics only, points 901-1000 of 1000, fsync=True", ms(long[-100:])))
        for fsync in (True, False):
            rows.append((f"[reference] copy a 64 MB trace per point, fsync={fsync}",
                         1e3 * _copy_scheme_cost(folder, 64.0, fsync)))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print(f"{'case':{width}s}  ms/point  % of a 1 s point  % of a 10 s point")
    for name, cost in rows:
        print(f"{name:{width}s}  {cost:8.2f}  {cost / 10:15.2f}  {cost / 100:16.3f}")


if __name__ == "__main__":
    main()
