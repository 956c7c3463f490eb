"""Scenario points with a ``fedsl:`` section: each point is one federated split learning run.

A FedSL point's result *is* its training run (accuracy per round, traffic, FLOPs,
latency), so every point trains, unlike a semantic point, which evaluates a model
trained once for many test SNRs. Points with the same *training configuration*
(:func:`training_config`: the fedsl section without its evaluation-only fields, the
token link with the point's Es/N0 when the uplink or the downlink is the link, each
client's Es/N0, the seed) share one run: the second finds the first's finished checkpoint. Each run
lives in ``<checkpoint root>/<training key>/`` (``<trace without .h5>_checkpoints`` or
``fedsl.checkpoint_dir``), checkpointed every round, so ``tokenlink run --resume``
continues an interrupted run from its last round.

Each client's uplink Es/N0 per RE [dB]: ``fedsl.client_esno_db``, else (with
``fedsl.client_distance_m``) the scenario's link budget at each client's distance, else
the point's Es/N0 (``phy.snr_db`` or its link budget). The point's Es/N0 is also the
evaluation link's.

With a ``network`` section (OFDMA, one user per client) client ``k`` is user ``k``: its
resource blocks of the shared grid, its channel, and (unless ``fedsl.client_esno_db``) its
user's Es/N0 per RE: ``esno_db``, or its link budget over its own bandwidth with that budget's
per-frame shadowing, or (neither) the point's Es/N0 and shadowing. The network is part of the
training key, and the test images are sent by the clients in turn
(:func:`tokenlink.semantic.fedsl.train.train`).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np

from .common.digest import json_digest
from .scenario import Scenario

__all__ = ["training_config", "training_key", "checkpoint_folder", "client_esno_db", "client_shadowing_std_db",
           "client_resource_blocks", "fedsl_smoke", "preflight", "fedsl_point", "training_lock", "SMOKE_FEDSL",
           "CURVES"]

#: Fedsl fields that do not change a run's numbers.
EVAL_ONLY = ("eval_batch_size", "checkpoint_dir", "device")

#: ``--smoke`` budgets: a few rounds of a few steps on a few hundred samples.
SMOKE_FEDSL = {"train_samples": 200, "test_samples": 64, "rounds": 2, "local_steps": 1, "batch_size": 16}

#: Per-round curves recorded as ``round_<name>`` arrays (one value per round).
CURVES = ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "test_accuracy_ideal", "uplink_values",
          "uplink_bits", "uplink_channel_uses", "uplink_airtime_s", "downlink_bits", "downlink_channel_uses",
          "downlink_airtime_s", "downlink_ber", "model_uplink_bits", "model_downlink_bits", "client_flops",
          "client_flops_dense", "client_activation_bytes", "latency_s", "prune_rate", "grad_sq_norm",
          "quantization_variance", "dropout_variance", "channel_nmse", "aggregated", "time_s")


def _seed(scenario: Scenario) -> int:
    seed = scenario.fedsl.seed
    return scenario.run.seed if seed is None else seed


def _uses_link(scenario: Scenario) -> bool:
    """The uplink or the downlink (or both) goes through the token link."""
    return "link" in (scenario.fedsl.uplink, scenario.fedsl.downlink) and scenario.fedsl.is_split


def _networked(scenario: Scenario) -> bool:
    return scenario.network is not None and _uses_link(scenario)


def _network_budgets(scenario: Scenario) -> list:
    """Each network user's link budget over its own allocation's bandwidth (`None` where it has none)."""
    from .phy.multiuser import network_allocations, users_link_budgets

    spacing = scenario.phy.grid.subcarrier_spacing_hz
    allocations = network_allocations(scenario.phy_config(), scenario.network)
    return users_link_budgets(scenario.network.users, [a.num_subcarriers * spacing for a in allocations])


def client_resource_blocks(scenario: Scenario) -> Optional[list[int]]:
    """Resource blocks of each client's allocation (a network point), else `None`."""
    if not _networked(scenario):
        return None
    from .phy.multiuser import network_allocations

    return [len(a.resource_blocks) for a in network_allocations(scenario.phy_config(), scenario.network)]


