"""Device-side modality encoders: raw media in, a sequence of tokens out.

Paper A's device runs a *frozen* modality encoder, then a linear projection
to the foundation model's width (:class:`~tokenlink.semantic.receiver.ModalityProjection`)
and token compression (:mod:`~tokenlink.semantic.compression`). No pretrained
image or audio encoder is available offline, so each encoder here is a small
network pretrained once on its modality's own training split (multi-hot
attribute prediction, :func:`pretrain_encoder`), cached by configuration
(:func:`pretrained_encoder`) and then frozen. :func:`encode` runs a frozen
encoder over a whole data set once, so training can work on cached tokens.

Media kinds (``media_kind`` of a data set) and what the encoders take:

============  ==============================  =====================================
kind          per-item shape, dtype           default tokens (width 128)
============  ==============================  =====================================
``image``     [H, W, C] uint8, C = 1 or 3     64x64 -> 8x8 = 64; 28x28 -> 7x7 = 49
``frames``    [T, H, W, C] uint8              8 x 64x64 -> 8 frames x 4x4 = 128
``waveform``  [S] float32 in [-1, 1]          1 s at 16 kHz -> 51 (one per 20 ms)
``features``  [T, D] float32                  T (one token per feature vector)
============  ==============================  =====================================
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..common.progress import ProgressLike, resolve_progress
from .audio import LogMelSpectrogram
from .cache import atomic_dir, cache_dir, config_key
from .data.base import MEDIA_KINDS  # re-exported: the kinds an encoder accepts are those a data set declares

__all__ = [
    "MEDIA_KINDS",
    "ENCODER_CODE_VERSION",
    "DeviceEncoder",
    "ImageEncoder",
    "FramesEncoder",
    "AudioEncoder",
    "FeatureEncoder",
    "build_encoder",
    "pretrain_encoder",
    "pretrained_encoder",
    "encoder_cache_config",
    "encode",
]

#: Part of every weight-cache key: bump it when a change to this file alters
#: the architecture or the pretraining, so old cache entries are not reused.
ENCODER_CODE_VERSION = 1

#: Pixel normalisation after scaling uint8 to [0, 1]: (x - mean) / std.
PIXEL_MEAN = 0.5
PIXEL_STD = 0.25

ShapeLike = Sequence[int]


def _shape(input_shape: ShapeLike) -> tuple[int, ...]:
    return tuple(int(s) for s in input_shape)


def _conv_out(size: int, stride: int) -> int:
    """Output length of a kernel-3, padding-1 convolution with ``stride``."""
    return (size - 1) // stride + 1


def _norm2d(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(min(8, channels), channels)
    raise ValueError(f"semantic.encoder.norm: got {kind!r}; allowed: batch, group")


def _sinusoidal(length: int, dim: int) -> torch.Tensor:
    """[length, dim] transformer sinusoids (sin on even, cos on odd channels)."""
    pos = torch.arange(length, dtype=torch.float64)[:, None]
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    table = torch.zeros(length, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return table.float()


def _pixels_to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 in [0, 255] -> float32 in [0, 1]; floating input is taken to be in [0, 1] already."""
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    if x.is_floating_point():
        return x.float()
    raise ValueError(f"semantic.encoder.input: got dtype {x.dtype}; allowed: uint8 or floating in [0, 1]")


