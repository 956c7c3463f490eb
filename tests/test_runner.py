"""The scenario runner: shipped scenarios, resume after Ctrl-C and kill -9,
the Ray executor, and bad input through the CLI (one line, exit 2, existing
traces untouched)."""

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from tokenlink.cli import main
from tokenlink.runner import point_seed, run
from tokenlink.scenario import load_scenario
from tokenlink.trace import read_trace
from tokenlink.trace.lock import lock_path

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted((REPO / "scenarios").glob("*.yaml"))

SMALL = {
    "name": "small",
    "phy": {"modulation": "qpsk", "channel": {"model": "rayleigh"}},
    "link": {"mode": "digital", "tokens": {"num_tokens": 8, "dim": 16}, "digital": {"bits_per_value": 2}},
    "run": {"batch_size": 4, "max_frames": 8, "min_bit_errors": 10**6},
    "sweep": {"grid": {"phy.snr_db": [0.0, 10.0], "link.mode": ["analog", "digital"]}},
}

#: Log-normal shadowing drawn per frame (link-budget SNR), swept, bits and digital tokens.
SHADOWED = {
    "name": "shadowed",
    "phy": {"modulation": "qpsk", "channel": {"model": "rayleigh"}, "snr_type": "link_budget",
            "link_budget": {"distance_m": 250.0}},
    "link": {"mode": "digital", "tokens": {"num_tokens": 8, "dim": 16}, "digital": {"bits_per_value": 2}},
    "run": {"batch_size": 4, "max_frames": 8, "max_bits": 20_000, "min_bit_errors": 10**6},
    "sweep": {"grid": {"phy.link_budget.shadowing_std_db": [0.0, 3.0, 6.0], "link.mode": ["bits", "digital"]}},
}


def _metrics(path):
    """{key: {metric: value}} of the complete points of a trace."""
    return {p.key: p.metrics for p in read_trace(path).complete_points}


def _assert_same_numbers(a, b):
    assert a.keys() == b.keys() and a
    for key in a:
        assert a[key].keys() == b[key].keys()
        for name, value in a[key].items():
            np.testing.assert_allclose(value, b[key][name], rtol=1e-6, err_msg=f"{key}/{name}")


def test_shipped_scenarios_exist_with_a_readme():
    names = {p.stem for p in SHIPPED}
    assert {"quickstart", "ber_channels_csi", "analog_vs_digital_tdl", "link_budget_uma"} <= names
    readme = (REPO / "scenarios" / "README.md").read_text()
    for name in names:
        assert f"{name}.yaml" in readme, f"scenarios/README.md does not describe {name}.yaml"
    assert len((REPO / "scenarios" / "quickstart.yaml").read_text().strip().splitlines()) <= 5


#: demo.yaml runs with --smoke in tests/test_cli.py, as `tokenlink demo --quick`.
SMOKED_HERE = [p for p in SHIPPED if p.stem != "demo"]


