"""The token link as a layer: tokens in, received tokens out, gradients through.

:class:`TokenLink` is the one place where semantic code meets the channel::

    link = TokenLink({"mode": "analog", "phy": {"channel": {"model": "tdl"},
                      "receiver": {"estimator": "ls", "equalizer": "lmmse"}},
                      "train_snr_db_range": (0, 20)})
    rx = link(tokens, snr_db=10.0)          # [batch, num_tokens, dim]
    out = link.transmit(tokens, snr_db=10.0, return_metrics=True, return_realization=True)
    link.calibrate(tokens)                   # digital: the quantizer's clipping range (or digital.clip)
    both = link.transmit_both(tokens, snr_db=10.0)   # same channel, analog and digital
    sent = link.transmit_codes(codes, bits_per_code=8, snr_db=10.0)   # integer codes [batch, n], hard bits

Per call, each batch sample is one *frame*: its tokens fill as many OFDM slots
as they need (:mod:`~tokenlink.bridge.framing`), every slot with its own
channel realization (independent block fading per slot: consecutive slots of
a frame are not correlated in time) and the sample's own noise variance.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Optional, Union

import numpy as np
import sionna.phy
import torch

from ..phy.allocation import Allocation
from ..phy.bank import ChannelBank
from ..phy.bits import bits_to_index, can_regroup, index_to_bits, regroup
from ..phy.backend import build_link
from ..phy.runtime import torch_rng
from ..phy.snr import esno_db_to_no
from .analog import AnalogMapper, symbols_per_token
from .config import TOKEN_LINK_MODES, TokenLinkConfig
from .dlpack import to_numpy
from .framing import num_slots_for, pack, unpack
from .metrics import LinkMetrics, link_metrics, word_link_metrics
from .quantization import ScalarQuantizer, VectorQuantizer
from .resources import ResourceUsage, resource_usage

__all__ = ["TokenLink", "TokenLinkOutput", "CodesOutput", "Realization"]

SnrArg = Union[float, torch.Tensor, None]


class Realization(NamedTuple):
    """What the channel did in one call (for traces and analysis)."""

    h_freq: torch.Tensor
    """[batch, num_slots, num_ofdm_symbols, num_channel_subcarriers], complex. Frequency response per RE
    (``fft_size``; an OFDMA device: its own subcarriers, ``OFDMLink.channel_subcarriers``)."""
    no: torch.Tensor
    """[batch], float. Noise variance per complex RE (0: noiseless)."""
    snr_db: torch.Tensor
    """[batch], float. Es/N0 per RE [dB]."""
    no_eff: torch.Tensor
    """[batch, channel_uses], float. Effective noise variance per payload symbol of the
    (unbiased) equalizer output, as the demapper sees it."""

    def to_numpy(self) -> dict[str, np.ndarray]:
        """Zero-copy NumPy views on CPU (see docs/dlpack.md), e.g. for h5py."""
        return {k: to_numpy(v) for k, v in self._asdict().items()}


class TokenLinkOutput(NamedTuple):
    """Result of :meth:`TokenLink.transmit`."""

    tokens: torch.Tensor
    """[batch, num_tokens, dim]. Received tokens, in the input's dtype."""
    resources: ResourceUsage
    metrics: Optional[LinkMetrics] = None
    realization: Optional[Realization] = None
    bits: Optional[torch.Tensor] = None
    """Digital: [batch, num_tokens, bits_per_token], transmitted bits (0/1)."""
    llr: Optional[torch.Tensor] = None
    """Digital, with ``return_llr=True`` or soft dequantization:
    [batch, num_tokens, bits_per_token], ``log(P(b=1)/P(b=0))``."""


class CodesOutput(NamedTuple):
    """Result of :meth:`TokenLink.transmit_codes`."""

    codes: torch.Tensor
    """[batch, num_codes], int64. The codes the receiver decided (hard decisions)."""
    resources: ResourceUsage
    """Per frame (one batch row), as for digital tokens of one value each."""
    bit_errors: torch.Tensor
    """[batch, num_codes], int64. Wrong bits in each decided code."""


