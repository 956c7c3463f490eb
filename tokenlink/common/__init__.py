"""tokenlink.common: the few helpers every layer may use.

Pure Python + pydantic (and tqdm for the live bars of ``progress``), no
torch, no Sionna, and no import of any other tokenlink module, so that
``phy``, ``bridge``, ``semantic`` and the runner can all depend on it without
breaking the one-way stack (runner -> semantic -> bridge -> phy). The
import-linter contracts in ``pyproject.toml`` check that it stays independent.
"""
