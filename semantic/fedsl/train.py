"""The federated split learning loop, readable top to bottom.

:func:`train` runs ``cfg.rounds`` rounds of :class:`~.config.FedSLConfig`::

    data      train / test ImageSets, train split over clients (partition)
    models    one VGG initialisation; every client a copy of its first cut_layer conv
              layers (fedavg: of the whole VGG), the server the rest
    round r   sample the round's clients; prune each one's model (rate of round r);
              each runs its local steps: SplitStep (client -> uplink -> server ->
              quantized gradient -> client), both optimizers step;
              parallel schedule: server copies averaged at the end of the round;
              after every I rounds: FedAvg of the client models that trained since the
              last aggregation, loaded by every client (each re-applies its own mask)
    evaluate  the sample-weighted average of the client models (masks honoured) +
              the server model, on the test set, through the evaluation uplink
              (no dropout) and, over a link, also ideally; on copies whose BatchNorm
              statistics are first re-estimated on training images sent the same way
    record    one entry per round in the history (loss, accuracy, traffic, FLOPs,
              memory, latency, convergence-bound quantities)
    checkpoint every round: safetensors tensors + JSON metadata (semantic.checkpoint)

Randomness: weights from ``torch.manual_seed(seed)``; client sampling and batch order
from numpy generators keyed by (seed, round, client), so they need no state; dropout
masks and stochastic rounding from one torch generator, the link's draws from the
bridge's generator, both saved with every checkpoint. A run stopped after round r
(``max_rounds``) and resumed equals an uninterrupted one.

Accounting conventions (:mod:`~.accounting`): per round, sums over the round's
clients and steps. ``uplink_bits``: activation payload (ideal link:
``uplink_bits_per_value`` per value sent; digital link: its bits; NaN on an analog
link, which sends values, not bits). ``model_uplink_bits`` / ``model_downlink_bits``:
FedAvg's model exchange at aggregation rounds, 32 bits per client-side parameter
(filter-pruned clients upload only what they hold: 32 bits per kept entry).
``uplink_airtime_s``: the link's slots, or (ideal link) ``uplink_bits /
ideal_uplink_rate_bps``; model uploads add ``model_uplink_bits / ideal_uplink_rate_bps``.
``latency_s``: per client, compute (FLOPs / ``client_flops_per_s``) + uplink
airtime + downlink time (``downlink: link``: its airtime; ideal: ``downlink_rate_bps``, if
set) + its model upload; a sequential round sums its clients, a parallel round takes the
slowest. ``downlink_channel_uses`` / ``downlink_airtime_s`` / ``downlink_ber``: the gradient
over the link (:mod:`~.downlink`; NaN on an ideal downlink). ``update_bits`` < 32: model
uploads are quantized updates (:class:`~.aggregation.QuantizedUpdates`).

Uplink with a ``network`` (OFDMA, one user per client): client ``k`` sends through device
``k`` of a bridge ``MultiUserTokenLink``: its own resource blocks of the one shared grid, its
own channel, its own Es/N0 per RE (``client_esno_db`` if given, else the user's ``esno_db`` or
its link budget over its own bandwidth, with that budget's per-frame shadowing drawn from a
stream keyed by (seed, round, client)). Fewer resource blocks mean more slots per frame, so
more airtime per step (the device link's ``ResourceUsage``). The clients transmit on disjoint
REs at once: a parallel round's ``uplink_airtime_s`` is the longest client's airtime (the
max over clients of its steps' sum; a sequential round still sums them, and without a
network, where every client has a whole grid of its own, the sum over clients is kept).
With ``downlink: link`` over a network, client ``k``'s gradient comes back over device ``k``'s
link (its resource blocks and Es/N0; no shadowing draw). Evaluation over a network: test
image ``i`` (and BatchNorm calibration image ``i``) is sent by client ``i mod N`` over its own
link at its own Es/N0.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from ...common.digest import json_digest
from ..checkpoint import load_checkpoint, load_optimizer, optimizer_tensors, save_checkpoint, strip_prefix
from .aggregation import FedAvg, QuantizedUpdates
from .config import FedSLConfig, fedsl_config
from .data import ImageSet, load_image_dataset
from .downlink import ClientDownlink, link_gradient_bits
from .dropout import SplitDropout
from .evaluation import evaluate, recalibrate_batch_norm
from .models import VGG, ForwardMeter
from .partition import partition_samples
from .prune import FilterPruner, MagnitudePruner, PruningMask, PruningSchedule
from .quantize import GradientQuantizer
from .round_totals import RoundTotals
from .split import SplitStep
from .uplink import ClientUplink

__all__ = ["train", "evaluate", "recalibrate_batch_norm", "load_data", "fingerprint", "HISTORY_KEYS",
           "ClientUplink"]

#: Per-round entries of the history (one value per round).
HISTORY_KEYS = (
    "round", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "test_accuracy_ideal",
    "test_loss_ideal", "uplink_values", "uplink_bits", "uplink_channel_uses", "uplink_airtime_s",
    "downlink_bits", "downlink_channel_uses", "downlink_airtime_s", "downlink_ber", "model_uplink_bits",
    "model_downlink_bits", "client_flops", "client_flops_dense", "client_activation_bytes", "latency_s",
    "prune_rate", "grad_sq_norm", "quantization_variance", "dropout_variance", "channel_nmse", "aggregated",
    "clients", "time_s",
)


# ------------------------------------------------------------------- data
def load_data(cfg: FedSLConfig, seed: int) -> tuple[ImageSet, ImageSet]:
    """(train, test) of ``cfg.dataset``, random subsets of ``train_samples`` / ``test_samples``."""
    return (load_image_dataset(cfg.dataset, "train", cfg.data_root, cfg.train_samples, (seed, 3)),
            load_image_dataset(cfg.dataset, "test", cfg.data_root, cfg.test_samples, (seed, 4)))


def fingerprint(cfg: FedSLConfig, train_set: ImageSet, test_set: ImageSet, seed: int,
                link_config: Any = None, client_esno_db: Optional[Sequence[float]] = None,
                network: Any = None, client_shadowing_std_db: Optional[Sequence[float]] = None) -> str:
    """16 hex digits naming what a run's checkpoint depends on (config, data, link, network, seed).
    Without a ``network`` the digest is the one it was before networks existed."""
    config = cfg.fingerprint_data(exclude=("eval_batch_size", "checkpoint_dir", "device", "seed"))
    data = {
        "fedsl": config, "seed": seed,
        "data": [train_set.name, len(train_set), int(train_set.labels.sum()), len(test_set)],
        "link": None if link_config is None else link_config.model_dump(mode="json"),
        "client_esno_db": None if client_esno_db is None else [float(v) for v in client_esno_db],
    }
    if network is not None:
        data["network"] = network.model_dump(mode="json") if hasattr(network, "model_dump") else network
        data["client_shadowing_std_db"] = (None if client_shadowing_std_db is None
                                           else [float(v) for v in client_shadowing_std_db])
    return json_digest(data)


# ------------------------------------------------------------ the clients
@dataclass
class Client:
    index: int
    data: ImageSet
    model: nn.Module
    """Full-shape client-side model (fedavg: the whole VGG)."""
    optimizer: torch.optim.Optimizer
    mask: Optional[PruningMask] = None
    hook: Any = None
    prune_rate: float = 0.0

    @property
    def num_samples(self) -> int:
        return len(self.data)


def _optimizer(parameters, cfg: FedSLConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(parameters, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def _set_mask(client: Client, mask: Optional[PruningMask]) -> None:
    """Make ``mask`` the client's mask: applied now and after every optimizer step."""
    if client.hook is not None:
        client.hook.remove()
        client.hook = None
    client.mask = mask
    if mask is not None:
        mask.apply(client.model)
        client.hook = mask.attach(client.optimizer, client.model)


