"""The uncoded single-stream OFDM link on Sionna 1.x (TensorFlow, compiled with XLA): the
TensorFlow backend (``phy.backend: tensorflow``).

The same chain as :class:`~tokenlink.phy.link.OFDMLink`, composed of Sionna 1.x's own
blocks: Gray-mapped QAM (``Mapper``) -> data REs of one slot (``ResourceGridMapper``, the
same pilots as the torch link, :func:`~tokenlink.phy.grid.pilot_arrays`) -> channel
(unit gain for AWGN, ``RayleighBlockFading``, flat Rician or per-symbol fading
(:class:`~tokenlink.phy.tf_channels.TFFlatFading`) or 3GPP ``TDL`` / ``CDL`` (CDL: one
antenna at each end, as the torch link's), through ``GenerateOFDMChannel`` (optionally
normalized, ``channel.normalize``); ``ApplyOFDMChannel``) plus ``sqrt(no)`` times unit complex
noise -> perfect, LS or LMMSE CSI (``LSChannelEstimator``; for LMMSE with ``LMMSEInterpolator``
and the channel's covariances: closed forms, or for CDL and normalized channels sample
covariances of 2,048 seeded realizations, as on the torch backend) -> ZF or LMMSE equalizer
(``ZFEqualizer`` / ``LMMSEEqualizer``) -> APP or max-log demapper (``Demapper``).

Its methods take and give torch tensors, like ``OFDMLink``'s, so :mod:`tokenlink.bridge`
drives it unchanged. Tensors cross between PyTorch and TensorFlow through DLPack without a
copy on the CPU (:func:`to_tf`, :func:`to_torch`). Every TensorFlow step is a
``tf.function(jit_compile=True)`` (XLA; traced once per batch size), except the receiver with
LMMSE channel estimation (a plain graph: XLA has no ``MatrixSolveLs`` on the CPU). Gradients of the
equalized symbols with respect to the transmitted symbols flow back through a
``torch.autograd.Function`` (:class:`TFReceive`) whose forward runs the receiver under a
``tf.GradientTape`` and whose backward asks the tape for the vector-Jacobian product: TF and
PyTorch use the same convention for complex gradients of real losses, so no conjugation.

Randomness: channel realizations, noise and bits come from Sionna 1.x's generator
``sionna.phy.config.tf_rng``, which :func:`~tokenlink.phy.runtime.set_seed` resets in place,
so one seed makes a run reproducible on this backend (not bit-equal to the torch backend:
different generators). Precision is Sionna 1.x's global ``sionna.phy.config.precision``
(per-block precision silently falls back to single in LS + LMMSE): set it before building.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Union

import numpy as np
import sionna
import sionna.phy
import tensorflow as tf
import torch

if not sionna.__version__.startswith("1."):  # Sionna 2.x is PyTorch-native: not this backend
    raise ImportError(f"the TensorFlow backend needs Sionna 1.x (TensorFlow), found sionna {sionna.__version__}")

from sionna.phy.channel import ApplyOFDMChannel, GenerateOFDMChannel, RayleighBlockFading  # noqa: E402
from sionna.phy.channel.tr38901 import CDL, TDL, Antenna, AntennaArray  # noqa: E402
from sionna.phy.mapping import BinarySource, Constellation, Demapper, Mapper  # noqa: E402
from sionna.phy.mimo import StreamManagement  # noqa: E402
from sionna.phy.ofdm import (LMMSEEqualizer, LMMSEInterpolator, LSChannelEstimator, PilotPattern,  # noqa: E402
                             RemoveNulledSubcarriers, ResourceGrid, ResourceGridMapper, ZFEqualizer)
from sionna.phy.utils import complex_normal  # noqa: E402

from .bits import index_to_bits  # noqa: E402
from .config import MODULATIONS, PhyConfig  # noqa: E402
from .grid import grid_summary, pilot_arrays  # noqa: E402
from .link_io import LinkOutput, SlotSizes, check_no, floor_no  # noqa: E402
from .tf_channels import TFFlatFading, tf_channel_covariances, tf_empirical_covariances  # noqa: E402

if TYPE_CHECKING:
    from .allocation import Allocation

__all__ = ["TFOFDMLink", "TFReceive", "to_tf", "to_torch"]

_INTERPOLATION = {"nearest": "nn", "linear": "lin", "linear_time_avg": "lin_time_avg"}


def to_tf(t: torch.Tensor) -> tf.Tensor:
    """PyTorch -> TensorFlow through DLPack: a view of ``t`` when it is a contiguous CPU
    tensor; conjugate / negative views and strided tensors are materialized first
    (DLPack has no conjugate bit, TensorFlow takes only row-major buffers)."""
    t = t.detach().resolve_conj().resolve_neg().contiguous()
    return tf.experimental.dlpack.from_dlpack(t.__dlpack__())


def to_torch(x: tf.Tensor) -> torch.Tensor:
    """TensorFlow -> PyTorch through DLPack: a view of ``x`` (TF tensors have no
    ``__dlpack__``: the capsule is passed)."""
    return torch.from_dlpack(tf.experimental.dlpack.to_dlpack(x))


class TFReceive(torch.autograd.Function):
    """``(x_hat, no_eff) = receive(x, h_freq, noise, no, no_rx)`` of a :class:`TFOFDMLink`
    as one differentiable torch op: gradients flow to ``x`` (the transmitted symbols);
    the channel, the noise and ``no`` carry none.

    :input x: [batch_size, num_data_symbols], complex. Transmitted data symbols.
    :input h_freq: [batch_size, 1, 1, 1, 1, num_ofdm_symbols, fft_size], complex.
    :input noise: [batch_size, 1, 1, num_ofdm_symbols, fft_size], complex, unit variance.
    :input no: [batch_size], float. Noise variance of the channel per complex RE.
    :input no_rx: [batch_size], float. Noise variance the receiver assumes (floored).
    :output x_hat, no_eff: [batch_size, num_data_symbols], complex and float.
    """

    @staticmethod
    def forward(ctx, x, h_freq, noise, no, no_rx, link):  # noqa: D102
        xs = [to_tf(t) for t in (x, h_freq, noise, no, no_rx)]
        if not x.requires_grad:
            x_hat, no_eff = link._receive(*xs)
            return to_torch(x_hat), to_torch(no_eff)
        with tf.GradientTape(persistent=True) as tape:  # backward may run more than once (retain_graph)
            tape.watch(xs[0])
            x_hat, no_eff = link._receive(*xs)
        ctx.tape, ctx.x_tf, ctx.x_hat_tf = tape, xs[0], x_hat
        x_hat_t, no_eff_t = to_torch(x_hat), to_torch(no_eff)
        ctx.mark_non_differentiable(no_eff_t)
        return x_hat_t, no_eff_t

    @staticmethod
    def backward(ctx, grad_x_hat, grad_no_eff):  # noqa: D102
        # no_eff does not depend on x (the pilots are fixed): only x_hat's gradient reaches x.
        grad = ctx.tape.gradient(ctx.x_hat_tf, ctx.x_tf, output_gradients=to_tf(grad_x_hat))
        return to_torch(grad), None, None, None, None, None


class TFOFDMLink(SlotSizes):
    r"""Uncoded OFDM link for one transmitter, one stream and one receive antenna on Sionna 1.x.

    Same arguments, inputs and outputs as :class:`~tokenlink.phy.link.OFDMLink` (torch
    tensors in and out); built by :func:`~tokenlink.phy.backend.build_link` for
    ``phy.backend: tensorflow``. Features: the grid of :class:`~tokenlink.phy.config.GridConfig`
    (same pilots as the torch link), BPSK..256-QAM, ``awgn``, ``rayleigh``, ``rician`` (block or
    per-symbol), ``tdl`` and ``cdl`` channels, perfect, LS or LMMSE CSI, ZF or LMMSE equalizer, APP or max-log
    demapping.

    :param config: :class:`~tokenlink.phy.config.PhyConfig` (``backend="tensorflow"``), a dict of
        its fields, or `None` (defaults, with ``backend="tensorflow"``).
    :param precision: `None` or Sionna 1.x's global ``sionna.phy.config.precision``.
    :param device: `None`, ``"auto"`` or ``"cpu"``.
    :param allocation: must be `None` (no OFDMA on this backend).

    :input bits: [batch_size, num_bits_per_slot], `torch.float`. Bits (0/1).
    :input no: Scalar or [batch_size], float. Noise variance per complex RE (``no/2`` per
        real dimension), ``10**(-esno_db/10)``; ``0`` is noiseless (the receiver assumes
        ``NO_FLOOR``).
    :output out: :class:`~tokenlink.phy.link_io.LinkOutput`.
    """

    def __init__(
        self,
        config: Union[PhyConfig, dict, None] = None,
        precision: Optional[str] = None,
        device: Optional[str] = None,
        allocation: Optional["Allocation"] = None,
    ) -> None:
        if config is None:
            config = PhyConfig(backend="tensorflow")
        elif isinstance(config, dict):
            config = PhyConfig(**{"backend": "tensorflow", **config})
        if config.backend != "tensorflow":
            raise ValueError(f"TFOFDMLink is the tensorflow backend's link, got phy.backend={config.backend!r}")
        if allocation is not None:
            raise ValueError("backend 'tensorflow' has no OFDMA allocation: use backend 'torch'")
        if device not in (None, "auto", "cpu"):
            raise ValueError(f"backend 'tensorflow' runs on the CPU only, got device={device!r}")
        global_precision = sionna.phy.config.precision
        if precision not in (None, global_precision):
            raise ValueError(f"backend 'tensorflow' computes in Sionna 1.x's global precision "
                             f"({global_precision!r}), got precision={precision!r}: set "
                             f"sionna.phy.config.precision = {precision!r} before building the link")
        self.config: PhyConfig = config
        self.precision: str = global_precision
        self.device: str = "cpu"
        self.dtype = torch.float64 if self.precision == "double" else torch.float32
        self.allocation = None

        g = config.grid
        rg_kw = dict(num_ofdm_symbols=g.num_ofdm_symbols, fft_size=g.fft_size,
                     subcarrier_spacing=g.subcarrier_spacing_hz, num_tx=1, num_streams_per_tx=1,
                     cyclic_prefix_length=g.cyclic_prefix_length, num_guard_carriers=tuple(g.num_guard_carriers),
                     dc_null=g.dc_null, precision=self.precision)
        if g.pilot_pattern == "empty":
            self.resource_grid = ResourceGrid(pilot_pattern="empty", **rg_kw)
        else:
            mask, pilots = pilot_arrays(g)
            self.resource_grid = ResourceGrid(pilot_pattern=PilotPattern(mask, pilots, precision=self.precision),
                                              **rg_kw)
        kw = dict(precision=self.precision)
        const_type, bits_per_symbol = MODULATIONS[config.modulation]
        self.constellation = Constellation(const_type, bits_per_symbol, **kw)
        self._source = BinarySource(**kw)
        self._mapper = Mapper(constellation=self.constellation, **kw)
        self._demapper = Demapper(config.demapping, constellation=self.constellation, **kw)
        self._rg_mapper = ResourceGridMapper(self.resource_grid, **kw)
        self._apply = ApplyOFDMChannel(**kw)
        ch = config.channel
        self._generate = None
        if ch.model == "rayleigh" and ch.coherence == "block":
            model = RayleighBlockFading(num_rx=1, num_rx_ant=1, num_tx=1, num_tx_ant=1, **kw)
        elif ch.model in ("rayleigh", "rician"):  # Sionna 1.x has no Rician nor per-symbol flat fading
            k_factor = ch.k_factor if ch.model == "rician" else 0.0
            model = TFFlatFading(k_factor, ch.coherence, **kw)
        elif ch.model == "tdl":
            lo, hi = ch.speed_range_mps
            model = TDL(ch.profile, delay_spread=ch.delay_spread_s, carrier_frequency=ch.carrier_frequency_hz,
                        min_speed=lo, max_speed=hi, **kw)
        elif ch.model == "cdl":
            model = _cdl(ch, config.base_station.antenna_pattern, kw)
        if ch.model != "awgn":
            self._generate = GenerateOFDMChannel(model, self.resource_grid, normalize_channel=ch.normalize, **kw)
        self._draw_channel = tf.function(self._draw_channel_graph, jit_compile=True)
        rx = config.receiver
        self._remove_nulled = RemoveNulledSubcarriers(self.resource_grid, **kw)
        self._ls = None  # perfect CSI
        if rx.estimator == "ls":
            self._ls = LSChannelEstimator(self.resource_grid, interpolation_type=_INTERPOLATION[rx.interpolation],
                                          **kw)
        elif rx.estimator == "lmmse":  # Sionna 1.x: LS at the pilots, then its LMMSE interpolator
            if ch.model == "cdl" or ch.normalize:  # no closed form: sample covariances (seeded draws)
                cov_time, cov_freq = tf_empirical_covariances(self._draw_channel, self.resource_grid,
                                                              self.precision)
            else:
                cov_time, cov_freq = tf_channel_covariances(ch, self.resource_grid, self.precision)
            interpolator = LMMSEInterpolator(self.resource_grid.pilot_pattern, cov_time, cov_freq,
                                             order=rx.lmmse_order)
            self._ls = LSChannelEstimator(self.resource_grid, interpolator=interpolator, **kw)
        sm = StreamManagement(np.ones([1, 1], int), 1)
        equalizer = LMMSEEqualizer if rx.equalizer == "lmmse" else ZFEqualizer
        self._equalizer = equalizer(self.resource_grid, sm, **kw)
        self._rdtype = tf.float64 if self.precision == "double" else tf.float32
        self._cdtype = tf.complex128 if self.precision == "double" else tf.complex64
        # The TensorFlow steps, compiled with XLA (traced once per batch size and dtype).
        # Sionna 1.x's LMMSE interpolator uses MatrixSolveLs, which XLA does not compile on the
        # CPU: the receiver then runs as a plain TensorFlow graph.
        self._receive = tf.function(self._receive_graph, jit_compile=rx.estimator != "lmmse")
        self._draw_noise = tf.function(self._draw_noise_graph, jit_compile=True)
        self._map = tf.function(self._mapper.call, jit_compile=True)
        self._demap = tf.function(self._demapper.call, jit_compile=True)

    # ------------------------------------------------------------------ sizes
    @property
    def num_rx_ant(self) -> int:
        """Receive antennas of the base station (1 on this backend)."""
        return 1

    @property
    def channel_subcarriers(self) -> None:
        """`None`: a realization holds the whole FFT (no OFDMA on this backend)."""
        return None

    @property
    def num_channel_subcarriers(self) -> int:
        """Width of a realization's last axis: ``fft_size``."""
        return int(self.resource_grid.fft_size)

    @property
    def on_fast_path(self) -> bool:
        """`False`: Sionna 1.x's general blocks, compiled with XLA."""
        return False

    @property
    def decides_by_slicing(self) -> bool:
        """`False`: hard decisions are the signs of the demapper's LLRs."""
        return False

    @property
    def metadata(self) -> dict:
        """Plain-data description of the link, for results and traces (the keys of ``OFDMLink``'s)."""
        return self._describe("sionna-1.x-xla", 1, grid_summary(self.resource_grid), None, backend="tensorflow")

    # ------------------------------------------------------------ transmitter
    def source(self, batch_size: int) -> torch.Tensor:
        """Uniform random bits from Sionna 1.x's generator, [batch_size, num_bits_per_slot]."""
        return to_torch(self._source([batch_size, self.num_bits_per_slot]))

    def modulate(self, bits: torch.Tensor) -> torch.Tensor:
        """[batch_size, num_bits_per_slot] bits -> [batch_size, num_data_symbols] symbols (Sionna 1.x ``Mapper``)."""
        if bits.dim() != 2 or bits.shape[-1] != self.num_bits_per_slot:
            raise ValueError(f"bits must have shape [batch_size, {self.num_bits_per_slot}] "
                             f"(num_bits_per_slot), got {list(bits.shape)}")
        return to_torch(self._map(to_tf(bits.to(self.dtype))))

    def modulate_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """[batch_size, num_data_symbols] integer labels (bits MSB first) -> symbols."""
        if labels.dim() != 2 or labels.shape[-1] != self.num_data_symbols or labels.is_floating_point():
            raise ValueError(f"labels must be integers of shape [batch_size, {self.num_data_symbols}] "
                             f"(num_data_symbols), got {labels.dtype} {list(labels.shape)}")
        return self.modulate(index_to_bits(labels, self.num_bits_per_symbol, self.dtype).flatten(-2))

    # ---------------------------------------------------------------- channel
    def generate_channel(self, batch_size: int) -> torch.Tensor:
        """Fresh realizations, [batch_size, 1, 1, 1, 1, num_ofdm_symbols, fft_size], complex."""
        return to_torch(self._draw_channel(int(batch_size)))

    def whole_grid_channel(self, h_freq: torch.Tensor) -> torch.Tensor:
        """The realization itself (a realization always holds the whole FFT here)."""
        return h_freq

    def draw_noise(self, batch_size: int) -> torch.Tensor:
        """Unit-variance complex noise on every RE, [batch_size, 1, 1, num_ofdm_symbols, fft_size]."""
        return to_torch(self._draw_noise(int(batch_size)))

    # ------------------------------------------------------------ end to end
    def transmit_symbols(
        self,
        x: torch.Tensor,
        no: Union[float, torch.Tensor],
        h_freq: Optional[torch.Tensor] = None,
        return_no_eff: bool = True,
        noise: Optional[torch.Tensor] = None,
    ) -> tuple[torch.Tensor, Optional[torch.Tensor], torch.Tensor]:
        """Complex data symbols through grid, channel and receiver (differentiable in ``x``).

        :input x: [batch_size, num_data_symbols], complex.
        :input no: scalar or [batch_size]. Noise variance per complex RE.
        :input h_freq: `None` (drawn) or [batch_size, 1, 1, 1, 1, num_ofdm_symbols, fft_size].
        :input noise: `None` (drawn) or unit-variance noise as :meth:`draw_noise` gives it.
        :output x_hat: [batch_size, num_data_symbols], complex. Equalized symbols.
        :output no_eff: [batch_size, num_data_symbols], float, or `None` with ``return_no_eff=False``.
        :output h_freq: the realization used.
        """
        if x.dim() != 2 or x.shape[-1] != self.num_data_symbols:
            raise ValueError(f"x must have shape [batch_size, {self.num_data_symbols}] "
                             f"(num_data_symbols), got {list(x.shape)}")
        batch = x.shape[0]
        no = check_no(no, batch)
        no = torch.as_tensor(no, dtype=self.dtype).expand(batch).contiguous()
        h_freq = self.generate_channel(batch) if h_freq is None else h_freq
        noise = self.draw_noise(batch) if noise is None else noise
        cdtype = torch.complex128 if self.dtype == torch.float64 else torch.complex64
        x_hat, no_eff = TFReceive.apply(x.to(cdtype), h_freq.to(cdtype), noise.to(cdtype), no, floor_no(no), self)
        return x_hat, (no_eff if return_no_eff else None), h_freq

    def demap(self, x_hat: torch.Tensor, no_eff: Optional[torch.Tensor], hard: bool = False) -> torch.Tensor:
        """LLRs ``log(P(b=1)/P(b=0))`` (Sionna 1.x ``Demapper``), or with ``hard=True`` the bits
        they decide; [batch_size, num_bits_per_slot]."""
        if no_eff is None:
            raise ValueError("demap needs no_eff on backend 'tensorflow'")
        llr = to_torch(self._demap(to_tf(x_hat), to_tf(no_eff)))
        return (llr > 0).to(llr.dtype) if hard else llr

    def decide_labels(self, x_hat: torch.Tensor) -> torch.Tensor:
        """Not on this backend (:attr:`decides_by_slicing` is `False`)."""
        raise ValueError("decide_labels needs max-log demapping on the torch backend's fast path")

    def __call__(
        self,
        bits: torch.Tensor,
        no: Union[float, torch.Tensor],
        h_freq: Optional[torch.Tensor] = None,
        return_channel: bool = False,
    ) -> LinkOutput:
        x_hat, no_eff, h_freq = self.transmit_symbols(self.modulate(bits), no, h_freq)
        llr = self.demap(x_hat, no_eff)
        return LinkOutput(llr, x_hat, no_eff, h_freq if return_channel else None)

    # ------------------------------------------------- TensorFlow (compiled)
    def _draw_channel_graph(self, batch_size: int) -> tf.Tensor:
        rg = self.resource_grid
        if self._generate is None:  # AWGN: unit gain on every RE
            return tf.ones([batch_size, 1, 1, 1, 1, rg.num_ofdm_symbols, rg.fft_size], self._cdtype)
        return self._generate(batch_size)

    def _draw_noise_graph(self, batch_size: int) -> tf.Tensor:
        rg = self.resource_grid
        return complex_normal([batch_size, 1, 1, rg.num_ofdm_symbols, rg.fft_size], precision=self.precision)

    def _receive_graph(self, x: tf.Tensor, h_freq: tf.Tensor, noise: tf.Tensor, no: tf.Tensor,
                       no_rx: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x_rg = self._rg_mapper(x[:, None, None, :])
        sigma = tf.cast(tf.sqrt(no), self._cdtype)[:, None, None, None, None]
        y = self._apply(x_rg, h_freq) + sigma * noise
        if self._ls is None:  # perfect CSI
            h_hat, err_var = self._remove_nulled(h_freq), tf.zeros([], self._rdtype)
        else:
            h_hat, err_var = self._ls(y, no_rx)
        x_hat, no_eff = self._equalizer(y, h_hat, err_var, no_rx)
        return x_hat[:, 0, 0], no_eff[:, 0, 0]


def _cdl(ch, bs_pattern: str, kw: dict) -> CDL:
    """Sionna 1.x's CDL with the antennas of the torch backend's CDL for one receive antenna
    (:func:`tokenlink.phy.channels.build_channel_model`): single vertically polarized antennas,
    omnidirectional at the device, the configured pattern at the base station."""
    lo, hi = ch.speed_range_mps
    ant = dict(polarization="single", polarization_type="V", carrier_frequency=ch.carrier_frequency_hz, **kw)
    if bs_pattern == "omni":
        bs_array = Antenna(antenna_pattern="omni", **ant)
    else:
        bs_array = AntennaArray(num_rows=1, num_cols=1, antenna_pattern=bs_pattern, **ant)
    return CDL(ch.profile, delay_spread=ch.delay_spread_s, carrier_frequency=ch.carrier_frequency_hz,
               ut_array=Antenna(antenna_pattern="omni", **ant), bs_array=bs_array, direction=ch.direction,
               min_speed=lo, max_speed=hi, **kw)
