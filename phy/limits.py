r"""What a receiver can know of the channel: the time-interpolation error floor
of its channel estimate, in closed form from a :class:`~tokenlink.phy.config.PhyConfig`
(NumPy only: the scenario checks use it without torch or Sionna).

The estimators see the channel on the pilot OFDM symbols and fill in the
others (:mod:`~tokenlink.phy.receiver`): LS ``nearest`` takes the nearest
pilot symbol, LS ``linear`` interpolates between the two pilot symbols
around an OFDM symbol (and extrapolates beyond the first and last one, as
Sionna's ``LinearInterpolator``), LS ``linear_time_avg`` averages all pilot
symbols, LMMSE uses the best linear combination for the channel model's
time covariance. Even without noise, the estimate of OFDM symbol ``t`` then
errs by

.. math::
    \varepsilon(t) = \mathbb{E}\,|h(t) - \textstyle\sum_k w_k h(p_k)|^2
    = 1 - 2\,\mathrm{Re}\sum_k w_k \rho(t - p_k) + \sum_{k,l} w_k w_l \rho(p_k - p_l)

for unit-power channels with time correlation :math:`\rho(d)` between OFDM
symbols ``d`` apart (weights real): :math:`\rho(d) = J_0(2\pi f_D d\,T_{sym})`
(Jakes, the NLOS Doppler spectrum of Sionna's TDL time covariance) averaged
over the uniform UE speed range for TDL/CDL, with the maximum Doppler
:math:`f_D = v f_c / c` and :math:`T_{sym}` the OFDM symbol with its cyclic
prefix; :math:`\rho(d) = K/(K+1)` for ``d != 0`` for flat fading redrawn
every OFDM symbol (only the line-of-sight part survives from one symbol to
the next); :math:`\rho = 1` for AWGN and block fading. The mean of
:math:`\varepsilon(t)` over the data resource elements bounds the SINR after
equalization whatever the Es/N0: ``sinr_ceiling_db = -10 log10(mean error)``.
Frequency interpolation (comb pilots) is not counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .config import ChannelConfig, GridConfig, PhyConfig

__all__ = ["EstimationFloor", "estimation_floor", "ofdm_symbol_duration_s", "max_doppler_hz", "bessel_j0"]

SPEED_OF_LIGHT_MPS = 299_792_458.0
#: Speeds over which a TDL/CDL correlation is averaged (midpoint rule), as the LMMSE time covariance.
_NUM_SPEEDS = 16


@dataclass(frozen=True)
class EstimationFloor:
    """The noise-free error of a channel estimate (see the module doc).

    ``mean_error``: mean over the data REs of the squared estimation error,
    relative to the channel's power; ``sinr_ceiling_db``: ``-10 log10(mean_error)``
    (``inf`` when the estimate is exact without noise); ``pilot_symbols``:
    the OFDM symbols with pilots.
    """

    mean_error: float
    sinr_ceiling_db: float
    pilot_symbols: tuple[int, ...]


def bessel_j0(x: np.ndarray) -> np.ndarray:
    r""":math:`J_0(x) = \frac1\pi\int_0^\pi \cos(x \sin\theta)\,d\theta` (trapezoidal rule,
    exponentially accurate for a periodic integrand; ``|x| <= 100``)."""
    theta = np.linspace(0.0, math.pi, 257)
    values = np.cos(np.multiply.outer(np.asarray(x, dtype=float), np.sin(theta)))
    return (values[..., 1:-1].sum(-1) + 0.5 * (values[..., 0] + values[..., -1])) / (len(theta) - 1)


def ofdm_symbol_duration_s(grid: GridConfig) -> float:
    """One OFDM symbol with its cyclic prefix [s]: ``(1 + cp / fft_size) / subcarrier_spacing``."""
    return (1.0 + grid.cyclic_prefix_length / grid.fft_size) / grid.subcarrier_spacing_hz


def max_doppler_hz(channel: ChannelConfig) -> float:
    """Largest Doppler shift of a TDL/CDL channel [Hz]: ``max speed * carrier / c``."""
    return channel.speed_range_mps[1] * channel.carrier_frequency_hz / SPEED_OF_LIGHT_MPS


def _time_correlation(cfg: PhyConfig) -> Optional[Callable[[np.ndarray], np.ndarray]]:
    """``rho(d)`` for lags ``d`` in OFDM symbols; `None` for a channel constant over the slot."""
    ch = cfg.channel
    if ch.model in ("rayleigh", "rician") and ch.coherence == "symbol":
        k = ch.k_factor if ch.model == "rician" else 0.0
        return lambda d: np.where(np.asarray(d) == 0, 1.0, k / (k + 1.0))
    if ch.model in ("tdl", "cdl"):
        lo, hi = ch.speed_range_mps
        if hi == 0:
            return None
        speeds = np.array([lo]) if hi == lo else lo + (np.arange(_NUM_SPEEDS) + 0.5) * (hi - lo) / _NUM_SPEEDS
        omega = 2 * math.pi * speeds * ch.carrier_frequency_hz / SPEED_OF_LIGHT_MPS * ofdm_symbol_duration_s(cfg.grid)
        return lambda d: bessel_j0(np.multiply.outer(np.asarray(d, dtype=float), omega)).mean(-1)
    return None


def _weights(t: int, pilots: np.ndarray, interpolation: str) -> np.ndarray:
    """LS interpolation weights of the pilot symbols for OFDM symbol ``t`` (see the module doc)."""
    w = np.zeros(len(pilots))
    if interpolation == "linear_time_avg":
        w[:] = 1.0 / len(pilots)
    elif interpolation == "nearest" or len(pilots) == 1:
        w[int(np.argmin(np.abs(pilots - t)))] = 1.0
    else:  # the pair around t; the first / last pair beyond the ends (linear extrapolation)
        k = int(np.clip(np.searchsorted(pilots, t, side="right") - 1, 0, len(pilots) - 2))
        p0, p1 = pilots[k], pilots[k + 1]
        w[k], w[k + 1] = (p1 - t) / (p1 - p0), (t - p0) / (p1 - p0)
    return w


def estimation_floor(cfg: PhyConfig) -> Optional[EstimationFloor]:
    """The time-interpolation error floor of ``cfg``'s channel estimate (module doc);
    `None` with perfect CSI, without pilots, or for a channel constant over the slot."""
    grid, rx = cfg.grid, cfg.receiver
    if rx.estimator == "perfect" or grid.pilot_pattern == "empty":
        return None
    rho = _time_correlation(cfg)
    if rho is None:
        return None
    pilots = np.array(sorted(grid.pilot_ofdm_symbol_indices))
    lags = np.subtract.outer(pilots, pilots)
    r_pp = rho(lags)
    num_sc = grid.num_effective_subcarriers
    pilot_res = len(range(0, num_sc, grid.pilot_subcarrier_step))
    errors, counts = [], []
    for t in range(grid.num_ofdm_symbols):
        data_res = num_sc - pilot_res if t in pilots else num_sc
        if data_res == 0:
            continue
        r_tp = rho(t - pilots)
        if rx.estimator == "lmmse":  # noise-free LMMSE: 1 - r^T R^+ r
            err = 1.0 - float(r_tp @ np.linalg.pinv(r_pp) @ r_tp)
        else:
            w = _weights(t, pilots, rx.interpolation)
            err = 1.0 - 2.0 * float(w @ r_tp) + float(w @ r_pp @ w)
        errors.append(max(err, 0.0))
        counts.append(data_res)
    mean = float(np.average(errors, weights=counts))
    ceiling = math.inf if mean <= 1e-12 else -10.0 * math.log10(mean)
    return EstimationFloor(mean, ceiling, tuple(int(p) for p in pilots))
