"""The cut-layer gradient sent down to a client as digital bits over its link (``fedsl.downlink: link``).

The server quantizes the gradient of the values the client sent
(:class:`~.quantize.GradientQuantizer`: one scale per tensor, ``b``-bit levels)
and sends each level as a ``b``-bit code through the client's bridge
``TokenLink`` (:meth:`~tokenlink.bridge.layer.TokenLink.transmit_codes`): the
link's modulation, channel model and CSI, hard decisions, at the client's
Es/N0, a channel realization of its own; a wrong bit changes the level the
client dequantizes. ``b`` is ``fedsl.gradient_bits``, or
:data:`LINK_GRADIENT_BITS` when the gradient is float32 (``gradient_bits >= 32``,
and the ``splitfed_vanilla`` baseline): uncoded float32 bit patterns would
turn one wrong exponent bit into an enormous value.

Framing, as the uplink's: one frame per batch sample, carrying the codes of
that sample's kept values (dropped entries are not sent), frames padded with
zero codes to the batch's longest (the link sends equal frames); channel uses
``frames x ceil(b n_max / bits_per_symbol)``; the batch goes back to back, so its airtime
is whole slots of those channel uses (:func:`~.accounting.batch_airtime_s`). The per-tensor scale (32 bits, counted in ``downlink_bits``) is
side information that arrives intact. The bit error rate counts the payload
bits only (not the padding)::

    downlink = ClientDownlink(link, esno_db=10.0)
    levels, m = quantizer.encode(g_kept)                       # [num_kept] in sample order
    received, usage = downlink.send(levels, counts, quantizer.bits)
    g_hat = quantizer.decode(received, m)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .accounting import batch_airtime_s

__all__ = ["ClientDownlink", "DownlinkUsage", "LINK_GRADIENT_BITS", "link_gradient_bits"]

#: Bits per over-the-air gradient code when ``gradient_bits >= 32`` (float32) and the downlink is the link.
LINK_GRADIENT_BITS = 8


def link_gradient_bits(gradient_bits: int) -> int:
    """The gradient bits in effect over a link downlink: ``gradient_bits``, or
    :data:`LINK_GRADIENT_BITS` instead of float32."""
    return gradient_bits if gradient_bits < 32 else LINK_GRADIENT_BITS


@dataclass
class DownlinkUsage:
    """What one step's downlink used."""

    channel_uses: int
    """Complex symbols, all frames (padding of the frames to the longest included)."""
    airtime_s: float
    """Slots (cyclic prefix included) x frames."""
    payload_bits: int
    """Code bits of the values sent (``b`` x values; no padding, no scale)."""
    bit_errors: int
    """Wrong payload bits."""


class ClientDownlink:
    """One client's digital downlink: a bridge ``TokenLink`` at the client's Es/N0 per RE [dB].

    :input levels: [num_kept] integer-valued levels (any dtype) of the values sent, sample after sample
    :input counts: [batch] values sent per sample (sum = num_kept)
    :input bits: bits per code
    :output: (received levels like ``levels``, :class:`DownlinkUsage`)
    """

    def __init__(self, link, esno_db: float):
        self.link, self.esno_db = link, float(esno_db)

    @torch.no_grad()
    def send(self, levels: torch.Tensor, counts: torch.Tensor, bits: int) -> tuple[torch.Tensor, DownlinkUsage]:
        batch = counts.numel()
        width = max(1, int(counts.max()))
        kept = torch.arange(width, device=counts.device)[None, :] < counts.reshape(-1, 1)  # [batch, width]
        codes = torch.zeros(batch, width, dtype=torch.int64, device=levels.device)
        codes = codes.masked_scatter(kept.to(levels.device), levels.round().long())
        out = self.link.transmit_codes(codes, bits, snr_db=self.esno_db)
        mask = kept.to(out.codes.device)
        received = out.codes[mask].to(dtype=levels.dtype, device=levels.device)
        res = out.resources
        usage = DownlinkUsage(channel_uses=res.channel_uses * batch,
                              airtime_s=batch_airtime_s(res, res.channel_uses * batch),
                              payload_bits=bits * int(counts.sum()), bit_errors=int(out.bit_errors[mask].sum()))
        return received, usage
