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
from .common.progress import PROGRESS_MODES


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
        help="the demo: task accuracy of token communication, analog vs digital tokens over TDL-C",
        description=(
            "Run the shipped scenario demo.yaml through the runner: one easy-VQA model (8 image tokens,\n"
            "MiniLM + LoRA) trained once with the analog link in the loop, then evaluated over analog\n"
            "and digital (4-bit, 16-QAM) tokens over TDL-C with LS CSI from -10 to 20 dB. Writes the\n"
            "trace OUTPUT/demo.h5, its figures in OUTPUT/demo/ (accuracy vs Es/N0, vs BER and vs NMSE\n"
            "of the same transmissions) and prints the summary table. About 10 minutes on 2 CPU cores\n"
            "the first time; the trained model is kept in OUTPUT/demo_checkpoints/ and reused."
        ),
        epilog="examples:\n  tokenlink demo\n  tokenlink demo --quick -o /tmp/demo",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--output", "-o", type=Path, default=Path("results/demo"),
                      help="output folder (default: results/demo)")
    demo.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    demo.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto)")
    demo.add_argument("--quick", action="store_true",
                      help="smoke run (a few training steps, small test sets): checks the set-up in about a "
                           "minute; writes OUTPUT/demo_quick.h5")
    _add_progress_arguments(demo)
    _add_validate_parser(sub)
    _add_run_parser(sub)
    _add_trace_parsers(sub)
    return parser


