"""Throughput of tokenlink's OFDMLink against the same link composed directly
from Sionna blocks, eager and under torch.compile, side by side in one run.

A frame is one slot (default 14 x 76 resource elements, 912 data REs,
16-QAM: 3648 bits). The step under test is a full inference pass: bits ->
QAM -> grid -> channel generation -> channel + AWGN -> channel estimation
-> equalization -> APP demapping. Timings are medians of interleaved runs
(A, B, A, B, ...) so that drift of the machine hits both sides alike.

Variants: both eager; tokenlink with ``receiver.compile`` (its own
compiled fast path) against raw Sionna eager; both under ``torch.compile``.

Usage::

    .venv/bin/python benchmarks/phy_throughput.py [--batch 128] [--repeats 15] [--threads 2] [--fft-size 512]
        [--analog] [--no-compile] [--cases "LS (linear)"]

Prints a markdown table; ratio = tokenlink throughput / raw Sionna throughput
(fast-link target >= 5x, in resource elements per second).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import torch
from sionna.phy.channel import ApplyOFDMChannel, GenerateOFDMChannel
from sionna.phy.channel.tr38901 import TDL
from sionna.phy.mapping import BinarySource, Constellation, Demapper, Mapper
from sionna.phy.mimo import StreamManagement
from sionna.phy.ofdm import (LMMSEChannelEstimator, LMMSEEqualizer, LSChannelEstimator, ResourceGrid,
                             ResourceGridMapper)

from tokenlink.phy import OFDMLink, set_seed
from tokenlink.phy.channels import channel_covariances
from tokenlink.phy.config import ChannelConfig

CASES = {
    "TDL-C, LS (linear) + LMMSE eq.": {
        "channel": {"model": "tdl", "profile": "C", "delay_spread_s": 100e-9, "max_speed_mps": 3.0},
        "receiver": {"estimator": "ls", "interpolation": "linear", "equalizer": "lmmse"},
    },
    "TDL-C, LMMSE CSI + LMMSE eq.": {
        "channel": {"model": "tdl", "profile": "C", "delay_spread_s": 100e-9, "max_speed_mps": 3.0},
        "receiver": {"estimator": "lmmse", "equalizer": "lmmse"},
    },
    "AWGN, perfect CSI + LMMSE eq.": {
        "channel": {"model": "awgn"},
        "receiver": {"estimator": "perfect", "equalizer": "lmmse"},
    },
}


class RawSionnaLink(torch.nn.Module):
    """The same link written directly with Sionna blocks, as a user would."""

    def __init__(self, case: dict, fft_size: int = 76, analog: bool = False):
        super().__init__()
        self.analog = analog
        self.rg = ResourceGrid(num_ofdm_symbols=14, fft_size=fft_size, subcarrier_spacing=30e3,
                               cyclic_prefix_length=6, pilot_pattern="kronecker",
                               pilot_ofdm_symbol_indices=[2, 11])
        self.n_bits = self.rg.num_data_symbols * 4
        const = Constellation("qam", 4)
        self.source = BinarySource()
        self.mapper = Mapper(constellation=const)
        self.rg_mapper = ResourceGridMapper(self.rg)
        ch = case["channel"]
        self.perfect = case["receiver"]["estimator"] == "perfect"
        self.tdl = ch["model"] == "tdl"
        if self.tdl:
            model = TDL(ch["profile"], ch["delay_spread_s"], 3.5e9, min_speed=0.0, max_speed=ch["max_speed_mps"])
            self.gen = GenerateOFDMChannel(model, self.rg)
        self.apply_channel = ApplyOFDMChannel()
        if case["receiver"]["estimator"] == "lmmse":  # the covariances tokenlink gives its own estimator
            cov_t, cov_f = channel_covariances(ChannelConfig(**ch), self.rg)
            self.ls = LMMSEChannelEstimator(self.rg, cov_t, cov_f, order="f-t")
        else:
            self.ls = LSChannelEstimator(self.rg, interpolation_type="lin")
        self.eq = LMMSEEqualizer(self.rg, StreamManagement(np.ones([1, 1], int), 1))
        self.demapper = Demapper("app", constellation=const)

    def forward(self, batch_size: int, no: torch.Tensor) -> torch.Tensor:
        bits = self.source([batch_size, 1, 1, self.n_bits])
        x = self.rg_mapper(self.mapper(bits))
        if self.tdl:
            h = self.gen(batch_size)
        else:
            h = torch.ones([batch_size, 1, 1, 1, 1, 14, self.rg.fft_size], dtype=torch.complex64)
        y = self.apply_channel(x, h, no)
        if self.perfect:
            h_hat, err_var = h, torch.zeros(())
        else:
            h_hat, err_var = self.ls(y, no)
        x_hat, no_eff = self.eq(y, h_hat, err_var, no)
        return x_hat if self.analog else self.demapper(x_hat, no_eff)


class TokenlinkStep(torch.nn.Module):
    def __init__(self, case: dict, fft_size: int = 76, compile_receiver: bool = False, analog: bool = False):
        super().__init__()
        self.analog = analog
        receiver = {**case["receiver"], "compile": compile_receiver and case["receiver"]["estimator"] != "lmmse"}
        self.link = OFDMLink({"modulation": "16qam", **case, "receiver": receiver,
                              "grid": {"fft_size": fft_size}}, device="cpu")

    def forward(self, batch_size: int, no: torch.Tensor) -> torch.Tensor:
        if self.analog:  # unit-power complex symbols through the link: x_hat
            x = self.link.modulate(self.link.source(batch_size))
            return self.link.transmit_symbols(x, no, return_no_eff=False)[0]
        return self.link(self.link.source(batch_size), no).llr


def _time(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def bench_case(name: str, case: dict, batch: int, repeats: int, compile_: bool, fft_size: int,
               analog: bool = False) -> list[dict]:
    set_seed(0)
    ours, raw = TokenlinkStep(case, fft_size, analog=analog), RawSionnaLink(case, fft_size, analog=analog)
    bits_per_frame = ours.link.num_bits_per_slot
    assert bits_per_frame == raw.n_bits
    no = torch.full([batch], 0.05)
    variants = {"eager": (ours, raw)}
    if compile_:
        # receiver.compile: tokenlink compiles its own fast path (raw Sionna: eager, as written)
        variants["receiver.compile"] = (TokenlinkStep(case, fft_size, compile_receiver=True, analog=analog), raw)
        variants["torch.compile"] = (torch.compile(ours), torch.compile(raw))
    rows = []
    for mode, (a, b) in variants.items():
        fa = lambda a=a: a(batch, no)  # noqa: E731
        fb = lambda b=b: b(batch, no)  # noqa: E731
        with torch.no_grad():
            try:
                for _ in range(3):  # warm-up (and compilation)
                    fa(), fb()
            except Exception as err:  # noqa: BLE001 - report and continue
                print(f"  {mode} failed for {name}: {type(err).__name__}: {str(err).splitlines()[0]}")
                continue
            ta, tb = [], []
            for _ in range(repeats):  # interleaved
                ta += _time(fa, 1)
                tb += _time(fb, 1)
        raw_mode = "eager" if mode == "receiver.compile" else mode
        for label, t, m in (("tokenlink OFDMLink", ta, mode), ("raw Sionna blocks", tb, raw_mode)):
            med = statistics.median(t)
            rows.append({"case": name + (" (analog: x_hat)" if analog else ""), "mode": m, "impl": label, "s": med, "frames_s": batch / med,
                         "mres_s": batch * 14 * fft_size / med / 1e6,
                         "mbit_s": batch * bits_per_frame / med / 1e6})
        rows[-2]["ratio"] = rows[-1]["s"] / rows[-2]["s"]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=128, help="slots per call (default 128)")
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per variant (default 15)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--fft-size", type=int, default=76, help="FFT size of the 14-symbol slot (default 76)")
    parser.add_argument("--cases", default="",
                        help="only the cases whose name contains this text (e.g. 'LS (linear)')")
    parser.add_argument("--analog", action="store_true",
                        help="also time the analog output (equalized symbols, no demapper)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")

    rows = []
    for name, case in CASES.items():
        if args.cases not in name:
            continue
        rows += bench_case(name, case, args.batch, args.repeats, not args.no_compile, args.fft_size)
        if args.analog and case["channel"]["model"] == "tdl":
            rows += bench_case(name, case, args.batch, args.repeats, False, args.fft_size, analog=True)

    print(f"\nOFDM link throughput, 16-QAM, 14 x {args.fft_size} slot, batch {args.batch} slots, "
          f"{args.threads} threads, torch {torch.__version__}, median of {args.repeats} interleaved calls\n")
    print("| case | mode | implementation | ms / call | frames/s | M RE/s | Mbit/s | tokenlink / raw |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        ratio = f"{r['ratio']:.2f}x" if "ratio" in r else ""
        print(f"| {r['case']} | {r['mode']} | {r['impl']} | {r['s'] * 1e3:.1f} | {r['frames_s']:.0f} "
              f"| {r['mres_s']:.2f} | {r['mbit_s']:.2f} | {ratio} |")


if __name__ == "__main__":
    main()
