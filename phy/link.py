"""The uncoded single-stream OFDM link: bits or symbols in, LLRs or equalized
symbols out.

Transmitter: bits -> Gray-mapped QAM (Sionna ``Mapper``) -> data resource
elements of one slot (``ResourceGridMapper``, pilots inserted). Channel: a
frequency response per resource element (``GenerateOFDMChannel``) applied
with AWGN (``ApplyOFDMChannel``). Receiver: perfect / LS / LMMSE channel
estimate -> ZF / LMMSE equalizer -> APP or max-log demapper. No channel code.
The base station may have several receive antennas
(``base_station.num_rx_antennas``): the one stream is then estimated per
antenna and combined by maximum ratio (what ZF and unbiased LMMSE compute
for one stream).

Every batch sample is one slot with its own channel realization and its own
noise variance ``no`` (so one call can cover a whole SNR sweep). With perfect
or LS CSI the receiver and demapper run on the elementwise single-stream path
of :mod:`~tokenlink.phy.fast` (same numbers as Sionna's blocks; set
``receiver.implementation="sionna"`` for the blocks themselves). The steps
are exposed one by one so that one channel realization can carry two
different transmit grids (e.g. analog and digital tokens)::

    h_freq = link.generate_channel(batch_size)
    y_a = link.apply_channel(link.map_to_grid(x_analog), h_freq, no)
    y_d = link.apply_channel(link.map_to_grid(link.modulate(bits)), h_freq, no)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np
import sionna.phy
import torch
from sionna.phy import Block
from sionna.phy.channel import ApplyOFDMChannel
from sionna.phy.mapping import Constellation, Demapper, Mapper
from sionna.phy.ofdm import ResourceGridMapper
from sionna.phy.utils import complex_normal, hard_decisions

from .bits import index_to_bits, random_bits
from .channels import OFDMChannelResponse
from .config import MODULATIONS, PhyConfig
from .fast import SisoReceiver, supports_fast_path
from .grid import build_resource_grid, grid_summary
from .link_io import NO_FLOOR, LinkOutput, SlotSizes, check_no, floor_no
from .qam import BitMapper, SeparableDemapper
from .receiver import ChannelEstimator, build_equalizer
from .runtime import resolve_device

if TYPE_CHECKING:
    from .allocation import Allocation

__all__ = ["OFDMLink", "LinkOutput", "NO_FLOOR"]

class OFDMLink(SlotSizes, Block):
    r"""Uncoded OFDM link for one transmitter, one stream, ``num_rx_ant`` receive antennas.

    :param config: :class:`~tokenlink.phy.config.PhyConfig`, a dict of its
        fields, or `None` for the defaults.
    :param precision: ``"single"`` | ``"double"`` | `None` (Sionna's default).
    :param device: ``"auto"`` | ``"cpu"`` | ``"cuda"`` | ``"cuda:N"`` | `None`
        (`None`: Sionna's ``config.device``; ``"auto"``: CUDA when present,
        else CPU).
    :param allocation: `None` (the link owns the whole grid), or the OFDMA
        :class:`~tokenlink.phy.allocation.Allocation` of one user of a shared
        grid: its data go on its own data REs, its pilots lie inside its
        resource blocks, it sends nothing elsewhere, and its LS estimate uses
        only its own pilots (:mod:`~tokenlink.phy.multiuser`). Its channel and,
        on the fast path, its noise are drawn on its own subcarriers only
        (:attr:`channel_subcarriers`): the cost per RE is that of a link of
        its width.

    :input bits: [batch_size, num_bits_per_slot], `torch.float`. Bits (0/1).
    :input no: Scalar or [batch_size], `torch.float`. Noise variance per
        complex resource element (``no/2`` per real dimension); with unit
        energy constellations and unit average channel gain,
        ``no = 10**(-esno_db/10)`` (Es/N0 per RE and receive antenna). ``no = 0`` is a noiseless link (infinite
        Es/N0): the channel adds no noise and the receiver assumes
        ``max(no, NO_FLOOR)`` (Es/N0 = 100 dB) so that the LMMSE estimator and
        equalizer stay finite.
    :input h_freq: `None` (default) | [batch_size, 1, num_rx_ant, 1, 1, num_ofdm_symbols, num_channel_subcarriers].
        A channel realization to reuse; drawn fresh if `None`.
    :input return_channel: `bool`. Return the realization in the output.

    :output out: :class:`LinkOutput` (``llr``, ``x_hat``, ``no_eff``, ``h_freq``).

    .. rubric:: Example

    .. code-block:: python

        link = OFDMLink({"modulation": "16qam", "channel": {"model": "tdl"},
                         "receiver": {"estimator": "ls"}})
        bits = link.source(64)
        out = link(bits, no=esno_db_to_no(10.0))
        ber = ((out.llr > 0).float() != bits).float().mean()
    """

    def __init__(
        self,
        config: Union[PhyConfig, dict, None] = None,
        precision: Optional[str] = None,
        device: Optional[str] = None,
        allocation: Optional["Allocation"] = None,
    ) -> None:
        super().__init__(precision=precision, device=resolve_device(device))
        if config is None:
            config = PhyConfig()
        elif isinstance(config, dict):
            config = PhyConfig(**config)
        if config.backend != "torch":
            raise ValueError(f"OFDMLink is the torch backend's link, got phy.backend={config.backend!r}: "
                             "build the link with tokenlink.phy.build_link(config)")
        self.config: PhyConfig = config
        kw: dict[str, Any] = dict(precision=self.precision, device=self.device)

        self.allocation = allocation
        self.resource_grid = build_resource_grid(config.grid, allocation=allocation, **kw)
        const_type, bits_per_symbol = MODULATIONS[config.modulation]
        self.constellation = Constellation(const_type, bits_per_symbol, **kw)
        self._mapper = Mapper(constellation=self.constellation, **kw)
        self._demapper = Demapper(config.demapping, constellation=self.constellation, **kw)
        self._rg_mapper = ResourceGridMapper(self.resource_grid, **kw)
        bs = config.base_station
        own = None  # an OFDMA user needs its channel on its own subcarriers only
        if allocation is not None and allocation.num_subcarriers < config.grid.num_effective_subcarriers:
            own = np.asarray(self.resource_grid.effective_subcarrier_ind)[allocation.subcarriers]
        self._channel = OFDMChannelResponse(config.channel, self.resource_grid, base_station=bs, subcarriers=own,
                                            fast=config.receiver.implementation == "auto", **kw)
        self._apply_channel = ApplyOFDMChannel(**kw)
        self._estimator = ChannelEstimator(config.receiver, config.channel, self.resource_grid,
                                           base_station=bs, **kw)
        self._equalizer = build_equalizer(self.resource_grid, config.receiver.equalizer, **kw)
        self._fast: Optional[SisoReceiver] = None
        self._fast_demapper: Optional[SeparableDemapper] = None
        self._fast_mapper: Optional[BitMapper] = None
        if config.receiver.implementation == "auto":
            self._fast_mapper = BitMapper(self.constellation, **kw)
            if supports_fast_path(config.receiver):
                self._fast = SisoReceiver(config.receiver, self.resource_grid, num_rx_ant=bs.num_rx_antennas,
                                          subcarriers=self.channel_subcarriers,
                                          covariances=self._estimator.covariances, **kw)
            self._fast_demapper = SeparableDemapper(self.constellation, config.demapping,
                                                    compile=config.receiver.compile, **kw)

    # ------------------------------------------------------------------ sizes
    @property
    def num_rx_ant(self) -> int:
        """Receive antennas of the base station."""
        return self.config.base_station.num_rx_antennas

    @property
    def metadata(self) -> dict:
        """Plain-data description of the link, for results and traces."""
        return self._describe("fast" if self._fast is not None else "sionna", self.num_rx_ant,
                              grid_summary(self.resource_grid),
                              None if self.allocation is None else list(self.allocation.resource_blocks))

    # ------------------------------------------------------------ transmitter
    def source(self, batch_size: int) -> torch.Tensor:
        """Uniform random bits, [batch_size, num_bits_per_slot], `torch.float`, from Sionna's
        generator (:func:`~tokenlink.phy.bits.random_bits`)."""
        return random_bits([batch_size, self.num_bits_per_slot], self.dtype, self.device, self.torch_rng)

    def modulate(self, bits: torch.Tensor) -> torch.Tensor:
        """[batch_size, num_bits_per_slot] bits -> [batch_size, num_data_symbols] symbols."""
        if bits.dim() != 2 or bits.shape[-1] != self.num_bits_per_slot:
            raise ValueError(
                f"bits must have shape [batch_size, {self.num_bits_per_slot}] "
                f"(num_bits_per_slot), got {list(bits.shape)}"
            )
        return (self._mapper if self._fast_mapper is None else self._fast_mapper)(bits)

    def modulate_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """[batch_size, num_data_symbols] symbol labels (integers whose
        ``num_bits_per_symbol`` bits, MSB first, are the symbol's bits) ->
        symbols; the same as :meth:`modulate` of those bits."""
        if labels.dim() != 2 or labels.shape[-1] != self.num_data_symbols or labels.is_floating_point():
            raise ValueError(
                f"labels must be integers of shape [batch_size, {self.num_data_symbols}] "
                f"(num_data_symbols), got {labels.dtype} {list(labels.shape)}"
            )
        if self._fast_mapper is not None:
            return self._fast_mapper.points_of(labels)
        return self.modulate(index_to_bits(labels, self.num_bits_per_symbol, self.dtype).flatten(-2))

    def map_to_grid(self, x: torch.Tensor) -> torch.Tensor:
        """Place data symbols and pilots on the grid.

        :input x: [batch_size, num_data_symbols], `torch.complex`.
        :output x_rg: [batch_size, 1, 1, num_ofdm_symbols, fft_size], `torch.complex`.
        """
        self._check_symbols(x)
        return self._rg_mapper(x[:, None, None, :])

    def _check_symbols(self, x: torch.Tensor) -> None:
        if x.dim() != 2 or x.shape[-1] != self.num_data_symbols:
            raise ValueError(
                f"x must have shape [batch_size, {self.num_data_symbols}] "
                f"(num_data_symbols), got {list(x.shape)}"
            )

    # ---------------------------------------------------------------- channel
    @property
    def channel_subcarriers(self) -> Optional[np.ndarray]:
        """The FFT indices (ascending) a realization of this link holds on its last axis: an
        OFDMA user's own subcarriers; `None`: the whole FFT (``fft_size``)."""
        return self._channel.subcarriers

    @property
    def num_channel_subcarriers(self) -> int:
        """Width of a realization's last axis: ``fft_size``, or an OFDMA user's subcarriers."""
        own = self.channel_subcarriers
        return self.resource_grid.fft_size if own is None else len(own)

    def generate_channel(self, batch_size: int) -> torch.Tensor:
        """Fresh realizations, [batch_size, 1, num_rx_ant, 1, 1, num_ofdm_symbols, num_channel_subcarriers]:
        the whole FFT, or an OFDMA user's own subcarriers only (:attr:`channel_subcarriers`; nothing
        of the user's is sent or read elsewhere). :meth:`whole_grid_channel` widens one."""
        return self._channel(batch_size)

    def whole_grid_channel(self, h_freq: torch.Tensor) -> torch.Tensor:
        """A realization on the whole FFT, [..., num_ofdm_symbols, fft_size]: zero outside an OFDMA
        user's subcarriers (a realization of the whole FFT is returned as it is)."""
        own, fft_size = self.channel_subcarriers, self.resource_grid.fft_size
        if own is None or h_freq.shape[-1] == fft_size:
            return h_freq
        h = h_freq.new_zeros(*h_freq.shape[:-1], fft_size)
        h[..., torch.as_tensor(own, device=h.device)] = h_freq
        return h

    def _own_channel(self, h_freq: torch.Tensor) -> torch.Tensor:
        """A realization in this link's layout (:meth:`generate_channel`): a whole-FFT one is cut to
        an OFDMA user's subcarriers."""
        own = self.channel_subcarriers
        if own is None or h_freq.shape[-1] == len(own):
            return h_freq
        if h_freq.shape[-1] != self.resource_grid.fft_size:
            raise ValueError(f"h_freq's last axis must have {len(own)} (the user's subcarriers) or "
                             f"{self.resource_grid.fft_size} (fft_size) entries, got {h_freq.shape[-1]}")
        return h_freq[..., torch.as_tensor(own, device=h_freq.device)]

    def apply_channel(
        self, x_rg: torch.Tensor, h_freq: torch.Tensor, no: Union[float, torch.Tensor]
    ) -> torch.Tensor:
        """``y = h x + n`` per resource element and receive antenna, ``n ~ CN(0, no)``; ``h_freq`` as
        :meth:`generate_channel` gives it (or on the whole FFT).

        :output y: [batch_size, 1, num_rx_ant, num_ofdm_symbols, fft_size], `torch.complex`.
        """
        return self._apply_channel(x_rg, self.whole_grid_channel(h_freq), check_no(no, x_rg.shape[0]))

    # --------------------------------------------------------------- receiver
    def equalize(
        self,
        y: torch.Tensor,
        no: Union[float, torch.Tensor],
        h_freq: Optional[torch.Tensor] = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Estimate the channel and equalize the data resource elements.

        :output x_hat: [batch_size, num_data_symbols], `torch.complex`.
        :output no_eff: [batch_size, num_data_symbols], `torch.float`.
        """
        no = floor_no(check_no(no, y.shape[0]))
        if h_freq is not None:
            h_freq = self.whole_grid_channel(h_freq)
        if self._fast is not None:
            return self._fast(y, no, h_freq)
        h_hat, err_var = self._estimator(y, no, h_freq)
        x_hat, no_eff = self._equalizer(y, h_hat, err_var, no)
        return x_hat[:, 0, 0], no_eff[:, 0, 0]

    @property
    def on_fast_path(self) -> bool:
        """Whether the receiver runs on the elementwise fast path (:mod:`~tokenlink.phy.fast`)."""
        return self._fast is not None

    @property
    def decides_by_slicing(self) -> bool:
        """Whether ``demap(..., hard=True)`` slices ``x_hat`` without ``no_eff``
        (max-log on the separable fast demapper: the signs of the LLRs do not
        depend on the noise variance)."""
        return self._fast_demapper is not None and self._fast_demapper.method == "maxlog"

    def decide_labels(self, x_hat: torch.Tensor) -> torch.Tensor:
        """Labels of the nearest constellation points, [batch_size, num_data_symbols],
        int32: the max-log hard decisions of :meth:`demap` as one integer per
        symbol. Needs :attr:`decides_by_slicing`."""
        if not self.decides_by_slicing:
            raise ValueError("decide_labels needs max-log demapping on the fast path (demapping: maxlog, "
                             "receiver.implementation: auto)")
        return self._fast_demapper.decide_labels(x_hat)

    def demap(self, x_hat: torch.Tensor, no_eff: Optional[torch.Tensor], hard: bool = False) -> torch.Tensor:
        """LLRs ``log(P(b=1)/P(b=0))``, or with ``hard=True`` the bits they
        decide (``1.`` where the LLR is positive); [batch_size, num_bits_per_slot].
        ``no_eff`` may be `None` for hard decisions when :attr:`decides_by_slicing`."""
        if hard and self.decides_by_slicing:
            return self._fast_demapper.decide(x_hat)  # the signs of the max-log LLRs, without them
        if no_eff is None:
            raise ValueError("demap needs no_eff (only max-log hard decisions on the fast path do not)")
        fast = self._fast_demapper
        llr = (self._demapper if fast is None else fast)(x_hat, no_eff)
        return hard_decisions(llr) if hard else llr

    # ------------------------------------------------------------ end to end
    def transmit_symbols(
        self,
        x: torch.Tensor,
        no: Union[float, torch.Tensor],
        h_freq: Optional[torch.Tensor] = None,
        return_no_eff: bool = True,
        noise: Optional[torch.Tensor] = None,
    ) -> tuple[torch.Tensor, Optional[torch.Tensor], torch.Tensor]:
        """Any complex data symbols through grid, channel and receiver.

        :input x: [batch_size, num_data_symbols], `torch.complex`.
        :input return_no_eff: With `False`, ``no_eff`` is `None` (the fast
            path then skips computing it).
        :input h_freq: `None` (drawn), or a realization as :meth:`generate_channel` gives it (one on
            the whole FFT is cut to an OFDMA user's subcarriers).
        :input noise: `None` (drawn), or a unit-variance noise draw in the layout of
            :meth:`draw_noise` (the received REs are ``h x + sqrt(no) noise``; fast path only).
        :output x_hat, no_eff: as :meth:`equalize`.
        :output h_freq: the realization used, as :meth:`generate_channel` gives it.
        """
        h_freq = self.generate_channel(x.shape[0]) if h_freq is None else self._own_channel(h_freq)
        if noise is not None and self._fast is None:
            raise ValueError("transmit_symbols(noise=...) needs the fast path (receiver.implementation: auto, "
                             "any estimator)")
        if self._fast is not None:
            # Same numbers as the grid path below (same noise draw), computed
            # only on the data and pilot REs.
            self._check_symbols(x)
            no = check_no(no, x.shape[0])
            if noise is None:
                noise = self.draw_noise(x.shape[0])
            x_hat, no_eff = self._fast.transmit(x, no, floor_no(no), h_freq, noise, return_no_eff)
            return x_hat, no_eff, h_freq
        y = self.apply_channel(self.map_to_grid(x), h_freq, no)
        x_hat, no_eff = self.equalize(y, no, h_freq)
        return x_hat, (no_eff if return_no_eff else None), h_freq

    def draw_noise(self, batch_size: int) -> torch.Tensor:
        """Unit-variance complex noise on every RE of the channel's layout and receive antenna,
        [batch_size, 1, num_rx_ant, num_ofdm_symbols, num_channel_subcarriers] (an OFDMA user's
        own subcarriers only), from Sionna's generator (the draw :meth:`transmit_symbols` makes)."""
        rg = self.resource_grid
        return complex_normal([batch_size, 1, self.num_rx_ant, rg.num_ofdm_symbols, self.num_channel_subcarriers],
                              precision=self.precision, device=self.device,
                              generator=sionna.phy.config.torch_rng(self.device))

    def call(
        self,
        bits: torch.Tensor,
        no: Union[float, torch.Tensor],
        h_freq: Optional[torch.Tensor] = None,
        return_channel: bool = False,
    ) -> LinkOutput:
        x_hat, no_eff, h_freq = self.transmit_symbols(self.modulate(bits), no, h_freq)
        llr = self.demap(x_hat, no_eff)
        return LinkOutput(llr, x_hat, no_eff, h_freq if return_channel else None)

