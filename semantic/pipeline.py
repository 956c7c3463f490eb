"""The split model of token communication (Paper A), around the link.

Per modality (one device each)::

    encoder tokens [B, N, width]  (frozen encoder, computed once per data set)
      -> ModalityProjection         [B, N, d_model]   device
      -> TokenCompressor            [B, K, d_model]   device
      -> TokenLink (bridge/)        [B, K, d_model]   channel: the device's own realizations
      -> MLPReceiver                [B, K, d_model]   base station
    then FoundationModel([CLS] + received tokens of every modality + question) -> AnswerHead -> logits

The model never touches phy/: the channel is :class:`tokenlink.bridge.TokenLink`.
``link=None``, or :meth:`TokenCommModel.forward` with ``ideal=True``, is the
ideal channel (the tokens arrive as sent).
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence, Union

import torch
from torch import nn

from ..bridge import EmbeddingAWGN, LinkMetrics, MultiUserTokenLink, TokenLink
from .checkpoint import strip_prefix
from .compression import build_compressor
from .foundation import AnswerHead, FoundationModel
from .losses import Temperature, alignment_loss, pool_tokens
from .receiver import MLPReceiver, ModalityProjection

__all__ = ["TokenCommModel", "LinkPass", "INPUT_SCALES", "is_digital"]

#: How received tokens enter the foundation model (see :class:`TokenCommModel`).
INPUT_SCALES = ("words", "none")


class LinkPass(NamedTuple):
    """What crossed the link in one call, per modality (names in ``modalities`` order)."""

    sent: dict[str, torch.Tensor]
    """modality -> [batch, K, d_model], the device's tokens."""
    received: dict[str, torch.Tensor]
    """modality -> [batch, K, d_model], after the link (before the receiver MLP)."""
    metrics: dict[str, LinkMetrics]
    """modality -> per-sample link metrics (only when asked for and a link was used)."""
    channel_uses: dict[str, int]
    """modality -> complex channel uses per sample (empty: ideal channel)."""

    @property
    def total_channel_uses(self) -> int:
        """Complex channel uses per sample, all modalities together (0: ideal channel)."""
        return sum(self.channel_uses.values())


