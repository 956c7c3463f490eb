"""Flat Rician / Rayleigh fading for the TensorFlow backend (Sionna 1.x): the TensorFlow twin of
:class:`tokenlink.phy.channels.FlatFading`, with the same statistics and options.

Sionna 1.x has Rayleigh block fading but no Rician model and no fading redrawn per OFDM
symbol; this block follows its ``ChannelModel`` interface (path coefficients ``a`` and delays
``tau``), so that ``GenerateOFDMChannel`` turns it into a frequency response like any other.
Draws come from ``sionna.phy.config.tf_rng`` (seeded by :func:`~tokenlink.phy.runtime.set_seed`).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import tensorflow as tf
from sionna.phy import config
from sionna.phy.channel import ChannelModel

__all__ = ["TFFlatFading"]


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
        if not k_factor >= 0:
            raise ValueError(f"k_factor must be >= 0 (linear), got {k_factor}")
        if coherence not in ("block", "symbol"):
            raise ValueError(f"coherence must be 'block' or 'symbol', got {coherence!r}")
        self.k_factor = float(k_factor)
        self.coherence = coherence

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
