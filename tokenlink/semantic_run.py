"""Scenario points with a ``semantic:`` section: train once, evaluate at every point.

A point's *training configuration* is everything its trained weights depend
on: the semantic section (but not its evaluation-only fields), the link
(mode, analog / digital options), the PHY without its SNR (the training SNR
is ``semantic.train_snr_db``; ``semantic.train_phy`` merged in when set), and
the training seed (``semantic.train_seed``, else ``run.seed``). Points that differ only in what
is evaluated (test Es/N0, or anything when ``semantic.checkpoint`` names a
trained model) share one trained model: :func:`ensure_trained` trains each
distinct configuration once, in its own checkpoint folder
``<checkpoint root>/<training key>/``; :func:`evaluate_point` then loads it
and evaluates the point on fresh channel realizations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from .common.digest import json_digest
from .scenario import Scenario

__all__ = ["training_key", "checkpoint_folder", "preflight", "ensure_trained", "evaluate_point", "semantic_smoke"]

#: Semantic fields that only change evaluation (not the trained weights).
EVAL_ONLY = ("test_questions", "eval_batch_size", "checkpoint", "checkpoint_dir", "checkpoint_every")

#: ``--smoke`` budgets of the semantic pipeline (seconds per training configuration).
SMOKE_SEMANTIC = {"train_questions": 64, "test_questions": 32, "eval_batch_size": 32, "channel_bank_size": 64}
SMOKE_STAGE = {"epochs": 1, "max_steps": 2, "batch_size": 16}
SMOKE_DATASETS = {"synav": {"num_train_clips": 48, "num_test_clips": 24}}


def training_config(scenario: Scenario) -> dict[str, Any]:
    """The plain data a point's trained weights depend on (see the module doc)."""
    data = scenario.to_dict()
    semantic = {k: v for k, v in data["semantic"].items() if k not in EVAL_ONLY + ("train_over_network",)}
    phy = {k: v for k, v in data["phy"].items() if k not in ("snr_db", "snr_type", "link_budget")}
    if semantic.pop("train_phy") is not None:  # trained over other PHY fields than the test point's
        phy = scenario.train_phy_config().model_dump(mode="json")
    link = {k: v for k, v in data["link"].items() if k != "tokens"}
    mode = scenario.semantic.train_link_mode
    if mode is not None:  # trained over `mode` whatever the point's link.mode: the other mode's options do not count
        other = "digital" if mode == "analog" else "analog"
        link = {k: v for k, v in link.items() if k != other}
        link["mode"] = mode
    semantic.pop("train_seed")  # its value is the key's seed: train_seed = run.seed is the same model
    if semantic["align"].get("target") == "joint":  # the default: keys as before the field existed
        semantic["align"] = {k: v for k, v in semantic["align"].items() if k != "target"}
    seed = training_seed(scenario)
    if semantic["train_channel"] == "link":  # the default: keys as before the field existed (checkpoints stay found)
        semantic.pop("train_channel")
    else:  # the public-code channel: the link (and its bank) is never seen in training
        semantic.pop("channel_bank_size")
        return {"semantic": semantic, "seed": seed}
    out = {"semantic": semantic, "phy": phy, "link": link, "seed": seed}
    if scenario.network is not None and scenario.semantic.train_over_network:
        out["network"] = network_link_part(scenario.network)
    return out


def training_seed(scenario: Scenario) -> int:
    """The seed a point's model trains with: ``semantic.train_seed``, else ``run.seed``."""
    seed = scenario.semantic.train_seed
    return scenario.run.seed if seed is None else seed


def network_link_part(network) -> dict[str, Any]:
    """What of a :class:`~tokenlink.phy.multiuser.NetworkConfig` the devices' token links depend on
    (allocations, channel models), as plain data: everything but the users' Es/N0 and link budgets,
    which only set the Es/N0 each device is evaluated at."""
    data = network.model_dump(mode="json")
    data["users"] = [{k: v for k, v in u.items() if k not in ("esno_db", "link_budget")} for u in data["users"]]
    return data


def training_key(scenario: Scenario) -> str:
    """16 hex digits naming a point's training configuration."""
    return json_digest(training_config(scenario))


def checkpoint_folder(scenario: Scenario, checkpoint_root: Path) -> Path:
    """Where a point's model is (``semantic.checkpoint``) or is trained."""
    sem = scenario.semantic
    if sem.checkpoint is not None:
        return Path(sem.checkpoint)
    root = Path(sem.checkpoint_dir) if sem.checkpoint_dir is not None else checkpoint_root
    return root / training_key(scenario)


