"""Frames of payload onto OFDM slots and back.

A *frame* is everything one batch sample sends in one call (all of its
tokens). It fills the data resource elements (REs) of as many slots as it
needs, in order: slot 0 first, inside a slot in Sionna's data-RE order
(OFDM symbol by OFDM symbol, subcarrier by subcarrier). The tail of the last
slot is padding: zero symbols (analog) or zero bits (digital). The link runs
``batch_size * num_slots`` slots as one batch; slot ``j`` of sample ``i`` is
row ``i * num_slots + j``.
"""

from __future__ import annotations

import math

import torch

__all__ = ["num_slots_for", "pack", "unpack"]


def num_slots_for(num_items: int, items_per_slot: int) -> int:
    """Slots needed for ``num_items`` symbols (or bits) per frame, at least 1."""
    return max(1, math.ceil(num_items / items_per_slot))


def pack(payload: torch.Tensor, items_per_slot: int, num_slots: int) -> torch.Tensor:
    """[batch, n] -> [batch * num_slots, items_per_slot], zero padded.

    ``num_slots`` may exceed what ``n`` needs (e.g. when two payloads share
    one channel realization); the extra slots are all padding.
    """
    batch, n = payload.shape
    pad = num_slots * items_per_slot - n
    if pad < 0:
        raise ValueError(f"{n} items do not fit {num_slots} slots of {items_per_slot}")
    if pad:
        payload = torch.cat([payload, payload.new_zeros(batch, pad)], dim=1)
    return payload.reshape(batch * num_slots, items_per_slot)


def unpack(slots: torch.Tensor, batch: int, n: int) -> torch.Tensor:
    """[batch * num_slots, items_per_slot] -> [batch, n], padding dropped."""
    return slots.reshape(batch, -1)[:, :n]
