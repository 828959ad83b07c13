"""Every policy family behind the one ONNX contract: a few training steps on tiny real bags,
export with parity, an independent onnxruntime session, PolicyRuntime; losses that go down; the
config, CLI and card sides of `--policy`."""

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from episode_bag_factory import tiny_training
from family_models import TINY_OPTIONS

from lam_ros.core import features
from lam_ros.policy import train_cli
from lam_ros.policy.card import CameraCard, PolicyCard, card_path, embedded_card
from lam_ros.policy.export import PARITY_TOLERANCE, sample_inputs
from lam_ros.policy.families import FAMILIES, FeatureShapes, build_policy, family
from lam_ros.policy.families.base import NormalizedBatch
from lam_ros.policy.families.flow import NOISE_INPUT
from lam_ros.policy.model import ExportedPolicy
from lam_ros.policy.runtime import PolicyRuntime
from lam_ros.policy.train import CHECKPOINT, train_policy

REPO = Path(__file__).resolve().parents[2]
CONTRACT = ("image_front", features.STATE)  # the tiny profile's inputs, in the wrapper's order


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    profile, config = tiny_training(root)
    return root, profile, config


@pytest.fixture(scope="module", params=list(FAMILIES))
def trained(request, data):
    root, profile, config = data
    name = request.param
    config = replace(config, out_dir=str(root / name), policy=name,
                     policy_options=TINY_OPTIONS[name])
    return name, config, train_policy(config)


def test_each_family_trains_and_exports_within_parity(trained, data):
    name, _, result = trained
    assert result.steps == 4 and np.isfinite(result.val_l1) and np.isfinite(result.train_l1)
    assert result.onnx_max_abs_diff <= PARITY_TOLERANCE
    card = embedded_card(onnx.load(str(result.model_path)), result.model_path)
    assert card == PolicyCard.from_json(card_path(result.model_path).read_text())
    assert card.policy == name
    assert family(name).make_config(card.policy_config) == family(name).make_config(
        TINY_OPTIONS[name])
    assert card.training["config"]["policy"] == name
    card.check_against(data[1])


def test_an_independent_onnxruntime_session_runs_the_contract(trained, data):
    name, _, result = trained
    profile = data[1]
    session = ort.InferenceSession(str(result.model_path), providers=["CPUExecutionProvider"])
    inputs = {i.name: (i.type, i.shape) for i in session.get_inputs()}
    assert inputs == {"image_front": ("tensor(uint8)", [1, 32, 32, 3]),
                      features.STATE: ("tensor(float)", [1, 8])}
    overridable = [i.name for i in session.get_overridable_initializers()]
    assert overridable == ([NOISE_INPUT] if name == "flow" else [])
    # the torch EMA policy rebuilt from the checkpoint and the card agrees with the file
    card = PolicyCard.from_json(card_path(result.model_path).read_text())
    wrapper = ExportedPolicy.from_checkpoint(result.out_dir / CHECKPOINT, card)
    for sample in sample_inputs(profile, 4, seed=1):
        (got,) = session.run([features.ACTIONS], sample)
        assert got.shape == (1, 10, 8) and np.isfinite(got).all()
        with torch.no_grad():
            expected = wrapper(*(torch.from_numpy(sample[k]) for k in CONTRACT)).numpy()
        assert np.abs(got - expected).max() <= PARITY_TOLERANCE


def test_policy_runtime_loads_every_family_unchanged(trained, data):
    _, _, result = trained
    profile = data[1]
    runtime = PolicyRuntime(result.model_path, profile, providers=["CPUExecutionProvider"])
    images = {c.name: np.zeros((c.height, c.width, 3), np.uint8) for c in profile.cameras}
    first = runtime.predict(images, np.asarray(profile.home))
    assert first.shape == (10, 8) and np.isfinite(first).all()
    np.testing.assert_array_equal(runtime.predict(images, np.asarray(profile.home)), first)


