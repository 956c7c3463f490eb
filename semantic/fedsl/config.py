"""Validated configuration of a federated split learning run (the scenario's ``fedsl:`` section).

One frozen pydantic model (:class:`FedSLConfig`) with a nested
:class:`PruningConfig`, rejecting unknown keys like every tokenlink config
(:class:`~tokenlink.common.config.StrictConfig`). :func:`fedsl_config` builds
one from plain data and turns any mistake into a one-line ``ValueError``
naming the field (``fedsl.cut_layer: ...``), with a did-you-mean for
misspelled keys::

    cfg = fedsl_config({"dataset": "mnist", "num_clients": 10, "cut_layer": 2,
                        "pruning": {"kind": "magnitude", "rate": 0.3}, "gradient_bits": 8,
                        "drop_rate": 0.25, "interval_rounds": 2})

``method`` picks the scheme; the baselines ignore the compression fields:

* ``fedsl`` -- lightweight FedSL (paper B): pruning, ``drop_rate``, ``gradient_bits`` as configured;
* ``splitfed_vanilla`` -- the same split, schedule and FedAvg, no compression (no pruning,
  no dropout, float32 gradients);
* ``fedavg`` -- no split: every client trains the whole VGG locally, FedAvg every
  ``interval_rounds`` rounds; nothing crosses the uplink but the model updates.

``schedule``: ``sequential`` (vanilla split learning: the round's clients one after
another, each updating the one shared server model) or ``parallel`` (SplitFed: every
client of the round starts from the same server model and optimizer state, trains its
own copy, and the copies -- parameters, BatchNorm statistics and optimizer state -- are
averaged, weighted by the clients' sample counts, at the end of the round). Either way
each client keeps its own client-side model between aggregations.
"""

from __future__ import annotations

import math
from typing import Literal, Optional, Union

from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, ValidationError, \
    model_validator

from ...common.config import StrictConfig
from ...common.errors import FieldRule, format_validation_error

__all__ = ["FedSLConfig", "PruningConfig", "fedsl_config", "METHODS", "SCHEDULES", "UPLINKS", "DOWNLINKS",
           "NEW_FIELD_DEFAULTS"]

METHODS = ("fedsl", "splitfed_vanilla", "fedavg")
SCHEDULES = ("sequential", "parallel")
UPLINKS = ("ideal", "link")
DOWNLINKS = ("ideal", "link")

#: Fields added after the first runs, with their defaults: left out of the scenario's canonical data
#: and of training fingerprints while at the default, so earlier runs keep their keys.
NEW_FIELD_DEFAULTS = {"downlink": "ideal", "update_bits": 32}

#: Conv layers of each layout (the cut must fall inside: 1 .. this).
_CONV_LAYERS = {"vgg11": 8, "vgg16": 13, "vgg19": 16}


class PruningConfig(StrictConfig):
    """Dynamic pruning of the client-side model (:mod:`~tokenlink.semantic.fedsl.prune`).

    ``kind``: ``none``, ``magnitude`` (unstructured, masks; ``scope`` global or per layer)
    or ``filter`` (structured: whole conv filters by L1 norm, the convolutions really
    shrink; the cut layer's conv keeps all filters). ``rate``: target fraction pruned,
    in [0, 1). ``schedule``: ``constant`` (the target from round 0) or a ``linear`` /
    ``cubic`` ramp from ``initial_rate`` at ``start_round`` to ``rate`` after
    ``ramp_rounds`` rounds. ``flops_budget``: optional fraction of the dense forward
    FLOPs a client can afford, in (0, 1]: one number for every client or one per
    client; a client prunes at least the rate its budget needs.
    """

    kind: Literal["none", "magnitude", "filter"] = "none"
    rate: float = Field(0.0, ge=0.0, lt=1.0)
    schedule: Literal["constant", "linear", "cubic"] = "constant"
    ramp_rounds: PositiveInt = 1
    start_round: NonNegativeInt = 0
    initial_rate: float = Field(0.0, ge=0.0, lt=1.0)
    scope: Literal["global", "layer"] = "global"
    flops_budget: Union[None, float, tuple[float, ...]] = None

    @model_validator(mode="after")
    def _check(self) -> "PruningConfig":
        budget = self.flops_budget
        values = () if budget is None else (budget,) if isinstance(budget, (int, float)) else budget
        if any(not 0.0 < v <= 1.0 for v in values) or (budget is not None and not values):
            raise FieldRule(f"got {budget!r}", "a number in (0, 1] or one per client", ("flops_budget",))
        return self