def semantic_smoke(scenario: Scenario) -> Scenario:
    """The scenario with tiny semantic budgets (``--smoke``)."""
    sem = scenario.semantic
    update: dict[str, Any] = {k: min(v, getattr(sem, k) or v) for k, v in SMOKE_SEMANTIC.items()}
    update["encoder"] = sem.encoder.model_copy(update={"pretrain_epochs": 1})
    for stage in ("align", "task"):
        cfg = getattr(sem, stage)
        update[stage] = cfg.model_copy(update={"epochs": min(cfg.epochs, SMOKE_STAGE["epochs"]),
                                               "max_steps": SMOKE_STAGE["max_steps"],
                                               "batch_size": min(cfg.batch_size, SMOKE_STAGE["batch_size"])})
    if sem.dataset in SMOKE_DATASETS:
        update["dataset_options"] = {**sem.dataset_options, **SMOKE_DATASETS[sem.dataset]}
    return scenario.model_copy(update={"semantic": sem.model_copy(update=update)})


def preflight(scenario: Scenario) -> None:
    """Check what can only be checked against the data and the models, before
    anything is written: the data set's files, the modalities, K against the
    encoder's sequence length, the foundation model's weights. One-line
    ``ValueError`` / ``FileNotFoundError`` naming the field."""
    from tokenlink.semantic.compression import build_compressor
    from tokenlink.semantic.data import load_dataset, modality_captions
    from tokenlink.semantic.encoders import build_encoder
    from tokenlink.semantic.foundation import minilm_folder
    from tokenlink.semantic.task import select_modalities

    sem = scenario.semantic
    if sem.checkpoint is not None and not Path(sem.checkpoint).is_dir():
        raise FileNotFoundError(f"semantic.checkpoint: {sem.checkpoint} is not a folder; allowed: a checkpoint "
                                "folder written by 'tokenlink run' (<trace>_checkpoints/<key>)")
    split = load_dataset(sem.dataset, "train", sem.data_root, **sem.dataset_options)
    modalities = select_modalities(sem, split)
    if scenario.network is not None and len(scenario.network.users) != len(modalities):
        raise ValueError(f"network.users: {len(scenario.network.users)} users for the {len(modalities)} modalities "
                         f"of {sem.dataset} ({', '.join(modalities)}); allowed: one user per modality, in order "
                         "(or name them in semantic.modalities)")
    if sem.align.target == "per_modality":
        modality_captions(split, modalities)  # one line when the data set has no caption per modality
    for m in modalities:
        shape = tuple(split.media[m].shape[1:])
        encoder = build_encoder(split.media_kind[m], shape, width=sem.encoder.width,
                                sample_rate_hz=split.sample_rate_hz)
        build_compressor(sem.compression, encoder.sequence_length(shape), sem.num_tokens, 8)
    minilm_folder()


# ------------------------------------------------------------ the model
_CACHE: dict[str, tuple] = {}


def _build(scenario: Scenario, device: str, progress: bool):
    """(model, data) of a point's training configuration, built after seeding
    (so initial weights and the channel bank follow the seed); the last one is kept."""
    from tokenlink.bridge import EmbeddingAWGN, MultiUserTokenLink, TokenLink
    from tokenlink.phy import set_seed
    from tokenlink.semantic.foundation import FoundationModel
    from tokenlink.semantic.pipeline import TokenCommModel
    from tokenlink.semantic.task import prepare_task

    key = f"{training_key(scenario)}:{scenario.semantic.test_questions}:{scenario.run.seed}:{device}"
    if key in _CACHE:
        return _CACHE[key]
    _CACHE.clear()
    sem = scenario.semantic
    seed = training_seed(scenario)
    set_seed(seed)
    lora = sem.lora
    foundation = FoundationModel(lora_rank=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                 lora_targets=tuple(lora.targets), max_question_tokens=sem.max_question_tokens,
                                 device=device)
    data = prepare_task(sem, foundation, seed=seed, device=device, progress=progress,
                        test_seed=scenario.run.seed)  # every training seed: the same test questions
    link_cfg = training_link_config(scenario).model_copy(update={
        "train_snr_db_range": sem.train_snr_range(),
        "train_channel_bank_size": sem.channel_bank_size,
    })
    set_seed(seed)
    if sem.train_channel == "embedding_awgn":
        link = EmbeddingAWGN(sem.train_snr_range(), device=device)
    elif scenario.network is not None and sem.train_over_network:
        link = MultiUserTokenLink(link_cfg, scenario.network, device=device)
    else:
        link = TokenLink(link_cfg, device=device)
    model = TokenCommModel(data.sequence_shapes, foundation, num_answers=len(data.answer_vocab),
                           num_tokens=sem.num_tokens, compression=sem.compression, link=link,
                           temperature=sem.align.temperature,
                           learnable_temperature=sem.align.learnable_temperature,
                           input_scale=sem.input_scale).to(device)
    if sem.train_snr_db is not None and not isinstance(link, EmbeddingAWGN):
        link.train()
        link.channel_bank()  # drawn now, from the seed: the same bank in a fresh and a resumed run
    _CACHE[key] = (model, data)
    return model, data


