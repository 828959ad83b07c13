"""Small real ONNX policies for tests, built with onnx.helper and run by real onnxruntime.

Each takes the inputs a lam_ros policy must take (one uint8 image per camera, float32 state) and
produces ``actions`` [1, chunk, n_joints]; what it computes is chosen to exercise one behaviour.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from lam_ros.core import features
from lam_ros.core.profile import RobotProfile
from lam_ros.policy.card import CARD_KEY, PolicyCard


def _inputs(profile: RobotProfile, state_shape=None, image_dtype=TensorProto.UINT8):
    inputs = [helper.make_tensor_value_info(features.image_key(c.name), image_dtype,
                                            [1, c.height, c.width, 3]) for c in profile.cameras]
    inputs.append(helper.make_tensor_value_info(
        features.STATE, TensorProto.FLOAT, state_shape or [1, profile.n_joints]))
    return inputs


def _save(path: Path, nodes, inputs, initializers, chunk: int, n_joints: int,
          card_json: str | None, output_type: int = TensorProto.FLOAT) -> Path:
    output = helper.make_tensor_value_info(features.ACTIONS, output_type, [1, chunk, n_joints])
    graph = helper.make_graph(nodes, "test_policy", inputs, [output], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9  # what this onnxruntime reads
    if card_json is not None:
        helper.set_model_props(model, {CARD_KEY: card_json})
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def _image_sink(profile: RobotProfile):
    """Nodes that read every image (so it is a real input) and add 0 to the state."""
    nodes, terms = [], []
    for camera in profile.cameras:
        key = features.image_key(camera.name)
        nodes += [helper.make_node("Cast", [key], [f"{key}_f"], to=TensorProto.FLOAT),
                  helper.make_node("ReduceMax", [f"{key}_f"], [f"{key}_max"], keepdims=0),
                  helper.make_node("Mul", [f"{key}_max", "zero"], [f"{key}_zero"])]
        terms.append(f"{key}_zero")
    state = features.STATE
    for i, term in enumerate(terms):
        nodes.append(helper.make_node("Add", [state, term], [f"state_{i}"]))
        state = f"state_{i}"
    return nodes, state, [numpy_helper.from_array(np.zeros((), np.float32), "zero")]


def constant_chunk_model(path: Path, profile: RobotProfile, chunk_actions: np.ndarray,
                         card_json: str | None = "", output_type: int = TensorProto.FLOAT
                         ) -> Path:
    """Always outputs ``chunk_actions`` [chunk, n_joints] (may hold values beyond limits, NaN),
    cast to ``output_type``."""
    chunk_actions = np.asarray(chunk_actions, dtype=np.float32)
    chunk = len(chunk_actions)
    nodes, state, init = _image_sink(profile)
    init.append(numpy_helper.from_array(chunk_actions[np.newaxis], "constant_chunk"))
    nodes += [helper.make_node("ReduceSum", [state], ["state_sum"], keepdims=0),
              helper.make_node("Mul", ["state_sum", "zero"], ["state_zero"]),
              helper.make_node("Add", ["constant_chunk", "state_zero"], ["chunk_f"]),
              helper.make_node("Cast", ["chunk_f"], [features.ACTIONS], to=output_type)]
    card = default_card(profile, chunk) if card_json == "" else card_json
    return _save(path, nodes, _inputs(profile), init, chunk, profile.n_joints, card,
                 output_type)


def hold_model(path: Path, profile: RobotProfile, chunk: int = 4, offset: float = 0.0,
               card_json: str | None = "", state_shape=None) -> Path:
    """Outputs the state (+ ``offset``) repeated over the chunk: hold (or creep) in place."""
    nodes, state, init = _image_sink(profile)
    n = profile.n_joints
    init += [numpy_helper.from_array(np.array([1, 1, n], np.int64), "row_shape"),
             numpy_helper.from_array(np.array([1, chunk, 1], np.int64), "repeats"),
             numpy_helper.from_array(np.float32(offset).reshape(()), "offset")]
    nodes += [helper.make_node("Reshape", [state, "row_shape"], ["row"]),
              helper.make_node("Tile", ["row", "repeats"], ["tiled"]),
              helper.make_node("Add", ["tiled", "offset"], [features.ACTIONS])]
    card = default_card(profile, chunk) if card_json == "" else card_json
    return _save(path, nodes, _inputs(profile, state_shape), init, chunk, n, card)


def default_card(profile: RobotProfile, chunk: int) -> str:
    return PolicyCard.for_profile(profile, chunk).to_json()


def nan_when_lit_model(path: Path, profile: RobotProfile, chunk: int = 4) -> Path:
    """Holds the state for black images (what warm-up feeds) but outputs NaN once any image
    is brighter: sqrt(-max pixel) is 0 for black, NaN otherwise. A model that fails only in
    service, the case warm-up cannot catch."""
    nodes, state, init = _image_sink(profile)
    n = profile.n_joints
    first = features.image_key(profile.cameras[0].name)
    init += [numpy_helper.from_array(np.array([1, 1, n], np.int64), "row_shape"),
             numpy_helper.from_array(np.array([1, chunk, 1], np.int64), "repeats")]
    nodes += [helper.make_node("Reshape", [state, "row_shape"], ["row"]),
              helper.make_node("Tile", ["row", "repeats"], ["tiled"]),
              helper.make_node("Neg", [f"{first}_max"], ["negative_max"]),
              helper.make_node("Sqrt", ["negative_max"], ["nan_if_lit"]),
              helper.make_node("Add", ["tiled", "nan_if_lit"], [features.ACTIONS])]
    return _save(path, nodes, _inputs(profile), init, chunk, n, default_card(profile, chunk))
