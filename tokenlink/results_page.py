"""The claims page (``docs/results.md``), rebuilt from study traces by one command:
``tokenlink report docs/traces/semantic_ablation_easy_vqa.h5 -o docs/results.md``.

The page has one row per claim (:mod:`tokenlink.claims`: our number with its spread
over training seeds, the data and model it comes from, how that differs from the
paper, and a verdict): paper A's ablation claims from ablation traces (variants of
``full``), its convergence claim at reduced token lengths from a token-length trace
(:mod:`tokenlink.results_token_length`), and analog vs digital tokens from a trace
that sweeps ``link.mode`` (variants compared with its first label). Then one section
per trace: its provenance (scenario, commit, versions, times), the accuracy figures
(mean over seeds with a min-max band, from :func:`tokenlink.plots.trace_figures`), the
accuracy of every variant per test Es/N0 and per question type, and the paired gains
of the reference (``full``, else the first label) over each variant with the same
other swept values (e.g. the same K or pilot layout). A multiuser study (one device's
distance swept over an OFDMA uplink) gets a section of its own
(:mod:`tokenlink.results_multiuser`) and no claim row. A claim no given trace measures
is listed as not measured. Only reads traces.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .claims import (FULL, PAPER_A_GAIN_PERCENT, SNR_PARAM, Claim, Comparison, ablation_accuracy, compare, mean_range,
                     convergence_steps, convergence_verdict, gain_summary, group_of, group_params, point_name,
                     reference_variant, scenario_of, short_name, verdict)
from .results_multiuser import MULTIUSER_FIGURES, multiuser_study, multiuser_tables
from .results_token_length import TOKEN_LENGTH_CLAIM, token_length_claim, token_length_section
from .scenario.sweep import VARIANT
from .trace import Trace, TraceError, read_trace, swept_params

__all__ = ["write_results_page", "results_page"]

#: (claim, variant the full method is compared with, the paper's number in percent or None).
ABLATION_CLAIMS = (
    ("Contrastive split fine-tuning (stage-1 alignment) raises test accuracy by 13.7 % across SNRs "
     "(paper A's abstract; against the method without alignment)", "no_alignment", PAPER_A_GAIN_PERCENT),
    ("Collaborative fine-tuning of the foundation model (LoRA) helps (paper A's method)", "no_lora", None),
    ("Training over the detailed link (OFDM, TDL-C, LS CSI, LMMSE) beats training over the public code's "
     "channel (real AWGN on the normalized embeddings at one SNR), both tested over the link of the data column",
     "public_code_channel", None),
    ("Channel in the loop beats training without a channel, tested over the link of the data column",
     "ideal_channel", None),
)
ANALOG_DIGITAL_CLAIM = ("Analog tokens (as paper A sends them) beat digital tokens (b bits per value on QAM, no "
                        "channel code) at equal channel uses; the paper compares none")
CONVERGE_CLAIM = "Quicker convergence than without alignment, at the study's token length (paper A's abstract)"
#: Claims a study measures: (claim, the study that does, what a trace of it has).
STUDIES = ((TOKEN_LENGTH_CLAIM, "study 2 (token length and convergence)", "a token-length sweep"),
           (ANALOG_DIGITAL_CLAIM, "study 3 (analog vs digital)", "an analog reference and digital variants"))
#: The figures of :func:`tokenlink.plots.trace_figures` a study section shows (file stem -> caption).
PAGE_FIGURES = {"accuracy_vs_snr": "accuracy vs Es/N0, mean over training seeds with the min-max band",
                "accuracy_vs_sample_nmse": "accuracy vs the NMSE each test question's tokens met (all SNRs)",
                "accuracy_vs_sample_ber": "accuracy vs the bit error rate of each test question's frame (all SNRs)"}
PAPER_SETUP = ("Paper A's public code: LoRA r=4 on q/v of a 1.5 B decoder, answers scored as generated tokens, "
               "128 tokens per modality by uniform selection, InfoNCE temperature 0.01, audio-visual QA trained "
               "over real AWGN on the embeddings at 12 dB; the abstract's +13.7 % comes with no code that "
               "measures it.")


def write_results_page(traces: Sequence[Union[str, os.PathLike]], out: Union[str, os.PathLike],
                       figures_dir: Optional[Union[str, os.PathLike]] = None) -> tuple[Path, list[Path]]:
    """Write the page to ``out`` and its figures to ``figures_dir`` (default ``<out's folder>/img/results``).

    :returns: ``(page, figures)``.
    :raises TraceError: a trace that cannot be read, is a ``--smoke`` run, or is no study the page knows.
    """
    out = Path(out)
    figures_dir = Path(figures_dir) if figures_dir is not None else out.parent / "img" / "results"
    text, figures = results_page([read_trace(p) for p in traces], figures_dir, out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    except OSError as err:
        raise TraceError(f"{out}: cannot write the page ({err.strerror or err})") from None
    return out, figures


def results_page(traces: Sequence[Trace], figures_dir: Path, page: Path) -> tuple[str, list[Path]]:
    """(markdown, figure files) of the page that will be written to ``page``; figures are saved to
    ``figures_dir``, linked relative to the page's folder."""
    page_dir = Path(page).parent
    if not traces:
        raise TraceError("no traces given; allowed: one or more study traces written by 'tokenlink run'")
    studies, networks = [], []
    for trace in traces:
        if trace.attrs.get("smoke"):
            raise TraceError(f"{trace.path}: a --smoke run (tiny budgets): its numbers are not results; "
                             "allowed: traces of full runs")
        if (study := multiuser_study(trace)) is not None:
            networks.append((trace, study))
            continue
        table, reference = ablation_accuracy(trace), reference_variant(trace)
        if not any(name.partition(", ")[0] == reference for name in table) or len(table) < 2:
            raise TraceError(f"{trace.path}: not a study this page knows; allowed: a study trace (swept "
                             "'variant' with 'full' or its first label and at least one other, e.g. "
                             "scenarios/semantic_ablation_easy_vqa.yaml, or a multiuser study that sweeps a "
                             "device's distance, e.g. scenarios/semantic_multiuser.yaml)")
        studies.append((trace, table))
    ablations = [(t, table) for t, table in studies if not group_params(t) and reference_variant(t) == FULL]
    claims: list[Claim] = []
    for text, variant, target in ABLATION_CLAIMS:
        found = [(t, c) for t, table in ablations if (c := compare(table, variant)) is not None]
        if not found:
            claims.append(Claim(text, "-", "-", "-", "not measured", f"no trace has the variant '{variant}'"))
            continue
        for trace, c in found:
            word, why = verdict(c, target)
            claims.append(Claim(text, gain_summary(c), _data(trace), _differences(trace), word, why))
    found = [(t, v) for t, _ in ablations if (v := convergence_verdict(convergence_steps(t), "no_alignment"))]
    for trace, (ours, word, why) in {v[0]: (t, v) for t, v in reversed(found)}.values():  # one row per set of models
        claims.append(Claim(CONVERGE_CLAIM, ours, _data(trace), _differences(trace) + " Convergence is read from "
                            "the stage-2 training accuracy (moving mean over 2 % of the steps), not from test "
                            "accuracy.", word, why))
    if not found:
        claims.append(Claim(CONVERGE_CLAIM, "-", "-", "-", "not measured", "no trace has training curves of "
                            "'full' and 'no_alignment'"))
    measured: dict[str, list[Claim]] = {TOKEN_LENGTH_CLAIM: [], ANALOG_DIGITAL_CLAIM: []}
    for trace, table in studies:
        if group_params(trace) == ["semantic.num_tokens"] and (row := token_length_claim(trace)) is not None:
            ours, word, why = row
            ks = sorted({int(p.params["semantic.num_tokens"]) for p in trace.complete_points})
            tokens = f"K = {', '.join(map(str, ks))} {scenario_of(trace).get('semantic', {}).get('compression')} tokens"
            measured[TOKEN_LENGTH_CLAIM].append(Claim(TOKEN_LENGTH_CLAIM, ours, _data(trace, tokens=tokens),
                                                      _differences(trace), word, why))
        elif not group_params(trace) and "link.mode" in swept_params(trace.complete_points):  # analog vs digital
            reference = reference_variant(trace)
            for variant in table:
                if (c := compare(table, variant, reference)) is not None:
                    word, why = verdict(c)
                    measured[ANALOG_DIGITAL_CLAIM].append(Claim(
                        f"{ANALOG_DIGITAL_CLAIM}: {reference} vs {variant}", gain_summary(c),
                        _data(trace, tokens="K tokens and b bits per value as each variant's name says, the same "
                              "resource elements per image", mode="analog and digital"),
                        _differences(trace), word, why.replace("better for", f"{reference} better for")))
    for text, study, has in STUDIES:
        claims += measured[text] or [Claim(text, "-", "-", "-", "not measured", f"{study}: no trace given has {has}")]
    lines = [
        "# Results: paper A's claims tested here",
        "",
        "<!-- Written by `tokenlink report`; edits are lost when the page is rebuilt. -->",
        "",
        "Rebuilt from the study traces by one command:",
        "",
        "```",
        "tokenlink report " + " ".join(_shown(t.path) for t in traces) + f" -o {_shown(Path(page))}",
        "```",
        "",
        "Gains are paired: the full method and each variant are trained with the same training seeds "
        "and tested on the same questions and channel realizations; a gain *holds for all seeds* at an "
        "SNR when every seed's model beats its variant there. Verdicts: **holds** (every test SNR, and "
        "the paper's number when it gives one), **holds partly** (some SNRs, or smaller than the paper's "
        "number), **does not hold here** (no SNR). Our data, model and budgets differ from the paper's: "
        "see each row.",
        "",
        "| claim | our number (mean over seeds; spread) | data and model | differences from the paper | verdict |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {c.claim} | {c.ours} | {c.data} | {c.differences} | **{c.verdict}**: {c.why} |" for c in claims]
    figures: list[Path] = []
    for trace, table in studies:
        section, figure = _study_section(trace, table, figures_dir, page_dir)
        lines += ["", *section]
        figures += figure
    for trace, study in networks:
        shown, saved = _page_figures(trace, MULTIUSER_FIGURES, figures_dir, page_dir)
        lines += ["", *_header(trace, list(study.seeds)), *shown, *multiuser_tables(trace, study)]
        figures += saved
    return "\n".join(lines) + "\n", figures


def _shown(path: Path) -> str:
    """The trace's path as the page shows it: relative to the working directory when it is inside it."""
    try:
        return Path(os.path.relpath(Path(path).resolve(), Path.cwd())).as_posix() if Path(path).resolve(
        ).is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)