def test_flow_noise_is_an_optional_input_with_a_fixed_default(data):
    root, profile, config = data
    result = train_policy(replace(config, out_dir=str(root / "flow_noise"), policy="flow",
                                  policy_options=TINY_OPTIONS["flow"], steps=2, eval_every=2,
                                  checkpoint_every=2))
    session = ort.InferenceSession(str(result.model_path), providers=["CPUExecutionProvider"])
    card = PolicyCard.from_json(card_path(result.model_path).read_text())
    wrapper = ExportedPolicy.from_checkpoint(result.out_dir / CHECKPOINT, card)
    default = wrapper.policy.default_noise.numpy()
    (sample,) = sample_inputs(profile, 1)
    (plain,) = session.run(None, sample)
    (fed_default,) = session.run(None, {**sample, NOISE_INPUT: default})
    np.testing.assert_array_equal(plain, fed_default)
    other = np.random.default_rng(3).normal(size=default.shape).astype(np.float32)
    (fed_other,) = session.run(None, {**sample, NOISE_INPUT: other})
    assert np.abs(fed_other - plain).max() > 1e-3  # the noise reaches the chunk
    with torch.no_grad():
        expected = wrapper(*(torch.from_numpy(sample[k]) for k in CONTRACT),
                           torch.from_numpy(other))
    assert np.abs(fed_other - expected.numpy()).max() <= PARITY_TOLERANCE


@pytest.fixture
def one_thread():
    """Tiny models gain nothing from a second intra-op thread, and on a loaded 2-core machine
    its spin-waits make act's many small ops 50x slower (2 s a step instead of 30 ms)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize(("name", "term"), [("act", "l1"), ("flow", "velocity_mse")])
def test_loss_goes_down_on_a_tiny_batch(name, term, one_thread):
    """The reconstruction term, not the total: act's KL term alone falls fast from its start."""
    torch.manual_seed(0)
    shapes = FeatureShapes((CameraCard("front", 32, 32),), n_joints=8, chunk=10)
    policy = build_policy(name, shapes, TINY_OPTIONS[name])
    generator = torch.Generator().manual_seed(0)
    # A learnable batch: the chunk is a fixed function of the state.
    state = torch.randn(16, 8, generator=generator)
    target = state[:, None, :] + torch.linspace(0, 1, 10)[None, :, None]
    batch = NormalizedBatch({"front": torch.randn(16, 3, 32, 32, generator=generator)}, state,
                            target, torch.ones(16, 10, dtype=torch.bool))
    optimizer = torch.optim.AdamW(policy.parameters(), lr=3e-3)
    losses = []
    for _ in range(50):
        loss = policy(batch, generator)
        optimizer.zero_grad()
        loss.total.backward()
        optimizer.step()
        losses.append(float(loss.terms[term]))
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5]), losses


def test_config_names_a_bad_policy_option_or_value(data):
    config = data[2]
    with pytest.raises(ValueError, match="unknown policy 'diffusion'; known: conv, act, flow"):
        replace(config, policy="diffusion")
    with pytest.raises(ValueError, match="policy 'act' has no option beta; its options are "):
        replace(config, policy="act", policy_options={"beta": 10})
    with pytest.raises(ValueError, match=r"ActConfig.d_model must be a multiple of 4 and of "
                                         r"heads \(3\), got 128"):
        replace(config, policy="act", policy_options={"heads": 3})
    with pytest.raises(ValueError, match=r"option channels must be a tuple like \(32, 32, 64\), "
                                         r"got \(16, 32\)"):
        replace(config, policy="flow", policy_options={"channels": [16, 32]})
    with pytest.raises(ValueError, match="FlowConfig.integration_steps must be >= 1, got 0"):
        replace(config, policy="flow", policy_options={"integration_steps": 0})
    assert replace(config, policy="act", policy_options={"kl_weight": 1}).policy == "act"


