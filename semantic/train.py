"""Training and evaluation of the split model, readable top to bottom.

:func:`train` runs the two stages of Paper A with the channel in the loop:

1. ``align`` -- contrastive split fine-tuning over the items: InfoNCE between
   the pooled received tokens of each modality and the item's caption
   embedding, plus ``mse_weight`` x text-reconstruction MSE. Trains
   projections, compressors, receivers (and a learnable temperature).
2. ``task`` -- collaborative fine-tuning over the questions: cross-entropy of
   the answer, plus ``align_weight`` x the stage-1 loss. Trains LoRA
   adapters, projections, compressors, receivers and the answer head.

Every batch sample draws its own Es/N0 from ``train_snr_db`` and every
device (modality) its own channel realizations. Checkpoints
(:mod:`~tokenlink.semantic.checkpoint`) every ``checkpoint_every`` steps and
at the end of each stage hold the weights, the optimizer, the random
generators and where training stands; :func:`train` resumes from one and
then follows the same batch order and random draws as an uninterrupted run
(data order is a function of (seed, stage, epoch)).

:func:`evaluate` sends every test question's items over fresh channel
realizations at one Es/N0 and returns accuracy (overall and per question
type), the link metrics of the same transmissions, retrieval recall@1/5 of
the alignment, and channel uses per sample.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np
import torch

from ..bridge import MultiUserTokenLink, TokenLink
from ..bridge.runtime import rng_state, set_rng_state
from ..common.progress import ProgressLike, resolve_progress
from .checkpoint import load_checkpoint, load_optimizer, optimizer_tensors, save_checkpoint, strip_prefix
from .config import SemanticConfig
from .losses import recall_at_k
from .pipeline import TokenCommModel, is_digital
from .task import TaskData, batch_encoded, batch_questions, question_prior

__all__ = ["train", "evaluate", "lr_factor", "STAGES"]

#: Stage name -> the model parts it trains.
STAGES: dict[str, tuple[str, ...]] = {
    "align": ("projections", "compressors", "receivers", "temperature"),
    "task": ("projections", "compressors", "receivers", "temperature", "head", "lora"),
}


def train(
    model: TokenCommModel,
    data: TaskData,
    cfg: SemanticConfig,
    checkpoint_dir,
    seed: int,
    fingerprint: str,
    progress: ProgressLike = False,
    on_step: Optional[Callable[[dict], None]] = None,
) -> dict[str, Any]:
    """Train (or resume, or load a finished run) into ``checkpoint_dir``; returns the history.

    ``fingerprint``: what the checkpoint was trained from (config, data,
    link); a checkpoint with another fingerprint is an error, never silently reused.
    ``progress``: one stage per training stage (``train align``, ``train task``), see
    :mod:`tokenlink.common.progress`.
    History: ``{"align": {"step": [...], "loss": [...], "accuracy": [...], "epoch": [...],
    "lr": [...], "time_s": [...]}, "task": {...}, "time_s": float}``, one entry per optimizer step
    (``lr``: the stage's first parameter group, i.e. ``lr`` after the schedule; ``time_s``: seconds of
    training, both stages and resumed runs included, when the step ended; the last ``time_s``: the
    whole training's seconds).
    """
    meta = {"fingerprint": fingerprint, "architecture": cfg.architecture(), "done": [], "history": {},
            "stage": None, "epoch": 0, "step_in_epoch": 0, "global_step": 0, "time_s": 0.0}
    found = load_checkpoint(checkpoint_dir)
    tensors: dict[str, torch.Tensor] = {}
    if found is not None:
        tensors, meta = found
        if meta.get("fingerprint") != fingerprint:
            raise ValueError(f"{checkpoint_dir}: the checkpoint was trained from another configuration; "
                             "use another semantic.checkpoint_dir or remove it")
        model.load_trainable_state(strip_prefix(tensors, "model."))
        _set_rng(tensors, _devices(model))
        if meta.get("finished"):
            model.eval()
            return {**meta["history"], "time_s": meta["time_s"]}
    t_start = time.perf_counter() - meta["time_s"]
    progress = resolve_progress(progress)

    for stage_index, (stage, parts) in enumerate(STAGES.items()):
        stage_cfg = getattr(cfg, stage)
        if stage in meta["done"]:
            continue
        n = data.train.captions.shape[0] if stage == "align" else len(data.train_split)
        if stage_cfg.epochs == 0 or n == 0:
            meta["done"].append(stage)
            continue
        optimizer = _optimizer(model, stage, parts, cfg)
        base_lr = [group["lr"] for group in optimizer.param_groups]  # before a checkpoint's scaled rates
        resuming = meta["stage"] == stage
        if resuming:
            load_optimizer(optimizer, tensors, meta["optimizer_groups"])
        else:
            meta.update(stage=stage, epoch=0, step_in_epoch=0, stage_step=0)
        history = meta["history"].setdefault(stage, {"step": [], "loss": [], "accuracy": [], "epoch": [], "lr": [],
                                                     "time_s": []})
        steps_per_epoch = math.ceil(n / stage_cfg.batch_size)
        budget = min(stage_cfg.max_steps or stage_cfg.epochs * steps_per_epoch, stage_cfg.epochs * steps_per_epoch)
        bar = progress.stage(f"train {stage}", total=budget, initial=meta["stage_step"], unit="step", leave=False)

        model.train()
        while meta["epoch"] < stage_cfg.epochs and meta["stage_step"] < budget:
            order = torch.from_numpy(np.random.default_rng([seed, stage_index, meta["epoch"]]).permutation(n))
            if meta["step_in_epoch"] == 0:  # mid-epoch resume: the checkpoint holds the quantizer
                first = order[: 4 * stage_cfg.batch_size].to(data.train.answers.device)
                _calibrate(model, data, first if stage == "align" else data.train.item_index[first])
            for step in range(meta["step_in_epoch"], steps_per_epoch):
                if meta["stage_step"] >= budget:
                    break
                index = order[step * stage_cfg.batch_size:(step + 1) * stage_cfg.batch_size].to(
                    data.train.answers.device)
                loss, accuracy = (_align_step if stage == "align" else _task_step)(model, data, index, cfg)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                factor = lr_factor(stage_cfg.schedule, stage_cfg.warmup_steps, meta["stage_step"], budget)
                for group, lr in zip(optimizer.param_groups, base_lr, strict=True):
                    group["lr"] = lr * factor
                optimizer.step()
                meta["stage_step"] += 1
                meta["global_step"] += 1
                meta["step_in_epoch"] = step + 1
                record = {"stage": stage, "step": meta["stage_step"], "epoch": meta["epoch"],
                          "loss": float(loss.detach()), "accuracy": accuracy, "lr": base_lr[0] * factor,
                          "time_s": time.perf_counter() - t_start}
                for key in ("step", "loss", "accuracy", "epoch", "lr", "time_s"):
                    history.setdefault(key, []).append(record[key] if record[key] is not None else float("nan"))
                bar.set_postfix(f"loss={record['loss']:.3f}" + (
                    f" acc={accuracy:.3f}" if accuracy is not None else ""))
                bar.update(1)
                if on_step is not None:
                    on_step(record)
                if meta["global_step"] % cfg.checkpoint_every == 0:
                    _checkpoint(checkpoint_dir, model, optimizer, meta, t_start)
            if meta["step_in_epoch"] >= steps_per_epoch:
                meta["epoch"] += 1
                meta["step_in_epoch"] = 0
        bar.close()
        meta["done"].append(stage)
        meta["stage"] = None
        _checkpoint(checkpoint_dir, model, optimizer, meta, t_start)
    model.eval()
    _calibrate(model, data)  # the quantizer a finished model is evaluated with
    meta["time_s"] = time.perf_counter() - t_start
    save_checkpoint(checkpoint_dir, {**{f"model.{k}": v for k, v in model.trainable_state().items()},
                                     **_rng_tensors(_devices(model))}, {**meta, "finished": True})
    return {**meta["history"], "time_s": meta["time_s"]}


def _checkpoint(folder, model: TokenCommModel, optimizer: torch.optim.Optimizer, meta: dict, t_start: float) -> None:
    """Weights, optimizer, random generators and ``meta`` (where training stands) into one file."""
    meta["time_s"] = time.perf_counter() - t_start
    opt_t, meta["optimizer_groups"] = optimizer_tensors(optimizer)
    state = {f"model.{k}": v for k, v in model.trainable_state().items()}
    save_checkpoint(folder, {**state, **opt_t, **_rng_tensors(_devices(model))}, meta)


# ------------------------------------------------------------------ steps
def _align_step(model: TokenCommModel, data: TaskData, items: torch.Tensor,
                cfg: SemanticConfig) -> tuple[torch.Tensor, None]:
    tokens = _through_link(model, batch_encoded(data.train, items, model.modalities), cfg)
    loss, _ = model.alignment(tokens, _targets(data, items, model), cfg.align.mse_weight)
    return loss, None


def _targets(data: TaskData, items: torch.Tensor, model: TokenCommModel) -> dict[str, torch.Tensor]:
    """modality -> [batch, d_model]: the caption embedding each modality of the training ``items`` is aligned to."""
    return {m: data.train.modality_captions[m][items] for m in model.modalities}


def _task_step(model: TokenCommModel, data: TaskData, questions: torch.Tensor,
               cfg: SemanticConfig) -> tuple[torch.Tensor, float]:
    items = data.train.item_index[questions]
    tokens = _through_link(model, batch_encoded(data.train, items, model.modalities), cfg)
    ids, mask = batch_questions(data.train, questions)
    logits = model.answer(tokens, ids, mask)
    answers = data.train.answers[questions]
    loss = torch.nn.functional.cross_entropy(logits, answers)
    if cfg.task.align_weight > 0:
        align, _ = model.alignment(tokens, _targets(data, items, model), cfg.align.mse_weight)
        loss = loss + cfg.task.align_weight * align
    accuracy = float((logits.argmax(-1) == answers).float().mean())
    return loss, accuracy


def _through_link(model: TokenCommModel, encoded: dict[str, torch.Tensor], cfg: SemanticConfig
                  ) -> dict[str, torch.Tensor]:
    """Device -> link (per-sample SNR from the link's training range; ideal when
    ``train_snr_db`` is None) -> receivers."""
    passed = model.channel(model.device_tokens(encoded), None, ideal=cfg.train_snr_db is None)
    return model.base_station(passed.received)


def _optimizer(model: TokenCommModel, stage: str, parts: tuple[str, ...], cfg: SemanticConfig
               ) -> torch.optim.Optimizer:
    stage_cfg = getattr(cfg, stage)
    others = model.parameter_groups([p for p in parts if p != "lora"])
    groups = [{"params": others, "lr": stage_cfg.lr}]
    if "lora" in parts:
        lora = model.parameter_groups(["lora"])
        if lora:
            groups.append({"params": lora, "lr": cfg.task.lora_lr})
    return torch.optim.AdamW(groups, weight_decay=getattr(stage_cfg, "weight_decay", 0.0))


def _calibrate(model: TokenCommModel, data: TaskData, items: Optional[torch.Tensor] = None) -> None:
    """Refit the model's own digital quantizer to the current device tokens (the projection moves
    during training)."""
    if model.link is not None:
        calibrate_link(model, model.link, data, items)


@torch.no_grad()
def calibrate_link(model: TokenCommModel, link, data: TaskData, items: Optional[torch.Tensor] = None) -> None:
    """Fit ``link``'s quantizer (digital links without a fixed clipping range) to the device tokens
    ``model`` sends for the training ``items`` (default: the first 256 items, as at the end of
    :func:`train`); analog links and fixed ranges are left as they are."""
    if not is_digital(link):
        return
    digital = link.config.digital
    if digital.quantizer == "scalar" and digital.clip is not None:
        return
    if items is None:
        items = torch.arange(min(256, data.train.captions.shape[0]))
    items = items.to(data.train.answers.device)
    sent = model.device_tokens(batch_encoded(data.train, items, model.modalities))
    if isinstance(link, MultiUserTokenLink):  # each device's quantizer to its own modality's tokens
        link.calibrate([sent[m] for m in model.modalities])
    else:
        link.calibrate(torch.cat([sent[m] for m in model.modalities], dim=0))


def lr_factor(schedule: str, warmup_steps: int, step: int, total: int) -> float:
    """Learning-rate multiplier of optimizer step ``step`` (0-based) of a stage of ``total`` steps.

    Linear warm-up ``(step + 1) / warmup_steps`` over the first
    ``warmup_steps`` steps, then 1 (``"constant"``) or half a cosine
    ``(1 + cos(pi * p)) / 2`` with ``p = (step - warmup_steps) / (total - warmup_steps)``
    going from 0 (factor 1) towards 1 (factor 0 after the last step).
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant" or total <= warmup_steps:
        return 1.0
    progress = min(1.0, (step - warmup_steps) / (total - warmup_steps))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