class DeviceEncoder(nn.Module):
    """Base of the device-side encoders: raw media batch in, tokens out.

    :param kind: Media kind, one of :data:`MEDIA_KINDS`.
    :param input_shape: Shape of one item, without the batch dimension.
    :param out_dim: Token width.

    :input x: [batch, \\*input_shape] tensor of raw media (see the subclass).
    :output tokens: [batch, num_tokens, out_dim], float32, with
        ``num_tokens = sequence_length(input_shape)``.

    :meth:`freeze` makes the encoder a fixed feature extractor: no parameter
    requires grad and it stays in eval mode even when a parent module calls
    ``.train()`` (so BatchNorm statistics never move again).
    """

    def __init__(self, kind: str, input_shape: ShapeLike, out_dim: int) -> None:
        super().__init__()
        self.kind = kind
        self.input_shape = _shape(input_shape)
        self.out_dim = int(out_dim)
        self.frozen = False

    def sequence_length(self, input_shape: Optional[ShapeLike] = None) -> int:
        """Number of tokens made from one item of ``input_shape`` (default: the encoder's own)."""
        raise NotImplementedError(f"{type(self).__name__} must define sequence_length")

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a one-line error unless ``x`` is [batch, \\*input_shape]."""
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"semantic.encoder.input: got {self.kind} batch of shape {list(x.shape)}; "
                f"allowed: [batch, {', '.join(str(s) for s in self.input_shape)}]"
            )

    def freeze(self) -> "DeviceEncoder":
        """No gradients, eval mode for good (see the class doc). Returns ``self``."""
        self.requires_grad_(False)
        for module in self.modules():
            if isinstance(module, DeviceEncoder):
                module.frozen = True
        nn.Module.train(self, False)
        return self

    def train(self, mode: bool = True) -> "DeviceEncoder":
        return nn.Module.train(self, False if self.frozen else mode)

    @property
    def config(self) -> dict[str, Any]:
        """Plain-data description (kind, shape, width and the subclass's options)."""
        return {"kind": self.kind, "input_shape": list(self.input_shape), "out_dim": self.out_dim}


class ImageEncoder(DeviceEncoder):
    r"""Small CNN: an image in, one token per cell of its final feature map.

    As many downsampling layers (3x3 conv with stride 2, norm, ReLU) as it
    takes to bring the feature map to at most ``max_grid`` x ``max_grid``,
    then ``refine_layers`` 3x3 convs with stride 1 (norm, ReLU) at that
    resolution and a 1x1 convolution to ``width`` channels. Downsampling layer
    ``i`` has ``min(base_channels * 2**i, 256)`` channels (an image no larger
    than ``max_grid`` gets one 3x3 conv with stride 1 instead). Tokens are the
    cells of the final map in row-major order (row 0 left to right, then
    row 1, ...). Pixel values are scaled to [0, 1] and normalised as
    ``(x - 0.5) / 0.25`` inside; convolutions run channels-last.

    :param input_shape: (height, width, channels) of one image, channels last.
    :param width: Token width ``out_dim``.
    :param max_grid: Largest side of the final feature map: 64x64 -> 8x8 (3
        downsamplings), 28x28 -> 7x7 (2), 32x32 -> 8x8 (2).
    :param base_channels: Channels of the first layer.
    :param refine_layers: 3x3 convs at the final resolution.
    :param norm: ``"batch"`` (BatchNorm) or ``"group"`` (GroupNorm, 8 groups).

    :input images: [batch, height, width, channels], uint8 in [0, 255] (or
        floating in [0, 1]), any device.
    :output tokens: [batch, grid_h * grid_w, width], float32.

    >>> enc = ImageEncoder((64, 64, 3))
    >>> enc(torch.zeros(2, 64, 64, 3, dtype=torch.uint8)).shape
    torch.Size([2, 64, 128])
    """

    def __init__(
        self,
        input_shape: ShapeLike,
        width: int = 128,
        max_grid: int = 8,
        base_channels: int = 32,
        refine_layers: int = 1,
        norm: str = "batch",
    ) -> None:
        shape = _shape(input_shape)
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(
                f"semantic.encoder.input_shape: got {list(shape)} for image; allowed: [height, width, channels]"
            )
        super().__init__("image", shape, width)
        if max_grid < 1:
            raise ValueError(f"semantic.encoder.max_grid: got {max_grid}; allowed: >= 1")
        if refine_layers < 0:
            raise ValueError(f"semantic.encoder.refine_layers: got {refine_layers}; allowed: >= 0")
        self.max_grid = int(max_grid)
        self.base_channels = int(base_channels)
        self.refine_layers = int(refine_layers)
        self.norm = norm
        height, wid, c_in = shape
        self.num_blocks = self._blocks_for(height, wid)

        def conv(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), _norm2d(norm, c_out),
                    nn.ReLU(inplace=True)]

        layers: list[nn.Module] = []
        for i in range(self.num_blocks):
            c_out = min(self.base_channels * 2**i, 256)
            layers += conv(c_in, c_out, 2)
            c_in = c_out
        if self.num_blocks == 0:
            layers += conv(c_in, self.base_channels, 1)
            c_in = self.base_channels
        for _ in range(self.refine_layers):
            layers += conv(c_in, c_in, 1)
        layers.append(nn.Conv2d(c_in, width, 1))
        self.features = nn.Sequential(*layers)

    def _blocks_for(self, height: int, wid: int) -> int:
        blocks = 0
        while max(height, wid) > self.max_grid:
            height, wid, blocks = _conv_out(height, 2), _conv_out(wid, 2), blocks + 1
        return blocks

    def grid(self, input_shape: Optional[ShapeLike] = None) -> tuple[int, int]:
        """(rows, columns) of the final feature map."""
        height, wid = (_shape(input_shape) if input_shape is not None else self.input_shape)[:2]
        for _ in range(self.num_blocks):
            height, wid = _conv_out(height, 2), _conv_out(wid, 2)
        return height, wid

    def sequence_length(self, input_shape: Optional[ShapeLike] = None) -> int:
        rows, cols = self.grid(input_shape)
        return rows * cols

    def feature_map(self, images: torch.Tensor) -> torch.Tensor:
        """[batch, H, W, C] raw images -> [batch, width, grid_h, grid_w] float32 feature map."""
        x = _pixels_to_float(images).permute(0, 3, 1, 2)          # NHWC storage = channels-last NCHW
        x = ((x - PIXEL_MEAN) / PIXEL_STD).contiguous(memory_format=torch.channels_last)
        return self.features(x)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.check_input(images)
        return self.feature_map(images).flatten(2).transpose(1, 2)       # [batch, rows*cols, width]

    @property
    def config(self) -> dict[str, Any]:
        return {**super().config, "max_grid": self.max_grid, "base_channels": self.base_channels,
                "refine_layers": self.refine_layers, "norm": self.norm}


