"""OFDMA resource-block allocation of one slot's grid for a multiuser uplink (NumPy only).

Several users share one slot's grid (``num_ofdm_symbols x num_effective_subcarriers``;
effective subcarrier ``0`` is the lowest frequency, as in :mod:`~tokenlink.phy.grid`).
A resource block (RB) is ``rb_size`` (12) consecutive effective subcarriers over the
whole slot: RB ``b`` holds subcarriers ``b*rb_size .. (b+1)*rb_size - 1``; a grid holds
``num_effective_subcarriers // rb_size`` RBs. The leftover subcarriers at the top and
the RBs no user gets carry nothing (:func:`unused_subcarriers`).

Every user's pilots lie inside its own allocation: on the pilot OFDM symbols, on every
``pilot_subcarrier_step``-th subcarrier of the user's allocated subcarriers, counted
within the allocation from its first (lowest) one. Every other resource element (RE) of
the allocation carries the user's data.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "RB_SIZE",
    "Allocation",
    "allocate_resource_blocks",
    "check_allocations",
    "frame_airtime_slots",
    "num_resource_blocks",
    "slots_needed",
    "unused_subcarriers",
]

#: Subcarriers per resource block (5G NR).
RB_SIZE = 12


def _int(name: str, value, minimum: int) -> int:
    """``value`` as an int ``>= minimum``, or a one-line ValueError naming ``name``."""
    try:
        if isinstance(value, bool):
            raise TypeError
        value = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _pilot_symbols(num_ofdm_symbols: int, pilot_ofdm_symbol_indices: Sequence[int]) -> list[int]:
    num_ofdm_symbols = _int("num_ofdm_symbols", num_ofdm_symbols, 1)
    indices = [_int("pilot_ofdm_symbol_indices", i, 0) for i in pilot_ofdm_symbol_indices]
    if bad := [i for i in indices if i >= num_ofdm_symbols]:
        raise ValueError(f"pilot_ofdm_symbol_indices {bad} out of range: allowed 0..{num_ofdm_symbols - 1}")
    return indices


@dataclass(frozen=True, eq=False)
class Allocation:
    """The resource blocks of one user in one slot's grid.

    :param user: Index of the user (``0 .. num_users - 1``).
    :param resource_blocks: Its RB indices, sorted.
    :param subcarriers: Its effective-subcarrier indices, sorted, int [num_subcarriers] (kept read-only).
    :param num_effective_subcarriers: Width of the whole grid, which the masks span.

    The masks are bool [num_ofdm_symbols, num_effective_subcarriers] over the whole grid, `False` outside
    this allocation; the pilot parameters default to :class:`~tokenlink.phy.config.GridConfig`'s.
    """

    user: int
    resource_blocks: tuple[int, ...]
    subcarriers: np.ndarray
    num_effective_subcarriers: int

    def __post_init__(self):
        sc = np.array(self.subcarriers, dtype=np.int64).reshape(-1)
        if sc.size == 0 or np.any(np.diff(sc) <= 0) or sc[0] < 0 or sc[-1] >= self.num_effective_subcarriers:
            raise ValueError(f"subcarriers must be sorted, distinct and within "
                             f"0..{self.num_effective_subcarriers - 1}, got {sc.tolist()}")
        sc.setflags(write=False)
        object.__setattr__(self, "subcarriers", sc)
        object.__setattr__(self, "resource_blocks", tuple(sorted(int(b) for b in self.resource_blocks)))

    def _key(self) -> tuple:
        return self.user, self.resource_blocks, self.num_effective_subcarriers, self.subcarriers.tobytes()

    def __eq__(self, other) -> bool:
        return isinstance(other, Allocation) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    @property
    def num_subcarriers(self) -> int:
        """Number of subcarriers of the allocation."""
        return int(self.subcarriers.size)

    def resource_mask(self, num_ofdm_symbols: int = 14) -> np.ndarray:
        """All REs of the allocation (pilots and data), bool [num_ofdm_symbols, num_effective_subcarriers]."""
        mask = np.zeros([_int("num_ofdm_symbols", num_ofdm_symbols, 1), self.num_effective_subcarriers], bool)
        mask[:, self.subcarriers] = True
        return mask

    def pilot_mask(self, num_ofdm_symbols: int = 14, pilot_ofdm_symbol_indices: Sequence[int] = (2, 11),
                   pilot_subcarrier_step: int = 1) -> np.ndarray:
        """This user's pilot REs, bool [num_ofdm_symbols, num_effective_subcarriers]: the pilot
        OFDM symbols x ``subcarriers[::pilot_subcarrier_step]``."""
        symbols = _pilot_symbols(num_ofdm_symbols, pilot_ofdm_symbol_indices)
        step = _int("pilot_subcarrier_step", pilot_subcarrier_step, 1)
        mask = np.zeros([num_ofdm_symbols, self.num_effective_subcarriers], bool)
        mask[np.ix_(symbols, self.subcarriers[::step])] = True
        return mask

    def data_mask(self, num_ofdm_symbols: int = 14, pilot_ofdm_symbol_indices: Sequence[int] = (2, 11),
                  pilot_subcarrier_step: int = 1) -> np.ndarray:
        """This user's data REs (its allocation minus its pilots), bool [num_ofdm_symbols,
        num_effective_subcarriers]."""
        pilots = self.pilot_mask(num_ofdm_symbols, pilot_ofdm_symbol_indices, pilot_subcarrier_step)
        return self.resource_mask(num_ofdm_symbols) & ~pilots

    def num_pilot_res(self, num_ofdm_symbols: int = 14, pilot_ofdm_symbol_indices: Sequence[int] = (2, 11),
                      pilot_subcarrier_step: int = 1) -> int:
        """Pilot REs of the allocation per slot: ``len(pilot symbols) * ceil(num_subcarriers / step)``."""
        return int(self.pilot_mask(num_ofdm_symbols, pilot_ofdm_symbol_indices, pilot_subcarrier_step).sum())

    def num_data_res(self, num_ofdm_symbols: int = 14, pilot_ofdm_symbol_indices: Sequence[int] = (2, 11),
                     pilot_subcarrier_step: int = 1) -> int:
        """Data REs of the allocation per slot."""
        return int(self.data_mask(num_ofdm_symbols, pilot_ofdm_symbol_indices, pilot_subcarrier_step).sum())


def num_resource_blocks(num_effective_subcarriers: int, rb_size: int = RB_SIZE) -> int:
    """RBs of a grid: ``num_effective_subcarriers // rb_size``."""
    return _int("num_effective_subcarriers", num_effective_subcarriers, 1) // _int("rb_size", rb_size, 1)


