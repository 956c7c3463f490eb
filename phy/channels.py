"""Channel models and frequency responses of one slot.

All models follow Sionna's :class:`~sionna.phy.channel.ChannelModel`
interface (path coefficients ``a`` and delays ``tau``), so Sionna's
:class:`~sionna.phy.channel.GenerateOFDMChannel` turns any of them into a
frequency response per resource element. Sionna has Rayleigh block fading
and the 3GPP TDL/CDL models; this module adds unit-gain AWGN and flat
Rician/Rayleigh fading that is either constant over a slot or redrawn per
OFDM symbol.

The frequency responses ``h_freq`` have shape
``[batch_size, 1, num_rx_ant, 1, 1, num_ofdm_symbols, fft_size]`` (Sionna's
``[batch, num_rx, num_rx_ant, num_tx, num_tx_ant, time, frequency]`` for one
single-antenna device and a base station with ``num_rx_ant`` antennas,
:class:`~tokenlink.phy.config.BaseStationConfig`). Each batch sample is an
independent realization. An OFDMA user's response is computed and held on its
own subcarriers only (last axis ``len(subcarriers)``, :class:`OFDMChannelResponse`).
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch
from sionna.phy import Object
from sionna.phy.channel import (ChannelModel, GenerateOFDMChannel, RayleighBlockFading, cir_to_ofdm_channel,
                                subcarrier_frequencies)
from sionna.phy.channel.tr38901 import CDL, TDL, Antenna, AntennaArray
from sionna.phy.ofdm import ResourceGrid, tdl_freq_cov_mat, tdl_time_cov_mat
from sionna.phy.utils import complex_normal, rand

from .config import CHANNEL_MODELS, BaseStationConfig, ChannelConfig, check_flat_fading
from .tdl_response import TDLResponse

__all__ = [
    "UnitGainChannel",
    "FlatFading",
    "build_channel_model",
    "OFDMChannelResponse",
    "channel_covariances",
]


class UnitGainChannel(ChannelModel):
    r"""A single path with gain 1 and delay 0 to every receive antenna: the AWGN channel.

    :param num_rx_ant: Receive antennas (all see the same unit gain).

    :input batch_size: `int`.
    :input num_time_steps: `int`.
    :input sampling_frequency: `float`. Unused.

    :output a: [batch_size, 1, num_rx_ant, 1, 1, 1, num_time_steps], `torch.complex`.
        Path coefficients, all ones.
    :output tau: [batch_size, 1, 1, 1], `torch.float`. Path delays [s], zeros.
    """

    def __init__(self, num_rx_ant: int = 1, precision: Optional[str] = None, device: Optional[str] = None) -> None:
        super().__init__(precision=precision, device=device)
        self.num_rx_ant = int(num_rx_ant)

    def __call__(
        self, batch_size: int, num_time_steps: int, sampling_frequency: Optional[float] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        shape = [batch_size, 1, self.num_rx_ant, 1, 1, 1, num_time_steps]
        a = torch.ones(shape, dtype=self.cdtype, device=self.device)
        tau = torch.zeros([batch_size, 1, 1, 1], dtype=self.dtype, device=self.device)
        return a, tau


class FlatFading(ChannelModel):
    r"""Flat Rician fading with K-factor ``k_factor`` (Rayleigh for ``K = 0``).

    .. math::
        h = \sqrt{\frac{K}{K+1}} e^{j\phi} + \sqrt{\frac{1}{K+1}}\, g,
        \qquad g \sim \mathcal{CN}(0, 1),\ \phi \sim \mathcal{U}(-\pi, \pi)

    so that :math:`\mathbb{E}|h|^2 = 1`. The line-of-sight phase
    :math:`\phi` is drawn once per batch sample. With ``coherence="block"``
    the scattered part :math:`g` is constant over the time steps of a sample
    (one slot); with ``coherence="symbol"`` it is drawn independently for
    every time step (OFDM symbol). With several receive antennas, ``g`` and
    ``phi`` are drawn independently per antenna (spatially uncorrelated).

    :param k_factor: Linear K-factor, ``>= 0``.
    :param coherence: ``"block"`` | ``"symbol"``.
    :param num_rx_ant: Receive antennas.
    :param precision: ``"single"`` | ``"double"`` | `None`.
    :param device: Torch device | `None`.

    :input batch_size: `int`.
    :input num_time_steps: `int`.
    :input sampling_frequency: `float`. Unused.

    :output a: [batch_size, 1, num_rx_ant, 1, 1, 1, num_time_steps], `torch.complex`.
        Path coefficients.
    :output tau: [batch_size, 1, 1, 1], `torch.float`. Path delays [s], zeros.
    """

    def __init__(
        self,
        k_factor: float = 0.0,
        coherence: str = "block",
        num_rx_ant: int = 1,
        precision: Optional[str] = None,
        device: Optional[str] = None,
    ) -> None:
        super().__init__(precision=precision, device=device)
        self.k_factor, self.coherence = check_flat_fading(k_factor, coherence)
        self.num_rx_ant = int(num_rx_ant)

    def __call__(
        self, batch_size: int, num_time_steps: int, sampling_frequency: Optional[float] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        steps = num_time_steps if self.coherence == "symbol" else 1
        shape = [batch_size, 1, self.num_rx_ant, 1, 1, 1, steps]
        g = complex_normal(shape, 1.0 / (self.k_factor + 1.0), precision=self.precision,
                           device=self.device, generator=self.torch_rng)
        if self.k_factor > 0:
            phi = (rand([batch_size, 1, self.num_rx_ant, 1, 1, 1, 1], dtype=self.dtype, device=self.device,
                        generator=self.torch_rng) * 2 - 1) * np.pi
            los = float(np.sqrt(self.k_factor / (self.k_factor + 1.0)))
            g = g + los * torch.polar(torch.ones_like(phi), phi)
        a = g.expand(-1, -1, -1, -1, -1, -1, num_time_steps)
        tau = torch.zeros([batch_size, 1, 1, 1], dtype=self.dtype, device=self.device)
        return a, tau


def build_channel_model(
    cfg: ChannelConfig,
    precision: Optional[str] = None,
    device: Optional[str] = None,
    base_station: Optional[BaseStationConfig] = None,
) -> ChannelModel:
    """The :class:`~sionna.phy.channel.ChannelModel` a :class:`ChannelConfig` asks for,
    towards the receive antennas of ``base_station`` (`None`: one antenna).

    Rayleigh block fading is Sionna's own ``RayleighBlockFading``; the other
    flat cases are :class:`FlatFading`; TDL and CDL are Sionna's TR 38.901
    models. The device has one omnidirectional, vertically polarized antenna;
    the base station one such antenna, or for CDL with several antennas a
    uniform linear array (:class:`~tokenlink.phy.config.BaseStationConfig`).
    """
    kw = dict(precision=precision, device=device)
    bs = base_station or BaseStationConfig()
    num_rx_ant = bs.num_rx_antennas
    lo, hi = cfg.speed_range_mps
    if cfg.model == "awgn":
        return UnitGainChannel(num_rx_ant, **kw)
    if cfg.model == "rayleigh":
        if cfg.coherence == "block":
            return RayleighBlockFading(num_rx=1, num_rx_ant=num_rx_ant, num_tx=1, num_tx_ant=1, **kw)
        return FlatFading(0.0, cfg.coherence, num_rx_ant, **kw)
    if cfg.model == "rician":
        return FlatFading(cfg.k_factor, cfg.coherence, num_rx_ant, **kw)
    if cfg.model == "tdl":
        return TDL(
            cfg.profile,
            delay_spread=cfg.delay_spread_s,
            carrier_frequency=cfg.carrier_frequency_hz,
            min_speed=lo,
            max_speed=hi,
            num_rx_ant=num_rx_ant,
            **kw,
        )
    if cfg.model == "cdl":
        ant = dict(polarization="single", polarization_type="V", antenna_pattern="omni",
                   carrier_frequency=cfg.carrier_frequency_hz, **kw)
        if num_rx_ant == 1 and bs.antenna_pattern == "omni":
            bs_array = Antenna(**ant)
        else:
            bs_array = AntennaArray(num_rows=1, num_cols=num_rx_ant, polarization="single",
                                    polarization_type="V", antenna_pattern=bs.antenna_pattern,
                                    carrier_frequency=cfg.carrier_frequency_hz,
                                    horizontal_spacing=bs.antenna_spacing_wavelengths, **kw)
        return CDL(
            cfg.profile,
            delay_spread=cfg.delay_spread_s,
            carrier_frequency=cfg.carrier_frequency_hz,
            ut_array=Antenna(**ant),
            bs_array=bs_array,
            direction=cfg.direction,
            min_speed=lo,
            max_speed=hi,
            **kw,
        )
    raise ValueError(f"channel.model must be one of {', '.join(CHANNEL_MODELS)}; got {cfg.model!r}")


class OFDMChannelResponse(Object):
    r"""Draws channel frequency responses for a batch of slots.

    Wraps Sionna's :class:`~sionna.phy.channel.GenerateOFDMChannel`. No
    gradient is recorded: nothing here depends on trainable parameters.

    :param cfg: Channel configuration.
    :param resource_grid: Resource grid of one slot.
    :param precision: ``"single"`` | ``"double"`` | `None`.
    :param device: Torch device | `None`.
    :param base_station: Receive antennas (`None`: one).
    :param subcarriers: `None` (all), or the subcarriers (indices into the FFT,
        0 = lowest frequency, ascending) where the response is needed, e.g. those
        of one OFDMA user: it is computed there only (the same channel impulse
        response, drawn as for the whole band, so the same values), and the
        output's last axis holds these subcarriers only (:attr:`subcarriers`).
        Ignored with ``normalize`` (the energy of the whole grid).
    :param fast: For ``tdl`` without ``normalize``: compute the response directly
        (:class:`~tokenlink.phy.tdl_response.TDLResponse`: Sionna's draws, the same
        values within rounding, several times faster); for ``cdl``: sum the rays
        directly (:mod:`~tokenlink.phy.cdl_rays`: Sionna's model and draws, the same
        values within rounding, 1.2x faster with one antenna, 2x and more with
        several). `False`: Sionna's ``TDL``/``CDL`` + ``cir_to_ofdm_channel``.
        Other models always use Sionna's path.

    :input batch_size: `int`. Number of slots (independent realizations).

    :output h_freq: [batch_size, 1, num_rx_ant, 1, 1, num_ofdm_symbols, num_subcarriers], `torch.complex`.
        Channel frequency response per resource element and receive antenna;
        ``num_subcarriers`` is ``fft_size``, or the number of ``subcarriers`` given.
    """

    def __init__(
        self,
        cfg: ChannelConfig,
        resource_grid: ResourceGrid,
        precision: Optional[str] = None,
        device: Optional[str] = None,
        base_station: Optional[BaseStationConfig] = None,
        subcarriers: Optional[np.ndarray] = None,
        fast: bool = True,
    ) -> None:
        super().__init__(precision=precision, device=device)
        self.channel_model = build_channel_model(cfg, precision=self.precision, device=self.device,
                                                 base_station=base_station)
        self._rg = resource_grid
        self._subcarriers: Optional[torch.Tensor] = None
        freqs = subcarrier_frequencies(resource_grid.fft_size, resource_grid.subcarrier_spacing,
                                       precision=self.precision, device=self.device)
        if subcarriers is not None and not cfg.normalize:
            self._subcarriers = torch.as_tensor(np.asarray(subcarriers), dtype=torch.long, device=self.device)
            freqs = freqs[self._subcarriers]
            self._frequencies = freqs
        if fast and cfg.model == "cdl":
            from .cdl_rays import sum_rays_directly  # Sionna 2.x internals: imported where used

            sum_rays_directly(self.channel_model)
        self._direct: Optional[TDLResponse] = None
        if fast and cfg.model == "tdl" and not cfg.normalize:
            self._direct = TDLResponse(self.channel_model, freqs, resource_grid.num_ofdm_symbols,
                                       1.0 / resource_grid.ofdm_symbol_duration)
        self._generate = GenerateOFDMChannel(
            self.channel_model,
            resource_grid,
            normalize_channel=cfg.normalize,
            precision=self.precision,
            device=self.device,
        )

    @torch.no_grad()
    def __call__(self, batch_size: int) -> torch.Tensor:
        if self._direct is not None:
            return self._direct(batch_size)
        if self._subcarriers is None:
            return self._generate(batch_size)
        rg = self._rg
        a, tau = self.channel_model(batch_size, rg.num_ofdm_symbols, 1.0 / rg.ofdm_symbol_duration)
        return cir_to_ofdm_channel(self._frequencies, a, tau, False)

    @property
    def subcarriers(self) -> Optional[np.ndarray]:
        """The FFT indices the output's last axis holds, ascending; `None`: all ``fft_size``."""
        return None if self._subcarriers is None else self._subcarriers.cpu().numpy()


