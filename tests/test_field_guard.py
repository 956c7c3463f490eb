"""No scenario field silently does nothing.

For every sweepable leaf field of the scenario (phy, link, run, semantic; not
the one-per-run fields of ``UNSWEEPABLE``) and several base scenarios (each
link mode, each SNR type, shadowing on / off / zero, early stopping on / off,
semantic points trained, trained over the other link mode, or loaded from a
checkpoint), the field is changed to another valid value, and the plan of the
point (:func:`tokenlink.scenario.plan.point_plan`, from which the runner builds
what it simulates) is compared:

* the plan changes  <=>  a sweep over the field is accepted;
* the plan stays    <=>  the scenario's unused-field rule refuses the sweep
  ("is not used by any point").

Every field must change the plan in at least one base, except the fields
listed below with the reason.
"""

import copy
from typing import Any, Literal, get_args, get_origin

import pytest

from tokenlink.common.introspect import leaf_fields, unwrap
from tokenlink.scenario import UNSWEEPABLE, Scenario, ScenarioError, load_scenario
from tokenlink.scenario.plan import point_plan

#: Fields that change where things are written, not what is simulated.
OUTPUT_ONLY = {
    "semantic.checkpoint_dir": "where the trained checkpoints are written (training resumes exactly, the weights "
                               "are the same)",
    "semantic.checkpoint_every": "how often a checkpoint is written (training resumes exactly, the weights are the "
                                 "same)",
}
#: Fields whose one valid value is fixed by other fields wherever they are used.
DERIVED = {
    "phy.link_budget.bandwidth_hz": "must equal the grid's occupied bandwidth with snr_type link_budget (and is "
                                    "unused otherwise): sweep the grid instead",
}

_SEMANTIC = {"train_questions": 16, "test_questions": 8}
BASES: dict[str, dict] = {
    "bits_awgn": {},
    "bits_budget_tdl_ls": {"phy": {"snr_type": "link_budget", "channel": {"model": "tdl", "speed_mps": 3.0},
                                   "receiver": {"estimator": "ls"}}},
    "bits_budget_off": {"phy": {"snr_type": "link_budget", "link_budget": {"shadowing": "off"}}},
    "bits_budget_zero": {"phy": {"snr_type": "link_budget", "link_budget": {"path_loss_model": "free_space"}}},
    "bits_eb_no_no_early_stop": {"phy": {"snr_type": "eb_no", "channel": {"model": "cdl"}},
                                 "run": {"early_stop": False, "max_rel_stderr": 0.1}},
    "analog_rayleigh": {"link": {"mode": "analog"}, "phy": {"channel": {"model": "rayleigh"}}},
    "analog_precision": {"link": {"mode": "analog"}, "run": {"max_rel_stderr": 0.1},
                         "phy": {"snr_type": "link_budget"}},
    "digital_rician_lmmse": {"link": {"mode": "digital"}, "run": {"max_rel_stderr": 0.1},
                             "phy": {"snr_type": "eb_no", "channel": {"model": "rician", "k_factor": 2.0},
                                     "receiver": {"estimator": "lmmse"}}},
    "digital_vector": {"link": {"mode": "digital", "digital": {"quantizer": "vector"}}},
    "semantic_digital": {"link": {"mode": "digital"}, "semantic": _SEMANTIC},
    "semantic_trained_analog": {"link": {"mode": "digital"}, "semantic": {**_SEMANTIC, "train_link_mode": "analog"},
                                "phy": {"snr_type": "link_budget"}},
    "semantic_checkpoint": {"link": {"mode": "analog"}, "semantic": {**_SEMANTIC, "checkpoint": "/ckpt/a"}},
    "bits_network": {"phy": {"channel": {"model": "tdl"}, "receiver": {"estimator": "ls"}},
                     "network": {"users": [{"esno_db": 5.0}, {"link_budget": {"distance_m": 200.0}}, {}]}},
    "bits_mu_mimo": {"phy": {"receiver": {"estimator": "ls"}, "base_station": {"num_rx_antennas": 4}},
                     "network": {"sharing": "mu_mimo", "users": [{"esno_db": 5.0}, {}]}},
}

#: Other values to try where the type alone does not give one.
CANDIDATES: dict[str, list[Any]] = {
    "phy.grid.num_guard_carriers": [[1, 1]],
    "phy.grid.pilot_ofdm_symbol_indices": [[3, 10], [2]],
    "phy.link_budget.shadowing_std_db": [2.0, 3.0],  # not null: the model's default may equal the value
    "link.digital.clip": [[-2.0, 2.0]],
    "semantic.dataset_options": [{"num_train": 10}],
    "semantic.data_root": ["/data/elsewhere"],
    "semantic.modalities": [["image"]],
    "semantic.lora.targets": [["query", "key"]],
    "semantic.train_snr_db": [[5.0, 15.0], 10.0],
    "semantic.train_phy": [{"channel": {"model": "rayleigh"}}, {"receiver": {"estimator": "ls"}}],
    "semantic.checkpoint": ["/ckpt/b"],
    "semantic.checkpoint_dir": ["/ckpts"],
    "network.users": [[{"esno_db": 3.0}, {}, {}], [{}, {}]],
    "network.shares": [[0.5, 0.25, 0.25], [0.5, 0.5]],
}


