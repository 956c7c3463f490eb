"""Multi-antenna receiver cost: maximum-ratio combining of one stream over N_r
base-station antennas on tokenlink's fast elementwise path against the same
receiver composed from Sionna's general blocks (``receiver.implementation:
sionna``: ``LSChannelEstimator`` per antenna and ``LMMSEEqualizer`` with
``StreamManagement``), side by side in one run, on identical inputs.

Two steps are timed, both with fresh noise and a fixed channel batch:

* receiver: received grid ``y`` -> channel estimate -> combined ``x_hat``,
  ``no_eff`` (``OFDMLink.equalize``);
* link: symbols -> channel + AWGN -> receiver (``OFDMLink.transmit_symbols``;
  the fast path computes only the data and pilot REs).

Timings are medians of interleaved runs (A, B, A, B, ...). Before timing, the
outputs of both sides are compared (max relative difference printed).

OFDMA (``--ofdma-users``, default 8, on 14 x 612: 51 resource blocks): the
cost per data RE of every user's slot (``OFDMAUplink.transmit_symbols``)
against the single-user fast link on the same grid, with fresh channel
realizations (evaluation) and with given ones (a training step with a
channel bank); and the part of the fresh case spent drawing channel impulse
responses (K users: K independent draws per slot, one link: one).

MU-MIMO (``--mimo-users``, default 4, on ``--mimo-antennas``, default 8; 14 x 76,
TDL-C, LS from orthogonal pilots, Sionna's LMMSE detector): the time of one call
and its stages (no target; Sionna's general blocks throughout).

Usage::

    .venv/bin/python benchmarks/multiuser.py [--batch 128] [--repeats 11] [--threads 2] [--antennas 1 2 4 8]

Prints a markdown table; ratio = Sionna-block time / fast-path time (target
for 4 antennas: >= 5x on the receiver).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from tokenlink.phy import OFDMLink, set_seed
from tokenlink.phy.multiuser import OFDMAUplink

CASES = {
    "TDL-C, LS (linear) + MRC": {"channel": {"model": "tdl", "profile": "C", "delay_spread_s": 100e-9,
                                              "max_speed_mps": 3.0},
                                  "receiver": {"estimator": "ls", "interpolation": "linear"}},
    "Rayleigh, perfect CSI + MRC": {"channel": {"model": "rayleigh"}, "receiver": {"estimator": "perfect"}},
}


def _links(case: dict, num_rx: int, fft_size: int) -> tuple[OFDMLink, OFDMLink]:
    cfg = {**case, "modulation": "16qam", "grid": {"fft_size": fft_size},
           "base_station": {"num_rx_antennas": num_rx}}
    slow_cfg = {**cfg, "receiver": {**case["receiver"], "implementation": "sionna"}}
    return OFDMLink(cfg), OFDMLink(slow_cfg)


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--fft-size", type=int, default=76)
    parser.add_argument("--antennas", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--ofdma-users", type=int, default=8)
    parser.add_argument("--ofdma-fft-size", type=int, default=612)
    parser.add_argument("--ofdma-batch", type=int, default=32)
    parser.add_argument("--mimo-users", type=int, default=4)
    parser.add_argument("--mimo-antennas", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"batch {args.batch} slots of 14 x {args.fft_size}, 16-QAM, {args.threads} threads, "
          f"median of {args.repeats} interleaved runs\n")
    print("| case | N_r | step | Sionna blocks [ms] | fast path [ms] | ratio | max rel. diff |")
    print("|---|---|---|---|---|---|---|")
    for name, case in CASES.items():
        for num_rx in args.antennas:
            set_seed(1)
            fast, slow = _links(case, num_rx, args.fft_size)
            x = fast.modulate(fast.source(args.batch))
            h = fast.generate_channel(args.batch)
            no = torch.full([args.batch], 0.05)
            y = fast.apply_channel(fast.map_to_grid(x), h, no)
            a, b = fast.equalize(y, no, h)[0], slow.equalize(y, no, h)[0]
            diff = float(((a - b).abs() / b.abs().clamp_min(1e-6)).max())
            steps = {
                "receiver": (lambda link, y=y, no=no, h=h: (lambda: link.equalize(y, no, h))),
                "link": (lambda link, x=x, no=no, h=h: (lambda: link.transmit_symbols(x, no, h))),
            }
            for step, make in steps.items():
                fs, ss = make(fast), make(slow)
                fs(), ss()  # warm-up
                t_fast, t_slow = [], []
                for _ in range(args.repeats):
                    t_slow.append(_median_ms(ss, 1))
                    t_fast.append(_median_ms(fs, 1))
                ms_slow, ms_fast = statistics.median(t_slow), statistics.median(t_fast)
                print(f"| {name} | {num_rx} | {step} | {ms_slow:.2f} | {ms_fast:.2f} | {ms_slow / ms_fast:.1f}x "
                      f"| {diff:.1e} |")


    _ofdma(args)
    _mu_mimo(args)


@torch.no_grad()
def _mu_mimo(args) -> None:
    from tokenlink.phy.mimo import MuMimoUplink

    case = CASES["TDL-C, LS (linear) + MRC"]
    phy = {**case, "modulation": "16qam", "receiver": {**case["receiver"], "equalizer": "lmmse"},
           "base_station": {"num_rx_antennas": args.mimo_antennas}}
    set_seed(1)
    mu = MuMimoUplink(phy, [None] * args.mimo_users)
    batch = args.batch
    bits = mu.source(batch)
    esno = torch.full([args.mimo_users], 10.0)
    no = torch.ones([])
    gain = torch.pow(10.0, esno / 20.0).reshape(1, 1, 1, -1, 1, 1, 1)
    state = {}

    def channel():
        state["h"] = mu.generate_channel(batch) * gain

    def transmit():
        x = mu._mapper(bits)[:, :, None, :]
        state["y"] = mu._apply_channel(mu._rg_mapper(x), state["h"], 1.0)

    def estimate():
        state["h_hat"], state["err"] = mu._estimator(state["y"], no)

    def detect():
        state["x_hat"], state["no_eff"] = mu._equalizer(state["y"], state["h_hat"], state["err"], no)

    def demap():
        mu._demapper(state["x_hat"][:, :, 0], state["no_eff"][:, :, 0])

    stages = {"channel generation (TDL-C)": channel, "mapping + channel + noise": transmit,
              "LS estimation (Sionna)": estimate, "LMMSE detection (Sionna)": detect, "demapping (Sionna)": demap}
    for fn in stages.values():
        fn()  # warm-up, in order
    times = {name: [] for name in stages}
    for _ in range(args.repeats):
        for name, fn in stages.items():
            times[name].append(_median_ms(fn, 1))
    total = sum(statistics.median(t) for t in times.values())
    print(f"\nMU-MIMO: {args.mimo_users} users, {args.mimo_antennas} antennas, batch {batch} slots of 14 x 76, "
          f"16-QAM, TDL-C + LS + LMMSE: {total:.1f} ms per call "
          f"({batch * args.mimo_users * mu.num_bits_per_slot / total / 1e3:.2f} Mbit/s of uncoded bits)\n")
    print("| stage | ms | share |")
    print("|---|---|---|")
    for name, t in times.items():
        print(f"| {name} | {statistics.median(t):.1f} | {100 * statistics.median(t) / total:.0f} % |")


def _ofdma(args) -> None:
    case = CASES["TDL-C, LS (linear) + MRC"]
    phy = {**case, "modulation": "16qam", "grid": {"fft_size": args.ofdma_fft_size}}
    set_seed(1)
    single = OFDMLink(phy)
    uplink = OFDMAUplink(phy, {"users": [{}] * args.ofdma_users})
    batch, no = args.ofdma_batch, 0.05
    x = single.modulate(single.source(batch))
    xs = [link.modulate(link.source(batch)) for link in uplink.links]
    h = single.generate_channel(batch)
    hs = [link.generate_channel(batch) for link in uplink.links]
    res_single = single.num_data_symbols * batch
    res_users = sum(link.num_data_symbols for link in uplink.links) * batch
    print(f"\nOFDMA: {args.ofdma_users} users on 14 x {args.ofdma_fft_size} "
          f"({sum(len(a.resource_blocks) for a in uplink.allocations)} RBs), batch {batch}, TDL-C + LS; "
          f"data REs per slot: single {single.num_data_symbols}, users {res_users // batch}\n")
    print("| step | single user [ms] | OFDMA, all users [ms] | cost per data RE, OFDMA / single |")
    print("|---|---|---|---|")
    fs = 1.0 / single.resource_grid.ofdm_symbol_duration
    cir = [link._channel.channel_model for link in uplink.links]
    steps = {
        "fresh channels (evaluation)": (lambda: single.transmit_symbols(x, no),
                                        lambda: uplink.transmit_symbols(xs, [no] * uplink.num_users)),
        "given channels (channel bank)": (lambda: single.transmit_symbols(x, no, h),
                                          lambda: uplink.transmit_symbols(xs, [no] * uplink.num_users, hs)),
        "of the fresh: impulse-response draws only": (
            lambda: single._channel.channel_model(batch, 14, fs),
            lambda: [model(batch, 14, fs) for model in cir]),
    }
    ms = {}
    for step, (one, many) in steps.items():
        one(), many()
        t_one, t_many = [], []
        for _ in range(args.repeats):
            t_one.append(_median_ms(one, 1))
            t_many.append(_median_ms(many, 1))
        a, b = ms[step] = statistics.median(t_one), statistics.median(t_many)
        print(f"| {step} | {a:.1f} | {b:.1f} | {(b / res_users) / (a / res_single):.2f}x |")
    (a, b), (c_one, c_many) = ms["fresh channels (evaluation)"], ms["of the fresh: impulse-response draws only"]
    print(f"| fresh, without the impulse-response draws | {a - c_one:.1f} | {b - c_many:.1f} | "
          f"{((b - c_many) / res_users) / ((a - c_one) / res_single):.2f}x |")
    print(f"\n{uplink.num_users} users draw {uplink.num_users} independent channels per slot: "
          f"{c_many - c_one:.1f} ms more impulse-response draws than one link, whatever the bandwidth.")


if __name__ == "__main__":
    main()