class FedSLConfig(StrictConfig):
    """One federated split learning run (see the module doc for ``method`` and ``schedule``).

    Data: ``dataset`` (mnist | fashion_mnist | easy_vqa | cifar10, as [N, 3, 32, 32]),
    ``data_root`` (where its files are; `None`: the installed package / cache folder),
    ``train_samples`` / ``test_samples`` (random subsets of that many; `None`: all).
    Clients: ``num_clients`` with ``partition`` iid | dirichlet (``dirichlet_alpha`` > 0,
    small = skewed) | shards (``shards_per_client`` label-sorted shards each);
    ``clients_per_round`` sampled each round (`None`: all).

    Model: VGG ``model`` (vgg11 | vgg16 | vgg19) with channel multiplier ``width``, split
    after conv layer ``cut_layer`` (1 .. 8 / 13 / 16); split-layer activations become
    tokens by ``token_layout`` (``channels``: one token per feature map).

    Training: ``rounds``; per round each sampled client runs ``local_steps`` optimizer
    steps (`None`: ``local_epochs`` passes over its data) of ``batch_size`` samples;
    ``optimizer`` sgd (``momentum``) | adam, ``lr``, ``weight_decay``; FedAvg of the
    client-side models after every ``interval_rounds`` rounds (I).

    Compression (``method: fedsl`` only): ``pruning``, ``drop_rate`` (split-layer
    activations dropped, in [0, 1)), ``gradient_bits`` (cut-layer gradient, >= 1;
    >= 32: float32, no quantization) with ``stochastic_rounding``; ``update_bits``
    (>= 1; >= 32: off): at FedAvg each client uploads its model minus the last global
    model, per tensor quantized to that many bits (the same quantizer).

    Uplink: ``ideal`` (activations arrive exactly; ``uplink_bits_per_value`` bits each,
    airtime at ``ideal_uplink_rate_bps``) or ``link`` (the scenario's token link, each
    client at its own Es/N0 per RE: ``client_esno_db`` [dB], one per client, or
    ``client_distance_m`` through the scenario's link budget, else the point's Es/N0;
    with the scenario's ``network`` section, one OFDMA user per client: its resource
    blocks, channel and Es/N0, see :func:`~tokenlink.semantic.fedsl.train.train`).
    ``downlink``: ``ideal`` (the cut-layer gradient arrives exactly; its bits are counted,
    ``downlink_rate_bps`` turns them into time) or ``link`` (its b-bit codes go digitally
    over each client's link at the client's Es/N0, hard decisions; float32 gradients go
    as 8-bit codes: :mod:`~.downlink`). Model exchange for FedAvg is counted in bits (32
    per parameter, or ``update_bits`` per value + 32 per tensor) at
    ``ideal_uplink_rate_bps``, not sent through the PHY.

    Latency of a client: its forward + backward FLOPs at ``client_flops_per_s`` + uplink
    airtime (+ downlink time); a sequential round adds its clients, a parallel round
    takes the slowest. ``seed`` (`None`: the scenario's ``run.seed``, 0 outside a
    scenario), ``device`` (cpu | cuda | cuda:N | auto), ``eval_batch_size``;
    ``checkpoint_dir``: where checkpoints go (`None`: next to the trace).

    Evaluation: before every test, copies of the models get their BatchNorm statistics
    re-estimated on ``bn_recalibration_samples`` training images (a fixed, seeded subset)
    sent the way the test images go (no dropout; 0: the training statistics are used).
    """

    method: Literal["fedsl", "splitfed_vanilla", "fedavg"] = "fedsl"
    dataset: Literal["mnist", "fashion_mnist", "easy_vqa", "cifar10"] = "mnist"
    data_root: Optional[str] = None
    train_samples: Optional[PositiveInt] = 5000
    test_samples: Optional[PositiveInt] = 1000
    num_clients: PositiveInt = 10
    partition: Literal["iid", "dirichlet", "shards"] = "iid"
    dirichlet_alpha: float = Field(0.5, gt=0.0)
    shards_per_client: PositiveInt = 2
    clients_per_round: Optional[PositiveInt] = None
    model: Literal["vgg11", "vgg16", "vgg19"] = "vgg11"
    width: float = Field(0.125, gt=0.0, le=4.0)
    cut_layer: PositiveInt = 2
    token_layout: Literal["channels", "positions"] = "channels"
    schedule: Literal["sequential", "parallel"] = "parallel"
    rounds: PositiveInt = 20
    local_steps: Optional[PositiveInt] = None
    local_epochs: PositiveInt = 1
    batch_size: PositiveInt = 32
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: PositiveFloat = 0.05
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    weight_decay: NonNegativeFloat = 0.0
    interval_rounds: PositiveInt = 2
    pruning: PruningConfig = PruningConfig()
    drop_rate: float = Field(0.0, ge=0.0, lt=1.0)
    gradient_bits: int = Field(32, ge=1)
    stochastic_rounding: bool = True
    update_bits: int = Field(32, ge=1)
    uplink: Literal["ideal", "link"] = "ideal"
    downlink: Literal["ideal", "link"] = "ideal"
    uplink_bits_per_value: PositiveInt = 32
    ideal_uplink_rate_bps: PositiveFloat = 10e6
    downlink_rate_bps: Optional[PositiveFloat] = None
    client_esno_db: Optional[tuple[float, ...]] = None
    client_distance_m: Optional[tuple[PositiveFloat, ...]] = None
    client_flops_per_s: PositiveFloat = 1e9
    seed: Optional[NonNegativeInt] = None
    device: str = "cpu"
    eval_batch_size: PositiveInt = 256
    bn_recalibration_samples: NonNegativeInt = 512
    checkpoint_dir: Optional[str] = None

    @model_validator(mode="after")
    def _check(self) -> "FedSLConfig":
        layers = _CONV_LAYERS[self.model]
        if self.cut_layer > layers and self.method != "fedavg":
            raise FieldRule(f"{self.cut_layer} is past the end of {self.model}", f"1..{layers}", ("cut_layer",))
        if self.train_samples is not None and self.num_clients > self.train_samples:
            raise FieldRule(f"{self.num_clients} clients but only {self.train_samples} training samples",
                            f"1..{self.train_samples} (every client needs a sample)", ("num_clients",))
        if self.clients_per_round is not None and self.clients_per_round > self.num_clients:
            raise FieldRule(f"{self.clients_per_round} of {self.num_clients} clients",
                            f"1..{self.num_clients}, or null (all)", ("clients_per_round",))
        for name in ("client_esno_db", "client_distance_m"):
            values = getattr(self, name)
            if values is not None and len(values) != self.num_clients:
                raise FieldRule(f"{len(values)} values for {self.num_clients} clients",
                                "one per client, or null", (name,))
        if self.client_esno_db is not None and self.client_distance_m is not None:
            raise FieldRule("both client_esno_db and client_distance_m are set", "at most one of them",
                            ("client_distance_m",))
        if self.client_esno_db is not None and any(math.isnan(v) or v == -math.inf for v in self.client_esno_db):
            raise FieldRule(f"got {list(self.client_esno_db)}", "finite numbers or .inf", ("client_esno_db",))
        budget = self.pruning.flops_budget
        if isinstance(budget, tuple) and len(budget) not in (1, self.num_clients):
            raise FieldRule(f"{len(budget)} budgets for {self.num_clients} clients",
                            "one number, or one per client", ("pruning", "flops_budget"))
        if self.partition == "shards" and self.train_samples is not None \
                and self.num_clients * self.shards_per_client > self.train_samples:
            raise FieldRule(f"{self.num_clients} x {self.shards_per_client} shards of {self.train_samples} samples",
                            f"1..{self.train_samples // self.num_clients}", ("shards_per_client",))
        return self

    # ------------------------------------------------------------ derived
    @property
    def is_split(self) -> bool:
        """False for the ``fedavg`` baseline (whole models on the clients)."""
        return self.method != "fedavg"

    def compression(self) -> dict:
        """The compression in effect: ``{"pruning": PruningConfig, "drop_rate", "gradient_bits",
        "update_bits"}``; the baselines have none (no pruning, no dropout, 32-bit gradients and
        model updates)."""
        if self.method == "fedsl":
            return {"pruning": self.pruning, "drop_rate": self.drop_rate, "gradient_bits": self.gradient_bits,
                    "update_bits": self.update_bits}
        return {"pruning": PruningConfig(), "drop_rate": 0.0, "gradient_bits": 32, "update_bits": 32}

    def fingerprint_data(self, exclude: tuple[str, ...] = ()) -> dict:
        """The fields as JSON data without ``exclude`` and without the fields of
        :data:`NEW_FIELD_DEFAULTS` at their defaults (earlier runs keep their fingerprints)."""
        data = self.model_dump(mode="json", exclude=set(exclude))
        return {k: v for k, v in data.items() if not (k in NEW_FIELD_DEFAULTS and v == NEW_FIELD_DEFAULTS[k])}

    def client_budget(self, client: int) -> Optional[float]:
        """``pruning.flops_budget`` of ``client`` (`None`: no budget)."""
        budget = self.pruning.flops_budget
        if budget is None or isinstance(budget, (int, float)):
            return budget
        return budget[0] if len(budget) == 1 else budget[client]



def fedsl_config(data: Union[None, dict, FedSLConfig] = None, prefix: str = "fedsl") -> FedSLConfig:
    """A :class:`FedSLConfig` from plain data; any mistake is a one-line ``ValueError``
    naming the field (``fedsl.<field>: problem; allowed: ...``, with a did-you-mean for an
    unknown key)."""
    if isinstance(data, FedSLConfig):
        return data
    try:
        return FedSLConfig(**(data or {}))
    except ValidationError as err:
        raise ValueError(format_validation_error(err, prefix=prefix, root=FedSLConfig)) from None
