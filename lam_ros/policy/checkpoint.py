"""Training checkpoints in safetensors: tensors only, loaded without any pickle code execution.

Model, EMA and normalizer weights and the optimizer's per-parameter moments are tensors; the
optimizer's hyperparameters and the loop's counters travel as JSON in the file's metadata.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, slots in state["state"].items():
        for slot, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{index}.{slot}"] = value
            else:
                scalars[f"{index}.{slot}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def save_checkpoint(path: Path, modules: dict[str, torch.nn.Module],
                    optimizer: torch.optim.Optimizer, counters: dict[str, Any]) -> None:
    tensors = {f"{name}.{key}": value.detach().cpu().contiguous()
               for name, module in modules.items()
               for key, value in module.state_dict().items()}
    optimizer_tensors, optimizer_meta = _optimizer_tensors(optimizer)
    tensors.update({k: v.cpu().contiguous() for k, v in optimizer_tensors.items()})
    metadata = {"optimizer": json.dumps(optimizer_meta), "counters": json.dumps(counters)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.replace(path)  # a killed run leaves the previous checkpoint intact


def load_weights(tensors: dict[str, torch.Tensor], modules: dict[str, torch.nn.Module]) -> None:
    """Each module's tensors from a checkpoint's (``load_file``), by the module's name."""
    for name, module in modules.items():
        prefix = f"{name}."
        module.load_state_dict({k[len(prefix):]: v for k, v in tensors.items()
                                if k.startswith(prefix)})


def load_checkpoint(path: Path, modules: dict[str, torch.nn.Module],
                    optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restores modules and optimizer in place; returns the saved counters."""
    from safetensors import safe_open

    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    load_weights(tensors, modules)
    optimizer_meta = json.loads(metadata["optimizer"])
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, slot = key.split(".", 2)
            state.setdefault(int(index), {})[slot] = value
    for key, value in optimizer_meta["scalars"].items():
        index, slot = key.split(".", 1)
        state.setdefault(int(index), {})[slot] = value
    optimizer.load_state_dict({"state": state, "param_groups": optimizer_meta["param_groups"]})
    return json.loads(metadata["counters"])
