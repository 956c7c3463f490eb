"""Lazy sweep points: built when asked for, equal to validating every point
on its own, and validated at load time without keeping them (a 100k-point
sweep), as strictly as validating each point from scratch."""

import copy
import itertools

import pytest

from tokenlink import ScenarioError, load_scenario
from tokenlink.phy import ChannelConfig
from tokenlink.scenario import Scenario, SweepPoint, SweepPoints


def _eager_points(scenario: Scenario) -> list[tuple]:
    """``(index, key, params, scenario)`` of every point, each validated from
    its whole data (the expansion as it was before points became lazy)."""
    sweep = scenario.sweep
    base = scenario.model_dump(mode="python", exclude={"sweep"})
    grid_keys, zip_keys = list(sweep.grid), list(sweep.zip)
    num_zip = len(sweep.zip[zip_keys[0]]) if zip_keys else 1
    out = []
    for index, combo in enumerate(itertools.product(*(range(len(sweep.grid[k])) for k in grid_keys),
                                                    range(num_zip))):
        params = {k: sweep.grid[k][i] for k, i in zip(grid_keys, combo[:-1], strict=True)}
        params.update({k: sweep.zip[k][combo[-1]] for k in zip_keys})
        data = copy.deepcopy(base)
        for name, value in params.items():
            *parents, last = name.split(".")
            node = data
            for part in parents:
                node = node[part]
            node[last] = copy.deepcopy(value)
        out.append((index, f"point_{index:04d}", params, Scenario.model_validate(data)))
    return out


def _assert_lazy_equals_eager(scenario: Scenario) -> None:
    points = scenario.points()
    eager = _eager_points(scenario)
    assert len(points) == len(eager) == scenario.num_points()
    assert list(points.keys()) == [key for _, key, _, _ in eager]
    for point, (index, key, params, expected) in zip(points, eager, strict=True):
        assert (point.index, point.key, point.params) == (index, key, params)
        assert list(point.params) == list(params)
        assert point.scenario == expected and point.scenario.to_yaml() == expected.to_yaml()
        for section in ("phy", "link", "run", "semantic"):
            assert getattr(point.scenario, section) == getattr(expected, section), (key, section)
            assert type(getattr(point.scenario, section)) is type(getattr(expected, section))


def test_lazy_points_equal_eager_ones_for_a_mixed_grid_and_zip_sweep():
    s = load_scenario({
        "phy": {"modulation": "qpsk"},
        "sweep": {
            "grid": {"link.mode": ["analog", "digital"],
                     "phy.channel": [{"model": "awgn"}, {"model": "tdl", "profile": "A"}],
                     "phy.receiver.estimator": ["perfect", "ls"]},
            "zip": {"phy.snr_db": [0, 5, 10], "link.digital.bits_per_value": [2, 4, 6],
                    "phy.grid.fft_size": [64, 76, 128], "run.max_frames": [10, 20, 30]},
        },
    })
    assert s.num_points() == 24
    _assert_lazy_equals_eager(s)


def test_lazy_points_equal_eager_ones_with_a_semantic_section_and_a_dict_field():
    s = load_scenario({
        "link": {"mode": "analog"},
        "semantic": {"dataset": "easy_vqa", "num_tokens": 8},
        "sweep": {"grid": {"semantic.num_tokens": [4, 8], "semantic.task.epochs": [1, 2],
                           "semantic.dataset_options.extra": [1, "two"], "semantic.train_snr_db": [[0, 20], 5, None]},
                  "zip": {"phy.snr_db": [0, 10]}},
    })
    _assert_lazy_equals_eager(s)
    assert {p.scenario.semantic.dataset_options["extra"] for p in s.points()} == {1, "two"}


def test_points_are_a_lazy_sequence():
    s = load_scenario({"sweep": {"grid": {"phy.snr_db": [0, 1, 2, 3]}, "zip": {"phy.channel.model": ["awgn", "tdl"]}}})
    points = s.points()
    assert isinstance(points, SweepPoints) and len(points) == 8 and bool(points)
    assert [p.key for p in points[2:5]] == ["point_0002", "point_0003", "point_0004"]
    assert points[-1].key == "point_0007" and points[-1].params == {"phy.snr_db": 3, "phy.channel.model": "tdl"}
    assert points[-1].scenario.phy.channel.model == "tdl" and points[-1].scenario.phy.snr_db == 3.0
    picked = points.select([5, 1])
    assert [p.index for p in picked] == [5, 1] and list(picked.keys()) == ["point_0005", "point_0001"]
    with pytest.raises(IndexError):
        points[8]
    (single,) = load_scenario({}).points()
    assert isinstance(single, SweepPoint) and single.key == "point_0000"


