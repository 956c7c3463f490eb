"""MU-MIMO uplink: K single-antenna devices on every RE of one grid, separated in space by a
base station with ``N_r >= 1`` antennas (Sionna's blocks with ``StreamManagement``).

Pilots are orthogonal in frequency: on the pilot OFDM symbols, user ``k`` sends its pilots
on every ``K``-th effective subcarrier starting at ``k`` (the others' pilot REs are zero
for it), Sionna's Kronecker arrangement, with fixed-seed QPSK values as in
:mod:`~tokenlink.phy.grid` (building a link draws nothing from the run's streams). The
base station estimates every user's channel on every antenna from that user's pilots
(``receiver.estimator``: ``perfect`` or ``ls``) and detects all streams jointly
(``receiver.equalizer``: Sionna's ``ZFEqualizer`` or ``LMMSEEqualizer``, which whitens the
interference of the other users).

SNR: every user has unit-energy symbols and its own mean Es/N0 per RE and antenna
``esno_db[k]`` (its received power over the noise). The noise variance is ``no = 1`` and
user ``k``'s channel is scaled by ``sqrt(10**(esno_db[k]/10))``. Every user has its own
channel model (:class:`~tokenlink.phy.multiuser.UserConfig` ``channel``), drawn for
``N_r`` receive antennas in user order.

ZF with perfect CSI over i.i.d. Rayleigh fading leaves each stream the SNR of
``N_r - K + 1`` Rayleigh branches: :func:`~tokenlink.phy.theory.ber_rayleigh_mrc` with that
diversity order.
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
import torch
from sionna.phy import Block
from sionna.phy.channel import ApplyOFDMChannel
from sionna.phy.mapping import Constellation, Demapper, Mapper
from sionna.phy.mimo import StreamManagement
from sionna.phy.ofdm import (
    LMMSEEqualizer,
    PilotPattern,
    RemoveNulledSubcarriers,
    ResourceGrid,
    ResourceGridMapper,
    ZFEqualizer,
)

from .bits import random_bits
from .channels import OFDMChannelResponse
from .config import MODULATIONS, ChannelConfig, GridConfig, PhyConfig
from .receiver import build_ls_estimator
from .runtime import resolve_device

__all__ = ["MuMimoUplink", "orthogonal_pilot_pattern", "simulate_ber_mu_mimo"]


def _channel(phy: PhyConfig, channel: Union[ChannelConfig, dict, None]) -> ChannelConfig:
    if channel is None:
        return phy.channel
    return ChannelConfig(**channel) if isinstance(channel, dict) else channel


def orthogonal_pilot_pattern(cfg: GridConfig, num_users: int, precision: Optional[str] = None,
                             device: Optional[str] = None) -> PilotPattern:
    """Pilots of ``num_users`` transmitters, orthogonal in frequency: every user masks all REs
    of the pilot OFDM symbols; user ``k`` sends unit-energy QPSK (fixed seed) on effective
    subcarriers ``k, k + K, k + 2K, ...`` and zero on the rest (the others' pilots).

    :output: ``PilotPattern`` with mask [num_users, 1, num_ofdm_symbols, num_effective_subcarriers].
    """
    num_sc = cfg.num_effective_subcarriers
    if num_users > num_sc:
        raise ValueError(f"{num_users} users need at least {num_users} subcarriers for orthogonal pilots, "
                         f"the grid has {num_sc}")
    symbols = list(cfg.pilot_ofdm_symbol_indices)
    mask = np.zeros([num_users, 1, cfg.num_ofdm_symbols, num_sc], np.int32)
    mask[:, :, symbols, :] = 1
    per_tx = len(symbols) * num_sc
    rng = np.random.default_rng(0)
    pilots = np.zeros([num_users, 1, per_tx], np.complex128)
    own = np.zeros([len(symbols), num_sc], bool)
    for k in range(num_users):
        own[:] = False
        own[:, k::num_users] = True
        bits = rng.integers(0, 2, size=[int(own.sum()), 2])
        values = np.zeros([len(symbols), num_sc], np.complex128)
        values[own] = ((1 - 2 * bits[:, 0]) + 1j * (1 - 2 * bits[:, 1])) / np.sqrt(2)
        pilots[k, 0] = values.reshape(-1)  # mask order: OFDM symbol, then subcarrier
    return PilotPattern(mask, pilots, precision=precision, device=device)


class MuMimoUplink(Block):
    r"""``num_users`` single-antenna devices, all on all REs, detected jointly across the
    base station's ``phy.base_station.num_rx_antennas`` antennas.

    :param phy: Grid, modulation, demapping, receiver (``estimator`` perfect / ls,
        ``equalizer`` zf / lmmse), base station and the default channel.
    :param channels: One channel configuration per user (`None` entries: ``phy.channel``);
        its length is the number of users.
    :raises ValueError: ZF with fewer antennas than users; LMMSE channel estimation.

    :input bits: [batch, num_users, num_bits_per_slot], float.
    :input esno_db: [num_users] or [batch, num_users], mean Es/N0 per RE and antenna of each user [dB].
    :output llr, x_hat, no_eff: [batch, num_users, ...] per user (x_hat, no_eff over its data REs).
    """

    def __init__(self, phy: Union[PhyConfig, dict, None], channels: Sequence, precision: Optional[str] = None,
                 device: Optional[str] = None) -> None:
        super().__init__(precision=precision, device=resolve_device(device))
        phy = PhyConfig() if phy is None else (PhyConfig(**phy) if isinstance(phy, dict) else phy)
        self.config = phy
        k, n_r = len(channels), phy.base_station.num_rx_antennas
        if k < 1:
            raise ValueError("MU-MIMO needs at least one user")
        if phy.receiver.equalizer == "zf" and n_r < k:
            raise ValueError(f"receiver.equalizer zf separates at most base_station.num_rx_antennas = {n_r} users, "
                             f"got {k}: add antennas or use equalizer lmmse")
        if phy.receiver.estimator == "lmmse":
            raise ValueError("MU-MIMO supports receiver.estimator perfect or ls (not lmmse)")
        self.num_users = k
        kw = dict(precision=self.precision, device=self.device)
        g = phy.grid
        rg = ResourceGrid(num_ofdm_symbols=g.num_ofdm_symbols, fft_size=g.fft_size,
                          subcarrier_spacing=g.subcarrier_spacing_hz, num_tx=k, num_streams_per_tx=1,
                          cyclic_prefix_length=g.cyclic_prefix_length, num_guard_carriers=tuple(g.num_guard_carriers),
                          dc_null=g.dc_null, pilot_pattern="empty", **kw)
        if g.pilot_pattern != "empty":
            rg.pilot_pattern = orthogonal_pilot_pattern(g, k, rg.precision, rg.device)
        self.resource_grid = rg
        const_type, bits_per_symbol = MODULATIONS[phy.modulation]
        self.constellation = Constellation(const_type, bits_per_symbol, **kw)
        self._mapper = Mapper(constellation=self.constellation, **kw)
        self._demapper = Demapper(phy.demapping, constellation=self.constellation, **kw)
        self._rg_mapper = ResourceGridMapper(rg, **kw)
        self._apply_channel = ApplyOFDMChannel(**kw)
        self._channels = [OFDMChannelResponse(_channel(phy, c), rg, base_station=phy.base_station,
                                              fast=phy.receiver.implementation == "auto", **kw)
                          for c in channels]
        if phy.receiver.estimator == "ls":
            self._estimator = build_ls_estimator(rg, phy.receiver.interpolation, **kw)
        else:
            self._remove_nulled = RemoveNulledSubcarriers(rg, **kw)
        sm = StreamManagement(np.ones([1, k], int), 1)
        self._equalizer = (ZFEqualizer if phy.receiver.equalizer == "zf" else LMMSEEqualizer)(rg, sm, **kw)

    @property
    def num_bits_per_slot(self) -> int:
        """Bits of one user per slot."""
        return int(self.resource_grid.num_data_symbols) * self.constellation.num_bits_per_symbol

    def source(self, batch_size: int) -> torch.Tensor:
        """Uniform random bits, [batch_size, num_users, num_bits_per_slot], from Sionna's
        generator (:func:`~tokenlink.phy.bits.random_bits`)."""
        shape = [batch_size, self.num_users, self.num_bits_per_slot]
        return random_bits(shape, self.dtype, self.device, self.torch_rng)

    def generate_channel(self, batch_size: int) -> torch.Tensor:
        """Every user's channel to every antenna, users in order: [batch, 1, num_rx_ant, num_users, 1,
        num_ofdm_symbols, fft_size] (unit average gain; :meth:`call` scales it by each user's SNR)."""
        return torch.cat([c(batch_size) for c in self._channels], dim=3)

    def call(self, bits: torch.Tensor, esno_db: Union[Sequence[float], torch.Tensor],
             h_freq: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batch = bits.shape[0]
        esno = torch.as_tensor(esno_db, dtype=self.dtype, device=self.device)
        if esno.shape[-1] != self.num_users:
            raise ValueError(f"esno_db needs one value per user ({self.num_users}), got shape {list(esno.shape)}")
        if h_freq is None:
            h_freq = self.generate_channel(batch)
        gain = torch.pow(10.0, esno / 20.0).reshape(-1, 1, 1, self.num_users, 1, 1, 1)
        h = h_freq * gain.to(h_freq.dtype)  # user k received at esno_db[k] over no = 1
        x = self._mapper(bits)[:, :, None, :]  # [batch, K, 1, num_data]
        y = self._apply_channel(self._rg_mapper(x), h, 1.0)
        no = torch.ones([], dtype=self.dtype, device=self.device)
        if self.config.receiver.estimator == "ls":
            h_hat, err_var = self._estimator(y, no)
        else:
            h_hat, err_var = self._remove_nulled(h), torch.zeros((), dtype=self.dtype, device=self.device)
        x_hat, no_eff = self._equalizer(y, h_hat, err_var, no)
        x_hat, no_eff = x_hat[:, :, 0], no_eff[:, :, 0]
        return self._demapper(x_hat, no_eff), x_hat, no_eff


def simulate_ber_mu_mimo(uplink: MuMimoUplink, esno_db: Sequence[float], shadowing_std_db: Sequence[float] = (),
                         seed: int = 0, batch_size: int = 256, max_bits: int = 1_000_000,
                         min_bit_errors: int = 1000, max_rel_stderr: Optional[float] = None) -> list:
    """Every user's uncoded BER, all users transmitting together in every slot.

    User ``k`` runs at ``esno_db[k]`` minus, per slot, its own log-normal shadowing draw of
    ``shadowing_std_db[k]`` (stream ``default_rng([seed, k])``; empty: none). Batches run
    until every user has ``max_bits`` bits, or ``min_bit_errors`` errors (and, if given, a
    relative standard error of its BER at most ``max_rel_stderr`` from the per-slot error
    counts); the users share every slot, so all have the same number of slots.

    :output curves: One one-point :class:`~tokenlink.phy.ber.BERCurve` per user.
    """
    import time

    from .ber import BERCurve, _slot_error_stats
    from .snr import Shadowing

    k = uplink.num_users
    esno = np.asarray(esno_db, float)
    stds = list(shadowing_std_db) or [0.0] * k
    shadows = [Shadowing(std, [seed, u]) if std > 0 else None for u, std in enumerate(stds)]
    bits_per_slot, bps = uplink.num_bits_per_slot, uplink.constellation.num_bits_per_symbol
    err, sq, sym_err = np.zeros(k), np.zeros(k), np.zeros(k)
    shadow_sum, shadow_sq = np.zeros(k), np.zeros(k)
    slots, t0 = 0, time.perf_counter()
    while True:
        draws = np.stack([np.zeros(batch_size) if s is None else s.draw_db(batch_size) for s in shadows], 1)
        with torch.no_grad():
            bits = uplink.source(batch_size)
            llr, _, _ = uplink(bits, torch.as_tensor(esno[None, :] - draws))
            wrong = (llr > 0).to(bits.dtype) != bits  # [batch, K, bits]
        per_slot = wrong.sum(-1).double().cpu().numpy()
        err += per_slot.sum(0)
        sq += np.square(per_slot).sum(0)
        sym_err += wrong.unflatten(-1, (-1, bps)).any(-1).sum((0, 2)).double().cpu().numpy()
        shadow_sum += draws.sum(0)
        shadow_sq += np.square(draws).sum(0)
        slots += batch_size
        n_bits = slots * bits_per_slot
        if n_bits >= max_bits:
            break
        if np.all(err >= min_bit_errors):
            if max_rel_stderr is None:
                break
            _, se = _slot_error_stats(err, sq, np.full(k, slots))
            if np.all(se <= max_rel_stderr * np.maximum(err / slots, 1e-300)):
                break
    runtime = time.perf_counter() - t0
    num_symbols = slots * bits_per_slot // bps
    return [BERCurve(np.array([esno[u]]), np.array([err[u]]), np.array([float(slots * bits_per_slot)]),
                     np.array([sym_err[u]]), np.array([float(num_symbols)]), np.array([float(slots)]),
                     np.array([sq[u]]), bits_per_slot, {"user": u}, runtime,
                     np.array([shadow_sum[u]]), np.array([shadow_sq[u]])) for u in range(k)]
