"""One control tick without ROS: observation -> real ONNX model -> schedule -> safety filter."""

import time

import numpy as np
import pytest
from onnx_models import hold_model

from lam_ros.core import safety
from lam_ros.core.chunking import ChunkScheduler
from lam_ros.core.safety import SafetyConfig, SafetyFilter
from lam_ros.policy import controller as controller_module
from lam_ros.policy.controller import DEADMAN_RELEASED, TAKEN_OVER, WAITING, PolicyController
from lam_ros.policy.runtime import PolicyRuntime


@pytest.fixture
def controller(tmp_path, profile):
    runtime = PolicyRuntime(hold_model(tmp_path / "hold.onnx", profile, offset=-0.001), profile,
                            providers=("CPUExecutionProvider",))
    ctrl = PolicyController(runtime, SafetyFilter(profile, SafetyConfig(3.0, 4)),
                            ChunkScheduler(profile.control_period))
    ctrl.enable()
    return ctrl


def observe(ctrl, profile, stamp, positions=None, size=None):
    for camera in profile.cameras:
        shape = size or (camera.height, camera.width)
        ctrl.on_image(camera.name, stamp, np.zeros((*shape, 3), np.uint8))
    # A joint-state stream runs faster than the control rate: a few readings per tick, and the
    # safety filter starts only from a position that readings in a row agree on.
    for _ in range(ctrl.readings.count):
        ctrl.on_joint_positions(stamp, np.array(profile.home if positions is None else positions))


def test_waits_for_every_input_without_a_fault(controller, profile):
    assert controller.tick(1.0).decision.reason == WAITING
    controller.on_joint_positions(1.0, np.array(profile.home))
    assert controller.tick(1.1).decision.reason == WAITING
    assert sum(controller.safety.fault_counts.values()) == 0


def test_fresh_observation_gives_a_command_and_runs_the_model_once(controller, profile):
    # Home, but off every joint limit (a gripper may be open at its lower limit): the model's
    # -1 mm is then within limits and must come through unchanged.
    lower, upper = (np.array([getattr(j, k) for j in profile.joints]) for k in ("lower", "upper"))
    start = np.clip(profile.home, lower + 0.01, upper - 0.01)
    observe(controller, profile, 5.0, positions=start)
    first = controller.tick(5.0)
    second = controller.tick(5.1)  # same observation: the scheduled chunk's next step
    assert first.decision.send and second.decision.send
    np.testing.assert_allclose(first.decision.command, start - 0.001, atol=1e-6)
    assert len(controller.inference.samples_s) == 1
    assert first.arrival is not None


def test_camera_frames_of_another_size_are_resized(controller, profile):
    observe(controller, profile, 5.0, size=(240, 320))
    assert controller.tick(5.0).decision.send


def test_stale_input_is_a_fault(controller, profile):
    observe(controller, profile, 5.0)
    assert controller.tick(5.0).decision.send
    assert controller.tick(5.5).decision.reason == safety.STALE_OBSERVATION


def test_model_exception_holds_and_is_remembered(controller, profile):
    observe(controller, profile, 5.0, positions=np.zeros(3))  # wrong joint count for the model
    assert controller.tick(5.0).decision.reason == safety.MODEL_FAILURE
    assert controller.last_model_error


def test_clock_jump_back_resets_without_a_fault(controller, profile):
    observe(controller, profile, 50.0)
    assert controller.tick(50.0).decision.send
    assert controller.tick(0.1).decision.reason == WAITING  # pre-reset observations dropped
    assert controller.scheduler.resets == 1
    observe(controller, profile, 0.2)
    assert controller.tick(0.2).decision.send
    assert sum(controller.safety.fault_counts.values()) == 0


def test_observation_from_after_the_reset_is_used_on_the_same_tick(controller, profile):
    observe(controller, profile, 50.0)
    assert controller.tick(50.0).decision.send
    observe(controller, profile, 0.1)  # the reset episode's first frame, before the next tick
    result = controller.tick(0.1)
    assert result.decision.send and controller.scheduler.resets == 1
    assert sum(controller.safety.fault_counts.values()) == 0


def test_report_has_the_diagnostics_keys(controller, profile):
    observe(controller, profile, 5.0)
    controller.tick(5.0)
    controller.report(5.0)
    controller.tick(5.1)
    values = controller.report(6.0)
    assert values["provider"] == "CPUExecutionProvider"
    assert values["tensorrt_fp16"] == "false" and values["parity_max_abs_diff"] == "0"
    assert float(values["achieved_rate_hz"]) == pytest.approx(1.0)
    assert {"inference_p50_ms", "inference_p99_ms", "obs_to_command_p50_ms",
            "obs_to_command_p99_ms", "faults.stale_observation"} <= set(values)