def _tdl_time_cov_averaged(
    cfg: ChannelConfig, rg: ResourceGrid, precision: str, device: str, num_speeds: int = 16
) -> torch.Tensor:
    """TDL time covariance averaged over the uniform UE speed distribution."""
    lo, hi = cfg.speed_range_mps
    if hi == lo:
        speeds = [lo]
    else:  # midpoint rule over [lo, hi]
        speeds = lo + (np.arange(num_speeds) + 0.5) * (hi - lo) / num_speeds
    mats = [
        tdl_time_cov_mat(cfg.profile, float(v), cfg.carrier_frequency_hz,
                         rg.ofdm_symbol_duration, rg.num_ofdm_symbols,
                         precision=precision, device=device)
        for v in speeds
    ]
    return torch.stack(mats).mean(0)


@torch.no_grad()
def _empirical_covariances(
    response: OFDMChannelResponse, rg: ResourceGrid, num_samples: int, batch_size: int = 256
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Sample time and frequency covariance matrices of a channel model."""
    sc = torch.as_tensor(rg.effective_subcarrier_ind, device=response.device)
    r_f = 0.0
    r_t = 0.0
    done = 0
    while done < num_samples:
        n = min(batch_size, num_samples - done)
        h = response(n)[:, 0, :, 0, 0][..., sc].flatten(0, 1)  # [n * num_rx_ant, S, F]
        r_f = r_f + torch.einsum("nsf,nsg->fg", h, h.conj())
        r_t = r_t + torch.einsum("nsf,ntf->st", h, h.conj())
        done += n
    num_rx_ant = h.shape[0] // n
    r_f = r_f / (num_samples * num_rx_ant * h.shape[1])
    r_t = r_t / (num_samples * num_rx_ant * h.shape[2])
    # Separable model R = R_t (x) R_f: the power is carried by R_f alone.
    r_t = r_t / torch.diagonal(r_t).real.mean()
    return r_t, r_f


def channel_covariances(
    cfg: ChannelConfig,
    rg: ResourceGrid,
    precision: Optional[str] = None,
    device: Optional[str] = None,
    num_samples: int = 2048,
    base_station: Optional[BaseStationConfig] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    r"""Time and frequency covariance matrices of the channel, for LMMSE estimation.

    Closed form where the model has one: AWGN and flat block fading (all
    ones), flat per-symbol fading (:math:`\frac{K}{K+1}\mathbf{1} +
    \frac{1}{K+1}\mathbf{I}` in time), TDL (Sionna's ``tdl_freq_cov_mat`` and
    ``tdl_time_cov_mat``, the latter averaged over the UE speed range).
    CDL: sample covariances of ``num_samples`` realizations (drawn from
    Sionna's seeded generator, so they are reproducible), pooled over the
    receive antennas of ``base_station``. The same matrices serve every
    receive antenna (the estimate is per antenna, without spatial filtering).

    :output cov_mat_time: [num_ofdm_symbols, num_ofdm_symbols], `torch.complex`.
    :output cov_mat_freq: [num_effective_subcarriers, num_effective_subcarriers], `torch.complex`.
    """
    obj = Object(precision=precision, device=device)
    cdtype, device = obj.cdtype, obj.device
    n_t, n_f = rg.num_ofdm_symbols, rg.num_effective_subcarriers
    if cfg.normalize or cfg.model == "cdl":
        response = OFDMChannelResponse(cfg, rg, precision=obj.precision, device=device, base_station=base_station)
        return _empirical_covariances(response, rg, num_samples)
    if cfg.model in ("awgn", "rayleigh", "rician"):
        r_f = torch.ones([n_f, n_f], dtype=cdtype, device=device)
        if cfg.coherence == "block" or cfg.model == "awgn":
            r_t = torch.ones([n_t, n_t], dtype=cdtype, device=device)
        else:
            k = cfg.k_factor if cfg.model == "rician" else 0.0
            r_t = (k + torch.eye(n_t, dtype=cdtype, device=device)) / (k + 1.0)
        return r_t, r_f
    # TDL
    sc = rg.effective_subcarrier_ind
    r_f_full = tdl_freq_cov_mat(cfg.profile, rg.subcarrier_spacing, rg.fft_size,
                                cfg.delay_spread_s, precision=obj.precision, device=device)
    r_f = r_f_full[sc][:, sc]
    r_t = _tdl_time_cov_averaged(cfg, rg, obj.precision, device)
    return r_t, r_f
