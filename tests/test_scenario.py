"""Scenario files: schema defaults, sweep expansion, overrides, provenance,
SNR definitions, and one-line errors that name the file, line, field and
what is allowed."""

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from tokenlink import ScenarioError, load_scenario
from tokenlink.bridge import AnalogConfig, DigitalConfig, TokenLinkConfig
from tokenlink.cli import main
from tokenlink.phy import ChannelConfig, GridConfig, LinkBudget, PhyConfig, ebno_db_to_esno_db
from tokenlink.phy.grid import build_resource_grid
from tokenlink.scenario import Scenario, SweepPoint

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "scenarios").glob("*.y*ml"))

FIVE_LINES = """\
name: awgn_16qam
phy:
  snr_db: 10
sweep:
  grid: {phy.snr_db: [0, 5, 10, 15]}
"""


def _write(tmp_path: Path, text: str, name: str = "case.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ------------------------------------------------------------------ loading
def test_five_line_scenario_loads_with_every_default(tmp_path):
    s = load_scenario(_write(tmp_path, FIVE_LINES))
    assert s.name == "awgn_16qam" and s.description == ""
    assert s.phy.phy_config() == PhyConfig()
    assert (s.phy.snr_db, s.phy.snr_type, s.phy.link_budget) == (10.0, "es_no", LinkBudget())
    assert s.link.mode == "bits" and s.link.analog == AnalogConfig() and s.link.digital == DigitalConfig()
    assert (s.link.tokens.num_tokens, s.link.tokens.dim, s.link.tokens.distribution) == (64, 64, "gaussian")
    assert s.link.max_slots_per_frame is None
    run = s.run
    assert (run.seed, run.device, run.batch_size, run.max_bits, run.min_bit_errors, run.max_frames) == (
        1, "auto", 64, 1_000_000, 1000, 1000)
    assert run.max_rel_stderr is None and run.early_stop is True and run.output is None
    assert run.raw.arrays == () and run.raw.max_mb == 64.0
    assert [p.params for p in s.points()] == [{"phy.snr_db": v} for v in (0, 5, 10, 15)]


def test_empty_mapping_is_a_valid_one_point_scenario():
    s = load_scenario({})
    assert s == Scenario() and s.name == "scenario"
    (point,) = s.points()
    assert (point.index, point.key, point.params, point.scenario) == (0, "point_0000", {}, s)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_scenario_validates(path):
    scenario = load_scenario(path)
    assert scenario.points()


def test_every_shipped_scenario_validates():
    # Passes vacuously while scenarios/ ships no YAML; covers them once it does.
    for path in SHIPPED:
        assert load_scenario(path).points(), path


def test_docs_quickstart_is_five_lines_and_valid():
    docs = (ROOT / "docs" / "scenarios.md").read_text()
    quickstart = re.findall(r"```yaml\n(.*?)```", docs, re.S)[0]
    assert len(quickstart.strip().splitlines()) == 5
    assert len(load_scenario(yaml.safe_load(quickstart)).points()) == 4


def _leaf_fields(model):
    from tokenlink.common.introspect import leaf_fields

    return [path for path, _ in leaf_fields(model)]


def test_docs_reference_lists_every_field():
    docs = (ROOT / "docs" / "scenarios.md").read_text()
    fields = list(_leaf_fields(Scenario))
    assert len(fields) > 60
    missing = [f for f in fields if f"`{f}`" not in docs]
    assert missing == []


def test_yaml_exponent_numbers_are_numbers(tmp_path):
    s = load_scenario(_write(tmp_path, "run:\n  max_bits: 1e6\nphy:\n  channel:\n    delay_spread_s: 3e-7\n"))
    assert s.run.max_bits == 1_000_000 and s.phy.channel.delay_spread_s == pytest.approx(3e-7)


def test_name_defaults_to_the_file_stem(tmp_path):
    assert load_scenario(_write(tmp_path, "phy: {snr_db: 3}\n", "tdl_study.yaml")).name == "tdl_study"
    assert load_scenario(_write(tmp_path, "name: other\n", "tdl_study.yaml")).name == "other"
    assert load_scenario(_write(tmp_path, "phy: {snr_db: 3}\n", "my study.yaml")).name == "scenario"


def test_output_path_defaults_to_results_name_h5():
    assert load_scenario({"name": "abc"}).output_path() == Path("results/abc.h5")
    assert load_scenario({"run": {"output": "x/y.h5"}}).output_path() == Path("x/y.h5")


# ------------------------------------------------------------------- sweeps
def test_grid_is_a_cartesian_product_with_the_first_key_slowest():
    s = load_scenario({"sweep": {"grid": {"phy.channel.model": ["awgn", "tdl", "rayleigh"],
                                          "phy.snr_db": [0, 10]}}})
    points = s.points()
    assert [p.index for p in points] == list(range(6))
    assert [p.key for p in points] == [f"point_{i:04d}" for i in range(6)]
    assert [(p.params["phy.channel.model"], p.params["phy.snr_db"]) for p in points] == [
        ("awgn", 0), ("awgn", 10), ("tdl", 0), ("tdl", 10), ("rayleigh", 0), ("rayleigh", 10)]
    assert [list(p.params) for p in points] == [["phy.channel.model", "phy.snr_db"]] * 6
    assert [(p.scenario.phy.channel.model, p.scenario.phy.snr_db) for p in points] == [
        ("awgn", 0.0), ("awgn", 10.0), ("tdl", 0.0), ("tdl", 10.0), ("rayleigh", 0.0), ("rayleigh", 10.0)]
    assert s.sweep.num_points() == 6


def test_zip_lists_vary_together_and_fastest_after_the_grid():
    s = load_scenario({"sweep": {"grid": {"link.mode": ["analog", "digital"]},
                                 "zip": {"phy.snr_db": [0, 5, 10], "link.tokens.num_tokens": [8, 16, 32]}}})
    params = [p.params for p in s.points()]
    assert params == [
        {"link.mode": m, "phy.snr_db": snr, "link.tokens.num_tokens": n}
        for m in ("analog", "digital") for snr, n in ((0, 8), (5, 16), (10, 32))]
    assert [p.scenario.link.tokens.num_tokens for p in s.points()] == [8, 16, 32, 8, 16, 32]


def test_point_scenarios_are_validated_and_have_no_sweep():
    s = load_scenario({"phy": {"modulation": "qpsk"}, "sweep": {"grid": {"phy.grid.fft_size": [64, 128]}}})
    for point in s.points():
        assert isinstance(point, SweepPoint) and isinstance(point.scenario, Scenario)
        assert point.scenario.sweep.keys() == [] and len(point.scenario.points()) == 1
        assert point.scenario.phy.modulation == "qpsk"  # base values kept
    assert [p.scenario.phy.grid.fft_size for p in s.points()] == [64, 128]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.points()[0].index = 5  # frozen


def test_a_sweep_may_replace_a_whole_section():
    s = load_scenario({"sweep": {"grid": {"phy.channel": [{"model": "awgn"}, {"model": "tdl", "profile": "A"}]}}})
    assert [p.scenario.phy.channel for p in s.points()] == [ChannelConfig(), ChannelConfig(model="tdl", profile="A")]


def test_mixed_grid_may_sweep_a_field_only_some_points_use():
    s = load_scenario({"sweep": {"grid": {"link.mode": ["analog", "digital"],
                                          "link.digital.bits_per_value": [2, 4]}}})
    assert len(s.points()) == 4


# ---------------------------------------------------------------- overrides
def test_overrides_set_values_read_as_yaml(tmp_path):
    path = _write(tmp_path, FIVE_LINES)
    s = load_scenario(path, ["run.seed=3", "phy.channel.model=tdl", "link.mode=digital",
                             "run.early_stop=false", "run.output=null", "phy.grid.num_guard_carriers=[2, 3]"])
    assert s.run.seed == 3 and s.phy.channel.model == "tdl" and s.link.mode == "digital"
    assert s.run.early_stop is False and s.run.output is None and s.phy.grid.num_guard_carriers == (2, 3)
    assert s.overrides == ("run.seed=3", "phy.channel.model=tdl", "link.mode=digital", "run.early_stop=false",
                           "run.output=null", "phy.grid.num_guard_carriers=[2, 3]")
    assert all(p.scenario.phy.channel.model == "tdl" for p in s.points())


def test_later_overrides_win_and_sections_are_replaced():
    s = load_scenario({"phy": {"channel": {"model": "rician", "k_factor": 3}}},
                      ["run.seed=3", "run.seed=4", "phy.channel={model: tdl, profile: A}"])
    assert s.run.seed == 4 and s.phy.channel == ChannelConfig(model="tdl", profile="A")


def test_override_under_sweep_sets_one_sweep_entry(tmp_path):
    s = load_scenario(_write(tmp_path, FIVE_LINES), ["sweep.grid.phy.snr_db=[1, 2]",
                                                     "sweep.grid.phy.channel.model=[awgn, tdl]"])
    assert s.sweep.grid == {"phy.snr_db": [1, 2], "phy.channel.model": ["awgn", "tdl"]}
    assert len(s.points()) == 4
    assert len(load_scenario(_write(tmp_path, FIVE_LINES), ["sweep={}"]).points()) == 1


def test_override_of_a_swept_field_pins_it(tmp_path):
    s = load_scenario(_write(tmp_path, FIVE_LINES), ["phy.snr_db=7"])
    assert s.phy.snr_db == 7.0 and s.sweep.keys() == [] and len(s.points()) == 1


def test_overrides_and_sweeps_reach_one_item_of_a_list():
    net = {"link": {"mode": "bits"}, "network": {"users": [{"esno_db": 1.0}, {"esno_db": 2.0}]},
           "sweep": {"grid": {"network.users.1.esno_db": [3.0, 4.0]}}}
    swept = load_scenario(net)
    assert [[u.esno_db for u in p.scenario.network.users] for p in swept.points()] == [[1.0, 3.0], [1.0, 4.0]]
    s = load_scenario(net, ["network.users.0.esno_db=7", "network.users.1.esno_db=8"])
    assert [u.esno_db for u in s.network.users] == [7.0, 8.0] and len(s.points()) == 1  # the second pins it
    with pytest.raises(ScenarioError, match=r"network.users: has 2 entries, so --set network.users.2.esno_db=1 "
                                            r"cannot apply; allowed: an index 0..1"):
        load_scenario(net, ["network.users.2.esno_db=1"])
    with pytest.raises(ScenarioError, match=r"network.users has 2 entries, no index 5; allowed: an index 0..1"):
        load_scenario({**net, "sweep": {"grid": {"network.users.5.esno_db": [3.0]}}})


def test_overrides_apply_to_a_loaded_scenario_too():
    base = load_scenario({"sweep": {"grid": {"phy.snr_db": [0, 1]}}})
    s = load_scenario(base, ["run.seed=5", "sweep.grid.link.mode=[analog, digital]"])
    assert s.run.seed == 5 and len(s.points()) == 4 and base.run.seed == 1


def test_points_follow_model_copy_updates():
    s = load_scenario({"sweep": {"grid": {"phy.snr_db": [0, 1]}}})
    small = s.model_copy(update={"run": s.run.model_copy(update={"max_bits": 10})})
    assert [p.scenario.run.max_bits for p in small.points()] == [10, 10]


def test_overrides_do_not_mutate_a_dict_source():
    source = {"run": {"seed": 1}, "sweep": {"grid": {"phy.snr_db": [0, 1]}}}
    load_scenario(source, ["run.seed=9", "phy.snr_db=2"])
    assert source == {"run": {"seed": 1}, "sweep": {"grid": {"phy.snr_db": [0, 1]}}}


# --------------------------------------------------------------- provenance
def test_to_yaml_round_trips_to_an_equal_scenario(tmp_path):
    text = FIVE_LINES + "link:\n  mode: digital\n  digital: {clip: [-2, 2]}\nrun:\n  raw: {arrays: [llr]}\n"
    s = load_scenario(_write(tmp_path, text), ["phy.channel.model=tdl"])
    dumped = s.to_yaml()
    again = load_scenario(yaml.safe_load(dumped))
    assert again == s and again.to_yaml() == dumped and again.fingerprint() == s.fingerprint()
    assert hash(again) == hash(s)
    assert [p.params for p in again.points()] == [p.params for p in s.points()]
    assert yaml.safe_load(dumped)["sweep"] == {"grid": {"phy.snr_db": [0, 5, 10, 15]}, "zip": {}}


def test_fingerprint_ignores_description_and_output_only():
    base = load_scenario({"name": "a"})
    assert load_scenario({"name": "a", "description": "words", "run": {"output": "x.h5"}}).fingerprint() == \
        base.fingerprint()
    for changed in ({"run": {"seed": 2}}, {"phy": {"snr_db": 11}}, {"run": {"max_bits": 10}},
                    {"sweep": {"grid": {"phy.snr_db": [10]}}}):
        assert load_scenario({"name": "a", **changed}).fingerprint() != base.fingerprint(), changed
    assert re.fullmatch(r"[0-9a-f]{64}", base.fingerprint())


def test_source_text_is_kept_and_equality_ignores_where_a_scenario_came_from(tmp_path):
    path = _write(tmp_path, FIVE_LINES)
    from_file = load_scenario(path)
    assert from_file.source_text == FIVE_LINES and from_file.source_path == str(path)
    from_dict = load_scenario(yaml.safe_load(FIVE_LINES))
    assert from_dict.source_text is None and from_dict == from_file
    assert from_file != load_scenario(path, ["run.seed=2"])


# ---------------------------------------------------------------------- SNR
def test_esno_db_of_es_no_is_snr_db():
    assert load_scenario({"phy": {"snr_db": 7.5}}).esno_db() == 7.5


@pytest.mark.parametrize("modulation,bits", [("qpsk", 2), ("64qam", 6)])
def test_esno_db_of_eb_no_charges_pilots_and_cyclic_prefix(modulation, bits):
    phy = {"snr_db": 4.0, "snr_type": "eb_no", "modulation": modulation, "grid": {"fft_size": 64}}
    esno = load_scenario({"phy": phy}).esno_db()
    rg = build_resource_grid(GridConfig(fft_size=64), device="cpu")
    assert esno == pytest.approx(ebno_db_to_esno_db(4.0, bits, 1.0, rg), abs=1e-12)
    assert esno != pytest.approx(ebno_db_to_esno_db(4.0, bits), abs=1e-3)  # the overhead counts


def test_esno_db_of_link_budget_is_the_mean_budget_snr_and_ignores_snr_db():
    budget = {"distance_m": 250.0, "path_loss_model": "umi_nlos", "tx_power_dbm": 20.0}
    s = load_scenario({"phy": {"snr_type": "link_budget", "snr_db": -99, "link_budget": budget}})
    assert s.esno_db() == pytest.approx(LinkBudget(**budget).mean_snr_db())
    points = load_scenario({"phy": {"snr_type": "link_budget"},
                            "sweep": {"grid": {"phy.link_budget.distance_m": [50, 500]}}}).points()
    snrs = [p.scenario.esno_db() for p in points]
    assert snrs == pytest.approx([LinkBudget(distance_m=d).mean_snr_db() for d in (50, 500)]) and snrs[0] > snrs[1]


# -------------------------------------------------- configs for the runner
def test_phy_config_drops_the_snr_fields():
    s = load_scenario({"phy": {"modulation": "64qam", "channel": {"model": "tdl"}, "snr_db": 3,
                               "receiver": {"estimator": "ls"}}})
    assert s.phy_config() == PhyConfig(modulation="64qam", channel={"model": "tdl"}, receiver={"estimator": "ls"})
    assert type(s.phy_config()) is PhyConfig


def test_token_link_config_of_a_point():
    s = load_scenario({"link": {"mode": "digital", "digital": {"bits_per_value": 6}, "max_slots_per_frame": 4,
                                "analog": {"estimate": "mmse"}},
                       "phy": {"modulation": "qpsk"}, "sweep": {"grid": {"phy.snr_db": [2, 8]}}})
    cfg = s.points()[1].scenario.token_link_config()
    assert cfg == TokenLinkConfig(mode="digital", phy=PhyConfig(modulation="qpsk"),
                                  analog=AnalogConfig(estimate="mmse"), digital=DigitalConfig(bits_per_value=6),
                                  snr_db=8.0, max_slots_per_frame=4)


def test_link_modes_are_bits_and_the_token_link_modes():
    from typing import get_args

    from tokenlink.bridge.config import TOKEN_LINK_MODES
    from tokenlink.scenario import LINK_MODES, LinkSection

    assert TOKEN_LINK_MODES == ("analog", "digital")
    assert get_args(TokenLinkConfig.model_fields["mode"].annotation) == TOKEN_LINK_MODES
    assert LINK_MODES == ("bits", *TOKEN_LINK_MODES)
    assert get_args(LinkSection.model_fields["mode"].annotation) == LINK_MODES


def test_bits_mode_has_no_token_link_config():
    with pytest.raises(ValueError, match="link.mode"):
        load_scenario({}).token_link_config()


# ------------------------------------------------------------------- errors
# (YAML text, line, dotted field, fragment of the problem, fragment of what is allowed)
BAD_FILES = [
    ("phy:\n  snr_db: loud\n", 2, "phy.snr_db", "got 'loud'", "a number"),
    ("phyy:\n  snr_db: 1\n", 1, "phyy", "did you mean 'phy'?", "name, description, phy, link, run, sweep"),
    ("phy:\n  channel:\n    model: tdl\n    profle: A\n", 4, "phy.channel.profle",
     "did you mean 'profile'?", "model, profile, delay_spread_s"),
    ("name: x\nphy:\n  grid:\n    fft_sise: 64\n", 4, "phy.grid.fft_sise", "did you mean 'fft_size'?", "fft_size"),
    ("run:\n  raw:\n    array: [llr]\n", 3, "run.raw.array", "did you mean 'arrays'?", "arrays, max_mb"),
    ("sweep:\n  grid:\n    phy.snr_dB: [0, 5]\n", 3, "sweep.grid.phy.snr_dB", "did you mean 'snr_db'?", "snr_db"),
    ("sweep:\n  grids: {}\n", 2, "sweep.grids", "did you mean 'grid'?", "grid, zip"),
    ("phy:\n  channel:\n    model: tdl-x\n", 3, "phy.channel.model", "unknown value 'tdl-x'",
     "'awgn', 'rayleigh', 'rician', 'tdl', 'cdl'"),
    ("phy:\n  modulation: 32qam\n", 2, "phy.modulation", "unknown value '32qam'", "'bpsk', 'qpsk', '16qam'"),
    ("phy:\n  grid:\n    fft_size: 0\n", 3, "phy.grid.fft_size", "got 0", "an integer > 0"),
    ("link:\n  digital:\n    bits_per_value: 17\n", 3, "link.digital.bits_per_value", "got 17", "1..16"),
    ("run:\n  seed: 2\n  max_bits: -5\n", 3, "run.max_bits", "got -5", "an integer > 0"),
    ("run:\n  device: gpu\n", 2, "run.device", "got 'gpu'", "auto, cpu, cuda, cuda:N"),
    ("run:\n  early_stop: maybe\n", 2, "run.early_stop", "got 'maybe'", "true or false"),
    ("run:\n  raw:\n    arrays: [llr, h]\n", 3, "run.raw.arrays[1]", "unknown value 'h'", "'h_freq', 'tokens'"),
    ("phy:\n  grid:\n    num_guard_carriers: [4]\n", 3, "phy.grid.num_guard_carriers", "got [4]",
     "a list of 2 items"),
    ("phy: 5\n", 1, "phy", "got 5", "a mapping with keys grid, modulation"),
    ("name: my study\n", 1, "name", "got 'my study'", "letters, digits"),
    ("sweep:\n  grid:\n    phy.snr_db: []\n", 3, "sweep.grid.phy.snr_db", "empty list", "a non-empty list"),
    ("sweep:\n  grid:\n    phy.snr_db: -3\n", 3, "sweep.grid.phy.snr_db", "got -3", "a non-empty list"),
    ("sweep:\n  zip:\n    phy.snr_db: [0, 5, 10]\n    phy.channel.model: [awgn, tdl]\n", 4,
     "sweep.zip.phy.channel.model", "has 2 values", "equal length (3)"),
    ("sweep:\n  grid:\n    phy.snr_db:\n      - 0\n      - x\n", 5, "sweep.grid.phy.snr_db[1]", "got 'x'",
     "a number"),
    ("sweep:\n  grid:\n    phy.grid.fft_size: [76, 0]\n", 3, "sweep.grid.phy.grid.fft_size[1]", "got 0",
     "an integer > 0"),
    ("sweep:\n  grid:\n    phy.grid.fft_size: [76, 4]\n", 3, "sweep.grid.phy.grid.fft_size[1]",
     "point_0001 (phy.grid.fft_size=4) is invalid: phy.grid.cyclic_prefix_length", "<= fft_size (4)"),
    ("sweep:\n  grid:\n    phy.snr_db: [0]\n  zip:\n    phy.snr_db: [1]\n", 5, "sweep.zip.phy.snr_db",
     "also swept in sweep.grid", "not both"),
    ("sweep:\n  grid:\n    run.seed: [1, 2]\n", 3, "sweep.grid.run.seed", "cannot be swept", "run.seed"),
    ("sweep:\n  grid:\n    sweep.grid: [{}]\n", 3, "sweep.grid.sweep.grid", "cannot be swept", "except"),
    ("sweep:\n  grid:\n    phy.channel: [{model: tdl}]\n    phy.channel.model: [awgn]\n", 4,
     "sweep.grid.phy.channel.model", "overlaps", "do not contain one another"),
    ("phy:\n  snr_type: link_budget\nsweep:\n  grid:\n    phy.snr_db: [0, 10]\n", 5, "sweep.grid.phy.snr_db",
     "not used by any point", "phy.link_budget"),
    ("phy:\n  grid:\n    fft_size: 64\n    cyclic_prefix_length: 80\n", 4, "phy.grid.cyclic_prefix_length",
     "got 80", "<= fft_size (64)"),
    ("phy:\n  snr_type: link_budget\n  link_budget:\n    path_loss_model: umi_los\n    distance_m: 5\n", 5,
     "phy.link_budget.distance_m", "got 5", "10..5000 m"),
    # not in the file: the line of the closest parent that is (phy)
    ("phy:\n  snr_type: link_budget\n  grid:\n    fft_size: 64\n", 1, "phy.link_budget.bandwidth_hz",
     "grid occupies 1.92e+06 Hz", "1920000.0"),
    ("link:\n  mode: analog\nphy:\n  snr_type: eb_no\n", 4, "phy.snr_type", "needs bits", "'es_no' or 'link_budget'"),
    ("link:\n  mode: digital\n  tokens: {dim: 10}\n  digital:\n    quantizer: vector\n    subvector_dim: 4\n", 6,
     "link.digital.subvector_dim", "does not divide", "1, 2, 5, 10"),
    ("phy:\n  snr_db: 1\n  snr_db: 2\n", 3, "phy.snr_db", "duplicate key", "once"),
    ("sweep:\n  grid:\n    phy.channel: &a [*a]\n", 3, "sweep.grid.phy.channel[0]", "referring to itself",
     "plain YAML values"),
]


@pytest.mark.parametrize("text,line,field,problem,allowed", BAD_FILES, ids=[c[2] + f":{c[1]}" for c in BAD_FILES])
def test_malformed_scenario_gives_one_line_with_file_line_field_and_allowed(tmp_path, text, line, field, problem,
                                                                            allowed):
    path = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as e:
        load_scenario(path)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}:{line}: {field}: "), msg
    assert problem in msg and "; allowed: " in msg and allowed in msg.split("; allowed: ", 1)[1], msg
    assert (e.value.file, e.value.line, e.value.field) == (str(path), line, field)


