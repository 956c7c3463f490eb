"""Sionna's CDL channel with its NLOS rays summed directly: the same draws, less work.

Sionna's :class:`~sionna.phy.channel.tr38901.CDL` builds, for every slot,
cluster, ray, antenna pair and time sample, the product of the ray's field
and array response with its Doppler phase ``exp(j w_r t_k)`` (one complex
exponential per ray and time sample), multiplies by the cluster's power and
sums over the rays (TR 38.901, Eq. (7.5-22), (7.5-28)). The tensor of that
product is the size of all of them together (slots x clusters x rays x
antennas x time samples), and most of the model's time is spent on it.

Here only the NLOS step is computed differently, in
:meth:`RayDopplerCoefficients._step_11_nlos`:

* the time samples are equally spaced (``t_k = k dt``), so the Doppler phases
  are powers, ``exp(j w_r k dt) = z_r^k``: Sionna's own Doppler matrix is
  evaluated at ``dt`` only, and its powers come from a running product;
* the cluster power is applied once per ray, before the time axis exists;
* the sum over the rays is a contraction (``einsum``) of the per-ray
  responses [.., rays, antennas] with the Doppler phases [.., rays, time],
  so the full product is never stored.

Everything else (velocities, topology, rays and their angles, the random
phases, the LOS component and the K-factor) is Sionna's code with Sionna's
random draws in its order, so a seed gives Sionna's channel, within
floating-point rounding (``tests/test_cdl_rays.py``). Sub-clustering and
blockage (not used by CDL) fall back to Sionna's step.
"""

from __future__ import annotations

import torch
from sionna.phy.channel.tr38901 import CDL
from sionna.phy.channel.tr38901.channel_coefficients import ChannelCoefficientsGenerator

__all__ = ["RayDopplerCoefficients", "sum_rays_directly"]


class RayDopplerCoefficients(ChannelCoefficientsGenerator):
    """Sionna's coefficient generator with the NLOS rays summed as described in the module.

    The output of ``_step_11_nlos`` keeps Sionna's layout with the ray axis
    already summed (length 1): [batch, num_tx, num_rx, num_clusters, 1,
    num_rx_ant, num_tx_ant, num_time_samples]; Sionna's next step sums that axis.
    """

    def _step_11_nlos(self, phi, topology, rays, t):
        blocked = getattr(rays, "blockage_loss_db", None) is not None and \
            not getattr(rays, "blockage_loss_applied_to_powers", False)
        if self._subclustering or blocked or t.dim() != 1 or t.shape[0] < 1:
            return super()._step_11_nlos(phi, topology, rays, t)
        h_phase = self._step_11_phase_matrix(phi, rays)
        h_field = self._step_11_field_matrix(topology, rays.aoa, rays.aod, rays.zoa, rays.zod, h_phase)
        h_array = self._step_11_array_offsets(topology, rays.aoa, rays.aod, rays.zoa, rays.zod)
        num_rays = h_field.shape[4]
        # [batch, tx, rx, clusters] -> the per-ray amplitude sqrt(P_n / M), real
        amplitude = torch.sqrt(rays.powers / num_rays)
        per_ray = h_field * h_array * amplitude.reshape(*amplitude.shape, 1, 1, 1).to(h_field.dtype)
        num_t = t.shape[0]
        if num_t == 1:  # one sample at t[0]: Sionna's Doppler matrix there
            doppler = self._step_11_doppler_matrix(topology, rays.aoa, rays.aod, rays.zoa, rays.zod, t)
        else:  # z_r = exp(j w_r dt), Sionna's matrix at one step; then 1, z, z^2, ...
            dt = t[1:2] - t[0:1]
            z = self._step_11_doppler_matrix(topology, rays.aoa, rays.aod, rays.zoa, rays.zod, dt)
            powers = torch.cumprod(z.expand(*z.shape[:-1], num_t - 1), dim=-1)
            doppler = torch.cat([torch.ones_like(z), powers], dim=-1)
            if bool(t[0] != 0):  # a later start: the phase at t[0] for every sample
                doppler = doppler * self._step_11_doppler_matrix(topology, rays.aoa, rays.aod, rays.zoa,
                                                                 rays.zod, t[0:1])
        # sum over rays of [.., rays, rx_ant, tx_ant] x [.., rays, time]
        h = torch.einsum("...rxy,...rt->...xyt", per_ray, doppler)
        return h.unsqueeze(4)


def sum_rays_directly(cdl: CDL) -> CDL:
    """Give a Sionna CDL model :class:`RayDopplerCoefficients` (in place; its state is kept)."""
    generator = cdl._cir_gen
    if type(generator) is ChannelCoefficientsGenerator:
        generator.__class__ = RayDopplerCoefficients
    return cdl
