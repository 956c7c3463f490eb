"""Paper A's public-code channel (real AWGN on per-sample normalized embeddings) as a training channel."""

from __future__ import annotations

import pytest
import torch

from tokenlink import load_scenario
from tokenlink.bridge import EmbeddingAWGN
from tokenlink.phy import set_seed
from tokenlink.scenario import ScenarioError
from tokenlink.semantic_run import training_key
from tokenlink.trace import read_trace


@pytest.mark.parametrize("snr_db", [-5.0, 3.0, 12.0])
def test_the_noise_power_per_sample_is_the_sample_power_over_the_snr(snr_db):
    set_seed(4)
    x = torch.randn(3000, 4, 10, dtype=torch.float64) * torch.linspace(0.1, 10.0, 3000, dtype=torch.float64)[:, None, None]
    channel = EmbeddingAWGN(snr_db).eval()
    noise = channel(x) - x
    ratio = noise.square().mean(dim=(1, 2)) / x.square().mean(dim=(1, 2))  # per sample: 40 values
    expected = 10 ** (-snr_db / 10)
    # mean over 3000 samples of a chi-square(40)/40 ratio: sigma = expected * sqrt(2/40) / sqrt(3000)
    assert abs(float(ratio.mean()) - expected) < 4 * expected * (2 / 40) ** 0.5 / 3000 ** 0.5
    # the SNR is per sample: scaling one sample scales its noise (the rms is measured per sample)
    assert float(ratio[:1500].mean()) == pytest.approx(float(ratio[1500:].mean()), rel=0.05)


def test_training_draws_the_snr_per_sample_in_its_range_and_evaluation_uses_its_middle():
    set_seed(1)
    channel = EmbeddingAWGN((0.0, 20.0))
    drawn = channel.train().draw_snr_db(20000, "cpu")
    assert 0.0 <= float(drawn.min()) and float(drawn.max()) <= 20.0
    assert float(drawn.mean()) == pytest.approx(10.0, abs=0.15) and float(drawn.std()) == pytest.approx(
        20 / 12 ** 0.5, rel=0.03)
    assert torch.equal(channel.eval().draw_snr_db(3, "cpu"), torch.full([3], 10.0))
    x = torch.randn(2, 3, 5)
    assert torch.equal(channel(x, float("inf")), x)  # noiseless
    assert channel.frame_size(16, 384) == {"mode": "analog", "channel_uses": 16 * 192, "num_slots": None,
                                           "num_bits": None}
    with pytest.raises(ValueError, match="low <= high"):
        EmbeddingAWGN((5.0, 1.0))


def test_gradients_match_finite_differences():
    channel = EmbeddingAWGN(6.0).eval()

    def fixed_noise(x):  # the same noise draw on every call
        set_seed(9)
        return channel(x)

    x = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fixed_noise, (x,))


#: easy-VQA at a few seconds per training.
EASY = {
    "name": "public_channel",
    "link": {"mode": "analog"},
    "phy": {"snr_db": 10.0, "grid": {"fft_size": 72}, "channel": {"model": "tdl", "max_speed_mps": 3.0},
            "receiver": {"estimator": "ls"}},
    "run": {"seed": 3},
    "semantic": {
        "train_channel": "embedding_awgn", "train_snr_db": 12.0,
        "train_questions": 64, "test_questions": 40, "num_tokens": 4, "eval_batch_size": 40,
        "align": {"epochs": 1, "batch_size": 16, "max_steps": 2},
        "task": {"epochs": 1, "batch_size": 16, "max_steps": 2},
    },
}


def test_the_link_does_not_enter_the_training_key_of_the_public_code_channel():
    base = load_scenario(EASY)
    other_link = load_scenario({**EASY, "phy": {**EASY["phy"], "channel": {"model": "awgn"}},
                                "link": {"mode": "digital"}})
    assert training_key(other_link) == training_key(base)
    over_link = load_scenario({**EASY, "semantic": {**EASY["semantic"], "train_channel": "link"}})
    assert training_key(over_link) != training_key(base)
    assert training_key(load_scenario({**EASY, "semantic": {**EASY["semantic"], "train_snr_db": 6.0}})) \
        != training_key(base)


def test_the_public_code_channel_needs_a_training_snr():
    with pytest.raises(ScenarioError, match="train_snr_db"):
        load_scenario({**EASY, "semantic": {**EASY["semantic"], "train_snr_db": None}})
    with pytest.raises(ScenarioError, match="train_channel"):
        load_scenario({**EASY, "semantic": {**EASY["semantic"], "train_channel": "rayleigh"}})


def test_a_model_trained_over_the_public_code_channel_is_tested_over_the_scenarios_link(tmp_path):
    from tokenlink.runner import run

    scenario = load_scenario({**EASY, "link": {"mode": "analog", "digital": {"bits_per_value": 2}},
                              "sweep": {"grid": {"link.mode": ["analog", "digital"], "phy.snr_db": [0.0, 40.0]}}})
    result = run(scenario, tmp_path / "t.h5", progress=False, plots=False)
    assert len(list((tmp_path / "t_checkpoints").iterdir())) == 1  # one model for both links and SNRs
    points = {(p.params["link.mode"], p.params["phy.snr_db"]): p.metrics for p in read_trace(result.trace_path).points}
    assert set(points) == {("analog", 0.0), ("analog", 40.0), ("digital", 0.0), ("digital", 40.0)}
    for (mode, snr), m in points.items():
        assert m["esno_db"] == snr and m["channel_uses_per_sample"] > 0
        assert ("ber" in m) == (mode == "digital")
    assert points["analog", 0.0]["nmse"] > 100 * points["analog", 40.0]["nmse"]  # tested over the OFDM link
    assert points["digital", 0.0]["ber"] > 0.1 > points["digital", 40.0]["ber"]
