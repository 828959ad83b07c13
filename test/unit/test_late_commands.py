"""Slow models: a stalled tick never publishes a step whose time has passed (issue 9,
finding 2), and in the background a slow model costs latency, never a tick.

The model is a real ONNX file run by onnxruntime, made slow on purpose: every inference sleeps
first, as a GC pause, a starved CPU or a heavy model would. The clock is the real monotonic one.
"""

import threading
import time

import numpy as np
import pytest
from onnx_models import hold_model

from lam_ros.core import safety
from lam_ros.core.chunking import ChunkScheduler
from lam_ros.core.safety import SafetyConfig, SafetyFilter
from lam_ros.policy.controller import (
    AUTO,
    BACKGROUND,
    DEADMAN_RELEASED,
    INLINE,
    INLINE_SHARE,
    WAITING,
    PolicyController,
    choose_inference,
)
from lam_ros.policy.runtime import PolicyRuntime


class SlowRuntime(PolicyRuntime):
    """A real runtime whose inference takes ``delay_s`` longer; ``during`` runs mid-way."""

    delay_s = 0.0
    during = None
    returned = 0

    def predict(self, images, state):
        if self.during is not None:
            threading.Timer(self.delay_s / 2, self.during).start()
        time.sleep(self.delay_s)
        try:
            return super().predict(images, state)
        finally:
            self.returned += 1


@pytest.fixture
def make(tmp_path, profile):
    made = []

    def build(delay_s, stale_after_periods=3.0, deadman_timeout_s=None, inference=INLINE):
        runtime = SlowRuntime(hold_model(tmp_path / "hold.onnx", profile, offset=-0.001),
                              profile, providers=("CPUExecutionProvider",))
        ctrl = PolicyController(runtime, SafetyFilter(profile, SafetyConfig(stale_after_periods)),
                                ChunkScheduler(profile.control_period), deadman_timeout_s,
                                inference)
        made.append(ctrl)
        ctrl.enable()
        runtime.delay_s = delay_s
        runtime.returned = 0
        return ctrl, runtime
    yield build
    for ctrl in made:
        ctrl.close()


def observe_now(ctrl, profile):
    stamp = time.monotonic()
    for camera in profile.cameras:
        ctrl.on_image(camera.name, stamp, np.zeros((camera.height, camera.width, 3), np.uint8))
    for _ in range(ctrl.readings.count):  # a stream of agreeing readings, as a robot sends
        ctrl.on_joint_positions(stamp, np.array(profile.home))


def test_the_step_sent_after_a_stall_is_the_one_in_force_when_it_goes_out(make, profile):
    ctrl, _ = make(delay_s=1.5 * profile.control_period)
    observe_now(ctrl, profile)
    result = ctrl.tick(time.monotonic(), clock=time.monotonic)
    released = time.monotonic()
    assert result.decision.send
    slot_end = result.step.start + profile.control_period
    assert released < slot_end, f"sent {released - slot_end:.3f} s after its slot ended"
    assert result.step.start <= result.decided_at < slot_end


def test_an_observation_that_went_stale_during_inference_holds(make, profile):
    ctrl, _ = make(delay_s=4 * profile.control_period, stale_after_periods=3.0)
    observe_now(ctrl, profile)
    result = ctrl.tick(time.monotonic(), clock=time.monotonic)
    assert not result.decision.send
    assert result.decision.reason == safety.STALE_OBSERVATION


def test_disable_during_inference_sends_nothing(make, profile):
    ctrl, runtime = make(delay_s=0.2, stale_after_periods=10.0)
    runtime.during = lambda: ctrl.disable("operator pressed stop")
    observe_now(ctrl, profile)
    result = ctrl.tick(time.monotonic(), clock=time.monotonic)
    assert not result.decision.send and result.decision.reason == safety.DISABLED
    assert ctrl.safety.commands_sent == 0


def test_deadman_released_during_inference_sends_nothing(make, profile):
    ctrl, runtime = make(delay_s=0.2, stale_after_periods=10.0, deadman_timeout_s=0.5)
    ctrl.on_deadman(True)
    runtime.during = lambda: ctrl.on_deadman(False)
    observe_now(ctrl, profile)
    result = ctrl.tick(time.monotonic(), clock=time.monotonic)
    assert not result.decision.send and result.decision.reason == DEADMAN_RELEASED


