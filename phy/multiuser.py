"""OFDMA uplink: several single-antenna devices share one slot's grid at one base station.

Each user owns the resource blocks of its :class:`~tokenlink.phy.allocation.Allocation`
(:func:`~tokenlink.phy.allocation.allocate_resource_blocks`: equal, given or
demand-proportional shares, contiguous or interleaved). It sends its data on its own
data REs and its pilots inside its own resource blocks, and nothing elsewhere; the base
station (``phy.base_station``: one or several antennas, combined by maximum ratio)
estimates each user's channel from that user's pilots only. Every user has its own
channel model (distance-independent fading, UE speed: ``channel``) and its own SNR:
either a mean Es/N0 given per user, or its own :class:`~tokenlink.phy.snr.LinkBudget`
(distance, path loss, transmit power, shadowing) evaluated over *its* occupied
bandwidth (its subcarriers x spacing: a user with fewer subcarriers puts its power on
fewer REs, so its Es/N0 per RE is higher).

With perfect time and frequency synchronization the users are orthogonal: user ``k``'s
received REs depend on its own symbols, channel and noise only. Each user is therefore
simulated by an :class:`~tokenlink.phy.link.OFDMLink` on its own user grid (the full grid
with everything outside its allocation masked), drawing its channel over the whole band
(so the frequency correlation between its resource blocks is that of the channel model)
and reading its own REs. Users draw from the run's random streams in user order; with
one user that owns every subcarrier the link is exactly the single-user link (same
draws, same numbers).

Shapes: everything per user is a list of ``num_users`` tensors shaped as for
:class:`~tokenlink.phy.link.OFDMLink` of that user (``[batch, num_data_symbols_k]``...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Optional, Sequence, Union

import numpy as np
from pydantic import Field, PositiveInt, model_validator

from ..common.config import StrictConfig
from .allocation import Allocation, allocate_resource_blocks, check_allocations, num_resource_blocks
from .config import ChannelConfig, PhyConfig
from .snr import LinkBudget, Shadowing

__all__ = ["UserConfig", "NetworkConfig", "OFDMAUplink", "network_allocations", "user_phy", "users_link_budgets",
           "users_mean_esno_db",
           "users_shadowing_std_db", "NetworkSummary", "binary_entropy", "network_summary",
           "simulate_ber_per_user"]


class UserConfig(StrictConfig):
    """One device of an OFDMA uplink.

    ``channel``: its fading model and UE speed (`None`: the shared ``phy.channel``).
    ``esno_db``: its mean Es/N0 per RE [dB], or ``link_budget``: its own budget
    (distance, path loss model, transmit power, shadowing), evaluated over the bandwidth
    of its allocation; one of the two, or neither to use the Es/N0 the caller gives.
    ``demand_res``: data REs it needs per frame (its token demand), for
    ``shares: proportional``.
    """

    channel: Optional[ChannelConfig] = None
    esno_db: Optional[float] = None
    link_budget: Optional[LinkBudget] = None
    demand_res: Optional[PositiveInt] = None

    @model_validator(mode="after")
    def _check(self) -> "UserConfig":
        if self.esno_db is not None and self.link_budget is not None:
            raise ValueError("give a user esno_db or link_budget, not both")
        default = LinkBudget.model_fields["bandwidth_hz"].default
        if self.link_budget is not None and self.link_budget.bandwidth_hz != default:
            raise ValueError("a user's link_budget.bandwidth_hz is its allocation's (its subcarriers x spacing), "
                             f"got {self.link_budget.bandwidth_hz:g}: drop it")
        return self


class NetworkConfig(StrictConfig):
    """The users and how they share the grid.

    ``sharing``: ``"ofdma"`` (each user on its own resource blocks: ``shares`` is
    ``"equal"``, ``"proportional"`` to each user's ``demand_res``, or one fraction in (0, 1]
    per user summing to <= 1; ``layout`` is ``"contiguous"`` or ``"interleaved"``) or
    ``"mu_mimo"`` (every user on every RE, separated by the base station's antennas,
    :mod:`~tokenlink.phy.mimo`; ``shares`` and ``layout`` unused).
    """

    users: tuple[UserConfig, ...] = Field(min_length=1)
    sharing: Literal["ofdma", "mu_mimo"] = "ofdma"
    shares: Union[Literal["equal", "proportional"], tuple[float, ...]] = "equal"
    layout: Literal["contiguous", "interleaved"] = "contiguous"

    @model_validator(mode="after")
    def _check(self) -> "NetworkConfig":
        if self.shares == "proportional" and self.sharing == "ofdma":
            missing = [k for k, u in enumerate(self.users) if u.demand_res is None]
            if missing:
                raise ValueError(f"shares: proportional needs users[{missing[0]}].demand_res (data REs per frame)")
        return self


def network_allocations(phy: PhyConfig, network: NetworkConfig) -> list[Allocation]:
    """Every user's resource blocks of ``phy.grid`` (``sharing: ofdma``), checked: no overlap,
    pilots inside each allocation."""
    grid = phy.grid
    num_sc = grid.num_effective_subcarriers
    demand = [u.demand_res for u in network.users] if network.shares == "proportional" else None
    allocations = allocate_resource_blocks(num_sc, len(network.users), shares=network.shares, demand_res=demand,
                                           layout=network.layout)
    check_allocations(allocations, num_sc, grid.num_ofdm_symbols, grid.pilot_ofdm_symbol_indices,
                      grid.pilot_subcarrier_step)
    return allocations


def user_phy(phy: PhyConfig, user: UserConfig) -> PhyConfig:
    """The link of one user: the shared ``phy`` with the user's own ``channel`` if it has one."""
    return phy if user.channel is None else phy.model_copy(update={"channel": user.channel})


