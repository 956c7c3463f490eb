"""Channel generation: tokenlink's fast path against Sionna's generators, side by side in one run.

For TDL (``phy/tdl_response.py``) and CDL (``phy/cdl_rays.py``) with 1 to 16
receive antennas: frequency responses of a batch of 14 x 76 slots, drawn by
``OFDMChannelResponse(fast=True)`` (``receiver.implementation: auto``) and by
Sionna's model + ``cir_to_ofdm_channel`` (``fast=False``, what
``receiver.implementation: sionna`` uses). Same seed on both sides, so the
largest relative difference of the two responses is printed too. Medians of
interleaved calls (A, B, A, B, ...).

    .venv/bin/python benchmarks/channel_generation.py [--batch 128] [--repeats 9] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
from sionna.phy.ofdm import ResourceGrid

from tokenlink.phy import set_seed
from tokenlink.phy.channels import OFDMChannelResponse
from tokenlink.phy.config import BaseStationConfig, ChannelConfig

CASES = [
    ("TDL-C, 1 antenna", {"model": "tdl", "profile": "C"}, 1),
    ("TDL-C, 4 antennas", {"model": "tdl", "profile": "C"}, 4),
    ("CDL-C, 1 antenna", {"model": "cdl", "profile": "C"}, 1),
    ("CDL-C, 4 antennas", {"model": "cdl", "profile": "C"}, 4),
    ("CDL-C, 16 antennas", {"model": "cdl", "profile": "C"}, 16),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=128, help="slots per call (default 128)")
    parser.add_argument("--repeats", type=int, default=9, help="timed calls per side (default 9)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    grid = ResourceGrid(num_ofdm_symbols=14, fft_size=76, subcarrier_spacing=30e3,
                        pilot_pattern="kronecker", pilot_ofdm_symbol_indices=[2, 11])
    print(f"\nChannel generation, 14 x 76 slots, batch {args.batch}, {args.threads} threads, "
          f"torch {torch.__version__}, median of {args.repeats} interleaved calls\n")
    print("| case | fast [ms] | Sionna [ms] | speed-up | max rel. difference |")
    print("|---|---:|---:|---:|---:|")
    for name, channel, num_rx in CASES:
        cfg = ChannelConfig(**channel, delay_spread_s=100e-9, max_speed_mps=3.0)
        bs = BaseStationConfig(num_rx_antennas=num_rx)
        fast = OFDMChannelResponse(cfg, grid, base_station=bs)
        slow = OFDMChannelResponse(cfg, grid, base_station=bs, fast=False)
        set_seed(0)
        h_fast = fast(args.batch)
        set_seed(0)
        h_slow = slow(args.batch)
        diff = float((h_fast - h_slow).abs().max() / h_slow.abs().max())
        t_fast, t_slow = [], []
        for _ in range(args.repeats):
            for gen, out in ((fast, t_fast), (slow, t_slow)):
                t0 = time.perf_counter()
                gen(args.batch)
                out.append(time.perf_counter() - t0)
        a, b = statistics.median(t_fast), statistics.median(t_slow)
        print(f"| {name} | {a * 1e3:.1f} | {b * 1e3:.1f} | {b / a:.1f}x | {diff:.1e} |")


if __name__ == "__main__":
    main()
