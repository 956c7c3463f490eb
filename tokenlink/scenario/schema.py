"""The schema of a scenario: its sections and :class:`Scenario`.

The PHY and bridge sections reuse the validated models of ``phy/config.py``,
``phy/snr.py`` and ``bridge/config.py``: one definition of every knob. The
validators raise :class:`~tokenlink.common.errors.FieldRule` (problem, what
is allowed, path), which the loader turns into a one-line
:class:`~tokenlink.scenario.ScenarioError`. A scenario with a sweep checks
every point (:mod:`.sweep`) when it is validated.
"""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path
from typing import Any, Literal, Mapping, Optional, get_args

import yaml
from pydantic import (
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from ..bridge.config import TOKEN_LINK_MODES, AnalogConfig, DigitalConfig, TokenLinkConfig
from ..common.errors import FieldRule, did_you_mean, explain, show
from ..common.introspect import key_parts, schema_at
from ..common.config import StrictConfig
from ..phy.allocation import allocate_resource_blocks
from ..phy.config import MODULATIONS, PhyConfig
from ..phy.multiuser import NetworkConfig
from ..phy.snr import LinkBudget, ebno_db_to_esno_db
from ..semantic.config import SemanticConfig
from ..semantic.fedsl.config import NEW_FIELD_DEFAULTS as FEDSL_NEW_FIELD_DEFAULTS
from ..semantic.fedsl.config import FedSLConfig
from .sweep import SweepPoints, validate_sweep

__all__ = [
    "Scenario",
    "PhySection",
    "LinkSection",
    "TokensSection",
    "RunSection",
    "RawSection",
    "SweepSection",
    "SNR_TYPES",
    "LINK_MODES",
    "RAW_ARRAYS",
    "UNSWEEPABLE",
]

SnrType = Literal["es_no", "eb_no", "link_budget"]
SNR_TYPES: tuple[str, ...] = get_args(SnrType)
#: ``"bits"`` (the PHY alone, uncoded) and the token link's modes.
LinkModeName = Literal[("bits", *TOKEN_LINK_MODES)]
LINK_MODES: tuple[str, ...] = get_args(LinkModeName)
RawArray = Literal["h_freq", "tokens", "llr", "symbols"]
RAW_ARRAYS: tuple[str, ...] = get_args(RawArray)

#: Dotted fields (and everything under them) a sweep may not vary: they are
#: one per run (one trace, one device, one seed stream for all points).
UNSWEEPABLE: tuple[str, ...] = (
    "name", "description", "sweep", "run.seed", "run.device", "run.output", "run.raw",
)
#: What a scenario name may be (it names the trace ``results/<name>.h5``).
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
_DEVICE = re.compile(r"^(auto|cpu|cuda(:[0-9]+)?)$")


# ----------------------------------------------------------------- schema
class PhySection(PhyConfig):
    """The PHY (:class:`~tokenlink.phy.config.PhyConfig`) plus the SNR of the point.

    ``snr_type``: ``"es_no"``: ``snr_db`` is Es/N0 per resource element [dB];
    ``"eb_no"``: ``snr_db`` is Eb/N0 per (uncoded) bit [dB], converted with the
    pilot and cyclic-prefix overhead of ``grid`` (:func:`~tokenlink.phy.snr.ebno_db_to_esno_db`);
    ``"link_budget"``: the SNR is the mean link-budget SNR of ``link_budget``
    (``snr_db`` is ignored), which is Es/N0 per RE because
    ``link_budget.bandwidth_hz`` must equal the grid's occupied bandwidth; every
    frame then draws its own log-normal shadowing around it
    (:meth:`frame_shadowing_std_db`; ``link_budget.shadowing: off`` for the mean alone).
    ``snr_db = .inf`` is a noiseless link (token modes only).
    """

    snr_db: float = 10.0
    snr_type: SnrType = "es_no"
    link_budget: LinkBudget = LinkBudget()

    @field_validator("snr_db")
    @classmethod
    def _finite_or_inf(cls, value: float) -> float:
        if math.isnan(value) or value == -math.inf:
            raise FieldRule(f"got {show(value)}", "a number in dB, or .inf (noiseless)")
        return value

    @model_validator(mode="after")
    def _check_snr(self) -> "PhySection":
        if self.snr_type == "link_budget":
            occupied_hz = self.grid.num_effective_subcarriers * self.grid.subcarrier_spacing_hz
            if not math.isclose(self.link_budget.bandwidth_hz, occupied_hz, rel_tol=1e-9):
                raise FieldRule(
                    f"got {self.link_budget.bandwidth_hz:g} Hz, but the grid occupies {occupied_hz:g} Hz "
                    f"({self.grid.num_effective_subcarriers} subcarriers x {self.grid.subcarrier_spacing_hz:g} Hz); "
                    "the link-budget SNR is Es/N0 per resource element only over the occupied bandwidth",
                    f"{occupied_hz!r} (num_effective_subcarriers * subcarrier_spacing_hz)",
                    path=("link_budget", "bandwidth_hz"),
                )
        return self

    def phy_config(self) -> PhyConfig:
        """The plain :class:`PhyConfig` to build the link with (SNR fields dropped)."""
        return PhyConfig(**{name: getattr(self, name) for name in PhyConfig.model_fields})

    def frame_shadowing_std_db(self) -> float:
        """Standard deviation [dB] of the shadowing drawn per frame around :meth:`esno_db`:
        ``link_budget.frame_shadowing_std_db`` with ``snr_type: link_budget``, else 0."""
        return self.link_budget.frame_shadowing_std_db if self.snr_type == "link_budget" else 0.0

    def esno_db(self) -> float:
        """Es/N0 per resource element [dB] the link runs at, its mean with shadowing (see the class doc)."""
        if self.snr_type == "es_no":
            return float(self.snr_db)
        if self.snr_type == "eb_no":
            from ..phy.grid import build_resource_grid

            resource_grid = build_resource_grid(self.grid, device="cpu")
            bits_per_symbol = MODULATIONS[self.modulation][1]
            return float(ebno_db_to_esno_db(self.snr_db, bits_per_symbol, 1.0, resource_grid))
        return float(self.link_budget.mean_snr_db())


class TokensSection(StrictConfig):
    """Synthetic tokens ``[num_tokens, dim]`` per frame, i.i.d. with unit
    variance from ``distribution`` (until the semantic models land)."""

    num_tokens: PositiveInt = 64
    dim: PositiveInt = 64
    distribution: Literal["gaussian", "uniform", "laplace"] = "gaussian"


class LinkSection(StrictConfig):
    """What goes over the PHY.

    ``mode``: ``"bits"`` (uncoded QAM BER of the PHY alone), ``"analog"`` or
    ``"digital"`` (tokens through :class:`~tokenlink.bridge.TokenLink` with
    ``analog`` / ``digital`` options and ``max_slots_per_frame``).
    """

    mode: LinkModeName = "bits"
    analog: AnalogConfig = AnalogConfig()
    digital: DigitalConfig = DigitalConfig()
    max_slots_per_frame: Optional[PositiveInt] = None
    tokens: TokensSection = TokensSection()

    @model_validator(mode="after")
    def _check(self) -> "LinkSection":
        dig = self.digital
        if self.mode == "digital" and dig.quantizer == "vector" and self.tokens.dim % dig.subvector_dim:
            divisors = [d for d in range(1, self.tokens.dim + 1) if self.tokens.dim % d == 0]
            raise FieldRule(
                f"got {dig.subvector_dim}, which does not divide tokens.dim ({self.tokens.dim})",
                f"a divisor of tokens.dim: {', '.join(map(str, divisors))}",
                path=("digital", "subvector_dim"),
            )
        return self


class RawSection(StrictConfig):
    """Raw arrays stored in the trace next to the statistics, up to ``max_mb``
    megabytes per run (``arrays`` empty: none)."""

    arrays: tuple[RawArray, ...] = ()
    max_mb: PositiveFloat = 64.0

    @field_validator("arrays")
    @classmethod
    def _distinct(cls, arrays: tuple) -> tuple:
        if len(set(arrays)) != len(arrays):
            raise FieldRule(f"got {list(arrays)} with repeats",
                            "each of " + ", ".join(map(repr, RAW_ARRAYS)) + " at most once")
        return arrays


class RunSection(StrictConfig):
    """How a point is simulated and where the trace goes.

    ``batch_size``: slots per batch (``bits``) or frames per batch (token
    modes). A point stops at ``max_bits`` simulated bits (``bits``) or
    ``max_frames`` frames (token modes), or, when ``early_stop`` is set, once
    it has ``min_bit_errors`` bit errors and, if given, the relative standard
    error of its error rate is below ``max_rel_stderr``. ``output``: trace
    path (`None`: ``results/<name>.h5``, see :meth:`Scenario.output_path`).
    """

    seed: NonNegativeInt = 1
    device: str = "auto"
    batch_size: PositiveInt = 64
    max_bits: PositiveInt = 1_000_000
    min_bit_errors: PositiveInt = 1000
    max_frames: PositiveInt = 1000
    max_rel_stderr: Optional[PositiveFloat] = None
    early_stop: bool = True
    output: Optional[str] = None
    raw: RawSection = RawSection()

    @field_validator("device")
    @classmethod
    def _device(cls, device: str) -> str:
        if not _DEVICE.match(device):
            raise FieldRule(f"got {show(device)}", "auto, cpu, cuda, cuda:N (N = 0, 1, ...)")
        return device

    @field_validator("output")
    @classmethod
    def _output(cls, output: Optional[str]) -> Optional[str]:
        if output is not None and not output.strip():
            raise FieldRule("got an empty path", "a file path such as results/study.h5, or null for results/<name>.h5")
        return output


class SweepSection(StrictConfig):
    """Points of a study: the Cartesian product of the ``grid`` lists (first
    key varies slowest) times the ``zip`` lists taken together (equal
    lengths; they vary fastest). Keys are dotted fields of the scenario
    (``phy.snr_db``, ``phy.channel.model``, ``link.mode``...). Empty: one point.
    ``labels``: a name for each zip combination (an ablation's variants: ``full``,
    ``no_alignment``...), the swept parameter ``variant`` of every point (:data:`VARIANT`).
    """

    grid: dict[str, list[Any]] = Field(default_factory=dict)
    zip: dict[str, list[Any]] = Field(default_factory=dict)
    labels: Optional[list[str]] = None

    @field_validator("grid", "zip", mode="before")
    @classmethod
    def _lists(cls, table: Any) -> Any:
        if not isinstance(table, Mapping):
            return table  # pydantic reports the type
        for key, values in table.items():
            if not isinstance(key, str):
                raise FieldRule(f"key {show(key)} is not a dotted field name", "dotted field names such as phy.snr_db")
            if isinstance(values, tuple):
                values = list(values)
            if not isinstance(values, list):
                raise FieldRule(f"got {show(values)}", "a non-empty list of values, e.g. [0, 5, 10]", path=(key,))
            if not values:
                raise FieldRule("empty list", "a non-empty list of values, e.g. [0, 5, 10]", path=(key,))
            for i, value in enumerate(values):
                if not _is_plain(value):
                    raise FieldRule(f"got a {type(value).__name__} that is not plain data (an object, or nested "
                                    "over 32 levels deep, or referring to itself)", "plain YAML values (numbers, "
                                    "strings, booleans, null, lists, mappings)", path=(key, i))
        return table

    @model_validator(mode="after")
    def _check(self) -> "SweepSection":
        for table in ("grid", "zip"):
            for key in getattr(self, table):
                _check_sweep_key(key, (table, key))
        keys = self.keys()
        for table, key in self._entries():
            if table == "zip" and key in self.grid:
                raise FieldRule("also swept in sweep.grid", "each field in grid or in zip, not both", path=(table, key))
        for i, a in enumerate(keys):
            for b in keys[i + 1:]:
                if b.startswith(a + ".") or a.startswith(b + "."):
                    inner = b if b.startswith(a + ".") else a
                    outer = a if inner == b else b
                    raise FieldRule(f"overlaps the swept field {outer}", "fields that do not contain one another",
                                    path=(self._table_of(inner), inner))
        lengths = {key: len(values) for key, values in self.zip.items()}
        if len(set(lengths.values())) > 1:
            first = next(iter(lengths))
            bad = next(k for k, n in lengths.items() if n != lengths[first])
            raise FieldRule(f"has {lengths[bad]} values but sweep.zip.{first} has {lengths[first]}",
                            f"zip lists of equal length ({lengths[first]})", path=("zip", bad))
        if self.labels is not None:
            count = len(next(iter(self.zip.values()))) if self.zip else 0
            if not count:
                raise FieldRule("names zip combinations, but sweep.zip is empty",
                                "labels only with sweep.zip lists (one name per combination)", path=("labels",))
            if len(self.labels) != count:
                raise FieldRule(f"has {len(self.labels)} names for {count} zip combinations",
                                f"one name per zip combination ({count})", path=("labels",))
            bad = next((x for x in self.labels if not x.strip() or self.labels.count(x) > 1), None)
            if bad is not None:
                raise FieldRule(f"name {show(bad)} is empty or repeated", "distinct non-empty names",
                                path=("labels",))
        return self

    def _entries(self) -> list[tuple[str, str]]:
        return [("grid", k) for k in self.grid] + [("zip", k) for k in self.zip]

    def _table_of(self, key: str) -> str:
        return "grid" if key in self.grid else "zip"

    def keys(self) -> list[str]:
        """Swept dotted fields: grid keys, then zip keys, in declaration order."""
        return list(self.grid) + list(self.zip)

    def num_points(self) -> int:
        """Number of points (1 without a sweep)."""
        n = math.prod(len(v) for v in self.grid.values())
        return n * (len(next(iter(self.zip.values()))) if self.zip else 1)



class Scenario(StrictConfig):
    """One study: PHY, link, run settings, sweep and, optionally, the semantic
    pipeline (:class:`~tokenlink.semantic.config.SemanticConfig`: its models make
    the tokens, and its task accuracy is measured at every point). Build with
    :func:`load_scenario`.

    The methods without a point (:meth:`esno_db`, :meth:`phy_config`,
    :meth:`token_link_config`) use the scenario's own values, i.e. those of a
    study without sweep; with a sweep call them on ``point.scenario``.

    Two scenarios are equal when their resolved contents are equal; where
    they were loaded from does not take part.
    """

    name: str = "scenario"
    description: str = ""
    phy: PhySection = PhySection()
    link: LinkSection = LinkSection()
    run: RunSection = RunSection()
    sweep: SweepSection = SweepSection()
    semantic: Optional[SemanticConfig] = None
    network: Optional[NetworkConfig] = None
    fedsl: Optional[FedSLConfig] = None

    _source_path: Optional[str] = PrivateAttr(None)
    _source_text: Optional[str] = PrivateAttr(None)
    _overrides: tuple[str, ...] = PrivateAttr(())

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not NAME_PATTERN.match(name):
            raise FieldRule(f"got {show(name)}", "1-100 letters, digits, '_', '-', '.', starting with a letter "
                            "or digit (it names the trace results/<name>.h5)")
        return name

    @model_validator(mode="after")
    def _check(self) -> "Scenario":
        if self.fedsl is not None:
            self._check_fedsl()
        if self.phy.snr_type == "eb_no" and self.link.mode == "analog":
            raise FieldRule("'eb_no' needs bits, and link.mode 'analog' sends none",
                            "'es_no' or 'link_budget' with link.mode 'analog'", path=("phy", "snr_type"))
        if self.link.mode == "bits" and self.phy.snr_type != "link_budget" and math.isinf(self.phy.snr_db):
            raise FieldRule("got .inf: a noiseless link has no bit errors to count",
                            "a finite number with link.mode 'bits' (.inf only in token modes)", path=("phy", "snr_db"))
        if self.semantic is not None and self.link.mode == "bits":
            raise FieldRule("'bits' has no token link for the semantic models' tokens",
                            "'analog' or 'digital' with a semantic section", path=("link", "mode"))
        if self.network is not None:
            self._check_network()
        if self.semantic is not None and self.semantic.train_phy is not None:
            self._check_train_phy()
        validate_sweep(self)  # every point must validate
        return self

    def _check_fedsl(self) -> None:
        """A ``fedsl`` section trains federated split learning: no semantic section beside it, a token
        link (analog or digital) when its uplink or downlink is the link, and a network beside it is an
        OFDMA uplink with one user per client that the split-layer activations cross (``fedsl.uplink: link``)."""
        if self.semantic is not None:
            raise FieldRule("a scenario holds a semantic or a fedsl section, not both",
                            "one of semantic, fedsl", path=("fedsl",))
        if self.network is not None:
            net, n = self.network, self.fedsl.num_clients
            if net.sharing != "ofdma":
                raise FieldRule(f"{net.sharing!r}: FedSL clients share the uplink by OFDMA only (MU-MIMO carries "
                                "bits so far)", "'ofdma' with a fedsl section", path=("network", "sharing"))
            if len(net.users) != n:
                count = len(net.users)
                raise FieldRule(f"{count} user{'s' * (count != 1)} for fedsl.num_clients = {n} clients",
                                f"one user per client ({n}), in client order", path=("network", "users"))
            if self.fedsl.is_split and self.fedsl.uplink != "link":
                raise FieldRule(f"{self.fedsl.uplink!r} sends nothing over the network section",
                                "'link' with a network section", path=("fedsl", "uplink"))
            if self.fedsl.client_distance_m is not None:
                raise FieldRule("beside a network section each client's distance is its user's",
                                "null, with network.users.<k>.link_budget.distance_m (or fedsl.client_esno_db)",
                                path=("fedsl", "client_distance_m"))
        if self.fedsl.uplink == "link" and self.fedsl.is_split and self.link.mode == "bits":
            raise FieldRule("'bits' has no token link for the split-layer activations",
                            "'analog' or 'digital' with fedsl.uplink 'link'", path=("link", "mode"))
        if self.fedsl.downlink == "link" and self.fedsl.is_split and self.link.mode == "bits":
            raise FieldRule("'bits' has no token link for the cut-layer gradient",
                            "'analog' or 'digital' with fedsl.downlink 'link' (its PHY carries the codes)",
                            path=("link", "mode"))
        if self.fedsl.client_distance_m is not None and self.phy.snr_type != "link_budget":
            raise FieldRule(f"client distances need phy.snr_type 'link_budget', got {self.phy.snr_type!r}",
                            "phy.snr_type 'link_budget', or fedsl.client_esno_db", path=("fedsl", "client_distance_m"))

    def _check_train_phy(self) -> None:
        """``semantic.train_phy`` names fields of ``phy`` (no SNR), and merged into ``phy`` it is valid."""
        fields = list(PhyConfig.model_fields)
        for key in self.semantic.train_phy:
            if key not in fields:
                raise FieldRule(f"unknown field {show(key)}{did_you_mean(key, fields)}",
                                ", ".join(fields) + " (the SNR and link budget are the test point's)",
                                path=("semantic", "train_phy", key))
        try:
            self.train_phy_config()
        except ValidationError as err:
            path, problem, allowed = explain(err.errors()[0], PhyConfig)
            raise FieldRule(problem, allowed, path=("semantic", "train_phy", *path)) from None

    def train_phy_config(self) -> PhyConfig:
        """The :class:`PhyConfig` the semantic model trains over: ``phy`` with ``semantic.train_phy``
        merged in (section by section), or ``phy`` itself."""
        base = self.phy_config()
        over = self.semantic.train_phy if self.semantic is not None else None
        if not over:
            return base
        return PhyConfig.model_validate(_merged(base.model_dump(mode="python"), over))

    def _check_network(self) -> None:
        """The users fit the grid, and what runs over the network is what is built (bits)."""
        net = self.network
        if self.link.mode != "bits" and self.semantic is None and self.fedsl is None:
            raise FieldRule(f"{self.link.mode!r}: over a network, tokens are those of a semantic model's devices "
                            "or of FedSL clients", "'bits', or a semantic section (one network user per modality), "
                            "or a fedsl section (one user per client)", path=("link", "mode"))
        if self.semantic is not None:
            if net.sharing != "ofdma":
                raise FieldRule(f"{net.sharing!r}: token links over a network are built for OFDMA only",
                                "'ofdma' with a semantic section", path=("network", "sharing"))
            modalities = self.semantic.modalities
            if modalities is not None and len(modalities) != len(net.users):
                raise FieldRule(f"{len(net.users)} users for {len(modalities)} modalities "
                                f"({', '.join(modalities)})", "one user per modality, in the order of "
                                "semantic.modalities", path=("network", "users"))
        if self.run.raw.arrays:
            raise FieldRule("network points record no raw arrays yet (each user's arrays have their own size)",
                            "an empty list with a network section", path=("run", "raw", "arrays"))
        if net.sharing == "mu_mimo":
            num_rx, k = self.phy.base_station.num_rx_antennas, len(net.users)
            if self.phy.receiver.equalizer == "zf" and num_rx < k:
                raise FieldRule(f"'zf' separates at most phy.base_station.num_rx_antennas = {num_rx} users, "
                                f"network.users has {k}", f"'lmmse', or >= {k} receive antennas",
                                path=("phy", "receiver", "equalizer"))
            if self.phy.receiver.estimator == "lmmse":
                raise FieldRule("'lmmse' estimation is not built for MU-MIMO", "'perfect' or 'ls' with "
                                "network.sharing mu_mimo", path=("phy", "receiver", "estimator"))
            return
        grid = self.phy.grid
        demand = [u.demand_res for u in net.users] if net.shares == "proportional" else None
        try:
            allocate_resource_blocks(grid.num_effective_subcarriers, len(net.users), shares=net.shares,
                                     demand_res=demand, layout=net.layout)
        except ValueError as err:
            field = "users" if "num_users" in str(err) else "shares"
            raise FieldRule(str(err), f"at most {grid.num_effective_subcarriers // 12} users (one resource block "
                            "of 12 subcarriers each), shares summing to <= 1", path=("network", field)) from None

    # ----------------------------------------------------------- points
    def points(self) -> SweepPoints:
        """The sweep points in their deterministic order (one without a sweep),
        computed from the current fields (so ``model_copy(update=...)`` is seen).

        A lazy sequence (:class:`~tokenlink.scenario.sweep.SweepPoints`): its
        length costs nothing, and each point's validated scenario is built
        when the point is asked for (indexing or iterating)."""
        return SweepPoints(self)

    def num_points(self) -> int:
        """Number of sweep points (1 without a sweep); builds nothing."""
        return self.sweep.num_points()

    def esno_db(self) -> float:
        """Es/N0 per resource element [dB] of this scenario's own values."""
        return self.phy.esno_db()

    def phy_config(self) -> PhyConfig:
        """The plain :class:`PhyConfig` to build the link with."""
        return self.phy.phy_config()

    def token_link_config(self) -> TokenLinkConfig:
        """The :class:`TokenLinkConfig` of this scenario (token modes), with
        ``snr_db`` = :meth:`esno_db`."""
        if self.link.mode == "bits":
            raise ValueError("link.mode: 'bits' simulates the PHY alone and has no token link; "
                             "allowed: 'analog' or 'digital'")
        return TokenLinkConfig(
            mode=self.link.mode,
            phy=self.phy_config(),
            analog=self.link.analog,
            digital=self.link.digital,
            snr_db=self.esno_db(),
            max_slots_per_frame=self.link.max_slots_per_frame,
        )

    def output_path(self) -> Path:
        """Trace file: ``run.output``, or ``results/<name>.h5`` (relative to the working directory)."""
        return Path(self.run.output) if self.run.output is not None else Path("results") / f"{self.name}.h5"

    # ------------------------------------------------------ provenance
    def to_dict(self) -> dict[str, Any]:
        """The resolved scenario as plain data (lists, not tuples); ``sweep.labels`` only when set
        (so that scenarios without labels keep the fingerprints they had before the field)."""
        data = _plain(self.model_dump(mode="python"))
        if data["sweep"].get("labels") is None:
            data["sweep"].pop("labels", None)
        if data.get("fedsl", 1) is None:  # scenarios without it keep their fingerprints
            data.pop("fedsl")
        elif "fedsl" in data:  # fedsl fields added later: only when not at their defaults (same reason)
            data["fedsl"] = {k: v for k, v in data["fedsl"].items()
                             if not (k in FEDSL_NEW_FIELD_DEFAULTS and v == FEDSL_NEW_FIELD_DEFAULTS[k])}
        return data

    def to_yaml(self) -> str:
        """Canonical YAML of the resolved scenario: every field, schema order.

        ``load_scenario(yaml.safe_load(s.to_yaml())) == s``.
        """
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, default_flow_style=False)

    def fingerprint(self) -> str:
        """SHA-256 (hex) of the canonical YAML without ``description`` and
        ``run.output``: what the trace's numbers depend on, not the prose or
        where the trace is written. A resumed run compares fingerprints."""
        data = self.to_dict()
        data.pop("description")
        data["run"].pop("output")
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @property
    def source_path(self) -> Optional[str]:
        """The YAML file this scenario was loaded from (`None`: a dict)."""
        return self._source_path

    @property
    def source_text(self) -> Optional[str]:
        """The YAML text as read, before overrides (`None`: a dict)."""
        return self._source_text

    @property
    def overrides(self) -> tuple[str, ...]:
        """The ``--set key=value`` overrides applied on load."""
        return self._overrides

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Scenario):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.to_yaml())


def _is_plain(value: Any, depth: int = 0) -> bool:
    """Plain YAML data (no objects, no cycles: nesting is capped)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if depth > 32:
        return False
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v, depth + 1) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _is_plain(v, depth + 1) for k, v in value.items())
    return False


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _merged(base: dict, over: Mapping) -> dict:
    """``base`` with ``over`` merged in: mappings field by field, other values replaced."""
    out = dict(base)
    for key, value in over.items():
        out[key] = _merged(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), dict) else value
    return out


def _check_sweep_key(key: str, rule_path: tuple) -> None:
    """A sweep key must name an existing, sweepable field."""
    parts = key_parts(key)
    try:
        schema_at(Scenario, parts)
    except FieldRule as err:
        raise FieldRule(err.problem, err.allowed, path=rule_path) from None
    for prefix in UNSWEEPABLE:
        if key == prefix or key.startswith(prefix + ".") or prefix.startswith(key + "."):
            raise FieldRule(f"{prefix} is one per run and cannot be swept",
                            "fields of phy, link and run, except " + ", ".join(UNSWEEPABLE), path=rule_path)