def users_link_budgets(users: Sequence[UserConfig], bandwidth_hz: Sequence[float]) -> list[Optional[LinkBudget]]:
    """Each user's link budget over the bandwidth it transmits in (`None` where it has none)."""
    return [None if u.link_budget is None else u.link_budget.model_copy(update={"bandwidth_hz": float(b)})
            for u, b in zip(users, bandwidth_hz, strict=True)]


def users_mean_esno_db(users: Sequence[UserConfig], budgets: Sequence[Optional[LinkBudget]],
                       default_esno_db: Optional[float] = None) -> list[float]:
    """Each user's mean Es/N0 per RE [dB]: its ``esno_db``, its budget's mean SNR, or ``default_esno_db``."""
    out = []
    for k, (user, budget) in enumerate(zip(users, budgets, strict=True)):
        if user.esno_db is not None:
            out.append(float(user.esno_db))
        elif budget is not None:
            out.append(float(budget.mean_snr_db()))
        elif default_esno_db is not None:
            out.append(float(default_esno_db))
        else:
            raise ValueError(f"users[{k}] has neither esno_db nor link_budget, and no Es/N0 was given")
    return out


def users_shadowing_std_db(users: Sequence[UserConfig], budgets: Sequence[Optional[LinkBudget]],
                           default_std_db: float = 0.0) -> list[float]:
    """Each user's per-frame shadowing [dB]: its budget's; ``default_std_db`` for a user with
    neither ``esno_db`` nor a budget (it runs at the scenario's SNR); 0 for a given ``esno_db``."""
    return [b.frame_shadowing_std_db if b is not None else (default_std_db if u.esno_db is None else 0.0)
            for u, b in zip(users, budgets, strict=True)]


