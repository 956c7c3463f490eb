"""The tokenlink.semantic.fedsl package: lazy public names, no torch until one is used."""

import importlib
import subprocess
import sys

import tokenlink.semantic.fedsl as fedsl


def test_fedsl_public_names_are_the_objects_of_their_modules():
    assert fedsl.__all__ == sorted(fedsl._EXPORTS)
    for name, module in fedsl._EXPORTS.items():
        assert getattr(fedsl, name) is getattr(importlib.import_module(f"tokenlink.semantic.fedsl.{module}"), name)
    assert fedsl.split.__name__ == "tokenlink.semantic.fedsl.split"


def test_importing_fedsl_loads_no_torch():
    code = "import sys, tokenlink.semantic.fedsl; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stderr
