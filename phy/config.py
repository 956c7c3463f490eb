"""Validated configuration of the OFDM link.

Plain parameters in, checked once, here. Every model is a frozen pydantic v2
model that rejects unknown keys, so a typo (``fft_sise``) or an out-of-range
value (``fft_size: 0``) fails at construction with a message that names the
field and says what is allowed. The scenario schema of the runner nests these
models, so the PHY and the YAML files share one definition of every knob.

Units are in the field names: ``*_hz``, ``*_s``, ``*_mps``; ``k_factor`` is
linear (not dB).
"""

from __future__ import annotations

from typing import Literal, Optional, get_args

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    model_validator,
)

from ..common.errors import format_validation_error
from ..common.config import StrictConfig

__all__ = [
    "GridConfig",
    "ChannelConfig",
    "ReceiverConfig",
    "BaseStationConfig",
    "PhyConfig",
    "MODULATIONS",
    "CHANNEL_MODELS",
    "BACKENDS",
    "check_flat_fading",
    "format_validation_error",
]

#: Modulation name -> (Sionna constellation type, bits per symbol).
MODULATIONS: dict[str, tuple[str, int]] = {
    "bpsk": ("pam", 1),
    "qpsk": ("qam", 2),
    "16qam": ("qam", 4),
    "64qam": ("qam", 6),
    "256qam": ("qam", 8),
}

Modulation = Literal[tuple(MODULATIONS)]
ChannelModelName = Literal["awgn", "rayleigh", "rician", "tdl", "cdl"]
CHANNEL_MODELS: tuple[str, ...] = get_args(ChannelModelName)
Profile = Literal["A", "B", "C", "D", "E"]
Backend = Literal["torch", "tensorflow"]
#: The link's implementations: Sionna 2.x (PyTorch, the default environment .venv) or
#: Sionna 1.x (TensorFlow, compiled with XLA; its own environment .venv-tf, ``make venv-tf``).
BACKENDS: tuple[str, ...] = get_args(Backend)


class GridConfig(StrictConfig):
    """OFDM resource grid of one slot.

    Subcarrier ``0`` is the lowest frequency (Sionna's convention). The
    pilot pattern is Kronecker-style: pilots on the OFDM symbols listed in
    ``pilot_ofdm_symbol_indices``, on every ``pilot_subcarrier_step``-th
    effective subcarrier (``1``: all subcarriers, Sionna's
    ``KroneckerPilotPattern``; ``2``: a comb like 5G NR DM-RS type 1, the
    remaining REs of the pilot symbols carry data). ``pilot_pattern="empty"``
    sends no pilots (only perfect CSI can then be used).
    """

    fft_size: PositiveInt = 76
    subcarrier_spacing_hz: PositiveFloat = 30e3
    num_ofdm_symbols: PositiveInt = 14
    cyclic_prefix_length: NonNegativeInt = 6
    num_guard_carriers: tuple[NonNegativeInt, NonNegativeInt] = (0, 0)
    dc_null: bool = False
    pilot_pattern: Literal["kronecker", "empty"] = "kronecker"
    pilot_ofdm_symbol_indices: tuple[int, ...] = (2, 11)
    pilot_subcarrier_step: PositiveInt = 1

    @model_validator(mode="after")
    def _check(self) -> "GridConfig":
        if self.cyclic_prefix_length > self.fft_size:
            raise ValueError(
                f"cyclic_prefix_length must be <= fft_size ({self.fft_size}), "
                f"got {self.cyclic_prefix_length}"
            )
        num_effective = self.num_effective_subcarriers
        if num_effective < 1:
            raise ValueError(
                "num_guard_carriers and dc_null leave no usable subcarrier: "
                f"fft_size={self.fft_size}, num_guard_carriers="
                f"{list(self.num_guard_carriers)}, dc_null={self.dc_null}"
            )
        indices = self.pilot_ofdm_symbol_indices
        if self.pilot_pattern == "kronecker":
            if not indices:
                raise ValueError(
                    "pilot_ofdm_symbol_indices must list at least one OFDM "
                    "symbol for pilot_pattern='kronecker'"
                )
            bad = [i for i in indices if not 0 <= i < self.num_ofdm_symbols]
            if bad:
                raise ValueError(
                    f"pilot_ofdm_symbol_indices {bad} out of range: allowed "
                    f"0..{self.num_ofdm_symbols - 1} (num_ofdm_symbols="
                    f"{self.num_ofdm_symbols})"
                )
            if len(set(indices)) != len(indices):
                raise ValueError(
                    f"pilot_ofdm_symbol_indices must be distinct, got {list(indices)}"
                )
            if len(indices) == self.num_ofdm_symbols and self.pilot_subcarrier_step == 1:
                raise ValueError(
                    "pilot_ofdm_symbol_indices cover every OFDM symbol: no "
                    "resource element is left for data"
                )
            if self.pilot_subcarrier_step > num_effective:
                raise ValueError(
                    f"pilot_subcarrier_step must be <= the number of effective "
                    f"subcarriers ({num_effective}), got {self.pilot_subcarrier_step}"
                )
        return self

    @property
    def num_effective_subcarriers(self) -> int:
        """Subcarriers that carry data or pilots (FFT size minus guards and DC)."""
        return self.fft_size - sum(self.num_guard_carriers) - int(self.dc_null)


