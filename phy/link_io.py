"""What the links of both backends take and give: :class:`LinkOutput`, the noise-variance
floor and the checks of ``no``. Torch only (no Sionna), so that the torch link
(:mod:`~tokenlink.phy.link`, Sionna 2.x) and the TensorFlow link
(:mod:`~tokenlink.phy.tf_link`, Sionna 1.x) share one definition."""

from __future__ import annotations

import math
from typing import NamedTuple, Optional, Union

import torch

__all__ = ["LinkOutput", "NO_FLOOR", "SlotSizes", "check_no", "floor_no"]

#: Smallest noise variance the receiver assumes (Es/N0 = 100 dB). A noiseless
#: link (``no = 0``) is simulated exactly on the channel side; the LMMSE
#: blocks divide by ``no`` and would return NaN at exactly zero.
NO_FLOOR = 1e-10


class LinkOutput(NamedTuple):
    """What the receiver of an OFDM link produces for a batch of slots."""

    llr: torch.Tensor
    """[batch_size, num_bits_per_slot], float. ``log(P(b=1)/P(b=0))``."""
    x_hat: torch.Tensor
    """[batch_size, num_data_symbols], complex. Equalized data symbols."""
    no_eff: torch.Tensor
    """[batch_size, num_data_symbols], float. Effective noise variance per symbol."""
    h_freq: Optional[torch.Tensor]
    """[batch_size, 1, num_rx_ant, 1, 1, num_ofdm_symbols, num_channel_subcarriers], complex, or `None`."""


class SlotSizes:
    """Sizes and description of one slot, the same on both backends' links: the link sets
    ``config`` (:class:`~tokenlink.phy.config.PhyConfig`), ``constellation``,
    ``resource_grid``, ``precision`` and ``device``."""

    @property
    def num_bits_per_symbol(self) -> int:
        """Bits per QAM symbol."""
        return int(self.constellation.num_bits_per_symbol)

    @property
    def num_data_symbols(self) -> int:
        """Data resource elements per slot."""
        return int(self.resource_grid.num_data_symbols)

    @property
    def num_bits_per_slot(self) -> int:
        """Bits carried by one slot."""
        return self.num_data_symbols * self.num_bits_per_symbol

    def _describe(self, receiver_implementation: str, num_rx_antennas: int, grid: dict,
                  resource_blocks: Optional[list], **extra) -> dict:
        """Plain-data description of the link, for results and traces; ``extra`` keys
        (e.g. ``backend``) follow ``receiver_implementation``."""
        cfg = self.config
        return {
            "modulation": cfg.modulation,
            "num_bits_per_symbol": self.num_bits_per_symbol,
            "demapping": cfg.demapping,
            "channel": cfg.channel.model_dump(mode="json"),
            "estimator": cfg.receiver.estimator,
            "interpolation": cfg.receiver.interpolation if cfg.receiver.estimator == "ls" else None,
            "equalizer": cfg.receiver.equalizer,
            "num_rx_antennas": num_rx_antennas,
            "receiver_implementation": receiver_implementation,
            **extra,
            "grid": grid,
            "resource_blocks": resource_blocks,
            "precision": self.precision,
            "device": self.device,
        }


def floor_no(no: Union[float, torch.Tensor]) -> Union[float, torch.Tensor]:
    """The noise variance the receiver assumes: ``max(no, NO_FLOOR)``."""
    return no.clamp_min(NO_FLOOR) if isinstance(no, torch.Tensor) else max(no, NO_FLOOR)


def check_no(no: Union[float, torch.Tensor], batch_size: int) -> Union[float, torch.Tensor]:
    """``no`` must be a non-negative finite scalar or one value per batch sample."""
    if isinstance(no, torch.Tensor):
        if no.dim() > 1 or (no.dim() == 1 and no.shape[0] not in (1, batch_size)):
            raise ValueError(
                f"no must be a scalar or have shape [batch_size={batch_size}], got {list(no.shape)}"
            )
        if not torch.compiler.is_compiling() and not bool(((no >= 0) & no.isfinite()).all()):
            raise ValueError("no (noise variance) must be >= 0 and finite (0: noiseless)")
        return no
    if not (no >= 0 and math.isfinite(no)):
        raise ValueError(f"no (noise variance) must be >= 0 and finite (0: noiseless), got {no}")
    return no
