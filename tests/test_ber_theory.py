"""Uncoded BER of the OFDM link with perfect CSI against closed form.

The closed forms are for symbol-wise nearest-point (ML) detection, which is
what hard decisions on max-log LLRs are. Hard decisions on APP LLRs are
bit-wise MAP decisions: slightly *better* at low SNR, so they are compared
with max-log separately.

AWGN: bits are (close to) independent trials, so the binomial standard
error applies. Rayleigh: bits that share a fade are correlated, so the
standard error comes from the spread of per-slot error counts (slots are
independent); the test also requires that error to be small, so a wrong
curve cannot hide behind a wide tolerance.
"""

import numpy as np
import pytest

from tokenlink.phy import OFDMLink, simulate_ber
from tokenlink.phy.theory import ber_awgn, ber_rayleigh

# Es/N0 points [dB] chosen so that BER spans ~1e-1 .. ~1e-4 for each constellation.
AWGN_POINTS = {"qpsk": [0.0, 4.0, 8.0, 10.0], "16qam": [6.0, 10.0, 14.0, 16.0], "64qam": [12.0, 16.0, 20.0, 22.0]}
RAYLEIGH_POINTS = {"qpsk": [0.0, 10.0, 20.0, 30.0], "16qam": [5.0, 15.0, 25.0, 30.0], "64qam": [10.0, 20.0, 25.0, 30.0]}
BITS = {"qpsk": 2, "16qam": 4, "64qam": 6}


def _link(modulation, channel, demapping="maxlog"):
    # A narrow grid without pilots: with per-OFDM-symbol fading, every slot
    # holds 14 independent fades of 8 resource elements each.
    return OFDMLink(
        {
            "modulation": modulation,
            "demapping": demapping,
            "grid": {"fft_size": 8, "num_ofdm_symbols": 14, "cyclic_prefix_length": 0, "pilot_pattern": "empty"},
            "channel": channel,
            "receiver": {"estimator": "perfect", "equalizer": "lmmse"},
        }
    )


@pytest.mark.parametrize("modulation", ["qpsk", "16qam", "64qam"])
def test_ber_awgn_matches_closed_form(modulation):
    link = _link(modulation, {"model": "awgn"})
    curve = simulate_ber(link, AWGN_POINTS[modulation], batch_size=4096, max_bits=1_500_000, min_bit_errors=10**9)
    theory = ber_awgn(curve.esno_db, BITS[modulation])
    z = (curve.ber - theory) / np.sqrt(theory * (1 - theory) / curve.num_bits)
    assert np.all(np.abs(z) < 3), f"z-scores {z} (sim {curve.ber}, theory {theory})"
    assert np.all(curve.num_bits >= 1_500_000)


@pytest.mark.parametrize("modulation", ["qpsk", "16qam", "64qam"])
def test_ber_rayleigh_matches_closed_form(modulation):
    link = _link(modulation, {"model": "rayleigh", "coherence": "symbol"})
    curve = simulate_ber(link, RAYLEIGH_POINTS[modulation], batch_size=4096, max_bits=4_000_000, min_bit_errors=10**9)
    theory = ber_rayleigh(curve.esno_db, BITS[modulation])
    se = curve.ber_stderr
    assert np.all(se < 0.06 * theory), f"standard errors too large to test: {se / theory}"
    z = (curve.ber - theory) / se
    assert np.all(np.abs(z) < 3), f"z-scores {z} (sim {curve.ber}, theory {theory})"


def test_ber_rayleigh_block_fading_matches_closed_form():
    """Sionna's RayleighBlockFading path (one fade per slot) has the same average BER."""
    link = _link("16qam", {"model": "rayleigh", "coherence": "block"})
    curve = simulate_ber(link, [10.0, 20.0], batch_size=8192, max_bits=4_000_000, min_bit_errors=10**9)
    theory = ber_rayleigh(curve.esno_db, 4)
    z = (curve.ber - theory) / curve.ber_stderr
    assert np.all(curve.ber_stderr < 0.08 * theory)
    assert np.all(np.abs(z) < 3), f"z-scores {z} (sim {curve.ber}, theory {theory})"


@pytest.mark.parametrize("modulation,bits,esno_db", [("bpsk", 1, 6.0), ("256qam", 8, 26.0)])
def test_ber_awgn_bpsk_and_256qam_match_closed_form(modulation, bits, esno_db):
    link = _link(modulation, {"model": "awgn"})
    curve = simulate_ber(link, [esno_db], batch_size=4096, max_bits=1_000_000, min_bit_errors=10**9)
    theory = ber_awgn(curve.esno_db, bits)
    z = (curve.ber - theory) / np.sqrt(theory * (1 - theory) / curve.num_bits)
    assert np.all(np.abs(z) < 3), f"z {z} sim {curve.ber} theory {theory}"


def test_app_hard_decisions_are_never_worse_than_maxlog():
    """Bit-wise MAP (APP sign) minimizes the bit error probability; on the same
    received symbols it makes fewer errors than nearest-point decisions at low SNR."""
    app = _link("64qam", {"model": "rayleigh", "coherence": "symbol"}, demapping="app")
    maxlog = _link("64qam", {"model": "rayleigh", "coherence": "symbol"}, demapping="maxlog")
    bits = app.source(4096)
    out = app(bits, 10 ** (-10 / 10))
    err_app = int(((out.llr > 0).float() != bits).sum())
    err_ml = int(((maxlog.demap(out.x_hat, out.no_eff) > 0).float() != bits).sum())
    assert err_app < err_ml, (err_app, err_ml)


def test_qpsk_llrs_match_closed_form_for_app_and_maxlog():
    """QPSK over AWGN with perfect CSI: LLR(b) = -2 sqrt(2) Re|Im(x_hat) / no
    (bit 0 on the real part, bit 1 on the imaginary part; b=0 maps to +1/sqrt(2)).
    With two points per dimension, APP and max-log are both exact."""
    no = 0.3
    for demapping in ("app", "maxlog"):
        link = OFDMLink({"modulation": "qpsk", "demapping": demapping, "channel": {"model": "awgn"}})
        bits = link.source(16)
        out = link(bits, no)
        np.testing.assert_allclose(out.no_eff.numpy(), no, rtol=1e-6)
        x = out.x_hat.numpy()
        expected = np.stack([-2 * np.sqrt(2) * x.real / no, -2 * np.sqrt(2) * x.imag / no], -1).reshape(16, -1)
        np.testing.assert_allclose(out.llr.numpy(), expected, rtol=1e-4, atol=1e-4)


def test_maxlog_llrs_differ_from_app_for_16qam():
    """Max-log is an approximation for 16-QAM: the magnitudes must differ."""
    cfg = {"modulation": "16qam", "channel": {"model": "awgn"}}
    app, maxlog = OFDMLink({**cfg, "demapping": "app"}), OFDMLink({**cfg, "demapping": "maxlog"})
    bits = app.source(8)
    out = app(bits, 0.5)
    llr_ml = maxlog.demap(out.x_hat, out.no_eff)
    assert not np.allclose(out.llr.numpy(), llr_ml.numpy(), atol=1e-2)
    # ... but it is a close approximation where the decision is clear
    clear = np.abs(llr_ml.numpy()) > 10
    assert np.array_equal(out.llr.numpy()[clear] > 0, llr_ml.numpy()[clear] > 0)
