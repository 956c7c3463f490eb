""":func:`load_scenario`: read, override and validate a scenario."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

from pydantic import ValidationError

from .errors import Origin, ScenarioError
from .overrides import apply_override
from .schema import NAME_PATTERN, Scenario
from .yaml_source import parse_yaml, read_text

__all__ = ["load_scenario"]


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
    :output scenario: the validated :class:`Scenario`; every point of its
        sweep is validated too (without keeping them: :meth:`Scenario.points`
        builds them when asked).
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
        text = read_text(path)
        data, marks = parse_yaml(text, file)
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
    if file is not None and "name" not in data and NAME_PATTERN.match(Path(file).stem):
        data["name"] = Path(file).stem
    origin = Origin(file, marks)
    for text_override in overrides:
        apply_override(data, text_override, origin, Scenario)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        raise origin.from_validation(err, Scenario) from None
    scenario._source_path = file
    scenario._source_text = text
    scenario._overrides = tuple(overrides)
    return scenario