def client_shadowing_std_db(scenario: Scenario) -> Optional[list[float]]:
    """With a network: each client's per-frame shadowing [dB] (0 with ``fedsl.client_esno_db``); else `None`."""
    if not _networked(scenario):
        return None
    if scenario.fedsl.client_esno_db is not None:
        return [0.0] * len(scenario.network.users)
    from .phy.multiuser import users_shadowing_std_db

    return [float(v) for v in users_shadowing_std_db(scenario.network.users, _network_budgets(scenario),
                                                     scenario.phy.frame_shadowing_std_db())]


def client_esno_db(scenario: Scenario) -> Optional[list[float]]:
    """Each client's uplink Es/N0 per RE [dB] (see the module doc); `None`: the point's own, for all."""
    cfg = scenario.fedsl
    if cfg.client_esno_db is not None:
        return [float(v) for v in cfg.client_esno_db]
    if _networked(scenario):
        from .phy.multiuser import users_mean_esno_db

        return [float(v) for v in users_mean_esno_db(scenario.network.users, _network_budgets(scenario),
                                                     scenario.esno_db())]
    if cfg.client_distance_m is not None:
        from .phy.snr import LinkBudget

        budget = scenario.phy.link_budget.model_dump()
        return [float(LinkBudget(**{**budget, "distance_m": d}).mean_snr_db()) for d in cfg.client_distance_m]
    return None


def training_config(scenario: Scenario) -> dict[str, Any]:
    """The plain data a point's run depends on (see the module doc)."""
    fedsl = {k: v for k, v in scenario.to_dict()["fedsl"].items() if k not in EVAL_ONLY + ("seed",)}
    out: dict[str, Any] = {"fedsl": fedsl, "seed": _seed(scenario)}
    if _uses_link(scenario):
        out["link"] = scenario.token_link_config().model_dump(mode="json")
        out["client_esno_db"] = client_esno_db(scenario)
    if _networked(scenario):  # (without a network the key is the one it was before networks)
        out["network"] = scenario.network.model_dump(mode="json")
        out["client_shadowing_std_db"] = client_shadowing_std_db(scenario)
    return out


def training_key(scenario: Scenario) -> str:
    """16 hex digits naming a point's run."""
    return json_digest(training_config(scenario))


def checkpoint_folder(scenario: Scenario, checkpoint_root: Path) -> Path:
    root = Path(scenario.fedsl.checkpoint_dir) if scenario.fedsl.checkpoint_dir is not None else checkpoint_root
    return root / training_key(scenario)


def fedsl_smoke(scenario: Scenario) -> Scenario:
    """The scenario with tiny FedSL budgets (``--smoke``)."""
    cfg = scenario.fedsl
    update = {k: min(v, getattr(cfg, k) or v) for k, v in SMOKE_FEDSL.items()}
    update["train_samples"] = max(update["train_samples"], cfg.num_clients)
    return scenario.model_copy(update={"fedsl": cfg.model_copy(update=update)})


def preflight(scenario: Scenario) -> None:
    """Check the data set's files before anything is written (one-line error naming the field)."""
    from tokenlink.semantic.fedsl.train import load_data

    cfg = scenario.fedsl
    try:
        load_data(cfg.model_copy(update={"train_samples": 1, "test_samples": 1}), _seed(scenario))
    except (FileNotFoundError, ValueError) as err:
        raise type(err)(f"fedsl.dataset: {cfg.dataset!r} cannot be read ({' '.join(str(err).split())})") from None


