"""Observation history (`lam-ros train --history K`): the joint positions of the K - 1 control
ticks before the present, the same in training (data/history.py) and at run time
(core/state_history.py), through every family, the ONNX contract, the runtime and the controller.
"""

from dataclasses import replace

import numpy as np
import onnxruntime as ort
import pytest
from episode_bag_factory import tiny_training
from family_models import TINY_OPTIONS

from lam_ros.core import features
from lam_ros.core.chunking import ChunkScheduler
from lam_ros.core.safety import SafetyConfig, SafetyFilter
from lam_ros.core.state_history import StateHistory
from lam_ros.data.history import past_positions, with_history
from lam_ros.data.idle import trim_idle
from lam_ros.data.sync import SyncedEpisode
from lam_ros.policy.card import PolicyCard, card_path
from lam_ros.policy.controller import PolicyController
from lam_ros.policy.families import FAMILIES
from lam_ros.policy.runtime import PolicyRuntime
from lam_ros.policy.train import train_policy

HISTORY = 3


def ramp(t):
    """Joint positions (2 joints) that move linearly with time."""
    return np.array([0.5 * t, -t])


def test_run_time_history_interpolates_the_readings_at_the_ticks_before():
    history = StateHistory(HISTORY, period=0.1)
    for k in range(31):  # readings at 15 Hz, off the 10 Hz grid, the last at 2.0
        history.add(k / 15, ramp(k / 15))
    np.testing.assert_allclose(history.before(2.0), [ramp(1.8), ramp(1.9)], atol=1e-9)
    assert len(history._readings) <= HISTORY * 0.1 * 15 + 2  # a bounded window


def test_before_the_oldest_reading_the_arm_is_taken_to_have_been_there():
    history = StateHistory(HISTORY, period=0.1)
    assert history.before(1.0) is None
    history.add(1.0, ramp(1.0))
    history.add(1.05, ramp(1.05))
    np.testing.assert_allclose(history.before(1.05), [ramp(1.0), ramp(1.0)])


def test_out_of_order_readings_are_ignored_and_a_restart_forgets_the_past():
    history = StateHistory(HISTORY, period=0.1)
    history.add(1.0, ramp(1.0))
    history.add(1.2, ramp(1.2))
    history.add(1.15, np.array([9.0, 9.0]))  # a little older than the newest: ignored
    np.testing.assert_allclose(history.before(1.2), [ramp(1.0), ramp(1.1)])
    history.restart()
    history.add(0.2, ramp(0.2))
    np.testing.assert_allclose(history.before(0.2), [ramp(0.2), ramp(0.2)])


def test_no_history_keeps_nothing():
    history = StateHistory(1, period=0.1)
    history.add(1.0, ramp(1.0))
    assert history.before(1.0) is None and not history._readings


def episode(positions: np.ndarray) -> SyncedEpisode:
    ticks = len(positions)
    return SyncedEpisode(np.arange(ticks) * 100_000_000, positions.astype(np.float32),
                         positions.astype(np.float32),
                         {"front": np.zeros((ticks, 4, 4, 3), np.uint8)}, np.ones(ticks, bool))


def test_training_history_is_the_ticks_before_clamped_at_the_start():
    positions = np.arange(5.0)[:, None] * np.ones((1, 2))
    past = past_positions(positions, HISTORY)
    assert past.shape == (5, HISTORY - 1, 2)
    np.testing.assert_array_equal(past[:, :, 0], [[0, 0], [0, 0], [0, 1], [1, 2], [2, 3]])
    assert with_history(episode(positions), 1).past_positions is None


def test_the_history_of_a_tick_after_a_cut_pause_still_shows_the_pause():
    # move, hold still for 4 ticks, move on: cutting the pause keeps each tick's true past
    positions = np.array([0, 1, 2, 2, 2, 2, 2, 3, 4], float)[:, None] * np.ones((1, 2))
    trimmed = trim_idle(with_history(episode(positions), HISTORY), 10.0, 0.0)
    assert len(trimmed.stamps_ns) < len(positions)
    after = int(np.flatnonzero(trimmed.joint_positions[:, 0] == 3)[0])
    np.testing.assert_array_equal(trimmed.past_positions[after, :, 0], [2, 2])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("history")
    profile, config = tiny_training(root, history=HISTORY)
    return root, profile, config


@pytest.mark.parametrize("name", list(FAMILIES))
def test_every_family_trains_and_exports_with_history(data, name):
    root, profile, config = data
    result = train_policy(replace(config, out_dir=str(root / name), policy=name,
                                  policy_options=TINY_OPTIONS[name]))
    card = PolicyCard.from_json(card_path(result.model_path).read_text())
    assert card.history == HISTORY
    session = ort.InferenceSession(str(result.model_path), providers=["CPUExecutionProvider"])
    inputs = {i.name: i.shape for i in session.get_inputs()}
    assert inputs[features.STATE_HISTORY] == [1, HISTORY - 1, profile.n_joints]

    runtime = PolicyRuntime(result.model_path, profile, providers=["CPUExecutionProvider"])
    images = {c.name: np.zeros((c.height, c.width, 3), np.uint8) for c in profile.cameras}
    home = np.asarray(profile.home)
    with pytest.raises(ValueError, match=r"state history is None, the policy needs \(2, 8\)"):
        runtime.predict(images, home)
    still = runtime.predict(images, home, np.tile(home, (HISTORY - 1, 1)))
    moving = runtime.predict(images, home, np.tile(home - 0.3, (HISTORY - 1, 1)))
    assert np.isfinite(still).all() and np.abs(moving - still).max() > 1e-6, (
        "the history input does not reach the actions")


