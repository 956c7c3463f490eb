"""Channel in the training loop: what one training step costs with the link.

A small token model (per-token MLP encoder and decoder, width 256) is trained
to reconstruct its input tokens, batch 64 x 128 tokens x 256 values, Adam,
forward + backward + step. Four variants side by side in one run:

* identity      -- decoder(encoder(x)), no channel
* analog TDL    -- TokenLink analog over TDL-C (100 ns, 0..3 m/s), LS (linear
                   interpolation) + LMMSE equalizer, Es/N0 drawn per sample in [0, 20] dB;
                   with the fast single-stream receiver (default) and, for comparison,
                   composed from Sionna's general blocks (receiver.implementation=sionna)
* quantization  -- 4-bit scalar quantization with the straight-through estimator, no channel
* digital TDL   -- the same 4-bit tokens as bits -> 16-QAM -> the TDL link -> max-log LLRs
                   -> hard dequantization (straight-through estimator); fast and Sionna
* "+ bank"      -- training draws from a bank of pre-generated realizations (--bank x the
                   slots of one step) instead of generating TDL responses every step

Targets: analog <= 1.2x identity, digital <= 1.5x quantization (bridge issue);
<= 1.5x and <= 2x (fast-link issue).
Then a breakdown of one forward pass of each link by stage, to say where the
time goes.

    .venv/bin/python benchmarks/channel_in_loop.py [--steps 5] [--threads 2] [--grid 76]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from tokenlink.bridge import TokenLink
from tokenlink.bridge.framing import pack, unpack
from tokenlink.phy import esno_db_to_no, set_seed


def _model(dim: int) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(dim, dim), torch.nn.GELU(), torch.nn.Linear(dim, dim))


def _link(mode: str, fft_size: int, implementation: str = "auto", bank: int | None = None,
          compile: bool = False) -> TokenLink:
    return TokenLink({
        "mode": mode,
        "phy": {
            "grid": {"fft_size": fft_size},
            "modulation": "16qam",
            "demapping": "maxlog",
            "channel": {"model": "tdl", "profile": "C", "delay_spread_s": 100e-9,
                        "speed_mps": 0.0, "max_speed_mps": 3.0},
            "receiver": {"estimator": "ls", "interpolation": "linear", "equalizer": "lmmse",
                         "implementation": implementation, "compile": compile},
        },
        "digital": {"bits_per_value": 4, "calibration": "std"},
        "train_snr_db_range": (0.0, 20.0),
        "train_channel_bank_size": bank,
    })


def _train_step(enc, dec, opt, channel, x: torch.Tensor) -> None:
    """One Adam step of encoder -> channel -> decoder, reconstruction loss."""
    opt.zero_grad(set_to_none=True)
    loss = (dec(channel(enc(x))) - x).square().mean()
    loss.backward()
    opt.step()


def _time_steps(channel, x: torch.Tensor, steps: int) -> float:
    """Median wall time [s] of one Adam step of encoder -> channel -> decoder."""
    return _time_interleaved({"one": channel}, x, steps)["one"]


def _time_interleaved(channels: dict, x: torch.Tensor, steps: int) -> dict[str, float]:
    """Median wall time [s] of one training step per channel, the variants
    taking turns step by step so that slow drifts of the machine hit all alike."""
    state = {}
    for name in channels:
        enc, dec = _model(x.shape[-1]), _model(x.shape[-1])
        state[name] = (enc, dec, torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-3))
    times: dict[str, list[float]] = {name: [] for name in channels}
    for i in range(steps + 1):
        for name, channel in channels.items():
            t0 = time.perf_counter()
            _train_step(*state[name], channel, x)
            if i:  # the first step warms up allocators and caches
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _step_memory_mb(channel, x: torch.Tensor) -> float:
    """Peak resident memory [MB] of training steps above the level before the
    first one: the step's working set (activations, saved tensors, gradients,
    Adam state). Linux: the high-water mark is reset via /proc/self/clear_refs."""
    enc, dec = _model(x.shape[-1]), _model(x.shape[-1])
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-3)
    Path("/proc/self/clear_refs").write_text("5")
    before = _rss_kb("VmRSS")
    for _ in range(2):
        _train_step(enc, dec, opt, channel, x)
    return (_rss_kb("VmHWM") - before) / 1024


def _child_memory(name: str, args: argparse.Namespace) -> float:
    """Run one variant in a fresh process so that variants do not share allocator pools."""
    cmd = [sys.executable, __file__, "--child", name, "--grid", str(args.grid), "--batch", str(args.batch),
           "--tokens", str(args.tokens), "--dim", str(args.dim), "--threads", str(args.threads),
           "--bank", str(args.bank)]
    if "Sionna" not in name:
        cmd.append("--no-sionna")
    if "compile" in name:
        cmd.append("--compile")
    # Large allocations through mmap, so freed memory leaves the process and RSS tracks live tensors.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
    return float(next(line.split()[1] for line in out.splitlines() if line.startswith("peak_step_mb")))


def _stage_times(link: TokenLink, x: torch.Tensor, mode: str) -> dict[str, float]:
    """Seconds per stage of one forward pass (no autograd), in data-flow order."""
    ph = link.link
    times: dict[str, float] = {}

    def clock(name, fn, *args):
        t0 = time.perf_counter()
        out = fn(*args)
        times[name] = time.perf_counter() - t0
        return out

    with torch.no_grad():
        batch = x.shape[0]
        size = link.frame_size(x.shape[1], x.shape[2], mode)
        ns = size["num_slots"]
        no = torch.full((batch * ns,), esno_db_to_no(10.0))
        if mode == "analog":
            symbols, scale = clock("token -> symbols", link.analog.map, x)
            slots = pack(symbols, ph.num_data_symbols, ns)
        else:
            bits = clock("quantize -> bits", link.quantizer.encode, x)
            slots = clock("QAM mapper", ph.modulate, pack(bits.reshape(batch, -1), ph.num_bits_per_slot, ns))
        h = clock("channel generation (TDL)", ph.generate_channel, batch * ns)
        if ph.metadata["receiver_implementation"] == "fast":
            x_hat, no_eff, _ = clock("channel + noise + LS + LMMSE (fast)", ph.transmit_symbols, slots, no, h)
        else:
            x_rg = clock("resource grid mapper", ph.map_to_grid, slots)
            y = clock("apply channel + noise", ph.apply_channel, x_rg, h, no)
            x_hat, no_eff = clock("LS + LMMSE equalizer (sionna)", ph.equalize, y, no, h)
        if mode == "analog":
            received = unpack(x_hat, batch, symbols.shape[1])
            clock("symbols -> tokens", link.analog.demap, received, scale, x.shape[2])
        else:
            # As the link decides (TokenLink._send_bits with hard dequantization): max-log
            # decisions by slicing, without LLRs; the LLRs are timed apart, outside the total.
            if ph.decides_by_slicing:
                decided = clock("hard decisions (slicing)", ph.demap, x_hat, None, True)
            else:
                decided = clock("demapper + hard decisions", ph.demap, x_hat, no_eff, True)
            bits_hat = unpack(decided.to(x.dtype), batch, bits[0].numel()).reshape(bits.shape)
            clock("dequantize", link.quantizer.decode_hard, bits_hat)
            t0 = time.perf_counter()
            ph.demap(x_hat, no_eff)
            times["(not in the pass: the LLRs, for soft dequantization)"] = time.perf_counter() - t0
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per variant (median)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--grid", type=int, default=76, help="FFT size of the 14-symbol slot")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--bank", type=int, default=10,
                        help="training channel bank size, in multiples of the slots of one step")
    parser.add_argument("--no-sionna", action="store_true",
                        help="skip the (slow) links composed from Sionna's general blocks")
    parser.add_argument("--memory", action="store_true",
                        help="also measure the peak memory of one training step per variant (child processes)")
    parser.add_argument("--compile", action="store_true",
                        help="also time the fast path under torch.compile (receiver.compile)")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: measure one variant's memory
    parser.add_argument("--profile", action="store_true",
                        help="also print torch.profiler's top operators of one training step per link")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    set_seed(0)
    x = torch.randn(args.batch, args.tokens, args.dim)

    analog, digital = _link("analog", args.grid), _link("digital", args.grid)
    digital.calibrate(_model(args.dim)(x).detach())
    links = {"analog": analog, "digital": digital}
    slots = {m: args.batch * analog.frame_size(args.tokens, args.dim, m)["num_slots"] for m in ("analog", "digital")}
    bank_a = _link("analog", args.grid, bank=args.bank * slots["analog"])
    bank_d = _link("digital", args.grid, bank=args.bank * slots["digital"])
    bank_d.quantizer.load_state_dict(digital.quantizer.state_dict())
    variants = {"identity": lambda t: t, "analog TDL, fast receiver": analog, "analog TDL, fast + bank": bank_a}
    if args.compile:
        bank_ac = variants["analog TDL, fast + bank + compile"] = _link(
            "analog", args.grid, bank=args.bank * slots["analog"], compile=True)
    if not args.no_sionna:
        links["analog-sionna"] = variants["analog TDL, Sionna blocks"] = _link("analog", args.grid, "sionna")
    variants["4-bit quantization"] = digital.quantizer
    variants["digital TDL, fast receiver"] = digital
    variants["digital TDL, fast + bank"] = bank_d
    if args.compile:
        bank_dc = variants["digital TDL, fast + bank + compile"] = _link(
            "digital", args.grid, bank=args.bank * slots["digital"], compile=True)
        bank_dc.quantizer.load_state_dict(digital.quantizer.state_dict())
    if not args.no_sionna:
        slow = _link("digital", args.grid, "sionna")
        slow.quantizer.load_state_dict(digital.quantizer.state_dict())
        links["digital-sionna"] = variants["digital TDL, Sionna blocks"] = slow
    banked = [bank_a, bank_d] + ([bank_ac, bank_dc] if args.compile else [])
    for link in (*links.values(), *banked):
        link.train()
    for link in banked:  # fill the banks and compile before timing (one-off costs)
        link(x)
    if args.child:
        print(f"peak_step_mb {_step_memory_mb(variants[args.child], x):.1f}")
        return
    print(f"# channel in the loop: batch {args.batch} x {args.tokens} tokens x {args.dim}, "
          f"14 x {args.grid} grid, {args.threads} threads, median of {args.steps} interleaved steps")
    for mode in ("analog", "digital"):
        size = links[mode].frame_size(args.tokens, args.dim, mode)
        print(f"#   {mode}: {size['num_slots']} slots per frame, {args.batch * size['num_slots']} slots per step")
    step = _time_interleaved(variants, x, args.steps)
    print(f"\n{'variant':32s} {'step [ms]':>10s} {'ratio':>8s} {'target':>16s}")
    targets = {f"{m} TDL, fast + bank{c}": t for m, t in (("analog", "<= 1.2x / 1.5x"), ("digital", "<= 1.5x / 2x"))
               for c in ("", " + compile")}
    for name in variants:
        ref = "identity" if name == "identity" or name.startswith("analog") else "4-bit quantization"
        ratio = step[name] / step[ref]
        print(f"{name:32s} {1e3 * step[name]:10.1f} {ratio:7.2f}x {targets.get(name, ''):>16s}")
    print("(targets: bridge issue / fast-link issue)")

    if args.memory:
        print(f"\n{'variant':32s} {'step peak [MB]':>15s} {'ratio':>8s}  (working set of a training step)")
        mem = {name: _child_memory(name, args) for name in variants}
        for name in variants:
            ref = "identity" if name == "identity" or name.startswith("analog") else "4-bit quantization"
            print(f"{name:32s} {mem[name]:15.1f} {mem[name] / mem[ref]:7.2f}x")

    for name, link in links.items():
        mode = name.split("-")[0]
        _stage_times(link, x, mode)  # warm-up
        runs = [_stage_times(link, x, mode) for _ in range(args.steps)]
        times = {stage: statistics.median(r[stage] for r in runs) for stage in runs[0]}
        total = sum(t for stage, t in times.items() if not stage.startswith("("))
        print(f"\n# {name} link, one forward pass without autograd (median of {args.steps}): {1e3 * total:.1f} ms")
        for stage, t in times.items():
            share = "" if stage.startswith("(") else f"{100 * t / total:5.1f} %"
            print(f"  {stage:36s} {1e3 * t:8.1f} ms  {share}")

    if args.profile:
        for name in ("analog TDL, fast + bank", "digital TDL, fast + bank"):
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
                _time_steps(variants[name], x, 1)
            print(f"\n# {name}: top operators of two training steps (forward + backward), by self CPU time")
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
