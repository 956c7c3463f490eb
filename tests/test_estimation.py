"""Channel estimation: MSE against theory, improvement with SNR, LMMSE vs LS,
and the BER penalty of estimated CSI against perfect CSI.

Flat block fading makes the theory exact: every resource element of a slot
sees the same h ~ CN(0, 1), and the pilots are unit-energy QPSK, so

* LS with nearest-pilot interpolation has MSE = N0 on every RE;
* LS with linear interpolation (and extrapolation) in time between pilot
  symbols a < b has MSE = N0 (w^2 + (1 - w)^2), w = (s - a) / (b - a);
* the MMSE estimate from P pilot observations has MSE = N0 / (N0 + P).
"""

import numpy as np
import pytest
import torch
from scipy.optimize import brentq
from tokenlink.phy import ChannelConfig, GridConfig, OFDMLink
from tokenlink.phy.channels import OFDMChannelResponse, _empirical_covariances, channel_covariances
from tokenlink.phy.grid import build_resource_grid
from tokenlink.phy.theory import ber_awgn, ber_rayleigh

PILOTS = (2, 11)


def _links(grid: dict, channel: dict, estimators: list[dict], modulation: str = "16qam") -> list[OFDMLink]:
    return [OFDMLink({"grid": grid, "channel": channel, "receiver": rx, "modulation": modulation}) for rx in estimators]


def _estimate_errors(link: OFDMLink, esno_db: float, batch_size: int) -> tuple[np.ndarray, float]:
    """Per-slot mean squared estimation error / N0 [batch_size], and the
    mean error variance the estimator reports / N0."""
    no = 10 ** (-esno_db / 10)
    h = link.generate_channel(batch_size)
    x = link.modulate(link.source(batch_size))
    y = link.apply_channel(link.map_to_grid(x), h, no)
    h_hat, err_var = link._estimator(y, torch.tensor(no), h)
    per_slot = ((h_hat - h).abs() ** 2).mean(dim=(1, 2, 3, 4, 5, 6)).double().numpy()
    return per_slot / no, float(err_var.mean()) / no


def _estimate_mse(link: OFDMLink, esno_db: float, batch_size: int) -> tuple[float, float]:
    """(MSE of the channel estimate over all REs, mean reported error variance), both / N0."""
    per_slot, reported = _estimate_errors(link, esno_db, batch_size)
    return float(per_slot.mean()), reported


def _linear_weights_mse(num_symbols: int, a: int, b: int) -> float:
    s = np.arange(num_symbols)
    w = (s - a) / (b - a)
    return float(np.mean(w**2 + (1 - w) ** 2))


GRID = {"fft_size": 32, "num_ofdm_symbols": 14, "pilot_ofdm_symbol_indices": PILOTS}
SNRS = [0.0, 10.0, 20.0, 30.0]


def test_ls_nearest_mse_equals_noise_variance():
    (link,) = _links(GRID, {"model": "rayleigh"}, [{"estimator": "ls", "interpolation": "nearest"}])
    for snr in SNRS:
        mse, reported = _estimate_mse(link, snr, 2048)
        assert mse == pytest.approx(1.0, rel=0.03), snr
        assert reported == pytest.approx(1.0, rel=1e-5)


def test_ls_linear_mse_matches_interpolation_weights():
    (link,) = _links(GRID, {"model": "rayleigh"}, [{"estimator": "ls", "interpolation": "linear"}])
    expected = _linear_weights_mse(14, *PILOTS)  # 0.901: extrapolation outside [2, 11] costs
    for snr in SNRS:
        mse, _ = _estimate_mse(link, snr, 2048)
        assert mse == pytest.approx(expected, rel=0.03), snr


def test_lmmse_mse_reaches_mmse_bound_for_block_fading():
    (link,) = _links(GRID, {"model": "rayleigh"}, [{"estimator": "lmmse"}])
    num_pilots = len(PILOTS) * GRID["fft_size"]
    for snr in SNRS:
        no = 10 ** (-snr / 10)
        per_slot, reported = _estimate_errors(link, snr, 1024)
        mse, se = per_slot.mean(), per_slot.std(ddof=1) / np.sqrt(per_slot.size)
        bound = 1 / (no + num_pilots)  # (N0 / (N0 + P)) / N0
        assert se < 0.05 * bound
        assert mse > bound - 3 * se, "better than the MMSE bound: impossible"
        assert mse < 1.1 * bound + 3 * se, (snr, mse, bound)
        assert reported == pytest.approx(bound, rel=0.1)


def test_estimation_mse_improves_with_snr_and_lmmse_beats_ls_on_tdl():
    channel = {"model": "tdl", "profile": "C", "delay_spread_s": 300e-9, "max_speed_mps": 10.0}
    links = _links({"fft_size": 64}, channel, [{"estimator": "ls", "interpolation": "linear"}, {"estimator": "lmmse"}])
    mse = np.zeros((2, len(SNRS)))
    for j, snr in enumerate(SNRS):
        for i, link in enumerate(links):
            rel, reported = _estimate_mse(link, snr, 256)
            mse[i, j] = rel * 10 ** (-snr / 10)
            if i == 1:  # LMMSE knows its own error
                assert reported == pytest.approx(rel, rel=0.25), (snr, rel, reported)
    assert np.all(np.diff(mse, axis=1) < 0), mse  # both improve with SNR
    assert np.all(mse[1] < mse[0]), mse  # LMMSE beats LS at every SNR


