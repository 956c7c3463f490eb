"""Network points of the runner: every user of a multiuser uplink, OFDMA or MU-MIMO.

One function, :func:`network_bits_point`, turns a ``bits`` point's plan with a
``network`` (:class:`~tokenlink.scenario.plan.PointPlan`) into its metrics: per-user
arrays in user order (``user_*``), the pooled BER and the network summary
(:func:`~tokenlink.phy.multiuser.network_summary`).
"""

from __future__ import annotations

import numpy as np

from .phy.allocation import num_resource_blocks
from .phy.mimo import MuMimoUplink, simulate_ber_mu_mimo
from .phy.multiuser import (
    OFDMAUplink,
    network_summary,
    simulate_ber_per_user,
    users_link_budgets,
    users_mean_esno_db,
    users_shadowing_std_db,
)
from .scenario.plan import PointPlan

__all__ = ["network_bits_point"]


def network_bits_point(plan: PointPlan, device: str, shadowing_seed: int) -> tuple[dict, dict]:
    """Uncoded bits from every user of a network, OFDMA (:mod:`tokenlink.phy.multiuser`) or MU-MIMO
    (:mod:`tokenlink.phy.mimo`): per-user numbers as arrays in user order (``user_*``), the pooled
    BER and the network summary. MU-MIMO users each use every RE (all resource blocks, the whole
    bandwidth) at once."""
    stop, users = plan.stop, plan.network.users
    rules = dict(batch_size=stop.batch_size, max_bits=stop.max_bits, min_bit_errors=stop.min_bit_errors or 2**62,
                 max_rel_stderr=stop.max_rel_stderr)
    if plan.network.sharing == "mu_mimo":
        uplink = MuMimoUplink(plan.phy, [u.channel for u in users], device=device)
        grid = plan.phy.grid
        bandwidth = [grid.num_effective_subcarriers * grid.subcarrier_spacing_hz] * len(users)  # all REs
        budgets = users_link_budgets(users, bandwidth)
        esno = users_mean_esno_db(users, budgets, plan.snr.esno_db)
        stds = users_shadowing_std_db(users, budgets, plan.snr.shadowing_std_db)
        curves = simulate_ber_mu_mimo(uplink, esno, stds, seed=shadowing_seed, **rules)
        bits_per_slot = [uplink.num_bits_per_slot] * len(users)
        data_res = [int(uplink.resource_grid.num_data_symbols)] * len(users)
        resource_blocks = [num_resource_blocks(grid.num_effective_subcarriers)] * len(users)
        slot_s = float(uplink.resource_grid.ofdm_symbol_duration * grid.num_ofdm_symbols)
    else:
        uplink = OFDMAUplink(plan.phy, plan.network, device=device)
        esno = uplink.mean_esno_db(plan.snr.esno_db)
        curves = simulate_ber_per_user(uplink, default_esno_db=plan.snr.esno_db, seed=shadowing_seed,
                                       default_shadowing_std_db=plan.snr.shadowing_std_db, early_stop=False, **rules)
        bits_per_slot = [link.num_bits_per_slot for link in uplink.links]
        data_res = [link.num_data_symbols for link in uplink.links]
        resource_blocks = [len(a.resource_blocks) for a in uplink.allocations]
        bandwidth = uplink.occupied_bandwidth_hz()
        slot_s = uplink.links[0].metadata["grid"]["slot_duration_s"]

    def column(get, dtype=float) -> np.ndarray:
        return np.array([get(c) for c in curves], dtype=dtype)

    ber = column(lambda c: c.ber[0])
    net = network_summary(bits_per_slot, ber, slot_s)
    bit_errors, bits = column(lambda c: c.bit_errors[0], np.int64), column(lambda c: c.num_bits[0], np.int64)
    metrics = {
        "esno_db": plan.snr.esno_db,
        "ber": float(bit_errors.sum() / max(int(bits.sum()), 1)),
        "bits": int(bits.sum()),
        "bit_errors": int(bit_errors.sum()),
        "num_users": len(users),
        "sum_rate_bps": net.sum_rate_bps,
        "jain_fairness": net.jain_fairness,
        "worst_user": net.worst_user,
        "worst_ber": net.worst_ber,
        "user_esno_db": np.array(esno),
        "user_esno_db_drawn_std": column(lambda c: c.esno_db_drawn_std[0]),
        "user_ber": ber,
        "user_ber_stderr": column(lambda c: c.ber_stderr[0]),
        "user_ser": column(lambda c: c.ser[0]),
        "user_bits": bits,
        "user_bit_errors": bit_errors,
        "user_slots": column(lambda c: c.num_slots[0], np.int64),
        "user_resource_blocks": np.array(resource_blocks, np.int64),
        "user_data_res_per_slot": np.array(data_res, np.int64),
        "user_bandwidth_hz": np.array(bandwidth, float),
        "user_throughput_bps": np.array(net.throughput_bps),
    }
    return metrics, {}