def test_init_from_a_policy_with_another_history_is_refused(data):
    root, _, config = data
    first = train_policy(replace(config, out_dir=str(root / "first"), policy="conv",
                                 policy_options=TINY_OPTIONS["conv"]))
    with pytest.raises(ValueError, match="seeing 3 ticks of joint positions; this run's "
                                         "--history is 1"):
        train_policy(replace(config, out_dir=str(root / "second"), policy="conv",
                             policy_options=TINY_OPTIONS["conv"], history=1,
                             init_from=str(first.out_dir)))


@pytest.fixture(scope="module")
def history_policy(data):
    root, _, config = data
    return train_policy(replace(config, out_dir=str(root / "ctrl"), policy="conv",
                                policy_options=TINY_OPTIONS["conv"])).model_path


def spied_controller(model, profile) -> tuple[PolicyController, list]:
    """A controller on the real ``model`` whose runtime notes the history of every inference."""
    runtime = PolicyRuntime(model, profile, providers=["CPUExecutionProvider"])
    seen = []
    real = runtime.predict
    runtime.predict = lambda images, state, past=None: seen.append(past) or real(images, state,
                                                                                  past)
    return PolicyController(runtime, SafetyFilter(profile, SafetyConfig(3.0, 4)),
                            ChunkScheduler(profile.control_period)), seen


def test_the_controller_feeds_the_policy_the_readings_of_the_ticks_before(data, history_policy):
    profile = data[1]
    ctrl, seen = spied_controller(history_policy, profile)
    ctrl.enable()
    ctrl.tick(3.9)  # enabled: the history starts afresh, then the readings come
    home = np.asarray(profile.home)
    period = profile.control_period
    for camera in profile.cameras:
        ctrl.on_image(camera.name, 5.0, np.zeros((camera.height, camera.width, 3), np.uint8))
    for stamp in np.arange(4.0, 5.0 + 1e-9, period / 4):  # the arm creeps: 0.01 rad a second
        ctrl.on_joint_positions(stamp, home + 0.01 * (stamp - 4.0))
    ctrl.tick(5.0)
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], [home + 0.01 * (1.0 - k * period)
                                         for k in range(HISTORY - 1, 0, -1)], atol=1e-9)


def test_state_noise_shifts_every_tick_of_a_history_alike():
    import torch

    from lam_ros.data.dataset import ACTION_MASK
    from lam_ros.policy.model import Normalizer
    from lam_ros.policy.training_data import normalized_batch

    normalizer = Normalizer(("front",), 2)
    present = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    past = torch.tensor([[[0.0, 0.5], [0.5, 1.0]], [[2.0, 2.5], [2.5, 3.0]]])
    batch = {"image_front": torch.zeros(2, 4, 4, 3, dtype=torch.uint8), features.STATE: present,
             features.STATE_HISTORY: past, features.ACTIONS: torch.zeros(2, 3, 2),
             ACTION_MASK: torch.ones(2, 3, dtype=torch.bool)}
    clean = normalized_batch(batch, normalizer, ("front",), torch.device("cpu")).state
    noisy = normalized_batch(batch, normalizer, ("front",), torch.device("cpu"),
                             torch.Generator().manual_seed(0), state_noise=0.5).state
    assert clean.shape == noisy.shape == (2, HISTORY * 2)
    shift = (noisy - clean).view(2, HISTORY, 2)
    assert shift.abs().min() > 0
    torch.testing.assert_close(shift, shift[:, :1].expand(-1, HISTORY, -1))


def test_non_finite_readings_stay_out_and_a_jump_back_restarts_the_history():
    history = StateHistory(HISTORY, period=0.1)
    history.add(1.0, ramp(1.0))
    history.add(1.1, np.array([np.nan, 0.0]))  # dropped, as training drops it
    history.add(1.2, ramp(1.2))
    history.add(1.2, np.array([9.0, 9.0]))  # the same stamp again: ignored
    np.testing.assert_allclose(history.before(1.2), [ramp(1.0), ramp(1.1)])
    history.add(0.3, ramp(0.3))  # more than a period back: a new start
    np.testing.assert_allclose(history.before(0.3), [ramp(0.3), ramp(0.3)])


def test_enabling_starts_the_history_still_where_the_arm_is(data, history_policy):
    """A simulator reset between episodes does not move its clock back: what the arm did before
    an enable is not the new episode's past (training starts each episode still)."""
    profile = data[1]
    ctrl, seen = spied_controller(history_policy, profile)
    home = np.asarray(profile.home)
    for stamp in np.arange(1.0, 2.0, 0.02):  # the last episode ended far from home
        ctrl.on_joint_positions(stamp, home - 0.2)
    for stamp in (2.0, 2.02, 2.04):  # reset: the arm is home, the clock goes on
        ctrl.on_joint_positions(stamp, home)
    for camera in profile.cameras:
        ctrl.on_image(camera.name, 2.04, np.zeros((camera.height, camera.width, 3), np.uint8))
    ctrl.enable()
    ctrl.tick(2.04)
    np.testing.assert_allclose(seen[-1], np.tile(home, (HISTORY - 1, 1)))


def test_a_card_with_a_history_that_is_not_a_tick_count_is_refused(data):
    from lam_ros.policy.card import CardMismatchError

    profile = data[1]
    for bad in (0, 2.5):
        card = replace(PolicyCard.for_profile(profile, 10), history=bad)
        with pytest.raises(CardMismatchError, match="history: .* is not a whole number"):
            card.check_against(profile)