def test_deadman_gates_commands_without_faults(tmp_path, profile):
    runtime = PolicyRuntime(hold_model(tmp_path / "hold.onnx", profile), profile,
                            providers=("CPUExecutionProvider",))
    ctrl = PolicyController(runtime, SafetyFilter(profile), ChunkScheduler(0.1),
                            deadman_timeout_s=60.0)
    ctrl.enable()
    observe(ctrl, profile, 5.0)
    assert ctrl.tick(5.0).decision.reason == DEADMAN_RELEASED  # never pressed
    ctrl.on_deadman(True)
    assert ctrl.tick(5.1).decision.send
    ctrl.on_deadman(False)
    assert ctrl.tick(5.2).decision.reason == DEADMAN_RELEASED
    assert sum(ctrl.safety.fault_counts.values()) == 0


class FakeClock:
    """Stands in for the controller's ``time`` module: monotonic() is set by the test."""

    def __init__(self, now: float):
        self.now = now
        self.perf_counter = time.perf_counter  # inference timing stays real

    def monotonic(self) -> float:
        return self.now


def test_deadman_counts_as_released_when_joy_goes_quiet(tmp_path, profile, monkeypatch):
    clock = FakeClock(1000.0)
    monkeypatch.setattr(controller_module, "time", clock)
    runtime = PolicyRuntime(hold_model(tmp_path / "hold.onnx", profile), profile,
                            providers=("CPUExecutionProvider",))
    ctrl = PolicyController(runtime, SafetyFilter(profile), ChunkScheduler(0.1),
                            deadman_timeout_s=0.5)
    ctrl.enable()
    ctrl.on_deadman(True)  # the last /joy message: held, at wall time 1000.0
    for i, wall in enumerate((1000.1, 1000.3, 1000.5)):  # within the timeout: still held
        clock.now = wall
        observe(ctrl, profile, 5.0 + 0.1 * i)
        assert ctrl.deadman_held() and ctrl.tick(5.0 + 0.1 * i).decision.send, wall
    clock.now = 1000.6  # /joy silent for 0.6 s > 0.5 s: released, though "held" was last said
    observe(ctrl, profile, 5.3)
    assert not ctrl.deadman_held()
    assert ctrl.tick(5.3).decision.reason == DEADMAN_RELEASED
    ctrl.on_deadman(True)  # /joy is back with the button held
    assert ctrl.deadman_held() and ctrl.tick(5.3).decision.send
    assert sum(ctrl.safety.fault_counts.values()) == 0


def test_enable_while_enabled_changes_nothing(controller, profile):
    """A second ~/enable true (a script, a double click) must not restart the policy from a
    fresh reading mid-motion: the next step still starts from the last command."""
    observe(controller, profile, 5.0)
    first = controller.tick(5.0).decision.command
    controller.enable()
    lagging = first.copy()
    lagging[0] += 0.3  # the arm trails its command by more than a step (within re-anchor reach)
    observe(controller, profile, 5.1, positions=lagging)
    second = controller.tick(5.1).decision.command
    max_step = controller.safety.max_step
    assert np.all(np.abs(second - first) <= max_step + 1e-9)


def test_takeover_holds_keeps_planning_and_resumes_from_where_the_operator_left(tmp_path,
                                                                               profile):
    """While the operator drives: no command, no fault, the old plan dropped, new observations
    still planned. On release the first step starts at the measured position (the arm moved),
    within one velocity-limited step of it, not back towards the old plan."""
    runtime = PolicyRuntime(hold_model(tmp_path / "hold.onnx", profile, offset=0.0), profile,
                            providers=("CPUExecutionProvider",))
    ctrl = PolicyController(runtime, SafetyFilter(profile, SafetyConfig(3.0, 4)),
                            ChunkScheduler(profile.control_period))
    ctrl.enable()
    home = np.array(profile.home, dtype=float)
    observe(ctrl, profile, 5.0, positions=home)
    assert ctrl.tick(5.0).decision.send
    ctrl.on_takeover(True)
    inferences = len(ctrl.inference.samples_s)
    moved = home.copy()
    arm = [i for i in range(profile.n_joints) if i not in
           [s for g in profile.grippers for s in profile.slots(g)]]
    for k in range(1, 6):  # teleop moves the first arm joint 0.05 rad per tick
        moved[arm[0]] = home[arm[0]] + 0.05 * k
        observe(ctrl, profile, 5.0 + 0.1 * k, positions=moved)
        assert ctrl.tick(5.0 + 0.1 * k).decision.reason == TAKEN_OVER
    assert len(ctrl.inference.samples_s) == inferences + 5  # planning went on
    assert sum(ctrl.safety.fault_counts.values()) == 0 and ctrl.safety.enabled
    ctrl.on_takeover(False)
    observe(ctrl, profile, 5.6, positions=moved)
    result = ctrl.tick(5.6)
    assert result.decision.send
    step = np.abs(result.decision.command - moved)
    max_step = np.array([j.max_velocity for j in profile.joints]) * profile.control_period
    assert np.all(step <= max_step + 1e-9)  # from where the arm is, not from the old plan
    # The chunks blended now were planned from where the operator moved the arm.
    command = result.decision.command[arm[0]]
    assert abs(command - moved[arm[0]]) < abs(command - home[arm[0]])
    assert ctrl.report(5.6)["takeovers"] == "1"
