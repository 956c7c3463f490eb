"""OFDMA resource-block allocation: users never overlap, get what their shares
say, keep their pilots inside their own RBs, and bad inputs fail with one line
naming the argument."""

import itertools
import math
import subprocess
import sys

import numpy as np
import pytest

from tokenlink.phy.allocation import (
    Allocation,
    allocate_resource_blocks,
    check_allocations,
    frame_airtime_slots,
    num_resource_blocks,
    slots_needed,
    unused_subcarriers,
)


def _counts(allocs):
    return [len(a.resource_blocks) for a in allocs]


@pytest.mark.parametrize("layout", ["contiguous", "interleaved"])
@pytest.mark.parametrize(
    "num_sc,num_users,shares,expected",
    [
        (76, 1, "equal", [6]),  # 6 RBs, subcarriers 72..75 left over
        (76, 4, "equal", [2, 2, 1, 1]),  # the first users get the extra RBs
        (512, 5, "equal", [9, 9, 8, 8, 8]),  # 42 RBs
        (72, 3, [0.5, 0.3, 0.2], [3, 2, 1]),  # quotas 3, 1.8, 1.2: the largest remainder (user 1) gets the 6th RB
        (72, 3, [1 / 3] * 3, [2, 2, 2]),  # float shares summing to 1 use all RBs
        (120, 7, [1 / 7] * 7, [2, 2, 2, 1, 1, 1, 1]),  # 10 RBs, quotas 1.43: ties go to the lower users
        (72, 3, [0.3, 0.3, 0.3], [2, 2, 1]),  # sum 0.9: floor(5.4) = 5 RBs, RB 5 unused
        (72, 2, [0.25, 0.25], [2, 1]),  # sum 0.5: 3 of 6 RBs
        (72, 2, [0.1, 0.9], [1, 5]),  # quota 0.6 rounds up to one RB
    ],
)
def test_allocations_never_overlap_and_get_their_share(num_sc, num_users, shares, expected, layout):
    allocs = allocate_resource_blocks(num_sc, num_users, shares=shares, layout=layout)
    check_allocations(allocs, num_sc)
    assert [a.user for a in allocs] == list(range(num_users))
    assert _counts(allocs) == expected
    num_rbs = num_resource_blocks(num_sc)
    if shares != "equal":
        quotas = np.array(shares) * num_rbs
        assert np.all(np.abs(np.array(expected) - quotas) < 1)
    # the RBs in use are 0..sum-1 (all of them for "equal" and shares summing to 1), each used once
    used = sorted(b for a in allocs for b in a.resource_blocks)
    assert used == list(range(sum(expected)))
    if shares == "equal" or math.isclose(sum(shares), 1):
        assert sum(expected) == num_rbs
    for a in allocs:
        assert a.resource_blocks == tuple(sorted(a.resource_blocks))
        assert a.subcarriers.tolist() == [12 * b + i for b in a.resource_blocks for i in range(12)]
        assert a.num_subcarriers == 12 * len(a.resource_blocks)
    unused = unused_subcarriers(allocs, num_sc)
    assert unused.tolist() == list(range(12 * sum(expected), num_sc))


def test_contiguous_allocations_are_contiguous_in_user_order():
    allocs = allocate_resource_blocks(512, 5, shares=[0.1, 0.3, 0.2, 0.15, 0.25])
    check_allocations(allocs, 512)
    for a in allocs:
        assert np.all(np.diff(a.subcarriers) == 1)
    assert all(x.subcarriers[-1] + 1 == y.subcarriers[0] for x, y in itertools.pairwise(allocs))


def test_interleaved_allocations_are_dealt_round_robin():
    allocs = allocate_resource_blocks(76, 2, layout="interleaved")
    assert [a.resource_blocks for a in allocs] == [(0, 2, 4), (1, 3, 5)]
    # 8 RBs as 4 + 2 + 2: users 1 and 2 drop out after two rounds, user 0 takes the rest
    allocs = allocate_resource_blocks(96, 3, shares=[0.5, 0.25, 0.25], layout="interleaved")
    assert [a.resource_blocks for a in allocs] == [(0, 3, 6, 7), (1, 4), (2, 5)]
    check_allocations(allocs, 96)