class ChannelConfig(StrictConfig):
    """Channel model between the single-antenna device and base station.

    * ``awgn``: unit gain, noise only.
    * ``rayleigh``: flat fading, ``h ~ CN(0, 1)``.
    * ``rician``: flat fading with a line-of-sight part,
      ``h = sqrt(K/(K+1)) e^{j phi} + sqrt(1/(K+1)) CN(0, 1)``, ``K = k_factor``
      (linear, ``>= 0``; ``0`` is Rayleigh), ``phi`` uniform per realization.
    * ``tdl`` / ``cdl``: 3GPP TR 38.901 tapped / clustered delay line
      ``profile`` A..E with ``delay_spread_s``, ``carrier_frequency_hz`` and
      UE speed drawn uniformly per batch sample from
      ``[speed_mps, max_speed_mps]`` (Doppler: the channel changes from one
      OFDM symbol to the next).

    ``coherence`` applies to the flat models: ``"block"`` keeps ``h`` over a
    slot, ``"symbol"`` draws a new ``h`` for every OFDM symbol. Every batch
    sample always gets its own realization.

    ``normalize`` rescales every realization to unit average energy over its
    resource grid (Sionna's ``normalize_channel``). It removes the slow power
    fluctuation of a realization: the statistics then differ from the model's.
    """

    model: ChannelModelName = "awgn"
    profile: Profile = "C"
    delay_spread_s: PositiveFloat = 100e-9
    carrier_frequency_hz: PositiveFloat = 3.5e9
    speed_mps: NonNegativeFloat = 0.0
    max_speed_mps: Optional[NonNegativeFloat] = None
    k_factor: NonNegativeFloat = Field(default=0.0, description="linear K-factor, >= 0")
    coherence: Literal["block", "symbol"] = "block"
    normalize: bool = False
    direction: Literal["uplink", "downlink"] = "uplink"

    @model_validator(mode="after")
    def _check(self) -> "ChannelConfig":
        if self.max_speed_mps is not None and self.max_speed_mps < self.speed_mps:
            raise ValueError(
                f"max_speed_mps ({self.max_speed_mps}) must be >= speed_mps "
                f"({self.speed_mps})"
            )
        return self

    @property
    def speed_range_mps(self) -> tuple[float, float]:
        """``(min, max)`` UE speed [m/s]."""
        hi = self.speed_mps if self.max_speed_mps is None else self.max_speed_mps
        return (self.speed_mps, hi)


class ReceiverConfig(StrictConfig):
    """Channel state information and equalizer.

    ``estimator``: ``"perfect"`` (the receiver knows ``h``), ``"ls"``
    (least squares at the pilots, then ``interpolation`` ``"nearest"``,
    ``"linear"`` or ``"linear_time_avg"``), or ``"lmmse"`` (Sionna's
    separable LMMSE estimator with the channel model's covariance matrices,
    filtering in ``lmmse_order``). ``equalizer``: ``"zf"`` or ``"lmmse"``.

    ``implementation``: ``"auto"`` computes perfect and LS CSI with either
    equalizer on the elementwise single-stream path
    (:class:`~tokenlink.phy.fast.SisoReceiver`; LMMSE CSI with filters solved
    once per noise variance, :class:`~tokenlink.phy.lmmse.SeparableLMMSE`), maps bits with a table
    lookup (:class:`~tokenlink.phy.qam.BitMapper`) and demaps QAM one real
    dimension at a time (:class:`~tokenlink.phy.qam.SeparableDemapper`):
    the same numbers as Sionna's blocks, much faster; it also computes TDL
    frequency responses directly (:class:`~tokenlink.phy.tdl_response.TDLResponse`:
    Sionna's draws and values, without its per-symbol sinusoids and per-slot
    phase ramps). ``"sionna"`` always composes Sionna's general blocks and
    generators.

    ``compile``: run the fast path's arithmetic (channel estimate,
    equalizer gain, noise term, hard-decision slicing) through
    ``torch.compile`` in real arithmetic: about 2x faster per call after a
    one-off compilation of 10-30 s on CPU. When compilation fails (e.g. no
    C++ compiler) the link logs one line and runs eager.
    """

    estimator: Literal["perfect", "ls", "lmmse"] = "perfect"
    interpolation: Literal["nearest", "linear", "linear_time_avg"] = "linear"
    lmmse_order: Literal["f-t", "t-f"] = "f-t"
    equalizer: Literal["zf", "lmmse"] = "lmmse"
    implementation: Literal["auto", "sionna"] = "auto"
    compile: bool = False


