"""Figures from a trace alone: files, curves per swept combination, log axes
that survive zero-error points, accuracy figures and the train/test heatmap."""

import h5py
import numpy as np
import pytest

from tokenlink.plots import plot_trace, trace_figures
from tokenlink.trace import TraceError, TraceWriter

SNRS = (0.0, 5.0, 10.0, 15.0, 20.0)
CHANNELS = ("awgn", "tdl")


def _write(path, points, **kw):
    """points: list of (params, metrics); the last ``incomplete`` ones lose their completion flag."""
    incomplete = kw.pop("incomplete", 0)
    with TraceWriter(path, scenario_yaml="", fingerprint="f", seed=1, name="test sweep", **kw) as tw:
        for i, (params, metrics) in enumerate(points):
            tw.write_point(f"p{i}", i, params, metrics)
    with h5py.File(path, "r+") as f:
        for i in range(len(points) - incomplete, len(points)):
            del f[f"points/{i:06d}"].attrs["_complete"]
    return path


def _rate(snr, channel):
    ber = 0.0 if snr >= 20 else 0.2 * 10 ** (-snr / (10 if channel == "awgn" else 20))  # no errors at 20 dB
    return {"ber": ber, "bits": 100_000, "bit_errors": int(ber * 100_000), "ser": min(1.0, 3 * ber),
            "symbols": 25_000, "ter": min(1.0, 10 * ber), "tokens": 1_000, "nmse": 10 ** (-snr / 10)}


@pytest.fixture
def sweep(tmp_path):
    points = [({"phy.snr_db": snr, "channel.model": ch, "phy.modulation": "16qam"}, _rate(snr, ch))
              for ch in CHANNELS for snr in SNRS]
    points.append(({"phy.snr_db": 5.0, "channel.model": "ghost", "phy.modulation": "16qam"}, _rate(5.0, "awgn")))
    return _write(tmp_path / "sweep.h5", points, incomplete=1)


def _curves(fig):
    """Data lines of the figure's main axes (not the zero-error markers)."""
    return [line for line in fig.axes[0].get_lines() if not line.get_label().startswith("_zero")]


def test_plot_trace_writes_a_png_and_a_pdf_per_figure(sweep, tmp_path):
    files = plot_trace(sweep, tmp_path / "figs")
    stems = ["ber_vs_snr", "ser_vs_snr", "ter_vs_snr", "nmse_vs_snr"]
    assert files == [tmp_path / "figs" / f"{s}.{ext}" for s in stems for ext in ("png", "pdf")]
    for f in files:
        head = f.read_bytes()[:8]
        assert head == b"\x89PNG\r\n\x1a\n" if f.suffix == ".png" else head.startswith(b"%PDF")


def test_error_rate_figures_have_one_log_curve_per_channel_and_ignore_incomplete_points(sweep):
    figures = dict(trace_figures(sweep))
    for metric in ("ber", "ser", "ter"):
        ax = figures[f"{metric}_vs_snr"].axes[0]
        curves = _curves(figures[f"{metric}_vs_snr"])
        assert [c.get_label() for c in curves] == [f"channel.model={ch}" for ch in CHANNELS]  # no "ghost"
        assert ax.get_yscale() == "log" and ax.get_xlabel() == "Es/N0 [dB]"
        assert "error rate" in ax.get_ylabel()
        for c in curves:  # the zero-error point at 20 dB is not on the line...
            assert list(c.get_xdata()) == list(SNRS[:-1]) and min(c.get_ydata()) > 0
    ber = figures["ber_vs_snr"].axes[0]
    zero = [line for line in ber.get_lines() if line.get_label().startswith("_zero")]
    assert len(zero) == 2 and all(list(z.get_ydata()) == [3 / 100_000] for z in zero)  # ...but marked at 3/n
    nmse = figures["nmse_vs_snr"].axes[0]
    assert nmse.get_ylabel() == "NMSE [dB]" and nmse.get_yscale() == "linear"
    np.testing.assert_allclose(_curves(figures["nmse_vs_snr"])[0].get_ydata(), [-s for s in SNRS])