def training_link_config(scenario: Scenario):
    """The :class:`~tokenlink.bridge.TokenLinkConfig` a point's model trains over: the point's own,
    in ``semantic.train_link_mode`` when that is set."""
    cfg = scenario.token_link_config()
    if scenario.semantic.train_phy is not None:
        cfg = cfg.model_copy(update={"phy": scenario.train_phy_config()})
    mode = scenario.semantic.train_link_mode
    return cfg if mode is None else cfg.model_copy(update={"mode": mode})


def _evaluation_link(scenario: Scenario, model, data, device: str):
    """The link a point is evaluated over: the model's own (`None`) when the point's link is the one it
    was trained with, else a link of the point's configuration whose quantizer (digital) is fitted to the
    device tokens of the training items, as at the end of training."""
    from tokenlink.bridge import MultiUserTokenLink, TokenLink
    from tokenlink.semantic.train import calibrate_link

    wanted = scenario.token_link_config()
    have = model.link.config if isinstance(model.link, (TokenLink, MultiUserTokenLink)) else None
    fields = ("mode", "phy", "analog", "digital", "max_slots_per_frame")
    network = scenario.network
    same_network = (network is None if not isinstance(model.link, MultiUserTokenLink) else
                    network is not None and network_link_part(model.link.network) == network_link_part(network))
    if have is not None and same_network and all(getattr(have, f) == getattr(wanted, f) for f in fields):
        return None
    if network is not None:
        link = MultiUserTokenLink(wanted, network, device=device).eval()
    else:
        link = TokenLink(wanted, device=device).eval()
    calibrate_link(model, link, data)
    return link


def ensure_trained(scenario: Scenario, checkpoint_root: Path, device: str, progress: bool = False
                   ) -> dict[str, Any]:
    """Train the point's model unless its checkpoint is finished; returns the training history."""
    from tokenlink.semantic.checkpoint import load_checkpoint
    from tokenlink.semantic.train import train

    folder = checkpoint_folder(scenario, checkpoint_root)
    sem = scenario.semantic
    if sem.checkpoint is not None:
        found = load_checkpoint(folder)
        if found is None:
            raise FileNotFoundError(f"semantic.checkpoint: no checkpoint in {folder} "
                                    "(expected checkpoint.safetensors written by 'tokenlink run')")
        meta = found[1]
        _check_architecture(meta, sem, folder)
        if not meta.get("finished"):
            raise ValueError(f"semantic.checkpoint: {folder} is an unfinished training run; "
                             "finish it with 'tokenlink run ... --resume' first")
        return {**meta["history"], "time_s": meta.get("time_s", 0.0)}
    model, data = _build(scenario, device, progress)
    return train(model, data, sem, folder, seed=training_seed(scenario), fingerprint=training_key(scenario),
                 progress=progress)


