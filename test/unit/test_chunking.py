"""Action chunks scheduled by observation time and blended by temporal ensembling."""

import numpy as np
import pytest

from lam_ros.core.chunking import ChunkScheduler

PERIOD = 0.1


def ramp(start: float, steps: int = 4, joints: int = 2) -> np.ndarray:
    """A chunk whose step k holds start + k in every joint, so the step sent is readable."""
    return np.repeat((start + np.arange(steps, dtype=float))[:, None], joints, axis=1)


def test_step_k_is_in_force_during_its_slot():
    sched = ChunkScheduler(PERIOD, ensemble_coefficient=0.0)
    sched.add(ramp(0.0), observation_time=10.0)
    for k, now in enumerate([10.0, 10.1, 10.2, 10.3]):
        step = sched.step_at(now + 0.05 * (k % 2))
        np.testing.assert_allclose(step.positions, [k, k])
        assert step.start == pytest.approx(10.0 + k * PERIOD)
        assert step.contributors == 1


def test_late_inference_skips_steps_whose_slot_has_passed():
    sched = ChunkScheduler(PERIOD)
    sched.add(ramp(0.0), observation_time=10.0)
    step = sched.step_at(10.25)  # inference took 2.5 periods: steps 0 and 1 are history
    np.testing.assert_allclose(step.positions, [2.0, 2.0])


def test_a_chunk_that_has_run_out_yields_nothing():
    sched = ChunkScheduler(PERIOD)
    sched.add(ramp(0.0, steps=3), observation_time=10.0)
    assert sched.step_at(10.3) is None
    assert len(sched) == 0


def test_nothing_before_the_first_slot():
    sched = ChunkScheduler(PERIOD)
    sched.add(ramp(0.0), observation_time=10.0)
    assert sched.step_at(9.95) is None


@pytest.mark.parametrize("coefficient", [0.0, 0.01, 0.5, 2.0])
def test_overlapping_chunks_blend_with_act_weights(coefficient):
    sched = ChunkScheduler(PERIOD, ensemble_coefficient=coefficient)
    rng = np.random.default_rng(0)
    chunks = [rng.normal(size=(5, 3)) for _ in range(3)]
    for i, chunk in enumerate(chunks):  # added out of order on purpose
        sched.add(chunk, observation_time=[10.0, 10.2, 10.1][i])
    step = sched.step_at(10.2)
    # oldest first: obs 10.0 step 2, obs 10.1 step 1, obs 10.2 step 0
    contributions = np.stack([chunks[0][2], chunks[2][1], chunks[1][0]])
    weights = np.exp(-coefficient * np.arange(3))
    np.testing.assert_allclose(step.positions, weights @ contributions / weights.sum())
    assert step.contributors == 3
    assert step.start == pytest.approx(10.2)


def test_zero_coefficient_is_the_plain_mean():
    sched = ChunkScheduler(PERIOD, ensemble_coefficient=0.0)
    sched.add(np.full((4, 2), 1.0), 10.0)
    sched.add(np.full((4, 2), 3.0), 10.1)
    np.testing.assert_allclose(sched.step_at(10.1).positions, [2.0, 2.0])


def test_large_coefficient_follows_the_oldest_prediction():
    sched = ChunkScheduler(PERIOD, ensemble_coefficient=50.0)
    sched.add(np.full((4, 2), 1.0), 10.0)
    sched.add(np.full((4, 2), 3.0), 10.1)
    np.testing.assert_allclose(sched.step_at(10.1).positions, [1.0, 1.0])


def test_clock_going_backwards_clears_the_schedule():
    sched = ChunkScheduler(PERIOD)
    assert not sched.observe_clock(10.0)
    sched.add(ramp(0.0), 10.0)
    assert not sched.observe_clock(10.1)
    assert sched.observe_clock(0.0)  # simulation reset
    assert len(sched) == 0 and sched.resets == 1
    assert not sched.observe_clock(0.1)
    sched.add(ramp(5.0), 0.1)
    np.testing.assert_allclose(sched.step_at(0.1).positions, [5.0, 5.0])


def test_same_time_is_not_a_jump():
    sched = ChunkScheduler(PERIOD)
    sched.observe_clock(3.0)
    assert not sched.observe_clock(3.0)


@pytest.mark.parametrize("shape", [(0, 2), (4,), (2, 2, 2)])
def test_malformed_chunk_is_refused(shape):
    with pytest.raises(ValueError, match="chunk"):
        ChunkScheduler(PERIOD).add(np.zeros(shape), 0.0)


def test_joint_count_must_match_scheduled_chunks():
    sched = ChunkScheduler(PERIOD)
    sched.add(np.zeros((3, 2)), 0.0)
    with pytest.raises(ValueError, match="joints"):
        sched.add(np.zeros((3, 5)), 0.0)


@pytest.mark.parametrize(("period", "coefficient", "name"), [(0.0, 0.01, "period"),
                                                             (float("nan"), 0.01, "period"),
                                                             (0.1, -1.0, "ensemble_coefficient")])
def test_bad_settings_are_named(period, coefficient, name):
    with pytest.raises(ValueError, match=name):
        ChunkScheduler(period, coefficient)