#: Studies whose every point, even at smoke size, costs a training (an ablation's variants x seeds):
#: smoked on one seed and one test SNR, so that every variant still trains and is evaluated.
ONE_SEED_ONE_SNR = ["sweep.grid.semantic.train_seed=[1]", "sweep.grid.phy.snr_db=[0]"]
SMOKE_PINS = {"semantic_ablation_easy_vqa": ONE_SEED_ONE_SNR, "semantic_analog_vs_digital": ONE_SEED_ONE_SNR,
              "semantic_synav_alignment_target": ONE_SEED_ONE_SNR,
              "semantic_multiuser": ["sweep.grid.semantic.train_seed=[1]"],
              # (its checkpoint_dir is the full run's, under results/: smoke models go beside the trace)
              "semantic_ablation_easy_vqa_awgn": [*ONE_SEED_ONE_SNR, "semantic.checkpoint_dir=null"],
              "semantic_mobility": [*ONE_SEED_ONE_SNR, "semantic.checkpoint_dir=null"],
              "semantic_token_length_easy_vqa": [*ONE_SEED_ONE_SNR, "sweep.grid.semantic.num_tokens=[8, 64]",
                                                 "semantic.checkpoint_dir=null"],
              "fedsl_mnist": ["sweep.grid.fedsl.seed=[1]"],
              # (tests/test_fedsl_plots.py smoke-runs three of its points with their figures)
              "fedsl_mnist_compression": ["sweep.zip.fedsl.pruning.rate=[0.3, 0.7]",
                                          "sweep.zip.fedsl.gradient_bits=[8, 2]", "sweep.zip.fedsl.drop_rate=[0.25, 0.5]",
                                          "sweep.labels=[lightweight, mixed]"],
              # three of its twelve points: the centre, the deep cut with I = 5 and non-IID, digital
              "fedsl_mnist_system": ["sweep.zip.fedsl.interval_rounds=[2, 5, 2]", "sweep.zip.fedsl.cut_layer=[2, 6, 2]",
                                     "sweep.zip.fedsl.partition=[iid, dirichlet, iid]",
                                     "sweep.zip.link.mode=[analog, analog, digital]", "sweep.zip.phy.snr_db=[10, 0, 20]",
                                     "sweep.labels=[lightweight, deep_i5_dirichlet, digital_20dB]"]}


@pytest.mark.parametrize("path", SMOKED_HERE, ids=[p.stem for p in SMOKED_HERE])
def test_every_shipped_scenario_runs_with_smoke(path, tmp_path):
    scenario = load_scenario(path, SMOKE_PINS.get(path.stem, []))
    result = run(scenario, tmp_path / "trace.h5", smoke_run=True, progress=False)
    trace = read_trace(result.trace_path)
    assert result.status == "complete" and trace.attrs["status"] == "complete"
    assert len(trace.complete_points) == len(scenario.points())
    assert result.figures and all(f.stat().st_size > 0 for f in result.figures)
    for point in trace.complete_points:
        rate = point.metrics.get("ber", point.metrics.get("nmse"))
        assert np.isfinite(rate) and rate >= 0
    if path.stem == "semantic_analog_vs_digital":  # its variants are compared at equal channel uses
        assert {p.metrics["channel_uses_per_sample"] for p in trace.complete_points} == {6144}


def test_points_are_seeded_independently_and_reproducibly(tmp_path):
    first = run(SMALL, tmp_path / "a.h5", progress=False, plots=False)
    again = run(SMALL, tmp_path / "b.h5", progress=False, plots=False)
    _assert_same_numbers(_metrics(first.trace_path), _metrics(again.trace_path))
    assert len({point_seed(1, i) for i in range(100)}) == 100
    other = run({**SMALL, "run": {**SMALL["run"], "seed": 2}}, tmp_path / "c.h5", progress=False, plots=False)
    assert _metrics(other.trace_path)["point_0000"]["nmse"] != _metrics(first.trace_path)["point_0000"]["nmse"]


def _interrupted(scenario, path, after: int) -> None:
    """Run ``scenario`` into ``path`` and press Ctrl-C once ``after`` points are written."""
    seen = []

    def interrupt(result):
        seen.append(result.key)
        if len(seen) == after:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(scenario, path, progress=False, plots=False, on_point=interrupt)


def test_ctrl_c_leaves_a_valid_trace_and_resume_gives_the_uninterrupted_numbers(tmp_path):
    reference = run(SMALL, tmp_path / "ref.h5", progress=False, plots=False)
    path = tmp_path / "run.h5"
    _interrupted(SMALL, path, after=2)
    trace = read_trace(path)
    assert trace.attrs["status"] == "interrupted" and len(trace.complete_points) == 2
    resumed = run(SMALL, path, resume=True, progress=False, plots=False)
    assert [p.key for p in resumed.points] == ["point_0002", "point_0003"]  # only the missing ones ran
    _assert_same_numbers(_metrics(path), _metrics(reference.trace_path))


