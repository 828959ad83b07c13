"""Exports a trained policy to ONNX per the policy-file contract, and proves the file is right.

Inputs ``image_<camera>`` uint8 [1, H, W, 3], ``state`` float32 [1, n_joints] and, for a policy
with history, ``state_history`` float32 [1, history - 1, n_joints]; output
``actions`` float32 [1, chunk, n_joints] in robot units; normalization inside the graph; the
policy card in metadata_props (and as JSON beside the model). A family's optional inputs (the
flow policy's ``noise``) are graph inputs that are also initializers holding their default, so
onnxruntime lists them apart from the required inputs and a caller feeding only the contract's
inputs runs on the defaults. The export fails unless every weight and every torch output on the
held-out frames is finite, ``onnx.checker`` (full check) passes and onnxruntime matches torch on
those frames (defaults for the optional inputs; a NaN difference fails).
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from lam_ros.core import features
from lam_ros.policy.card import CARD_KEY, PolicyCard, card_path
from lam_ros.policy.model import ExportedPolicy

OPSET = 17
PARITY_TOLERANCE = 1e-4  # robot units (rad, m)
CONFIG_KEY = "lam_ros.training_config"


class ExportError(RuntimeError):
    """The exported graph failed a check; the message says which and by how much."""


@dataclass(frozen=True)
class ExportResult:
    model_path: Path
    card_path: Path
    max_abs_diff: float  # onnxruntime vs torch over the parity frames, robot units
    parity_frames: int


def input_names(wrapper: ExportedPolicy) -> list[str]:
    """The contract's inputs, in the order the wrapper takes them."""
    names = [features.image_key(name) for name in wrapper.camera_names] + [features.STATE]
    return names + ([features.STATE_HISTORY] if wrapper.policy.shapes.history > 1 else [])


def export_policy(wrapper: ExportedPolicy, card: PolicyCard, model_path: str | Path,
                  parity_inputs: list[dict[str, np.ndarray]], training_config: dict,
                  tolerance: float = PARITY_TOLERANCE) -> ExportResult:
    """Writes ``model_path`` and its card; ``parity_inputs`` are held-out frames (batch 1)."""
    if not parity_inputs:
        raise ExportError("export needs at least one held-out frame for the parity check")
    model_path = Path(model_path)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = wrapper.eval()
    check_finite(wrapper, parity_inputs)
    names = input_names(wrapper)
    model = _to_onnx(wrapper, names, parity_inputs[0])
    for key, value in ((CARD_KEY, card.to_json()), (CONFIG_KEY, json.dumps(training_config))):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, model_path)
    diff = parity(wrapper, model_path, parity_inputs)
    if not diff <= tolerance:
        model_path.unlink()
        raise ExportError(f"onnxruntime differs from torch by {diff:.3g} (> {tolerance:g}) "
                          f"on {len(parity_inputs)} held-out frames; {model_path} removed")
    card_file = card_path(model_path)
    card_file.write_text(card.to_json())
    return ExportResult(model_path, card_file, diff, len(parity_inputs))


def check_finite(wrapper: ExportedPolicy, inputs: list[dict[str, np.ndarray]]) -> None:
    """Raises ExportError naming the weights, or the frame, that are not finite."""
    bad = [name for name, tensor in wrapper.state_dict().items()
           if tensor.is_floating_point() and not torch.isfinite(tensor).all()]
    if bad:
        raise ExportError(f"the model has non-finite (NaN/Inf) weights in {bad}; not exported")
    names = input_names(wrapper)
    with torch.no_grad():
        for i, sample in enumerate(inputs):
            actions = wrapper(*(torch.from_numpy(sample[n]) for n in names))
            if not torch.isfinite(actions).all():
                raise ExportError(f"the model's output on held-out frame {i} holds non-finite "
                                  "(NaN/Inf) values; not exported")


def _to_onnx(wrapper: ExportedPolicy, names: list[str],
             sample: dict[str, np.ndarray]) -> onnx.ModelProto:
    optional = wrapper.policy.optional_inputs()
    args = (*(torch.from_numpy(sample[name]) for name in names),
            *(default.detach().clone() for default in optional.values()))
    buffer = io.BytesIO()
    # The TorchScript exporter on purpose: the dynamo one needs onnxscript, not installed here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(wrapper, args, buffer, input_names=[*names, *optional],
                          output_names=[features.ACTIONS], opset_version=OPSET, dynamo=False,
                          do_constant_folding=True)
    model = onnx.load_from_string(buffer.getvalue())
    for name, default in optional.items():  # an initializer named as an input is its default
        model.graph.initializer.append(numpy_helper.from_array(default.detach().cpu().numpy(),
                                                               name))
    return model


def parity(wrapper: ExportedPolicy, model_path: Path,
           inputs: list[dict[str, np.ndarray]]) -> float:
    """Largest |onnxruntime - torch| over all frames and outputs, in robot units; NaN when any
    difference is NaN."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # an initializer that is also an input warns; it is meant
    session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    names = input_names(wrapper)
    diffs = []
    with torch.no_grad():
        for sample in inputs:
            expected = wrapper(*(torch.from_numpy(sample[n]) for n in names)).numpy()
            (got,) = session.run([features.ACTIONS], {n: sample[n] for n in names})
            diffs.append(np.abs(got - expected).max())
    return float(np.max(diffs))  # np.max, unlike max(), propagates NaN


def sample_inputs(profile, count: int, seed: int = 0,
                  history: int = 1) -> list[dict[str, np.ndarray]]:
    """Batch-1 inputs as the policy file takes them (random images, joints near home, and for
    ``history`` > 1 the ticks before): for parity checks and benchmarks where no recorded frames
    are at hand."""
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(count):
        sample = {features.image_key(c.name): rng.integers(0, 256, (1, c.height, c.width, 3),
                                                           dtype=np.uint8)
                  for c in profile.cameras}
        state = np.array(profile.home) + rng.normal(0, 0.05, profile.n_joints)
        sample[features.STATE] = state.astype(np.float32)[np.newaxis]
        if history > 1:
            past = state + rng.normal(0, 0.01, (history - 1, profile.n_joints))
            sample[features.STATE_HISTORY] = past.astype(np.float32)[np.newaxis]
        samples.append(sample)
    return samples