def _sweepable(path: str) -> bool:
    """Not a one-per-run field, and not ``fedsl.*``: a FedSL point's plan is its training run
    (:func:`tokenlink.fedsl_run.training_config`), not :func:`point_plan`; this guard does not cover
    that section yet (tests/test_fedsl_run.py checks which of its fields name a run)."""
    if path.startswith("fedsl."):
        return False
    return not any(path == u or path.startswith(u + ".") for u in UNSWEEPABLE)


FIELDS = [(path, annotation) for path, annotation in leaf_fields(Scenario) if _sweepable(path)]


def _candidates(path: str, annotation: Any, current: Any) -> list[Any]:
    base, _, nullable = unwrap(annotation)
    if path in CANDIDATES:
        out = list(CANDIDATES[path])
    elif get_origin(base) is Literal:
        out = list(get_args(base))
    elif base is bool:
        out = [not current]
    elif base is int:
        out = [current + 1, current * 2, current - 1] if current is not None else [2, 8]
    elif base is float:
        out = [current * 2, current + 0.5] if current else [0.5, 1.0, 3.0]
    else:
        raise AssertionError(f"{path}: no candidate values for {annotation}; add some to CANDIDATES")
    if nullable and current is not None:
        out.append(None)
    return [v for v in out if v != current]


def _get(data: dict, path: str, model: Any) -> Any:
    """The field's value in the dumped scenario, or in the model when the dump leaves it out at its
    default (``phy.backend: torch``, so that fingerprints stay as they were before the field)."""
    try:
        for part in path.split("."):
            data = data[part]
        return data
    except KeyError:
        for part in path.split("."):
            model = getattr(model, part)
        return model


def _set(data: dict, path: str, value: Any) -> dict:
    data = copy.deepcopy(data)
    *parents, name = path.split(".")
    table = data
    for part in parents:
        table = table.setdefault(part, {})
    table[name] = value
    return data


def _refused_as_unused(base: dict, path: str, values: list) -> bool:
    try:
        load_scenario({**base, "sweep": {"grid": {path: values}}})
    except ScenarioError as err:
        assert "is not used by any point" in str(err), str(err)
        return True
    return False


def _check_base(name: str) -> tuple[list[str], set[str]]:
    """(mismatches, fields that changed the plan) of one base scenario."""
    base = load_scenario(BASES[name])
    data = base.to_dict()
    data.pop("sweep")
    plan = point_plan(base)
    mismatches, used = [], set()
    for path, annotation in FIELDS:
        if (path.startswith("semantic.") and base.semantic is None) or (
                path.startswith("network.") and base.network is None):
            continue
        current = _get(data, path, base)
        for value in _candidates(path, annotation, current):
            try:
                changed = load_scenario(_set(data, path, value))
            except ScenarioError:
                continue  # not valid here: try another value
            differs = point_plan(changed) != plan
            refused = _refused_as_unused(data, path, [current, value])
            if differs:
                used.add(path)
            if path in OUTPUT_ONLY:
                if differs or refused:
                    mismatches.append(f"{name}: {path} -> {value!r}: output-only, but the plan differs ({differs}) "
                                      f"or the sweep is refused ({refused})")
            elif differs == refused:
                what = ("changes what is simulated, but a sweep over it is refused as unused" if differs else
                        "changes nothing that is simulated, and a sweep over it is accepted (it silently does nothing)")
                mismatches.append(f"{name}: {path} {current!r} -> {value!r} {what}")
            break
    return mismatches, used


@pytest.mark.parametrize("name", sorted(BASES))
def test_changing_a_field_changes_the_plan_exactly_when_the_field_is_used(name):
    mismatches, _ = _check_base(name)
    assert mismatches == []


def test_every_sweepable_field_changes_what_some_point_simulates():
    used = set()
    for name in BASES:
        used |= _check_base(name)[1]
    never = [path for path, _ in FIELDS if path not in used and path not in OUTPUT_ONLY and path not in DERIVED]
    assert never == []
    assert len(FIELDS) > 80


def test_the_exceptions_are_real_fields_and_their_sweep_is_accepted():
    names = {path for path, _ in FIELDS}
    assert set(OUTPUT_ONLY) <= names and set(DERIVED) <= names
    semantic = load_scenario(BASES["semantic_digital"]).to_dict()
    semantic.pop("sweep")
    assert not _refused_as_unused(semantic, "semantic.checkpoint_every", [200, 100])