class OFDMAUplink:
    """The users of one OFDMA uplink, each an :class:`~tokenlink.phy.link.OFDMLink` on its allocation.

    :param phy: The shared link: grid, modulation, demapping, receiver, base station and
        the default channel (users may override ``channel``).
    :param network: Users and how they share the grid (``sharing: ofdma``).
    :param precision, device: As :class:`~tokenlink.phy.link.OFDMLink`.
    :raises ValueError: One line (more users than resource blocks, shares that do not fit, ...).
    """

    def __init__(self, phy: Union[PhyConfig, dict, None], network: Union[NetworkConfig, dict],
                 precision: Optional[str] = None, device: Optional[str] = None) -> None:
        from .link import OFDMLink

        phy = PhyConfig() if phy is None else (PhyConfig(**phy) if isinstance(phy, dict) else phy)
        network = NetworkConfig(**network) if isinstance(network, dict) else network
        if network.sharing != "ofdma":
            raise ValueError(f"OFDMAUplink needs sharing 'ofdma', got {network.sharing!r} (MU-MIMO: phy.mimo)")
        self.phy, self.network = phy, network
        self.allocations: list[Allocation] = network_allocations(phy, network)
        self.links = [OFDMLink(user_phy(phy, u), precision=precision, device=device, allocation=a)
                      for u, a in zip(network.users, self.allocations, strict=True)]

    @property
    def num_users(self) -> int:
        return len(self.links)

    def occupied_bandwidth_hz(self) -> list[float]:
        """Bandwidth each user transmits in [Hz]: its subcarriers x spacing."""
        return [link.metadata["grid"]["occupied_bandwidth_hz"] for link in self.links]

    def user_link_budgets(self) -> list[Optional[LinkBudget]]:
        """Each user's link budget over its own occupied bandwidth (`None` where it has none)."""
        return users_link_budgets(self.network.users, self.occupied_bandwidth_hz())

    def mean_esno_db(self, default_esno_db: Optional[float] = None) -> list[float]:
        """Each user's mean Es/N0 per RE [dB]: its ``esno_db``, its link budget's mean SNR over its
        bandwidth, or ``default_esno_db``."""
        return users_mean_esno_db(self.network.users, self.user_link_budgets(), default_esno_db)

    @property
    def metadata(self) -> dict:
        """Plain-data description of the network, for results and traces."""
        return {
            "num_users": self.num_users,
            "shares": self.network.shares if isinstance(self.network.shares, str) else list(self.network.shares),
            "layout": self.network.layout,
            "num_resource_blocks": num_resource_blocks(self.phy.grid.num_effective_subcarriers),
            "users": [{"resource_blocks": list(a.resource_blocks), "num_data_res": link.num_data_symbols,
                       "occupied_bandwidth_hz": link.metadata["grid"]["occupied_bandwidth_hz"],
                       "channel": link.config.channel.model_dump(mode="json")}
                      for a, link in zip(self.allocations, self.links, strict=True)],
        }

    def transmit_symbols(self, xs: Sequence, nos: Sequence, h_freqs: Optional[Sequence] = None) -> list[tuple]:
        """Every user's data symbols through its channel and the base station's receiver.

        Users draw in order: each its channel (where not given), then its noise, on its own
        subcarriers only (:meth:`OFDMLink.generate_channel`): disjoint REs, independent noise.

        :input xs: ``num_users`` tensors [batch, num_data_symbols_k], complex.
        :input nos: ``num_users`` noise variances (scalar or [batch]) per RE and antenna.
        :input h_freqs: `None` or ``num_users`` realizations (`None` entries are drawn).
        :output: per user ``(x_hat, no_eff, h_freq)`` as :meth:`OFDMLink.transmit_symbols`.
        """
        self._check_len(xs, "xs"), self._check_len(nos, "nos")
        hs = [None] * self.num_users if h_freqs is None else list(self._check_len(h_freqs, "h_freqs"))
        return [link.transmit_symbols(x, no, h) for link, x, no, h in zip(self.links, xs, nos, hs, strict=True)]

    def __call__(self, bits: Sequence, nos: Sequence) -> list:
        """Every user's bits -> :class:`~tokenlink.phy.link.LinkOutput`, in user order."""
        self._check_len(bits, "bits"), self._check_len(nos, "nos")
        return [link(b, no) for link, b, no in zip(self.links, bits, nos, strict=True)]

    def _check_len(self, values: Sequence, name: str) -> Sequence:
        if len(values) != self.num_users:
            raise ValueError(f"{name} must have one entry per user ({self.num_users}), got {len(values)}")
        return values