class FramesEncoder(DeviceEncoder):
    r"""Video frames: the image CNN on every frame, tokens of all frames in time order.

    Each frame goes through one shared :class:`ImageEncoder`; its feature map
    is average-pooled to ``spatial_grid`` x ``spatial_grid`` cells (adaptive
    average pooling; `None` keeps the full map), and a frame-time embedding of
    the frame index is added to all tokens of that frame. Tokens are ordered
    frame by frame; inside a frame column by column (``token_order="columns"``,
    ``token = (t * grid_w + col) * grid_h + row``) or row by row (``"rows"``,
    ``token = (t * grid_h + row) * grid_w + col``). Column order is the
    default because window pooling (:mod:`~tokenlink.semantic.compression`)
    then merges vertically adjacent cells of one frame and keeps both the
    time and the horizontal position; on SynAV, 16 pooled tokens keep which
    colour is lit where in each frame for 88 % of the lit (frame, position)
    slots in column order against 55 % in row order (linear probe,
    8-epoch encoder). The order does not change the weights.

    :param input_shape: (num_frames, height, width, channels) of one clip.
    :param width: Token width ``out_dim``.
    :param spatial_grid: Side of the pooled map per frame, or `None` for no
        pooling. 8 frames of 64x64 with 4 -> 8 * 16 = 128 tokens.
    :param time_embedding: ``"sinusoidal"`` (fixed transformer sinusoids),
        ``"learned"`` (one trainable vector per frame, initialised N(0, 0.02^2)) or
        ``"none"``.
    :param token_order: ``"columns"`` or ``"rows"`` (see above).
    :param image_options: Keyword options of :class:`ImageEncoder`
        (``max_grid``, ``base_channels``, ``refine_layers``, ``norm``).

    :input frames: [batch, num_frames, height, width, channels], uint8 in
        [0, 255] (or floating in [0, 1]).
    :output tokens: [batch, num_frames * grid_h * grid_w, width], float32.
    """

    def __init__(
        self,
        input_shape: ShapeLike,
        width: int = 128,
        spatial_grid: Optional[int] = 4,
        time_embedding: str = "sinusoidal",
        token_order: str = "columns",
        **image_options: Any,
    ) -> None:
        shape = _shape(input_shape)
        if token_order not in ("columns", "rows"):
            raise ValueError(f"semantic.encoder.token_order: got {token_order!r}; allowed: columns, rows")
        if len(shape) != 4 or min(shape) < 1:
            raise ValueError(
                f"semantic.encoder.input_shape: got {list(shape)} for frames; "
                "allowed: [num_frames, height, width, channels]"
            )
        super().__init__("frames", shape, width)
        self.image = ImageEncoder(shape[1:], width, **image_options)
        if spatial_grid is not None and spatial_grid < 1:
            raise ValueError(f"semantic.encoder.spatial_grid: got {spatial_grid}; allowed: >= 1 or None")
        self.spatial_grid = None if spatial_grid is None else int(spatial_grid)
        num_frames = shape[0]
        if time_embedding == "sinusoidal":
            self.register_buffer("time_table", _sinusoidal(num_frames, width), persistent=False)
        elif time_embedding == "learned":
            self.time_table = nn.Parameter(0.02 * torch.randn(num_frames, width))
        elif time_embedding == "none":
            self.time_table = None
        else:
            raise ValueError(
                f"semantic.encoder.time_embedding: got {time_embedding!r}; allowed: sinusoidal, learned, none"
            )
        self.time_embedding = time_embedding
        self.token_order = token_order

    def frame_grid(self, input_shape: Optional[ShapeLike] = None) -> tuple[int, int]:
        """(rows, columns) of tokens per frame."""
        shape = _shape(input_shape) if input_shape is not None else self.input_shape
        rows, cols = self.image.grid(shape[1:])
        if self.spatial_grid is None:
            return rows, cols
        return min(rows, self.spatial_grid), min(cols, self.spatial_grid)

    def sequence_length(self, input_shape: Optional[ShapeLike] = None) -> int:
        shape = _shape(input_shape) if input_shape is not None else self.input_shape
        rows, cols = self.frame_grid(shape)
        return shape[0] * rows * cols

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        self.check_input(frames)
        batch, num_frames = frames.shape[:2]
        fmap = self.image.feature_map(frames.reshape(batch * num_frames, *frames.shape[2:]))
        if self.spatial_grid is not None:
            fmap = F.adaptive_avg_pool2d(fmap, self.frame_grid())
        if self.token_order == "columns":
            fmap = fmap.transpose(2, 3)                                        # [B*T, width, cols, rows]
        tokens = fmap.flatten(2).transpose(1, 2)                               # [B*T, cells, width]
        tokens = tokens.reshape(batch, num_frames, -1, self.out_dim)
        if self.time_table is not None:
            tokens = tokens + self.time_table[None, :, None, :]
        return tokens.reshape(batch, -1, self.out_dim)

    @property
    def config(self) -> dict[str, Any]:
        image = {k: v for k, v in self.image.config.items() if k not in ("kind", "input_shape", "out_dim")}
        return {**super().config, "spatial_grid": self.spatial_grid, "time_embedding": self.time_embedding,
                "token_order": self.token_order, **image}


