"""The tokenlink command: the demo end to end (quick), and one-line errors."""

import csv
import json
import subprocess
import sys

import pytest

from tokenlink.cli import main


def test_demo_quick_writes_data_figures_and_provenance(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--output", str(out), "--seed", "3"]) == 0
    for name in ("ber_vs_snr.csv", "ber_vs_snr.png", "ber_vs_snr.pdf", "run.json"):
        assert (out / name).stat().st_size > 0, name
    rows = list(csv.DictReader((out / "ber_vs_snr.csv").open()))
    assert {(r["channel"], r["csi"]) for r in rows} == {
        (ch, rx) for ch in ("AWGN", "Rayleigh", "TDL-C") for rx in ("perfect CSI", "LS CSI")
    }
    assert all(0.0 <= float(r["ber"]) <= 0.5 for r in rows)
    info = json.loads((out / "run.json").read_text())
    assert info["seed"] == 3 and info["versions"]["sionna-no-rt"] == "2.2.0"
    assert {c["metadata"]["estimator"] for c in info["curves"]} == {"perfect", "ls"}
    assert (out / "ber_vs_snr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_is_reproducible_from_its_seed(tmp_path):
    for name in ("a", "b"):
        assert main(["demo", "--quick", "--output", str(tmp_path / name), "--seed", "5"]) == 0
    assert (tmp_path / "a" / "ber_vs_snr.csv").read_text() == (tmp_path / "b" / "ber_vs_snr.csv").read_text()


@pytest.mark.parametrize(
    "argv,message",
    [
        (["demo", "--seed", "-1"], "--seed must be >= 0"),
        (["demo", "--device", "tpu"], "device must be 'auto', 'cpu', 'cuda' or 'cuda:N'"),
        (["demo", "--bogus"], "unrecognized arguments: --bogus"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(argv, message, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tokenlink.cli", *argv], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_unwritable_output_gives_one_line_and_exit_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("I am a file, not a folder")
    proc = subprocess.run([sys.executable, "-m", "tokenlink.cli", "demo", "--quick", "--output", str(blocker / "x")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "tokenlink: error:" in proc.stderr
    assert blocker.read_text() == "I am a file, not a folder"