def _batches(num_samples: int, batch_size: int, steps: int, key: list[int]):
    """``steps`` index batches: epochs of random permutations (one per (key, epoch)), in order."""
    per_epoch = math.ceil(num_samples / batch_size)
    for step in range(steps):
        epoch, k = divmod(step, per_epoch)
        order = np.random.default_rng(key + [epoch]).permutation(num_samples)
        yield torch.from_numpy(order[k * batch_size:(k + 1) * batch_size])


# ------------------------------------------------------------- averaging
def _average_states(states: Sequence[dict], weights: Sequence[float]) -> dict:
    """Weighted mean of state dicts (integer tensors: the largest value, as FedAvg)."""
    return FedAvg(1)(states, [int(w) for w in weights])


def _average_optimizer_states(states: Sequence[dict], weights: Sequence[float]) -> dict:
    """Weighted mean of optimizer ``state_dict()`` s with the same layout (momentum, Adam moments)."""
    total = float(sum(weights))
    out = copy.deepcopy(states[0])
    for index, entry in out["state"].items():
        for name, value in entry.items():
            if torch.is_tensor(value) and value.is_floating_point() and value.dim() > 0:
                entry[name] = sum(w / total * s["state"][index][name].double() for s, w in zip(states, weights)
                                  ).to(value.dtype)
    return out