class AudioEncoder(DeviceEncoder):
    r"""Waveform -> log-mel -> 1-D CNN over time: one token per time step.

    :class:`~tokenlink.semantic.audio.LogMelSpectrogram` (Hann window, 10 ms
    hop by default), a BatchNorm over the mel bands (learned input
    normalisation), then 1-D convolutions over time with the mel bands as
    channels (in the manner of Whisper's front end): conv3 -> norm -> ReLU,
    conv3 with stride ``time_stride`` -> norm -> ReLU, conv3 -> norm -> ReLU,
    1x1 conv to ``width``. One second at 16 kHz gives 101 frames and, with
    stride 2, 51 tokens (one per 20 ms).

    :param input_shape: (num_samples,) of one waveform.
    :param sample_rate_hz: Sample rate [Hz].
    :param width: Token width ``out_dim``.
    :param n_fft: FFT length [samples].
    :param hop_length: Frame advance [samples]; `None`: 10 ms.
    :param n_mels: Mel bands.
    :param channels: Channels of the hidden convolutions.
    :param time_stride: Total downsampling in time (1, 2 or 4: one strided conv per factor 2).

    :input waveform: [batch, num_samples], floating, amplitude in [-1, 1].
    :output tokens: [batch, num_steps, width], float32, in time order.
    """

    def __init__(
        self,
        input_shape: ShapeLike,
        sample_rate_hz: int,
        width: int = 128,
        n_fft: int = 512,
        hop_length: Optional[int] = None,
        n_mels: int = 64,
        channels: int = 128,
        time_stride: int = 2,
    ) -> None:
        shape = _shape(input_shape)
        if len(shape) != 1 or shape[0] < 1:
            raise ValueError(f"semantic.encoder.input_shape: got {list(shape)} for waveform; allowed: [num_samples]")
        super().__init__("waveform", shape, width)
        if time_stride not in (1, 2, 4):
            raise ValueError(f"semantic.encoder.time_stride: got {time_stride}; allowed: 1, 2, 4")
        self.sample_rate_hz = int(sample_rate_hz)
        self.melspec = LogMelSpectrogram(sample_rate_hz, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
        if shape[0] <= n_fft // 2:
            raise ValueError(
                f"semantic.encoder.input_shape: {shape[0]} samples; allowed: more than n_fft/2 = {n_fft // 2}"
            )
        self.n_fft, self.n_mels, self.channels, self.time_stride = int(n_fft), int(n_mels), int(channels), time_stride
        self.num_strided = int(math.log2(time_stride))

        def block(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
            return [nn.Conv1d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
                    nn.BatchNorm1d(c_out), nn.ReLU(inplace=True)]

        layers: list[nn.Module] = [nn.BatchNorm1d(n_mels), *block(n_mels, channels, 1)]
        for _ in range(self.num_strided):
            layers += block(channels, channels, 2)
        layers += [*block(channels, channels, 1), nn.Conv1d(channels, width, 1)]
        self.net = nn.Sequential(*layers)

    def sequence_length(self, input_shape: Optional[ShapeLike] = None) -> int:
        shape = _shape(input_shape) if input_shape is not None else self.input_shape
        steps = self.melspec.num_frames(shape[0])
        for _ in range(self.num_strided):
            steps = _conv_out(steps, 2)
        return steps

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        self.check_input(waveform)
        if not waveform.is_floating_point():
            raise ValueError(f"semantic.encoder.input: got dtype {waveform.dtype} for waveform; allowed: floating")
        mel = self.melspec(waveform.float())                                  # [batch, n_mels, frames]
        return self.net(mel).transpose(1, 2)                                  # [batch, steps, width]

    @property
    def config(self) -> dict[str, Any]:
        return {**super().config, "sample_rate_hz": self.sample_rate_hz, "n_fft": self.n_fft,
                "hop_length": self.melspec.hop_length, "n_mels": self.n_mels, "channels": self.channels,
                "time_stride": self.time_stride}


class FeatureEncoder(DeviceEncoder):
    r"""Pre-extracted features (VGGish, ResNet, ...): LayerNorm + Linear per feature vector.

    :param input_shape: (num_steps, feature_dim) of one item.
    :param width: Token width ``out_dim`` (ignored with ``project=False``).
    :param project: `True`: ``Linear(LayerNorm(x))`` to ``width``; `False`:
        the identity (tokens are the features, ``out_dim = feature_dim``).

    :input features: [batch, num_steps, feature_dim], floating.
    :output tokens: [batch, num_steps, out_dim], float32.
    """

    def __init__(self, input_shape: ShapeLike, width: int = 128, project: bool = True) -> None:
        shape = _shape(input_shape)
        if len(shape) != 2 or min(shape) < 1:
            raise ValueError(
                f"semantic.encoder.input_shape: got {list(shape)} for features; allowed: [num_steps, feature_dim]"
            )
        super().__init__("features", shape, width if project else shape[1])
        self.project = bool(project)
        self.net = (nn.Sequential(nn.LayerNorm(shape[1]), nn.Linear(shape[1], width))
                    if project else nn.Identity())

    def sequence_length(self, input_shape: Optional[ShapeLike] = None) -> int:
        return (_shape(input_shape) if input_shape is not None else self.input_shape)[0]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        self.check_input(features)
        if not features.is_floating_point():
            raise ValueError(f"semantic.encoder.input: got dtype {features.dtype} for features; allowed: floating")
        return self.net(features.float())

    @property
    def config(self) -> dict[str, Any]:
        return {**super().config, "project": self.project}


def build_encoder(
    kind: str,
    input_shape: ShapeLike,
    width: int = 128,
    sample_rate_hz: Optional[int] = None,
    **options: Any,
) -> DeviceEncoder:
    """The encoder for one media kind, freshly initialised (torch's global RNG).

    :param kind: ``"image"``, ``"frames"``, ``"waveform"`` or ``"features"``.
    :param input_shape: Shape of one item, without the batch dimension.
    :param width: Token width.
    :param sample_rate_hz: Sample rate [Hz]; required for ``"waveform"``.
    :param options: Keyword options of the encoder class (:class:`ImageEncoder`,
        :class:`FramesEncoder`, :class:`AudioEncoder`, :class:`FeatureEncoder`).
    """
    if kind == "image":
        return ImageEncoder(input_shape, width, **options)
    if kind == "frames":
        return FramesEncoder(input_shape, width, **options)
    if kind == "waveform":
        if sample_rate_hz is None:
            raise ValueError("semantic.encoder.sample_rate_hz: required for media kind 'waveform'; allowed: > 0 Hz")
        return AudioEncoder(input_shape, sample_rate_hz, width, **options)
    if kind == "features":
        return FeatureEncoder(input_shape, width, **options)
    raise ValueError(f"semantic.encoder: unknown media kind {kind!r}; allowed: {', '.join(MEDIA_KINDS)}")


# ------------------------------------------------------------------ pretraining
def _as_batch(media: Union[np.ndarray, torch.Tensor], index: np.ndarray, device: torch.device) -> torch.Tensor:
    if isinstance(media, torch.Tensor):
        return media[torch.from_numpy(index)].to(device, non_blocking=True)
    return torch.from_numpy(np.ascontiguousarray(media[index])).to(device, non_blocking=True)


def _check_media(encoder: DeviceEncoder, media: Any, field: str = "media") -> int:
    shape = tuple(media.shape)
    if shape[1:] != encoder.input_shape:
        raise ValueError(
            f"semantic.encoder.{field}: got shape {list(shape)}; allowed: "
            f"[num_items, {', '.join(str(s) for s in encoder.input_shape)}] for this {encoder.kind} encoder"
        )
    return shape[0]


def pretrain_encoder(
    encoder: DeviceEncoder,
    media: Union[np.ndarray, torch.Tensor],
    attributes: Union[np.ndarray, torch.Tensor],
    epochs: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    device: str = "cpu",
    progress: ProgressLike = False,
) -> dict[str, Any]:
    """Pretrain ``encoder`` (in place) to predict multi-hot attributes from its mean-pooled tokens.

    A linear head on the mean of the tokens, binary cross-entropy with logits
    per attribute, Adam, shuffled mini-batches (the last one may be smaller).
    The head is discarded afterwards. ``seed`` fixes the head's initialisation
    and the shuffling (torch's global RNG state is restored on return). The
    encoder ends on ``device`` in training mode.

    :param encoder: A :class:`DeviceEncoder` (not frozen).
    :param media: [num_items, \\*encoder.input_shape] raw media (uint8 images /
        frames, float32 waveforms or features), NumPy or torch on any device.
    :param attributes: [num_items, num_attributes], multi-hot in {0, 1}.
    :param epochs: Passes over the data (0: no training).
    :param batch_size: Items per step.
    :param lr: Adam learning rate.
    :param seed: Seed of the head's initialisation and of the shuffling.
    :param device: Where to train (``"cpu"``, ``"cuda"``, ``"cuda:N"``).
    :param progress: Report the epochs as one stage (loss, attribute accuracy and F1 of
        the last epoch), see :mod:`tokenlink.common.progress`.

    :output history: dict with per-epoch lists ``loss`` (mean BCE),
        ``accuracy`` (fraction of correct attribute bits, threshold 0.5),
        ``f1`` (micro F1 over attribute bits) and ``exact_match`` (fraction of
        items with every attribute right), all measured on the training
        batches during the epoch; ``majority_accuracy`` (bit accuracy of
        always predicting each attribute's most frequent value: the chance
        level to beat), ``seconds``, ``num_items``, ``num_attributes``,
        ``epochs``.
    """
    if encoder.frozen:
        raise ValueError("semantic.encoder.pretrain: the encoder is frozen; allowed: an encoder from build_encoder")
    num_items = _check_media(encoder, media)
    attrs = torch.as_tensor(np.asarray(attributes) if not isinstance(attributes, torch.Tensor) else attributes)
    if attrs.dim() != 2 or attrs.shape[0] != num_items:
        raise ValueError(
            f"semantic.encoder.attributes: got shape {list(attrs.shape)}; allowed: [{num_items}, num_attributes]"
        )
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"semantic.encoder.pretrain: epochs={epochs}, batch_size={batch_size}; "
                         "allowed: epochs >= 0, batch_size >= 1")
    if num_items < 1:
        raise ValueError("semantic.encoder.media: no items; allowed: at least 1")
    dev = torch.device(device)
    attrs = attrs.float()
    majority = float(torch.maximum(attrs.mean(0), 1.0 - attrs.mean(0)).mean())
    history: dict[str, Any] = {"loss": [], "accuracy": [], "f1": [], "exact_match": [],
                               "majority_accuracy": majority, "num_items": num_items,
                               "num_attributes": int(attrs.shape[1]), "epochs": int(epochs)}
    attrs = attrs.to(dev)
    encoder.to(dev).train()
    start = time.perf_counter()
    stage = resolve_progress(progress).stage(f"pretrain {encoder.kind} encoder", total=epochs, unit="epoch")
    with stage, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = nn.Linear(encoder.out_dim, attrs.shape[1]).to(dev)
        order_gen = torch.Generator().manual_seed(seed)
        params = [p for p in encoder.parameters() if p.requires_grad] + list(head.parameters())
        optim = torch.optim.Adam(params, lr=lr)
        for epoch in range(epochs):
            order = torch.randperm(num_items, generator=order_gen).numpy()
            total = torch.zeros(5, dtype=torch.float64, device=dev)   # loss*n, correct bits, tp, fp+fn, exact
            for first in range(0, num_items, batch_size):
                index = np.sort(order[first:first + batch_size])      # sorted: faster gathers, same batches
                x = _as_batch(media, index, dev)
                y = attrs[torch.from_numpy(index).to(dev)]
                logits = head(encoder(x).mean(dim=1))
                loss = F.binary_cross_entropy_with_logits(logits, y)
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
                with torch.no_grad():
                    pred = (logits > 0).float()
                    correct = pred == y
                    total += torch.stack([
                        loss.detach().double() * len(index), correct.sum().double(),
                        (pred * y).sum().double(), (pred != y).sum().double(),
                        correct.all(dim=1).sum().double(),
                    ])
            loss_sum, correct_bits, tp, wrong, exact = total.tolist()
            history["loss"].append(loss_sum / num_items)
            history["accuracy"].append(correct_bits / (num_items * attrs.shape[1]))
            history["f1"].append(2 * tp / (2 * tp + wrong) if tp + wrong > 0 else 1.0)
            history["exact_match"].append(exact / num_items)
            stage.set_postfix(f"loss={history['loss'][-1]:.4f} accuracy={history['accuracy'][-1]:.4f} "
                              f"f1={history['f1'][-1]:.4f} (majority {majority:.4f})")
            stage.update(1)
    history["seconds"] = time.perf_counter() - start
    return history


def encoder_cache_config(
    kind: str,
    input_shape: ShapeLike,
    *,
    dataset_key: str,
    width: int,
    epochs: int,
    seed: int,
    sample_rate_hz: Optional[int],
    batch_size: int,
    lr: float,
    num_items: int,
    num_attributes: int,
    options: dict[str, Any],
) -> dict[str, Any]:
    """The configuration that names a pretrained encoder in the weight cache (see :func:`pretrained_encoder`)."""
    return {
        "kind": kind, "input_shape": list(_shape(input_shape)), "width": int(width), "epochs": int(epochs),
        "seed": int(seed), "sample_rate_hz": sample_rate_hz, "batch_size": int(batch_size), "lr": float(lr),
        "dataset_key": str(dataset_key), "num_items": int(num_items), "num_attributes": int(num_attributes),
        "options": dict(sorted(options.items())), "code_version": ENCODER_CODE_VERSION,
    }


WEIGHTS_FILE = "encoder.safetensors"
INFO_FILE = "encoder.json"


def pretrained_encoder(
    kind: str,
    input_shape: ShapeLike,
    media: Union[np.ndarray, torch.Tensor],
    attributes: Union[np.ndarray, torch.Tensor],
    *,
    dataset_key: str,
    width: int = 128,
    epochs: int = 5,
    seed: int = 0,
    device: str = "cpu",
    sample_rate_hz: Optional[int] = None,
    cache: bool = True,
    progress: ProgressLike = False,
    batch_size: int = 64,
    lr: float = 1e-3,
    **options: Any,
) -> DeviceEncoder:
    """A frozen encoder pretrained on ``media`` / ``attributes``, from the weight cache when it is there.

    The cache entry is the folder ``cache_dir("encoders") / <key>`` holding
    ``encoder.safetensors`` (the state dict; safetensors only, never pickle)
    and ``encoder.json`` (configuration and pretraining history), where
    ``<key> = config_key(encoder_cache_config(...))`` covers the kind, item
    shape, width, epochs, seed, sample rate, batch size, learning rate,
    ``dataset_key``, number of items and attributes, encoder options and
    :data:`ENCODER_CODE_VERSION`. The entry is written atomically
    (:func:`~tokenlink.semantic.cache.atomic_dir`). Initialisation and
    pretraining are seeded by ``seed`` without touching torch's global RNG.

    :param kind: Media kind (see :func:`build_encoder`).
    :param input_shape: Shape of one item.
    :param media: [num_items, \\*input_shape], the modality's training split.
    :param attributes: [num_items, num_attributes] multi-hot.
    :param dataset_key: Names the data set and split the media come from
        (e.g. the data set's own cache key); part of the cache key.
    :param width: Token width.
    :param epochs: Pretraining epochs.
    :param seed: Seed of initialisation, head and shuffling.
    :param device: Where to pretrain; the encoder is returned there.
    :param sample_rate_hz: Required for ``"waveform"``.
    :param cache: `False`: always pretrain and write nothing.
    :param progress: Report pretraining (or the cache hit), see :mod:`tokenlink.common.progress`.
    :param batch_size: Pretraining batch size.
    :param lr: Pretraining learning rate.
    :param options: Encoder options (see :func:`build_encoder`).

    :output encoder: :class:`DeviceEncoder` in eval mode, frozen (no parameter
        requires grad), with ``cache_path`` (the entry folder or `None`) and
        ``pretrain_history`` (the history dict) attributes.
    """
    if not isinstance(dataset_key, str) or not dataset_key:
        raise ValueError(f"semantic.encoder.dataset_key: got {dataset_key!r}; allowed: a non-empty string")
    attrs_shape = tuple(attributes.shape)
    config = encoder_cache_config(
        kind, input_shape, dataset_key=dataset_key, width=width, epochs=epochs, seed=seed,
        sample_rate_hz=sample_rate_hz, batch_size=batch_size, lr=lr, num_items=int(media.shape[0]),
        num_attributes=int(attrs_shape[1]) if len(attrs_shape) == 2 else -1, options=options,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = build_encoder(kind, input_shape, width, sample_rate_hz, **options)
    entry = cache_dir("encoders") / config_key(config) if cache else None
    if entry is not None and (entry / WEIGHTS_FILE).is_file():
        from safetensors.torch import load_file

        encoder.load_state_dict(load_file(str(entry / WEIGHTS_FILE)), strict=True)
        history = json.loads((entry / INFO_FILE).read_text()).get("history", {})
        resolve_progress(progress).message(f"{kind} encoder: pretrained weights from the cache ({entry.name[:12]})")
    else:
        history = pretrain_encoder(encoder, media, attributes, epochs, batch_size=batch_size, lr=lr,
                                   seed=seed, device=device, progress=progress)
        if entry is not None:
            _save_entry(entry, encoder, config, history)
    encoder.to(torch.device(device)).freeze()
    encoder.cache_path = entry
    encoder.pretrain_history = history
    return encoder


def _save_entry(entry: Path, encoder: DeviceEncoder, config: dict[str, Any], history: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    with atomic_dir(entry) as tmp:
        if tmp is None:          # another process wrote the same entry meanwhile
            return
        state = {k: v.detach().to("cpu").contiguous() for k, v in encoder.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"kind": encoder.kind})
        info = {"config": config, "encoder": encoder.config, "history": history}
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=1, sort_keys=True, default=str))