def test_a_100k_point_sweep_validates_and_counts_its_points():
    s = load_scenario({
        "link": {"mode": "digital"},
        "sweep": {"grid": {"phy.snr_db": [i / 10 for i in range(250)],
                           "phy.channel.model": ["awgn", "rayleigh", "tdl", "cdl"],
                           "link.mode": ["analog", "digital"],
                           "link.digital.bits_per_value": [2, 4, 6, 8, 10]},
                  "zip": {"phy.grid.fft_size": [76, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768],
                          "link.tokens.num_tokens": [8, 16, 24, 32, 40, 48, 56, 64, 72, 80]}},
    })
    assert s.num_points() == 100_000 and len(s.points()) == 100_000
    last = s.points()[99_999]
    assert last.key == "point_99999"
    assert last.params == {"phy.snr_db": 24.9, "phy.channel.model": "cdl", "link.mode": "digital",
                           "link.digital.bits_per_value": 10, "phy.grid.fft_size": 32768,
                           "link.tokens.num_tokens": 80}
    assert (last.scenario.phy.grid.fft_size, last.scenario.link.digital.bits_per_value) == (32768, 10)


def test_an_invalid_point_deep_in_a_large_sweep_is_reported_with_its_sweep_entry():
    sizes = list(range(100, 1099)) + [4]  # the last FFT size is shorter than the cyclic prefix (6)
    source = {"link": {"mode": "analog"},
              "sweep": {"grid": {"phy.grid.fft_size": sizes, "link.tokens.num_tokens": list(range(1, 101))}}}
    with pytest.raises(ScenarioError) as e:
        load_scenario(source)
    assert str(e.value) == (
        "sweep.grid.phy.grid.fft_size[999]: point_99900 (phy.grid.fft_size=4, link.tokens.num_tokens=1) is "
        "invalid: phy.grid.cyclic_prefix_length: got 6; allowed: <= fft_size (4)")
    source["sweep"]["grid"]["link.tokens.num_tokens"][-1] = 0  # a bad value of the fastest entry comes first
    with pytest.raises(ScenarioError) as e:
        load_scenario(source)
    assert str(e.value) == "sweep.grid.link.tokens.num_tokens[99]: got 0; allowed: an integer > 0"


def test_a_cross_field_rule_is_checked_on_sections_validated_for_other_points():
    # phy with eb_no and link with analog are each valid (and validated once);
    # only their combination, point 3, breaks the scenario's rule
    with pytest.raises(ScenarioError) as e:
        load_scenario({"sweep": {"grid": {"phy.snr_type": ["es_no", "eb_no"], "link.mode": ["digital", "analog"]}}})
    assert str(e.value) == ("sweep.grid.phy.snr_type[1]: 'eb_no' needs bits, and link.mode 'analog' sends none; "
                            "allowed: 'es_no' or 'link_budget' with link.mode 'analog'")


def test_a_swept_section_that_is_not_a_mapping_is_reported_as_before():
    with pytest.raises(ScenarioError) as e:
        load_scenario({"sweep": {"grid": {"phy.channel": [{"model": "awgn"}, 5]}}})
    assert str(e.value) == "sweep.grid.phy.channel[1]: got 5; allowed: a mapping with keys " + ", ".join(
        ChannelConfig.model_fields)


def test_sweeping_a_field_of_a_missing_section_is_a_one_line_error():
    with pytest.raises(ScenarioError) as e:
        load_scenario({"link": {"mode": "analog"}, "sweep": {"grid": {"semantic.num_tokens": [4, 8]}}})
    assert str(e.value) == ("sweep.grid.semantic.num_tokens: sets a field inside semantic, which is null in the "
                            "scenario; allowed: a semantic section in the scenario, or sweep semantic as a whole")


def test_the_unused_field_check_sees_every_point():
    # link.digital is used only by the last point (the zip makes it digital)
    s = load_scenario({"sweep": {"zip": {"link.mode": ["bits", "analog", "digital"],
                                         "link.digital.bits_per_value": [2, 4, 6]}}})
    assert [p.scenario.link.mode for p in s.points()] == ["bits", "analog", "digital"]
    with pytest.raises(ScenarioError, match=r"sweep.zip.link.digital.bits_per_value: is not used by any point "
                                            r"\(link.mode is 'bits'\)"):
        load_scenario({"sweep": {"zip": {"link.mode": ["bits", "analog"], "link.digital.bits_per_value": [2, 4]}}})


