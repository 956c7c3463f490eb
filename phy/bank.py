"""A bank of channel realizations for training.

Generating 3GPP TDL/CDL responses is the largest remaining cost of a training
step once the receiver is elementwise. A bank draws ``size`` realizations
once and hands out random rows of it, so a training step pays for a gather
instead of a generation.

Trade-off: the model trains on ``size`` distinct channels, each seen many
times. With a bank much larger than the number of slots per step (e.g.
10-100x) the statistics match fresh draws (tested: mean gain, time and
frequency correlation), but a small bank can be memorized. Evaluate with
fresh realizations (``TokenLink`` does so in ``eval()`` mode).

The bank is drawn from Sionna's seeded generators, so it is reproducible from
the run's seed; ``cache_dir`` keeps it on disk, one file per key (link
channel and grid configuration, precision, size, seed), written atomically
and read back with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import torch

from ..common.digest import json_digest
from .runtime import torch_rng

__all__ = ["ChannelBank"]


class ChannelBank(torch.nn.Module):
    r"""``size`` pre-drawn frequency responses of a link, sampled per batch.

    :param link: :class:`~tokenlink.phy.link.OFDMLink` whose channel fills the bank.
    :param size: number of realizations (slots).
    :param chunk: realizations generated per call while filling (memory bound).
    :param cache_dir: optional folder for ``channel-bank-<key>.pt`` files.
    :param seed: seed recorded in the cache key (the run's seed); `None` if unseeded.

    :input batch_size: `int`. :output h_freq: [batch_size, 1, num_rx_ant, 1, 1,
        num_ofdm_symbols, num_channel_subcarriers] as ``link.generate_channel``
        (an OFDMA user's own subcarriers only), `torch.complex`, rows drawn
        uniformly with replacement (Sionna's generator).
    """

    def __init__(
        self,
        link,
        size: int,
        chunk: int = 1024,
        cache_dir: Union[str, Path, None] = None,
        seed: Optional[int] = None,
    ) -> None:
        super().__init__()
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive integer, got {size!r}")
        self.size = size
        self.key = _cache_key(link, size, seed)
        self._device = link.device
        path = None if cache_dir is None else Path(cache_dir) / f"channel-bank-{self.key}.pt"
        bank = _load(path) if path is not None and path.exists() else None
        if bank is None:
            with torch.no_grad():
                bank = torch.cat([link.generate_channel(min(chunk, size - i)) for i in range(0, size, chunk)])
            if path is not None:
                _save(path, bank)
        self.register_buffer("h_freq", bank.to(link.device), persistent=False)

    def forward(self, batch_size: int) -> torch.Tensor:
        gen = torch_rng(self._device)
        idx = torch.randint(0, self.size, (batch_size,), generator=gen, device=self._device)
        return self.h_freq[idx]


def _cache_key(link, size: int, seed: Optional[int]) -> str:
    desc = {"channel": link.config.channel.model_dump(mode="json"),
            "grid": link.config.grid.model_dump(mode="json"),
            "precision": link.precision, "size": size, "seed": seed}
    if link.config.backend != "torch":  # the default backend keeps the keys (and cached banks) it had
        desc["backend"] = link.config.backend
    return json_digest(desc)


def _load(path: Path) -> torch.Tensor:
    data = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(data, dict) or not isinstance(data.get("h_freq"), torch.Tensor):
        raise ValueError(f"{path}: not a channel bank file (expected a dict with 'h_freq')")
    return data["h_freq"]


def _save(path: Path, bank: torch.Tensor) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"h_freq": bank.cpu()}, tmp)
    tmp.replace(path)  # atomic: a crash never leaves a half-written bank
