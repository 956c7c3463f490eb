r"""Closed-form uncoded bit error rates, for validation and for figures.

Exact BER of Gray-mapped square M-QAM in AWGN (K. Cho and D. Yoon, "On the
general BER expression of one- and two-dimensional amplitude modulations",
IEEE Trans. Commun., 2002): with :math:`\sqrt{M}`-PAM per dimension,

.. math::
    P_b = \frac{1}{\log_2\sqrt{M}} \sum_{k=1}^{\log_2\sqrt{M}}
          \frac{1}{\sqrt{M}} \sum_{i=0}^{(1-2^{-k})\sqrt{M}-1}
          (-1)^{\lfloor i 2^{k-1}/\sqrt{M} \rfloor}
          \left(2^{k-1} - \left\lfloor \frac{i 2^{k-1}}{\sqrt{M}} + \frac12 \right\rfloor\right)
          \operatorname{erfc}\!\left((2i+1)\sqrt{\frac{3\,E_s/N_0}{2(M-1)}}\right)

BPSK (real constellation, all energy in one dimension):
:math:`P_b = \frac12 \operatorname{erfc}(\sqrt{E_s/N_0})`.

The expression is linear in terms :math:`\operatorname{erfc}(\sqrt{c\gamma})`;
averaging each over Rayleigh fading (:math:`\gamma` exponential with mean
:math:`\bar\gamma`) gives the exact average BER in flat Rayleigh fading with
perfect CSI: :math:`\mathbb{E}[\operatorname{erfc}(\sqrt{c\gamma})] = 1 -
\sqrt{c\bar\gamma/(1 + c\bar\gamma)}`.

With ``L`` independent Rayleigh branches of equal mean combined by maximum
ratio (:math:`\gamma` chi-square with ``2L`` degrees of freedom), each term
averages to (J. G. Proakis, *Digital Communications*, 4th ed., eq. 14.4-15)

.. math::
    \mathbb{E}[\operatorname{erfc}(\sqrt{c\gamma})] = 2 \left(\frac{1-\mu}{2}\right)^L
    \sum_{k=0}^{L-1} \binom{L-1+k}{k} \left(\frac{1+\mu}{2}\right)^k,
    \qquad \mu = \sqrt{\frac{c\bar\gamma}{1 + c\bar\gamma}}

with :math:`\bar\gamma` the mean Es/N0 per branch; ``L = 1`` is the
single-antenna formula above. The same expression with diversity order
``L = N_r - K + 1`` is the BER of zero-forcing detection of ``K`` streams on
``N_r`` i.i.d. Rayleigh antennas.

``esno_db`` is Es/N0 per resource element (and per receive antenna) in dB
(see :mod:`tokenlink.phy.snr`).
"""

from __future__ import annotations

import numpy as np
from scipy.special import comb, erfc

__all__ = ["ber_awgn", "ber_rayleigh", "ber_rayleigh_mrc"]


def _qam_terms(num_bits_per_symbol: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``w`` and arguments ``c`` such that ``BER = sum w * erfc(sqrt(c * esno))``."""
    if num_bits_per_symbol == 1:
        return np.array([0.5]), np.array([1.0])
    if num_bits_per_symbol < 2 or num_bits_per_symbol % 2:
        raise ValueError(
            "num_bits_per_symbol must be 1 (BPSK) or even (square QAM: 2, 4, 6, 8, ...), "
            f"got {num_bits_per_symbol}"
        )
    m = 2**num_bits_per_symbol
    sqrt_m = int(round(np.sqrt(m)))
    bits_per_dim = num_bits_per_symbol // 2
    weights, args = [], []
    for k in range(1, bits_per_dim + 1):
        for i in range(int((1 - 2.0**-k) * sqrt_m)):
            q = (i * 2 ** (k - 1)) // sqrt_m
            w = (-1) ** q * (2 ** (k - 1) - np.floor(i * 2 ** (k - 1) / sqrt_m + 0.5))
            weights.append(w / (sqrt_m * bits_per_dim))
            args.append((2 * i + 1) ** 2 * 3.0 / (2.0 * (m - 1)))
    return np.array(weights), np.array(args)


def ber_awgn(esno_db, num_bits_per_symbol: int) -> np.ndarray:
    """Exact BER of Gray BPSK / square M-QAM in AWGN.

    :param esno_db: Es/N0 [dB], scalar or array.
    :param num_bits_per_symbol: 1 (BPSK), 2 (QPSK), 4, 6, 8, ...
    :output ber: Same shape as ``esno_db``.
    """
    w, c = _qam_terms(num_bits_per_symbol)
    esno = 10.0 ** (np.asarray(esno_db, dtype=float) / 10.0)
    return np.sum(w * erfc(np.sqrt(c * esno[..., None])), axis=-1)


def ber_rayleigh(esno_db, num_bits_per_symbol: int) -> np.ndarray:
    """Exact average BER of Gray BPSK / square M-QAM in flat Rayleigh fading,
    perfect CSI, coherent detection.

    :param esno_db: Average Es/N0 [dB] (unit mean channel power), scalar or array.
    :param num_bits_per_symbol: 1 (BPSK), 2 (QPSK), 4, 6, 8, ...
    :output ber: Same shape as ``esno_db``.
    """
    w, c = _qam_terms(num_bits_per_symbol)
    esno = 10.0 ** (np.asarray(esno_db, dtype=float) / 10.0)
    ce = c * esno[..., None]
    return np.sum(w * (1.0 - np.sqrt(ce / (1.0 + ce))), axis=-1)


def ber_rayleigh_mrc(esno_db, num_bits_per_symbol: int, num_branches: int) -> np.ndarray:
    """Exact average BER of Gray BPSK / square M-QAM with maximum-ratio combining of
    ``num_branches`` independent flat Rayleigh branches, perfect CSI.

    :param esno_db: Average Es/N0 per branch [dB] (unit mean power per branch), scalar or array.
    :param num_bits_per_symbol: 1 (BPSK), 2 (QPSK), 4, 6, 8, ...
    :param num_branches: Diversity order ``L >= 1`` (receive antennas for one stream).
    :output ber: Same shape as ``esno_db``; equal to :func:`ber_rayleigh` for ``L = 1``.
    """
    if int(num_branches) != num_branches or num_branches < 1:
        raise ValueError(f"num_branches must be an integer >= 1, got {num_branches}")
    w, c = _qam_terms(num_bits_per_symbol)
    esno = 10.0 ** (np.asarray(esno_db, dtype=float) / 10.0)
    ce = c * esno[..., None]
    mu = np.sqrt(ce / (1.0 + ce))
    big_l = int(num_branches)
    tail = sum(comb(big_l - 1 + k, k) * ((1.0 + mu) / 2.0) ** k for k in range(big_l))
    return np.sum(w * 2.0 * ((1.0 - mu) / 2.0) ** big_l * tail, axis=-1)