class TokenCommModel(nn.Module):
    r"""Devices, link and base station of token communication.

    :param sequence_shapes: modality -> ``(N, width)``, the frozen encoder's
        tokens per item (in the order the devices are listed).
    :param foundation: the base station's :class:`FoundationModel` (``d_model`` wide).
    :param num_answers: answer classes of the task head.
    :param num_tokens: K tokens per modality after compression.
    :param compression: ``"none"`` | ``"uniform"`` | ``"pool"`` | ``"attention"``.
    :param link: the :class:`TokenLink` every device uses (each call draws its
        own realizations); or a :class:`~tokenlink.bridge.MultiUserTokenLink`
        with one device per modality (in ``sequence_shapes`` order), each on its own
        resource blocks, channel and Es/N0; or an :class:`~tokenlink.bridge.EmbeddingAWGN`
        (paper A's public-code training channel: real AWGN on the embeddings); or `None` for an
        ideal channel.
    :param temperature: InfoNCE temperature of the alignment loss.
    :param learnable_temperature: train the temperature.
    :param input_scale: how received tokens enter the foundation model:
        ``"words"`` rescales every token to the RMS of MiniLM's word
        embeddings (:attr:`FoundationModel.word_rms`), so that the position and
        token-type embeddings added inside MiniLM keep the weight they have
        next to words (tokens of RMS ~2 would drown them and arrive as an
        unordered bag); ``"none"`` passes them as received.

    :input encoded: modality -> [batch, N, width] float, frozen-encoder tokens.
    :input input_ids, attention_mask: [batch, L] int, the tokenized questions.
    :input snr_db: `None` | float | [batch] Es/N0 per RE [dB] (see :class:`TokenLink`);
        over a :class:`~tokenlink.bridge.MultiUserTokenLink`, `None` or one such value per device.
    :output logits: [batch, num_answers].
    """

    def __init__(
        self,
        sequence_shapes: dict[str, tuple[int, int]],
        foundation: FoundationModel,
        num_answers: int,
        num_tokens: int,
        compression: str = "pool",
        link: Union[TokenLink, MultiUserTokenLink, EmbeddingAWGN, None] = None,
        temperature: float = 0.07,
        learnable_temperature: bool = False,
        input_scale: str = "words",
    ) -> None:
        super().__init__()
        if input_scale not in INPUT_SCALES:
            raise ValueError(f"semantic.input_scale: got {input_scale!r}; allowed: {', '.join(INPUT_SCALES)}")
        self.input_scale = input_scale
        if not sequence_shapes:
            raise ValueError("semantic.modalities: no modality to send; allowed: at least one of the data set's")
        self.modalities: tuple[str, ...] = tuple(sequence_shapes)
        d_model = foundation.d_model
        self.d_model = d_model
        self.num_tokens = num_tokens
        self.projections = nn.ModuleDict(
            {m: ModalityProjection(width, d_model) for m, (_, width) in sequence_shapes.items()})
        self.compressors = nn.ModuleDict(
            {m: build_compressor(compression, seq_len, num_tokens, d_model)
             for m, (seq_len, _) in sequence_shapes.items()})
        self.receivers = nn.ModuleDict({m: MLPReceiver(d_model) for m in self.modalities})
        self.head = AnswerHead(d_model, num_answers)
        self.temperature = Temperature(temperature, learnable=learnable_temperature)
        self.foundation = foundation
        if isinstance(link, MultiUserTokenLink) and link.num_devices != len(self.modalities):
            raise ValueError(f"network.users: {link.num_devices} devices for {len(self.modalities)} modalities "
                             f"({', '.join(self.modalities)}); allowed: one user per modality")
        self.link = link

    # ------------------------------------------------------------ stages
    def device_tokens(self, encoded: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Projection and compression on each device: modality -> [batch, K, d_model]."""
        return {m: self.compressors[m](self.projections[m](encoded[m])) for m in self.modalities}

    def channel(
        self,
        sent: dict[str, torch.Tensor],
        snr_db=None,
        ideal: bool = False,
        return_metrics: bool = False,
        link: Union[TokenLink, MultiUserTokenLink, None] = None,
    ) -> LinkPass:
        """Each modality's tokens over its own channel realizations (``TokenLink.transmit``) of the
        model's link, or of ``link`` when given (evaluation over another link); over a
        :class:`~tokenlink.bridge.MultiUserTokenLink`, modality ``k`` is device ``k``."""
        link = self.link if link is None else link
        if ideal or link is None:
            return LinkPass(sent, dict(sent), {}, {})
        if isinstance(link, EmbeddingAWGN):  # no PHY, no metrics; channel uses as the analog link's
            received = {m: link(sent[m], snr_db) for m in self.modalities}
            uses = {m: link.frame_size(*sent[m].shape[1:])["channel_uses"] for m in self.modalities}
            return LinkPass(sent, received, {}, uses)
        if isinstance(link, MultiUserTokenLink):
            outs = link.transmit([sent[m] for m in self.modalities], snr_db, return_metrics=return_metrics)
        else:
            outs = [link.transmit(sent[m], snr_db, return_metrics=return_metrics) for m in self.modalities]
        received = {m: out.tokens for m, out in zip(self.modalities, outs, strict=True)}
        metrics = {m: out.metrics for m, out in zip(self.modalities, outs, strict=True)} if return_metrics else {}
        uses = {m: out.resources.channel_uses for m, out in zip(self.modalities, outs, strict=True)}
        return LinkPass(sent, received, metrics, uses)

    def base_station(self, received: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The receiver MLP per modality: modality -> [batch, K, d_model]."""
        return {m: self.receivers[m](received[m]) for m in self.modalities}

    def answer(self, tokens: dict[str, torch.Tensor], input_ids: torch.Tensor,
               attention_mask: torch.Tensor) -> torch.Tensor:
        """Foundation model over [CLS] + modality tokens + question, then the head: [batch, num_answers]."""
        segments = [self._scaled(tokens[m]) for m in self.modalities]
        hidden = self.foundation(segments, input_ids, attention_mask)
        mask = self.foundation.sequence_mask(segments, attention_mask)
        return self.head(self.foundation.pooled(hidden, mask))

    def _scaled(self, tokens: torch.Tensor) -> torch.Tensor:
        """[batch, K, d_model] -> the same, each token at the RMS ``foundation.word_rms`` (``input_scale="words"``)."""
        if self.input_scale == "none":
            return tokens
        rms = tokens.square().mean(dim=-1, keepdim=True).add(1e-12).sqrt()
        return tokens * (self.foundation.word_rms / rms)

    def alignment(self, tokens: dict[str, torch.Tensor],
                  caption_embedding: Union[torch.Tensor, dict[str, torch.Tensor]],
                  mse_weight: float) -> tuple[torch.Tensor, dict[str, float]]:
        """Stage-1 loss averaged over modalities: InfoNCE(pooled tokens, caption) + mse_weight * MSE.

        ``caption_embedding``: [batch, d_model], the captions of the batch's items, or modality -> [batch,
        d_model], the caption each modality is aligned to (``align.target: per_modality``)."""
        total, parts = 0.0, {}
        for m in self.modalities:
            target = caption_embedding[m] if isinstance(caption_embedding, dict) else caption_embedding
            loss, p = alignment_loss(tokens[m], target, self.temperature(), mse_weight)
            total = total + loss
            parts.update({f"{m}/{k}": float(v) for k, v in p.items()})
        return total / len(self.modalities), parts

    def pooled(self, tokens: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Mean-pooled tokens per modality (retrieval): modality -> [batch, d_model]."""
        return {m: pool_tokens(tokens[m]) for m in self.modalities}

    def forward(self, encoded: dict[str, torch.Tensor], input_ids: torch.Tensor,
                attention_mask: torch.Tensor, snr_db=None, ideal: bool = False) -> torch.Tensor:
        passed = self.channel(self.device_tokens(encoded), snr_db, ideal)
        return self.answer(self.base_station(passed.received), input_ids, attention_mask)

    # ------------------------------------------------------- checkpoints
    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Everything training changes (not the frozen foundation weights):
        projections, compressors, receivers, head, temperature, LoRA adapters,
        and, for a digital link, its quantizer (calibrated clipping range or codebook)."""
        state = {}
        for name in ("projections", "compressors", "receivers", "head", "temperature"):
            state.update({f"{name}.{k}": v for k, v in getattr(self, name).state_dict().items()})
        state.update({f"lora.{k}": v for k, v in self.foundation.adapter_state_dict().items()})
        for prefix, quantizer in self._quantizers():
            state.update({f"{prefix}{k}": v for k, v in quantizer.state_dict().items()})
        return {k: v.detach().clone().contiguous() for k, v in state.items()}

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        """Inverse of :meth:`trainable_state` (strict: every entry must fit)."""
        for name in ("projections", "compressors", "receivers", "head", "temperature"):
            getattr(self, name).load_state_dict(strip_prefix(state, name + "."), strict=True)
        self.foundation.load_adapter_state_dict(strip_prefix(state, "lora."))
        for prefix, quantizer in self._quantizers():
            found = strip_prefix(state, prefix)
            if found:
                quantizer.load_state_dict(found, strict=True)

    def _quantizers(self) -> list[tuple[str, nn.Module]]:
        """(state prefix, quantizer) of the digital link: ``quantizer.`` for one link,
        ``quantizer.<device>.`` per device of a network link; none for analog or no link."""
        if not is_digital(self.link):
            return []
        if isinstance(self.link, MultiUserTokenLink):
            return [(f"quantizer.{k}.", link.quantizer) for k, link in enumerate(self.link.devices)]
        return [("quantizer.", self.link.quantizer)]

    def parameter_groups(self, names: Sequence[str]) -> list[nn.Parameter]:
        """Trainable parameters of the named parts (``projections``, ``compressors``,
        ``receivers``, ``head``, ``temperature``, ``lora``)."""
        params: list[nn.Parameter] = []
        for name in names:
            module_params = (self.foundation.trainable_parameters() if name == "lora"
                             else list(getattr(self, name).parameters()))
            params += [p for p in module_params if p.requires_grad]
        return params


def is_digital(link) -> bool:
    """Whether ``link`` (a token link, a network of them, an embedding channel or `None`) sends digital tokens."""
    return isinstance(link, (TokenLink, MultiUserTokenLink)) and link.config.mode == "digital"
