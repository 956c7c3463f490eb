"""One split-learning training step of one client, the uplink through a channel.

::

    client: a = client_model(x)                 [B, C, H, W]
            tokens = to_tokens(a)               [B, T, D] ("channels": T = C, D = H*W)
            mask ~ SplitDropout                 keep each value with prob. 1 - p (shared seed: no bits)
            packed = kept values of each sample, to the front      [B, T', D], T' <= T
    uplink: received = channel(packed)          any callable [B, T', D] -> [B, T', D]
    server: a_hat = unpack(received) / (1 - p)  dropped entries zero
            loss = CE(server_model(a_hat), y); backward -> server grads and g = dL/d(received)
    downlink: g_hat = quantize(g at the kept entries)   ideal, or its b-bit codes over the client's link
    client: a.backward(unpack(g_hat))           dropped entries get zero gradient

The server differentiates with respect to what it *received*; the client
applies that gradient to what it *sent* (the channel is not differentiated:
neither end can). With no dropout, no quantization and an identity channel
this is exactly the gradient of the unsplit model.

The step computes gradients only; the caller steps the optimizers (and
re-applies pruning masks, :meth:`~.prune.PruningMask.attach`)::

    step = SplitStep(dropout=SplitDropout(0.25, seed=1), quantizer=GradientQuantizer(8, seed=2))
    client_opt.zero_grad(); server_opt.zero_grad()
    out = step(client, server, images, labels, channel=link)   # link: a bridge TokenLink, or None
    client_opt.step(); server_opt.step()
    out.loss, out.accuracy, out.cost.uplink_channel_uses

A ``channel`` with a ``transmit`` method (a bridge ``TokenLink``) is called
through it, and its ``ResourceUsage`` gives channel uses, bits and airtime;
the link simulates one frame per image, but a client sends its batch back to
back, so the batch's airtime is ``ceil(channel uses of the batch / data REs per
slot)`` slots (:func:`batch_airtime_s`): fewer kept activations, fewer slots. Any
other callable (or `None`, the ideal link) is called as ``channel(tokens)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import nn

from .accounting import ClientCost, batch_airtime_s
from .dropout import SplitDropout, pack_kept, unpack_kept
from .models import ForwardMeter
from .quantize import GradientQuantizer

__all__ = ["TOKEN_LAYOUTS", "to_tokens", "from_tokens", "SplitStep", "SplitStepOutput"]

#: How [B, C, H, W] activations become tokens: "channels" -> [B, C, H*W] (one token per
#: feature map), "positions" -> [B, H*W, C] (one token per pixel, its C channels).
TOKEN_LAYOUTS = ("channels", "positions")

Channel = Callable[[torch.Tensor], torch.Tensor]


def to_tokens(a: torch.Tensor, layout: str = "channels") -> torch.Tensor:
    """[B, C, H, W] -> [B, C, H*W] (``"channels"``) or [B, H*W, C] (``"positions"``)."""
    tokens = a.flatten(2)
    return tokens if layout == "channels" else tokens.transpose(1, 2)


def from_tokens(tokens: torch.Tensor, shape: torch.Size, layout: str = "channels") -> torch.Tensor:
    """Inverse of :func:`to_tokens`; ``shape`` is [B, C, H, W]."""
    if layout != "channels":
        tokens = tokens.transpose(1, 2)
    return tokens.reshape(shape)


@dataclass
class SplitStepOutput:
    """Result of :class:`SplitStep`."""

    loss: float
    """Mean cross-entropy of the batch [nats]."""
    accuracy: float
    """Fraction of the batch classified correctly (server logits)."""
    cost: ClientCost
    grad_sq_norm: float
    """``||g||^2`` of the cut-layer gradient the server computed (before quantization)."""
    quantization_sq_error: float
    """``||Q(g) - g||^2`` added by the downlink quantizer (0 without one; over the link: as decoded)."""
    activation_sq_norm: float = 0.0
    """``||a||^2`` of the split-layer activations the client computed (whole batch)."""
    dropout_sq_error: float = 0.0
    """``||D(a) / (1 - p) - a||^2``: what dropout and rescaling change in the activations
    (before the channel; 0 without dropout)."""
    channel_sq_error: float = 0.0
    """``||received - sent||^2`` over the values handed to the uplink (0 on an ideal link)."""


class SplitStep:
    """One client's split-learning step (gradients only; see the module doc).

    :param dropout: :class:`~.dropout.SplitDropout`, or `None` (send everything)
    :param quantizer: :class:`~.quantize.GradientQuantizer` for the downlink gradient, or `None` (float32)
    :param token_layout: one of :data:`TOKEN_LAYOUTS`
    :param uplink_bits_per_value: bits per activation value on an ideal (plain callable) link
    :param loss_fn: ``(logits [B, K], labels [B]) -> scalar``; default cross-entropy

    :input client_model: [B, 3, H, W] -> [B, C, H_c, W_c]
    :input server_model: [B, C, H_c, W_c] -> logits [B, K]
    :input images: [B, 3, H, W] float; :input labels: [B] int64
    :input channel: uplink, `None` (ideal), a callable [B, T, D] -> [B, T, D], or a ``TokenLink``
    :input downlink: `None` (ideal), or a :class:`~.downlink.ClientDownlink` carrying the quantized
        gradient's codes (needs a quantizer of fewer than 32 bits)
    :input generator: optional generator for the dropout mask and the quantizer
    :input round_index, client_id: copied into the cost record
    :output: :class:`SplitStepOutput`; ``.grad`` of both models' parameters accumulated
    """

    def __init__(self, dropout: Optional[SplitDropout] = None, quantizer: Optional[GradientQuantizer] = None,
                 token_layout: str = "channels", uplink_bits_per_value: int = 32,
                 loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = nn.functional.cross_entropy):
        if token_layout not in TOKEN_LAYOUTS:
            raise ValueError(f"fedsl.token_layout: {token_layout!r} is not allowed; "
                             f"allowed: {', '.join(TOKEN_LAYOUTS)}")
        self.dropout, self.quantizer, self.token_layout = dropout, quantizer, token_layout
        self.uplink_bits_per_value, self.loss_fn = uplink_bits_per_value, loss_fn

    def _uplink(self, channel: Optional[Channel], packed: torch.Tensor) -> tuple[torch.Tensor, Optional[object]]:
        with torch.no_grad():
            if channel is None:
                return packed.clone(), None
            if hasattr(channel, "transmit"):
                out = channel.transmit(packed)
                return out.tokens, out.resources
            return channel(packed), None

    def __call__(self, client_model: nn.Module, server_model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                 channel: Optional[Channel] = None, generator: Optional[torch.Generator] = None,
                 round_index: int = 0, client_id: int = 0, downlink=None) -> SplitStepOutput:
        if downlink is not None and (self.quantizer is None or self.quantizer.exact):
            raise ValueError("fedsl.gradient_bits: a link downlink sends b-bit codes; give the step a "
                             "quantizer of fewer than 32 bits")
        batch = images.shape[0]
        # client forward to the cut
        with ForwardMeter(client_model) as meter:
            a = client_model(images)
        tokens = to_tokens(a.detach(), self.token_layout)
        flat = tokens.reshape(batch, -1)
        if self.dropout is not None:
            mask = self.dropout.mask(flat.shape, flat.device, generator)
        else:
            mask = torch.ones(flat.shape, dtype=torch.bool, device=flat.device)
        packed = pack_kept(flat, mask, tokens.shape[-1])
        num_kept = int(mask.sum())

        # uplink
        received, resources = self._uplink(channel, packed)

        # server forward / backward
        received = received.detach().to(packed.dtype).requires_grad_(True)
        dense = unpack_kept(received, mask)
        if self.dropout is not None and self.dropout.drop_rate:
            dense = dense * self.dropout.scale
        logits = server_model(from_tokens(dense.reshape(tokens.shape), a.shape, self.token_layout))
        loss = self.loss_fn(logits, labels)
        loss.backward()

        # downlink: the gradient of the kept values only, quantized
        g = received.grad.reshape(batch, -1)
        kept_slots = torch.arange(g.shape[1], device=g.device)[None, :] < mask.sum(dim=1, keepdim=True)
        g_kept = g[kept_slots]
        down = None
        if downlink is not None and num_kept:
            level, scale = self.quantizer.encode(g_kept, generator)
            level, down = downlink.send(level, mask.sum(dim=1), self.quantizer.bits)
            g_hat, downlink_bits = self.quantizer.decode(level, scale), self.quantizer.wire_bits(num_kept)
        elif self.quantizer is not None:
            quantized = self.quantizer(g_kept, generator)
            g_hat, downlink_bits = quantized.values, quantized.num_bits
        else:
            g_hat, downlink_bits = g_kept, 32 * num_kept
        g_dense = torch.zeros_like(g).masked_scatter(kept_slots, g_hat)

        # client backward
        grad_a = from_tokens(unpack_kept(g_dense, mask).reshape(tokens.shape), a.shape, self.token_layout)
        a.backward(grad_a)

        dense_flops, nonzero_flops = meter.flops
        channel_uses = airtime = uplink_bits = None
        if resources is not None:
            frames = resources.batch_size
            channel_uses = resources.channel_uses * frames
            airtime = batch_airtime_s(resources, channel_uses)
            uplink_bits = None if resources.num_bits is None else resources.num_bits * frames
        elif channel is None or not hasattr(channel, "transmit"):
            uplink_bits = num_kept * self.uplink_bits_per_value
        cost = ClientCost(
            round_index=round_index, client_id=client_id, num_samples=batch,
            uplink_values=num_kept, uplink_padded_values=packed.numel(), uplink_bits=uplink_bits,
            uplink_channel_uses=channel_uses, uplink_airtime_s=airtime,
            downlink_values=num_kept, downlink_bits=downlink_bits,
            client_flops_forward=batch * nonzero_flops, client_flops_forward_dense=batch * dense_flops,
            client_activation_bytes=meter.activation_bytes,
        )
        if downlink is not None:
            cost.downlink_channel_uses = down.channel_uses if down else 0
            cost.downlink_airtime_s = down.airtime_s if down else 0.0
            cost.downlink_payload_bits = down.payload_bits if down else 0
            cost.downlink_bit_errors = down.bit_errors if down else 0
        with torch.no_grad():
            accuracy = float((logits.argmax(dim=1) == labels).to(torch.float64).mean())
            grad_sq_norm = float(g_kept.pow(2).sum())
            quantization_sq_error = float((g_hat - g_kept).pow(2).sum())
            activation_sq_norm = float(flat.double().pow(2).sum())
            dropout_sq_error = 0.0
            if self.dropout is not None and self.dropout.drop_rate:
                restored = unpack_kept(packed, mask).double() * self.dropout.scale
                dropout_sq_error = float((restored - flat.double()).pow(2).sum())
            channel_sq_error = float((received.detach().double() - packed.double()).pow(2).sum())
        return SplitStepOutput(float(loss.detach()), accuracy, cost, grad_sq_norm, quantization_sq_error,
                               activation_sq_norm, dropout_sq_error, channel_sq_error)