# ---------------------------------------------------------------- training
def train(cfg: Union[FedSLConfig, dict], checkpoint_dir: Union[str, Path, None] = None,
          data: Optional[tuple[ImageSet, ImageSet]] = None, link_config: Any = None,
          client_esno_db: Optional[Sequence[float]] = None, max_rounds: Optional[int] = None,
          on_round: Optional[Callable[[dict], None]] = None, network: Any = None,
          client_shadowing_std_db: Optional[Sequence[float]] = None) -> dict[str, Any]:
    """Train (or resume, or read a finished run from) ``checkpoint_dir``; returns the history.

    :param cfg: :class:`~.config.FedSLConfig` or its fields
    :param checkpoint_dir: folder of the run's checkpoint (`None`: no checkpoints)
    :param data: ``(train, test)`` ImageSets (`None`: :func:`load_data`)
    :param link_config: a bridge ``TokenLinkConfig`` for ``uplink`` / ``downlink: link`` (`None`: its defaults);
        its ``snr_db`` is the evaluation Es/N0 and every client's unless ``client_esno_db``
    :param client_esno_db: Es/N0 per RE [dB] of each client's uplink (overrides ``cfg.client_esno_db``)
    :param max_rounds: stop after this many rounds in all (an interruption; resume later)
    :param on_round: called with each round's record
    :param network: an OFDMA ``NetworkConfig`` (or its fields) with one user per client (`None`: every
        client has a whole grid of its own): client ``k`` sends over device ``k`` of a bridge
        ``MultiUserTokenLink`` (module doc), at ``client_esno_db`` if given, else its user's Es/N0
        (``esno_db``, or its link budget over its own bandwidth; ``link_config.snr_db`` for a user
        with neither)
    :param client_shadowing_std_db: with a network, each client's per-frame shadowing [dB] (`None`: its
        user's link budget's, none where ``client_esno_db`` is given)
    :output: ``{key: [one value per round] for key in HISTORY_KEYS}`` plus ``"finished"``,
        ``"time_s"`` (seconds of training in all) and ``"num_client_parameters"``
    """
    cfg = fedsl_config(cfg)
    seed = 0 if cfg.seed is None else cfg.seed
    comp = cfg.compression()
    train_set, test_set = data if data is not None else load_data(cfg, seed)
    device = _device(cfg.device)

    # ---- uplink: one TokenLink, each client at its own Es/N0, or (network) one OFDMA device per client
    # (bridge/ is the only way to the channel)
    link = None
    if network is not None and cfg.is_split and cfg.uplink != "link":
        raise ValueError(f"fedsl.uplink: {cfg.uplink!r} sends nothing over the network; allowed: 'link' with a "
                         "network")
    if cfg.is_split and "link" in (cfg.uplink, cfg.downlink):
        from ...bridge import MultiUserTokenLink, TokenLink
        from ...bridge.config import TokenLinkConfig
        from ...bridge.runtime import set_rng_state

        link_config = TokenLinkConfig() if link_config is None else link_config
        if network is not None:
            link = MultiUserTokenLink(link_config, network, device=device).eval()
            if link.num_devices != cfg.num_clients:
                raise ValueError(f"network.users: {link.num_devices} users for {cfg.num_clients} clients; "
                                 "allowed: one user per client (fedsl.num_clients), in client order")
        else:
            link = TokenLink(link_config, device=device).eval()
        generator = torch.Generator()
        generator.manual_seed(seed)
        set_rng_state(generator.get_state(), "cpu")  # the link's draws follow the seed (CPU generator)
    networked = network is not None and link is not None
    esno = client_esno_db if client_esno_db is not None else cfg.client_esno_db
    if link is not None and esno is not None and len(esno) != cfg.num_clients:
        raise ValueError(f"fedsl.client_esno_db: {len(esno)} values for {cfg.num_clients} clients; "
                         "allowed: one per client")
    shadowing = None
    if networked:
        if client_shadowing_std_db is not None:
            shadowing = [float(v) for v in client_shadowing_std_db]
        else:
            shadowing = [0.0] * cfg.num_clients if esno is not None else link.shadowing_std_db()
        if esno is None:
            esno = link.mean_esno_db(link.config.snr_db)
        if len(shadowing) != cfg.num_clients:
            raise ValueError(f"client_shadowing_std_db: {len(shadowing)} values for {cfg.num_clients} clients; "
                             "allowed: one per client")
    uplinks = [None] * cfg.num_clients
    eval_uplink = None
    if networked:  # client k: device k of the shared grid; test image i goes over client i mod N
        uplinks = [ClientUplink(link.devices[k], esno[k], shadowing[k]) for k in range(cfg.num_clients)]
        eval_uplink = [ClientUplink(link.devices[k], esno[k], shadowing[k]) for k in range(cfg.num_clients)]
    elif link is not None and cfg.uplink == "link":
        uplinks = [ClientUplink(link, link.config.snr_db if esno is None else esno[k]) for k in range(cfg.num_clients)]
        eval_uplink = ClientUplink(link, link.config.snr_db)
    downlinks = [None] * cfg.num_clients  # fedsl.downlink: link, the gradient's codes over each client's link
    if link is not None and cfg.downlink == "link":
        downlinks = [ClientDownlink(link.devices[k] if networked else link,
                                    link.config.snr_db if esno is None else esno[k])
                     for k in range(cfg.num_clients)]

    # ---- data over clients
    parts = partition_samples(train_set.labels.numpy(), cfg.num_clients, cfg.partition, cfg.dirichlet_alpha,
                              cfg.shards_per_client, seed)
    num_classes = len(train_set.class_names)
    # the training images BatchNorm is recalibrated on before every evaluation: a fixed subset,
    # from a generator of its own (the training streams are not touched)
    calibration = None
    if cfg.bn_recalibration_samples:
        chosen = np.random.default_rng([seed, 5]).choice(len(train_set), min(cfg.bn_recalibration_samples,
                                                                             len(train_set)), replace=False)
        calibration = train_set.images[torch.from_numpy(np.sort(chosen))]

    # ---- models: one initialisation, every client a copy of the client side
    torch.manual_seed(seed)
    template = VGG(cfg.model, num_classes=num_classes, width=cfg.width).to(device)
    if cfg.is_split:
        template.check_cut(cfg.cut_layer)
        client_side: nn.Module = template.client_model(cfg.cut_layer)
        server: Optional[nn.Module] = copy.deepcopy(template.server_model(cfg.cut_layer))
        server_opt = _optimizer(server.parameters(), cfg)
    else:
        client_side, server, server_opt = template, None, None
    clients = []
    for k, part in enumerate(parts):
        model = copy.deepcopy(client_side)
        clients.append(Client(k, train_set.subset(part), model, _optimizer(model.parameters(), cfg)))
    pruning = comp["pruning"]
    schedule = PruningSchedule(pruning.rate, pruning.schedule, pruning.ramp_rounds, pruning.start_round,
                               pruning.initial_rate, structured=pruning.kind == "filter")
    fedavg = FedAvg(cfg.interval_rounds)
    gradient_bits = link_gradient_bits(comp["gradient_bits"]) if downlinks[0] is not None else comp["gradient_bits"]
    step_fn = SplitStep(dropout=SplitDropout(comp["drop_rate"], seed=seed) if comp["drop_rate"] > 0 else None,
                        quantizer=(GradientQuantizer(gradient_bits, cfg.stochastic_rounding, seed=seed)
                                   if gradient_bits < 32 else None),
                        token_layout=cfg.token_layout, uplink_bits_per_value=cfg.uplink_bits_per_value)
    draws = torch.Generator()  # dropout masks and stochastic rounding (passed to every step)
    draws.manual_seed(seed + 1)
    link_device = link.device if link is not None else None
    updates = None  # fedsl.update_bits < 32: quantized model updates against the last global model
    if comp["update_bits"] < 32:
        updates = QuantizedUpdates(comp["update_bits"], cfg.stochastic_rounding, client_side.state_dict())

    # ---- resume
    key = fingerprint(cfg, train_set, test_set, seed, link_config if link is not None else None, esno,
                      link.network if networked else None, shadowing)
    meta: dict[str, Any] = {"fingerprint": key, "round": 0, "history": {k: [] for k in HISTORY_KEYS},
                            "pending": [], "time_s": 0.0, "finished": False}
    found = load_checkpoint(checkpoint_dir) if checkpoint_dir is not None else None
    if found is not None:
        tensors, meta = found
        if meta.get("fingerprint") != key:
            raise ValueError(f"{checkpoint_dir}: the checkpoint was trained from another configuration; "
                             "use another fedsl.checkpoint_dir or remove it")
        _restore(tensors, meta, clients, server, server_opt, draws, link_device,
                 attach_masks=pruning.kind == "magnitude")
        for name in HISTORY_KEYS:  # a run checkpointed before a key existed: NaN for its rounds
            meta["history"].setdefault(name, [math.nan] * meta["round"])
        if updates is not None:
            updates.reference = strip_prefix(tensors, "global.")
    t_start = time.perf_counter() - meta["time_s"]
    last = cfg.rounds if max_rounds is None else min(cfg.rounds, max_rounds)

    # ---- rounds
    for r in range(meta["round"], last):
        participants = _sample_clients(cfg, seed, r)
        server_start = None
        if cfg.is_split and cfg.schedule == "parallel":
            server_start = (copy.deepcopy(server.state_dict()), copy.deepcopy(server_opt.state_dict()))
            server_states, server_opt_states = [], []
        totals = RoundTotals()
        client_latency = []
        for k in participants:
            client = clients[k]
            if networked:
                uplinks[k].start([seed, r, 6, k])  # its shadowing stream of this round
            # dynamic pruning: this round's rate (at least what the client's compute budget needs)
            rate = schedule(r, cfg.client_budget(k)) if pruning.kind != "none" else 0.0
            client.prune_rate = rate
            model, optimizer, filtered = client.model, client.optimizer, None
            if pruning.kind == "magnitude":
                _set_mask(client, MagnitudePruner(rate, pruning.scope)(client.model))
            elif pruning.kind == "filter":
                filtered = FilterPruner(rate)(client.model)
                model = filtered.model
                optimizer = _optimizer(model.parameters(), cfg)  # shapes change: state restarts each round
            if server_start is not None:
                server_k = copy.deepcopy(server)
                server_k.load_state_dict(server_start[0])
                server_opt_k = _optimizer(server_k.parameters(), cfg)
                server_opt_k.load_state_dict(server_start[1])
            else:
                server_k, server_opt_k = server, server_opt

            steps = cfg.local_steps or cfg.local_epochs * math.ceil(client.num_samples / cfg.batch_size)
            model.train()
            if server_k is not None:
                server_k.train()
            seconds = 0.0
            for index in _batches(client.num_samples, cfg.batch_size, steps, [seed, r, 2, k]):
                x = client.data.images[index].to(device)
                y = client.data.labels[index].to(device)
                optimizer.zero_grad(set_to_none=True)
                if server_k is not None:
                    server_opt_k.zero_grad(set_to_none=True)
                    out = step_fn(model, server_k, x, y, channel=uplinks[k], generator=draws, round_index=r,
                                  client_id=k, downlink=downlinks[k])
                    server_opt_k.step()
                else:
                    out = _local_step(model, x, y)
                optimizer.step()
                seconds += totals.add(out, cfg)

            if filtered is not None:  # back to the full shape, kept entries marked for FedAvg
                state, mask = FilterPruner.expand(filtered, client.model)
                client.model.load_state_dict(state)
                client.mask = mask
            if server_start is not None:
                server_states.append(copy.deepcopy(server_k.state_dict()))
                server_opt_states.append(copy.deepcopy(server_opt_k.state_dict()))
            client_latency.append(seconds)
            if k not in meta["pending"]:
                meta["pending"].append(k)

        if server_start is not None:  # SplitFed: the server copies averaged by the clients' samples
            weights = [clients[k].num_samples for k in participants]
            server.load_state_dict(_average_states(server_states, weights))
            server_opt.load_state_dict(_average_optimizer_states(server_opt_states, weights))

        aggregated = fedavg.should_aggregate(r)
        upload_s = 0.0
        if aggregated:  # FedAvg of the clients that trained since the last aggregation; everyone loads it
            pending = sorted(meta["pending"])
            if updates is None:
                up = [_model_bits(clients[k]) for k in pending]
                state = _global_state(clients, pending)
            else:  # quantized updates: the server rebuilds each model from the last global one
                chosen = [clients[k] for k in pending]
                states, up = updates.reconstruct([c.model.state_dict() for c in chosen], [c.mask for c in chosen],
                                                 [n for n, _ in chosen[0].model.named_parameters()], draws)
                state = _global_state(clients, pending, states)
                updates.reference = {name: v.detach().clone() for name, v in state.items()}
            totals.model_uplink_bits += sum(up)
            totals.model_downlink_bits += _model_bits(clients[0], full=True) * cfg.num_clients
            for client in clients:
                client.model.load_state_dict(state)
                if client.mask is not None:
                    client.mask.apply(client.model)
            meta["pending"] = []
            upload_s = max(up) / cfg.ideal_uplink_rate_bps if cfg.schedule == "parallel" or not cfg.is_split \
                else sum(up) / cfg.ideal_uplink_rate_bps

        # evaluation: averaged client model (not loaded into the clients) + server
        if networked:
            for k, uplink in enumerate(eval_uplink):
                uplink.start([seed, 7, k])  # every evaluation: the same shadowing draws
        test = evaluate(_global_model(clients, client_side), server, test_set, eval_uplink, cfg.eval_batch_size,
                        cfg.token_layout, device, calibration)
        record = totals.record(cfg, r, client_latency, upload_s, shared_grid=networked)
        record.update(test_loss=test["loss"], test_accuracy=test["accuracy"],
                      test_loss_ideal=test.get("loss_ideal", test["loss"]),
                      test_accuracy_ideal=test.get("accuracy_ideal", test["accuracy"]),
                      aggregated=float(aggregated), clients=float(len(participants)),
                      prune_rate=float(np.mean([clients[k].prune_rate for k in participants])),
                      time_s=time.perf_counter() - t_start)
        for name in HISTORY_KEYS:
            meta["history"][name].append(float(record[name]))
        meta["round"] = r + 1
        meta["time_s"] = record["time_s"]
        meta["finished"] = meta["round"] >= cfg.rounds
        if checkpoint_dir is not None:
            _checkpoint(checkpoint_dir, meta, clients, server, server_opt, draws, link_device,
                        {} if updates is None else {f"global.{n}": v for n, v in updates.reference.items()})
        if on_round is not None:
            on_round(record)
    num_parameters = sum(p.numel() for p in clients[0].model.parameters())
    return {**meta["history"], "finished": bool(meta["finished"]), "time_s": float(meta["time_s"]),
            "num_client_parameters": int(num_parameters)}


