"""Time of a full BER curve: tokenlink's fast path against the same link on Sionna's blocks.

The curve: 21 points (Es/N0 0..20 dB), exactly 1,000,000 bits per point (no early stop,
no error target: 275 slots of 3,648 bits each), 16-QAM, TDL-C (100 ns, 0-3 m/s) with
fresh realizations, LMMSE equalizer; ``simulate_ber`` runs all points in one batched
simulation (batch 512 slots). Cases: LS (linear) and LMMSE channel estimation, APP and
max-log demapping. ``receiver.implementation: sionna`` composes Sionna's blocks and TDL
generator for the same link (target of the evaluation-speed issue: <= 3 s per curve on
the fast path). The BER columns show both simulate the same link.

    .venv/bin/python benchmarks/ber_curve.py [--threads 2] [--no-sionna]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from tokenlink.phy import OFDMLink, set_seed, simulate_ber

CASES = [("ls", "app"), ("ls", "maxlog"), ("lmmse", "app"), ("lmmse", "maxlog")]
ESNO_DB = np.arange(0.0, 21.0, 1.0)


def _curve(estimator: str, demapping: str, implementation: str) -> tuple[float, np.ndarray]:
    link = OFDMLink({"modulation": "16qam", "demapping": demapping,
                     "channel": {"model": "tdl", "profile": "C", "delay_spread_s": 100e-9, "max_speed_mps": 3.0},
                     "receiver": {"estimator": estimator, "interpolation": "linear", "equalizer": "lmmse",
                                  "implementation": implementation}})
    set_seed(1)
    t0 = time.perf_counter()
    with torch.no_grad():
        curve = simulate_ber(link, ESNO_DB, batch_size=512, max_bits=1_000_000, min_bit_errors=10**9,
                             early_stop=False)
    elapsed = time.perf_counter() - t0
    assert (curve.num_bits >= 1_000_000).all()
    return elapsed, curve.ber


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-sionna", action="store_true", help="time the fast path only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    _curve("ls", "maxlog", "auto")  # warm-up
    print(f"BER curve: 21 points x 1e6 bits, 16-QAM, TDL-C, LMMSE equalizer, {args.threads} threads\n")
    print("| CSI | demapping | fast path [s] | Sionna's blocks [s] | speed-up | BER at 10 dB (fast / Sionna) |")
    print("|---|---|---:|---:|---:|---|")
    for estimator, demapping in CASES:
        t_fast, ber_fast = _curve(estimator, demapping, "auto")
        if args.no_sionna:
            print(f"| {estimator} | {demapping} | {t_fast:.2f} | | | {ber_fast[10]:.4f} |")
            continue
        t_slow, ber_slow = _curve(estimator, demapping, "sionna")
        print(f"| {estimator} | {demapping} | {t_fast:.2f} | {t_slow:.2f} | **{t_slow / t_fast:.1f}x** | "
              f"{ber_fast[10]:.4f} / {ber_slow[10]:.4f} |")


if __name__ == "__main__":
    main()
