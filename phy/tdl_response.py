"""Frequency response of Sionna's TDL channel, computed directly: the same draws, less work.

Sionna's :class:`~sionna.phy.channel.tr38901.TDL` draws each tap as a sum of
``N`` sinusoids (the sum-of-sinusoids model of its docstring),

    ``a_l(t_k) = sqrt(P_l / N) sum_n exp(j (w cos(alpha_ln) t_k + phi_ln))``,

evaluating a sine and a cosine per (slot, antenna, tap, OFDM symbol, sinusoid);
:func:`~sionna.phy.channel.cir_to_ofdm_channel` then computes the phase ramp
``exp(-j 2 pi f tau_l)`` per slot and sums over the taps. Here:

* the random numbers are drawn exactly as Sionna's ``TDL.__call__`` draws them
  (same generator, same shapes, same order: Doppler, angles, phases, and the
  line-of-sight phase for TDL-D/E), so a seed gives the same channel;
* the OFDM symbols are equally spaced (``t_k = k dt``), so the rotation of each
  sinusoid is a power, ``exp(j w cos(alpha) k dt) = z^k``: one complex
  exponential per (slot, tap, sinusoid) and one complex multiplication per
  OFDM symbol instead of a sine and a cosine per symbol;
* the tap delays of a TDL profile are the same for every slot, so the phase
  ramps ``exp(-j 2 pi f tau_l)`` are computed once, and the response is one
  matrix product ``H[k, f] = sum_l a_l(t_k) exp(-j 2 pi f tau_l)``.

The result equals Sionna's generator within floating-point rounding (the running
product adds a few ulps per symbol; ``tests/test_tdl_response.py``). Spatial
correlation matrices are not covered (tokenlink does not configure them);
``receiver.implementation: sionna`` keeps Sionna's own generator.
"""

from __future__ import annotations

import math

import torch
from sionna.phy.channel.tr38901 import TDL
from sionna.phy.utils import rand

__all__ = ["TDLResponse"]

class TDLResponse:
    """Channel frequency responses of a TDL model on given subcarrier frequencies.

    :param tdl: Sionna's TDL model (its profile, speeds, antennas, precision, generator).
    :param frequencies: [num_subcarriers], real. Subcarrier frequencies relative to the carrier [Hz].
    :param num_time_steps: OFDM symbols per slot.
    :param sampling_frequency: ``1 / ofdm_symbol_duration`` [Hz].

    :input batch_size: `int`.
    :output h_freq: [batch_size, 1, num_rx_ant, 1, 1, num_time_steps, num_subcarriers], complex.
    """

    def __init__(self, tdl: TDL, frequencies: torch.Tensor, num_time_steps: int, sampling_frequency: float) -> None:
        if getattr(tdl, "_spatial_corr_mat_sqrt", None) is not None or getattr(tdl, "_rx_corr_mat_sqrt", None) \
                is not None or getattr(tdl, "_tx_corr_mat_sqrt", None) is not None:
            raise ValueError("TDLResponse does not apply spatial correlation matrices")
        self.tdl = tdl
        self.num_time_steps = int(num_time_steps)
        dtype = tdl.dtype
        self._dt = torch.tensor(1.0 / sampling_frequency, dtype=dtype, device=tdl.device)
        delays = tdl._delays * tdl._delay_spread if tdl._scale_delays else tdl._delays * 1e-9
        tau = delays.to(dtype)[:, None]  # [num_taps, 1]
        f = frequencies.to(device=tdl.device, dtype=dtype)[None, :]
        # The phase ramps exactly as cir_to_ofdm_channel computes them: [num_taps, num_subcarriers].
        self._ramps = torch.exp(torch.complex(torch.zeros_like(tau * f), -2 * math.pi * f * tau))
        self._sample_times = torch.arange(self.num_time_steps, dtype=dtype, device=tdl.device) / sampling_frequency

    @torch.no_grad()
    def __call__(self, batch_size: int) -> torch.Tensor:
        tdl = self.tdl
        dtype, device, gen = tdl.dtype, tdl.device, tdl.torch_rng
        num_taps, num_sin, num_rx_ant = tdl._num_clusters, tdl._num_sinusoids, tdl._num_rx_ant
        if tdl._num_tx_ant != 1:
            raise ValueError("TDLResponse supports one transmit antenna")
        # Sionna's draws, in its order and shapes.
        doppler = rand((batch_size, 1, 1, 1, 1, 1, 1, 1), dtype=dtype, device=device, generator=gen) \
            * (tdl._max_doppler - tdl._min_doppler) + tdl._min_doppler
        theta = rand((batch_size, 1, 1, 1, 1, num_taps, 1, num_sin), dtype=dtype, device=device, generator=gen) \
            * (2 * math.pi / num_sin) - math.pi / num_sin
        phi = rand((batch_size, 1, num_rx_ant, 1, 1, num_taps, 1, num_sin), dtype=dtype, device=device,
                   generator=gen) * 2 * math.pi - math.pi
        phi_0 = None
        if tdl._los:
            phi_0 = rand((batch_size, 1, 1, 1, 1, 1, 1), dtype=dtype, device=device, generator=gen) \
                * 2 * math.pi - math.pi
        alpha = (tdl._alpha_const + theta).reshape(batch_size, num_taps, num_sin)
        omega = doppler.reshape(batch_size, 1, 1) * torch.cos(alpha)  # [batch, taps, sinusoids], rad/s
        phases = phi.reshape(batch_size, num_rx_ant, num_taps, num_sin)
        # [time, batch, rx_ant, taps]
        taps = self._sum_of_sinusoids(omega, phi.reshape(batch_size, num_rx_ant, num_taps, num_sin))
        power = tdl._mean_powers.real if tdl._mean_powers.is_complex() else tdl._mean_powers
        taps = taps * (torch.sqrt(power) / math.sqrt(num_sin)).to(dtype)
        if phi_0 is not None:  # line of sight on the first tap (Sionna's Eq. (11) of [SoS])
            arg = doppler.reshape(batch_size, 1) * self._sample_times * torch.cos(tdl._los_angle_of_arrival) \
                + phi_0.reshape(batch_size, 1)
            spec = torch.complex(torch.cos(arg), torch.sin(arg)) * torch.sqrt(tdl._los_power)
            taps[..., 0] = spec.T[:, :, None] + taps[..., 0]
        # [batch, rx_ant, time, taps] @ [taps, subcarriers]
        h = torch.matmul(taps.permute(1, 2, 0, 3), self._ramps)
        return h[:, None, :, None, None]

    def _sum_of_sinusoids(self, omega: torch.Tensor, phases: torch.Tensor) -> torch.Tensor:
        """``sum_n exp(j (omega_ln t_k + phi_aln))`` -> [time, batch, rx_ant, taps] (unscaled).

        The sinusoids lead the layout ([sinusoids, batch, rx_ant, taps]), so the sum over them
        adds whole slabs; each OFDM symbol multiplies the running terms by ``z = exp(j omega dt)``.

        :input omega: [batch, taps, sinusoids], rad/s.
        :input phases: [batch, rx_ant, taps, sinusoids], rad.
        """
        z = torch.polar(torch.ones_like(omega), omega * self._dt).permute(2, 0, 1)[:, :, None].contiguous()
        terms = torch.polar(torch.ones_like(phases), phases).permute(3, 0, 1, 2).contiguous()  # exp(j phi)
        out = terms.new_empty(self.num_time_steps, *terms.shape[1:])
        for k in range(self.num_time_steps):
            torch.sum(terms, dim=0, out=out[k])
            if k + 1 < self.num_time_steps:
                terms.mul_(z)
        return out
