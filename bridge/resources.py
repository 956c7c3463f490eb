"""Resource accounting: what one frame of tokens costs on the air.

Numbers are per frame (the tokens of one batch sample); multiply by
``batch_size`` for the whole call. Airtime counts whole slots (cyclic prefix
included) from the numerology; bandwidth is the occupied one
(``num_effective_subcarriers * subcarrier_spacing``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

__all__ = ["ResourceUsage", "resource_usage"]


@dataclass(frozen=True)
class ResourceUsage:
    """Cost of one frame on the link.

    ``channel_uses``: complex symbols carrying payload. ``data_res``: data
    resource elements reserved (``num_slots`` x data REs per slot, padding
    included); ``pilot_res``: pilot REs in those slots. ``fill``:
    ``channel_uses / data_res``. ``spectral_efficiency_bps_hz``: payload bits
    per second per hertz of occupied bandwidth over the airtime (digital;
    `None` for analog, whose rate is ``values_per_s_per_hz``).
    """

    mode: str
    batch_size: int
    num_tokens: int
    dim: int
    num_values: int
    num_bits: Optional[int]
    channel_uses: int
    num_slots: int
    num_ofdm_symbols: int
    data_res: int
    pilot_res: int
    fill: float
    airtime_s: float
    bandwidth_hz: float
    values_per_channel_use: float
    values_per_s_per_hz: float
    spectral_efficiency_bps_hz: Optional[float]

    def as_dict(self) -> dict:
        return asdict(self)


def resource_usage(
    mode: str,
    batch_size: int,
    num_tokens: int,
    dim: int,
    channel_uses: int,
    num_slots: int,
    grid: dict,
    num_bits: Optional[int] = None,
) -> ResourceUsage:
    """Build a :class:`ResourceUsage` from a frame's sizes and the grid summary
    (:func:`tokenlink.phy.grid.grid_summary`)."""
    num_values = num_tokens * dim
    airtime_s = num_slots * grid["slot_duration_s"]
    bandwidth_hz = grid["occupied_bandwidth_hz"]
    data_res = num_slots * grid["num_data_res"]
    return ResourceUsage(
        mode=mode,
        batch_size=batch_size,
        num_tokens=num_tokens,
        dim=dim,
        num_values=num_values,
        num_bits=num_bits,
        channel_uses=channel_uses,
        num_slots=num_slots,
        num_ofdm_symbols=num_slots * grid["num_ofdm_symbols"],
        data_res=data_res,
        pilot_res=num_slots * grid["num_pilot_res"],
        fill=channel_uses / data_res,
        airtime_s=airtime_s,
        bandwidth_hz=bandwidth_hz,
        values_per_channel_use=num_values / channel_uses,
        values_per_s_per_hz=num_values / (airtime_s * bandwidth_hz),
        spectral_efficiency_bps_hz=None if num_bits is None else num_bits / (airtime_s * bandwidth_hz),
    )
