"""Federated split learning: what one training round costs with the link in it.

One round of ``scenarios/fedsl_mnist.yaml``'s lightweight point (10 IID MNIST
clients, VGG-11 x 1/8 cut after conv layer 2, magnitude pruning 0.3, 8-bit
gradients, split-layer dropout 0.25, one local epoch of batch 32, SplitFed
schedule), side by side in one run:

* ideal uplink -- the split-layer activations arrive exactly
* analog TDL   -- every client's activations as analog tokens through the
                  scenario's TokenLink: TDL-C 100 ns, LS CSI (linear
                  interpolation) + LMMSE, MMSE value estimate, Es/N0 10 dB

Each repetition trains one fresh round of each variant, taking turns, and the
median is reported (every timed round is a fresh ``train`` of one round, so the
round's share includes building the models and, with the link, the TokenLink): the round's training (every client's steps, the server
copies and their average, FedAvg) and, separately, its evaluation (BatchNorm
recalibration and the test set, which over the link is sent twice: through
the link and ideally). Target (issue 15): training round with the link
<= 1.2x the ideal one. Then one more round of each, instrumented, says where
the time goes: client forward / backward, uplink (the link's transmit),
server forward / backward, the rest of the split step (dropout, packing,
quantization, statistics), the rest of the round (optimizer steps, pruning,
server copies and averaging, FedAvg) and the evaluation.

    .venv/bin/python benchmarks/fedsl_round.py [--clients 10] [--samples 5000] [--repeats 3] [--threads 2]
    .venv/bin/python benchmarks/fedsl_round.py --clients 2 --samples 64 --test-samples 64 --repeats 1  # a check
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import contextmanager
from pathlib import Path

import torch
from tokenlink.scenario import load_scenario
from tokenlink.semantic.fedsl import split as split_module
from tokenlink.semantic.fedsl import train as train_module
from tokenlink.semantic.fedsl.train import load_data, train

REPO = Path(__file__).resolve().parents[1]
STAGES = ("client forward", "client backward", "uplink (link transmit)", "server forward", "server backward",
          "rest of the split step", "rest of the round", "evaluation")


class _Clock:
    """Seconds per stage of the rounds trained while :meth:`installed` is active, by patching the
    evaluation, the uplink's transmit, the split step, ``Tensor.backward`` and global module
    forward hooks (benchmark only: the library is not changed)."""

    def __init__(self):
        self.seconds = dict.fromkeys(("round", "split step", *STAGES), 0.0)
        self.in_eval = self.in_step = False
        self.depth = self.forwards = 0
        self.t_forward = 0.0

    def add(self, stage: str, t0: float) -> None:
        self.seconds[stage] += time.perf_counter() - t0

    @contextmanager
    def installed(self):
        evaluate, transmit = train_module.evaluate, train_module.ClientUplink.transmit
        step, backward = split_module.SplitStep.__call__, torch.Tensor.backward
        clock = self

        def timed_evaluate(*args, **kwargs):
            t0, clock.in_eval = time.perf_counter(), True
            try:
                return evaluate(*args, **kwargs)
            finally:
                clock.in_eval = False
                clock.add("evaluation", t0)

        def timed_transmit(self, tokens):
            t0 = time.perf_counter()
            out = transmit(self, tokens)
            if not clock.in_eval:
                clock.add("uplink (link transmit)", t0)
            return out

        def timed_step(self, *args, **kwargs):
            t0, clock.in_step, clock.forwards = time.perf_counter(), True, 0
            try:
                return step(self, *args, **kwargs)
            finally:
                clock.in_step = False
                clock.add("split step", t0)

        def timed_backward(self, *args, **kwargs):
            t0 = time.perf_counter()
            out = backward(self, *args, **kwargs)
            if clock.in_step:  # SplitStep: loss.backward() (server), then a.backward(grad) (client)
                clock.add("server backward" if self.dim() == 0 else "client backward", t0)
            return out

        def pre_hook(module, inputs):
            if clock.in_step and not clock.in_eval:
                if clock.depth == 0:
                    clock.t_forward = time.perf_counter()
                clock.depth += 1

        def post_hook(module, inputs, output):
            if clock.in_step and not clock.in_eval and clock.depth:
                clock.depth -= 1
                if clock.depth == 0:  # a top-level forward: the client's first, then the server's
                    clock.add("client forward" if clock.forwards == 0 else "server forward", clock.t_forward)
                    clock.forwards += 1

        hooks = [torch.nn.modules.module.register_module_forward_pre_hook(pre_hook),
                 torch.nn.modules.module.register_module_forward_hook(post_hook)]
        train_module.evaluate, train_module.ClientUplink.transmit = timed_evaluate, timed_transmit
        split_module.SplitStep.__call__, torch.Tensor.backward = timed_step, timed_backward
        try:
            yield self
        finally:
            train_module.evaluate, train_module.ClientUplink.transmit = evaluate, transmit
            split_module.SplitStep.__call__, torch.Tensor.backward = step, backward
            for hook in hooks:
                hook.remove()

    def breakdown(self) -> dict[str, float]:
        s = dict(self.seconds)
        parts = ("client forward", "client backward", "uplink (link transmit)", "server forward", "server backward")
        s["rest of the split step"] = s["split step"] - sum(s[k] for k in parts)
        s["rest of the round"] = s["round"] - s["split step"] - s["evaluation"]
        return {k: s[k] for k in STAGES}


def _round(variant: dict, data, clock: _Clock) -> tuple[float, float]:
    """(training seconds, evaluation seconds) of one fresh round of ``variant``."""
    before = clock.seconds["evaluation"]
    t0 = time.perf_counter()
    with clock.installed():
        train(variant["cfg"], None, data=data, link_config=variant["link"])
    clock.add("round", t0)
    evaluation = clock.seconds["evaluation"] - before
    return time.perf_counter() - t0 - evaluation, evaluation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", default=str(REPO / "scenarios" / "fedsl_mnist.yaml"),
                        help="scenario whose first sweep point is timed (default: fedsl_mnist.yaml, lightweight)")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--samples", type=int, default=5000, help="training images, split over the clients")
    parser.add_argument("--test-samples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds per variant (median)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    point = load_scenario(args.scenario).points()[0]
    scenario = point.scenario
    cfg = scenario.fedsl.model_copy(update={
        "num_clients": args.clients, "train_samples": args.samples, "test_samples": args.test_samples,
        "rounds": 1, "seed": scenario.fedsl.seed if scenario.fedsl.seed is not None else scenario.run.seed})
    data = load_data(cfg, cfg.seed)
    variants = {"ideal uplink": {"cfg": cfg.model_copy(update={"uplink": "ideal"}), "link": None},
                "analog TDL (LS + LMMSE)": {"cfg": cfg.model_copy(update={"uplink": "link"}),
                                            "link": scenario.token_link_config()}}
    steps = -(-args.samples // args.clients // cfg.batch_size)
    print(f"# one FedSL round: {args.clients} clients x ~{steps} steps of batch {cfg.batch_size}, "
          f"{cfg.model} x {cfg.width:g} cut {cfg.cut_layer}, point {dict(point.params)}, "
          f"{args.threads} threads, median of {args.repeats} interleaved rounds")

    _round(variants["ideal uplink"], data, _Clock())  # warm-up: allocators, imports, the link's caches
    _round(variants["analog TDL (LS + LMMSE)"], data, _Clock())
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, variant in variants.items():
            times[name].append(_round(variant, data, _Clock()))
    median = {name: (statistics.median(t for t, _ in rows), statistics.median(e for _, e in rows))
              for name, rows in times.items()}
    ideal = median["ideal uplink"]
    print("\n| variant | training s / round | x ideal | evaluation s / round | x ideal |")
    print("|---|---:|---:|---:|---:|")
    for name, (training, evaluation) in median.items():
        print(f"| {name} | {training:.2f} | {training / ideal[0]:.2f} | {evaluation:.2f} | "
              f"{evaluation / ideal[1]:.2f} |")
    ratio = median["analog TDL (LS + LMMSE)"][0] / ideal[0]
    print(f"\ntraining round with the link / ideal: {ratio:.2f}x (target <= 1.2x: {'met' if ratio <= 1.2 else 'not met'})")

    breakdown = {}
    for name, variant in variants.items():  # one more round each, instrumented
        clock = _Clock()
        _round(variant, data, clock)
        breakdown[name] = clock.breakdown()
    names = list(variants)
    print("\nwhere the time goes (one instrumented round each; hooks add a little):\n")
    print("| stage | " + " | ".join(f"{n} [s]" for n in names) + " |")
    print("|---|" + "---:|" * len(names))
    for stage in STAGES:
        print(f"| {stage} | " + " | ".join(f"{breakdown[n][stage]:.3f}" for n in names) + " |")


if __name__ == "__main__":
    main()