BAD_YAML = [
    ("phy:\n\tsnr_db: 5\n", 2, "found character '\\t'", "spaces for indentation"),
    ("phy:\n  snr_db: 5\n channel: x\n", 3, "YAML syntax error", "2-space indentation"),
    ("phy:\n  snr_db: [0, 5\nrun:\n  seed: 1\n", 3, "flow sequence at line 2", "[a, b] lists"),
    ("# study\n\n- phy\n- run\n", 3, "the top level is a list, not a mapping",
     "name, description, phy, link, run, sweep"),
    ("just words\n", 1, "the top level is a str, not a mapping", "name, description, phy"),
    ("name: x\nrun: !!python/object/apply:os.system [ls]\n", 2, "YAML error", "!!python"),
]


@pytest.mark.parametrize("text,line,problem,allowed", BAD_YAML, ids=[f"yaml{i}" for i in range(len(BAD_YAML))])
def test_bad_yaml_gives_one_line_with_its_line_number(tmp_path, text, line, problem, allowed):
    path = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as e:
        load_scenario(path)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{path}:{line}: "), msg
    assert problem in msg and allowed in msg.split("; allowed: ", 1)[1], msg


@pytest.mark.parametrize("content,problem", [
    ("", "empty scenario file"),
    ("# a comment and nothing else\n", "empty scenario file"),
    (b"\xff\xfe\x00x", "not UTF-8 text"),
])
def test_empty_or_binary_file_is_rejected(tmp_path, content, problem):
    path = tmp_path / "case.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ScenarioError) as e:
        load_scenario(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: {problem}") and "; allowed: a " in msg and "\n" not in msg, msg


def test_missing_file_and_directory_are_rejected(tmp_path):
    with pytest.raises(ScenarioError, match=r"^.*nope\.yaml: no such file; allowed: the path of an existing"):
        load_scenario(tmp_path / "nope.yaml")
    with pytest.raises(ScenarioError) as e:
        load_scenario(tmp_path)
    assert str(e.value) == (f"{tmp_path}: is a directory, not a file; allowed: a readable UTF-8 YAML scenario "
                            "file, e.g. scenarios/<name>.yaml")


@pytest.mark.parametrize("override,start,allowed", [
    ("phy.snr_db", "--set: bad override 'phy.snr_db'", "--set dotted.key=value"),
    ("=5", "--set: bad override '=5'", "--set dotted.key=value"),
    ("phy..snr_db=5", "--set: bad override", "--set dotted.key=value"),
    ("phy.snr_dB=5", "--set phy.snr_dB=5: phy.snr_dB: unknown field 'snr_dB' in phy, did you mean 'snr_db'?",
     "snr_type"),
    ("phy.snr_db.x=5", "--set phy.snr_db.x=5: phy.snr_db.x: phy.snr_db is a value", "a dotted path"),
    ("phy.snr_db=[0, 5", "--set phy.snr_db=[0, 5: phy.snr_db: value is not valid YAML", "a YAML value"),
    ("phy.snr_db=loud", "--set phy.snr_db=loud: phy.snr_db: got 'loud'", "a number"),
    ("run.seed=-1", "--set run.seed=-1: run.seed: got -1", "an integer >= 0"),
    ("sweep.grid.phy.snr_db=[]", "--set sweep.grid.phy.snr_db=[]: sweep.grid.phy.snr_db: empty list",
     "a non-empty list"),
    ("sweep.grid.phy.snr_db=[0, x]", "--set sweep.grid.phy.snr_db=[0, x]: sweep.grid.phy.snr_db[1]: got 'x'",
     "a number"),
    ("phy.channel.model=tdl", "--set phy.channel.model=tdl: sweep.grid.phy.channel: is swept",
     "--set sweep.grid.phy.channel=[...]"),
])
def test_bad_override_gives_one_line_naming_it(override, start, allowed):
    source = {"sweep": {"grid": {"phy.channel": [{"model": "awgn"}]}}}
    with pytest.raises(ScenarioError) as e:
        load_scenario(source, [override])
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(start), msg
    assert allowed in msg.split("; allowed: ", 1)[1], msg


def test_error_from_a_dict_source_has_no_file_prefix():
    with pytest.raises(ScenarioError) as e:
        load_scenario({"phy": {"grid": {"fft_size": -1}}})
    assert str(e.value) == "phy.grid.fft_size: got -1; allowed: an integer > 0"


def test_the_first_error_in_the_file_is_reported(tmp_path):
    path = _write(tmp_path, "run:\n  seed: -1\nphy:\n  snr_db: x\n")  # pydantic checks phy first
    with pytest.raises(ScenarioError, match=rf"^{re.escape(str(path))}:2: run.seed: "):
        load_scenario(path)


def test_scenario_error_is_a_value_error():
    assert issubclass(ScenarioError, ValueError)


# ---------------------------------------------------------------------- CLI
def test_cli_validate_prints_the_resolved_scenario_and_a_summary(tmp_path, capsys):
    path = _write(tmp_path, FIVE_LINES)
    assert main(["validate", str(path), "--set", "phy.channel.model=tdl",
                 "--set", "sweep.grid.link.mode=[bits, digital]"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert load_scenario(yaml.safe_load(out)) == load_scenario(
        path, ["phy.channel.model=tdl", "sweep.grid.link.mode=[bits, digital]"])
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("# valid: 8 sweep points; swept: phy.snr_db x4 (grid), link.mode x2 (grid)")
    assert "results/awgn_16qam.h5" in summary


def test_cli_validate_without_sweep_says_one_point(tmp_path, capsys):
    assert main(["validate", str(_write(tmp_path, "name: one\n"))]) == 0
    assert "# valid: 1 point (no sweep)" in capsys.readouterr().out


@pytest.mark.parametrize("case", [0, 2, 5, 7, 9, 13, 20, 21, 31])
def test_cli_validate_bad_file_exits_2_with_one_line(tmp_path, capsys, case):
    text, line, field, _, _ = BAD_FILES[case]
    path = _write(tmp_path, text)
    assert main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith(f"tokenlink: error: {path}:{line}: {field}: "), err


@pytest.mark.parametrize("make,argv_tail,fragment", [
    (lambda p: p / "nope.yaml", [], "no such file"),
    (lambda p: p, [], "is a directory"),
    (lambda p: _write(p, "phy:\n\tsnr_db: 5\n"), [], "found character"),
    (lambda p: _write(p, ""), [], "empty scenario file"),
    (lambda p: _write(p, "name: x\n"), ["--set", "phy.snr_db"], "bad override"),
    (lambda p: _write(p, "name: x\n"), ["--set", "link.mode=carrier_pigeon"], "unknown value 'carrier_pigeon'"),
])
def test_cli_validate_bad_input_exits_2_with_one_line(tmp_path, capsys, make, argv_tail, fragment):
    assert main(["validate", str(make(tmp_path)), *argv_tail]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("tokenlink: error: ") and fragment in err, err


def test_cli_validate_help_explains_with_an_example(capsys):
    with pytest.raises(SystemExit) as e:
        main(["validate", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--set KEY=VALUE" in out and "tokenlink validate scenarios/" in out and "docs/scenarios.md" in out