def _local_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    """FedAvg baseline: one local step of the whole model (no uplink); returns what SplitStep
    returns, with the costs of the local computation only."""
    from .accounting import ClientCost
    from .split import SplitStepOutput

    with ForwardMeter(model) as meter:
        logits = model(x)
    loss = nn.functional.cross_entropy(logits, y)
    loss.backward()
    dense, nonzero = meter.flops
    batch = x.shape[0]
    cost = ClientCost(round_index=0, client_id=0, num_samples=batch, uplink_values=0, uplink_padded_values=0,
                      uplink_bits=0, uplink_channel_uses=0, uplink_airtime_s=0.0, downlink_values=0,
                      downlink_bits=0, client_flops_forward=batch * nonzero, client_flops_forward_dense=batch * dense,
                      client_activation_bytes=meter.activation_bytes)
    accuracy = float((logits.argmax(1) == y).double().mean())
    return SplitStepOutput(float(loss.detach()), accuracy, cost, 0.0, 0.0)


def _sample_clients(cfg: FedSLConfig, seed: int, r: int) -> list[int]:
    """The clients of round ``r``, in the order they train (a function of (seed, r))."""
    order = np.random.default_rng([seed, r, 1]).permutation(cfg.num_clients)
    m = cfg.clients_per_round or cfg.num_clients
    chosen = order[:m]
    return [int(k) for k in (chosen if cfg.schedule == "sequential" else np.sort(chosen))]


