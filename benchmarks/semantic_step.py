"""One training step of the token-communication model, ideal channel vs the OFDM link.

The stage-2 step of tokenlink.semantic (collaborative fine-tuning): per
modality a projection (width 128 -> 384) and compression to K tokens on the
device, the link, an MLP receiver, then MiniLM with LoRA (r=8, query/value)
over [CLS] + modality tokens + a 12-token question, an answer head,
cross-entropy + 0.1 x alignment loss, AdamW. Inputs are frozen-encoder
tokens (random here: the step's cost does not depend on their values).

Variants side by side in one run, interleaved so machine noise hits all alike:

* ideal     -- the tokens arrive as sent (no link)
* analog    -- TokenLink analog over TDL-C (100 ns, 0..3 m/s), LS (linear) + LMMSE,
               Es/N0 per sample in [0, 20] dB, realizations from a bank (training default)
* analog, fresh -- the same with freshly generated realizations every step
* digital   -- 4-bit scalar quantization -> 16-QAM -> the same link -> max-log, STE

Target (semantic issue): analog <= 1.2x ideal at batch 32, 64 tokens per modality.

    .venv/bin/python benchmarks/semantic_step.py [--batch 32] [--tokens 64] [--modalities 2] [--steps 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from tokenlink.bridge import TokenLink
from tokenlink.phy import set_seed
from tokenlink.semantic.foundation import FoundationModel
from tokenlink.semantic.pipeline import TokenCommModel


def _link(mode: str, bank: int | None) -> TokenLink:
    return TokenLink({
        "mode": mode,
        "phy": {
            "modulation": "16qam",
            "demapping": "maxlog",
            "channel": {"model": "tdl", "profile": "C", "delay_spread_s": 100e-9,
                        "speed_mps": 0.0, "max_speed_mps": 3.0},
            "receiver": {"estimator": "ls", "interpolation": "linear", "equalizer": "lmmse"},
        },
        "digital": {"bits_per_value": 4, "calibration": "std"},
        "train_snr_db_range": (0.0, 20.0),
        "train_channel_bank_size": bank,
    })


def _step(model: TokenCommModel, opt, encoded, ids, mask, answers, captions, ideal: bool) -> None:
    passed = model.channel(model.device_tokens(encoded), None, ideal=ideal)
    tokens = model.base_station(passed.received)
    logits = model.answer(tokens, ids, mask)
    align, _ = model.alignment(tokens, captions, 1.0)
    loss = torch.nn.functional.cross_entropy(logits, answers) + 0.1 * align
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=64, help="K tokens per modality")
    parser.add_argument("--modalities", type=int, default=2)
    parser.add_argument("--steps", type=int, default=7, help="timed steps per variant (median reported)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bank", type=int, default=4096, help="channel bank size (slots)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    set_seed(1)

    foundation = FoundationModel(lora_rank=8)
    shapes = {f"m{i}": (args.tokens, 128) for i in range(args.modalities)}
    variants = {
        "ideal": (None, True),
        "analog (bank)": (_link("analog", args.bank), False),
        "analog (fresh)": (_link("analog", None), False),
        "digital (bank)": (_link("digital", args.bank), False),
    }
    models = {}
    for name, (link, ideal) in variants.items():
        model = TokenCommModel(shapes, foundation, num_answers=16, num_tokens=args.tokens,
                               compression="none", link=link)
        model.train()
        opt = torch.optim.AdamW(model.parameter_groups(["projections", "receivers", "head", "lora"]), lr=1e-4)
        models[name] = (model, opt, ideal)
    b = args.batch
    encoded = {m: torch.randn(b, args.tokens, 128) for m in shapes}
    ids, mask = foundation.tokenize(["what colour is the object playing the violin on the left?"] * b)
    answers = torch.randint(0, 16, (b,))
    captions = torch.nn.functional.normalize(torch.randn(b, foundation.d_model), dim=-1)
    digital_link = variants["digital (bank)"][0]
    with torch.no_grad():
        digital_link.calibrate(torch.cat(list(models["digital (bank)"][0].device_tokens(encoded).values())))

    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(2):  # warm-up (bank generation, allocator)
        for model, opt, ideal in models.values():
            _step(model, opt, encoded, ids, mask, answers, captions, ideal)
    for _ in range(args.steps):
        for name, (model, opt, ideal) in models.items():
            t0 = time.perf_counter()
            _step(model, opt, encoded, ids, mask, answers, captions, ideal)
            times[name].append(time.perf_counter() - t0)

    link = variants["analog (bank)"][0]
    uses = link.frame_size(args.tokens, foundation.d_model)
    print(f"batch {b}, {args.modalities} modalities x {args.tokens} tokens x {foundation.d_model} values, "
          f"question {ids.shape[1]} tokens; analog: {uses['channel_uses']} channel uses, "
          f"{uses['num_slots']} slots of 14x76 per modality per sample; {args.threads} threads, "
          f"median of {args.steps} interleaved steps")
    base = statistics.median(times["ideal"])
    print(f"{'variant':<16} {'step ms':>9} {'vs ideal':>9}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<16} {1e3 * med:9.1f} {med / base:8.2f}x")


if __name__ == "__main__":
    main()