# ------------------------------------------------------------ evaluation
@torch.no_grad()
def evaluate(
    model: TokenCommModel,
    data: TaskData,
    snr_db: Union[float, Sequence[float]],
    batch_size: int = 128,
    ideal: bool = False,
    progress: ProgressLike = False,
    link: Union[TokenLink, MultiUserTokenLink, None] = None,
    shadowing_db: Optional[Callable[[int], np.ndarray]] = None,
) -> dict[str, Any]:
    """Test metrics at Es/N0 ``snr_db`` per RE [dB], fresh channel realizations, over the model's
    own link or, when given, over ``link`` (e.g. the digital link of a model trained analog).

    ``shadowing_db``: `None`, or ``n -> S [n]`` [dB], the shadowing of the next ``n``
    transmissions (e.g. :meth:`tokenlink.phy.snr.Shadowing.draw_db`): each test question's
    items go over the link at ``snr_db - S`` (one draw per question, shared by its
    modalities), then each test item of the retrieval pass at its own draw.

    Scalars: ``accuracy``, ``accuracy_<type>`` per question type, ``prior_accuracy`` (and
    ``prior_accuracy_<type>``: a blind model's, :func:`~tokenlink.semantic.task.question_prior`),
    ``recall_at_1`` / ``recall_at_5`` (mean over modalities; also per modality),
    ``nmse`` (error energy / token energy over all tokens sent), ``ber`` and
    ``ter`` (digital), ``channel_uses_per_sample``, ``questions``, ``items``.
    Arrays (one entry per test question, same transmissions):
    ``sample_correct`` [Q] uint8, ``sample_nmse`` [Q], ``sample_ber`` [Q] (digital),
    ``sample_esno_db`` [Q] (the Es/N0 each question was sent at). ``esno_db`` is ``snr_db``
    (the mean), ``esno_db_std`` the spread of the questions' Es/N0 (0 without shadowing).

    Over a :class:`~tokenlink.bridge.MultiUserTokenLink` (modality ``k`` on device ``k``),
    ``snr_db`` is one mean Es/N0 per device, ``shadowing_db(n)`` gives ``[n, num_devices]``,
    ``sample_esno_db`` is [Q, num_devices], ``esno_db`` / ``esno_db_std`` are those of the weakest
    device (lowest mean), and per device (in modality order): ``user_esno_db``,
    ``user_esno_db_drawn_std``, ``user_nmse``, ``user_channel_uses`` per sample, and (digital)
    ``user_ber``, ``user_ter``.
    """
    model.eval()
    test, split = data.test, data.test_split
    link = model.link if link is None else link
    network = isinstance(link, MultiUserTokenLink) and not ideal
    esno = np.asarray(snr_db, dtype=np.float64)
    if network and esno.shape != (len(model.modalities),):
        raise ValueError(f"snr_db: one Es/N0 per device ({len(model.modalities)}) over a network link, "
                         f"got {snr_db!r}")
    weakest = int(np.argmin(esno)) if network else None
    out: dict[str, Any] = {"esno_db": float(esno if weakest is None else esno[weakest]), "esno_db_std": 0.0}
    digital = is_digital(link) and not ideal
    shadowed = shadowing_db is not None and not ideal

    def snr_of(n: int):
        """Es/N0 [dB] of the next ``n`` transmissions: a float, or [n] with shadowing (one entry per
        device over a network link)."""
        if not network:
            return torch.as_tensor(float(esno) - shadowing_db(n)) if shadowed else float(esno)
        if not shadowed:
            return [float(e) for e in esno]
        drawn = esno[None, :] - np.asarray(shadowing_db(n)).reshape(n, len(esno))
        return [torch.as_tensor(drawn[:, k]) for k in range(len(esno))]

    uses = 0
    if data.has_questions:
        correct, s_nmse, s_ber, s_esno = [], [], [], []
        err = energy = 0.0
        token_errors = tokens_sent = 0
        num_devices = len(model.modalities)
        dev_err, dev_energy, dev_ber, dev_ter = (np.zeros(num_devices) for _ in range(4))  # sums per modality
        for start in range(0, len(split), batch_size):
            q = torch.arange(start, min(start + batch_size, len(split)), device=test.answers.device)
            items = test.item_index[q]
            sent = model.device_tokens(batch_encoded(test, items, model.modalities))
            snr = snr_of(len(q))
            if network:
                s_esno.append(np.stack([np.broadcast_to(np.asarray(v, dtype=np.float64), (len(q),)) for v in snr], 1))
            else:
                s_esno.append(np.broadcast_to(np.asarray(snr, dtype=np.float64), (len(q),)))
            passed = model.channel(sent, snr, ideal=ideal, return_metrics=True, link=link)
            uses = passed.total_channel_uses
            ids, mask = batch_questions(test, q)
            logits = model.answer(model.base_station(passed.received), ids, mask)
            correct.append((logits.argmax(-1) == test.answers[q]).cpu())
            # [modality, batch]: error and token energy of each modality's frame
            e_each = torch.stack([(passed.received[m].double() - sent[m].double()).square().sum(dim=(1, 2))
                                  for m in model.modalities])
            p_each = torch.stack([sent[m].double().square().sum(dim=(1, 2)) for m in model.modalities])
            e, p = e_each.sum(0), p_each.sum(0)
            err += float(e.sum())
            energy += float(p.sum())
            s_nmse.append((e / p).cpu())
            dev_err += e_each.sum(1).cpu().numpy()
            dev_energy += p_each.sum(1).cpu().numpy()
            if digital:
                ber_each = torch.stack([passed.metrics[m].ber.double() for m in model.modalities])
                s_ber.append(ber_each.mean(0).cpu())
                ter = torch.stack([passed.metrics[m].ter.double() for m in model.modalities])
                token_errors += float((ter * model.num_tokens).sum())
                tokens_sent += ter.numel() * model.num_tokens
                dev_ber += ber_each.sum(1).cpu().numpy()
                dev_ter += ter.sum(1).cpu().numpy()
        sample_correct = torch.cat(correct).numpy().astype(np.uint8)
        out.update(accuracy=float(sample_correct.mean()), questions=len(split),
                   sample_correct=sample_correct, sample_nmse=torch.cat(s_nmse).numpy(),
                   sample_esno_db=np.concatenate(s_esno), nmse=err / energy if energy > 0 else 0.0)
        if shadowed:
            drawn = out["sample_esno_db"] if weakest is None else out["sample_esno_db"][:, weakest]
            out["esno_db_std"] = float(drawn.std())
        if network:
            out["user_esno_db"] = esno.copy()
            out["user_esno_db_drawn_std"] = (out["sample_esno_db"].std(axis=0) if shadowed
                                             else np.zeros(len(esno)))
            out["user_nmse"] = np.divide(dev_err, dev_energy, out=np.zeros(num_devices), where=dev_energy > 0)
            out["user_channel_uses"] = np.array([passed.channel_uses[m] for m in model.modalities], dtype=np.int64)
            if digital:
                out["user_ber"] = dev_ber / len(split)
                out["user_ter"] = dev_ter / len(split)
        types = np.asarray(split.question_types)
        prior_correct = question_prior(data.train_split, split) == np.asarray(split.answers)
        out["prior_accuracy"] = float(prior_correct.mean())
        for t in sorted(set(split.question_types)):
            out[f"accuracy_{t}"] = float(sample_correct[types == t].mean())
            out[f"prior_accuracy_{t}"] = float(prior_correct[types == t].mean())
        if digital:
            out["sample_ber"] = torch.cat(s_ber).numpy()
            out["ber"] = float(out["sample_ber"].mean())
            out["ter"] = token_errors / tokens_sent
    recalls = _retrieval(model, data, snr_of, batch_size, ideal, link)
    out.update(recalls)
    out["items"] = int(test.captions.shape[0])
    if uses == 0 and not ideal and network:
        uses = sum(f["channel_uses"] for f in link.frame_sizes([(model.num_tokens, model.d_model)] * link.num_devices))
    elif uses == 0 and not ideal and link is not None:
        uses = sum(link.frame_size(model.num_tokens, model.d_model)["channel_uses"] for _ in model.modalities)
    out["channel_uses_per_sample"] = int(uses)
    return out


