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

Errors are :class:`ScenarioError`, one line:
``<file>:<line>: <dotted.field>: <what is wrong>; allowed: <what is allowed>``.
Reference: ``docs/scenarios.md``.

The package, by job:

* :mod:`.schema`: the sections and :class:`Scenario`;
* :mod:`.sweep`: the points of a sweep (:class:`SweepPoints`, a lazy sequence of
  :class:`SweepPoint`), every one validated at load time;
* :mod:`.variants`: the validation of many points, each distinct section content once;
* :mod:`.plan`: what a point simulates (:func:`~.plan.point_plan`), which the runner consumes;
* :mod:`.warnings`: configurations that validate but cannot work as meant;
* :mod:`.loader`: :func:`load_scenario`;
* :mod:`.yaml_source`: the safe YAML loader with line marks, file reading;
* :mod:`.overrides`: ``--set dotted.key=value``;
* :mod:`.errors`: :class:`ScenarioError` and where a bad value came from
  (the words themselves: :mod:`tokenlink.common.errors`).
"""

from . import schema as _schema
from .errors import ScenarioError
from .loader import load_scenario
from .schema import (
    LINK_MODES,
    RAW_ARRAYS,
    SNR_TYPES,
    UNSWEEPABLE,
    LinkSection,
    PhySection,
    RawSection,
    RunSection,
    Scenario,
    SweepSection,
    TokensSection,
)
from .sweep import SweepPoint, SweepPoints

__all__ = ["load_scenario", "ScenarioError", "SweepPoint", "SweepPoints", *_schema.__all__]
