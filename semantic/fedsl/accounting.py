"""What a client's split-learning step costs: traffic, channel uses, airtime, FLOPs, memory.

One :class:`ClientCost` per client per step (or summed per round with
:func:`total_cost`). Conventions:

* Uplink values: split-layer activation values sent (kept after dropout;
  zero padding that fills the last token is not payload). Uplink bits: the
  link's payload bits when it is digital; for an ideal link (a plain
  callable) ``values * uplink_bits_per_value`` (float32: 32); `None` for an
  analog link. Channel uses: complex symbols carrying payload, from the
  link's :class:`~tokenlink.bridge.resources.ResourceUsage` (per frame, x
  frames in the batch); `None` for a plain callable.
* Airtime [s]: whole slots (cyclic prefix included) of the batch's channel uses sent
  back to back (:func:`batch_airtime_s`), or
  ``channel_uses / symbol_rate_hz`` (:func:`airtime_s`) when only a symbol
  rate is known.
* Downlink: the cut-layer gradient of the values that were sent, quantized:
  ``bits * values + 32`` (one float32 scale), or ``32 * values`` unquantized.
  Over the link (:mod:`~.downlink`) also its channel uses, airtime, code bits
  and bit errors (`None` on an ideal downlink).
* Client FLOPs: 2 x multiply-accumulates of its conv / linear layers
  (:func:`~.models.count_flops`) x batch; backward = 2 x forward (input and
  weight gradients, one MAC each per forward MAC), so forward + backward =
  3 x forward. ``client_flops`` counts nonzero weights (what pruning saves),
  ``client_flops_dense`` every weight.
* Client activation memory [bytes]: the outputs of every leaf module of the
  client model in the forward pass (what autograd may keep for backward),
  numel x element size, whole batch; the input batch is not counted.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Iterable, Optional

__all__ = ["ClientCost", "airtime_s", "batch_airtime_s", "total_cost", "BACKWARD_FLOPS_FACTOR"]

#: Backward FLOPs per forward FLOP.
BACKWARD_FLOPS_FACTOR = 2


def batch_airtime_s(resources, channel_uses: int) -> float:
    """Airtime [s] of ``channel_uses`` payload symbols sent back to back on the link whose one-frame
    :class:`~tokenlink.bridge.resources.ResourceUsage` is ``resources``: whole slots of its data REs
    (pilots and cyclic prefix included in a slot's duration)."""
    data_res_per_slot = resources.data_res // resources.num_slots
    slot_s = resources.airtime_s / resources.num_slots
    return math.ceil(channel_uses / data_res_per_slot) * slot_s


def airtime_s(channel_uses: int, symbol_rate_hz: float) -> float:
    """Airtime [s] of ``channel_uses`` complex symbols at ``symbol_rate_hz`` symbols per second."""
    if not symbol_rate_hz > 0:
        raise ValueError(f"fedsl.symbol_rate_hz: {symbol_rate_hz!r} is not allowed; must be > 0")
    return channel_uses / symbol_rate_hz


@dataclass
class ClientCost:
    """Cost of one client's split-learning step (all counts for the whole batch)."""

    round_index: int
    client_id: int
    num_samples: int
    """Samples in the batch."""
    uplink_values: int
    """Activation values sent (after dropout)."""
    uplink_padded_values: int
    """Values handed to the link, zero padding of the last token included."""
    uplink_bits: Optional[int]
    uplink_channel_uses: Optional[int]
    uplink_airtime_s: Optional[float]
    downlink_values: int
    downlink_bits: int
    client_flops_forward: int
    """Nonzero-weight forward FLOPs."""
    client_flops_forward_dense: int
    client_activation_bytes: int
    downlink_channel_uses: Optional[int] = None
    """Digital downlink over the link (``fedsl.downlink: link``): complex symbols, all frames;
    `None`: ideal downlink."""
    downlink_airtime_s: Optional[float] = None
    """Digital downlink over the link: slots x frames [s]; `None`: ideal downlink."""
    downlink_payload_bits: Optional[int] = None
    """Digital downlink over the link: gradient code bits sent (no padding, no scale)."""
    downlink_bit_errors: Optional[int] = None
    """Digital downlink over the link: wrong code bits the client received."""

    @property
    def client_flops(self) -> int:
        """Forward + backward, nonzero weights: ``3 x client_flops_forward``."""
        return (1 + BACKWARD_FLOPS_FACTOR) * self.client_flops_forward

    @property
    def client_flops_dense(self) -> int:
        """Forward + backward, every weight."""
        return (1 + BACKWARD_FLOPS_FACTOR) * self.client_flops_forward_dense

    def with_symbol_rate(self, symbol_rate_hz: float) -> ClientCost:
        """A copy whose ``uplink_airtime_s`` is ``uplink_channel_uses / symbol_rate_hz``."""
        if self.uplink_channel_uses is None:
            raise ValueError("fedsl.symbol_rate_hz: the step has no channel-use count (a plain callable link)")
        values = asdict(self)
        values["uplink_airtime_s"] = airtime_s(self.uplink_channel_uses, symbol_rate_hz)
        return ClientCost(**values)

    def latency_s(self, client_flops_per_s: float, downlink_bits_per_s: Optional[float] = None) -> float:
        """Client compute (forward + backward at ``client_flops_per_s``) + uplink airtime
        + downlink airtime over the link, or (ideal downlink) downlink bits at
        ``downlink_bits_per_s`` if given; server compute not counted [s]."""
        if not client_flops_per_s > 0:
            raise ValueError(f"fedsl.client_flops_per_s: {client_flops_per_s!r} is not allowed; must be > 0")
        if self.uplink_airtime_s is None:
            raise ValueError("fedsl.latency: the step has no uplink airtime; pass a link or use with_symbol_rate()")
        down = self.downlink_bits / downlink_bits_per_s if downlink_bits_per_s else 0.0
        if self.downlink_airtime_s is not None:
            down = self.downlink_airtime_s
        return self.client_flops / client_flops_per_s + self.uplink_airtime_s + down

    def as_dict(self) -> dict:
        out = asdict(self)
        out.update(client_flops=self.client_flops, client_flops_dense=self.client_flops_dense)
        return out


def total_cost(costs: Iterable[ClientCost]) -> dict[str, Optional[float]]:
    """Sums of the count fields over ``costs`` (e.g. one round's clients); a field that is
    `None` for any of them is `None`."""
    costs = list(costs)
    totals: dict[str, Optional[float]] = {}
    for f in fields(ClientCost):
        if f.name in ("round_index", "client_id"):
            continue
        values = [getattr(c, f.name) for c in costs]
        totals[f.name] = None if any(v is None for v in values) else sum(values)
    totals["client_flops"] = sum(c.client_flops for c in costs)
    totals["client_flops_dense"] = sum(c.client_flops_dense for c in costs)
    return totals
