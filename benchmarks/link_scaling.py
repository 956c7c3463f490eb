"""How a channel-in-the-loop training step scales with batch size and grid size.

The training step of benchmarks/channel_in_loop.py (per-token MLP encoder and
decoder, 128 tokens x 256 values per sample, Adam), with the analog and the
digital TDL-C link on the fast single-stream receiver and a realization bank
(2x the slots of a step), against the identity channel and plain 4-bit
quantization. Two sweeps, one run: batch size at 14 x 76, and FFT size at
batch 64. Prints a table and writes a figure.

    .venv/bin/python benchmarks/link_scaling.py [--steps 3] [--output docs/img/link_scaling.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from channel_in_loop import _link, _model, _time_steps  # noqa: E402
from tokenlink.phy import set_seed  # noqa: E402

BATCHES = (8, 16, 32, 64, 128)
FFT_SIZES = (76, 152, 304, 512, 1024)


def _measure(batch: int, fft_size: int, args) -> dict[str, float]:
    """Step times [s] of the four variants for one configuration."""
    set_seed(0)
    x = torch.randn(batch, args.tokens, args.dim)
    out = {}
    for mode in ("analog", "digital"):
        probe = _link(mode, fft_size)
        slots = batch * probe.frame_size(args.tokens, args.dim, mode)["num_slots"]
        link = _link(mode, fft_size, bank=2 * slots)
        if mode == "digital":
            link.calibrate(_model(args.dim)(x).detach())
        link.train()
        link(x[:1])  # fill the bank
        out[mode] = _time_steps(link, x, args.steps)
        if mode == "digital":
            out["quantization"] = _time_steps(link.quantizer, x, args.steps)
    out["identity"] = _time_steps(lambda t: t, x, args.steps)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--output", type=Path, default=Path("docs/img/link_scaling.png"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    sweeps = {
        "batch size (14 x 76 grid)": [(b, 76) for b in BATCHES],
        "FFT size (batch 64)": [(64, f) for f in FFT_SIZES],
    }
    results = {name: [_measure(b, f, args) for b, f in points] for name, points in sweeps.items()}

    print(f"# training step, {args.tokens} tokens x {args.dim} per sample, {args.threads} threads, "
          f"median of {args.steps} steps, TDL-C, LS + LMMSE (fast receiver + bank)")
    print(f"{'sweep':28s} {'batch':>5s} {'fft':>5s} {'identity':>9s} {'analog':>9s} {'ratio':>6s} "
          f"{'quant.':>9s} {'digital':>9s} {'ratio':>6s}   [ms]")
    for name, points in sweeps.items():
        for (b, f), r in zip(points, results[name], strict=True):
            print(f"{name:28s} {b:5d} {f:5d} {1e3 * r['identity']:9.1f} {1e3 * r['analog']:9.1f} "
                  f"{r['analog'] / r['identity']:5.2f}x {1e3 * r['quantization']:9.1f} "
                  f"{1e3 * r['digital']:9.1f} {r['digital'] / r['quantization']:5.2f}x")

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, (name, points) in zip(axes, sweeps.items(), strict=True):
        xs = [b for b, _ in points] if name.startswith("batch") else [f for _, f in points]
        res = results[name]
        for key, style in (("identity", "k--"), ("analog", "C0-o"), ("quantization", "k:"), ("digital", "C1-s")):
            ax.plot(xs, [1e3 * r[key] for r in res], style, label={
                "identity": "identity channel", "analog": "analog TDL link",
                "quantization": "4-bit quantization", "digital": "digital TDL link (16-QAM)"}[key])
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(v) for v in xs])
        ax.minorticks_off()
        ax.set_yscale("log")
        ax.set_xlabel(name.replace(" (", "\n("))
        ax.set_ylabel("training step [ms]")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Channel in the training loop: step time ({args.tokens} tokens x {args.dim} per sample, "
                 f"{args.threads} CPU threads)")
    fig.tight_layout()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=120)
    print(f"figure: {args.output}")


if __name__ == "__main__":
    main()
