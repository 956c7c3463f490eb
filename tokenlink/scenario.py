"""Scenario files: the schema of a study, its sweep, and the loader.

A scenario is one YAML file: the PHY (grid, modulation, channel, receiver,
and the SNR definition), the link mode (uncoded ``bits``, or synthetic
tokens sent ``analog`` / ``digital`` through :class:`~tokenlink.bridge.TokenLink`),
run settings (seed, device, stopping rules, trace), and a ``sweep`` that
turns it into a list of points. Every section has defaults, so five lines
make a valid study::

    name: awgn_16qam
    phy:
      snr_db: 10
    sweep:
      grid: {phy.snr_db: [0, 5, 10, 15]}

The PHY and bridge sections reuse the validated models of ``phy/config.py``,
``phy/snr.py`` and ``bridge/config.py``: one definition of every knob.

Errors are :class:`ScenarioError`, one line:
``<file>:<line>: <dotted.field>: <what is wrong>; allowed: <what is allowed>``.
Reference: ``docs/scenarios.md``.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import itertools
import math
import os
import re
import types
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Optional, Sequence, Union, get_args, get_origin

import annotated_types
import yaml
from pydantic import (
    BaseModel,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from .bridge.config import AnalogConfig, DigitalConfig, TokenLinkConfig
from .common.config import StrictConfig as _Config
from .phy.config import MODULATIONS, PhyConfig
from .phy.snr import LinkBudget, ebno_db_to_esno_db
from .semantic.config import SemanticConfig

__all__ = [
    "Scenario",
    "PhySection",
    "LinkSection",
    "TokensSection",
    "RunSection",
    "RawSection",
    "SweepSection",
    "SweepPoint",
    "ScenarioError",
    "load_scenario",
    "SNR_TYPES",
    "LINK_MODES",
    "RAW_ARRAYS",
    "UNSWEEPABLE",
]

SnrType = Literal["es_no", "eb_no", "link_budget"]
SNR_TYPES: tuple[str, ...] = get_args(SnrType)
LinkModeName = Literal["bits", "analog", "digital"]
LINK_MODES: tuple[str, ...] = get_args(LinkModeName)
RawArray = Literal["h_freq", "tokens", "llr", "symbols"]
RAW_ARRAYS: tuple[str, ...] = get_args(RawArray)

#: Dotted fields (and everything under them) a sweep may not vary: they are
#: one per run (one trace, one device, one seed stream for all points).
UNSWEEPABLE: tuple[str, ...] = (
    "name", "description", "sweep", "run.seed", "run.device", "run.output", "run.raw",
)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
_DEVICE = re.compile(r"^(auto|cpu|cuda(:[0-9]+)?)$")


# ----------------------------------------------------------------- errors
class ScenarioError(ValueError):
    """A scenario that cannot be loaded, as one line for the user.

    ``str(err)``: ``<where>: <field>: <problem>; allowed: <allowed>``, where
    ``<where>`` is ``file:line`` (``file`` alone when the line is unknown,
    ``--set key=value`` for an override, absent for a dict source) and
    every part but ``<problem>`` may be absent.
    """

    def __init__(
        self,
        problem: str,
        *,
        field: Optional[str] = None,
        allowed: Optional[str] = None,
        file: Optional[str] = None,
        line: Optional[int] = None,
        where: Optional[str] = None,
    ) -> None:
        self.problem, self.field, self.allowed = problem, field, allowed
        self.file, self.line = file, line
        if where is None and file is not None:
            where = f"{file}:{line}" if line is not None else file
        self.where = where
        parts = [p for p in (where, field) if p] + [problem]
        message = ": ".join(parts) + (f"; allowed: {allowed}" if allowed else "")
        super().__init__(" ".join(message.split()))


class _Rule(ValueError):
    """A failed check inside the schema: ``path`` relative to the model that
    raised it, plus what is allowed. Carried through pydantic's
    ValidationError (``ctx["error"]``) and turned into a ScenarioError."""

    def __init__(self, problem: str, allowed: Optional[str] = None, path: tuple = ()) -> None:
        self.problem, self.allowed, self.path = problem, allowed, tuple(path)
        super().__init__(problem + (f"; allowed: {allowed}" if allowed else ""))


def _show(value: Any, limit: int = 60) -> str:
    """A value as the user wrote it (YAML spelling for null and booleans)."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and math.isinf(value):
        text = ".inf" if value > 0 else "-.inf"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _dotted(path: Sequence) -> str:
    """``("phy", "grid", "num_guard_carriers", 1)`` -> ``phy.grid.num_guard_carriers[1]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _did_you_mean(word: Any, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    if not close:
        close = [c for c in choices if c.lower() == str(word).lower()]
    return f", did you mean {close[0]!r}?" if close else ""


# ----------------------------------------------------------------- schema
class PhySection(PhyConfig):
    """The PHY (:class:`~tokenlink.phy.config.PhyConfig`) plus the SNR of the point.

    ``snr_type``: ``"es_no"``: ``snr_db`` is Es/N0 per resource element [dB];
    ``"eb_no"``: ``snr_db`` is Eb/N0 per (uncoded) bit [dB], converted with the
    pilot and cyclic-prefix overhead of ``grid`` (:func:`~tokenlink.phy.snr.ebno_db_to_esno_db`);
    ``"link_budget"``: the SNR is the mean link-budget SNR of ``link_budget``
    (no shadowing; ``snr_db`` is ignored), which is Es/N0 per RE because
    ``link_budget.bandwidth_hz`` must equal the grid's occupied bandwidth.
    ``snr_db = .inf`` is a noiseless link (token modes only).
    """

    snr_db: float = 10.0
    snr_type: SnrType = "es_no"
    link_budget: LinkBudget = LinkBudget()

    @field_validator("snr_db")
    @classmethod
    def _finite_or_inf(cls, value: float) -> float:
        if math.isnan(value) or value == -math.inf:
            raise _Rule(f"got {_show(value)}", "a number in dB, or .inf (noiseless)")
        return value

    @model_validator(mode="after")
    def _check_snr(self) -> "PhySection":
        if self.snr_type == "link_budget":
            occupied_hz = self.grid.num_effective_subcarriers * self.grid.subcarrier_spacing_hz
            if not math.isclose(self.link_budget.bandwidth_hz, occupied_hz, rel_tol=1e-9):
                raise _Rule(
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

    def esno_db(self) -> float:
        """Es/N0 per resource element [dB] the link runs at (see the class doc)."""
        if self.snr_type == "es_no":
            return float(self.snr_db)
        if self.snr_type == "eb_no":
            from .phy.grid import build_resource_grid

            resource_grid = build_resource_grid(self.grid, device="cpu")
            bits_per_symbol = MODULATIONS[self.modulation][1]
            return float(ebno_db_to_esno_db(self.snr_db, bits_per_symbol, 1.0, resource_grid))
        return float(self.link_budget.mean_snr_db())


class TokensSection(_Config):
    """Synthetic tokens ``[num_tokens, dim]`` per frame, i.i.d. with unit
    variance from ``distribution`` (until the semantic models land)."""

    num_tokens: PositiveInt = 64
    dim: PositiveInt = 64
    distribution: Literal["gaussian", "uniform", "laplace"] = "gaussian"


class LinkSection(_Config):
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
            raise _Rule(
                f"got {dig.subvector_dim}, which does not divide tokens.dim ({self.tokens.dim})",
                f"a divisor of tokens.dim: {', '.join(map(str, divisors))}",
                path=("digital", "subvector_dim"),
            )
        return self


class RawSection(_Config):
    """Raw arrays stored in the trace next to the statistics, up to ``max_mb``
    megabytes per run (``arrays`` empty: none)."""

    arrays: tuple[RawArray, ...] = ()
    max_mb: PositiveFloat = 64.0

    @field_validator("arrays")
    @classmethod
    def _distinct(cls, arrays: tuple) -> tuple:
        if len(set(arrays)) != len(arrays):
            raise _Rule(f"got {list(arrays)} with repeats",
                        "each of " + ", ".join(map(repr, RAW_ARRAYS)) + " at most once")
        return arrays


class RunSection(_Config):
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
            raise _Rule(f"got {_show(device)}", "auto, cpu, cuda, cuda:N (N = 0, 1, ...)")
        return device

    @field_validator("output")
    @classmethod
    def _output(cls, output: Optional[str]) -> Optional[str]:
        if output is not None and not output.strip():
            raise _Rule("got an empty path", "a file path such as results/study.h5, or null for results/<name>.h5")
        return output


class SweepSection(_Config):
    """Points of a study: the Cartesian product of the ``grid`` lists (first
    key varies slowest) times the ``zip`` lists taken together (equal
    lengths; they vary fastest). Keys are dotted fields of the scenario
    (``phy.snr_db``, ``phy.channel.model``, ``link.mode``...). Empty: one point.
    """

    grid: dict[str, list[Any]] = Field(default_factory=dict)
    zip: dict[str, list[Any]] = Field(default_factory=dict)

    @field_validator("grid", "zip", mode="before")
    @classmethod
    def _lists(cls, table: Any) -> Any:
        if not isinstance(table, Mapping):
            return table  # pydantic reports the type
        for key, values in table.items():
            if not isinstance(key, str):
                raise _Rule(f"key {_show(key)} is not a dotted field name", "dotted field names such as phy.snr_db")
            if isinstance(values, tuple):
                values = list(values)
            if not isinstance(values, list):
                raise _Rule(f"got {_show(values)}", "a non-empty list of values, e.g. [0, 5, 10]", path=(key,))
            if not values:
                raise _Rule("empty list", "a non-empty list of values, e.g. [0, 5, 10]", path=(key,))
            for i, value in enumerate(values):
                if not _is_plain(value):
                    raise _Rule(f"got a {type(value).__name__} that is not plain data (an object, or nested "
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
                raise _Rule("also swept in sweep.grid", "each field in grid or in zip, not both", path=(table, key))
        for i, a in enumerate(keys):
            for b in keys[i + 1:]:
                if b.startswith(a + ".") or a.startswith(b + "."):
                    inner = b if b.startswith(a + ".") else a
                    outer = a if inner == b else b
                    raise _Rule(f"overlaps the swept field {outer}", "fields that do not contain one another",
                                path=(self._table_of(inner), inner))
        lengths = {key: len(values) for key, values in self.zip.items()}
        if len(set(lengths.values())) > 1:
            first = next(iter(lengths))
            bad = next(k for k, n in lengths.items() if n != lengths[first])
            raise _Rule(f"has {lengths[bad]} values but sweep.zip.{first} has {lengths[first]}",
                        f"zip lists of equal length ({lengths[first]})", path=("zip", bad))
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


@dataclass(frozen=True)
class SweepPoint:
    """One point of a scenario's sweep.

    ``key``: stable name (``point_0003``); ``params``: the swept dotted
    fields and their values as written in the sweep, in declaration order;
    ``scenario``: the point's own validated scenario (sweep values applied,
    empty ``sweep``).
    """

    index: int
    key: str
    params: dict[str, Any]
    scenario: "Scenario" = dataclass_field(repr=False)


class Scenario(_Config):
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

    _source_path: Optional[str] = PrivateAttr(None)
    _source_text: Optional[str] = PrivateAttr(None)
    _overrides: tuple[str, ...] = PrivateAttr(())

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not _NAME.match(name):
            raise _Rule(f"got {_show(name)}", "1-100 letters, digits, '_', '-', '.', starting with a letter "
                        "or digit (it names the trace results/<name>.h5)")
        return name

    @model_validator(mode="after")
    def _check(self) -> "Scenario":
        if self.phy.snr_type == "eb_no" and self.link.mode == "analog":
            raise _Rule("'eb_no' needs bits, and link.mode 'analog' sends none",
                        "'es_no' or 'link_budget' with link.mode 'analog'", path=("phy", "snr_type"))
        if self.link.mode == "bits" and self.phy.snr_type != "link_budget" and math.isinf(self.phy.snr_db):
            raise _Rule("got .inf: a noiseless link has no bit errors to count",
                        "a finite number with link.mode 'bits' (.inf only in token modes)", path=("phy", "snr_db"))
        if self.semantic is not None and self.link.mode == "bits":
            raise _Rule("'bits' has no token link for the semantic models' tokens",
                        "'analog' or 'digital' with a semantic section", path=("link", "mode"))
        _expand(self)  # every point must validate
        return self

    # ----------------------------------------------------------- points
    def points(self) -> list[SweepPoint]:
        """The sweep points in their deterministic order (one without a sweep),
        computed from the current fields (so ``model_copy(update=...)`` is seen)."""
        return _expand(self)

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
        """The resolved scenario as plain data (lists, not tuples)."""
        return _plain(self.model_dump(mode="python"))

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


# ------------------------------------------------------- schema lookups
def _unwrap(annotation: Any) -> tuple[Any, list, bool]:
    """Strip ``Optional`` and ``Annotated``: ``(type, constraints, nullable)``."""
    metadata: list = []
    nullable = False
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation, *more = get_args(annotation)
            metadata += more
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            nullable = nullable or len(args) < len(get_args(annotation))
            if len(args) != 1:
                return annotation, metadata, nullable
            annotation = args[0]
        else:
            return annotation, metadata, nullable


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _schema_at(path: Sequence) -> tuple[Any, list]:
    """Annotation and constraints of the field at ``path`` (strings: fields,
    ints: list items, any key of a dict); raises _Rule on a bad path."""
    annotation, metadata = Scenario, []
    for i, part in enumerate(path):
        base, _, _ = _unwrap(annotation)
        origin = get_origin(base)
        if _is_model(base):
            if part not in base.model_fields:
                keys = list(base.model_fields)
                parent = f" in {_dotted(path[:i])}" if i else ""
                raise _Rule(f"unknown field {_show(part)}{parent}{_did_you_mean(part, keys)}", ", ".join(keys),
                            path=tuple(path[: i + 1]))
            info = base.model_fields[part]
            annotation, metadata = info.annotation, list(info.metadata)
        elif origin is tuple and isinstance(part, int):
            args = get_args(base)
            variadic = len(args) == 2 and args[1] is Ellipsis
            if not variadic and part >= len(args):
                raise _Rule(f"index {part} out of range", f"0..{len(args) - 1}", path=tuple(path[: i + 1]))
            annotation, metadata = (args[0] if variadic else args[part]), []
        elif origin is list and isinstance(part, int):
            annotation, metadata = get_args(base)[0] if get_args(base) else Any, []
        elif origin is dict:
            annotation, metadata = get_args(base)[1] if get_args(base) else Any, []
        else:
            raise _Rule(f"{_dotted(path[:i])} is a value, not a section with fields",
                        "a dotted path that ends at a field, e.g. phy.snr_db or phy.channel.model",
                        path=tuple(path[: i + 1]))
    return annotation, metadata


def _bounds(metadata: list) -> str:
    lo = hi = ""
    for m in metadata:
        if isinstance(m, annotated_types.Gt):
            lo = f"> {m.gt}"
        elif isinstance(m, annotated_types.Ge):
            lo = f">= {m.ge}"
        elif isinstance(m, annotated_types.Lt):
            hi = f"< {m.lt}"
        elif isinstance(m, annotated_types.Le):
            hi = f"<= {m.le}"
    if lo.startswith(">=") and hi.startswith("<="):
        return f" in {lo[3:]}..{hi[3:]}"
    return "".join(f" {b}" for b in (lo, hi) if b).replace("  ", " ")


def _describe(annotation: Any, metadata: Sequence = ()) -> str:
    """What a field accepts, in words: ``an integer > 0``, ``'awgn', 'tdl'``..."""
    base, more, nullable = _unwrap(annotation)
    metadata = list(metadata) + more
    origin = get_origin(base)
    if origin is Literal:
        text = ", ".join(map(repr, get_args(base)))
    elif _is_model(base):
        text = "a mapping with keys " + ", ".join(base.model_fields)
    elif base is bool:
        text = "true or false"
    elif base is int:
        text = "an integer" + _bounds(metadata)
    elif base is float:
        text = "a number" + _bounds(metadata)
    elif base is str:
        text = "a string"
    elif origin is tuple:
        args = get_args(base)
        if len(args) == 2 and args[1] is Ellipsis and get_origin(args[0]) is Literal:
            text = "a list of values from " + _describe(args[0])
        elif len(args) == 2 and args[1] is Ellipsis:
            text = f"a list, each item {_describe(args[0])}"
        elif len(set(args)) == 1:
            text = f"a list of {len(args)} items, each {_describe(args[0])}"
        else:
            text = f"a list of {len(args)} items: " + ", ".join(_describe(a) for a in args)
    elif origin is list:
        text = "a list"
    elif origin is dict:
        text = "a mapping of dotted field names to lists of values"
    else:
        text = "a value of type " + getattr(base, "__name__", str(base))
    return ("null or " if nullable else "") + text


def _check_sweep_key(key: str, rule_path: tuple) -> None:
    """A sweep key must name an existing, sweepable field."""
    parts = tuple(key.split("."))
    try:
        _schema_at(parts)
    except _Rule as err:
        raise _Rule(err.problem, err.allowed, path=rule_path) from None
    for prefix in UNSWEEPABLE:
        if key == prefix or key.startswith(prefix + ".") or prefix.startswith(key + "."):
            raise _Rule(f"{prefix} is one per run and cannot be swept",
                        "fields of phy, link and run, except " + ", ".join(UNSWEEPABLE), path=rule_path)


# --------------------------------------------------------------- sweep
def _set_path(data: dict, parts: Sequence[str], value: Any) -> None:
    for part in parts[:-1]:
        data = data[part]
    data[parts[-1]] = copy.deepcopy(value)


def _unused_fields(scenario: Scenario) -> list[tuple[str, str, str]]:
    """``(dotted prefix, why, what to do)`` for the fields this point does not use."""
    snr_type, mode = scenario.phy.snr_type, scenario.link.mode
    if snr_type == "link_budget":
        unused = [("phy.snr_db", "phy.snr_type is 'link_budget'",
                   "phy.link_budget fields (e.g. phy.link_budget.distance_m), or phy.snr_type es_no / eb_no")]
    else:
        unused = [("phy.link_budget", f"phy.snr_type is {snr_type!r}",
                   "phy.snr_db, or set phy.snr_type: link_budget to sweep the link budget")]
    why = f"link.mode is {mode!r}"
    if mode == "bits":
        todo = "fields of the PHY, or set link.mode to analog / digital (or sweep it) to use this one"
        unused += [(p, why, todo) for p in ("link.analog", "link.digital", "link.tokens",
                                            "link.max_slots_per_frame", "run.max_frames")]
    else:
        other = "digital" if mode == "analog" else "analog"
        unused.append((f"link.{other}", why, f"set link.mode to {other} (or sweep it) to use this field"))
    if scenario.semantic is not None:
        unused.append(("link.tokens", "the semantic section makes the tokens",
                       "semantic fields (e.g. semantic.num_tokens), or drop the semantic section"))
    return unused


def _expand(scenario: Scenario) -> list[SweepPoint]:
    """Validated points of ``scenario.sweep`` (raises _Rule naming the sweep entry)."""
    sweep = scenario.sweep
    if not sweep.keys():
        return [SweepPoint(0, "point_0000", {}, scenario)]
    base = scenario.model_dump(mode="python", exclude={"sweep"})
    grid_keys, zip_keys = list(sweep.grid), list(sweep.zip)
    num_zip = len(sweep.zip[zip_keys[0]]) if zip_keys else 1
    points = []
    for index, combo in enumerate(itertools.product(*(range(len(sweep.grid[k])) for k in grid_keys), range(num_zip))):
        where = [("grid", k, i) for k, i in zip(grid_keys, combo[:-1], strict=True)]
        where += [("zip", k, combo[-1]) for k in zip_keys]
        params = {k: getattr(sweep, table)[k][i] for table, k, i in where}
        key = f"point_{index:04d}"
        data = copy.deepcopy(base)
        for name, value in params.items():
            _set_path(data, name.split("."), value)
        try:
            point = Scenario.model_validate(data)
        except ValidationError as err:
            raise _blame(err, where, params, key) from None
        points.append(SweepPoint(index, key, params, point))
    for table, name in sweep._entries():
        unused = [next((u for u in _unused_fields(pt.scenario) if name == u[0] or name.startswith(u[0] + ".")), None)
                  for pt in points]
        if all(unused):
            _, why, todo = unused[0]
            raise _Rule(f"is not used by any point ({why}): every point would be the same", todo,
                        path=("sweep", table, name))
    return points


def _blame(err: ValidationError, where: list, params: dict, point_key: str) -> _Rule:
    """The sweep entry responsible for an invalid point: the swept field that
    contains the bad field, or shares the longest prefix with it."""
    path, problem, allowed = _explain(_first_error(err, {}))
    parts = [tuple(k.split(".")) for _, k, _ in where]

    def shared(k: tuple) -> int:
        return next((n for n, (a, b) in enumerate(zip(k, path, strict=False)) if a != b), min(len(k), len(path)))

    best = max(range(len(where)), key=lambda i: (shared(parts[i]), -i))
    table, name, index = where[best]
    if tuple(path) == parts[best]:
        return _Rule(problem, allowed, path=("sweep", table, name, index))
    values = ", ".join(f"{k}={_show(v, 30)}" for k, v in params.items())
    return _Rule(f"{point_key} ({values}) is invalid: {_dotted(path)}: {problem}", allowed,
                 path=("sweep", table, name, index))


# ------------------------------------------------- pydantic error -> one line
#: Messages of the model validators in phy/ and bridge/, split into the field
#: they are about, the value, and the rule (what is allowed).
_VALIDATOR_MESSAGES = [
    re.compile(r"^(?P<subject>[A-Za-z_][\w.]*) must be (?:within )?(?P<rule>.+?),? got (?P<got>.+)$"),
    re.compile(r"^(?P<subject>[A-Za-z_][\w.]*) \((?P<got>[^)]*)\) must be (?P<rule>.+)$"),
    re.compile(r"^(?P<subject>[A-Za-z_][\w.]*) (?P<problem>.+?): allowed (?P<rule>.+)$"),
    re.compile(r"^(?P<subject>[A-Za-z_][\w.]*)=(?P<got>\S+) (?P<problem>needs .+?): set (?P<rule>.+)$"),
]


def _first_error(err: ValidationError, marks: Mapping[tuple, int]) -> dict:
    """The error that comes first in the file (pydantic's order otherwise)."""
    errors = err.errors()
    return min(errors, key=lambda e: (_line_of(tuple(e["loc"]), marks) or math.inf, errors.index(e)))


def _explain(e: dict) -> tuple[tuple, str, Optional[str]]:
    """``(path, problem, allowed)`` of one pydantic error."""
    loc, kind, got = tuple(e["loc"]), e["type"], e.get("input")
    cause = (e.get("ctx") or {}).get("error")
    if isinstance(cause, _Rule):
        return loc + cause.path, cause.problem, cause.allowed
    try:
        annotation, metadata = _schema_at(loc)
        allowed: Optional[str] = _describe(annotation, metadata)
    except _Rule:
        annotation, allowed = None, None
    if kind == "extra_forbidden":
        keys = list(_unwrap(_schema_at(loc[:-1])[0])[0].model_fields)
        parent = f" in {_dotted(loc[:-1])}" if len(loc) > 1 else ""
        return loc, f"unknown field {_show(loc[-1])}{parent}{_did_you_mean(loc[-1], keys)}", ", ".join(keys)
    if kind == "literal_error":
        choices = [str(c) for c in get_args(_unwrap(annotation)[0])] if annotation is not None else []
        return loc, f"unknown value {_show(got)}{_did_you_mean(got, choices)}", allowed
    if kind == "missing" and loc and isinstance(loc[-1], int):  # tuple too short
        return loc[:-1], f"got {_show(got)}", _describe(*_schema_at(loc[:-1]))
    if kind == "missing":
        return loc, "missing", allowed
    if kind in ("too_short", "too_long"):
        return loc, f"got {(e.get('ctx') or {}).get('actual_length', '?')} items", allowed
    if kind.startswith("value_error") or kind == "assertion_error":
        message = str(cause) if cause is not None else e["msg"].removeprefix("Value error, ")
        message = " ".join(message.split())
        fields = _model_fields_at(loc)
        for pattern in _VALIDATOR_MESSAGES:
            m = pattern.match(message)
            if m and m["subject"].split(".")[0] in fields:
                found = m.groupdict()
                problem = ": ".join(p for p in (found.get("got") and f"got {found['got']}", found.get("problem")) if p)
                return loc + tuple(m["subject"].split(".")), problem, m["rule"]
        return loc, message, None
    if allowed is None:
        return loc, f"{e['msg']} (got {_show(got)})", None
    return loc, f"got {_show(got)}", allowed


def _model_fields_at(loc: tuple) -> list[str]:
    try:
        base = _unwrap(_schema_at(loc)[0])[0]
    except _Rule:
        return []
    return list(base.model_fields) if _is_model(base) else []


def _line_of(path: tuple, marks: Mapping[tuple, int]) -> Optional[int]:
    """Line of ``path`` in the file, or of its closest parent that is there."""
    for n in range(len(path), 0, -1):
        if path[:n] in marks:
            return marks[path[:n]]
    return None


class _Origin:
    """Where the values of a scenario come from: file marks and overrides."""

    def __init__(self, file: Optional[str] = None, marks: Optional[dict] = None) -> None:
        self.file, self.marks = file, marks or {}
        self.overrides: list[tuple[tuple, str]] = []

    def error(self, path: Sequence, problem: str, allowed: Optional[str]) -> ScenarioError:
        path = tuple(path)
        for prefix, text in reversed(self.overrides):
            if path[: len(prefix)] == prefix:
                return ScenarioError(problem, field=_dotted(path), allowed=allowed, where=f"--set {text}")
        return ScenarioError(problem, field=_dotted(path) or None, allowed=allowed, file=self.file,
                             line=_line_of(path, self.marks) if self.file else None)

    def from_validation(self, err: ValidationError) -> ScenarioError:
        return self.error(*_explain(_first_error(err, self.marks)))


# ------------------------------------------------------------------ YAML
class _YamlLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads ``1e6`` as a float (YAML 1.2)."""


_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)
_MAX_MARKS = 100_000


def _parse_yaml(text: str, file: Optional[str]) -> tuple[Any, dict]:
    """Data and ``{path: line}`` of every key and list item of a YAML text."""
    loader = None
    try:
        loader = _YamlLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None, {}
        marks: dict = {(): node.start_mark.line + 1}  # () is the document itself
        _walk(node, (), marks, file, set())
        return loader.construct_document(node), marks
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = " ".join(str(err.problem or err.context or "invalid YAML").split())
        if err.problem and err.context and err.context_mark and mark and err.context_mark.line != mark.line:
            problem += f" ({err.context} at line {err.context_mark.line + 1})"
        if isinstance(err, yaml.constructor.ConstructorError):
            what, allowed = "YAML error", "plain YAML values (tags such as !!python/... are not loaded)"
        elif "\\t" in problem or "\t" in problem:
            what, allowed = "YAML syntax error", "spaces for indentation (YAML forbids tabs)"
        else:
            what, allowed = "YAML syntax error", "YAML syntax: 'key: value' mappings, 2-space indentation, [a, b] lists"
        raise ScenarioError(f"{what}: {problem}", allowed=allowed, file=file,
                            line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as err:
        raise ScenarioError(f"YAML error: {err}", allowed="a UTF-8 YAML text", file=file) from None
    finally:
        if loader is not None:
            loader.dispose()


def _walk(node: yaml.Node, path: tuple, marks: dict, file: Optional[str], active: set) -> None:
    if id(node) in active or len(marks) > _MAX_MARKS:  # recursive alias / alias bomb
        return
    active.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                continue
            key, line = key_node.value, key_node.start_mark.line + 1
            if key in seen:
                raise ScenarioError(f"duplicate key {key!r} (first at line {seen[key]})",
                                    field=_dotted(path + (key,)), allowed="each key once per mapping",
                                    file=file, line=line)
            seen[key] = marks[path + (key,)] = line
            _walk(value_node, path + (key,), marks, file, active)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            marks[path + (i,)] = item.start_mark.line + 1
            _walk(item, path + (i,), marks, file, active)
    active.discard(id(node))


def _read(path: Path) -> str:
    file = str(path)
    what = "a readable UTF-8 YAML scenario file"
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError("no such file", allowed="the path of an existing scenario YAML file", file=file) from None
    except IsADirectoryError:
        raise ScenarioError("is a directory, not a file", allowed=what + ", e.g. scenarios/<name>.yaml",
                            file=file) from None
    except PermissionError:
        raise ScenarioError("permission denied", allowed=what, file=file) from None
    except UnicodeDecodeError as err:
        raise ScenarioError(f"not UTF-8 text (byte {err.start})", allowed=what, file=file) from None
    except OSError as err:
        raise ScenarioError(f"cannot read: {err.strerror or err}", allowed=what, file=file) from None


# ------------------------------------------------------------- overrides
_OVERRIDE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")
_OVERRIDE_HELP = "--set dotted.key=value, e.g. --set phy.snr_db=5 or --set sweep.grid.phy.snr_db=[0,5,10]"


def _parse_override(text: str) -> tuple[tuple, Any]:
    """``"a.b=v"`` -> ``(("a", "b"), v)``, ``v`` read as YAML. Under
    ``sweep.grid.`` / ``sweep.zip.`` the rest of the key is one sweep key."""
    key, sep, raw = str(text).partition("=")
    key = key.strip()
    if not sep or not _OVERRIDE_KEY.match(key):
        raise ScenarioError(f"bad override {_show(text)}", allowed=_OVERRIDE_HELP, where="--set")
    try:
        value = yaml.load(raw, Loader=_YamlLoader) if raw.strip() else None
    except yaml.YAMLError as err:
        problem = " ".join(str(getattr(err, "problem", None) or err).split())
        raise ScenarioError(f"value is not valid YAML: {problem}", field=key,
                            allowed="a YAML value: 5, tdl, true, null, [0, 5, 10], {model: tdl}",
                            where=f"--set {text}") from None
    parts = tuple(key.split("."))
    if parts[0] == "sweep" and len(parts) > 2 and parts[1] in ("grid", "zip"):
        return ("sweep", parts[1], ".".join(parts[2:])), value
    try:
        _schema_at(parts)
    except _Rule as err:
        raise ScenarioError(err.problem, field=_dotted(err.path), allowed=err.allowed, where=f"--set {text}") from None
    return parts, value


def _apply_override(data: dict, text: str, origin: _Origin) -> None:
    path, value = _parse_override(text)
    node = data
    for i, part in enumerate(path[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            raise origin.error(path[: i + 1], f"got {_show(child)}, so --set {text} cannot apply",
                               _describe(*_schema_at(path[: i + 1])))
        node = child
    node[path[-1]] = value
    origin.overrides.append((path, text))
    if path[0] != "sweep":  # --set on a swept field pins it: drop it from the sweep
        _pin(data, ".".join(path), text)


def _pin(data: dict, key: str, text: str) -> None:
    sweep = data.get("sweep")
    for table in ("grid", "zip"):
        entries = sweep.get(table) if isinstance(sweep, dict) else None
        if not isinstance(entries, dict):
            continue
        for swept in list(entries):
            if swept == key or str(swept).startswith(key + "."):
                del entries[swept]
            elif key.startswith(str(swept) + "."):
                raise ScenarioError("is swept, so a --set inside it has no effect", field=f"sweep.{table}.{swept}",
                                    allowed=f"--set sweep.{table}.{swept}=[...] to change the swept values",
                                    where=f"--set {text}")


# ---------------------------------------------------------------- loader
def load_scenario(
    source: Union[str, os.PathLike, Mapping[str, Any], Scenario], overrides: Sequence[str] = ()
) -> Scenario:
    """Load, override and validate a scenario.

    :param source: Path of a YAML file (read with a safe loader), a
        mapping with the same content, or a :class:`Scenario` (to apply
        overrides to it).
    :param overrides: ``"dotted.key=value"`` strings (the CLI's ``--set``),
        applied in order; the value is read as YAML (``5``, ``tdl``,
        ``[0, 5]``, ``{model: tdl}``). A key under ``sweep.grid.`` or
        ``sweep.zip.`` sets one sweep entry (``sweep.grid.phy.snr_db=[0,5]``);
        setting a swept field (``phy.snr_db=5``) removes it from the sweep.
    :output scenario: the validated :class:`Scenario`; its points are
        validated too.
    :raises ScenarioError: one line naming the file, line, field and what is allowed.
    """
    if isinstance(overrides, str):
        overrides = (overrides,)
    if isinstance(source, Scenario):
        source = source.to_dict()
    if isinstance(source, Mapping):
        file, text, marks = None, None, {}
        data: Any = copy.deepcopy(dict(source))
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        file = str(path)
        text = _read(path)
        data, marks = _parse_yaml(text, file)
        if data is None:
            raise ScenarioError("empty scenario file", allowed="a YAML mapping of sections: "
                                + ", ".join(Scenario.model_fields) + " (all optional, e.g. 'name: study')",
                                file=file)
    else:
        raise ScenarioError(f"source is a {type(source).__name__}",
                            allowed="a path to a YAML file (str or Path), a mapping or a Scenario")
    if not isinstance(data, dict):
        raise ScenarioError(f"the top level is a {type(data).__name__}, not a mapping",
                            allowed="a mapping of sections: " + ", ".join(Scenario.model_fields),
                            file=file, line=marks.get(()))
    if file is not None and "name" not in data and _NAME.match(Path(file).stem):
        data["name"] = Path(file).stem
    origin = _Origin(file, marks)
    for text_override in overrides:
        _apply_override(data, text_override, origin)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        raise origin.from_validation(err) from None
    scenario._source_path = file
    scenario._source_text = text
    scenario._overrides = tuple(overrides)
    return scenario
