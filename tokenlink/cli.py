"""The ``tokenlink`` command.

Errors a user can cause (bad arguments, bad configuration, unwritable
output) end in one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from . import __version__


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tokenlink",
        description="Link-level simulation of token communication over OFDM (Sionna + PyTorch).",
    )
    parser.add_argument("--version", action="version", version=f"tokenlink {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = sub.add_parser(
        "demo",
        help="BER vs SNR study: 16-QAM over AWGN, Rayleigh, TDL-C with perfect and LS CSI",
        description=(
            "Uncoded 16-QAM BER vs Es/N0 over AWGN, Rayleigh and TDL-C, perfect vs LS "
            "channel estimates, against closed form. Writes ber_vs_snr.csv, run.json and "
            "ber_vs_snr.png/.pdf.  Example: tokenlink demo --output results/demo"
        ),
    )
    demo.add_argument("--output", "-o", type=Path, default=Path("results/demo"),
                      help="output folder (default: results/demo)")
    demo.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    demo.add_argument("--device", default=None,
                      help="auto | cpu | cuda | cuda:N (default: CUDA when present, else CPU)")
    demo.add_argument("--quick", action="store_true", help="seconds-long smoke run with few bits")
    return parser


def _run_demo(args: argparse.Namespace) -> int:
    from tokenlink.phy import resolve_device

    from .demo import DemoSettings, run_demo

    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    device = resolve_device(args.device)
    settings = DemoSettings.quick(seed=args.seed, device=device) if args.quick else DemoSettings(
        seed=args.seed, device=device)
    print(f"tokenlink demo: uncoded 16-QAM BER vs Es/N0 on {device}, writing to {args.output}/", flush=True)
    summary = run_demo(args.output, settings)
    print(f"done in {summary['runtime_s']:.1f} s:")
    for path in summary["files"]:
        print(f"  {path}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            return _run_demo(args)
    except (ValueError, OSError) as err:
        print(f"tokenlink: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tokenlink: interrupted", file=sys.stderr)
        return 130
    return 0


def _one_line(err: BaseException) -> str:
    from pydantic import ValidationError

    from tokenlink.phy.config import format_validation_error

    if isinstance(err, ValidationError):
        return format_validation_error(err)
    if isinstance(err, OSError) and err.filename:
        return f"{err.strerror or err}: {err.filename}"
    return " ".join(str(err).split())


if __name__ == "__main__":
    sys.exit(main())
