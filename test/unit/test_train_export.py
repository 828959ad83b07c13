"""Train a few steps on tiny real bags, export ONNX, run it with onnxruntime, resume training."""

import contextlib
import io
import json
from dataclasses import replace

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from episode_bag_factory import TINY_PROFILE_FILE, tiny_profile, write_dataset
from safetensors.torch import load_file

from lam_ros.cli import main as lam_ros_main
from lam_ros.core import features
from lam_ros.policy import train
from lam_ros.policy.card import CameraCard, PolicyCard, card_path, embedded_card
from lam_ros.policy.export import PARITY_TOLERANCE, ExportError, export_policy
from lam_ros.policy.families import FeatureShapes
from lam_ros.policy.model import ExportedPolicy
from lam_ros.policy.train import CHECKPOINT, TrainConfig, train_policy

STEPS = 12
FRONT_8_JOINTS = FeatureShapes((CameraCard("front", 32, 32),), n_joints=8, chunk=10)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    profile = tiny_profile(root)
    write_dataset(root / "data", profile, episodes=4, ticks=25, failed=1)
    config = TrainConfig(data_dir=str(root / "data"), out_dir=str(root / "model"),
                         profile=str(root / TINY_PROFILE_FILE), steps=STEPS, batch_size=16,
                         eval_every=6, checkpoint_every=6, cache_dir=str(root / "cache"),
                         val_fraction=0.25, progress=False)
    return root, profile, config


@pytest.fixture(scope="module")
def trained(setup):
    root, _, config = setup
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = lam_ros_main(["train", "--data", config.data_dir, "--out", config.out_dir,
                             "--profile", config.profile, "--steps", str(STEPS),
                             "--batch-size", "16", "--val-fraction", "0.25",
                             "--cache-dir", config.cache_dir, "--no-progress"])
    assert code == 0
    return root / "model", out.getvalue()


def test_cli_prints_the_final_summary(trained):
    _, printed = trained
    assert "episodes: 4" in printed  # the failed episode was left out
    for line in ("samples/s", "val L1", "ONNX parity"):
        assert line in printed
    assert (trained[0] / "training_curve.png").stat().st_size > 1000
    assert list((trained[0] / "runs").glob("events.out.tfevents.*"))


def test_exported_model_honours_the_policy_file_contract(trained, setup):
    model_dir, _ = trained
    profile = setup[1]
    model_path = model_dir / "policy.onnx"
    onnx.checker.check_model(onnx.load(str(model_path)), full_check=True)
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    inputs = {i.name: (i.type, i.shape) for i in session.get_inputs()}
    assert inputs == {"image_front": ("tensor(uint8)", [1, 32, 32, 3]),
                      features.STATE: ("tensor(float)", [1, 8])}
    image = np.random.default_rng(0).integers(0, 255, (1, 32, 32, 3), dtype=np.uint8)
    (actions,) = session.run([features.ACTIONS], {
        "image_front": image, features.STATE: np.array([profile.home], np.float32)})
    assert actions.shape == (1, 10, 8) and np.isfinite(actions).all()
    # raw robot units out: near the demonstrations' joint targets, not normalized values
    assert np.abs(actions[0].mean(0) - np.array(profile.home)).max() < 0.5


def test_card_is_embedded_and_beside_the_model_and_fits_the_profile(trained, setup):
    model_path = trained[0] / "policy.onnx"
    card = embedded_card(onnx.load(str(model_path)), model_path)
    assert card == PolicyCard.from_json(card_path(model_path).read_text())
    card.check_against(setup[1])
    assert card.chunk == 10
    assert card.training["episodes"] == 4 and card.training["steps"] == STEPS
    assert card.training["frames"] == 100 and card.training["val_l1"] > 0
    assert card.training["config"]["seed"] == 0
    saved = json.loads((trained[0] / "training_config.json").read_text())
    assert saved["steps"] == STEPS


