"""Tokens of several devices over one OFDMA uplink: one :class:`~tokenlink.bridge.layer.TokenLink`
per device, on its own resource blocks.

Each device's tokens are sent (analog or digital, as ``config.mode``) on its allocation of the
shared grid (:func:`~tokenlink.phy.multiuser.network_allocations`), over its own channel and at
its own Es/N0 per RE: the ``snr_db`` given per device, else its ``esno_db`` or link budget over
its own bandwidth (:class:`~tokenlink.phy.multiuser.UserConfig`). A device with fewer resource
blocks needs more slots for the same tokens (``frame_size``): the frame's airtime is the
largest device's. Devices are orthogonal (disjoint REs), so each is an independent, differentiable
token link; they draw from the run's random streams in device order.

MU-MIMO (``sharing: mu_mimo``) token links are not built: refused in one line.
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import torch

from ..phy.multiuser import (
    NetworkConfig,
    network_allocations,
    user_phy,
    users_link_budgets,
    users_mean_esno_db,
    users_shadowing_std_db,
)
from .config import TokenLinkConfig
from .layer import TokenLink, TokenLinkOutput

__all__ = ["MultiUserTokenLink"]


class MultiUserTokenLink(torch.nn.Module):
    """One token link per device of an OFDMA uplink (module doc).

    :param config: The token link every device uses (mode, analog / digital options, ``phy``:
        grid, modulation, receiver, base station, default channel).
    :param network: The devices (users) and their shares of the grid.

    :input tokens: one tensor [batch, num_tokens_k, dim_k] per device.
    :input snr_db: `None` (each device's own Es/N0: its ``esno_db``, its link budget, else
        ``config.snr_db``; in training mode with ``config.train_snr_db_range``, a draw per sample and
        device), or one value (scalar or [batch], dB per RE) per device.
    :output: one :class:`~tokenlink.bridge.layer.TokenLinkOutput` per device.
    """

    def __init__(self, config: Union[TokenLinkConfig, dict, None], network: Union[NetworkConfig, dict],
                 precision: Optional[str] = None, device: Optional[str] = None) -> None:
        super().__init__()
        config = TokenLinkConfig() if config is None else (
            TokenLinkConfig(**config) if isinstance(config, dict) else config)
        network = NetworkConfig(**network) if isinstance(network, dict) else network
        if network.sharing != "ofdma":
            raise ValueError(f"network.sharing {network.sharing!r}: token links are built for 'ofdma' only "
                             "(MU-MIMO carries bits so far)")
        self.config, self.network = config, network
        self.allocations = network_allocations(config.phy, network)
        self.devices = torch.nn.ModuleList([
            TokenLink(config.model_copy(update={"phy": user_phy(config.phy, user)}), precision=precision,
                      device=device, allocation=allocation)
            for user, allocation in zip(network.users, self.allocations, strict=True)])
        self._budgets = users_link_budgets(network.users, self.occupied_bandwidth_hz())

    @property
    def num_devices(self) -> int:
        return len(self.devices)

    @property
    def device(self) -> torch.device:
        """The torch device the links run on."""
        return self.devices[0].device

    def occupied_bandwidth_hz(self) -> list[float]:
        """Bandwidth each device transmits in [Hz]: its subcarriers x spacing."""
        return [link.link.metadata["grid"]["occupied_bandwidth_hz"] for link in self.devices]

    def channel_bank(self) -> list:
        """Each device's training channel bank (:meth:`TokenLink.channel_bank`), drawn in device order."""
        return [link.channel_bank() for link in self.devices]

    def mean_esno_db(self, default_esno_db: Optional[float] = None) -> list[float]:
        """Each device's mean Es/N0 per RE [dB] (its ``esno_db``, its link budget, or the default)."""
        return users_mean_esno_db(self.network.users, self._budgets, default_esno_db)

    def shadowing_std_db(self, default_std_db: float = 0.0) -> list[float]:
        """Each device's per-frame log-normal shadowing [dB]: its link budget's (0 with
        ``shadowing: off``), 0 for a given ``esno_db``, ``default_std_db`` for a device with neither."""
        return users_shadowing_std_db(self.network.users, self._budgets, default_std_db)

    def calibrate(self, tokens: Sequence[torch.Tensor]) -> None:
        """Fit each device's quantizer range on its example tokens (digital)."""
        for link, t in zip(self.devices, self._per_device(tokens, "tokens"), strict=True):
            link.calibrate(t)

    def transmit(self, tokens: Sequence[torch.Tensor], snr_db: Optional[Sequence] = None,
                 **kwargs) -> list[TokenLinkOutput]:
        """Every device's tokens over its own allocation; ``kwargs``: :meth:`TokenLink.transmit`'s."""
        tokens = self._per_device(tokens, "tokens")
        if snr_db is None and self.training and self.config.train_snr_db_range is not None:
            snrs: Sequence = [None] * self.num_devices  # each device draws its own per-sample Es/N0
        elif snr_db is None:
            snrs = self.mean_esno_db(self.config.snr_db)
        else:
            snrs = self._per_device(snr_db, "snr_db")
        return [link.transmit(t, s, **kwargs) for link, t, s in zip(self.devices, tokens, snrs, strict=True)]

    def forward(self, tokens: Sequence[torch.Tensor], snr_db: Optional[Sequence] = None) -> list[torch.Tensor]:
        return [out.tokens for out in self.transmit(tokens, snr_db)]

    def frame_sizes(self, shapes: Sequence[tuple[int, int]]) -> list[dict]:
        """Each device's frame (:meth:`TokenLink.frame_size`) for its ``(num_tokens, dim)``."""
        return [link.frame_size(n, d) for link, (n, d) in zip(self.devices, self._per_device(shapes, "shapes"),
                                                              strict=True)]

    def _per_device(self, values: Sequence, name: str) -> Sequence:
        if len(values) != self.num_devices:
            raise ValueError(f"{name} needs one entry per device ({self.num_devices}), got {len(values)}")
        return values
