"""Channel pieces of the TensorFlow backend (Sionna 1.x) that Sionna 1.x lacks: flat Rician /
per-symbol fading (the TensorFlow twin of :class:`tokenlink.phy.channels.FlatFading`, same
statistics and options) and the covariance matrices of its LMMSE channel estimator (closed
forms, or sample covariances of the link's own generator for CDL and normalized channels).

Sionna 1.x has Rayleigh block fading but no Rician model and no fading redrawn per OFDM
symbol; this block follows its ``ChannelModel`` interface (path coefficients ``a`` and delays
``tau``), so that ``GenerateOFDMChannel`` turns it into a frequency response like any other.
Draws come from ``sionna.phy.config.tf_rng`` (seeded by :func:`~tokenlink.phy.runtime.set_seed`).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np
import tensorflow as tf
from sionna.phy import config
from sionna.phy.channel import ChannelModel
from sionna.phy.ofdm import tdl_freq_cov_mat, tdl_time_cov_mat

from .config import ChannelConfig, check_flat_fading

__all__ = ["TFFlatFading", "tf_channel_covariances", "tf_empirical_covariances"]


class TFFlatFading(ChannelModel):
    r"""Flat Rician fading with K-factor ``k_factor`` (Rayleigh for ``K = 0``), one receive antenna.

    .. math::
        h = \sqrt{\frac{K}{K+1}} e^{j\phi} + \sqrt{\frac{1}{K+1}}\, g,
        \qquad g \sim \mathcal{CN}(0, 1),\ \phi \sim \mathcal{U}(-\pi, \pi)

    so that :math:`\mathbb{E}|h|^2 = 1`; ``phi`` is drawn once per batch sample, ``g`` once per
    sample (``coherence="block"``) or per time step, i.e. OFDM symbol (``coherence="symbol"``).

    :param k_factor: Linear K-factor, ``>= 0``.
    :param coherence: ``"block"`` | ``"symbol"``.
    :param precision: ``"single"`` | ``"double"`` | `None` (Sionna's global precision).

    :input batch_size: `int`.
    :input num_time_steps: `int`.
    :input sampling_frequency: `float`. Unused.

    :output a: [batch_size, 1, 1, 1, 1, 1, num_time_steps], `tf.complex`. Path coefficients.
    :output tau: [batch_size, 1, 1, 1], `tf.float`. Path delays [s], zeros.
    """

    def __init__(self, k_factor: float = 0.0, coherence: str = "block", precision: Optional[str] = None) -> None:
        super().__init__(precision=precision)
        self.k_factor, self.coherence = check_flat_fading(k_factor, coherence)

    def __call__(self, batch_size: int, num_time_steps: int, sampling_frequency: Optional[float] = None):
        steps = num_time_steps if self.coherence == "symbol" else 1
        shape = [batch_size, 1, 1, 1, 1, 1, steps]
        std = tf.cast(np.sqrt(0.5 / (self.k_factor + 1.0)), self.rdtype)
        g = tf.complex(config.tf_rng.normal(shape, stddev=std, dtype=self.rdtype),
                       config.tf_rng.normal(shape, stddev=std, dtype=self.rdtype))
        if self.k_factor > 0:
            phi = config.tf_rng.uniform([batch_size, 1, 1, 1, 1, 1, 1], minval=-np.pi, maxval=np.pi,
                                        dtype=self.rdtype)
            los = tf.cast(np.sqrt(self.k_factor / (self.k_factor + 1.0)), self.rdtype)
            g = g + tf.complex(los * tf.cos(phi), los * tf.sin(phi))
        a = tf.broadcast_to(g, shape[:-1] + [num_time_steps])
        tau = tf.zeros([batch_size, 1, 1, 1], self.rdtype)
        return a, tau


def tf_channel_covariances(cfg: ChannelConfig, rg: Any, precision: str,
                           num_speeds: int = 16) -> tuple[tf.Tensor, tf.Tensor]:
    r"""Time and frequency covariance matrices of the channel for Sionna 1.x's LMMSE interpolator:
    the closed forms of :func:`tokenlink.phy.channels.channel_covariances` (AWGN and flat block
    fading: all ones; flat per-symbol fading: :math:`\frac{K}{K+1}\mathbf{1} + \frac{1}{K+1}\mathbf{I}`
    in time; TDL: Sionna's ``tdl_freq_cov_mat`` and ``tdl_time_cov_mat``, the latter averaged
    over the uniform UE speed range by the midpoint rule). CDL and normalized channels have no
    closed form: :func:`tf_empirical_covariances` of the link's generator.

    :output cov_mat_time: [num_ofdm_symbols, num_ofdm_symbols], `tf.complex`.
    :output cov_mat_freq: [num_effective_subcarriers, num_effective_subcarriers], `tf.complex`.
    """
    cdtype = tf.complex128 if precision == "double" else tf.complex64
    n_t, n_f = rg.num_ofdm_symbols, rg.num_effective_subcarriers
    if cfg.model in ("awgn", "rayleigh", "rician"):
        r_f = tf.ones([n_f, n_f], cdtype)
        if cfg.coherence == "block" or cfg.model == "awgn":
            return tf.ones([n_t, n_t], cdtype), r_f
        k = cfg.k_factor if cfg.model == "rician" else 0.0
        return tf.cast((k + np.eye(n_t)) / (k + 1.0), cdtype), r_f
    if cfg.model != "tdl" or cfg.normalize:
        raise ValueError(f"channel.model={cfg.model!r} (normalize={cfg.normalize}) has no closed-form covariances: "
                         "use tf_empirical_covariances")
    sc = np.asarray(rg.effective_subcarrier_ind)
    r_f = tdl_freq_cov_mat(cfg.profile, rg.subcarrier_spacing, rg.fft_size, cfg.delay_spread_s,
                           precision=precision)
    r_f = tf.gather(tf.gather(r_f, sc, axis=0), sc, axis=1)
    lo, hi = cfg.speed_range_mps
    speeds = [lo] if hi == lo else lo + (np.arange(num_speeds) + 0.5) * (hi - lo) / num_speeds
    r_t = tf.add_n([tdl_time_cov_mat(cfg.profile, float(v), cfg.carrier_frequency_hz, rg.ofdm_symbol_duration,
                                     rg.num_ofdm_symbols, precision=precision) for v in speeds]) / len(speeds)
    return r_t, r_f


def tf_empirical_covariances(generate: Callable[[int], tf.Tensor], rg: Any, precision: str,
                             num_samples: int = 2048, batch_size: int = 256) -> tuple[tf.Tensor, tf.Tensor]:
    r"""Sample time and frequency covariance matrices of a channel, for the LMMSE interpolator: the
    estimator of :func:`tokenlink.phy.channels.channel_covariances` for CDL and normalized channels
    (``num_samples`` realizations from the seeded generator, pooled over the receive antennas and
    the other grid axis; the separable model :math:`R = R_t \otimes R_f` with the power in
    :math:`R_f`, :math:`R_t` scaled to a unit mean diagonal).

    :param generate: ``batch_size -> [batch_size, 1, num_rx_ant, 1, 1, num_ofdm_symbols, fft_size]``
        frequency responses.
    :output cov_mat_time: [num_ofdm_symbols, num_ofdm_symbols], `tf.complex`.
    :output cov_mat_freq: [num_effective_subcarriers, num_effective_subcarriers], `tf.complex`.
    """
    sc = np.asarray(rg.effective_subcarrier_ind)
    r_f = r_t = 0.0
    done = 0
    while done < num_samples:
        n = min(batch_size, num_samples - done)
        h = generate(n).numpy()[:, 0, :, 0, 0][..., sc].astype(np.complex128)  # [n, num_rx_ant, S, F]
        h = h.reshape(-1, *h.shape[-2:])
        r_f = r_f + np.einsum("nsf,nsg->fg", h, h.conj())
        r_t = r_t + np.einsum("nsf,ntf->st", h, h.conj())
        done += n
    rows = h.shape[0] // n * num_samples  # realizations x receive antennas
    r_f = r_f / (rows * h.shape[1])
    r_t = r_t / (rows * h.shape[2])
    r_t = r_t / np.diagonal(r_t).real.mean()
    cdtype = tf.complex128 if precision == "double" else tf.complex64
    return tf.constant(r_t, cdtype), tf.constant(r_f, cdtype)