def _add_validate_parser(sub: "argparse._SubParsersAction") -> None:
    validate = sub.add_parser(
        "validate",
        help="check a scenario file and print it resolved (all defaults filled in)",
        description=(
            "Load a scenario YAML file, apply the --set overrides, validate it and every\n"
            "sweep point, then print the resolved scenario as YAML (every default filled\n"
            "in) and a one-line summary as a YAML comment. An invalid scenario gives one\n"
            "line on stderr, 'file:line: field: problem; allowed: ...', and exit status 2.\n"
            "A valid one that cannot work as meant (e.g. per-symbol fading with estimated\n"
            "CSI) gets one line per problem on stderr, 'tokenlink: warning: ...', exit 0.\n"
            "Schema reference: docs/scenarios.md."
        ),
        epilog=(
            "examples:\n"
            "  tokenlink validate scenarios/study.yaml\n"
            "  tokenlink validate scenarios/study.yaml --set phy.channel.model=tdl --set run.seed=3\n"
            "  tokenlink validate scenarios/study.yaml --set sweep.grid.phy.snr_db=[0,5,10]"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_scenario_arguments(validate)


def _add_scenario_arguments(parser: argparse.ArgumentParser) -> None:
    """The scenario FILE and its repeatable --set overrides (validate and run)."""
    parser.add_argument("file", metavar="FILE", type=Path, help="scenario YAML file")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a field, value read as YAML (repeatable): phy.snr_db=5, link.mode=digital; "
             "sweep.grid.<field>=[...] sets a sweep entry; setting a swept field removes it from the sweep",
    )


def _add_run_parser(sub: "argparse._SubParsersAction") -> None:
    run = sub.add_parser(
        "run",
        help="run a scenario: every sweep point into one HDF5 trace, then its figures",
        description=(
            "Simulate every sweep point of a scenario and stream the results into one HDF5\n"
            "trace (layout: docs/traces.md), then write the figures into the folder named\n"
            "like the trace without .h5 and print a summary table. Ctrl-C stops cleanly:\n"
            "the trace keeps every finished point, and --resume completes it later with\n"
            "the same numbers as an uninterrupted run (points are seeded independently)."
        ),
        epilog=(
            "examples:\n"
            "  tokenlink run scenarios/quickstart.yaml\n"
            "  tokenlink run scenarios/ber_channels_csi.yaml -o results/ber.h5 --set run.seed=2\n"
            "  tokenlink run scenarios/ber_channels_csi.yaml -o results/ber.h5 --resume\n"
            "  tokenlink run scenarios/analog_vs_digital_tdl.yaml --executor ray --smoke\n"
            "  nohup tokenlink run scenarios/semantic_synav.yaml > synav.log 2>&1 &   # plain progress lines"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_scenario_arguments(run)
    run.add_argument("-o", "--output", type=Path, default=None,
                     help="trace file (default: run.output of the scenario, else results/<name>.h5)")
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue an existing trace of the same scenario")
    mode.add_argument("--overwrite", action="store_true",
                      help="replace an existing trace (the old one stays intact until the new one is written)")
    run.add_argument("--executor", choices=("local", "ray"), default="local",
                     help="local: this process; ray: sweep points as Ray tasks (default: local)")
    run.add_argument("--address", default=None,
                     help="Ray cluster to join, e.g. 10.0.0.5:6379 (default: start a local Ray)")
    run.add_argument("--smoke", action="store_true",
                     help="tiny budgets for every point (batch 8, 20k bits, 16 frames): a check in seconds")
    run.add_argument("--no-plots", action="store_true", help="skip the figures")
    _add_progress_arguments(run)


def _add_progress_arguments(parser: argparse.ArgumentParser) -> None:
    """--progress and --quiet (run and demo)."""
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--progress", choices=PROGRESS_MODES, default="auto",
                       help="progress on stderr: bar (live bars), lines (plain lines for log files: start, end and "
                            "about every 10%% of a stage), none; auto: bar on a terminal, else lines (default: auto)")
    shown.add_argument("-q", "--quiet", action="store_true",
                       help="no progress and no summary table: only the trace: and figure: lines on stdout "
                            "(errors and warnings still go to stderr)")


def _add_trace_parsers(sub: "argparse._SubParsersAction") -> None:
    info = sub.add_parser("info", help="summary of a trace: run attributes, versions, points and metrics",
                          description="Print a trace's run attributes, software versions and one row per point."
                                      "  Example: tokenlink info results/quickstart.h5")
    info.add_argument("trace", metavar="TRACE", type=Path, help="HDF5 trace written by 'tokenlink run'")
    plot = sub.add_parser("plot", help="figures from a trace alone (PNG and PDF)",
                          description="BER/SER/TER and NMSE vs SNR (and accuracy figures when present), from the"
                                      " trace alone.  Example: tokenlink plot results/quickstart.h5 -o figures/")
    plot.add_argument("trace", metavar="TRACE", type=Path, help="HDF5 trace written by 'tokenlink run'")
    plot.add_argument("-o", "--output", type=Path, default=None,
                      help="folder for the figures (default: the trace path without .h5)")
    report = sub.add_parser("report", help="the claims page (docs/results.md) from study traces",
                            description="One row per claim of paper A (our number over seeds, data and model, "
                                        "differences from the paper, verdict) and a section per trace with its "
                                        "figure and tables.  Example: tokenlink report "
                                        "docs/traces/semantic_ablation_easy_vqa.h5 -o docs/results.md")
    report.add_argument("traces", metavar="TRACE", type=Path, nargs="+", help="study traces written by 'tokenlink run'")
    report.add_argument("-o", "--output", type=Path, default=Path("docs/results.md"),
                        help="the page (default: docs/results.md); figures go to img/results/ beside it")
    export = sub.add_parser("export", help="export a trace's points as CSV",
                            description="One CSV row per complete point: index, key, swept parameters and every"
                                        " scalar metric.  Example: tokenlink export results/quickstart.h5 --csv")
    export.add_argument("trace", metavar="TRACE", type=Path, help="HDF5 trace written by 'tokenlink run'")
    export.add_argument("--csv", action="store_true", required=True, help="write CSV (the only format for now)")
    export.add_argument("-o", "--output", type=Path, default=None,
                        help="CSV file (default: the trace path with .csv)")


def _run_run(args: argparse.Namespace) -> int:
    from .runner import run

    result = run(args.file, args.output, overrides=args.overrides, resume=args.resume, overwrite=args.overwrite,
                 executor=args.executor, address=args.address, smoke_run=args.smoke, plots=not args.no_plots,
                 progress="none" if args.quiet else args.progress, summary=not args.quiet)
    print(f"trace: {result.trace_path}")
    for path in result.figures:
        print(f"figure: {path}")
    return 0


def _run_trace_command(args: argparse.Namespace) -> int:
    if args.command == "info":
        from .trace import trace_summary

        print(trace_summary(args.trace))
    elif args.command == "report":
        from .results_page import write_results_page

        page, figures = write_results_page(args.traces, args.output)
        for path in figures:
            print(f"figure: {path}")
        print(f"page: {page}")
    elif args.command == "plot":
        from .plots import plot_trace

        for path in plot_trace(args.trace, args.output or args.trace.with_suffix("")):
            print(f"figure: {path}")
    else:
        from .trace import export_csv

        print(f"csv: {export_csv(args.trace, args.output or args.trace.with_suffix('.csv'))}")
    return 0


def _run_validate(args: argparse.Namespace) -> int:
    from .scenario import load_scenario

    scenario = load_scenario(args.file, args.overrides)
    sweep = scenario.sweep
    swept = ", ".join(f"{key} x{len(values)} ({table})" for table in ("grid", "zip")
                      for key, values in getattr(sweep, table).items())
    points = f"{scenario.num_points()} sweep points; swept: {swept}" if swept else "1 point (no sweep)"
    print(scenario.to_yaml(), end="")
    print(f"# valid: {points}; trace {scenario.output_path()}; fingerprint {scenario.fingerprint()[:16]}")
    from .scenario.warnings import scenario_warnings

    for warning in scenario_warnings(scenario):
        print(warning.line, file=sys.stderr)
    return 0


def shipped_scenario(name: str) -> Path:
    """The path of a scenario file shipped with tokenlink (``scenarios/<name>``, installed as
    ``tokenlink.scenarios``), e.g. ``shipped_scenario("demo.yaml")``."""
    from importlib import resources

    path = Path(str(resources.files("tokenlink.scenarios") / name))
    if not path.is_file():
        raise FileNotFoundError(f"{name}: not a scenario shipped with tokenlink; allowed: the files of scenarios/")
    return path


def _run_demo(args: argparse.Namespace) -> int:
    from .runner import run
    from .scenario import load_scenario

    from pydantic import ValidationError

    from .scenario.schema import RunSection

    if args.seed < 0:
        raise ValueError(f"--seed: got {args.seed}; allowed: an integer >= 0")
    try:
        RunSection(device=args.device)
    except ValidationError:
        raise ValueError(f"--device: got {args.device!r}; allowed: auto, cpu, cuda, cuda:N (N = 0, 1, ...)") from None
    scenario = load_scenario(shipped_scenario("demo.yaml"), [f"run.seed={args.seed}", f"run.device={args.device}"])
    trace = args.output / ("demo_quick.h5" if args.quick else "demo.h5")
    if not args.quiet:
        print(f"tokenlink demo: {scenario.description} -> {trace}", flush=True)
    result = run(scenario, trace, overwrite=True, smoke_run=args.quick,
                 progress="none" if args.quiet else args.progress, summary=not args.quiet)
    print(f"trace: {result.trace_path}")
    for path in result.figures:
        print(f"figure: {path}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            return _run_demo(args)
        if args.command == "validate":
            return _run_validate(args)
        if args.command == "run":
            return _run_run(args)
        return _run_trace_command(args)
    except (ValueError, OSError) as err:
        from .common.errors import one_line

        print(f"tokenlink: error: {one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        resume = " (the trace keeps every finished point; continue with --resume)" if args.command == "run" else ""
        print(f"tokenlink: interrupted{resume}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