def _model_bits(client: Client, full: bool = False) -> int:
    """Bits of a client-side model upload: 32 per parameter entry it holds (all with ``full``)."""
    total = 0
    masks = {} if full or client.mask is None else client.mask.masks
    for name, p in client.model.named_parameters():
        total += int(masks[name].sum()) if name in masks else p.numel()
    return 32 * total


def _global_state(clients: Sequence[Client], members: Sequence[int], states: Optional[Sequence[dict]] = None) -> dict:
    """FedAvg (sample-weighted, mask-aware) of the client models ``members`` (or of ``states``,
    one per member, e.g. rebuilt from quantized updates)."""
    chosen = [clients[k] for k in members]
    masks = [c.mask for c in chosen]
    return FedAvg(1)([c.model.state_dict() for c in chosen] if states is None else states,
                     [c.num_samples for c in chosen], masks if any(m is not None for m in masks) else None)


def _global_model(clients: Sequence[Client], like: nn.Module) -> nn.Module:
    """A copy of ``like`` holding the average of every client's model (the evaluated one)."""
    model = copy.deepcopy(like)
    model.load_state_dict(_global_state(clients, range(len(clients))))
    return model.eval()


# -------------------------------------------------------------- evaluation
# -------------------------------------------------------------- checkpoints
def _device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _checkpoint(folder, meta: dict, clients: Sequence[Client], server: Optional[nn.Module],
                server_opt: Optional[torch.optim.Optimizer], draws: torch.Generator,
                link_device: Optional[str], extra: Optional[dict] = None) -> None:
    """Every client's model, optimizer and mask, the server and its optimizer, the generators
    (torch's global one, ``draws``, and the link's on ``link_device``), and ``extra`` tensors."""
    tensors: dict[str, torch.Tensor] = dict(extra or {})
    groups: dict[str, list] = {}
    for c in clients:
        tensors.update({f"client.{c.index}.{k}": v for k, v in c.model.state_dict().items()})
        opt, groups[f"client.{c.index}"] = optimizer_tensors(c.optimizer)
        tensors.update({f"client_{c.index}.{k}": v for k, v in opt.items()})
        if c.mask is not None:
            tensors.update({f"mask.{c.index}.{k}": v for k, v in c.mask.masks.items()})
    if server is not None:
        tensors.update({f"server.{k}": v for k, v in server.state_dict().items()})
        opt, groups["server"] = optimizer_tensors(server_opt)
        tensors.update({f"server_.{k}": v for k, v in opt.items()})
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.draws"] = draws.get_state()
    if link_device is not None:
        from ...bridge.runtime import rng_state

        tensors["rng.sionna"] = rng_state(link_device)
    meta = {**meta, "optimizer_groups": groups,
            "prune_rates": [c.prune_rate for c in clients]}
    save_checkpoint(folder, tensors, meta)


