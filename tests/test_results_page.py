"""The claims page from study traces: paired gains, verdicts, tables and one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from tokenlink.claims import ablation_accuracy, compare, verdict
from tokenlink.cli import main
from tokenlink.results_page import write_results_page
from tokenlink.trace import TraceError, TraceWriter, read_trace

SNRS = (-5.0, 5.0, 15.0)
SEEDS = (1, 2, 3)
SCENARIO = {"name": "ablation", "description": "a test ablation",
            "phy": {"channel": {"model": "tdl", "profile": "C", "delay_spread_s": 1e-7},
                    "receiver": {"estimator": "ls", "equalizer": "lmmse"}},
            "link": {"mode": "analog"},
            "semantic": {"dataset": "easy_vqa", "train_questions": 100, "test_questions": 50, "num_tokens": 8,
                         "compression": "pool", "lora": {"rank": 8}, "align": {"epochs": 1, "temperature": 0.07},
                         "task": {"epochs": 1}}}


def _trace(path, accuracy, smoke=False):
    """accuracy: {variant: f(seed, snr)}."""
    with TraceWriter(path, scenario_yaml=yaml.safe_dump(SCENARIO), fingerprint="f", seed=7, name="ablation",
                     extra_attrs={"smoke": smoke, "device": "cpu"}) as tw:
        i = 0
        for seed in SEEDS:
            for snr in SNRS:
                for variant, f in accuracy.items():
                    tw.write_point(f"point_{i:04d}", i, {"semantic.train_seed": seed, "phy.snr_db": snr,
                                                         "variant": variant}, {"accuracy": f(seed, snr)})
                    i += 1
    return path


def _comparison(tmp_path, other):
    trace = read_trace(_trace(tmp_path / "t.h5", {"full": lambda s, x: 0.6 + 0.01 * x, "other": other}))
    return compare(ablation_accuracy(trace), "other")


def test_gains_are_paired_by_seed_and_snr(tmp_path):
    c = _comparison(tmp_path, lambda s, x: 0.5 + 0.01 * x - 0.01 * s)
    assert c.seeds == SEEDS and c.snrs_db == SNRS
    np.testing.assert_allclose(c.gain_points, [[10 + s for _ in SNRS] for s in SEEDS])
    full, other = 0.6 + 0.01 * np.array(SNRS), 0.5 + 0.01 * np.array(SNRS) - 0.02
    np.testing.assert_allclose(c.relative_percent, 100 * (full / other - 1))


@pytest.mark.parametrize("other, target, expected", [
    (lambda s, x: (0.6 + 0.01 * x) / 1.2, 13.7, "holds"),          # +20 % at every SNR, every seed
    (lambda s, x: (0.6 + 0.01 * x) / 1.05, 13.7, "holds partly"),  # every SNR, but +5 % < 13.7 %
    (lambda s, x: (0.6 + 0.01 * x) / 1.05, None, "holds"),         # no number claimed: the sign is the claim
    (lambda s, x: 0.6 + 0.01 * x - (0.05 if x > 0 else -0.01), None, "holds partly"),  # worse at -5 dB
    (lambda s, x: 0.6 + 0.01 * x + 0.02 * (s - 2), 13.7, "does not hold here"),  # seeds disagree everywhere
])
def test_verdicts(tmp_path, other, target, expected):
    word, why = verdict(_comparison(tmp_path, other), target)
    assert word == expected, why
    if expected == "holds partly" and target is None:
        assert "worse for all 3 seeds at -5 dB" in why and "better for all 3 seeds at 5, 15 dB" in why


def test_the_page_has_a_row_per_claim_the_study_tables_and_its_figure(tmp_path):
    accuracy = {"full": lambda s, x: 0.7 + 0.01 * x + 0.001 * s, "no_alignment": lambda s, x: 0.5 + 0.01 * x,
                "no_lora": lambda s, x: 0.69 + 0.01 * x + 0.001 * s}
    page, figures = write_results_page([_trace(tmp_path / "ablation.h5", accuracy)], tmp_path / "docs" / "results.md")
    text = page.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and "**" in line]
    assert len(rows) == 7  # 4 ablation claims (2 not in this trace), convergence (no curves here), 2 studies not run
    alignment = next(r for r in rows if "13.7 %" in r.split("|")[1])
    assert "**holds**" in alignment  # +20 points of 0.5-0.65: about +37 %
    assert "easy_vqa (100 training / 50 test questions); K = 8 pool tokens" in alignment
    assert sum("**not measured**" in r for r in rows) == 5
    assert figures == [tmp_path / "docs" / "img" / "results" / "ablation_accuracy_vs_snr.png"]
    assert figures[0].stat().st_size > 0 and "](img/results/ablation_accuracy_vs_snr.png)" in text
    mean = np.mean([0.7 + 0.01 * 5 + 0.001 * s for s in SEEDS])
    assert "| full | " in text and f"{mean:.3f} ({0.751:.3f} to {0.753:.3f})" in text
    assert "| no_alignment | +20.2 (+20.1 to +20.3)" in text  # gains per seed at -5 dB


def test_bad_input_is_one_line_and_nothing_is_written(tmp_path, capsys):
    smoke = _trace(tmp_path / "smoke.h5", {"full": lambda s, x: 0.5, "other": lambda s, x: 0.4}, smoke=True)
    with pytest.raises(TraceError, match="--smoke run"):
        write_results_page([smoke], tmp_path / "r.md")
    with TraceWriter(tmp_path / "ber.h5", scenario_yaml="", fingerprint="f", seed=1, name="ber") as tw:
        tw.write_point("p0", 0, {"phy.snr_db": 0.0}, {"ber": 0.1})
    with pytest.raises(TraceError, match="not a study this page knows"):
        write_results_page([tmp_path / "ber.h5"], tmp_path / "r.md")
    assert not (tmp_path / "r.md").exists()
    assert main(["report", str(tmp_path / "missing.h5"), "-o", str(tmp_path / "r.md")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.h5: no such trace file" in err


def test_the_cli_writes_the_page(tmp_path, capsys):
    trace = _trace(tmp_path / "a.h5", {"full": lambda s, x: 0.6, "no_alignment": lambda s, x: 0.5})
    assert main(["report", str(trace), "-o", str(tmp_path / "results.md")]) == 0
    out = capsys.readouterr().out
    assert f"page: {tmp_path / 'results.md'}" in out and "figure: " in out


def test_steps_to_converge_reads_the_smoothed_training_accuracy():
    from tokenlink.claims import steps_to_converge

    curve = np.minimum(np.arange(1, 1001) / 400, 1.0)  # linear to 1 at step 400, then flat
    assert steps_to_converge(curve) == 370  # 0.9 at step 360; the trailing mean over 20 steps lags by 9.5
    rng = np.random.default_rng(0)
    noisy = rng.binomial(32, curve) / 32  # per-step accuracies of batches of 32
    assert abs(steps_to_converge(noisy) - 370) < 20
    with pytest.raises(ValueError, match="no training accuracy"):
        steps_to_converge(np.array([np.nan]))


def test_convergence_is_compared_per_seed(tmp_path):
    from tokenlink.claims import convergence_steps, convergence_verdict

    path = tmp_path / "c.h5"
    with TraceWriter(path, scenario_yaml="", fingerprint="f", seed=1, name="c") as tw:
        for i, (variant, seed, knee) in enumerate([("full", 1, 100), ("full", 2, 300), ("no_alignment", 1, 200),
                                                    ("no_alignment", 2, 250)]):
            curve = np.minimum(np.arange(1, 501) / knee, 1.0)
            tw.write_point(f"p{i}", i, {"variant": variant, "semantic.train_seed": seed, "phy.snr_db": 0.0},
                           {"accuracy": 0.5, "train_task_accuracy": curve})
    steps = convergence_steps(read_trace(path))
    assert steps["full"][1] < steps["no_alignment"][1] and steps["full"][2] > steps["no_alignment"][2]
    ours, word, why = convergence_verdict(steps, "no_alignment")
    assert word == "holds partly" and why == "the full method is faster for 1 of 2 seeds."  # mean 200 vs 225


def test_traces_of_the_same_models_give_one_convergence_row(tmp_path):
    def trace(path):
        with TraceWriter(path, scenario_yaml=yaml.safe_dump(SCENARIO), fingerprint="f", seed=1, name=path.stem) as tw:
            for i, (variant, knee) in enumerate([("full", 100), ("no_alignment", 200)]):
                tw.write_point(f"p{i}", i, {"variant": variant, "semantic.train_seed": 1, "phy.snr_db": 0.0},
                               {"accuracy": 0.6, "train_task_accuracy": np.minimum(np.arange(1, 501) / knee, 1.0)})
        return path

    page, _ = write_results_page([trace(tmp_path / "tdl.h5"), trace(tmp_path / "awgn.h5")], tmp_path / "r.md")
    rows = [line for line in page.read_text().splitlines() if line.startswith("| Quicker convergence than")]
    assert len(rows) == 1 and "**holds**" in rows[0]


def _study(path, name, labels, points):
    """A trace of ``points``: (params, metrics) pairs, with a scenario that sweeps ``labels``."""
    scenario = {**SCENARIO, "name": name, "sweep": {"labels": list(labels)}}
    with TraceWriter(path, scenario_yaml=yaml.safe_dump(scenario), fingerprint="f", seed=1, name=name,
                     extra_attrs={"device": "cpu"}) as tw:
        for i, (params, metrics) in enumerate(points):
            tw.write_point(f"p{i}", i, params, metrics)
    return path


def test_the_token_length_study_gives_one_claim_row_a_table_per_k_and_its_figure(tmp_path):
    from tokenlink.claims import convergence_seconds, steps_to_converge

    points = []
    for k, knees in ((8, {"full": 100, "no_alignment": 200}), (32, {"full": 300, "no_alignment": 250})):
        for variant, knee in knees.items():
            for seed in (1, 2):
                curve = np.minimum(np.arange(1, 501) / (knee + seed), 1.0)
                metrics = {"train_task_accuracy": curve, "train_align_loss": np.ones(100), "train_time_s": 60.0,
                           "channel_uses_per_sample": k * 192}
                if k == 8:  # per-step times: 0.1 s per step, stage 1 (100 steps) first
                    metrics["train_task_time_s"] = 10.0 + 0.1 * np.arange(1, 501)
                for snr in (0.0, 10.0):
                    points.append(({"semantic.train_seed": seed, "semantic.num_tokens": k, "phy.snr_db": snr,
                                    "variant": variant}, {**metrics, "accuracy": 0.5 + 0.01 * k / 8 + 0.01 * snr}))
    trace = _study(tmp_path / "tokens.h5", "tokens", ["full", "no_alignment"], points)
    seconds = convergence_seconds(read_trace(trace))
    steps = [steps_to_converge(np.minimum(np.arange(1, 501) / (100 + seed), 1.0)) for seed in (1, 2)]
    assert steps == [96, 97]  # 90 % of the knee at step 101 or 102, seen 4.5 steps late by the moving mean
    assert seconds["full, K=8"][1] == (pytest.approx(10.0 + 0.1 * 96), True)  # the time when step 96 ended
    assert seconds["full, K=32"][1][1] is False  # no per-step times: estimated from the whole training's time
    page, figures = write_results_page([trace], tmp_path / "r.md")
    text = page.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| Quicker convergence even with reduced"))
    assert "**holds partly**" in row and "faster for every seed at K = 8" in row
    assert "not faster on average at K = 32" in row and "K = 8, 32 pool tokens" in row
    assert "| 8 | 1536 | full | 96 (96 to 97) | 20 (20 to 20) | 60 (60 to 60) | 1.000 (1.000 to 1.000) |" in text
    assert "(est.)" in text
    assert "| full, K=8 |" in text and "| no_alignment, K=32 | " in text  # accuracy table, one row per K
    assert tmp_path / "img" / "results" / "tokens_convergence.png" in figures
    assert not any(line.startswith("| Quicker convergence than without") and "**holds" in line
                   for line in text.splitlines())  # the ablation's row needs an ablation trace


def test_the_analog_vs_digital_study_is_compared_with_its_first_label(tmp_path):
    points = [({"semantic.train_seed": seed, "phy.snr_db": snr, "variant": variant, "link.mode": variant[:6]},
               {"accuracy": 0.7 + 0.01 * snr - (0.1 if variant == "digital_4bit" and snr < 5 else 0.0)})
              for seed in (1, 2, 3) for snr in (0.0, 10.0) for variant in ("analog_k32", "digital_4bit")]
    page, _ = write_results_page([_study(tmp_path / "avd.h5", "avd", ["analog_k32", "digital_4bit"], points)],
                                 tmp_path / "r.md")
    text = page.read_text()
    row = next(line for line in text.splitlines() if "analog_k32 vs digital_4bit" in line)
    assert "**holds partly**" in row and "analog_k32 better for all 3 seeds at 0 dB" in row
    assert "+5.0 points" in row  # +10 points at 0 dB, 0 at 10 dB
    assert "Gain of analog_k32 over each variant" in text
    assert "| digital_4bit | +10.0 (+10.0 to +10.0); +16.7 % |" in text
    assert sum("**not measured**" in line for line in text.splitlines()) == 6  # 4 ablation rows, convergence, K


def test_a_study_of_other_variants_gets_its_section_and_no_claim_row(tmp_path):
    points = [({"semantic.train_seed": seed, "phy.snr_db": snr, "variant": variant, "semantic.align.target": variant},
               {"accuracy": 0.6 + (0.05 if variant == "per_modality" else 0.0)})
              for seed in (1, 2, 3) for snr in (0.0, 10.0) for variant in ("joint", "per_modality")]
    page, _ = write_results_page([_study(tmp_path / "t.h5", "targets", ["joint", "per_modality"], points)],
                                 tmp_path / "r.md")
    text = page.read_text()
    assert "## targets" in text and "Gain of joint over each variant" in text
    assert "| per_modality | -5.0 (-5.0 to -5.0); -7.7 % |" in text
    assert not any("joint vs per_modality" in line for line in text.splitlines())


def _multiuser_trace(path):
    """Two devices (video, audio) on one OFDMA uplink, the audio device at 50 or 800 m, the RBs split
    9 : 3 or 6 : 6 (the scenario's own), training seeds 1 and 2. Accuracy: 0.63 near; far, 0.56 with
    3 RBs and 0.53 (seed 1) / 0.55 (seed 2) with 6."""
    scenario = {**SCENARIO, "name": "mu", "description": "two devices",
                "semantic": {**SCENARIO["semantic"], "dataset": "synav", "modalities": ["video", "audio"]},
                "network": {"users": [{"link_budget": {"distance_m": 150.0}}, {"link_budget": {"distance_m": 300.0}}],
                            "shares": [0.5, 0.5]}}
    with TraceWriter(path, scenario_yaml=yaml.safe_dump(scenario), fingerprint="f", seed=1, name="mu",
                     extra_attrs={"device": "cpu"}) as tw:
        i = 0
        for seed in (1, 2):
            for shares, rbs, slots in (([0.75, 0.25], [9, 3], [2, 8]), ([0.5, 0.5], [6, 6], [4, 4])):
                for distance in (50.0, 800.0):
                    far = distance > 100
                    accuracy = 0.63 if not far else (0.56 if rbs[1] == 3 else 0.53 + 0.02 * (seed - 1))
                    esno = 37.2 - 3 * (rbs[1] == 6) - 45.4 * far
                    tw.write_point(f"p{i}", i, {"semantic.train_seed": seed, "network.shares": str(shares),
                                                "network.users.1.link_budget.distance_m": distance},
                                   {"accuracy": accuracy, "prior_accuracy": 0.385, "accuracy_temporal": accuracy + 0.04,
                                    "recall_at_1_video": 0.5, "recall_at_1_audio": 0.3 - 0.28 * far,
                                    "user_esno_db": np.array([15.2, esno]), "esno_db": esno,
                                    "user_resource_blocks": np.array(rbs), "user_slots": np.array(slots),
                                    "airtime_s": max(slots) * 0.5e-3 * 0.972})
                    i += 1
    return path


def test_a_multiuser_study_gets_its_section_with_paired_split_gains(tmp_path):
    from tokenlink.results_multiuser import multiuser_study

    trace = _multiuser_trace(tmp_path / "mu.h5")
    study = multiuser_study(read_trace(trace))
    assert study.device == 1 and study.modality == "audio" and study.seeds == (1, 2)
    assert study.splits == ((0.75, 0.25), (0.5, 0.5)) and study.reference == (0.5, 0.5)
    assert multiuser_study(read_trace(_trace(tmp_path / "a.h5", {"full": lambda s, x: 0.6}))) is None
    page, figures = write_results_page([trace], tmp_path / "r.md")
    text = page.read_text()
    assert "## mu" in text and "Training seeds 1, 2" in text
    assert "| accuracy, 9 : 3 RBs (video : audio) | 0.630 (0.630 to 0.630) | 0.560 (0.560 to 0.560) |" in text
    assert "| accuracy, 6 : 6 RBs (video : audio) | 0.630 (0.630 to 0.630) | 0.540 (0.530 to 0.550) |" in text
    assert "| audio link, 9 : 3 RBs (video : audio) | 37.2 dB, 8 slots, 3.89 ms | -8.2 dB, 8 slots, 3.89 ms |" in text
    assert "| audio link, 6 : 6 RBs (video : audio) | 34.2 dB, 4 slots, 1.94 ms |" in text
    # 9 : 3 against 6 : 6 at 800 m: +3 points (seed 1) and +1 point (seed 2)
    assert "| 9 : 3 RBs (video : audio) | +0.0 (+0.0 to +0.0) | +2.0 (+1.0 to +3.0), all seeds |" in text
    assert "| temporal questions | 0.670 (0.670 to 0.670) | 0.580 (0.570 to 0.590) |" in text
    assert "| recall@1 of the audio device's captions | 0.30 (0.30 to 0.30) | 0.02 (0.02 to 0.02) |" in text
    assert "blind question prior (the answer from the question alone) is 0.385" in text
    assert {f.name for f in figures} == {"mu_accuracy_vs_distance.png", "mu_accuracy_vs_esno.png"}
    assert all("**not measured**" in line for line in text.splitlines() if line.startswith("| ") and "**" in line)


def test_the_committed_page_is_what_its_traces_give(tmp_path, monkeypatch):
    """docs/results.md is rebuilt from docs/traces/ by the command it names: its numbers are the traces'."""
    import re
    import shlex
    from pathlib import Path

    from tokenlink.results_page import results_page

    repo = Path(__file__).resolve().parents[1]
    page = (repo / "docs" / "results.md").read_text()
    command = shlex.split(next(line for line in page.splitlines() if line.startswith("tokenlink report ")))
    traces = command[2:command.index("-o")]
    assert traces and all(t.startswith("docs/traces/") for t in traces)
    monkeypatch.chdir(repo)
    text, _ = results_page([read_trace(t) for t in traces], tmp_path / "img", repo / "docs" / "results.md")
    links = re.compile(r"\]\([^)]*\.png\)")  # the figures are drawn into tmp_path here
    assert links.sub("](figure)", text) == links.sub("](figure)", page)
