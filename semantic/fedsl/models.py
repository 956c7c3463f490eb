"""The VGG-style CNN of paper B, split at a cut layer, and its FLOP count.

The network is a stack of *conv layers* followed by one linear classifier.
Each conv layer is one unit ``Conv2d(3x3, padding 1) -> BatchNorm2d -> ReLU``,
plus the ``MaxPool2d(2)`` that follows it in the layout ('M' in the standard
VGG cfg lists), so a cut always falls between two units::

    model = VGG("vgg11", num_classes=10, width=1 / 8)    # 8 conv layers, widths 8 .. 64
    client = model.client_model(cut_layer=2)             # units 1..2: [B, 3, 32, 32] -> [B, 16, 8, 8]
    server = model.server_model(cut_layer=2)             # units 3..8 + classifier -> [B, 10]

``cut_layer = k`` gives the client the first ``k`` conv layers (with their
pools); allowed ``1 <= k <= num_conv_layers``. Both halves share parameters
with ``model`` (``copy.deepcopy`` them for a per-client copy).

FLOPs (:func:`count_flops`): 2 x multiply-accumulates of the conv and linear
layers, per sample; bias additions, BatchNorm, ReLU and pooling are not
counted. Two numbers per layer: ``dense`` (every weight, what a dense kernel
computes: unstructured pruning does not change it) and ``nonzero`` (only the
nonzero weights: what unstructured pruning saves with a sparse kernel).
Structured pruning (:class:`~tokenlink.semantic.fedsl.prune.FilterPruner`)
makes the convolutions physically smaller, so it lowers both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

import torch
from torch import nn

__all__ = ["VGG_LAYOUTS", "VGG", "conv_unit", "LayerFlops", "ForwardMeter", "count_flops", "total_flops"]

#: Standard VGG feature layouts (Simonyan & Zisserman 2015, configs A, D, E):
#: an int is a 3x3 conv with that many output channels, 'M' a 2x2 max-pool.
VGG_LAYOUTS: dict[str, tuple[Union[int, str], ...]] = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"),
}

Layout = Union[str, Sequence[Union[int, str]]]


def conv_unit(in_channels: int, out_channels: int, pool: bool, batch_norm: bool = True) -> nn.Sequential:
    """One conv layer: ``Conv2d(3x3, pad 1) [-> BatchNorm2d] -> ReLU [-> MaxPool2d(2)]``.

    :input x: [batch, in_channels, H, W]
    :output y: [batch, out_channels, H, W], or [batch, out_channels, H/2, W/2] with ``pool``
    """
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.ReLU(inplace=False))
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


def _parse_layout(layout: Layout) -> list[tuple[int, bool]]:
    """``[(out_channels, pool_after), ...]`` per conv layer of a layout name or cfg list."""
    if isinstance(layout, str):
        if layout not in VGG_LAYOUTS:
            raise ValueError(f"fedsl.model: unknown layout {layout!r}; allowed: {', '.join(VGG_LAYOUTS)} "
                             f"or a list of ints and 'M'")
        layout = VGG_LAYOUTS[layout]
    units: list[tuple[int, bool]] = []
    for entry in layout:
        if entry == "M":
            if not units or units[-1][1]:
                raise ValueError(f"fedsl.model: layout {list(layout)} has an 'M' that does not follow a conv layer")
            units[-1] = (units[-1][0], True)
        elif isinstance(entry, int) and not isinstance(entry, bool) and entry >= 1:
            units.append((entry, False))
        else:
            raise ValueError(f"fedsl.model: layout entry {entry!r} is neither a positive int nor 'M'")
    if not units:
        raise ValueError("fedsl.model: layout has no conv layer")
    return units


class VGG(nn.Module):
    """VGG-style CNN for [batch, 3, 32, 32] images (CIFAR-10 style), splittable.

    :param layout: ``"vgg11"`` | ``"vgg16"`` | ``"vgg19"`` or a cfg list
        (ints = conv output channels, ``"M"`` = 2x2 max-pool after the conv before it)
    :param num_classes: classifier outputs
    :param width: channel multiplier: conv ``c`` gets ``max(1, round(c * width))`` channels
        (1/8 gives VGG-11 widths 8 .. 64, fast on a CPU)
    :param in_channels: image channels (3)
    :param input_size: image height = width [pixels] (32); must survive the pools
    :param batch_norm: BatchNorm after every conv (standard for CIFAR VGGs)

    :input x: [batch, in_channels, input_size, input_size] float
    :output logits: [batch, num_classes]

    Layers: ``features`` (an ``nn.ModuleList`` of :func:`conv_unit`, one per
    conv layer) then ``classifier`` (flatten -> ``Linear``).
    """

    def __init__(self, layout: Layout = "vgg11", num_classes: int = 10, width: float = 1.0, in_channels: int = 3,
                 input_size: int = 32, batch_norm: bool = True):
        super().__init__()
        if not width > 0:
            raise ValueError(f"fedsl.model: width={width!r} must be > 0")
        units = _parse_layout(layout)
        self.layout = layout if isinstance(layout, str) else list(layout)
        self.width = float(width)
        self.channels = [max(1, round(c * width)) for c, _ in units]
        num_pools = sum(p for _, p in units)
        if input_size % (2 ** num_pools):
            raise ValueError(f"fedsl.model: input_size={input_size} is not divisible by 2**{num_pools} "
                             f"(the layout's {num_pools} max-pools)")
        self.input_shape = (in_channels, input_size, input_size)
        self.features = nn.ModuleList()
        previous = in_channels
        for (_, pool), channels in zip(units, self.channels, strict=True):
            self.features.append(conv_unit(previous, channels, pool, batch_norm))
            previous = channels
        side = input_size // 2 ** num_pools
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(previous * side * side, num_classes))

    @property
    def num_conv_layers(self) -> int:
        return len(self.features)

    def check_cut(self, cut_layer: int) -> int:
        """``cut_layer`` validated: ``1 <= cut_layer <= num_conv_layers``, else a one-line ValueError."""
        if isinstance(cut_layer, bool) or not isinstance(cut_layer, int) or not 1 <= cut_layer <= self.num_conv_layers:
            raise ValueError(f"fedsl.cut_layer: {cut_layer!r} is outside the model; allowed: 1..{self.num_conv_layers} "
                             f"(conv layers of {self.layout if isinstance(self.layout, str) else 'this layout'})")
        return cut_layer

    def client_model(self, cut_layer: int) -> nn.Sequential:
        """Conv layers ``1..cut_layer`` (shares parameters with this model).

        :input x: [batch, 3, 32, 32]; :output: [batch, C_cut, H_cut, W_cut] split-layer activations
        """
        return nn.Sequential(*self.features[: self.check_cut(cut_layer)])

    def server_model(self, cut_layer: int) -> nn.Sequential:
        """Conv layers ``cut_layer+1..`` and the classifier (shares parameters with this model).

        :input a: [batch, C_cut, H_cut, W_cut]; :output logits: [batch, num_classes]
        """
        return nn.Sequential(*self.features[self.check_cut(cut_layer):], *self.classifier)

    def cut_shape(self, cut_layer: int) -> tuple[int, int, int]:
        """``(C, H, W)`` of the split-layer activations of one sample."""
        self.check_cut(cut_layer)
        side = self.input_shape[1]
        for unit in self.features[:cut_layer]:
            side //= 2 if isinstance(unit[-1], nn.MaxPool2d) else 1
        return self.channels[cut_layer - 1], side, side

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for unit in self.features:
            x = unit(x)
        return self.classifier(x)


# ----------------------------------------------------------------------- FLOPs
@dataclass(frozen=True)
class LayerFlops:
    """FLOPs of one conv or linear layer for one sample (2 x multiply-accumulates)."""

    name: str
    """Module name in the counted model (``"0.0"`` = first unit's conv)."""
    kind: str
    """``"conv"`` or ``"linear"``."""
    output_shape: tuple[int, ...]
    """Output of the layer for one sample, e.g. ``(C, H, W)``."""
    dense: int
    """2 x MACs with every weight."""
    nonzero: int
    """2 x MACs with the nonzero weights only (after masks)."""


class ForwardMeter:
    """While active (a context manager), records what forward passes of ``model`` cost.

    :param model: the module to watch
    :param masks: optional ``{parameter name: bool mask}`` multiplied into the weights for
        the nonzero count (without it the weights' own zeros count)

    After a forward pass: ``layers`` -- one :class:`LayerFlops` per conv / linear call (per
    sample); ``activation_bytes`` -- bytes of the outputs of every leaf module (whole batch).
    """

    def __init__(self, model: nn.Module, masks: Optional[dict[str, torch.Tensor]] = None):
        self.model, self.masks = model, masks
        self.layers: list[LayerFlops] = []
        self.activation_bytes = 0
        self._handles: list = []

    def _flops(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        name = self._names[module]
        weight = module.weight.detach()
        if self.masks is not None and f"{name}.weight" in self.masks:
            weight = weight * self.masks[f"{name}.weight"]
        nnz = int(torch.count_nonzero(weight))
        if isinstance(module, nn.Conv2d):
            positions = output.shape[-1] * output.shape[-2]
            self.layers.append(LayerFlops(name, "conv", tuple(output.shape[1:]), 2 * weight.numel() * positions,
                                          2 * nnz * positions))
        else:
            self.layers.append(LayerFlops(name, "linear", tuple(output.shape[1:]), 2 * weight.numel(), 2 * nnz))

    def _bytes(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        self.activation_bytes += output.numel() * output.element_size()

    def __enter__(self) -> ForwardMeter:
        self._names = {m: n for n, m in self.model.named_modules()}
        for module in self.model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                self._handles.append(module.register_forward_hook(self._flops))
            if next(module.children(), None) is None:
                self._handles.append(module.register_forward_hook(self._bytes))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    @property
    def flops(self) -> tuple[int, int]:
        """``(dense, nonzero)`` forward FLOPs per sample, summed over the recorded layers."""
        return sum(r.dense for r in self.layers), sum(r.nonzero for r in self.layers)


def count_flops(model: nn.Module, input_shape: Sequence[int], masks: Optional[dict[str, torch.Tensor]] = None
                ) -> list[LayerFlops]:
    """Forward FLOPs per conv / linear layer of ``model`` for one sample.

    Conv: ``dense = 2 * C_out * H_out * W_out * (C_in / groups) * k_h * k_w``,
    ``nonzero = 2 * H_out * W_out * nnz(weight)``. Linear: ``dense = 2 * in * out``,
    ``nonzero = 2 * nnz(weight)``. Biases, BatchNorm, ReLU and pooling are not counted.

    :param model: any module (a full :class:`VGG`, a client or server half)
    :param input_shape: one sample's input, e.g. ``(3, 32, 32)``
    :param masks: optional ``{parameter name: bool mask}`` (as from a pruner)
        multiplied into the weights for ``nonzero``; without it the weights'
        own zeros count (masks already applied)
    :output: one :class:`LayerFlops` per conv / linear layer, in execution order
    """
    was_training = model.training
    parameter = next(model.parameters(), None)
    dtype = parameter.dtype if parameter is not None else torch.float32
    device = parameter.device if parameter is not None else None
    try:
        model.eval()
        with ForwardMeter(model, masks) as meter, torch.no_grad():
            model(torch.zeros(1, *input_shape, dtype=dtype, device=device))
    finally:
        model.train(was_training)
    return meter.layers


def total_flops(model: nn.Module, input_shape: Sequence[int], masks: Optional[dict[str, torch.Tensor]] = None
                ) -> tuple[int, int]:
    """``(dense, nonzero)`` forward FLOPs of ``model`` for one sample (sums of :func:`count_flops`)."""
    layers = count_flops(model, input_shape, masks)
    return sum(r.dense for r in layers), sum(r.nonzero for r in layers)