def _largest_remainder(quotas: np.ndarray, total: int) -> np.ndarray:
    """Hamilton's method: ``floor(quotas)``, then one more RB each for the ``total - sum``
    largest remainders (ties: the lower user first). Each count is within one of its quota."""
    counts = np.floor(quotas).astype(np.int64)
    order = np.argsort(-(quotas - counts), kind="stable")
    counts[order[: total - int(counts.sum())]] += 1
    return counts


def allocate_resource_blocks(
    num_effective_subcarriers: int,
    num_users: int,
    *,
    shares: str | Sequence[float] = "equal",
    demand_res: Sequence[int] | None = None,
    layout: str = "contiguous",
    rb_size: int = RB_SIZE,
) -> list[Allocation]:
    """Split the RBs of one slot's grid (``num_rbs = num_effective_subcarriers // rb_size``)
    between ``num_users`` users.

    How many RBs each user gets:

    * ``shares="equal"``: ``num_rbs // num_users`` each, one more for users ``0, 1, ...``
      while ``num_rbs % num_users`` RBs remain. All RBs are used.
    * ``num_users`` floats in ``(0, 1]`` summing to ``<= 1`` (``1e-9`` tolerance): the
      largest-remainder (Hamilton) method on ``share_k * num_rbs``, with
      ``floor(sum(shares) * num_rbs)`` RBs in all (all RBs when the shares sum to 1).
      A user left without an RB is an error.
    * ``shares="proportional"``: the same on ``demand_res[k] / sum(demand_res)`` (data REs
      each user needs per frame), all RBs. A user left without an RB takes one from the
      user most above its quota, so every user gets ``>= 1``; every count is then within
      one RB of its quota unless tiny quotas forbid it (3 RBs for 0.1, 0.1, 2.8: 1, 1, 1).

    Which RBs (unused ones, if any, are the top ones):

    * ``layout="contiguous"``: user 0 the lowest RBs, then user 1, ...
    * ``layout="interleaved"``: dealt round-robin from RB 0 (user ``k`` gets RBs ``k,
      k + num_users, ...``; a user that has all its RBs is skipped), which spreads a
      user's RBs over the band (frequency diversity).

    :output allocations: One :class:`Allocation` per user, in user order.
    :raises ValueError: One line naming the bad argument and what is allowed.
    """
    rb_size = _int("rb_size", rb_size, 1)
    num_effective_subcarriers = _int("num_effective_subcarriers", num_effective_subcarriers, 1)
    num_users = _int("num_users", num_users, 1)
    num_rbs = num_resource_blocks(num_effective_subcarriers, rb_size)
    if num_rbs == 0:
        raise ValueError(f"num_effective_subcarriers ({num_effective_subcarriers}) holds no resource block "
                         f"of rb_size={rb_size} subcarriers")
    if num_users > num_rbs:
        raise ValueError(f"num_users ({num_users}) exceeds the number of resource blocks "
                         f"({num_rbs} of {rb_size} subcarriers in {num_effective_subcarriers})")
    if layout not in ("contiguous", "interleaved"):
        raise ValueError(f"layout must be 'contiguous' or 'interleaved', got {layout!r}")
    named = isinstance(shares, str)
    if demand_res is not None and not (named and shares == "proportional"):
        raise ValueError(f"demand_res is only used with shares='proportional', got shares={shares!r}")

    if named and shares == "equal":
        counts = np.full(num_users, num_rbs // num_users, np.int64)
        counts[: num_rbs % num_users] += 1
    elif named and shares == "proportional":
        if demand_res is None:
            raise ValueError('shares="proportional" needs demand_res (one positive count per user)')
        demand = list(demand_res)
        if len(demand) != num_users:
            raise ValueError(f"demand_res has {len(demand)} entries for {num_users} users")
        demand = [_int("demand_res", d, 1) for d in demand]
        quotas = np.array(demand, float) / sum(demand) * num_rbs
        counts = _largest_remainder(quotas, num_rbs)
        for k in np.flatnonzero(counts == 0):  # >= 1 RB each; num_users <= num_rbs, so a donor exists
            donor = int(np.argmax(np.where(counts >= 2, counts - quotas, -np.inf)))
            counts[donor] -= 1
            counts[k] = 1
    else:
        try:
            values = [float(s) for s in (None if named else shares)]
        except (TypeError, ValueError):
            raise ValueError(f"shares must be 'equal', 'proportional' or a list of floats, got {shares!r}") from None
        if len(values) != num_users:
            raise ValueError(f"shares has {len(values)} entries for {num_users} users")
        if not all(0 < s <= 1 for s in values):
            raise ValueError(f"shares must each be in (0, 1], got {values}")
        if math.fsum(values) > 1 + 1e-9:
            terms = " + ".join(f"{s:g}" for s in values)
            raise ValueError(f"shares must sum to <= 1, got {math.fsum(values):g} ({terms})")
        quotas = np.array(values) * num_rbs
        counts = _largest_remainder(quotas, min(num_rbs, math.floor(math.fsum(quotas) + 1e-6)))
        if (empty := np.flatnonzero(counts == 0)).size:
            k = int(empty[0])
            raise ValueError(f"shares leave user {k} without a resource block ({values[k]:g} of {num_rbs} "
                             f"resource blocks is {quotas[k]:.3g}); every user needs >= 1")

    # owner[b]: the user of RB b, for the first counts.sum() RBs (the rest stay unused)
    if layout == "contiguous":
        owner = np.repeat(np.arange(num_users), counts)
    else:
        owner = np.array([k for r in range(counts.max()) for k in range(num_users) if counts[k] > r])
    blocks = [np.flatnonzero(owner == k) for k in range(num_users)]
    return [Allocation(k, tuple(b.tolist()), (b[:, None] * rb_size + np.arange(rb_size)).reshape(-1),
                       num_effective_subcarriers) for k, b in enumerate(blocks)]


def unused_subcarriers(allocations: Sequence[Allocation], num_effective_subcarriers: int) -> np.ndarray:
    """Effective subcarriers no user has (leftovers above the last RB, unassigned RBs), sorted int."""
    used = np.zeros(_int("num_effective_subcarriers", num_effective_subcarriers, 1), bool)
    for a in allocations:
        used[a.subcarriers] = True
    return np.flatnonzero(~used)


def check_allocations(allocations: Sequence[Allocation], num_effective_subcarriers: int, num_ofdm_symbols: int = 14,
                      pilot_ofdm_symbol_indices: Sequence[int] = (2, 11), pilot_subcarrier_step: int = 1) -> None:
    """Raise a one-line ValueError unless the allocations fit the grid, have distinct
    users, never share a subcarrier and keep each user's pilots inside its allocation."""
    num_effective_subcarriers = _int("num_effective_subcarriers", num_effective_subcarriers, 1)
    if len({a.user for a in allocations}) != len(allocations):
        raise ValueError(f"allocations must have distinct users, got {[a.user for a in allocations]}")
    owner = np.full(num_effective_subcarriers, -1)
    for a in allocations:
        if a.num_effective_subcarriers != num_effective_subcarriers:
            raise ValueError(f"allocation of user {a.user} spans {a.num_effective_subcarriers} subcarriers, "
                             f"the grid {num_effective_subcarriers}")
        taken = owner[a.subcarriers]
        if np.any(taken >= 0):
            raise ValueError(f"allocations of users {int(taken[taken >= 0][0])} and {a.user} overlap on "
                             f"subcarriers {a.subcarriers[taken >= 0].tolist()}")
        owner[a.subcarriers] = a.user
        pilots = a.pilot_mask(num_ofdm_symbols, pilot_ofdm_symbol_indices, pilot_subcarrier_step)
        if np.any(pilots & ~a.resource_mask(num_ofdm_symbols)):
            raise ValueError(f"pilots of user {a.user} lie outside its allocation")


def slots_needed(num_data_res_needed: int, allocation_data_res: int) -> int:
    """Slots a user's frame takes: ``ceil(num_data_res_needed / allocation_data_res)``.

    :param num_data_res_needed: Data REs of the user's frame (``0``: no slot).
    :param allocation_data_res: Data REs of its allocation per slot (:meth:`Allocation.num_data_res`).
    """
    needed = _int("num_data_res_needed", num_data_res_needed, 0)
    return -(-needed // _int("allocation_data_res", allocation_data_res, 1))


def frame_airtime_slots(num_data_res_needed: Sequence[int], allocation_data_res: Sequence[int]) -> int:
    """Airtime of a multiuser frame in slots.

    A user's frame takes as many slots as its allocation needs; the frame's
    airtime is the largest user's (``max_k slots_needed(needed[k], per_slot[k])``).

    :param num_data_res_needed: Data REs each user's frame needs, [num_users].
    :param allocation_data_res: Data REs of each user's allocation per slot, [num_users].
    """
    needed, per_slot = list(num_data_res_needed), list(allocation_data_res)
    if not needed or len(needed) != len(per_slot):
        raise ValueError(f"num_data_res_needed and allocation_data_res must have one entry per user (>= 1), "
                         f"got {len(needed)} and {len(per_slot)}")
    return max(slots_needed(n, p) for n, p in zip(needed, per_slot, strict=True))