def test_all_zero_error_points_without_counts_do_not_break_log_plots(tmp_path):
    path = _write(tmp_path / "t.h5", [({"phy.snr_db": s}, {"ber": 0.0, "ser": 0.0}) for s in SNRS])
    files = plot_trace(path, tmp_path / "figs", formats=("png",))
    assert [f.name for f in files] == ["ber_vs_snr.png", "ser_vs_snr.png"]
    assert all(f.stat().st_size > 0 for f in files)
    assert len(_curves(dict(trace_figures(path))["ber_vs_snr"])[0].get_xdata()) == 0


def test_accuracy_figures_and_train_test_snr_heatmap(tmp_path):
    trains, tests = (0.0, 10.0, 20.0), (0.0, 5.0, 10.0, 15.0)
    acc = {(tr, te): 0.5 + 0.02 * te - 0.01 * abs(te - tr) for tr in trains for te in tests}
    points = [({"train.train_snr_db": tr, "eval.snr_db": te},
               {"accuracy": acc[tr, te], "ber": 0.1 * 10 ** (-te / 10)}) for tr in trains for te in tests]
    figures = dict(trace_figures(_write(tmp_path / "t.h5", points)))
    assert list(figures) == ["ber_vs_snr", "accuracy_vs_snr", "accuracy_vs_ber", "accuracy_train_vs_test_snr"]
    assert len(_curves(figures["accuracy_vs_snr"])) == len(trains)  # one curve per training SNR
    vs_ber = figures["accuracy_vs_ber"].axes[0]
    assert vs_ber.get_xscale() == "log" and vs_ber.get_xlabel() == "Bit error rate"
    heat = figures["accuracy_train_vs_test_snr"].axes[0]
    np.testing.assert_allclose(heat.images[0].get_array(), [[acc[tr, te] for te in tests] for tr in trains])
    assert heat.get_xlabel() == "Test Es/N0 [dB]" and heat.get_ylabel() == "Training Es/N0 [dB]"


def test_accuracy_vs_median_nmse_and_ber_of_the_same_transmissions_with_the_blind_prior(tmp_path):
    rng = np.random.default_rng(1)
    points = []
    for mode in ("analog", "digital"):
        for snr in SNRS:
            samples = 10 ** (-snr / 10) * rng.exponential(size=64)
            samples[0] = 1e6  # one deep fade: the mean NMSE would be 1e6 / 64
            metrics = {"accuracy": 0.6 + 0.015 * snr, "prior_accuracy": 0.669, "nmse": float(samples.mean()),
                       "sample_nmse": samples}
            if mode == "digital":
                metrics["ber"] = 0.1 * 10 ** (-snr / 10)
            points.append(({"link.mode": mode, "phy.snr_db": snr}, metrics))
    figures = dict(trace_figures(_write(tmp_path / "t.h5", points)))
    assert {"accuracy_vs_snr", "accuracy_vs_ber", "accuracy_vs_nmse"} <= set(figures)
    for name in ("accuracy_vs_snr", "accuracy_vs_nmse", "accuracy_vs_ber"):
        lines = figures[name].axes[0].get_lines()
        prior = [line for line in lines if "blind" in line.get_label()]
        assert len(prior) == 1 and list(prior[0].get_ydata()) == [0.669, 0.669]
    nmse = {line.get_label(): line for line in figures["accuracy_vs_nmse"].axes[0].get_lines()}
    for label in ("link.mode=analog", "link.mode=digital"):
        expected = sorted(10 * np.log10(np.median(m["sample_nmse"])) for p, m in points if p["link.mode"] in label)
        np.testing.assert_allclose(nmse[label].get_xdata(), expected)  # the median, not the fade-ridden mean
    ber = [line for line in figures["accuracy_vs_ber"].axes[0].get_lines() if "blind" not in line.get_label()]
    assert [line.get_label() for line in ber] == ["link.mode=digital"]  # analog points carry no BER