@pytest.mark.parametrize("scenario, field, why", [
    ({"link": {"mode": "digital"}}, "run.max_bits", "link.mode is 'digital': token points stop at run.max_frames"),
    ({"link": {"mode": "analog"}}, "run.min_bit_errors", "analog tokens carry no bits"),
    ({"link": {"mode": "analog"}}, "run.early_stop", "analog points stop early only on the precision"),
    ({"run": {"early_stop": False}}, "run.min_bit_errors", "run.early_stop is false"),
    ({"phy": {"snr_type": "link_budget", "link_budget": {"shadowing": "off"}}}, "phy.link_budget.shadowing_std_db",
     "phy.link_budget.shadowing is 'off'"),
    ({"phy": {"snr_type": "link_budget", "link_budget": {"shadowing_std_db": 0.0}}}, "phy.link_budget.shadowing",
     "the shadowing standard deviation is 0"),
    ({"phy": {"snr_type": "link_budget", "link_budget": {"path_loss_model": "free_space"}}},
     "phy.link_budget.h_ut_m", "free_space path loss with h_bs_m null"),
    ({"link": {"mode": "analog"}, "semantic": {}}, "run.max_frames", "a semantic point evaluates"),
    ({"link": {"mode": "analog"}, "semantic": {"checkpoint": "/ckpt"}}, "semantic.task.lr",
     "semantic.checkpoint names a trained model"),
])
def test_a_sweep_over_a_field_the_points_do_not_use_is_refused_in_one_line(scenario, field, why):
    values = {"run.max_bits": [10, 20], "run.min_bit_errors": [10, 20], "run.early_stop": [True, False],
              "phy.link_budget.shadowing_std_db": [2.0, 4.0], "phy.link_budget.shadowing": ["per_frame", "off"],
              "phy.link_budget.h_ut_m": [1.5, 3.0], "run.max_frames": [10, 20], "semantic.task.lr": [0.1, 0.2]}
    with pytest.raises(ScenarioError) as err:
        load_scenario({**scenario, "sweep": {"grid": {field: values[field]}}})
    message = str(err.value)
    assert message.startswith(f"sweep.grid.{field}: is not used by any point (") and why in message
    assert "every point would be the same" in message and "\n" not in message


def test_the_options_of_the_mode_a_semantic_model_trains_with_are_used():
    trained_analog = {"link": {"mode": "digital"}, "semantic": {"train_link_mode": "analog"}}
    load_scenario({**trained_analog, "sweep": {"grid": {"link.analog.power_normalization": ["token", "frame"]}}})
    with pytest.raises(ScenarioError, match="link.analog.power_normalization: is not used by any point"):
        load_scenario({"link": {"mode": "digital"}, "semantic": {},
                       "sweep": {"grid": {"link.analog.power_normalization": ["token", "frame"]}}})


def test_labels_name_the_zip_combinations_as_the_variant_parameter():
    s = load_scenario({"phy": {"modulation": "qpsk"}, "sweep": {
        "grid": {"phy.snr_db": [0, 10]},
        "zip": {"link.mode": ["analog", "digital"], "link.digital.bits_per_value": [2, 4]},
        "labels": ["analog", "digital_4bit"]}})
    points = list(s.points())
    assert [p.params for p in points] == [
        {"phy.snr_db": snr, "variant": name, "link.mode": mode, "link.digital.bits_per_value": bits}
        for snr in (0, 10) for name, mode, bits in (("analog", "analog", 2), ("digital_4bit", "digital", 4))]
    assert points[3].scenario.link.digital.bits_per_value == 4
    # pinning the last zip field leaves nothing to name: the labels go with it
    pinned = load_scenario({"sweep": {"zip": {"phy.snr_db": [0, 5]}, "labels": ["a", "b"]}}, ["phy.snr_db=3"])
    assert pinned.num_points() == 1 and pinned.sweep.labels is None


@pytest.mark.parametrize("sweep, message", [
    ({"zip": {"phy.snr_db": [0, 5]}, "labels": ["a"]},
     "sweep.labels: has 1 names for 2 zip combinations; allowed: one name per zip combination (2)"),
    ({"zip": {"phy.snr_db": [0, 5]}, "labels": ["a", "a"]},
     "sweep.labels: name 'a' is empty or repeated; allowed: distinct non-empty names"),
    ({"grid": {"phy.snr_db": [0, 5]}, "labels": ["a", "b"]},
     "sweep.labels: names zip combinations, but sweep.zip is empty; allowed: labels only with sweep.zip lists "
     "(one name per combination)"),
])
def test_bad_labels_are_one_line_errors(sweep, message):
    with pytest.raises(ScenarioError) as e:
        load_scenario({"sweep": sweep})
    assert str(e.value) == message