def _paired_ber(links: list[OFDMLink], esno_db: float, batch_size: int, num_batches: int) -> np.ndarray:
    """BER of every receiver on the same bits, channel realizations and noise."""
    tx = links[0]
    errors = np.zeros(len(links))
    no = 10 ** (-esno_db / 10)
    for _ in range(num_batches):
        bits = tx.source(batch_size)
        h = tx.generate_channel(batch_size)
        y = tx.apply_channel(tx.map_to_grid(tx.modulate(bits)), h, no)
        for i, rx in enumerate(links):
            x_hat, no_eff = rx.equalize(y, no, h)
            errors[i] += float(((rx.demap(x_hat, no_eff) > 0).float() != bits).sum())
    return errors / (num_batches * batch_size * tx.num_bits_per_slot)


RECEIVERS = [{"estimator": "perfect"}, {"estimator": "ls", "interpolation": "nearest"}, {"estimator": "lmmse"}]
# 16 subcarriers keep Sionna's LMMSE estimator (a matrix solve per slot) cheap.
NARROW = {"fft_size": 16, "num_ofdm_symbols": 14, "pilot_ofdm_symbol_indices": PILOTS}


def _snr_for_ber(ber: float, theory) -> float:
    """Es/N0 [dB] at which the closed-form curve ``theory(esno_db)`` has this BER."""
    return brentq(lambda x: np.log(max(float(theory(x)), 1e-300)) - np.log(ber), -20.0, 60.0)


def _penalties_db(bers: np.ndarray, esno_db: float, theory) -> np.ndarray:
    """SNR penalty [dB] of each receiver relative to perfect CSI, read off the
    closed-form curve. Paired simulations make the shared luck cancel."""
    equivalent = np.array([_snr_for_ber(b, theory) for b in bers])
    return equivalent[0] - equivalent


def test_ber_penalty_of_estimated_csi_in_awgn():
    """LS-nearest doubles the effective noise at high SNR (~3 dB); LMMSE, which
    averages all 32 pilots of a flat channel, costs ~0.13 dB."""
    theory = lambda x: ber_awgn(x, 4)  # noqa: E731
    links = _links(NARROW, {"model": "awgn"}, RECEIVERS)
    for snr in (8.0, 12.0, 16.0):
        bers = _paired_ber(links, snr, 1024, 4)
        assert bers[0] == pytest.approx(float(theory(snr)), rel=0.05)
        _, ls, lmmse = _penalties_db(bers, snr, theory)
        assert 2.0 < ls < 4.0, (snr, ls)
        assert 0.0 < lmmse < 0.3, (snr, lmmse)


def test_ber_penalty_of_estimated_csi_in_rayleigh_block_fading():
    theory = lambda x: ber_rayleigh(x, 4)  # noqa: E731
    links = _links(NARROW, {"model": "rayleigh"}, RECEIVERS)
    previous = None
    for snr in (10.0, 20.0, 30.0):
        bers = _paired_ber(links, snr, 2048, 2)
        _, ls, lmmse = _penalties_db(bers, snr, theory)
        assert 2.0 < ls < 4.0, (snr, ls)
        assert 0.0 < lmmse < 0.5, (snr, lmmse)
        if previous is not None:
            assert np.all(bers < previous)  # every receiver improves with SNR
        previous = bers


def test_sampled_covariances_agree_with_closed_form_for_tdl():
    """The sample covariances used for CDL and normalized channels, checked where
    a closed form exists (TDL-B, 300 ns, 0-30 m/s)."""
    cfg = ChannelConfig(model="tdl", profile="B", delay_spread_s=300e-9, max_speed_mps=30.0)
    rg = build_resource_grid(GridConfig(fft_size=48))
    r_t, r_f = channel_covariances(cfg, rg)
    s_t, s_f = _empirical_covariances(OFDMChannelResponse(cfg, rg), rg, num_samples=4096)
    assert float((s_f - r_f).norm() / r_f.norm()) < 0.05
    assert float((s_t - r_t).norm() / r_t.norm()) < 0.05
    assert float((s_f - r_f).norm() / r_f.norm()) > 0  # really sampled


def test_lmmse_with_sampled_covariances_beats_ls_on_cdl():
    links = _links({"fft_size": 32}, {"model": "cdl", "profile": "C", "delay_spread_s": 300e-9, "max_speed_mps": 10.0},
                   [{"estimator": "ls", "interpolation": "linear"}, {"estimator": "lmmse"}])
    for snr in (5.0, 20.0):
        ls, _ = _estimate_mse(links[0], snr, 256)
        lmmse, _ = _estimate_mse(links[1], snr, 256)
        assert lmmse < 0.7 * ls, (snr, lmmse, ls)