# --------------------------------------------------------------------- encoding
def encode(
    encoder: DeviceEncoder,
    media: Union[np.ndarray, torch.Tensor],
    batch_size: int = 256,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Run ``encoder`` over a whole data set once, without gradients (for caching frozen outputs).

    The encoder is moved to ``device`` and run in eval mode (its previous
    mode is restored). Batches are gathered from ``media`` one at a time, so
    only one batch of decoded media is on ``device`` at once; the result is
    written into one preallocated CPU tensor.

    :param encoder: A :class:`DeviceEncoder` (usually frozen).
    :param media: [num_items, \\*encoder.input_shape] raw media, NumPy or torch.
    :param batch_size: Items per forward pass.
    :param device: Where to run the encoder.
    :param dtype: dtype of the result (e.g. ``torch.float16`` halves its memory).

    :output tokens: [num_items, num_tokens, out_dim] on the CPU, ``dtype``,
        ``requires_grad=False``.
    """
    num_items = _check_media(encoder, media)
    if batch_size < 1:
        raise ValueError(f"semantic.encoder.batch_size: got {batch_size}; allowed: >= 1")
    dev = torch.device(device)
    out = torch.empty((num_items, encoder.sequence_length(), encoder.out_dim), dtype=dtype)
    was_training = encoder.training
    encoder.to(dev).eval()
    try:
        with torch.no_grad():
            for first in range(0, num_items, batch_size):
                last = min(first + batch_size, num_items)
                if isinstance(media, torch.Tensor):
                    x = media[first:last].to(dev, non_blocking=True)
                else:
                    x = torch.from_numpy(np.ascontiguousarray(media[first:last])).to(dev, non_blocking=True)
                out[first:last] = encoder(x).to("cpu", dtype)
    finally:
        encoder.train(was_training)
    return out
