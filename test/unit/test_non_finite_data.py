"""NaN/Inf never travels silently from a bag to an exported or loaded policy.

Conversion drops non-finite joint states and commands with one warning line per episode; export
refuses non-finite weights or outputs and a NaN parity difference; training stops on a NaN
validation loss; the runtime refuses a model whose warm-up output is not finite.
"""

from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import SIM_PROFILES
from episode_bag_factory import (
    TINY_PROFILE_FILE,
    tiny_profile,
    write_dataset,
    write_episode,
)
from onnx_models import constant_chunk_model

from lam_ros.core import features
from lam_ros.data.cache import ConversionWarning, convert_dataset
from lam_ros.policy import train
from lam_ros.policy.card import CameraCard, PolicyCard
from lam_ros.policy.export import ExportError, export_policy, parity
from lam_ros.policy.families import FeatureShapes
from lam_ros.policy.families.conv import ConvConfig, ConvPolicy
from lam_ros.policy.model import ExportedPolicy, Normalizer
from lam_ros.policy.runtime import PolicyLoadError, PolicyRuntime
from lam_ros.policy.train import TrainConfig, train_policy


@pytest.fixture(params=SIM_PROFILES)
def profile(tmp_path, request):
    """Each simulated robot, with a small camera."""
    return tiny_profile(tmp_path, base=request.param)


def write_episode_with_nan(episode_dir, profile, **nan_ticks):
    write_episode(episode_dir, profile, ticks=30, joint_hz_multiple=1, **nan_ticks)


def test_conversion_drops_non_finite_samples_with_one_line_per_episode(tmp_path, profile):
    data = tmp_path / "data" / "task"
    write_episode_with_nan(data / "episode_000000", profile, nan_joint_ticks=(10,))
    write_episode_with_nan(data / "episode_000001", profile, nan_joint_ticks=(4, 5),
                           nan_command_ticks=(12,))
    write_episode_with_nan(data / "episode_000002", profile)
    with pytest.warns(ConversionWarning) as caught:
        result = convert_dataset(tmp_path / "data", profile, cache_dir=tmp_path / "cache",
                                 progress=False)
    lines = [str(w.message) for w in caught if "NaN/Inf" in str(w.message)]
    assert len(lines) == 2, lines
    assert "episode_000000" in lines[0] and "1 joint state(s)" in lines[0]
    assert "episode_000001" in lines[1] and "2 joint state(s)" in lines[1]
    assert "1 command(s)" in lines[1]
    assert len(result.episodes) == 3
    for episode in result.episodes:
        assert np.isfinite(episode.joint_positions).all()
        assert np.isfinite(episode.actions).all()
        assert episode.n_kept >= 28


def test_an_episode_without_a_finite_joint_state_is_skipped_naming_why(tmp_path, profile):
    data = tmp_path / "data" / "task"
    write_episode_with_nan(data / "episode_000000", profile, nan_joint_ticks=range(30))
    write_episode_with_nan(data / "episode_000001", profile)
    with pytest.warns(ConversionWarning, match="had NaN/Inf"):
        result = convert_dataset(tmp_path / "data", profile, cache_dir=tmp_path / "cache",
                                 progress=False)
    assert [p.name for p in result.episode_dirs] == ["episode_000001"]
    (why,) = result.skipped.values()
    assert "no joint state" in why and "30 had NaN/Inf" in why


def _wrapper(n_joints=8):
    torch.manual_seed(0)
    shapes = FeatureShapes((CameraCard("front", 32, 32),), n_joints, chunk=10)
    return ExportedPolicy(ConvPolicy(shapes, ConvConfig()), Normalizer(("front",), n_joints))


def _frames(count=2):
    rng = np.random.default_rng(0)
    return [{"image_front": rng.integers(0, 255, (1, 32, 32, 3), dtype=np.uint8),
             features.STATE: rng.normal(0, 0.1, (1, 8)).astype(np.float32)}
            for _ in range(count)]


def test_export_refuses_non_finite_weights_naming_them(tmp_path, profile):
    wrapper = _wrapper()
    weight = next(p for n, p in wrapper.named_parameters() if n.endswith("weight"))
    with torch.no_grad():
        weight[0] = float("nan")
    card = PolicyCard.for_profile(profile, 10)
    with pytest.raises(ExportError, match="non-finite .* weights in .*weight"):
        export_policy(wrapper, card, tmp_path / "p.onnx", _frames(), {})
    assert not (tmp_path / "p.onnx").exists()


def test_export_refuses_non_finite_outputs(tmp_path, profile):
    wrapper = _wrapper()
    frames = _frames()
    frames[1][features.STATE][0, 0] = np.inf  # a finite model, a held-out frame it overflows on
    with pytest.raises(ExportError, match="output on held-out frame 1 .*non-finite"):
        export_policy(wrapper, PolicyCard.for_profile(profile, 10), tmp_path / "p.onnx", frames,
                      {})
    assert not (tmp_path / "p.onnx").exists()


def test_parity_is_nan_when_a_difference_is_nan(tmp_path, profile):
    wrapper = _wrapper()
    result = export_policy(wrapper, PolicyCard.for_profile(profile, 10), tmp_path / "p.onnx",
                           _frames(), {})
    assert result.max_abs_diff <= 1e-4
    bias = next(p for n, p in wrapper.named_parameters() if n.endswith("bias"))
    with torch.no_grad():
        bias.fill_(float("nan"))  # torch now disagrees with the file by NaN
    assert np.isnan(parity(wrapper, result.model_path, _frames()))


def test_training_stops_on_a_nan_validation_loss(tmp_path, profile, monkeypatch):
    write_dataset(tmp_path / "data", profile, episodes=2, ticks=12)
    config = TrainConfig(data_dir=str(tmp_path / "data"), out_dir=str(tmp_path / "model"),
                         profile=str(tmp_path / TINY_PROFILE_FILE), steps=2, batch_size=4,
                         eval_every=1, checkpoint_every=1, cache_dir=str(tmp_path / "cache"),
                         val_fraction=0.5, progress=False)
    real_update = train.update_ema

    def diverge_at_step_2(ema, model, decay, step):
        real_update(ema, model, decay, step)
        if step == 1:
            with torch.no_grad():
                next(ema.parameters()).fill_(float("nan"))

    monkeypatch.setattr(train, "update_ema", diverge_at_step_2)
    with pytest.raises(ValueError, match="validation L1 is nan at step 2"):
        train_policy(config)
    assert not (tmp_path / "model" / "policy.onnx").exists()
    monkeypatch.setattr(train, "update_ema", real_update)
    result = train_policy(replace(config, out_dir=str(tmp_path / "model2"), val_fraction=0.0))
    assert np.isnan(result.val_l1) and result.history[-1]["val_l1"] is None  # no validation set


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_runtime_refuses_a_model_whose_warm_up_output_is_not_finite(tmp_path, profile, bad):
    chunk = np.zeros((4, profile.n_joints))
    chunk[1, 3] = bad
    model = constant_chunk_model(tmp_path / "bad.onnx", profile, chunk)
    with pytest.raises(PolicyLoadError, match=r"bad.onnx: warm-up output 'actions' holds 1 "
                                              r"non-finite"):
        PolicyRuntime(model, profile, providers=["CPUExecutionProvider"])