@pytest.mark.parametrize("seed", range(8))
def test_proportional_shares_follow_demand_to_one_resource_block(seed):
    rng = np.random.default_rng(seed)
    num_users = int(rng.integers(2, 7))
    num_sc = int(rng.integers(3 * 12 * num_users, 600))
    demand = rng.integers(1000, 3000, size=num_users)  # every quota >= 1 RB
    allocs = allocate_resource_blocks(num_sc, num_users, shares="proportional", demand_res=demand.tolist(),
                                      layout=["contiguous", "interleaved"][seed % 2])
    check_allocations(allocs, num_sc)
    counts = np.array(_counts(allocs))
    num_rbs = num_sc // 12
    assert counts.sum() == num_rbs
    assert np.all(np.abs(counts - demand / demand.sum() * num_rbs) < 1)


def test_proportional_shares_give_every_user_at_least_one_resource_block():
    # quotas 0.4, 0.4, 1.6, 3.6 of 6 RBs: the largest remainder leaves users 0 and 1 without any;
    # they take one each from users 2 and 3, and every count stays within one RB of its quota
    allocs = allocate_resource_blocks(72, 4, shares="proportional", demand_res=[2, 2, 8, 18])
    assert _counts(allocs) == [1, 1, 1, 3]
    # quotas 0.1, 0.1, 2.8 of 3 RBs: one each, the only way (2.8 is then 1.8 off)
    assert _counts(allocate_resource_blocks(36, 3, shares="proportional", demand_res=[1, 1, 28])) == [1, 1, 1]


@pytest.mark.parametrize("symbols", [(2, 11), (0, 4, 8)])
@pytest.mark.parametrize("step", [1, 2, 3, 5])
def test_pilot_masks_lie_on_the_pilot_symbols_inside_the_allocation_with_the_step(symbols, step):
    for layout in ("contiguous", "interleaved"):
        allocs = allocate_resource_blocks(76, 2, layout=layout)
        for a in allocs:
            pilots = a.pilot_mask(14, symbols, step)
            data = a.data_mask(14, symbols, step)
            inside = a.resource_mask(14)
            assert pilots.shape == data.shape == (14, 76) and pilots.dtype == data.dtype == bool
            assert not np.any(pilots & ~inside)
            assert not np.any(pilots[[s for s in range(14) if s not in symbols]])
            for s in symbols:  # every step-th subcarrier of the allocation, counted from its first one
                assert np.flatnonzero(pilots[s]).tolist() == a.subcarriers[::step].tolist()
            # data and pilots partition the allocation's REs
            assert not np.any(data & pilots)
            assert np.array_equal(data | pilots, inside)
            assert a.num_pilot_res(14, symbols, step) == len(symbols) * math.ceil(a.num_subcarriers / step)
            assert a.num_data_res(14, symbols, step) + a.num_pilot_res(14, symbols, step) == 14 * a.num_subcarriers
        check_allocations(allocs, 76, 14, symbols, step)
        assert not np.any(allocs[0].resource_mask() & allocs[1].resource_mask())


def test_pilot_step_counts_within_the_allocation_across_resource_blocks():
    user1 = allocate_resource_blocks(76, 2, layout="interleaved")[1]  # RBs 1, 3, 5: subcarriers 12..23, 36..47, 60..71
    pilots = user1.pilot_mask(14, (2, 11), 5)
    assert np.flatnonzero(pilots[2]).tolist() == [12, 17, 22, 39, 44, 61, 66, 71]
    assert np.array_equal(pilots[2], pilots[11])


def test_slots_needed_and_frame_airtime_by_hand():
    a0, a1 = allocate_resource_blocks(76, 2)
    per_slot = a0.num_data_res()  # 36 subcarriers x 12 data OFDM symbols
    assert per_slot == a1.num_data_res() == 432
    assert slots_needed(0, per_slot) == 0
    assert slots_needed(432, per_slot) == 1
    assert slots_needed(433, per_slot) == 2
    assert slots_needed(1000, 300) == 4
    assert frame_airtime_slots([1000, 200, 433], [300, 432, 432]) == 4  # the largest user's 4 slots
    assert frame_airtime_slots([100, 100], [432, 432]) == 1