def _mean_or_nan(values: np.ndarray) -> float:
    """Mean of the finite values (NaN: none, e.g. an ideal downlink)."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


_DATA: dict[tuple, tuple] = {}


def _data(scenario: Scenario):
    """(train, test) ImageSets of the point, the last one kept (points of a sweep share it)."""
    from tokenlink.semantic.fedsl.train import load_data

    cfg = scenario.fedsl
    key = (cfg.dataset, cfg.data_root, cfg.train_samples, cfg.test_samples, _seed(scenario))
    if key not in _DATA:
        _DATA.clear()
        _DATA[key] = load_data(cfg, _seed(scenario))
    return _DATA[key]


@contextlib.contextmanager
def training_lock(folder: Path) -> Iterator[None]:
    """Hold ``<folder>.lock`` exclusively (blocking ``flock``) while a run trains in ``folder``.

    Two sweep points with one training key (Ray runs them at once) would otherwise train the same
    run into the same checkpoint folder; with the lock the second waits and then reads the first's
    finished run. The operating system drops the lock when its holder dies (``kill -9`` included).
    Without ``fcntl`` (Windows) there is no lock."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder.with_name(folder.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def fedsl_point(scenario: Scenario, checkpoint_root: Path, device: str) -> tuple[dict[str, Any], dict]:
    """Train (or resume, or read back) the point's run; returns (metrics, raw).

    Scalars: ``accuracy`` / ``loss`` (test, last round, over the evaluation link when the uplink is the
    link), ``accuracy_ideal``, ``nmse`` (uplink channel NMSE over the run: error energy / activation
    energy, mean of the rounds; 0 on an ideal uplink), ``best_accuracy``, ``downlink_ber`` (mean of the
    rounds' downlink bit error rates; NaN on an ideal downlink), totals over the run
    (``uplink_bits``, ``uplink_channel_uses``, ``uplink_airtime_s``, ``downlink_bits``,
    ``downlink_channel_uses``, ``downlink_airtime_s``, ``model_uplink_bits``, ``client_flops``, ``latency_s``),
    ``client_activation_bytes`` (peak), ``rounds``, ``num_client_parameters``, ``train_time_s``, ``esno_db``
    (over the link; over a network the weakest client's mean). Arrays: ``round_<name>`` per round for every
    name of :data:`CURVES`, and ``client_esno_db`` (one per client); with a network also
    ``client_resource_blocks`` and ``client_shadowing_std_db`` (one per client).
    """
    from tokenlink.semantic.fedsl.train import train

    cfg = scenario.fedsl.model_copy(update={"seed": _seed(scenario), "device": device})
    link_config = scenario.token_link_config() if _uses_link(scenario) else None
    esno = client_esno_db(scenario)
    network = scenario.network if _networked(scenario) else None
    shadowing = client_shadowing_std_db(scenario)
    folder = checkpoint_folder(scenario, checkpoint_root)
    with training_lock(folder):
        history = train(cfg, folder, data=_data(scenario), link_config=link_config, client_esno_db=esno,
                        network=network, client_shadowing_std_db=shadowing)
    curves = {name: np.asarray(history[name], dtype=np.float64) for name in CURVES}
    metrics: dict[str, Any] = {f"round_{name}": values for name, values in curves.items()}
    total = {name: float(np.sum(curves[name])) for name in
             ("uplink_bits", "uplink_channel_uses", "uplink_airtime_s", "downlink_bits", "downlink_channel_uses",
              "downlink_airtime_s", "model_uplink_bits", "client_flops", "latency_s")}
    metrics.update(
        accuracy=float(curves["test_accuracy"][-1]), loss=float(curves["test_loss"][-1]),
        accuracy_ideal=float(curves["test_accuracy_ideal"][-1]), best_accuracy=float(curves["test_accuracy"].max()),
        nmse=float(curves["channel_nmse"].mean()), rounds=len(curves["test_accuracy"]),
        downlink_ber=_mean_or_nan(curves["downlink_ber"]),
        client_activation_bytes=float(curves["client_activation_bytes"].max()),
        num_client_parameters=int(history["num_client_parameters"]), train_time_s=float(history["time_s"]),
        **total,
    )
    if _uses_link(scenario):  # over a network: the weakest client's mean (as a semantic network point's)
        metrics["esno_db"] = float(min(esno)) if network is not None else float(scenario.esno_db())
    if esno is not None:
        metrics["client_esno_db"] = np.asarray(esno, dtype=np.float64)
    if network is not None:
        metrics["client_resource_blocks"] = np.asarray(client_resource_blocks(scenario), dtype=np.float64)
        metrics["client_shadowing_std_db"] = np.asarray(shadowing, dtype=np.float64)
    return metrics, {}