def _retrieval(model: TokenCommModel, data: TaskData, snr_of: Callable, batch_size: int, ideal: bool,
               link: Union[TokenLink, MultiUserTokenLink, None]) -> dict[str, float]:
    """recall@1/5 of caption retrieval from each modality's pooled received tokens (over the test items),
    among the captions that modality is aligned to (``align.target``); ``snr_of(n)``: the Es/N0 of the
    next ``n`` items."""
    test = data.test
    num_items = test.captions.shape[0]
    pooled: dict[str, list[torch.Tensor]] = {m: [] for m in model.modalities}
    for start in range(0, num_items, batch_size):
        items = torch.arange(start, min(start + batch_size, num_items), device=test.captions.device)
        passed = model.channel(model.device_tokens(batch_encoded(test, items, model.modalities)),
                               snr_of(len(items)), ideal, link=link)
        for m, v in model.pooled(model.base_station(passed.received)).items():
            pooled[m].append(v)
    result: dict[str, float] = {}
    for m in model.modalities:
        for name, value in recall_at_k(torch.cat(pooled[m]), test.modality_captions[m], ks=(1, 5)).items():
            result[f"{name.replace('@', '_at_')}_{m}"] = value
    for k in (1, 5):
        result[f"recall_at_{k}"] = float(np.mean([result[f"recall_at_{k}_{m}"] for m in model.modalities]))
    return result


# ------------------------------------------------------------ helpers
def _devices(model: TokenCommModel) -> tuple[str, ...]:
    link_device = model.link.device if model.link is not None else "cpu"
    return ("cpu",) if link_device == "cpu" else ("cpu", link_device)


def _rng_tensors(devices: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """torch's global generator and the link's generators (noise, SNR draws, bank sampling)."""
    state = {"rng.torch": torch.get_rng_state()}
    for device in devices:
        state[f"rng.sionna.{device}"] = rng_state(device)
    return state


def _set_rng(tensors: dict[str, torch.Tensor], devices: tuple[str, ...]) -> None:
    if "rng.torch" in tensors:
        torch.set_rng_state(tensors["rng.torch"])
    for device in devices:
        key = f"rng.sionna.{device}"
        if key in tensors:
            set_rng_state(tensors[key], device)

