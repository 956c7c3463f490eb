"""The figures of the FedSL studies (tokenlink.plots), drawn from a smoke trace of a
one-at-a-time study: accuracy and the convergence-bound quantities vs each setting,
traffic and FLOPs bars, the bound quantities per round."""

from pathlib import Path

import numpy as np
import pytest

from tokenlink.plots import _fedsl_slices, plot_trace, trace_figures
from tokenlink.runner import run
from tokenlink.scenario import load_scenario
from tokenlink.trace import read_trace
from tokenlink.trace.reader import TracePoint

REPO = Path(__file__).resolve().parents[1]

#: fedsl_mnist_compression.yaml cut to three points: the centre, pruning off, float32 gradients.
PINS = ["sweep.zip.fedsl.pruning.rate=[0.3, 0.0, 0.3]", "sweep.zip.fedsl.gradient_bits=[8, 8, 32]",
        "fedsl.drop_rate=0.25", "sweep.labels=[lightweight, prune_0, bits_32]"]
STUDY = ("fedsl_accuracy_vs_setting", "fedsl_grad_sq_norm_vs_setting", "fedsl_quantization_variance_vs_setting",
         "fedsl_dropout_variance_vs_setting", "fedsl_traffic", "fedsl_bound_vs_round")


@pytest.fixture(scope="module")
def smoke_trace(tmp_path_factory):
    scenario = load_scenario(REPO / "scenarios" / "fedsl_mnist_compression.yaml", PINS)
    path = tmp_path_factory.mktemp("fedsl") / "trace.h5"
    run(scenario, path, smoke_run=True, progress=False, plots=False)
    return path


def test_fedsl_study_figures_are_drawn_from_a_smoke_trace(smoke_trace, tmp_path):
    files = plot_trace(smoke_trace, tmp_path / "figures", formats=("png",))
    stems = {f.stem for f in files}
    assert set(STUDY) <= stems
    assert all(f.stat().st_size > 0 for f in files)


def test_each_setting_has_its_own_panel_with_the_centre_and_the_points_that_differ_in_it(smoke_trace):
    figures = dict(trace_figures(smoke_trace))
    accuracy = figures["fedsl_accuracy_vs_setting"]
    panels = [ax for ax in accuracy.axes if ax.get_xlabel()]
    assert [ax.get_xlabel() for ax in panels] == ["fedsl.pruning.rate", "fedsl.gradient_bits"]
    for ax in panels:  # one line of two points: the centre and the one that differs
        assert len(ax.lines) == 1 and len(ax.lines[0].get_xdata()) == 2
    points = read_trace(smoke_trace).complete_points
    accuracies = sorted(p.metrics["accuracy"] for p in points if p.params["variant"] != "bits_32")
    np.testing.assert_allclose(sorted(panels[0].lines[0].get_ydata()), accuracies)


def test_traffic_bars_leave_out_uplink_bits_over_an_analog_link(smoke_trace):
    traffic = dict(trace_figures(smoke_trace))["fedsl_traffic"]
    labels = [ax.get_xlabel() for ax in traffic.axes]
    assert "Uplink channel uses" in labels and "Client FLOPs (fwd + bwd)" in labels
    assert "Uplink bits" not in labels  # an analog link sends values: uplink_bits is NaN
    assert [t.get_text() for t in traffic.axes[0].get_yticklabels()] == ["lightweight", "prune_0", "bits_32"]


def _point(i, mode, snr_db, interval):
    params = {"variant": f"v{i}", "link.mode": mode, "phy.snr_db": snr_db, "fedsl.interval_rounds": interval}
    return TracePoint(f"p{i}", i, params, {"accuracy": 0.5}, True, 0.0)


def test_a_setting_swept_with_a_second_one_gets_a_line_per_value_of_the_second():
    points = [_point(0, "analog", 10, 2), _point(1, "analog", 10, 1), _point(2, "analog", 10, 5),
              _point(3, "analog", 0, 2), _point(4, "analog", 20, 2),
              _point(5, "digital", 0, 2), _point(6, "digital", 10, 2), _point(7, "digital", 20, 2)]
    fields = ["link.mode", "phy.snr_db", "fedsl.interval_rounds"]
    snr = _fedsl_slices(points, fields, "phy.snr_db")
    assert {k: [p.key for p in v] for k, v in snr.items()} == {"": ["p0", "p3", "p4"],
                                                               "link.mode=digital": ["p5", "p6", "p7"]}
    assert list(_fedsl_slices(points, fields, "fedsl.interval_rounds")) == [""]  # no point differs in both
    mode = _fedsl_slices(points, fields, "link.mode")  # analog vs digital at each Es/N0
    assert {k: [p.key for p in v] for k, v in mode.items()} == {"": ["p0", "p6"], "phy.snr_db=0": ["p3", "p5"],
                                                                "phy.snr_db=20": ["p4", "p7"]}
