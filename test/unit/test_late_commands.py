"""A stalled tick never publishes a step whose time has passed (issue 9, finding 2).

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
from lam_ros.policy.controller import DEADMAN_RELEASED, PolicyController
from lam_ros.policy.runtime import PolicyRuntime


class SlowRuntime(PolicyRuntime):
    """A real runtime whose inference takes ``delay_s`` longer; ``during`` runs mid-way."""

    delay_s = 0.0
    during = None

    def predict(self, images, state):
        if self.during is not None:
            threading.Timer(self.delay_s / 2, self.during).start()
        time.sleep(self.delay_s)
        return super().predict(images, state)


@pytest.fixture
def make(tmp_path, profile):
    def build(delay_s, stale_after_periods=3.0, deadman_timeout_s=None):
        runtime = SlowRuntime(hold_model(tmp_path / "hold.onnx", profile, offset=-0.001),
                              profile, providers=("CPUExecutionProvider",))
        ctrl = PolicyController(runtime, SafetyFilter(profile, SafetyConfig(stale_after_periods)),
                                ChunkScheduler(profile.control_period), deadman_timeout_s)
        ctrl.enable()
        runtime.delay_s = delay_s
        return ctrl, runtime
    return build


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
