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

``esno_db`` is Es/N0 per resource element in dB (see
:mod:`tokenlink.phy.snr`).
"""

from __future__ import annotations

import numpy as np
from scipy.special import erfc

__all__ = ["ber_awgn", "ber_rayleigh"]


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