@dataclass(frozen=True)
class NetworkSummary:
    """Per-user throughput of uncoded bits and what it says about the network.

    ``throughput_bps[k] = data bits per slot of user k x (1 - H2(BER_k)) / slot duration``,
    with ``H2`` the binary entropy: the information rate of user ``k``'s hard-decided bits
    seen as a binary symmetric channel with crossover probability ``BER_k`` (what an ideal
    code on top of these decisions could carry; 0 at BER >= 0.5), while the user sends.
    ``sum_rate_bps`` is their sum; ``jain_fairness`` is ``(sum x)^2 / (K sum x^2)`` of the
    throughputs (1: all equal, 1/K: one user has everything); ``worst_user`` has the
    lowest throughput.
    """

    throughput_bps: tuple[float, ...]
    sum_rate_bps: float
    jain_fairness: float
    worst_user: int
    worst_ber: float


def binary_entropy(p) -> np.ndarray:
    """``H2(p) = -p log2 p - (1-p) log2 (1-p)`` [bit] of error probabilities ``p``, with ``p``
    clipped to [0, 0.5]: a receiver of uncoded decisions does not flip them, so a BER above 0.5
    counts as 0.5 (no information)."""
    p = np.clip(np.asarray(p, float), 0.0, 0.5)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -p * np.log2(p) - (1 - p) * np.log2(1 - p)
    return np.where((p > 0) & (p < 0.5), h, np.where(p >= 0.5, 1.0, 0.0))


def network_summary(bits_per_slot: Sequence[int], ber: Sequence[float], slot_duration_s: float) -> NetworkSummary:
    """:class:`NetworkSummary` from each user's data bits per slot and measured BER."""
    if len(bits_per_slot) != len(ber) or not len(ber):
        raise ValueError(f"bits_per_slot ({len(bits_per_slot)}) and ber ({len(ber)}) need one entry per user")
    ber = np.asarray(ber, float)
    rate = np.asarray(bits_per_slot, float) * (1.0 - binary_entropy(ber)) / slot_duration_s
    total = float(rate.sum())
    squares = float(np.square(rate).sum())
    jain = total**2 / (len(rate) * squares) if squares > 0 else 1.0
    worst = int(np.argmin(rate))
    return NetworkSummary(tuple(float(r) for r in rate), total, jain if math.isfinite(jain) else 1.0,
                          worst, float(ber[worst]))


def simulate_ber_per_user(uplink: OFDMAUplink, default_esno_db: Optional[float] = None, seed: int = 0,
                          default_shadowing_std_db: float = 0.0, **kwargs) -> list:
    """Each user's uncoded BER at its own mean Es/N0 (:meth:`OFDMAUplink.mean_esno_db`), users in order.

    A user whose link budget has shadowing runs every slot at its mean Es/N0 minus its own
    log-normal draw, from its own stream (``default_rng([seed, k])`` for user ``k``), so
    adding or removing shadowing for one user leaves the other users' numbers as they are.
    Users with neither ``esno_db`` nor a link budget run at ``default_esno_db`` with
    ``default_shadowing_std_db`` (the scenario's ``phy`` SNR); users with ``esno_db`` have none.

    :param kwargs: :func:`~tokenlink.phy.ber.simulate_ber`'s (``batch_size``, ``max_bits``, ...).
    :output curves: One one-point :class:`~tokenlink.phy.ber.BERCurve` per user.
    """
    from .ber import simulate_ber

    curves = []
    esno = uplink.mean_esno_db(default_esno_db)
    stds = users_shadowing_std_db(uplink.network.users, uplink.user_link_budgets(), default_shadowing_std_db)
    for k, (link, esno_db, std) in enumerate(zip(uplink.links, esno, stds, strict=True)):
        shadowing = Shadowing(std, [seed, k]) if std > 0 else None
        curves.append(simulate_ber(link, [esno_db], shadowing=shadowing, **kwargs))
    return curves