def test_resume_of_a_shadowing_sweep_gives_the_uninterrupted_numbers(tmp_path):
    reference = run(SHADOWED, tmp_path / "ref.h5", progress=False, plots=False)
    stds = [p.metrics["esno_db_std"] for p in reference.points]
    assert stds[:2] == [0.0, 0.0] and all(s > 0 for s in stds[2:])
    path = tmp_path / "run.h5"
    _interrupted(SHADOWED, path, after=3)
    resumed = run(SHADOWED, path, resume=True, progress=False, plots=False)
    assert [p.key for p in resumed.points] == ["point_0003", "point_0004", "point_0005"]
    _assert_same_numbers(_metrics(path), _metrics(reference.trace_path))


def test_sigkill_midway_keeps_the_complete_points_and_resume_finishes(tmp_path, caplog):
    scenario = {**SMALL, "run": {**SMALL["run"], "max_frames": 64},
                "sweep": {"grid": {"phy.snr_db": [0.0, 5.0, 10.0, 15.0, 20.0, 25.0]}}}
    reference = run(scenario, tmp_path / "ref.h5", progress=False, plots=False)
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(scenario))
    path = tmp_path / "killed.h5"
    proc = subprocess.Popen([sys.executable, "-m", "tokenlink.cli", "run", str(tmp_path / "s.yaml"), "-o", str(path),
                             "--no-plots"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if path.exists():
                try:
                    if len(read_trace(path).complete_points) >= 2:
                        break
                except ValueError:  # between atomic replacements: retry
                    pass
            time.sleep(0.05)
        assert proc.poll() is None, "the run finished before it could be killed; make its points slower"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    with h5py.File(path, "r"):
        pass  # opens
    trace = read_trace(path)
    done = len(trace.complete_points)
    assert 2 <= done < 6 and trace.attrs["status"] == "running"
    _assert_same_numbers(_metrics(path), {k: v for k, v in _metrics(reference.trace_path).items() if k in
                                          {p.key for p in trace.complete_points}})
    stale = lock_path(path)  # the killed run's lock file stays, naming it; its OS lock is gone
    assert json.loads(stale.read_text())["pid"] == proc.pid
    with caplog.at_level(logging.WARNING, logger="tokenlink"):
        run(scenario, path, resume=True, progress=False, plots=False)
    notices = [r.getMessage() for r in caplog.records if "taking over the lock" in r.getMessage()]
    assert len(notices) == 1 and f"pid {proc.pid} " in notices[0] and "no longer runs" in notices[0], notices
    assert read_trace(path).attrs["status"] == "complete" and not stale.exists()
    _assert_same_numbers(_metrics(path), _metrics(reference.trace_path))


@pytest.mark.parametrize("scenario", [SMALL, SHADOWED], ids=["small", "shadowed"])
def test_ray_executor_gives_the_numbers_of_the_local_executor(tmp_path, scenario):
    pytest.importorskip("ray")
    local = run(scenario, tmp_path / "local.h5", progress=False, plots=False)
    distributed = run(scenario, tmp_path / "ray.h5", executor="ray", num_cpus=2, progress=False, plots=False)
    assert read_trace(distributed.trace_path).attrs["executor"] == "ray"
    _assert_same_numbers(_metrics(local.trace_path), _metrics(distributed.trace_path))


# ------------------------------------------------------------------ CLI
def _write(tmp_path, text, name="s.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _cli(capsys, *argv):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    return code, err


def test_cli_run_info_plot_export(tmp_path, capsys):
    path = _write(tmp_path, yaml.safe_dump(SMALL))
    trace = tmp_path / "t.h5"
    assert main(["run", str(path), "-o", str(trace), "--smoke", "--set", "run.seed=4"]) == 0
    out = capsys.readouterr().out
    assert "4/4 complete" in out and f"trace: {trace}" in out
    assert read_trace(trace).attrs["seed"] == 4
    assert main(["info", str(trace)]) == 0 and "small" in capsys.readouterr().out
    assert main(["plot", str(trace), "-o", str(tmp_path / "fig")]) == 0
    assert (tmp_path / "fig" / "nmse_vs_snr.png").stat().st_size > 0
    assert main(["export", str(trace), "--csv"]) == 0
    rows = (tmp_path / "t.csv").read_text().splitlines()
    assert len(rows) == 5 and "phy.snr_db" in rows[0]


BAD_RUNS = [
    ("unknown key", "name: x\nphy: {chanel: {model: tdl}}\n", [], "phy.chanel"),
    ("unknown channel model", "name: x\nphy: {channel: {model: umi}}\n", [], "phy.channel.model"),
    ("empty sweep list", "name: x\nsweep: {grid: {phy.snr_db: []}}\n", [], "phy.snr_db"),
    ("negative batch", "name: x\nrun: {batch_size: -3}\n", [], "run.batch_size"),
    ("bad override", "name: x\n", ["--set", "run.max_bits=-1"], "run.max_bits"),
]


@pytest.mark.parametrize("what, text, extra, field", BAD_RUNS, ids=[b[0] for b in BAD_RUNS])
def test_cli_run_rejects_bad_scenarios_in_one_line_and_keeps_the_trace(what, text, extra, field, tmp_path, capsys):
    trace = tmp_path / "t.h5"
    assert main(["run", str(_write(tmp_path, yaml.safe_dump(SMALL), "good.yaml")), "-o", str(trace), "--smoke",
                 "--no-plots"]) == 0
    before = trace.read_bytes()
    capsys.readouterr()
    code, err = _cli(capsys, "run", _write(tmp_path, text), "-o", trace, "--overwrite", *extra)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err and field in err, err
    assert trace.read_bytes() == before


def test_cli_run_refuses_to_replace_or_resume_a_different_trace(tmp_path, capsys):
    good = _write(tmp_path, yaml.safe_dump(SMALL), "good.yaml")
    trace = tmp_path / "t.h5"
    assert main(["run", str(good), "-o", str(trace), "--smoke", "--no-plots"]) == 0
    before = trace.read_bytes()
    capsys.readouterr()
    code, err = _cli(capsys, "run", good, "-o", trace, "--smoke")
    assert code == 2 and "--overwrite" in err and "--resume" in err and err.count("\n") == 1
    code, err = _cli(capsys, "run", good, "-o", trace, "--smoke", "--resume", "--set", "run.seed=9")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    code, err = _cli(capsys, "run", tmp_path / "missing.yaml", "-o", trace)
    assert code == 2 and "missing.yaml" in err
    assert trace.read_bytes() == before


def test_cli_run_reports_an_unwritable_output_in_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, err = _cli(capsys, "run", _write(tmp_path, yaml.safe_dump(SMALL)), "-o", blocker / "t.h5", "--smoke")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err and "t.h5" in err
    assert blocker.read_text() == "not a folder"


def test_run_help_explains_with_an_example(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    assert "--resume" in out and "tokenlink run scenarios/" in out


def test_digital_points_stop_early_on_max_rel_stderr_too(tmp_path):
    base = {**SMALL, "phy": {**SMALL["phy"], "snr_db": 5.0}, "sweep": {},
            "run": {"batch_size": 4, "max_frames": 400, "min_bit_errors": 10}}
    plain = run({**base, "link": {**SMALL["link"], "mode": "digital"}}, tmp_path / "a.h5", progress=False,
                plots=False).points[0].metrics
    precise = run({**base, "link": {**SMALL["link"], "mode": "digital"},
                   "run": {**base["run"], "max_rel_stderr": 0.1}}, tmp_path / "b.h5", progress=False,
                  plots=False).points[0].metrics
    assert plain["frames"] == 4 and plain["bit_errors"] >= 10  # enough errors after the first batch
    assert 4 < precise["frames"] < 400