def test_training_curves_are_drawn_once_per_trained_model_smoothed_over_2_percent(tmp_path):
    steps = 200
    rng = np.random.default_rng(0)
    loss = {mode: np.linspace(3.0, 1.0 if mode == "analog" else 1.5, steps) + 0.1 * rng.standard_normal(steps)
            for mode in ("analog", "digital")}
    accuracy = {mode: (rng.random(steps) < np.linspace(0.2, 0.9, steps)).astype(float) for mode in loss}
    accuracy["analog"][7] = np.nan       # a step without an accuracy value is skipped, not propagated
    loss["digital"][50] = 130.0          # one deep-fade step does not lift its window
    points = [({"link.mode": mode, "phy.snr_db": snr},
               {"accuracy": 0.5, "train_task_loss": loss[mode], "train_task_accuracy": accuracy[mode]})
              for mode in loss for snr in (0.0, 10.0, 20.0)]  # three test SNRs share each trained model
    figures = dict(trace_figures(_write(tmp_path / "t.h5", points)))
    fig = figures["training_curves"]
    loss_ax, acc_ax = fig.axes
    assert [line.get_label() for line in loss_ax.get_lines()] == ["link.mode=analog", "link.mode=digital"]
    window = steps // 50
    for ax, series, statistic in ((loss_ax, loss, np.nanmedian), (acc_ax, accuracy, np.nanmean)):
        for line, mode in zip(ax.get_lines(), series, strict=True):
            x, y = line.get_data()
            assert list(x) == list(range(1, steps + 1))
            values = series[mode]
            expected = [statistic(values[max(0, i + 1 - window):i + 1]) for i in range(steps)]
            np.testing.assert_allclose(y, expected, rtol=1e-12)
    assert "Training accuracy" in acc_ax.get_ylabel() and acc_ax.get_xlabel() == "Optimizer step (task stage)"


def test_link_budget_sweep_is_plotted_vs_distance_and_vs_per_point_esno(tmp_path):
    points = [({"phy.link_budget.distance_m": d, "phy.link_budget.path_loss_model": m},
               {"ber": 1e-4 * d / 10, "bits": 10**6, "esno_db": 40.0 - 20 * np.log10(d) - (m == "uma_nlos") * 5})
              for m in ("uma_los", "uma_nlos") for d in (10.0, 100.0, 1000.0)]
    figures = dict(trace_figures(_write(tmp_path / "t.h5", points)))
    assert list(figures) == ["ber_vs_distance", "ber_vs_esno"]
    dist = figures["ber_vs_distance"].axes[0]
    assert dist.get_xlabel() == "Distance [m]" and dist.get_xscale() == "log"
    assert len(_curves(figures["ber_vs_distance"])) == 2
    assert "Es/N0" in figures["ber_vs_esno"].axes[0].get_xlabel()
    np.testing.assert_allclose(sorted(_curves(figures["ber_vs_esno"])[0].get_xdata()), [-20.0, 0.0, 20.0])


@pytest.mark.parametrize("param,extra,label", [
    ("phy.ebno_db", {}, "Eb/N0 [dB]"),
    ("phy.snr_db", {"snr_definition": "ebno"}, "Eb/N0 [dB]"),
    ("phy.snr_db", {"snr_definition": "esno"}, "Es/N0 [dB]"),
])
def test_snr_axis_says_which_snr(tmp_path, param, extra, label):
    path = _write(tmp_path / "t.h5", [({param: s}, {"ber": 0.1}) for s in SNRS], extra_attrs=extra)
    assert dict(trace_figures(path))["ber_vs_snr"].axes[0].get_xlabel() == label


def test_noiseless_point_does_not_remove_the_snr_axis(tmp_path):
    path = _write(tmp_path / "t.h5", [({"phy.snr_db": s}, {"ber": 0.1 / (1 + s)}) for s in (*SNRS, float("inf"))])
    curve = _curves(dict(trace_figures(path))["ber_vs_snr"])[0]
    assert list(curve.get_xdata()) == list(SNRS)  # the inf point is not drawn


def test_trace_without_complete_points_cannot_be_plotted(tmp_path):
    path = _write(tmp_path / "t.h5", [({"phy.snr_db": 0.0}, {"ber": 0.1})], incomplete=1)
    with pytest.raises(TraceError, match="no complete points"):
        plot_trace(path, tmp_path / "figs")