def _data(trace: Trace, tokens: Optional[str] = None, mode: Optional[str] = None) -> str:
    """The data, model and link of a study, from its scenario (``tokens``: the tokens per item and
    ``mode``: the link mode, when the study sweeps them)."""
    s = scenario_of(trace)
    sem, phy, link = s.get("semantic") or {}, s.get("phy") or {}, s.get("link") or {}
    rx = phy.get("receiver") or {}
    model = _channel_name(phy.get("channel") or {})
    trained = (sem.get("train_phy") or {}).get("channel")
    if trained:
        model += f" (trained over {_channel_name(trained)})"
    train = sem.get("train_questions")
    lora = (sem.get("lora") or {}).get("rank")
    if tokens is None:
        tokens = f"K = {sem.get('num_tokens', '?')} {sem.get('compression', '?')} tokens"
    return (f"{sem.get('dataset', '?')} ({train if train is not None else 'all'} training / "
            f"{sem.get('test_questions', '?')} test questions); {tokens}; MiniLM-L6 + answer head, LoRA r = {lora}; "
            f"{mode or link.get('mode', '?')} tokens over {model}, {rx.get('estimator', '?')} CSI + "
            f"{rx.get('equalizer', '?')}")


def _channel_name(channel: dict) -> str:
    name = str(channel.get("model", "?")).upper()
    if channel.get("model") in ("tdl", "cdl"):
        name += f"-{channel.get('profile', '?')} {float(channel.get('delay_spread_s', 0)) * 1e9:g} ns"
    return name