def test_cli_passes_the_policy_and_its_options(capsys):
    parser = argparse.ArgumentParser()
    train_cli.add_arguments(parser)
    args = parser.parse_args(["--data", "d", "--out", "o", "--profile", "p", "--policy", "act",
                              "--policy-option", "kl_weight=1", "--policy-option",
                              "channels=[16,32,64]"])
    config = train_cli.config_from_args(args)
    assert config.policy == "act"
    assert config.policy_options == {"kl_weight": 1, "channels": [16, 32, 64]}
    assert train_cli.config_from_args(parser.parse_args(
        ["--data", "d", "--out", "o", "--profile", "p"])).policy == "conv"
    augmentation = train_cli.config_from_args(parser.parse_args(
        ["--data", "d", "--out", "o", "--profile", "p", "--shift-pad", "0",
         "--state-noise", "0.1"]))
    assert (augmentation.shift_pad, augmentation.state_noise) == (0, 0.1)
    with pytest.raises(SystemExit):
        parser.parse_args(["--data", "d", "--out", "o", "--profile", "p", "--policy", "bc"])
    assert "invalid choice: 'bc'" in capsys.readouterr().err


def test_resume_refuses_a_checkpoint_of_another_family(trained):
    name, config, _ = trained
    other = "act" if name != "act" else "flow"
    with pytest.raises(ValueError, match=f"holds a '{name}' policy .* this run builds '{other}'"):
        train_policy(replace(config, policy=other, policy_options=TINY_OPTIONS[other],
                             resume=True))


def test_cards_from_before_families_read_as_the_default_conv_policy():
    text = (REPO / "models" / "demo" / "policy.card.json").read_text()
    assert "policy_config" not in json.loads(text)
    card = PolicyCard.from_json(text)
    assert card.policy == "conv" and card.policy_config == {}
    assert family(card.policy).make_config(card.policy_config) == FAMILIES["conv"].config_type()


@pytest.mark.parametrize(("stride", "grid"), [(8, 12), (16, 6), (32, 3)])
def test_act_image_tokens_follow_its_token_stride(stride, grid, one_thread):
    """96 px images give 12 x 12 tokens at the default stride, fewer at a coarser one, and the
    chunk still comes out whole."""
    shapes = FeatureShapes((CameraCard("front", 96, 96),), n_joints=8, chunk=10)
    policy = build_policy("act", shapes, {**TINY_OPTIONS["act"], "token_stride": stride})
    image = torch.zeros(2, 3, 96, 96)
    assert policy.backbones["front"](image).shape == (2, 32, grid, grid)
    assert policy.predict({"front": image}, torch.zeros(2, 8)).shape == (2, 10, 8)
    with pytest.raises(ValueError, match="token_stride must be 8, 16 or 32, got 4"):
        build_policy("act", shapes, {**TINY_OPTIONS["act"], "token_stride": 4})


def test_a_checkpoint_rebuilds_the_weights_that_were_exported(trained, data, tmp_path):
    """With --keep best the file holds the best validation's weights, which need not be the
    last EMA weights: the torch policy rebuilt from the checkpoint must be the exported one."""
    from safetensors.torch import load_file, save_file

    name, _, result = trained
    tensors = load_file(str(result.out_dir / CHECKPOINT))
    assert any(k.startswith("best.") for k in tensors)
    # the last EMA weights drift away from the best ones, as they do after an overfitting run
    drifted = {k: v + 0.5 if k.startswith("ema.") and v.is_floating_point() else v
               for k, v in tensors.items()}
    checkpoint = tmp_path / CHECKPOINT
    save_file(drifted, str(checkpoint))
    card = PolicyCard.from_json(card_path(result.model_path).read_text())
    wrapper = ExportedPolicy.from_checkpoint(checkpoint, card)
    session = ort.InferenceSession(str(result.model_path), providers=["CPUExecutionProvider"])
    (sample,) = sample_inputs(data[1], 1, seed=2)
    (got,) = session.run([features.ACTIONS], sample)
    with torch.no_grad():
        expected = wrapper(*(torch.from_numpy(sample[k]) for k in CONTRACT)).numpy()
    assert np.abs(got - expected).max() <= PARITY_TOLERANCE
