"""tokenlink.common.errors: one did-you-mean, one pydantic-error explanation
(over any root model) and one one-line text for every layer."""

import subprocess
import sys

import pytest
from pydantic import ValidationError

from tokenlink import ScenarioError, load_scenario
from tokenlink.common.errors import closest_choice, did_you_mean, dotted, format_validation_error, one_line, show
from tokenlink.phy.config import PhyConfig
from tokenlink.phy.config import format_validation_error as phy_format_validation_error


def _validation_error(**fields) -> ValidationError:
    with pytest.raises(ValidationError) as e:
        PhyConfig(**fields)
    return e.value


def test_did_you_mean_suggests_the_closest_choice_or_nothing():
    assert did_you_mean("fft_sise", ["fft_size", "dc_null"]) == ", did you mean 'fft_size'?"
    assert did_you_mean("TDL", ["awgn", "tdl"]) == ", did you mean 'tdl'?"  # case-insensitive match
    assert did_you_mean("banana", ["awgn", "tdl"]) == ""
    assert closest_choice("easy_vq", ["easy_vqa", "synav"], cutoff=0.5) == "easy_vqa"
    assert closest_choice("zzz", ["easy_vqa"]) is None


def test_show_and_dotted_speak_yaml():
    assert [show(None), show(True), show(float("inf")), show("x")] == ["null", "true", ".inf", "'x'"]
    assert show("a" * 100).endswith("...") and len(show("a" * 100)) == 60
    assert dotted(("phy", "grid", "num_guard_carriers", 1)) == "phy.grid.num_guard_carriers[1]"


def test_phy_config_keeps_its_formatter_name_and_it_is_the_common_one():
    assert phy_format_validation_error is format_validation_error
    assert format_validation_error(_validation_error(grid={"fft_sise": 64})) == "grid.fft_sise: unknown field"


@pytest.mark.parametrize("phy", [
    {"grid": {"fft_sise": 64}},
    {"grid": {"fft_size": 64, "cyclic_prefix_length": 80}},
    {"modulation": "32qam"},
    {"grid": {"num_guard_carriers": [4]}},
    {"channel": {"model": "tdl-x"}},
    {"grid": {"fft_size": 0}},
])
def test_a_phy_error_reads_the_same_from_phy_config_and_from_a_scenario(phy):
    from_phy = format_validation_error(_validation_error(**phy), prefix="phy", root=PhyConfig)
    with pytest.raises(ScenarioError) as e:
        load_scenario({"phy": phy})
    field, rest = from_phy.split(": ", 1)
    assert str(e.value) == from_phy
    assert e.value.field == field and "; allowed: " in rest


def test_one_line_folds_any_error_into_one_line():
    assert one_line(ValueError("a\n  b")) == "a b"
    assert one_line(ValueError()) == "ValueError"
    assert one_line(FileNotFoundError(2, "No such file or directory", "x.h5")) == "No such file or directory: x.h5"
    assert one_line(_validation_error(grid={"fft_size": 0})) == "grid.fft_size: Input should be greater than 0 (got 0)"


def test_common_imports_nothing_else_of_tokenlink_nor_torch():
    code = ("import sys, tokenlink.common.errors, tokenlink.common.introspect; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tokenlink', 'torch', 'sionna')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['tokenlink', 'tokenlink.common', 'tokenlink.common.errors', 'tokenlink.common.introspect']"
