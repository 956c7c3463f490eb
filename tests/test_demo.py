"""The demo's claim at smoke size: the shipped demo scenario (scenarios/demo.yaml), with a
short training, answers clearly better than a blind model at high SNR, over both the analog
and the digital link, and worse at low SNR. About 2 minutes on 2 cores (measured with seed 2:
0.845 / 0.848 analog / digital at 20 dB, 0.70 / 0.68 at -10 dB, blind model 0.65)."""

import numpy as np

from tokenlink import load_scenario
from tokenlink.cli import shipped_scenario
from tokenlink.runner import run
from tokenlink.trace import read_trace

#: The demo's model and links, a training budget of seconds, two test SNRs.
SMOKE_SIZE = [
    "semantic.test_questions=400", "semantic.encoder.pretrain_epochs=2",
    "semantic.align.max_steps=20", "semantic.task.max_steps=250", "semantic.task.warmup_steps=10",
    "semantic.channel_bank_size=512", "sweep.grid.phy.snr_db=[-10, 20]",
]


def test_demo_model_beats_the_blind_prior_at_high_snr_and_falls_at_low_snr(tmp_path):
    scenario = load_scenario(shipped_scenario("demo.yaml"), SMOKE_SIZE)
    trace = read_trace(run(scenario, tmp_path / "demo.h5", progress=False, plots=False).trace_path)
    m = {(p.params["link.mode"], p.params["phy.snr_db"]): p.metrics for p in trace.points}
    assert sorted(m) == [("analog", -10), ("analog", 20), ("digital", -10), ("digital", 20)]
    prior = m["analog", 20]["prior_accuracy"]
    assert all(np.isclose(v["prior_accuracy"], prior) for v in m.values())  # one test set, one blind model
    for mode in ("analog", "digital"):
        high, low = m[mode, 20], m[mode, -10]
        assert high["accuracy"] > prior + 0.1, (mode, high["accuracy"], prior)
        # colour questions can only be answered from the tokens that crossed the link
        assert high["accuracy_color"] > high["prior_accuracy_color"] + 0.5, (mode, high["accuracy_color"])
        assert low["accuracy"] < high["accuracy"] - 0.05, (mode, low["accuracy"], high["accuracy"])
    assert m["digital", -10]["ber"] > 0.1 > m["digital", 20]["ber"]