def test_check_allocations_rejects_overlap_and_foreign_grids():
    a = Allocation(0, (0,), np.arange(12), 36)
    b = Allocation(1, (0, 1), np.arange(6, 18), 36)
    with pytest.raises(ValueError, match="overlap"):
        check_allocations([a, b], 36)
    with pytest.raises(ValueError, match="distinct users"):
        check_allocations([a, Allocation(0, (2,), np.arange(24, 36), 36)], 36)
    with pytest.raises(ValueError, match="spans 36"):
        check_allocations([a], 48)


def test_allocation_is_frozen_with_read_only_subcarriers_and_compares_by_value():
    a, b = allocate_resource_blocks(76, 2, layout="interleaved")
    assert a == allocate_resource_blocks(76, 2, layout="interleaved")[0] and a != b
    assert hash(a) == hash(allocate_resource_blocks(76, 2, layout="interleaved")[0])
    with pytest.raises(ValueError):
        a.subcarriers[0] = 5
    with pytest.raises(AttributeError):
        a.user = 3


def test_module_is_a_lazy_attribute_of_phy_and_imports_neither_torch_nor_sionna():
    code = ("import sys, tokenlink.phy; tokenlink.phy.allocation.allocate_resource_blocks(76, 2); "
            "print(sorted(m for m in ('torch', 'sionna', 'pydantic') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def _alloc(**kwargs):
    args = {"num_effective_subcarriers": 76, "num_users": 2, **kwargs}
    return allocate_resource_blocks(args.pop("num_effective_subcarriers"), args.pop("num_users"), **args)


@pytest.mark.parametrize(
    "call,words",
    [
        (lambda: _alloc(shares=[0.7, 0.5]), ["shares must sum to <= 1, got 1.2 (0.7 + 0.5)"]),
        (lambda: _alloc(num_users=9), ["num_users (9) exceeds the number of resource blocks (6 of 12 subcarriers in 76)"]),
        (lambda: _alloc(num_users=0), ["num_users must be >= 1, got 0"]),
        (lambda: _alloc(num_users=2.5), ["num_users must be an integer"]),
        (lambda: _alloc(shares=[0.3, 0.3, 0.3]), ["shares has 3 entries for 2 users"]),
        (lambda: _alloc(shares="proportional"), ['shares="proportional" needs demand_res']),
        (lambda: _alloc(shares="proportional", demand_res=[5]), ["demand_res has 1 entries for 2 users"]),
        (lambda: _alloc(shares="proportional", demand_res=[5, 0]), ["demand_res must be >= 1, got 0"]),
        (lambda: _alloc(demand_res=[5, 5]), ["demand_res is only used with shares='proportional'"]),
        (lambda: _alloc(layout="x"), ["layout must be 'contiguous' or 'interleaved', got 'x'"]),
        (lambda: _alloc(shares=[0.5, 0.0]), ["shares must each be in (0, 1]"]),
        (lambda: _alloc(shares=[0.5, -0.2]), ["shares must each be in (0, 1]"]),
        (lambda: _alloc(shares=[0.5, float("nan")]), ["shares must each be in (0, 1]"]),
        (lambda: _alloc(shares="fair"), ["shares must be 'equal', 'proportional' or a list of floats, got 'fair'"]),
        (lambda: _alloc(shares=0.5), ["shares must be"]),
        (lambda: _alloc(num_users=3, shares=[0.45, 0.45, 0.05]), ["shares leave user 2 without a resource block"]),
        (lambda: _alloc(num_effective_subcarriers=11, num_users=1), ["num_effective_subcarriers (11)", "no resource block"]),
        (lambda: _alloc(num_effective_subcarriers=0), ["num_effective_subcarriers must be >= 1"]),
        (lambda: _alloc(rb_size=0), ["rb_size must be >= 1"]),
        (lambda: allocate_resource_blocks(76, 1)[0].pilot_mask(14, (2, 14)), ["pilot_ofdm_symbol_indices [14]"]),
        (lambda: allocate_resource_blocks(76, 1)[0].data_mask(14, (2, 11), 0), ["pilot_subcarrier_step must be >= 1"]),
        (lambda: slots_needed(10, 0), ["allocation_data_res must be >= 1, got 0"]),
        (lambda: slots_needed(-1, 10), ["num_data_res_needed must be >= 0"]),
        (lambda: frame_airtime_slots([10, 10], [5]), ["num_data_res_needed and allocation_data_res"]),
    ],
)
def test_bad_inputs_fail_with_one_line_naming_the_argument(call, words):
    with pytest.raises(ValueError) as e:
        call()
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg
