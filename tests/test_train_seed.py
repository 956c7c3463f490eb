"""Several trained models of one configuration: ``semantic.train_seed``."""

from __future__ import annotations

import numpy as np

from tokenlink import load_scenario
from tokenlink.semantic_run import training_config, training_key
from tokenlink.trace import read_trace

from tiny_semantic import tiny_easy_vqa

EASY = tiny_easy_vqa()


def _with(seed=None, run_seed=3):
    semantic = {**EASY["semantic"], **({} if seed is None else {"train_seed": seed})}
    return load_scenario({**EASY, "run": {"seed": run_seed}, "semantic": semantic})


def test_the_training_seed_is_the_keys_seed_and_defaults_to_the_run_seed():
    assert training_key(_with(3)) == training_key(_with())  # train_seed = run.seed: the same model
    assert "train_seed" not in training_config(_with(5))["semantic"]
    assert training_config(_with(5))["seed"] == 5
    assert training_key(_with(5)) == training_key(_with(None, run_seed=5))
    assert training_key(_with(4)) != training_key(_with(5))


def test_a_seed_sweep_trains_one_model_per_seed_tested_on_the_same_realizations(tmp_path):
    from tokenlink.runner import run

    scenario = load_scenario({**EASY, "sweep": {"grid": {"semantic.train_seed": [1, 2], "phy.snr_db": [0.0, 20.0]}}})
    result = run(scenario, tmp_path / "t.h5", progress=False, plots=False)
    assert len(list((tmp_path / "t_checkpoints").iterdir())) == 2  # one model per seed
    points = {(p.params["semantic.train_seed"], p.params["phy.snr_db"]): p.metrics
              for p in read_trace(result.trace_path).points}
    assert set(points) == {(1, 0.0), (1, 20.0), (2, 0.0), (2, 20.0)}
    # different initial weights and data order: different training curves
    assert not np.array_equal(points[1, 0.0]["train_task_loss"], points[2, 0.0]["train_task_loss"])
    assert points[1, 0.0]["esno_db"] == points[2, 0.0]["esno_db"] == 0.0


def test_every_training_seed_is_tested_on_the_same_questions():
    from tokenlink.semantic_run import _build

    one, two = (_build(_with(seed), "cpu", False)[1] for seed in (1, 2))
    assert one.test_split.questions == two.test_split.questions  # drawn from run.seed
    assert one.train_split.questions != two.train_split.questions  # drawn from the training seed


def test_the_points_of_each_trained_model_are_evaluated_together(tmp_path, monkeypatch):
    """A zip of variants varies fastest; evaluating in point order would rebuild a model and its data
    at every point."""
    import tokenlink.semantic.task as task
    from tokenlink.runner import run

    calls = []
    real = task.prepare_task
    monkeypatch.setattr(task, "prepare_task", lambda *a, **k: calls.append(1) or real(*a, **k))
    scenario = load_scenario({**EASY, "sweep": {"grid": {"phy.snr_db": [0.0, 20.0, 30.0]},
                                                "zip": {"semantic.lora.rank": [0, 4]}, "labels": ["frozen", "lora"]}})
    result = run(scenario, tmp_path / "t.h5", progress=False, plots=False)
    assert [r.index for r in result.points] == list(range(6))  # returned in point order
    assert len(calls) == 2 + 2  # two trainings, then each model built once for its three points
    variants = {p.index: p.params["variant"] for p in read_trace(result.trace_path).points}
    assert variants == {i: ("frozen", "lora")[i % 2] for i in range(6)}