class BaseStationConfig(StrictConfig):
    """The receiving base station's antennas.

    ``num_rx_antennas`` receive antennas combine the one stream of the
    device: the estimated channel of every antenna weights its received
    resource element, ``x_hat = sum_r conj(h_hat_r) y_r / sum_r |h_hat_r|^2``
    (maximum-ratio combining; for one stream it is also what Sionna's ZF and
    unbiased LMMSE equalizers compute), with ``no_eff = (no + err_var) /
    sum_r |h_hat_r|^2``. Es/N0 is per resource element *per receive antenna*:
    with unit average channel gain on every antenna, combining adds
    ``10 log10(num_rx_antennas)`` dB of array gain on top.

    The antennas are spatially uncorrelated for ``awgn`` (the same unit gain
    on every antenna), ``rayleigh``, ``rician`` (independent scattered parts and
    line-of-sight phases per antenna) and ``tdl`` (Sionna's TDL with
    ``num_rx_ant`` and no correlation matrix). For ``cdl`` they form a uniform
    linear array (one row, ``num_rx_antennas`` columns, vertical
    polarization) with ``antenna_pattern`` and ``antenna_spacing_wavelengths``
    (TR 38.901's geometry then decides the correlation); these two fields
    are used by ``cdl`` only.
    """

    num_rx_antennas: PositiveInt = 1
    antenna_pattern: Literal["omni", "38.901"] = "omni"
    antenna_spacing_wavelengths: PositiveFloat = 0.5


class PhyConfig(StrictConfig):
    """Everything that defines the uncoded single-stream OFDM link.

    ``backend``: ``"torch"`` (default) runs the link on Sionna 2.x (PyTorch);
    ``"tensorflow"`` runs the same link on Sionna 1.x (TensorFlow, compiled
    with XLA, :mod:`~tokenlink.phy.tf_link`) in the environment ``make venv-tf``
    creates; tokens, symbols and gradients cross to it through DLPack. The
    TensorFlow backend supports one receive antenna, the whole grid (no OFDMA
    allocation) and ``channel.model`` awgn, rayleigh, rician or tdl.
    """

    grid: GridConfig = GridConfig()
    modulation: Modulation = "16qam"
    demapping: Literal["app", "maxlog"] = "app"
    channel: ChannelConfig = ChannelConfig()
    receiver: ReceiverConfig = ReceiverConfig()
    base_station: BaseStationConfig = BaseStationConfig()
    backend: Backend = "torch"

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict:
        """``backend`` is dumped only when it is not ``"torch"``: scenarios, traces and
        training keys of the default backend stay what they were before the field."""
        data = handler(self)
        if isinstance(data, dict) and data.get("backend") == "torch":
            data.pop("backend")
        return data

    @model_validator(mode="after")
    def _check(self) -> "PhyConfig":
        if self.receiver.compile and self.base_station.num_rx_antennas > 1:
            raise ValueError(
                "receiver.compile supports base_station.num_rx_antennas = 1 only, got "
                f"{self.base_station.num_rx_antennas}: set receiver.compile: false"
            )
        if self.backend == "tensorflow":
            _check_tensorflow_features(self)
        if self.receiver.estimator != "perfect" and self.grid.pilot_pattern == "empty":
            raise ValueError(
                f"receiver.estimator={self.receiver.estimator!r} needs pilots: "
                "set grid.pilot_pattern='kronecker' or receiver.estimator='perfect'"
            )
        return self


def _check_tensorflow_features(cfg: PhyConfig) -> None:
    """What the TensorFlow backend implements today; one line naming the field otherwise."""
    rx = cfg.receiver
    unsupported = []
    if rx.compile:
        unsupported.append("receiver.compile=true (the backend always compiles with XLA)")
    if cfg.base_station.num_rx_antennas != 1:
        unsupported.append(f"base_station.num_rx_antennas={cfg.base_station.num_rx_antennas} (allowed: 1)")
    if cfg.grid.pilot_subcarrier_step != 1:
        unsupported.append(f"grid.pilot_subcarrier_step={cfg.grid.pilot_subcarrier_step} (allowed: 1)")
    if unsupported:
        raise ValueError("backend 'tensorflow' does not support " + "; ".join(unsupported)
                         + ": use backend 'torch'")


def check_flat_fading(k_factor: float, coherence: str) -> tuple[float, str]:
    """The arguments of a flat-fading channel (both backends), checked: the linear K-factor
    (``>= 0``) as a float, and the coherence (``"block"`` | ``"symbol"``)."""
    if not k_factor >= 0:
        raise ValueError(f"k_factor must be >= 0 (linear), got {k_factor}")
    if coherence not in ("block", "symbol"):
        raise ValueError(f"coherence must be 'block' or 'symbol', got {coherence!r}")
    return float(k_factor), coherence
