"""One SHA-256-of-sorted-JSON key (tokenlink.common.digest), and the caches that
use it keep the keys they had: existing channel banks, trained models, encoder
weights and data sets are found again."""

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from tokenlink.common.digest import json_digest

VALUE = {"b": [1, 2.5, None], "a": {"z": "x", "y": True}}


def test_json_digest_is_the_sha256_of_sorted_json_with_json_defaults():
    assert json_digest(VALUE) == "58190cca2a4ff38e"  # frozen: renaming it would orphan every cache entry
    assert json_digest(VALUE) == hashlib.sha256(json.dumps(VALUE, sort_keys=True).encode()).hexdigest()[:16]


def test_json_digest_with_compact_separators_and_a_default():
    assert json_digest(VALUE, separators=(",", ":"), default=str) == "4e2d74f9cffa68dd"
    assert json_digest({"p": Path("/x")}, 12, separators=(",", ":"), default=str) == "601c18794a98"
    with pytest.raises(TypeError):
        json_digest({"p": Path("/x")})


def test_json_digest_ignores_key_order_and_sees_every_value():
    assert json_digest({"a": 1, "b": 2}) == json_digest({"b": 2, "a": 1})
    assert json_digest({"a": 1, "b": 2}) != json_digest({"a": 1, "b": 3})
    assert len(json_digest(VALUE, 64)) == 64 and len(json_digest(VALUE, 1)) == 1
    with pytest.raises(ValueError, match="length"):
        json_digest(VALUE, 0)


def test_semantic_cache_key_is_unchanged():
    from tokenlink.semantic.cache import config_key

    config = {"kind": "image", "width": 64, "root": Path("/data"), "nested": {"b": 1, "a": [0.5]}}
    old = hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()
    assert config_key(config) == old[:16]
    assert config_key(config, length=8) == old[:8]


def test_channel_bank_key_is_unchanged():
    from tokenlink.phy.bank import _cache_key
    from tokenlink.phy.config import PhyConfig

    config = PhyConfig(channel={"model": "tdl", "profile": "C"})
    link = SimpleNamespace(config=config, precision="single")
    desc = {"channel": config.channel.model_dump(mode="json"), "grid": config.grid.model_dump(mode="json"),
            "precision": "single", "size": 256, "seed": 7}
    assert _cache_key(link, 256, 7) == hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:16]


def test_training_key_is_unchanged():
    from tokenlink.scenario import load_scenario
    from tokenlink.semantic_run import training_config, training_key

    scenario = load_scenario(Path(__file__).resolve().parents[1] / "scenarios" / "semantic_easy_vqa.yaml")
    point = scenario.points()[0].scenario
    text = json.dumps(training_config(point), sort_keys=True)
    assert training_key(point) == hashlib.sha256(text.encode()).hexdigest()[:16]