def test_ber_figure_draws_the_closed_form_for_awgn_and_rayleigh_with_perfect_csi_only(tmp_path):
    from tokenlink.phy.theory import ber_awgn, ber_rayleigh
    from tokenlink.runner import run

    scenario = {"name": "theory", "phy": {"modulation": "qpsk"}, "link": {"mode": "bits"},
                "run": {"batch_size": 8, "max_bits": 20_000, "min_bit_errors": 100},
                "sweep": {"grid": {"phy.channel.model": ["awgn", "rayleigh", "rician"],
                                   "phy.receiver.estimator": ["perfect", "ls"], "phy.snr_db": [0.0, 6.0]}}}
    result = run(scenario, tmp_path / "t.h5", progress=False, plots=False)
    ber = dict(trace_figures(result.trace_path))["ber_vs_snr"]
    lines = {line.get_label(): line for line in ber.axes[0].get_lines()}
    theory = sorted(label for label in lines if label.endswith("closed form"))
    assert theory == ["phy.channel.model=awgn, phy.receiver.estimator=perfect, closed form",
                      "phy.channel.model=rayleigh, phy.receiver.estimator=perfect, closed form"]
    for model, formula in (("awgn", ber_awgn), ("rayleigh", ber_rayleigh)):
        line = lines[f"phy.channel.model={model}, phy.receiver.estimator=perfect, closed form"]
        x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
        assert x[0] == 0.0 and x[-1] <= 6.0
        np.testing.assert_allclose(y, formula(x, 2))
        measured = [b for b in lines[f"phy.channel.model={model}, phy.receiver.estimator=perfect"].get_ydata()]
        assert y.min() >= min(measured) / 10  # drawn down to a decade below the lowest measured point only


def test_ber_closed_form_follows_the_number_of_receive_antennas(tmp_path):
    """Maximum-ratio combining: L-branch Rayleigh and the array gain over AWGN, per curve."""
    from tokenlink.phy.theory import ber_awgn, ber_rayleigh_mrc
    from tokenlink.runner import run

    scenario = {"name": "mrc", "phy": {"modulation": "qpsk"}, "link": {"mode": "bits"},
                "run": {"batch_size": 8, "max_bits": 20_000, "min_bit_errors": 100},
                "sweep": {"grid": {"phy.channel.model": ["awgn", "rayleigh"],
                                   "phy.base_station.num_rx_antennas": [1, 4], "phy.snr_db": [-3.0, 3.0]}}}
    ber = dict(trace_figures(run(scenario, tmp_path / "t.h5", progress=False, plots=False).trace_path))["ber_vs_snr"]
    lines = {line.get_label(): line for line in ber.axes[0].get_lines() if line.get_label().endswith("closed form")}
    assert len(lines) == 4
    for model in ("awgn", "rayleigh"):
        for num_rx in (1, 4):
            line = lines[f"phy.channel.model={model}, phy.base_station.num_rx_antennas={num_rx}, closed form"]
            x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
            expected = (ber_awgn(x + 10 * np.log10(num_rx), 2) if model == "awgn"
                        else ber_rayleigh_mrc(x, 2, num_rx))
            np.testing.assert_allclose(y, expected)


def test_mu_mimo_zf_curves_get_the_closed_form_of_nr_minus_k_plus_1_branches(tmp_path):
    from tokenlink.phy.theory import ber_rayleigh_mrc
    from tokenlink.runner import run

    scenario = {"name": "mu", "phy": {"modulation": "qpsk", "channel": {"model": "rayleigh"},
                                      "base_station": {"num_rx_antennas": 3}},
                "link": {"mode": "bits"}, "run": {"batch_size": 8, "max_bits": 20_000, "min_bit_errors": 100},
                "network": {"sharing": "mu_mimo", "users": [{}, {}]},
                "sweep": {"grid": {"phy.receiver.equalizer": ["zf", "lmmse"], "phy.snr_db": [0.0, 5.0]}}}
    ber = dict(trace_figures(run(scenario, tmp_path / "t.h5", progress=False, plots=False).trace_path))["ber_vs_snr"]
    lines = {line.get_label(): line for line in ber.axes[0].get_lines() if line.get_label().endswith("closed form")}
    assert list(lines) == ["phy.receiver.equalizer=zf, closed form"]  # LMMSE has none
    line = lines["phy.receiver.equalizer=zf, closed form"]
    x = np.asarray(line.get_xdata())
    np.testing.assert_allclose(line.get_ydata(), ber_rayleigh_mrc(x, 2, 3 - 2 + 1))


