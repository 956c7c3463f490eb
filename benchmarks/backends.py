"""The torch backend (Sionna 2.x) against the TensorFlow backend (Sionna 1.x under XLA), side by side.

Two numbers per backend, for one link (16-QAM, 14 x 76 grid, TDL-C 100 ns, LS CSI, LMMSE equalizer):

* frames/s: slots through ``link(bits, no)`` (bits -> QAM -> grid -> channel -> LS -> LMMSE -> APP
  LLRs), no gradient, after a warm-up call (the TF backend's XLA compilation is not timed);
* channel-in-the-loop training step [ms]: an MLP encoder -> analog TokenLink -> MLP decoder, MSE
  loss, backward, Adam step (``--batch`` x ``--tokens`` tokens of ``--dim`` values).

The backends live in two environments (``.venv``, ``.venv-tf``: ``make venv``, ``make venv-tf``), so
one run starts one worker process per backend with that environment's Python and prints the
table. Each worker uses ``--threads`` threads (torch and TensorFlow both capped: their pools fight
over the cores otherwise)::

    .venv/bin/python benchmarks/backends.py                     # both backends, default sizes
    .venv/bin/python benchmarks/backends.py --batch 8 --repeats 2   # a smoke run (numbers not timings)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHONS = {"torch": REPO / ".venv" / "bin" / "python", "tensorflow": REPO / ".venv-tf" / "bin" / "python"}
PHY = {"modulation": "16qam", "demapping": "app", "channel": {"model": "tdl", "profile": "C", "delay_spread_s": 100e-9},
       "receiver": {"estimator": "ls", "interpolation": "linear", "equalizer": "lmmse"}}


def _best_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: compilation (XLA) and first-call allocations are not timed
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(backend: str, batch: int, tokens: int, dim: int, repeats: int) -> dict:
    """frames/s and training-step time of one backend, in this process."""
    import torch

    from tokenlink.bridge import TokenLink
    from tokenlink.phy import build_link, set_seed
    from tokenlink.phy.snr import esno_db_to_no

    set_seed(1)
    phy = {**PHY, "backend": backend}
    link = build_link(phy)
    bits = link.source(batch)
    no = float(esno_db_to_no(10.0))

    def frames():
        with torch.no_grad():
            link(bits, no=no)

    frame_s = _best_seconds(frames, repeats)
    token_link = TokenLink({"mode": "analog", "phy": phy}).train()
    encoder = torch.nn.Sequential(torch.nn.Linear(dim, dim), torch.nn.ReLU(), torch.nn.Linear(dim, dim))
    decoder = torch.nn.Sequential(torch.nn.Linear(dim, dim), torch.nn.ReLU(), torch.nn.Linear(dim, dim))
    params = list(encoder.parameters()) + list(decoder.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    x = torch.randn(batch, tokens, dim)

    def step():
        opt.zero_grad()
        loss = ((decoder(token_link(encoder(x), snr_db=10.0)) - x) ** 2).mean()
        loss.backward()
        opt.step()

    step_s = _best_seconds(step, repeats)
    return {"backend": backend, "frames_per_s": batch / frame_s, "train_step_ms": 1e3 * step_s,
            "batch": batch, "tokens": tokens, "dim": dim}


def _worker(args) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import torch

    torch.set_num_threads(args.threads)
    if args.backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    print(json.dumps(measure(args.backend, args.batch, args.tokens, args.dim, args.repeats)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64, help="slots per link call and frames per training step")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5, help="timed calls (the best is kept)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", dest="backend", choices=sorted(PYTHONS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.backend:
        return _worker(args)
    rows = []
    for backend, python in PYTHONS.items():
        if not python.exists():
            print(f"{backend}: {python} is missing (make {'venv' if backend == 'torch' else 'venv-tf'}); skipped")
            continue
        cmd = [str(python), __file__, "--worker", backend] + [
            f"--{k}={getattr(args, k)}" for k in ("batch", "tokens", "dim", "repeats", "threads")]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            print(f"{backend}: failed: {run.stderr.strip().splitlines()[-1]}")
            continue
        rows.append(json.loads(run.stdout.strip().splitlines()[-1]))
    print(f"16-QAM, 14x76 grid, TDL-C, LS + LMMSE, APP; batch {args.batch}; training: "
          f"{args.tokens} tokens x {args.dim}, MLP encoder/decoder, Adam; {args.threads} threads")
    print(f"{'backend':<12}{'frames/s':>12}{'train step [ms]':>18}")
    for r in rows:
        print(f"{r['backend']:<12}{r['frames_per_s']:>12.0f}{r['train_step_ms']:>18.1f}")


if __name__ == "__main__":
    main()