def onnx_vs_checkpoint(model_dir, profile, weights: str) -> float:
    """Largest |policy.onnx - the checkpoint's ``weights`` (ema, best) through torch| on
    random inputs."""
    from lam_ros.policy.families.conv import ConvConfig, ConvPolicy
    from lam_ros.policy.model import Normalizer

    tensors = load_file(str(model_dir / CHECKPOINT))  # safetensors: no pickle involved
    policy, normalizer = ConvPolicy(FRONT_8_JOINTS, ConvConfig()), Normalizer(("front",), 8)
    prefix = f"{weights}."
    policy.load_state_dict({k[len(prefix):]: v for k, v in tensors.items()
                            if k.startswith(prefix)})
    normalizer.load_state_dict({k[11:]: v for k, v in tensors.items()
                                if k.startswith("normalizer.")})
    wrapper = ExportedPolicy(policy, normalizer).eval()
    session = ort.InferenceSession(str(model_dir / "policy.onnx"),
                                   providers=["CPUExecutionProvider"])
    rng, worst = np.random.default_rng(1), 0.0
    for _ in range(5):
        image = rng.integers(0, 255, (1, 32, 32, 3), dtype=np.uint8)
        state = (np.array(profile.home) + rng.normal(0, 0.1, 8)).astype(np.float32)[None]
        with torch.no_grad():
            expected = wrapper(torch.from_numpy(image), torch.from_numpy(state)).numpy()
        (got,) = session.run(None, {"image_front": image, features.STATE: state})
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst


def test_onnx_matches_the_checkpointed_torch_policy(trained, setup):
    # One validation (the last step): its weights are the best and the last alike.
    assert onnx_vs_checkpoint(trained[0], setup[1], "best") <= 1e-4
    assert onnx_vs_checkpoint(trained[0], setup[1], "ema") <= 1e-4


def test_the_weights_of_the_lowest_validation_l1_are_exported_and_continued_from(
        setup, tmp_path):
    config = replace(setup[2], out_dir=str(tmp_path / "run"), steps=8, eval_every=2,
                     checkpoint_every=2)
    result = train_policy(config)
    val = {h["step"]: h["val_l1"] for h in result.history}
    best = min(val, key=val.get)
    assert list(val) == [2, 4, 6, 8]
    assert result.kept_step == best and result.val_l1 == val[best]
    assert json.loads(card_path(result.model_path).read_text())["training"]["kept_step"] == best
    assert onnx_vs_checkpoint(tmp_path / "run", setup[1], "best") <= 1e-4
    # Continuing (--init-from) starts from the exported weights, not the last ones.
    kept = load_file(str(tmp_path / "run" / CHECKPOINT))
    train_policy(replace(config, out_dir=str(tmp_path / "tuned"), steps=1, lr=1e-9,
                         warmup_steps=0, init_from=str(tmp_path / "run")))
    after = load_file(str(tmp_path / "tuned" / CHECKPOINT))
    for name, value in kept.items():
        if name.startswith("best."):
            torch.testing.assert_close(after[f"model.{name[5:]}"], value, atol=1e-6, rtol=0)
    # --keep last exports the last EMA weights.
    last = train_policy(replace(config, out_dir=str(tmp_path / "last"), keep="last"))
    assert last.kept_step == 8 and last.val_l1 == last.history[-1]["val_l1"]
    assert onnx_vs_checkpoint(tmp_path / "last", setup[1], "ema") <= 1e-4


def test_the_best_weights_are_a_copy_taken_at_the_best_validation():
    from lam_ros.policy.families import build_policy
    from lam_ros.policy.training_state import Parts

    ema = build_policy("conv", FRONT_8_JOINTS, {})
    parts = Parts(*[None] * 2, ema, *[None] * 6)
    assert parts.kept() is ema
    for step, val_l1 in ((2, 0.3), (4, 0.2), (6, 0.25), (8, None)):
        with torch.no_grad():
            next(ema.parameters()).fill_(step)
        parts.remember_if_best(step, val_l1)
    assert (parts.best_step, parts.best_val) == (4, 0.2)
    assert float(next(parts.kept().parameters()).detach().flatten()[0]) == 4.0  # not the live 8


class ExportedWithOffset(ExportedPolicy):
    """Adds ``offset`` to the actions only while being traced for ONNX: the exported graph then
    really differs from the torch module by ``offset`` (robot units), as a mis-traced branch
    would."""

    def __init__(self, policy, normalizer, offset: float):
        super().__init__(policy, normalizer)
        self.offset = offset

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        actions = super().forward(*inputs)
        return actions + self.offset if torch.onnx.is_in_onnx_export() else actions


