"""Training checkpoints: one safetensors file, written atomically.

A checkpoint holds the trainable state of a :class:`~tokenlink.semantic.pipeline.TokenCommModel`
(``model.*``), the optimizer's tensors (``optim.<param index>.<name>``), the
random generators' states (``rng.*``) and, in the file's text metadata, JSON
with the rest: the configuration, where training stands (stage, epoch, step
within the epoch), the optimizer's parameter groups and the history. Only
tensors and strings are ever read back: no pickle, so a checkpoint file a user
hands over cannot run code.

The file is written to a temporary name and renamed over the old one, so a
crash at any moment leaves either the previous checkpoint or the new one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional, Union

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

__all__ = ["save_checkpoint", "load_checkpoint", "CHECKPOINT_FILE", "optimizer_tensors", "load_optimizer",
           "strip_prefix"]

CHECKPOINT_FILE = "checkpoint.safetensors"


def save_checkpoint(folder: Union[str, os.PathLike], tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Write ``tensors`` and JSON ``meta`` to ``folder/checkpoint.safetensors`` atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CHECKPOINT_FILE
    tmp = folder / (CHECKPOINT_FILE + ".tmp")
    cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    save_file(cpu, str(tmp), metadata={"tokenlink": json.dumps(meta, sort_keys=True)})
    os.replace(tmp, path)
    return path


def load_checkpoint(folder: Union[str, os.PathLike]) -> Optional[tuple[dict[str, torch.Tensor], dict[str, Any]]]:
    """``(tensors, meta)`` of ``folder/checkpoint.safetensors``, `None` if there is none.

    Raises ``ValueError`` (one line, naming the file) for a file that is not a tokenlink checkpoint.
    """
    path = Path(folder) / CHECKPOINT_FILE
    if not path.exists():
        return None
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            text = (f.metadata() or {}).get("tokenlink")
        meta = json.loads(text) if text else None
    except (SafetensorError, OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a readable tokenlink checkpoint ({err})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: not a tokenlink checkpoint (no 'tokenlink' metadata)")
    return tensors, meta


def strip_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries whose names start with ``prefix``, named without it (``model.head.w`` -> ``head.w``)."""
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """The optimizer's state as flat tensors ``optim.<index>.<name>`` and JSON-able parameter groups."""
    state = optimizer.state_dict()
    tensors = {}
    for index, entry in state["state"].items():
        for name, value in entry.items():
            tensors[f"optim.{index}.{name}"] = value if torch.is_tensor(value) else torch.tensor(value)
    return tensors, state["param_groups"]


def load_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list[dict]) -> None:
    """Inverse of :func:`optimizer_tensors`."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": groups})
