"""BER and analog NMSE of one link configuration, per slot, on whichever backend the
configuration names: the numbers the two backends are compared on
(tests/test_tf_backend.py, scenarios/backends_crosscheck.yaml).

Runs in either environment, and as a script so that one environment can ask the other::

    .venv/bin/python tests/backend_stats.py '[{"phy": {...}, "esno_db": 10, "num_slots": 256, "seed": 1}, ...]'

prints one JSON line, a list of ``{"ber": .., "ber_se": .., "nmse": .., "nmse_se": ..}``.

Slots are independent realizations, so the standard errors are those of a mean of
per-slot values (bits that share a fade are correlated; per-slot errors are not).
The analog NMSE is that of the biased MMSE estimate ``x_hat / (1 + no_eff)`` of
unit-power complex Gaussian symbols: it has a finite mean over Rayleigh fading,
unlike the unbiased (ZF) estimate (docs/conventions.md).
"""

from __future__ import annotations

import json
import sys

import torch

from tokenlink.phy import build_link, set_seed
from tokenlink.phy.snr import esno_db_to_no

BATCH = 128


def link_stats(phy: dict, esno_db: float, num_slots: int, seed: int) -> dict:
    """Per-slot BER (hard decisions on the LLRs) and analog NMSE, averaged; with standard errors."""
    set_seed(seed)
    link = build_link(phy)
    no = float(esno_db_to_no(esno_db))
    ber, nmse = [], []
    with torch.no_grad():
        for start in range(0, num_slots, BATCH):
            n = min(BATCH, num_slots - start)
            bits = link.source(n)
            out = link(bits, no=no)
            ber.append(((out.llr > 0).to(bits.dtype) != bits).double().mean(-1))
            gen = torch.Generator().manual_seed(seed * 1000003 + start)
            x = torch.complex(torch.randn(n, link.num_data_symbols, generator=gen, dtype=torch.float64),
                              torch.randn(n, link.num_data_symbols, generator=gen, dtype=torch.float64))
            x = (x / 2**0.5).to(out.x_hat.dtype)
            x_hat, no_eff, _ = link.transmit_symbols(x, no)
            x_mmse = x_hat / (1.0 + no_eff)
            nmse.append(((x_mmse - x).abs() ** 2).double().sum(-1) / (x.abs() ** 2).double().sum(-1))
    ber_t, nmse_t = torch.cat(ber), torch.cat(nmse)
    se = lambda v: float(v.std() / len(v) ** 0.5)  # noqa: E731
    return {"ber": float(ber_t.mean()), "ber_se": se(ber_t), "nmse": float(nmse_t.mean()), "nmse_se": se(nmse_t)}


if __name__ == "__main__":
    torch.set_num_threads(1)
    cases = json.loads(sys.argv[1])
    print(json.dumps([link_stats(c["phy"], c["esno_db"], c["num_slots"], c["seed"]) for c in cases]))