def _parity_frames(n: int = 3) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(2)
    return [{"image_front": rng.integers(0, 255, (1, 32, 32, 3), dtype=np.uint8),
             features.STATE: rng.normal(0, 0.5, (1, 8)).astype(np.float32)} for _ in range(n)]


def _offset_wrapper(offset: float) -> ExportedWithOffset:
    from lam_ros.policy.families.conv import ConvConfig, ConvPolicy
    from lam_ros.policy.model import Normalizer

    torch.manual_seed(0)
    return ExportedWithOffset(ConvPolicy(FRONT_8_JOINTS, ConvConfig()),
                              Normalizer(("front",), 8), offset)


def test_export_keeps_a_model_that_matches(setup, tmp_path):
    path = tmp_path / "p.onnx"
    result = export_policy(_offset_wrapper(0.0), PolicyCard.for_profile(setup[1], 10), path,
                           _parity_frames(), {}, tolerance=PARITY_TOLERANCE)
    assert result.max_abs_diff <= PARITY_TOLERANCE
    assert path.is_file() and card_path(path).is_file()


def test_export_refuses_a_model_that_differs_from_torch(setup, tmp_path):
    path = tmp_path / "p.onnx"
    with pytest.raises(ExportError, match=r"differs from torch by 0\.01 \(> 0\.0001\)"):
        export_policy(_offset_wrapper(1e-2), PolicyCard.for_profile(setup[1], 10), path,
                      _parity_frames(), {}, tolerance=PARITY_TOLERANCE)
    assert not path.exists() and not card_path(path).exists()


def test_resume_continues_from_the_safetensors_checkpoint(trained, setup, tmp_path):
    config = replace(setup[2], out_dir=str(trained[0]), steps=STEPS + 6, resume=True)
    result = train_policy(config)
    assert result.steps == STEPS + 6
    assert [h["step"] for h in result.history] == [STEPS, STEPS + 6]  # the CLI run validated once
    header_length = int.from_bytes((trained[0] / CHECKPOINT).read_bytes()[:8], "little")
    assert (trained[0] / CHECKPOINT).read_bytes()[8:9] == b"{" and header_length > 0
    assert result.onnx_max_abs_diff <= 1e-4


def test_training_is_reproducible_for_a_seed(setup, tmp_path, monkeypatch):
    # Bit-exact, so on CPU on every machine: CPU kernels are deterministic, while on a GPU
    # cuDNN convolution backward and atomic-add reductions need not be (train.py does not ask
    # for torch.use_deterministic_algorithms), so two identical GPU runs may differ in the last
    # bits. What this checks is that the seed fixes initial weights, batch order, random shifts
    # and state noise. CUDA_VISIBLE_DEVICES would not hide a GPU that an earlier test in this
    # process already initialized, hence the patch.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    devices, setup_distributed = [], train.setup_distributed

    def recording_setup():
        rank, device = setup_distributed()
        devices.append(device)
        return rank, device

    monkeypatch.setattr(train, "setup_distributed", recording_setup)
    weights = []
    for name in ("a", "b"):
        config = replace(setup[2], out_dir=str(tmp_path / name), steps=4, eval_every=4,
                         checkpoint_every=4)
        train_policy(config)
        weights.append(load_file(str(tmp_path / name / CHECKPOINT)))
    assert devices == [torch.device("cpu")] * 2
    assert weights[0].keys() == weights[1].keys()
    for key in weights[0]:
        torch.testing.assert_close(weights[0][key], weights[1][key], rtol=0, atol=0)


@pytest.mark.parametrize("pad", [0, 3])
def test_random_shift_moves_each_frame_within_pad_and_replicates_edges(pad):
    from lam_ros.policy.model import random_shift

    frames = torch.randint(0, 255, (6, 12, 12, 3), dtype=torch.uint8)
    shifted = random_shift(frames, pad, torch.Generator().manual_seed(0))
    assert shifted.shape == frames.shape and shifted.dtype == torch.uint8
    for original, moved in zip(frames, shifted, strict=True):
        candidates = [
            original[(torch.arange(12) + dy).clamp(0, 11)][:, (torch.arange(12) + dx).clamp(0, 11)]
            for dy in range(-pad, pad + 1) for dx in range(-pad, pad + 1)]
        assert any(torch.equal(moved, c) for c in candidates)
