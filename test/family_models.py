"""Tiny policies of every family (policy/families), exported with lam_ros's real exporter, for the
tests that run them through export, onnxruntime, PolicyRuntime and policy_node."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from lam_ros.core.profile import RobotProfile
from lam_ros.policy.card import PolicyCard
from lam_ros.policy.export import export_policy, sample_inputs
from lam_ros.policy.families import FAMILIES, FeatureShapes, build_policy
from lam_ros.policy.model import ExportedPolicy, Normalizer

# Small enough that a few training steps and an export take a second or two on 2 cores.
TINY_OPTIONS = {
    "conv": {"channels": [8, 8, 16], "keypoints": 8, "hidden": 32},
    "act": {"channels": [8, 8, 16], "d_model": 32, "heads": 2, "encoder_layers": 1,
            "decoder_layers": 1, "latent_layers": 1, "feedforward": 64, "latent_dim": 8},
    "flow": {"channels": [8, 8, 16], "keypoints": 8, "hidden": 64, "layers": 2,
             "integration_steps": 4},
}
assert TINY_OPTIONS.keys() == FAMILIES.keys(), "every family needs a tiny configuration"


def tiny_exported_policy(path: Path, profile: RobotProfile, name: str, chunk: int = 4) -> Path:
    """An untrained tiny ``name`` policy whose normalizer centres its output on the profile's
    home pose (within about a centiradian), exported to ``path`` with its card."""
    torch.manual_seed(0)
    shapes = FeatureShapes.for_profile(profile, chunk)
    policy = build_policy(name, shapes, TINY_OPTIONS[name])
    normalizer = Normalizer(shapes.camera_names, profile.n_joints)
    home = torch.tensor(profile.home, dtype=torch.float32)
    normalizer.state_mean.copy_(home)
    normalizer.action_mean.copy_(home)
    normalizer.action_std.fill_(0.003)
    card = PolicyCard.for_profile(profile, chunk, policy=name,
                                  policy_config=dataclasses.asdict(policy.config))
    result = export_policy(ExportedPolicy(policy, normalizer), card, path,
                           sample_inputs(profile, 2), {"test": "untrained tiny policy"})
    return result.model_path