def _differences(trace: Trace) -> str:
    sem = scenario_of(trace).get("semantic") or {}
    epochs = ((sem.get("align") or {}).get("epochs"), (sem.get("task") or {}).get("epochs"))
    temperature = (sem.get("align") or {}).get("temperature")
    return (f"{PAPER_SETUP} Here: MiniLM-L6 (22 M parameters) with an answer classification head, "
            f"InfoNCE temperature {temperature}, {epochs[0]} + {epochs[1]} epochs (stage 1 + stage 2), "
            "trained on two CPU cores.")


def _header(trace: Trace, seeds: list[int]) -> list[str]:
    """A study section's title, description and provenance (trace, scenario, run, commit, versions, seeds)."""
    s = scenario_of(trace)
    name = str(trace.attrs.get("name") or trace.path.stem)
    versions = ", ".join(f"{k} {v}" for k, v in (trace.attrs.get("versions") or {}).items())
    return [
        f"## {name}",
        "",
        f"{s.get('description', '')}",
        "",
        f"Trace `{_shown(trace.path)}` (status {trace.attrs.get('status')}, "
        f"{len(trace.complete_points)} complete points), scenario `scenarios/{name}.yaml`, run "
        f"{trace.attrs.get('start_time')} to {trace.attrs.get('end_time')} on {trace.attrs.get('device')}, "
        f"commit {str(trace.attrs.get('git_commit', '?'))[:12]}; {versions}. "
        f"Training seeds {', '.join(map(str, seeds))}; test seed {trace.attrs.get('seed')} "
        "(the same questions and realizations for every model).",
    ]


