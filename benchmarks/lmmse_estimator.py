"""LMMSE channel estimation: tokenlink's separable fast path against Sionna's block, side by side.

Both estimate one stream's channel on a 14 x N grid (Kronecker pilots on OFDM
symbols 2 and 11) over TDL-C (100 ns, 0-3 m/s) from the same received grids:

* Sionna   -- ``LMMSEChannelEstimator`` (LS at the pilots, then its LMMSE
              filters, solved for every slot): what ``receiver.implementation:
              sionna`` runs;
* fast     -- pilots -> LS -> :class:`tokenlink.phy.lmmse.SeparableLMMSE` (filters
              solved once per noise variance and cached; two batched products);
              what ``receiver.implementation: auto`` runs.

Cases: one noise variance for the batch (a BER point) and one per slot (a training batch
with Es/N0 drawn per sample: the filters are solved for every distinct value, nothing is
cached). Medians of interleaved calls; the estimates are compared in double precision
(largest relative difference of h_hat and err_var on the data REs), and the BER of the
whole link (16-QAM, LS -> LMMSE CSI, LMMSE equalizer) is counted over the same draws.

    .venv/bin/python benchmarks/lmmse_estimator.py [--batch 128] [--repeats 9] [--threads 2] [--fft-size 76]
"""

from __future__ import annotations

import argparse
import statistics

import torch
from phy_throughput import _time  # the same timing loop (this folder is on sys.path when run as a script)

from tokenlink.phy import OFDMLink, esno_db_to_no, set_seed


def _links(fft_size: int, precision: str) -> tuple[OFDMLink, OFDMLink]:
    cfg = {"grid": {"fft_size": fft_size}, "modulation": "16qam",
           "channel": {"model": "tdl", "profile": "C", "delay_spread_s": 100e-9, "max_speed_mps": 3.0},
           "receiver": {"estimator": "lmmse", "equalizer": "lmmse"}}
    fast = OFDMLink(cfg, precision=precision)
    slow = OFDMLink({**cfg, "receiver": {**cfg["receiver"], "implementation": "sionna"}}, precision=precision)
    return fast, slow


def _fast_estimate(link: OFDMLink, y: torch.Tensor, no) -> tuple[torch.Tensor, torch.Tensor]:
    rx = link._fast
    h_p = y.reshape(y.shape[0], -1)[:, rx._pilot_ind] / rx._pilots
    h, err = rx._lmmse(h_p, no), rx._lmmse.err_var(no)
    return h[:, rx._lmmse_data], err[:, rx._lmmse_data]


def _slow_estimate(link: OFDMLink, y: torch.Tensor, no) -> tuple[torch.Tensor, torch.Tensor]:
    h, err = link._estimator(y, no)
    data = link._fast_data_eff
    return h.reshape(y.shape[0], -1)[:, data], err.expand(h.shape).reshape(y.shape[0], -1)[:, data]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--fft-size", type=int, default=76)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    set_seed(1)
    print(f"LMMSE estimation, 14 x {args.fft_size} grid, batch {args.batch} slots, {args.threads} threads, "
          f"median of {args.repeats} interleaved calls\n")
    print("| precision | noise variance | Sionna [ms/slot] | fast [ms/slot] | speed-up | max rel. diff h_hat / err_var |")
    print("|---|---|---:|---:|---:|---|")
    for precision in ("single", "double"):
        fast, slow = _links(args.fft_size, precision)
        fast._fast_data_eff = fast._fast._lmmse_data
        slow._fast_data_eff = fast._fast._lmmse_data
        x = fast.map_to_grid(fast.modulate(fast.source(args.batch)))
        h = fast.generate_channel(args.batch)
        no_one = torch.tensor(esno_db_to_no(10.0), dtype=fast.dtype)
        no_each = torch.as_tensor(esno_db_to_no(torch.linspace(0.0, 20.0, args.batch, dtype=torch.float64)),
                                  dtype=fast.dtype)
        for label, no in (("one per batch", no_one), ("one per slot", no_each)):
            y = fast.apply_channel(x, h, no)
            with torch.no_grad():
                _fast_estimate(fast, y, no)  # warm-up (solves and caches the filters)
                t_slow, t_fast = [], []
                for _ in range(args.repeats):
                    if label == "one per slot":
                        fast._fast._lmmse._cache.clear()  # every training batch brings new values
                    t_slow += _time(lambda: _slow_estimate(slow, y, no), 1)
                    t_fast += _time(lambda: _fast_estimate(fast, y, no), 1)
                hf, ef = _fast_estimate(fast, y, no)
                hs, es = _slow_estimate(slow, y, no)
            dh = float(((hf - hs).abs() / hs.abs()).max())
            de = float(((ef - es).abs() / es.abs().clamp_min(1e-30)).max())
            ms_slow = 1e3 * statistics.median(t_slow) / args.batch
            ms_fast = 1e3 * statistics.median(t_fast) / args.batch
            print(f"| {precision} | {label} | {ms_slow:.3f} | {ms_fast:.4f} | **{ms_slow / ms_fast:.0f}x** | "
                  f"{dh:.1e} / {de:.1e} |")
    # BER of the whole link over the same draws (double precision, 16-QAM, one Es/N0 per point).
    fast, slow = _links(args.fft_size, "double")
    print("\n| Es/N0 [dB] | bits | BER fast | BER Sionna | differing bits |")
    print("|---:|---:|---:|---:|---:|")
    for esno_db in (0.0, 10.0, 20.0):
        no = esno_db_to_no(esno_db)
        bits = fast.source(args.batch)
        h = fast.generate_channel(args.batch)
        y = fast.apply_channel(fast.map_to_grid(fast.modulate(bits)), h, no)
        with torch.no_grad():
            dec_f = fast.demap(*fast.equalize(y, no, h), hard=True)
            dec_s = slow.demap(*slow.equalize(y, no, h), hard=True)
        ber_f = float((dec_f != bits).double().mean())
        ber_s = float((dec_s != bits).double().mean())
        print(f"| {esno_db:.0f} | {bits.numel()} | {ber_f:.5f} | {ber_s:.5f} | {int((dec_f != dec_s).sum())} |")


if __name__ == "__main__":
    main()