def _restore(tensors: dict, meta: dict, clients: Sequence[Client], server: Optional[nn.Module],
             server_opt: Optional[torch.optim.Optimizer], draws: torch.Generator, link_device: Optional[str],
             attach_masks: bool) -> None:
    groups = meta["optimizer_groups"]
    for c, rate in zip(clients, meta.get("prune_rates", [0.0] * len(clients)), strict=True):
        c.model.load_state_dict(strip_prefix(tensors, f"client.{c.index}."))
        load_optimizer(c.optimizer, strip_prefix(tensors, f"client_{c.index}."), groups[f"client.{c.index}"])
        masks = strip_prefix(tensors, f"mask.{c.index}.")
        if masks and attach_masks:
            _set_mask(c, PruningMask(masks))  # magnitude: re-applied after every optimizer step
        elif masks:
            c.mask = PruningMask(masks)  # filter pruning: the kept entries, for FedAvg
        c.prune_rate = rate
    if server is not None:
        server.load_state_dict(strip_prefix(tensors, "server."))
        load_optimizer(server_opt, strip_prefix(tensors, "server_."), groups["server"])
    torch.set_rng_state(tensors["rng.torch"])
    draws.set_state(tensors["rng.draws"])
    if link_device is not None and "rng.sionna" in tensors:
        from ...bridge.runtime import set_rng_state

        set_rng_state(tensors["rng.sionna"], link_device)