class TokenLink(torch.nn.Module):
    r"""Differentiable token link over the phy/ OFDM link, analog or digital.

    :param config: :class:`~tokenlink.bridge.config.TokenLinkConfig`, a dict
        of its fields, or `None` for the defaults.
    :param precision: ``"single"`` | ``"double"`` | `None` (Sionna's default).
    :param device: ``"auto"`` | ``"cpu"`` | ``"cuda"`` | ``"cuda:N"`` | `None`.

    :input tokens: [batch, num_tokens, dim], real floating (float16, bfloat16,
        float32, float64; computed in the link's precision, returned in the
        input's dtype and device).
    :input snr_db: `None` | `float` | [batch] or scalar tensor. Es/N0 per
        resource element [dB]; ``inf`` is noiseless. `None`: in training mode
        with ``train_snr_db_range`` set, a uniform draw in dB per sample;
        otherwise ``config.snr_db``.

    :output rx: [batch, num_tokens, dim]. Received tokens (``forward``);
        :meth:`transmit` returns a :class:`TokenLinkOutput` with resources,
        and on request metrics and the channel realization.

    Gradients: analog links are differentiable end to end (power
    normalization, channel, equalizer with the estimate it is given, inverse
    mapping); channel draws, pilots and noise carry none. Digital links pass
    the gradient of the identity (straight-through estimator) when
    ``digital.ste`` is set, else return detached tokens.
    """

    def __init__(
        self,
        config: Union[TokenLinkConfig, dict, None] = None,
        precision: Optional[str] = None,
        device: Optional[str] = None,
        allocation: Optional[Allocation] = None,
    ) -> None:
        super().__init__()
        if config is None:
            config = TokenLinkConfig()
        elif isinstance(config, dict):
            config = TokenLinkConfig(**config)
        self.config: TokenLinkConfig = config
        # phy.backend: OFDMLink (Sionna 2.x, PyTorch) or TFOFDMLink (Sionna 1.x, TensorFlow)
        self.link = build_link(config.phy, precision=precision, device=device, allocation=allocation)
        self._grid = self.link.metadata["grid"]
        self.analog = AnalogMapper(config.analog.power_normalization)
        dig = config.digital
        if dig.quantizer == "scalar":
            self.quantizer: torch.nn.Module = ScalarQuantizer(
                dig.bits_per_value, clip=dig.clip, calibration=dig.calibration,
                calibration_param=dig.calibration_param, per_dim=dig.per_dim,
            )
        else:
            self.quantizer = VectorQuantizer(dig.codebook_size, dig.subvector_dim)
        self.quantizer.to(self.link.device)
        self._bank: Optional[ChannelBank] = None

    # ------------------------------------------------------------- helpers
    @property
    def device(self) -> str:
        return self.link.device

    @property
    def metadata(self) -> dict:
        """Plain-data description for results and traces."""
        return {"link": self.config.model_dump(mode="json"), "phy": self.link.metadata}

    def calibrate(self, tokens: torch.Tensor) -> None:
        """Fit the digital quantizer to example tokens [batch, num_tokens, dim]:
        the clipping range of a scalar quantizer without ``clip``, or a k-means
        initialization of a vector quantizer's codebook.

        Call it before sending digital tokens (unless ``digital.clip`` is set),
        on tokens like the ones to send (e.g. training tokens), and again when
        their distribution moves; sending never calibrates by itself."""
        tokens = self._check_tokens(tokens)
        if isinstance(self.quantizer, ScalarQuantizer):
            if self.config.digital.clip is None:
                self.quantizer.calibrate(tokens)
        else:
            self.quantizer.fit(tokens)

    def frame_size(self, num_tokens: int, dim: int, mode: Optional[str] = None) -> dict[str, Any]:
        """Channel uses, slots and bits of one frame of ``num_tokens`` x ``dim`` values."""
        mode = self._mode(mode)
        if mode == "analog":
            channel_uses, num_bits = num_tokens * symbols_per_token(dim), None
            num_slots = num_slots_for(channel_uses, self.link.num_data_symbols)
        else:
            num_bits = num_tokens * self.quantizer.bits_per_token(dim)
            channel_uses = math.ceil(num_bits / self.link.num_bits_per_symbol)
            num_slots = num_slots_for(num_bits, self.link.num_bits_per_slot)
        self._check_slots(num_slots, f"tokens [{num_tokens} tokens x {dim} values]", mode)
        return {"mode": mode, "channel_uses": channel_uses, "num_slots": num_slots, "num_bits": num_bits}

    def _check_slots(self, num_slots: int, what: str, mode: str) -> None:
        limit = self.config.max_slots_per_frame
        if limit is not None and num_slots > limit:
            raise ValueError(
                f"{what} need {num_slots} slots per frame "
                f"({mode}, {self.link.num_data_symbols} data REs per slot), more than "
                f"max_slots_per_frame={limit}: send fewer or smaller tokens, or allow more slots"
            )

    # ---------------------------------------------------------------- calls
    def forward(self, tokens: torch.Tensor, snr_db: SnrArg = None) -> torch.Tensor:
        return self.transmit(tokens, snr_db).tokens

    def transmit(
        self,
        tokens: torch.Tensor,
        snr_db: SnrArg = None,
        mode: Optional[str] = None,
        return_metrics: bool = False,
        return_realization: bool = False,
        return_llr: bool = False,
    ) -> TokenLinkOutput:
        """Send ``tokens`` with ``mode`` (default: ``config.mode``); see the class doc.

        ``return_llr``: digital, also return the LLRs (always computed for soft
        dequantization; hard decisions alone skip them with max-log demapping).

        Digital with a scalar quantizer needs its clipping range first:
        ``digital.clip`` in the config, or :meth:`calibrate` on example tokens.
        The link never fits the range on the tokens it is sending (that would
        make the result depend on which batch came first, and evaluate on the
        range fitted to the test data): without a range it raises a
        ``RuntimeError`` that says so, before anything is drawn.
        """
        x = self._check_tokens(tokens)
        snr = self._snr_db(snr_db, x.shape[0])
        size = self.frame_size(x.shape[1], x.shape[2], mode)
        if size["mode"] == "digital":
            self._check_quantizer_ready()
        h_freq = self._draw_channel(x.shape[0] * size["num_slots"])
        return self._send(x, snr, size, h_freq, return_metrics, return_realization, return_llr, like=tokens)

    def transmit_both(
        self,
        tokens: torch.Tensor,
        snr_db: SnrArg = None,
        return_metrics: bool = False,
        return_realization: bool = False,
        return_llr: bool = False,
    ) -> dict[str, TokenLinkOutput]:
        """The analog and the digital version of the same tokens through the
        same channel realization and noise variance (fresh noise samples).

        Slot ``j`` of a frame sees the same frequency response in both paths;
        the path that needs fewer slots uses the first ones.

        The digital path needs the quantizer's clipping range, as in
        :meth:`transmit`: set ``digital.clip`` or call :meth:`calibrate` first
        (whatever ``config.mode`` is), else a ``RuntimeError`` names both.

        :output: ``{"analog": TokenLinkOutput, "digital": TokenLinkOutput}``.
        """
        x = self._check_tokens(tokens)
        batch = x.shape[0]
        snr = self._snr_db(snr_db, batch)
        sizes = {m: self.frame_size(x.shape[1], x.shape[2], m) for m in TOKEN_LINK_MODES}
        self._check_quantizer_ready()
        most = max(s["num_slots"] for s in sizes.values())
        h_all = self._draw_channel(batch * most)
        h_all = h_all.reshape(batch, most, *h_all.shape[1:])
        result = {}
        for m, size in sizes.items():
            h = h_all[:, : size["num_slots"]].reshape(-1, *h_all.shape[2:])
            result[m] = self._send(x, snr, size, h, return_metrics, return_realization, return_llr, like=tokens)
        return result

    @torch.no_grad()
    def transmit_codes(self, codes: torch.Tensor, bits_per_code: int, snr_db: SnrArg = None) -> CodesOutput:
        """Integer codes through the digital bits path with hard decisions, whatever ``config.mode``
        (the link's modulation, channel, CSI and demapper; its quantizer is not used).

        Each row of ``codes`` [batch, num_codes] (integers in 0 .. 2**bits_per_code - 1) is one frame:
        its codes in natural binary, MSB first, concatenated -> ``num_codes * bits_per_code`` bits ->
        ``ceil(bits / num_bits_per_symbol)`` QAM symbols on as many slots as they need (the tail of the
        last slot padded with zero bits), one channel realization per slot and the row's Es/N0 ->
        equalizer -> hard decisions -> codes. Nothing here is differentiable.

        :output: :class:`CodesOutput` (decided codes, per-frame resources, bit errors per code).
        """
        if isinstance(bits_per_code, bool) or not isinstance(bits_per_code, int) or not 1 <= bits_per_code <= 31:
            raise ValueError(f"bits_per_code must be an integer in 1..31, got {bits_per_code!r}")
        if not isinstance(codes, torch.Tensor) or codes.is_floating_point() or codes.dim() != 2 or 0 in codes.shape:
            raise ValueError(f"codes must be an integer tensor [batch, num_codes] with sizes >= 1, got "
                             f"{getattr(codes, 'dtype', type(codes).__name__)} {list(getattr(codes, 'shape', []))}")
        if bool((codes < 0).any()) or bool((codes >> bits_per_code).any()):
            raise ValueError(f"codes must lie in 0..{(1 << bits_per_code) - 1} ({bits_per_code} bits)")
        batch, num_codes = codes.shape
        num_bits = num_codes * bits_per_code
        channel_uses = math.ceil(num_bits / self.link.num_bits_per_symbol)
        num_slots = num_slots_for(num_bits, self.link.num_bits_per_slot)
        self._check_slots(num_slots, f"codes [{num_codes} x {bits_per_code} bits]", "digital")
        snr = self._snr_db(snr_db, batch)
        no_slots = esno_db_to_no(snr).repeat_interleave(num_slots)
        h_freq = self._draw_channel(batch * num_slots)
        bits = index_to_bits(codes.to(self.link.device), bits_per_code, self.link.dtype).reshape(batch, num_bits)
        slots = pack(bits, self.link.num_bits_per_slot, num_slots)
        need_no_eff = not self.link.decides_by_slicing
        x_hat, no_eff, _ = self.link.transmit_symbols(self.link.modulate(slots), no_slots, h_freq, need_no_eff)
        decided = unpack(self.link.demap(x_hat, no_eff, hard=True), batch, num_bits)
        decided = decided.reshape(batch, num_codes, bits_per_code)
        errors = (decided != bits.reshape(batch, num_codes, bits_per_code)).sum(dim=-1)
        resources = resource_usage("digital", batch, num_codes, 1, channel_uses, num_slots, self._grid, num_bits)
        return CodesOutput(bits_to_index(decided).to(codes.device), resources, errors.to(codes.device))

    # ------------------------------------------------------------ internals
    def _send(
        self,
        x: torch.Tensor,
        snr_db: torch.Tensor,
        size: dict,
        h_freq: torch.Tensor,
        return_metrics: bool,
        return_realization: bool,
        return_llr: bool,
        like: torch.Tensor,
    ) -> TokenLinkOutput:
        """One path over ``h_freq``; received tokens come back in ``like``'s dtype and device."""
        batch, num_tokens, dim = x.shape
        num_slots = size["num_slots"]
        no = esno_db_to_no(snr_db)
        no_slots = no.repeat_interleave(num_slots)
        bits = llr = metrics = None
        if size["mode"] == "analog":
            symbols, scale = self.analog.map(x)
            slots = pack(symbols, self.link.num_data_symbols, num_slots)
            mmse = self.config.analog.estimate == "mmse"
            x_hat, no_eff, _ = self.link.transmit_symbols(slots, no_slots, h_freq, mmse or return_realization)
            if mmse:
                x_hat = x_hat / (1.0 + no_eff)
            n = symbols.shape[1]
            rx = self.analog.demap(unpack(x_hat, batch, n), scale, dim)
        else:
            soft = self.config.digital.dequantization == "soft"
            word_bits = self.quantizer.bits_per_word
            if not (soft or return_llr) and self.link.decides_by_slicing and can_regroup(
                    word_bits, self.link.num_bits_per_symbol):
                rx, no_eff, metrics = self._send_words(x, no_slots, h_freq, num_slots, return_metrics,
                                                       return_realization)
            else:
                rx, no_eff, bits, llr, metrics = self._send_bits(x, no_slots, h_freq, num_slots, soft, return_metrics,
                                                                 return_llr, return_realization)
            # Value of rx, gradient of the identity (exactly rx: x - x.detach() is 0).
            rx = rx.detach() + (x - x.detach()) if self.config.digital.ste else rx.detach()
        resources = resource_usage(
            size["mode"], batch, num_tokens, dim, size["channel_uses"], num_slots,
            self._grid, size["num_bits"],
        )
        if size["mode"] == "analog" and return_metrics:
            metrics = link_metrics(x, rx)
        realization = None
        if return_realization:
            grid = h_freq.shape[-2:]
            realization = Realization(
                h_freq=h_freq.detach().reshape(batch, num_slots, *grid),
                no=no.detach(),
                snr_db=snr_db.detach(),
                no_eff=unpack(no_eff.detach(), batch, size["channel_uses"]),
            )
        rx = rx.to(dtype=like.dtype, device=like.device)
        return TokenLinkOutput(rx, resources, metrics, realization, bits, llr)

    def _send_words(
        self, x: torch.Tensor, no_slots: torch.Tensor, h_freq: torch.Tensor, num_slots: int,
        return_metrics: bool, return_no_eff: bool,
    ) -> tuple[torch.Tensor, Optional[torch.Tensor], Optional[LinkMetrics]]:
        """Digital with hard max-log decisions, carried as integers: quantization
        indices are regrouped into symbol labels (4-bit indices are 16-QAM labels
        as they are) and the receiver's decisions back into indices. The same
        symbols, decisions and tokens as :meth:`_send_bits`, without bit tensors."""
        batch = x.shape[0]
        word_bits, bps = self.quantizer.bits_per_word, self.link.num_bits_per_symbol
        words = self.quantizer.quantize(x)  # [batch, num_tokens, words_per_token]
        shape = words.shape
        labels = regroup(words.reshape(batch, -1), word_bits, bps).int()  # int32: half the memory
        num_labels = labels.shape[1]
        if not return_metrics:
            del words  # large integer tensors are freed as soon as they are used
        symbols = self.link.modulate_labels(pack(labels, self.link.num_data_symbols, num_slots))
        del labels
        x_hat, no_eff, _ = self.link.transmit_symbols(symbols, no_slots, h_freq, return_no_eff)
        del symbols
        decided = unpack(self.link.decide_labels(x_hat), batch, num_labels)
        words_hat = regroup(decided, bps, word_bits)[:, : shape[1:].numel()].reshape(shape)
        rx = self.quantizer.reconstruct(words_hat, x)
        metrics = word_link_metrics(x, rx, words, words_hat, word_bits) if return_metrics else None
        return rx, no_eff, metrics

    def _send_bits(
        self, x: torch.Tensor, no_slots: torch.Tensor, h_freq: torch.Tensor, num_slots: int, soft: bool,
        return_metrics: bool, return_llr: bool, return_no_eff: bool,
    ) -> tuple[torch.Tensor, Optional[torch.Tensor], torch.Tensor, Optional[torch.Tensor], Optional[LinkMetrics]]:
        """Digital through bits: quantize -> bits -> QAM -> LLRs or hard bits -> tokens."""
        batch, num_tokens = x.shape[:2]
        bits = self.quantizer.encode(x)
        bits_per_token = bits.shape[-1]
        slots = pack(bits.reshape(batch, -1), self.link.num_bits_per_slot, num_slots)
        need_no_eff = soft or return_llr or return_no_eff or not self.link.decides_by_slicing
        x_hat, no_eff, _ = self.link.transmit_symbols(self.link.modulate(slots), no_slots, h_freq, need_no_eff)
        llr = None
        if soft or return_llr:
            llr_slots = self.link.demap(x_hat, no_eff)
            llr = unpack(llr_slots, batch, num_tokens * bits_per_token).reshape(bits.shape)
            bits_hat = (llr > 0).to(bits.dtype)
        else:  # hard decisions only (max-log: by slicing, no LLRs computed)
            decided = self.link.demap(x_hat, no_eff, hard=True)
            bits_hat = unpack(decided, batch, num_tokens * bits_per_token).reshape(bits.shape).to(bits.dtype)
        rx = self.quantizer.decode_soft(llr) if soft else self.quantizer.decode_hard(bits_hat)
        metrics = link_metrics(x, rx, bits, bits_hat) if return_metrics else None
        return rx, no_eff, bits, llr, metrics

    def channel_bank(self) -> Optional[ChannelBank]:
        """The training channel bank (``train_channel_bank_size`` slots), built on
        first use from Sionna's generator; `None` without ``train_channel_bank_size``.
        Call it right after seeding to make the bank independent of what runs later."""
        size = self.config.train_channel_bank_size
        if size and self._bank is None:
            self._bank = ChannelBank(self.link, size, cache_dir=self.config.channel_bank_cache_dir,
                                     seed=sionna.phy.config.seed)
        return self._bank

    def _draw_channel(self, num_slots: int) -> torch.Tensor:
        """Realizations for ``num_slots`` slots: from the bank in training mode
        when ``train_channel_bank_size`` is set, fresh otherwise."""
        if not (self.training and self.config.train_channel_bank_size):
            return self.link.generate_channel(num_slots)
        return self.channel_bank()(num_slots)

    def _check_quantizer_ready(self) -> None:
        """Digital sends need a clipping range (a vector quantizer's codebook is always usable)."""
        if torch.compiler.is_compiling() or not isinstance(self.quantizer, ScalarQuantizer):
            return
        if not self.quantizer.has_range:
            raise RuntimeError(
                "TokenLink: the digital quantizer has no clipping range; call link.calibrate(example_tokens) "
                "before sending digital tokens, or set digital.clip: [lo, hi] in the config"
            )

    def _mode(self, mode: Optional[str]) -> str:
        mode = self.config.mode if mode is None else mode
        if mode not in TOKEN_LINK_MODES:
            raise ValueError(f"mode must be one of {list(TOKEN_LINK_MODES)}, got {mode!r}")
        return mode

    def _check_tokens(self, tokens: Any) -> torch.Tensor:
        """Validate [batch, num_tokens, dim] real floating, finite; cast to the link."""
        if not isinstance(tokens, torch.Tensor):
            raise TypeError(f"tokens must be a torch.Tensor [batch, num_tokens, dim], got {type(tokens).__name__}")
        if not tokens.is_floating_point():
            raise TypeError(
                "tokens must be a real floating tensor (float16, bfloat16, float32, float64), "
                f"got {tokens.dtype}"
            )
        if tokens.dim() != 3 or 0 in tokens.shape:
            raise ValueError(
                f"tokens must have shape [batch, num_tokens, dim] with sizes >= 1, got {list(tokens.shape)}"
            )
        if not torch.compiler.is_compiling() and not bool(torch.isfinite(tokens).all()):
            raise ValueError("tokens contain NaN or Inf: only finite values can be sent")
        return tokens.to(device=self.link.device, dtype=self.link.dtype)

    def _snr_db(self, snr_db: SnrArg, batch: int) -> torch.Tensor:
        """Per-sample Es/N0 [dB], [batch], in the link's real dtype."""
        kw = dict(dtype=self.link.dtype, device=self.link.device)
        if snr_db is None:
            rng = self.config.train_snr_db_range
            if self.training and rng is not None:
                u = torch.rand(batch, generator=torch_rng(self.link.device), **kw)
                return rng[0] + (rng[1] - rng[0]) * u
            snr_db = self.config.snr_db
        snr = torch.as_tensor(snr_db, **kw)
        if snr.dim() > 1 or (snr.dim() == 1 and snr.shape[0] not in (1, batch)):
            raise ValueError(f"snr_db must be a scalar or have shape [batch={batch}], got {list(snr.shape)}")
        if bool((snr.isnan() | (snr == -math.inf)).any()):
            raise ValueError("snr_db must be a number in dB or +inf (noiseless), got NaN or -inf")
        return snr.expand(batch).clone() if snr.dim() == 0 or snr.shape[0] == 1 else snr
