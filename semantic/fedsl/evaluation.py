"""Test loss and accuracy of a FedSL model, over the uplink and without it, after re-estimating
BatchNorm statistics on what the test images meet (:func:`evaluate`, :func:`recalibrate_batch_norm`)."""

from __future__ import annotations

import copy
from typing import Iterable, Optional, Sequence, Union

import torch
from torch import nn

from .data import ImageSet
from .split import from_tokens, to_tokens
from .uplink import ClientUplink

__all__ = ["evaluate", "recalibrate_batch_norm"]


def recalibrate_batch_norm(model: nn.Module, batches: Iterable[torch.Tensor]) -> nn.Module:
    """A copy of ``model`` (in eval mode) whose BatchNorm running statistics are re-estimated
    on ``batches``: reset, then the cumulative average (``momentum=None``) of the batch
    statistics over one pass in train mode, without gradients
    (``torch.optim.swa_utils.update_bn``). ``model`` itself is not changed.

    :input batches: the model's inputs, e.g. [batch, C, H, W] tensors
    """
    model = copy.deepcopy(model)
    torch.optim.swa_utils.update_bn(batches, model)
    return model.eval()


@torch.no_grad()
def evaluate(client_model: nn.Module, server_model: Optional[nn.Module], test_set: ImageSet,
             uplink: Union[ClientUplink, Sequence[ClientUplink], None] = None, batch_size: int = 256,
             token_layout: str = "channels", device: str = "cpu",
             calibration_images: Optional[torch.Tensor] = None) -> dict[str, float]:
    """Test loss and accuracy of client + server (no dropout; ``server_model`` `None`: the
    client model is the whole network). Over an ``uplink`` also ``loss_ideal`` /
    ``accuracy_ideal`` (the same activations, no channel). ``uplink`` a sequence of N client
    uplinks (an OFDMA network): image ``i`` of the test set (and of the calibration images)
    goes over uplink ``i mod N``.

    With ``calibration_images`` ([N, 3, H, W] training images) copies are evaluated whose
    BatchNorm statistics are re-estimated (:func:`recalibrate_batch_norm`) on what the test
    images meet: the client copy on the images, the server copy on the client copy's full
    (undropped) activations of them, one server copy through the ``uplink`` and one without
    (for the ``_ideal`` numbers). Training saw dropped-and-rescaled, channel-noisy activations
    and averaged statistics, whose variance the test activations do not have."""
    def over_link(a: torch.Tensor, start: int) -> torch.Tensor:
        tokens = to_tokens(a, token_layout)
        if isinstance(uplink, ClientUplink):
            received = uplink.transmit(tokens).tokens.to(a.dtype)
        else:  # sample start + j by client (start + j) mod N, the clients in order
            owner = (start + torch.arange(tokens.shape[0], device=tokens.device)) % len(uplink)
            received = torch.empty_like(tokens)
            for k, client_uplink in enumerate(uplink):
                chosen = owner == k
                if bool(chosen.any()):
                    received[chosen] = client_uplink.transmit(tokens[chosen]).tokens.to(a.dtype)
        return from_tokens(received, a.shape, token_layout)

    linked = uplink is not None and server_model is not None
    servers = {"ideal": server_model, "link": server_model}
    if calibration_images is not None:
        starts = range(0, len(calibration_images), batch_size)
        images = [calibration_images[i:i + batch_size].to(device) for i in starts]
        client_model = recalibrate_batch_norm(client_model, images)
        if server_model is not None:
            servers["ideal"] = recalibrate_batch_norm(server_model, (client_model(x) for x in images))
        if linked:
            servers["link"] = recalibrate_batch_norm(server_model, (over_link(client_model(x), i)
                                                                    for i, x in zip(starts, images)))
    client_model.eval()
    for server in servers.values():
        if server is not None:
            server.eval()
    sums = {"loss": 0.0, "accuracy": 0.0, "loss_ideal": 0.0, "accuracy_ideal": 0.0}
    for start in range(0, len(test_set), batch_size):
        x = test_set.images[start:start + batch_size].to(device)
        y = test_set.labels[start:start + batch_size].to(device)
        a = client_model(x)
        outputs = {"ideal": servers["ideal"](a) if server_model is not None else a}
        if linked:
            outputs["link"] = servers["link"](over_link(a, start))
        for name, logits in outputs.items():
            suffix = "_ideal" if name == "ideal" and linked else ""
            sums["loss" + suffix] += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
            sums["accuracy" + suffix] += float((logits.argmax(1) == y).sum())
    n = len(test_set)
    out = {k: v / n for k, v in sums.items()}
    if not linked:
        out = {"loss": out["loss"], "accuracy": out["accuracy"]}
    return out