def evaluate_point(scenario: Scenario, checkpoint_root: Path, device: str, seed: int,
                   progress: bool = False, shadowing=None, shadowing_seed: int = 0
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metrics, raw) of one point: the trained model at the point's Es/N0, fresh realizations;
    with ``shadowing`` (a :class:`~tokenlink.phy.snr.Shadowing`), each test question's
    transmission at the point's mean Es/N0 minus its own draw.

    With a ``network``, device ``k`` (modality ``k``) is evaluated at its own mean Es/N0 (its
    ``esno_db``, its link budget over its own bandwidth, else the point's) and, with shadowing,
    its own draw per question from stream ``[shadowing_seed, k]``; see :func:`network_metrics`."""
    from tokenlink.phy import set_seed
    from tokenlink.semantic.checkpoint import load_checkpoint, strip_prefix
    from tokenlink.semantic.train import evaluate

    folder = checkpoint_folder(scenario, checkpoint_root)
    found = load_checkpoint(folder)
    if found is None or not found[1].get("finished"):
        raise RuntimeError(f"{folder}: no finished checkpoint; train it first (tokenlink.semantic_run.ensure_trained)")
    tensors, meta = found
    sem = scenario.semantic
    _check_architecture(meta, sem, folder)
    model, data = _build(scenario, device, progress)
    model.load_trainable_state(strip_prefix(tensors, "model."))
    model.eval()
    link = _evaluation_link(scenario, model, data, device)
    set_seed(seed)
    if scenario.network is not None:
        link = model.link if link is None else link
        std = shadowing.std_db if shadowing is not None else 0.0
        esno, draw = _devices_esno(scenario, link, std, shadowing_seed)
    else:
        esno = scenario.esno_db()
        draw = shadowing.draw_db if shadowing is not None and shadowing.std_db > 0 else None
    metrics = evaluate(model, data, esno, batch_size=sem.eval_batch_size, link=link, shadowing_db=draw)
    if scenario.network is not None:
        metrics.update(network_metrics(link, metrics, model.num_tokens, model.d_model))
    metrics["trained_steps"] = int(meta.get("global_step", 0))
    metrics["train_time_s"] = float(meta.get("time_s", 0.0))
    for stage, hist in meta.get("history", {}).items():  # training curves, one value per optimizer step
        for name in ("loss", "accuracy", "lr", "time_s"):  # time_s: seconds of training at each step's end
            values = np.asarray(hist.get(name, []), dtype=np.float64)
            if values.size and not np.isnan(values).all():
                metrics[f"train_{stage}_{name}"] = values
    return metrics, {}


def _devices_esno(scenario: Scenario, link, default_std_db: float, seed: int):
    """Each device's mean Es/N0 [dB] over the network link, and the draw of ``n`` questions'
    shadowing ``n -> [n, num_devices]`` (`None` without shadowing)."""
    from tokenlink.phy.multiuser import users_link_budgets, users_mean_esno_db, users_shadowing_std_db
    from tokenlink.phy.snr import Shadowing

    users = scenario.network.users
    budgets = users_link_budgets(users, link.occupied_bandwidth_hz())  # the point's users, not the link's
    esno = users_mean_esno_db(users, budgets, scenario.esno_db())
    stds = users_shadowing_std_db(users, budgets, default_std_db)
    if not any(std > 0 for std in stds):
        return esno, None
    shadows = [Shadowing(std, [seed, k]) for k, std in enumerate(stds)]
    return esno, lambda n: np.stack([sh.draw_db(n) for sh in shadows], axis=1)


def network_metrics(link, metrics: dict[str, Any], num_tokens: int, dim: int) -> dict[str, Any]:
    """Per-device resources of a network point (device order = modality order): resource blocks,
    bandwidth, data REs per slot, slots and airtime of one frame (the frame's ``airtime_s`` is the
    largest device's), and for digital tokens each device's bits per frame and the network summary
    of :func:`~tokenlink.phy.multiuser.network_summary` (hard-decision throughput while it sends,
    ``sum_rate_bps``, ``jain_fairness``, ``worst_user``)."""
    from tokenlink.phy.multiuser import network_summary

    frames = link.frame_sizes([(num_tokens, dim)] * link.num_devices)
    slot_s = link.devices[0].link.metadata["grid"]["slot_duration_s"]
    slots = np.array([f["num_slots"] for f in frames], dtype=np.int64)
    out: dict[str, Any] = {
        "user_resource_blocks": np.array([len(a.resource_blocks) for a in link.allocations], dtype=np.int64),
        "user_bandwidth_hz": np.array(link.occupied_bandwidth_hz()),
        "user_data_res_per_slot": np.array([d.link.num_data_symbols for d in link.devices], dtype=np.int64),
        "user_slots": slots,
        "user_airtime_s": slots * slot_s,
        "airtime_s": float(slots.max() * slot_s),
    }
    if "user_ber" in metrics:
        out["user_bits"] = np.array([f["num_bits"] for f in frames], dtype=np.int64)
        summary = network_summary([d.link.num_bits_per_slot for d in link.devices], metrics["user_ber"], slot_s)
        out.update(user_throughput_bps=np.array(summary.throughput_bps), sum_rate_bps=summary.sum_rate_bps,
                   jain_fairness=summary.jain_fairness, worst_user=summary.worst_user,
                   worst_ber=summary.worst_ber)
    return out


def _check_architecture(meta: dict, sem, folder: Path) -> None:
    """A checkpoint's weights fit only a model of the same architecture (one-line error otherwise)."""
    if meta.get("architecture") != sem.architecture():
        raise ValueError(f"semantic.checkpoint: {folder} holds a model of another architecture "
                         f"({meta.get('architecture')}); allowed: a checkpoint with {sem.architecture()}")


def distinct_trainings(points, checkpoint_root: Path) -> list:
    """One point per distinct checkpoint folder among ``points`` (in order)."""
    seen: set[Path] = set()
    first = []
    for point in points:
        folder = checkpoint_folder(point.scenario, checkpoint_root)
        if folder not in seen:
            seen.add(folder)
            first.append(point)
    return first


def checkpoint_root_for(trace_path: Path, override: Optional[str] = None) -> Path:
    """``<trace without .h5>_checkpoints`` (or the override)."""
    return Path(override) if override else trace_path.with_name(trace_path.stem + "_checkpoints")