def _page_figures(trace: Trace, captions: dict[str, str], figures_dir: Path,
                  page_dir: Path) -> tuple[list[str], list[Path]]:
    """The trace's figures named in ``captions`` (file stem -> caption) saved as
    ``<figures_dir>/<study>_<stem>.png``: (markdown lines that show them, files)."""
    from .plots import STYLE, trace_figures
    import matplotlib

    name = str(trace.attrs.get("name") or trace.path.stem)
    lines: list[str] = []
    figures: list[Path] = []
    with matplotlib.rc_context(STYLE):
        for stem, fig in trace_figures(trace.path):
            if stem in captions:
                figures_dir.mkdir(parents=True, exist_ok=True)
                target = figures_dir / f"{name}_{stem}.png"
                fig.savefig(target, dpi=150, bbox_inches="tight")
                figures.append(target)
                lines += ["", f"![{name}: {captions[stem]}]({os.path.relpath(target, page_dir)})"]
    return lines, figures


def _study_section(trace: Trace, table: dict, figures_dir: Path, page_dir: Path) -> tuple[list[str], list[Path]]:
    name = str(trace.attrs.get("name") or trace.path.stem)
    seeds = sorted({seed for rows in table.values() for seed, _ in rows})
    snrs = sorted({x for rows in table.values() for _, x in rows})
    shown, figures = _page_figures(trace, PAGE_FIGURES, figures_dir, page_dir)
    lines = _header(trace, seeds) + shown
    lines += ["", "Test accuracy (mean over seeds, min to max):", "",
              "| variant | " + " | ".join(f"{x:g} dB" for x in snrs) + " |",
              "|---|" + "---:|" * len(snrs)]
    for variant, rows in table.items():
        cells = [mean_range([rows[s_, x] for s_ in seeds if (s_, x) in rows]) if any(
            (s_, x) in rows for s_ in seeds) else "-" for x in snrs]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    lines += _per_type(trace, snrs[-1])
    reference = reference_variant(trace)
    comparisons: list[Comparison] = [
        c for v in table if v.partition(", ")[0] != reference and (c := compare(
            table, v, ", ".join(filter(None, (reference, group_of(v)))))) is not None]
    if comparisons:
        same = ", ".join(short_name(n) for n in group_params(trace))
        lines += ["", f"Gain of {'the full method' if reference == FULL else reference} over each variant"
                  f"{' with the same ' + same if same else ''}, in accuracy "
                  "points (mean over seeds, min to max) and relative to the variant's mean accuracy:", "",
                  "| against | " + " | ".join(f"{x:g} dB" for x in snrs) + " |", "|---|" + "---:|" * len(snrs)]
        for c in comparisons:
            at = {x: i for i, x in enumerate(c.snrs_db)}
            cells = [f"{mean_range(c.gain_points[:, at[x]], '{:+.1f}')}; {c.relative_percent[at[x]]:+.1f} %"
                     if x in at else "-" for x in snrs]
            lines.append(f"| {c.variant} | " + " | ".join(cells) + " |")
    if group_params(trace) == ["semantic.num_tokens"]:
        section, figure = token_length_section(trace, figures_dir, page_dir, name)
        lines += section
        figures += figure
    return lines, figures


def _per_type(trace: Trace, snr_db: float) -> list[str]:
    """Accuracy per question type (``accuracy_<type>``) of every variant at ``snr_db``, mean over seeds,
    with the blind prior per type (``prior_accuracy_<type>``): where the gains come from."""
    rows: dict[str, dict[str, list[float]]] = {}
    types: list[str] = []
    blind = "question alone (blind prior)"
    groups = group_params(trace)
    for p in trace.complete_points:
        if p.params.get(VARIANT) is None or float(p.params.get(SNR_PARAM, np.nan)) != snr_db:
            continue
        for name, value in p.metrics.items():
            if name.startswith("accuracy_") and isinstance(value, float):
                t = name[len("accuracy_"):]
                types += [t] if t not in types else []
                rows.setdefault(point_name(p, groups), {}).setdefault(t, []).append(value)
                prior = p.metrics.get(f"prior_accuracy_{t}")
                if isinstance(prior, float):
                    rows.setdefault(blind, {}).setdefault(t, []).append(prior)
    if not types:
        return []
    out = ["", f"Accuracy per question type at {snr_db:g} dB (mean over seeds):", "",
           "| variant | " + " | ".join(types) + " |", "|---|" + "---:|" * len(types)]
    for variant, by_type in sorted(rows.items(), key=lambda item: item[0] == blind):  # the prior last
        out.append(f"| {variant} | " + " | ".join(f"{np.mean(by_type[t]):.3f}" if t in by_type else "-"
                                                  for t in types) + " |")
    return out