def test_swept_training_seeds_are_pooled_into_a_mean_curve_with_a_min_max_band(tmp_path):
    seeds, snrs = (1, 2, 3), (0.0, 10.0)
    acc = {(v, s, x): 0.5 + 0.01 * x + 0.02 * s + (0.1 if v == "full" else 0.0)
           for v in ("full", "no_align") for s in seeds for x in snrs}
    points = [({"variant": v, "semantic.train_seed": s, "phy.snr_db": x},
               {"accuracy": acc[v, s, x], "ber": 0.01 * s * (x < 10), "bits": 100_000}) for v, s, x in acc]
    figures = dict(trace_figures(_write(tmp_path / "t.h5", points)))
    ax = figures["accuracy_vs_snr"].axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"variant=full", "variant=no_align"}  # the seed splits no curve
    np.testing.assert_allclose(lines["variant=full"].get_ydata(),
                               [np.mean([acc["full", s, x] for s in seeds]) for x in snrs])
    assert len(ax.collections) == 2  # one band per curve
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    np.testing.assert_allclose([band.min(), band.max()], [acc["full", 1, 0.0], acc["full", 3, 10.0]])
    legend = ax.get_legend() or figures["accuracy_vs_snr"].legends[0]
    assert "min-max over 3 seeds" in " ".join(t.get_text() for t in legend.get_texts())
    ber = {line.get_label(): line for line in figures["ber_vs_snr"].axes[0].get_lines()}
    np.testing.assert_allclose(ber["variant=full"].get_ydata(), [0.02])  # mean of 0.01, 0.02, 0.03 at 0 dB
    zero = [line for line in figures["ber_vs_snr"].axes[0].get_lines() if line.get_label() == "_zero_errors"]
    assert zero and zero[0].get_ydata()[0] == pytest.approx(3.0 / 300_000)  # no errors in any seed: 3/(3 n)


def test_a_labelled_zip_combination_is_named_by_its_variant_alone(tmp_path):
    variants = {"full": (1, 0.1), "no_alignment": (0, 0.0)}
    points = [({"phy.snr_db": x, "variant": v, "semantic.align.epochs": e, "semantic.task.align_weight": w},
               {"accuracy": 0.5 + 0.01 * x + 0.1 * e}) for x in SNRS for v, (e, w) in variants.items()]
    figures = dict(trace_figures(_write(tmp_path / "t.h5", points)))
    labels = [line.get_label() for line in figures["accuracy_vs_snr"].axes[0].get_lines()]
    assert labels == ["variant=full", "variant=no_alignment"]
    # a training SNR that is one of a variant's settings draws no train x test heatmap
    points = [({"phy.snr_db": x, "variant": v, "semantic.train_snr_db": t}, {"accuracy": 0.5})
              for x in SNRS for v, t in (("link", 10.0), ("ideal", None))]
    names = dict(trace_figures(_write(tmp_path / "u.h5", points)))
    assert not any(name.startswith("accuracy_train_vs_test") for name in names)


def test_accuracy_per_realization_bins_every_question_by_its_own_link(tmp_path):
    rng = np.random.default_rng(3)
    points = []
    for snr in (0.0, 10.0, 20.0):
        nmse = 10 ** (-snr / 10) * rng.exponential(size=300)
        correct = (rng.random(300) < 1 / (1 + nmse)).astype(np.uint8)  # accuracy falls with the NMSE
        ber = np.where(rng.random(300) < 0.2, 0.0, nmse / 10)
        points.append(({"phy.snr_db": snr}, {"accuracy": float(correct.mean()), "sample_correct": correct,
                                              "sample_nmse": nmse, "sample_ber": ber, "ber": float(ber.mean())}))
    figures = dict(trace_figures(_write(tmp_path / "t.h5", points)))
    line = figures["accuracy_vs_sample_nmse"].axes[0].get_lines()[0]
    x, y = line.get_xdata(), line.get_ydata()
    assert len(x) == 15 and np.all(np.diff(x) > 0)  # 900 questions in 15 bins of 60, by NMSE [dB]
    nmse = np.concatenate([p[1]["sample_nmse"] for p in points])
    correct = np.concatenate([p[1]["sample_correct"] for p in points])
    lowest = np.argsort(nmse, kind="stable")[:60]
    assert y[0] == pytest.approx(correct[lowest].mean())
    assert x[0] == pytest.approx(np.median(10 * np.log10(nmse[lowest])))
    assert y[0] > y[-1] + 0.3
    ax = figures["accuracy_vs_sample_ber"].axes[0]
    assert ax.get_xscale() == "log"
    legend = ax.get_legend() or figures["accuracy_vs_sample_ber"].legends[0]
    assert "BER 0:" in " ".join(t.get_text() for t in legend.get_texts())
