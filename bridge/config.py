"""Validated configuration of the token link (bridge/).

One frozen pydantic model per concern, rejecting unknown keys, nested under
:class:`TokenLinkConfig` next to the PHY's :class:`~tokenlink.phy.config.PhyConfig`,
so the scenario schema and the layer share one definition of every knob.

SNR convention (docs/conventions.md): ``snr_db`` is Es/N0 per resource
element in dB, unit average power per channel use before the channel, unit
average channel gain; ``no = 10**(-snr_db/10)``. ``inf`` is a noiseless link.
"""

from __future__ import annotations

import math
from typing import Literal, Optional, get_args

from pydantic import Field, PositiveInt, model_validator

from ..common.config import StrictConfig
from ..phy.config import PhyConfig

__all__ = ["AnalogConfig", "DigitalConfig", "TokenLinkConfig", "TOKEN_LINK_MODES"]

TokenLinkMode = Literal["analog", "digital"]
#: How a token link sends tokens (the scenario adds ``"bits"``, the PHY alone).
TOKEN_LINK_MODES: tuple[str, ...] = get_args(TokenLinkMode)


class AnalogConfig(StrictConfig):
    """Analog tokens: two real values per complex channel use.

    ``power_normalization``: scale every token (``"token"``) or every frame
    (``"frame"``, all tokens of one batch sample) to average power 1 per
    channel use; ``"none"`` sends the values as they are (the encoder owns
    the power constraint). The receiver undoes the scaling (the scale factors
    are side information, assumed known and not counted as channel uses).

    ``estimate``: ``"unbiased"`` returns the equalizer output as it is (ZF,
    or Sionna's LMMSE equalizer, which is unbiased: for one stream both give
    ``x_hat = x + e`` with ``E[e | x] = 0``); ``"mmse"`` shrinks it to the
    biased linear MMSE estimate ``x_hat / (1 + no_eff)`` for zero-mean,
    unit-power symbols (finite mean error under Rayleigh fading).
    """

    power_normalization: Literal["token", "frame", "none"] = "token"
    estimate: Literal["unbiased", "mmse"] = "unbiased"


class DigitalConfig(StrictConfig):
    """Digital tokens: quantize -> bits -> QAM (``phy.modulation``) -> LLRs.

    ``quantizer="scalar"``: uniform ``bits_per_value``-bit quantizer on a
    clipping range ``clip`` or, when `None`, one calibrated from data
    (``calibration`` = ``"minmax"`` | ``"std"`` (mean +- k std, k =
    ``calibration_param``, default 3) | ``"percentile"`` (p .. 100-p %, p =
    ``calibration_param``, default 0.1)), one range for all values or one per
    channel (``per_dim``). ``quantizer="vector"``: a learned codebook of
    ``codebook_size`` codewords for sub-vectors of ``subvector_dim`` values,
    ``log2(codebook_size)`` bits each.

    ``dequantization``: ``"hard"`` (decide the bits, look up the value) or
    ``"soft"`` (LLR-weighted expected value). ``ste``: straight-through
    estimator, the received tokens carry the gradient of the identity so a
    digital link can be trained through; without it they are detached.
    """

    quantizer: Literal["scalar", "vector"] = "scalar"
    bits_per_value: int = Field(4, ge=1, le=16)
    clip: Optional[tuple[float, float]] = None
    calibration: Literal["minmax", "std", "percentile"] = "std"
    calibration_param: Optional[float] = Field(None, gt=0)
    per_dim: bool = False
    codebook_size: int = Field(256, ge=2, le=65536)
    subvector_dim: PositiveInt = 8
    dequantization: Literal["hard", "soft"] = "hard"
    ste: bool = True

    @model_validator(mode="after")
    def _check(self) -> "DigitalConfig":
        if self.clip is not None:
            lo, hi = self.clip
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ValueError(f"clip must be finite (lo, hi) with lo < hi, got {list(self.clip)}")
        if self.codebook_size & (self.codebook_size - 1):
            raise ValueError(
                f"codebook_size must be a power of two in 2..65536, got {self.codebook_size}"
            )
        return self


class TokenLinkConfig(StrictConfig):
    """The token link: mode, PHY, analog and digital options, SNR.

    ``snr_db``: Es/N0 per resource element [dB] used in evaluation when the
    call gives none (``inf``: noiseless). ``train_snr_db_range``: in training
    mode, when the call gives no SNR, each batch sample draws its own Es/N0
    uniformly in dB from this range. ``max_slots_per_frame``: airtime budget;
    a frame (the tokens of one batch sample) that needs more slots is an
    error instead of silently taking longer.

    ``train_channel_bank_size``: in training mode, draw channel realizations
    from a bank of this many slots generated once (``tokenlink.phy.bank``;
    much faster for TDL/CDL; keep it 10-100x the slots of one step), cached in
    ``channel_bank_cache_dir`` when given. Evaluation always draws fresh
    realizations.
    """

    mode: TokenLinkMode = "analog"
    phy: PhyConfig = PhyConfig()
    analog: AnalogConfig = AnalogConfig()
    digital: DigitalConfig = DigitalConfig()
    snr_db: float = 10.0
    train_snr_db_range: Optional[tuple[float, float]] = None
    max_slots_per_frame: Optional[PositiveInt] = None
    train_channel_bank_size: Optional[PositiveInt] = None
    channel_bank_cache_dir: Optional[str] = None

    @model_validator(mode="after")
    def _check(self) -> "TokenLinkConfig":
        if math.isnan(self.snr_db) or self.snr_db == -math.inf:
            raise ValueError(f"snr_db must be a number or +inf (noiseless), got {self.snr_db}")
        rng = self.train_snr_db_range
        if rng is not None and not (math.isfinite(rng[0]) and math.isfinite(rng[1]) and rng[0] <= rng[1]):
            raise ValueError(
                f"train_snr_db_range must be finite [low, high] with low <= high, got {list(rng)}"
            )
        return self