def tick_until_sent(ctrl, profile, ticks):
    """Ticks at the control rate on fresh observations; returns the results up to the first
    command sent (or all of them)."""
    results = []
    for _ in range(ticks):
        observe_now(ctrl, profile)
        results.append(ctrl.tick(time.monotonic(), clock=time.monotonic))
        if results[-1].decision.send:
            break
        time.sleep(profile.control_period)
    return results


def test_in_the_background_the_tick_does_not_wait_for_a_slow_model(make, profile):
    period = profile.control_period
    ctrl, runtime = make(delay_s=1.5 * period, stale_after_periods=10.0, inference=BACKGROUND)
    observe_now(ctrl, profile)
    first = ctrl.tick(time.monotonic(), clock=time.monotonic)
    assert runtime.returned == 0, "the tick waited for the model"
    assert first.decision.reason == WAITING  # the first chunk is coming: not a fault
    results = tick_until_sent(ctrl, profile, ticks=20)
    sent = results[-1]
    assert sent.decision.send, [r.decision.reason for r in results]
    assert sum(ctrl.safety.fault_counts.values()) == 0
    assert ctrl.deadline_misses >= 1  # 1.5 periods per inference
    # The chunk is anchored to its observation: the step in force is a later one of the chunk.
    assert sent.step.start <= sent.decided_at < sent.step.start + period
    assert ctrl.report(time.monotonic())["inference_mode"] == BACKGROUND


def test_in_the_background_a_model_failure_holds_at_a_later_tick(make, profile):
    ctrl, runtime = make(delay_s=0.05, stale_after_periods=10.0, inference=BACKGROUND)
    stamp = time.monotonic()
    for camera in profile.cameras:
        ctrl.on_image(camera.name, stamp, np.zeros((camera.height, camera.width, 3), np.uint8))
    ctrl.on_joint_positions(stamp, np.zeros(2))  # the wrong joint count for the model
    reasons = []
    for _ in range(20):
        reasons.append(ctrl.tick(time.monotonic(), clock=time.monotonic).decision.reason)
        if reasons[-1] == safety.MODEL_FAILURE:
            break
        time.sleep(0.02)
    assert reasons[-1] == safety.MODEL_FAILURE, reasons
    assert ctrl.last_model_error


def test_in_the_background_work_from_before_a_restart_is_dropped(make, profile):
    ctrl, runtime = make(delay_s=1.5 * profile.control_period, stale_after_periods=10.0,
                         inference=BACKGROUND)
    restarted = threading.Event()

    def restart():  # the operator, mid-way through the first inference
        runtime.during = None
        ctrl.disable("operator")
        ctrl.enable()
        restarted.set()

    runtime.during = restart
    observe_now(ctrl, profile)
    assert ctrl.tick(time.monotonic(), clock=time.monotonic).decision.reason == WAITING
    assert restarted.wait(timeout=5.0)
    results = tick_until_sent(ctrl, profile, ticks=30)
    assert results[-1].decision.send, [r.decision.reason for r in results]
    # The inference asked for before the restart returned, and never reached the schedule.
    assert len(ctrl.inference.samples_s) == runtime.returned - 1


@pytest.mark.parametrize(("mode", "model_share", "chosen"), [
    (AUTO, 0.5 * INLINE_SHARE, INLINE), (AUTO, 2 * INLINE_SHARE, BACKGROUND),
    (INLINE, 10.0, INLINE), (BACKGROUND, 0.0, BACKGROUND)])
def test_auto_runs_a_model_in_the_background_when_it_is_slow_against_the_period(
        mode, model_share, chosen):
    period_s = 0.1
    assert choose_inference(mode, model_share * period_s * 1e3, period_s) == chosen


def test_an_unknown_inference_mode_is_refused_by_name():
    with pytest.raises(ValueError, match="'gpu'"):
        choose_inference("gpu", 1.0, 0.1)
