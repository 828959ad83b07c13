"""policy_node over real DDS: a stand-in robot publishes joint states and camera images, the node
runs real ONNX files through onnxruntime, and the commands that reach the robot are checked."""

import json
import math
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from family_models import tiny_exported_policy
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from onnx_models import constant_chunk_model, default_card, hold_model, nan_when_lit_model
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from robot_topics import RobotTopics
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import Image, JointState, Joy
from std_msgs.msg import String
from std_srvs.srv import SetBool
from waiting import wait_for

from lam_ros.core import safety
from lam_ros.core.profile import load_profile
from lam_ros.launcher import NodeGroup, NodeSpec
from lam_ros.nodes.policy_node import PolicyNode
from lam_ros.policy.controller import BACKGROUND, DEADMAN_RELEASED, JOINTS, TAKEN_OVER
from lam_ros.policy.families import FAMILIES
from lam_ros.ros import qos
from lam_ros.ros.convert import rgb_to_image, sec_to_stamp

pytestmark = pytest.mark.ros



class StandInRobot(Node):
    """Publishes what a position-controlled robot would: joint states that follow the last
    command, and camera frames; both stamped with the current time unless told otherwise."""

    def __init__(self, context, profile):
        super().__init__("stand_in_robot", context=context)
        self.profile = profile
        self.positions = np.array(profile.home)
        self.camera_on = True
        self.nan_joint_state = False
        self.deadman_held = False
        self.topics = RobotTopics(self, profile, self.on_command)
        self.commands = self.topics.commands  # full vectors, one per tick
        self.image_pubs = {c.name: self.create_publisher(Image, c.topic, qos.SENSOR)
                           for c in profile.cameras}
        self.enable_client = self.create_client(SetBool, "/policy_node/enable")
        self.sim_time: float | None = None  # set: stamp with it (and publish it on /clock)
        self.publish_clock = True
        self.clock_lag = 0.0  # s: /clock behind the readings' stamps
        self.clock_pub = self.create_publisher(ClockMsg, "/clock", qos.CLOCK)
        self.create_timer(0.05, self.publish_observation)

    def on_command(self, command):
        self.positions = command

    def publish_observation(self):
        stamp = self.get_clock().now().to_msg()
        if self.sim_time is not None:
            self.sim_time += 0.05
            stamp = sec_to_stamp(self.sim_time)
            if self.publish_clock:
                clock = sec_to_stamp(self.sim_time - self.clock_lag)
                self.clock_pub.publish(ClockMsg(clock=clock))
        positions = self.positions.copy()
        if self.nan_joint_state:
            positions[2] = math.nan
        self.topics.publish_joint_states(positions, stamp)
        if self.camera_on:
            for camera in self.profile.cameras:
                rgb = np.full((camera.height, camera.width, 3), 90, np.uint8)
                self.image_pubs[camera.name].publish(rgb_to_image(rgb, stamp, camera.name))


class Graph:
    def __init__(self, context, profile, model, profile_path=None, pre_start=None, **params):
        overrides = [Parameter("model", value=str(model)),
                     Parameter("profile", value=profile_path or profile.name),
                     Parameter("diagnostics_period_s", value=0.2)]
        overrides += [Parameter(k, value=v) for k, v in params.items()]
        self.policy = PolicyNode(context=context, parameter_overrides=overrides)
        self.robot = StandInRobot(context, profile)
        if pre_start:
            pre_start(self.robot)
        self.executor = SingleThreadedExecutor(context=context)
        for node in (self.policy, self.robot):
            self.executor.add_node(node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()
        wait_for(self.robot.topics.subscribed, what="DDS match")

    def set_enabled(self, enabled: bool):
        client = self.robot.enable_client
        assert client.wait_for_service(timeout_sec=10)
        future = client.call_async(SetBool.Request(data=enabled))
        wait_for(future.done, what="~/enable answer")
        assert future.result().success

    def held_for(self, *reasons: str) -> int:
        """Waits for a tick that held for one of ``reasons`` and for every command sent before
        it to reach the robot; returns their count. Ticks are serial, so no tick in flight can
        add one later: an event to wait on, not a time window a loaded machine can miss."""
        controller = self.policy.controller
        wait_for(lambda: controller.last_reason in reasons, what=f"a tick holding for {reasons}")
        sent = controller.safety.commands_sent
        wait_for(lambda: len(self.robot.commands) >= sent, what="commands in flight")
        return sent

    def commands_during(self, seconds: float) -> list[np.ndarray]:
        """Commands that reached the robot in a window in which the node was demonstrably
        alive: it ticked, and fresh joint states reached it (so an empty list means "chose
        not to send", never "was dead or starved")."""
        controller = self.policy.controller
        start, ticks = len(self.robot.commands), controller.ticks
        heard = controller._heard.get(JOINTS, -1.0)
        time.sleep(seconds)
        assert self.thread.is_alive(), "policy_node's executor died"
        assert controller.ticks >= ticks + 2, "policy_node did not tick in the window"
        assert controller._heard.get(JOINTS, -1.0) > heard, "no joint states reached it"
        return self.robot.commands[start:]

    def close(self):
        self.executor.shutdown()
        self.thread.join(timeout=5)
        for node in (self.policy, self.robot):
            node.destroy_node()


@pytest.fixture
def graph_for(rclpy_context):
    graphs = []

    def make(profile, model, profile_path=None, pre_start=None, **params):
        graphs.append(Graph(rclpy_context, profile, model, profile_path, pre_start, **params))
        return graphs[-1]

    yield make
    for graph in graphs:
        graph.close()


def limits(profile):
    lower = np.array([j.lower for j in profile.joints])
    upper = np.array([j.upper for j in profile.joints])
    return lower, upper, np.array([j.max_velocity for j in profile.joints]) / profile.control_hz


def test_disabled_by_default_then_enable_sends_commands(tmp_path, profile, graph_for):
    graph = graph_for(profile, hold_model(tmp_path / "hold.onnx", profile, offset=-0.005))
    assert graph.commands_during(1.0) == []  # observations flow, but nothing is sent
    graph.set_enabled(True)
    wait_for(lambda: len(graph.robot.commands) >= 3, what="commands after enable")
    for command in graph.robot.commands:
        assert command.shape == (profile.n_joints,) and np.all(np.isfinite(command))
    graph.set_enabled(False)
    sent = graph.held_for(safety.DISABLED)
    assert graph.commands_during(0.6) == []
    assert graph.policy.controller.safety.commands_sent == sent


def test_a_lifecycle_manager_walks_the_node_through_its_states(tmp_path, profile, graph_for):
    """Over the standard lifecycle services: unconfigured (no model), configure (model loaded,
    ~/enable refused while inactive), activate (commands after ~/enable), deactivate (holds),
    cleanup (model released); a configure with a missing model fails, says why on /diagnostics,
    and a good one afterwards works."""
    good = hold_model(tmp_path / "hold.onnx", profile, offset=-0.005)
    graph = graph_for(profile, good, autostart=False)
    robot, policy = graph.robot, graph.policy
    reports = []
    robot.create_subscription(DiagnosticArray, "/diagnostics",
                              lambda m: reports.extend(m.status), 10)
    get_state = robot.create_client(GetState, "/policy_node/get_state")
    change_state = robot.create_client(ChangeState, "/policy_node/change_state")

    def call(client, request):
        assert client.wait_for_service(timeout_sec=10)
        future = client.call_async(request)
        wait_for(future.done, what=f"an answer to {type(request).__name__}")
        return future.result()

    def state() -> str:
        return call(get_state, GetState.Request()).current_state.label

    def transition(transition_id: int) -> bool:
        return call(change_state, ChangeState.Request(
            transition=Transition(id=transition_id))).success

    assert state() == "unconfigured" and policy.controller is None
    assert transition(Transition.TRANSITION_CONFIGURE)
    assert state() == "inactive" and policy.controller is not None
    refused = call(robot.enable_client, SetBool.Request(data=True))
    assert not refused.success and "inactive" in refused.message

    assert transition(Transition.TRANSITION_ACTIVATE) and state() == "active"
    graph.set_enabled(True)
    wait_for(lambda: len(robot.commands) >= 3, what="commands once active and enabled")

    controller = policy.controller
    assert transition(Transition.TRANSITION_DEACTIVATE) and state() == "inactive"
    assert controller.safety.disabled_reason == "deactivated"
    sent = controller.safety.commands_sent
    wait_for(lambda: len(robot.commands) >= sent, what="commands in flight")
    ticks = controller.ticks
    time.sleep(0.5)
    assert controller.ticks == ticks, "the control tick ran while inactive"
    assert len(robot.commands) == sent

    assert transition(Transition.TRANSITION_CLEANUP) and state() == "unconfigured"
    assert policy.controller is None and controller.worker is None
    missing = tmp_path / "missing.onnx"
    policy.set_parameters([Parameter("model", value=str(missing))])
    assert not transition(Transition.TRANSITION_CONFIGURE)
    assert state() == "unconfigured"
    wait_for(lambda: any(s.level == DiagnosticStatus.ERROR and "missing.onnx" in s.message
                         for s in reports), what="/diagnostics naming the missing model")

    policy.set_parameters([Parameter("model", value=str(good))])
    for step in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
        assert transition(step)
    graph.set_enabled(True)
    before = len(robot.commands)
    wait_for(lambda: len(robot.commands) >= before + 3, what="commands after a reconfigure")


def test_stale_camera_holds_and_disables_after_repeated_faults(tmp_path, profile, graph_for):
    graph = graph_for(profile, hold_model(tmp_path / "hold.onnx", profile),
                      max_consecutive_faults=8)
    graph.set_enabled(True)
    wait_for(lambda: len(graph.robot.commands) >= 2, what="commands")
    graph.robot.camera_on = False
    graph.held_for(safety.STALE_OBSERVATION, safety.DISABLED)  # 8 faults may pass first
    assert graph.commands_during(0.5) == []
    safety_filter = graph.policy.controller.safety
    wait_for(lambda: not safety_filter.enabled, what="disable after consecutive faults")
    assert safety_filter.fault_counts[safety.STALE_OBSERVATION] >= 8
    assert "stale_observation" in safety_filter.disabled_reason
    graph.robot.camera_on = True  # the camera is back, but re-enabling is explicit
    assert graph.commands_during(0.6) == []


def test_nan_joint_state_sends_nothing(tmp_path, profile, graph_for):
    graph = graph_for(profile, hold_model(tmp_path / "hold.onnx", profile))
    graph.robot.nan_joint_state = True
    graph.set_enabled(True)
    faults = graph.policy.controller.safety.fault_counts
    wait_for(lambda: faults[safety.NON_FINITE_STATE] >= 3, what="non-finite state faults")
    assert graph.robot.commands == []


def test_nan_model_output_sends_nothing(tmp_path, profile, graph_for):
    graph = graph_for(profile, nan_when_lit_model(tmp_path / "nan.onnx", profile))
    graph.set_enabled(True)
    faults = graph.policy.controller.safety.fault_counts
    wait_for(lambda: faults[safety.NON_FINITE_COMMAND] >= 3, what="non-finite output faults")
    assert graph.robot.commands == []


def test_out_of_limit_output_is_clamped_to_limits_and_velocity(tmp_path, profile, graph_for):
    lower, upper, max_step = limits(profile)
    far = np.tile(upper + 1.0, (6, 1))  # every joint beyond its upper limit
    graph = graph_for(profile, constant_chunk_model(tmp_path / "far.onnx", profile, far))
    graph.set_enabled(True)
    wait_for(lambda: len(graph.robot.commands) >= 8, what="commands")
    commands = np.array(graph.robot.commands)
    assert np.all(commands >= lower) and np.all(commands <= upper)
    steps = np.abs(np.diff(np.vstack([profile.home, commands]), axis=0))
    assert np.all(steps <= max_step + 1e-9)
    assert graph.policy.controller.safety.commands_limited >= 8


def test_deadman_button_gates_commands(tmp_path, profile, graph_for):
    # Generous staleness: this test is about the deadman, and a loaded CI machine may delay a
    # stand-in observation past 3 periods (that would be a true fault, counted below).
    graph = graph_for(profile, hold_model(tmp_path / "hold.onnx", profile), deadman_button=4,
                      stale_after_periods=20.0)
    joy = graph.robot.create_publisher(Joy, "/joy", 10)
    graph.set_enabled(True)
    assert graph.commands_during(0.6) == []  # enabled, but nobody holds the button

    def press(held):
        joy.publish(Joy(buttons=[0, 0, 0, 0, int(held)]))

    graph.robot.create_timer(0.05, lambda: press(graph.robot.deadman_held))
    graph.robot.deadman_held = True
    wait_for(lambda: len(graph.robot.commands) >= 3, what="commands while held")
    graph.robot.deadman_held = False
    sent = graph.held_for(DEADMAN_RELEASED)
    assert graph.commands_during(0.6) == []
    controller = graph.policy.controller
    assert controller.safety.commands_sent == sent
    assert sum(controller.safety.fault_counts.values()) == 0


def test_the_operator_takes_over_and_hands_back_within_the_velocity_limit(tmp_path, profile,
                                                                        graph_for):
    """policy_node with takeover_button: the operator's press stops the policy's commands at the
    next tick (the policy sends at most the one tick in flight), without a fault; meanwhile the
    arm is moved elsewhere (as teleop would), and on release the policy resumes from there, every
    step within the velocity limit of the one before."""
    graph = graph_for(profile, hold_model(tmp_path / "hold.onnx", profile, offset=0.002),
                      takeover_button=9, stale_after_periods=20.0)
    joy = graph.robot.create_publisher(Joy, "/joy", 10)
    buttons = [0] * 15
    graph.robot.create_timer(0.05, lambda: joy.publish(Joy(buttons=list(buttons))))
    sources = []
    graph.robot.create_subscription(String, "/command_source", lambda m: sources.append(m.data),
                                    10)
    graph.set_enabled(True)
    wait_for(lambda: len(graph.robot.commands) >= 3, what="policy commands")
    controller = graph.policy.controller
    buttons[9] = 1  # the operator holds teleop's deadman
    sent = graph.held_for(TAKEN_OVER)
    assert graph.commands_during(0.6) == []  # the policy holds while the operator drives
    assert controller.safety.commands_sent == sent
    lower, upper, max_step = limits(profile)
    teleop_moved = np.clip(graph.robot.positions + 0.1, lower, upper)  # the operator's doing
    graph.robot.positions = teleop_moved.copy()
    time.sleep(0.3)  # joint states from the new place reach the policy
    before = len(graph.robot.commands)
    buttons[9] = 0  # handed back
    wait_for(lambda: len(graph.robot.commands) >= before + 5, what="commands after release")
    resumed = graph.robot.commands[before:]
    assert np.all(np.abs(resumed[0] - teleop_moved) <= max_step + 1e-9)
    assert np.all(np.abs(np.diff(np.array(resumed), axis=0)) <= max_step + 1e-9)
    assert sum(controller.safety.fault_counts.values()) == 0
    assert controller.report(0.0)["takeovers"] == "1"
    assert set(sources) == {"policy"}  # every command went out labelled


def test_sim_clock_jumping_back_resets_the_schedule_without_a_fault(tmp_path, profile,
                                                                     graph_for):
    # The stand-in robot is the clock source here, as sim_node is in simulation.
    model = hold_model(tmp_path / "hold.onnx", profile, offset=-0.002)
    graph = graph_for(profile, model, use_sim_time=True, pre_start=lambda robot: setattr(
        robot, "sim_time", 100.0))
    graph.set_enabled(True)
    wait_for(lambda: len(graph.robot.commands) >= 3, what="commands on sim time")
    graph.robot.sim_time = 1.0  # simulation reset
    controller = graph.policy.controller
    wait_for(lambda: controller.scheduler.resets >= 1, what="schedule reset")
    sent = controller.safety.commands_sent
    wait_for(lambda: controller.safety.commands_sent >= sent + 3, what="commands after reset")
    assert sum(controller.safety.fault_counts.values()) == 0
    assert controller.safety.enabled


def test_each_joint_state_reading_that_opens_a_control_period_starts_a_tick(tmp_path, profile,
                                                                              graph_for):
    # Simulated time whose /clock lags the readings (20 Hz from the stand-in) by half a reading:
    # a timer would tick at clock times between the readings' stamps, so a tick at a reading's
    # stamp was started by that reading; one per control period (10 Hz).
    def lagging_clock(robot):
        robot.sim_time, robot.clock_lag = 100.0, 0.025

    graph = graph_for(profile, hold_model(tmp_path / "hold.onnx", profile, offset=-0.001),
                      use_sim_time=True, pre_start=lagging_clock)
    controller = graph.policy.controller
    readings, ticks = [], []
    on_reading, tick = controller.on_joint_positions, controller.tick
    controller.on_joint_positions = lambda stamp, q: (readings.append(stamp),
                                                      on_reading(stamp, q))
    controller.tick = lambda now, clock=None: (ticks.append(now), tick(now, clock))[1]
    graph.set_enabled(True)
    wait_for(lambda: len(graph.robot.commands) >= 1, what="a command")
    ticks.clear()  # before the first reading opened a period the watchdog ticked (and waited)
    wait_for(lambda: len(graph.robot.commands) >= 11, what="commands on the lagging clock")
    started = list(ticks)  # before the readings: a reading comes before its tick
    heard = sorted(set(readings))
    assert set(started) <= set(heard)  # every tick at a reading's stamp
    assert np.allclose(np.diff(started), profile.control_period)  # one per period, none skipped
    between = [r for r in heard if started[0] <= r <= started[-1]]
    assert abs(len(between) - (2 * len(started) - 1)) <= 1  # every second reading ticked
    assert graph.policy.diagnostics_report().values["tick_on"] == "joint_states"


def test_joint_states_whose_stamps_jump_about_never_speed_up_the_commands(tmp_path, profile,
                                                                         graph_for):
    # Beside the robot's 20 Hz readings, 50 Hz more of the same positions stamped up to 0.25 s
    # back or ahead of the clock (a broken driver; inside the stale limit, so they are used).
    # Each would re-anchor the grid of control periods. The policy asks for 0.5 rad a tick, so
    # every command is as far as the velocity limit lets it go in the time since the last one.
    graph = graph_for(profile, hold_model(tmp_path / "creep.onnx", profile, offset=0.5))
    robot, controller = graph.robot, graph.policy.controller
    rng = np.random.default_rng(3)

    def odd_reading():
        now = robot.get_clock().now().nanoseconds * 1e-9
        robot.topics.publish_joint_states(robot.positions,
                                          sec_to_stamp(now + rng.uniform(-0.25, 0.25)))

    robot.create_timer(0.02, odd_reading)
    sent, tick = [], controller.tick

    def recording_tick(now, clock=None):
        result = tick(now, clock)
        if result.decision.send:
            sent.append((result.decided_at, result.decision.command))
        return result

    controller.tick = recording_tick
    graph.set_enabled(True)
    wait_for(lambda: len(sent) >= 20, what="20 commands")
    period = profile.control_period
    velocity = np.array([j.max_velocity for j in profile.joints])
    latest = sent[0][0]
    for (_, before), (at, command) in zip(sent, sent[1:], strict=False):
        elapsed = min(max(at - latest, 0.0), period)
        assert np.all(np.abs(command - before) <= velocity * elapsed + 1e-9), (at, latest)
        latest = max(latest, at)
    assert controller.safety.enabled


def test_a_gripper_on_its_own_controller_and_topics_is_driven(tmp_path, graph_for):
    """xarm6_sim: the arm takes trajectories, the gripper a Float64 of its own, and the gripper
    reports on its own joint-state topic; the node merges the states and drives both."""
    xarm = load_profile("xarm6_sim")
    arm, gripper = xarm.command_groups
    graph = graph_for(xarm, hold_model(tmp_path / "hold.onnx", xarm, offset=0.002))
    graph.set_enabled(True)
    wait_for(lambda: len(graph.robot.commands) >= 3, what="commands to both groups")
    trajectory = graph.robot.topics.messages[arm.topic][0]
    assert list(trajectory.joint_names) == list(arm.joints) and len(trajectory.points) == 1
    duration = trajectory.points[0].time_from_start
    assert duration.sec + duration.nanosec * 1e-9 == pytest.approx(xarm.control_period)
    home = np.array(xarm.home)
    np.testing.assert_allclose(trajectory.points[0].positions, home[xarm.slots(arm)] + 0.002,
                               atol=1e-5)
    opening = graph.robot.topics.messages[gripper.topic][0]
    assert opening.data == pytest.approx(home[xarm.slots(gripper)][0] + 0.002, abs=1e-5)
    # Without the gripper's joint states the robot's state is incomplete: the policy holds.
    gripper_states = xarm.joint_state_topics[1]
    graph.robot.topics.joint_states.publishers[gripper_states].publish = lambda msg: None
    assert graph.held_for(safety.STALE_OBSERVATION) >= 3
    assert "dropped_messages." + xarm.joint_state_topics[0] in str(
        graph.policy.messages.report())


def test_diagnostics_report_provider_and_counters(tmp_path, profile, graph_for):
    graph = graph_for(profile, hold_model(tmp_path / "hold.onnx", profile))
    reports = []
    graph.robot.create_subscription(DiagnosticArray, "/diagnostics",
                                    lambda m: reports.append(m), 10)
    graph.set_enabled(True)
    wait_for(lambda: len(graph.robot.commands) >= 5, what="commands")
    wait_for(lambda: any(kv.key == "inference_p99_ms" and kv.value != "nan"
                         for m in reports for s in m.status for kv in s.values),
             what="diagnostics with inference figures")
    values = {kv.key: kv.value for kv in reports[-1].status[0].values}
    assert reports[-1].status[0].name == "policy_node: policy"
    assert values["provider"] == graph.policy.controller.runtime.provider  # CPU or a GPU one
    assert values["enabled"] == "true"
    assert float(values["obs_to_command_p99_ms"]) > 0
    assert "faults.stale_observation" in values


def test_a_model_slower_than_the_period_runs_beside_the_tick(tmp_path, profile, graph_for,
                                                            monkeypatch):
    """auto chooses the background for a model slower than a control period (measured at
    warm-up); commands go out, and /diagnostics counts the deadline misses."""
    from lam_ros.policy.runtime import PolicyRuntime

    predict = PolicyRuntime.predict

    def slow_predict(self, images, state):
        time.sleep(1.5 * profile.control_period)
        return predict(self, images, state)

    monkeypatch.setattr(PolicyRuntime, "predict", slow_predict)
    graph = graph_for(profile, hold_model(tmp_path / "hold.onnx", profile),
                      stale_after_periods=10.0)
    reports = []
    graph.robot.create_subscription(DiagnosticArray, "/diagnostics",
                                    lambda m: reports.append(m), 10)
    assert graph.policy.controller.inference_mode == BACKGROUND
    graph.set_enabled(True)
    wait_for(lambda: len(graph.robot.commands) >= 5, what="commands")
    wait_for(lambda: any(kv.key == "inference_deadline_misses" and kv.value not in ("0", "")
                         for m in reports for s in m.status for kv in s.values),
             what="diagnostics counting deadline misses")
    values = {kv.key: kv.value for kv in reports[-1].status[0].values}
    assert values["inference_mode"] == BACKGROUND
    assert float(values["tick_interval_p50_ms"]) > 0


@pytest.mark.parametrize(("field", "value"), [
    # as many joints as the robot has, named otherwise: names are checked, not just the count
    ("joint_names", lambda p: [f"j{i + 1}" for i in range(p.n_joints)]),
    ("control_hz", lambda p: 30.0)])
def test_mismatched_card_exits_non_zero_naming_the_field(tmp_path, profile, field, value):
    card = json.loads(default_card(profile, 4))
    card[field] = value(profile)
    model = hold_model(tmp_path / "bad.onnx", profile, card_json=json.dumps(card))
    done = subprocess.run(
        [sys.executable, "-m", "lam_ros.nodes.policy_node", "--ros-args", "-p",
         f"model:={model}", "-p", f"profile:={profile.name}"], capture_output=True, text=True,
        timeout=60)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert f"does not fit robot '{profile.name}': {field}:" in output
    assert "Traceback" not in output


def test_the_policy_moves_sim_node_arm_and_gripper(tmp_path, profile, rclpy_context):
    """policy_node (on sim time) against the real sim_node process: every command group moves."""
    gripper = profile.grippers[0]
    spec = profile.joints[profile.slots(gripper)[0]]
    # Creep away from the gripper's home limit, so the gripper can follow too.
    sign = 1.0 if profile.home[profile.slots(gripper)[0]] <= spec.lower else -1.0
    model = hold_model(tmp_path / "creep.onnx", profile, offset=sign * 0.05)
    specs = [NodeSpec("sim_node", params={"profile": profile.name}),
             NodeSpec("policy_node", use_sim_time=True,
                      params={"profile": profile.name, "model": str(model)})]
    with NodeGroup(specs, log_dir=tmp_path / "logs") as group:
        probe = Node("probe", context=rclpy_context)
        joint1, fingers = [], []
        record = {profile.arm_joints[0]: joint1, gripper.joints[0]: fingers}

        def on_joint_state(msg):
            for name, value in zip(msg.name, msg.position, strict=True):
                if name in record:
                    record[name].append(value)
        for topic in profile.joint_state_topics:
            probe.create_subscription(JointState, topic, on_joint_state, qos.SENSOR)
        enable = probe.create_client(SetBool, "/policy_node/enable")
        executor = SingleThreadedExecutor(context=rclpy_context)
        executor.add_node(probe)
        thread = threading.Thread(target=executor.spin, daemon=True)
        thread.start()
        try:
            assert enable.wait_for_service(timeout_sec=30), group.log("policy_node")
            wait_for(lambda: joint1, what="sim joint states")
            wait_for(lambda: fingers, what="sim gripper joint states")
            start, opening = joint1[-1], fingers[-1]
            future = enable.call_async(SetBool.Request(data=True))
            wait_for(future.done, what="~/enable answer")
            # The policy asks for 0.05 past the measured state every tick: the sim follows.
            wait_for(lambda: sign * (joint1[-1] - start) > 0.2, timeout=30,
                     what=f"joint 1 to follow the policy (from {start})")
            wait_for(lambda: sign * (fingers[-1] - opening) > 0.2 * (spec.upper - spec.lower),
                     timeout=30, what=f"the gripper to follow the policy (from {opening})")
            assert group.dead() == {}
            assert "rejected" not in group.log("sim_node")
        finally:
            executor.shutdown()
            thread.join(timeout=5)
            probe.destroy_node()


def test_malformed_images_are_dropped_and_counted_not_fatal(tmp_path, profile, graph_for):
    graph = graph_for(profile, hold_model(tmp_path / "hold.onnx", profile))
    camera = profile.cameras[0]
    bad = [Image(height=0, width=0, step=0, encoding="rgb8"),  # zero-sized
           Image(height=96, width=96, step=288, encoding="rgb8", data=bytes(100)),  # truncated
           Image(height=96, width=96, step=288, encoding="mono16", data=bytes(96 * 288))]
    dropped = graph.policy.messages.dropped

    def send_bad():  # best effort and a shallow queue: keep sending until some arrive
        for msg in bad:
            msg.header.stamp = graph.robot.get_clock().now().to_msg()
            graph.robot.image_pubs[camera.name].publish(msg)
            time.sleep(0.05)
        return dropped[camera.topic] >= 3 or not graph.thread.is_alive()

    wait_for(send_bad, what="malformed frames to be dropped")
    assert graph.thread.is_alive(), "a malformed image killed policy_node's executor"
    graph.set_enabled(True)  # the good frames still drive the policy
    wait_for(lambda: len(graph.robot.commands) >= 3, what="commands after the bad frames")


def test_a_camera_that_never_publishes_is_a_warning_naming_its_topic(tmp_path, profile,
                                                                     graph_for):
    graph = graph_for(profile, hold_model(tmp_path / "hold.onnx", profile), silence_warn_s=0.5,
                      pre_start=lambda robot: setattr(robot, "camera_on", False))
    reports = []
    graph.robot.create_subscription(DiagnosticArray, "/diagnostics",
                                    lambda m: reports.extend(m.status), 10)
    topic = profile.cameras[0].topic
    wait_for(lambda: any(topic in s.message for s in reports), what="a warning naming the camera")
    status = next(s for s in reports if topic in s.message)
    assert status.level == DiagnosticStatus.WARN
    assert profile.joint_state_topics[0] not in status.message  # joint states do arrive


def test_enable_false_is_served_while_a_tick_is_inside_inference(tmp_path, profile, graph_for,
                                                                 monkeypatch):
    """The off switch does not wait for a slow model: ~/enable false is answered before the
    stalled inference returns, and nothing is published after the answer."""
    from lam_ros.policy.runtime import PolicyRuntime

    stall = {"s": 0.0, "slow_started": 0, "returned": []}
    predict = PolicyRuntime.predict

    def slow_predict(self, images, state):
        delay = stall["s"]
        stall["slow_started"] += delay > 0
        time.sleep(delay)
        out = predict(self, images, state)
        stall["returned"].append(time.monotonic())
        return out

    monkeypatch.setattr(PolicyRuntime, "predict", slow_predict)
    graph = graph_for(profile, hold_model(tmp_path / "hold.onnx", profile),
                      stale_after_periods=50.0)
    # The operator's own process: its client is not spun by the executor the stall blocks.
    operator = Node("operator", context=graph.policy.context)
    client = operator.create_client(SetBool, "/policy_node/enable")
    executor = SingleThreadedExecutor(context=graph.policy.context)
    executor.add_node(operator)
    threading.Thread(target=executor.spin, daemon=True).start()
    try:
        assert client.wait_for_service(timeout_sec=10)
        graph.set_enabled(True)
        wait_for(lambda: len(graph.robot.commands) >= 2, what="commands")
        stall["s"] = 1.5
        wait_for(lambda: stall["slow_started"] > 0, what="a stalled inference")
        stall["s"] = 0.0
        assert stall["slow_started"] == 1
        returned = len(stall["returned"])
        future = client.call_async(SetBool.Request(data=False))
        wait_for(future.done, what="~/enable false answer")
        answered = time.monotonic()
    finally:
        executor.shutdown()
        operator.destroy_node()
    assert len(stall["returned"]) == returned, "the answer waited for inference to finish"
    commands = len(graph.robot.commands)
    wait_for(lambda: len(stall["returned"]) > returned, what="the stalled inference to end")
    graph.held_for(safety.DISABLED)
    assert len(graph.robot.commands) == commands, "a command went out after the disable"
    assert answered < stall["returned"][returned]


def test_commands_carry_an_expiry(tmp_path, graph_for):
    xarm = load_profile("xarm6_sim")  # its arm takes stamped trajectories
    graph = graph_for(xarm, hold_model(tmp_path / "hold.onnx", xarm))
    graph.set_enabled(True)
    wait_for(lambda: len(graph.robot.commands) >= 2, what="commands")
    stamp = graph.robot.topics.messages[xarm.command_groups[0].topic][-1].header.stamp
    sent_at = stamp.sec + stamp.nanosec * 1e-9
    now = graph.robot.get_clock().now().nanoseconds * 1e-9
    assert 0 < now - sent_at < 5.0  # stamped with its slot, not "whenever it arrives" (zero)
    for group in xarm.command_groups:  # every group's commands expire after their slot
        info = graph.robot.get_publishers_info_by_topic(group.topic)
        lifespan = info[0].qos_profile.lifespan
        assert lifespan.nanoseconds * 1e-9 == pytest.approx(xarm.control_period)


@pytest.mark.parametrize("family_name", list(FAMILIES))
def test_every_policy_family_drives_the_robot_through_the_same_node(tmp_path, graph_for,
                                                                     family_name):
    panda = load_profile("panda_sim")  # the family, not the robot, is what varies here
    model = tiny_exported_policy(tmp_path / f"{family_name}.onnx", panda, family_name)
    graph = graph_for(panda, model)
    assert graph.policy.controller.runtime.card.policy == family_name
    graph.set_enabled(True)
    wait_for(lambda: len(graph.robot.commands) >= 3, what=f"{family_name} commands after enable")
    for command in graph.robot.commands:  # the tiny policy's chunk sits near home
        assert np.all(np.isfinite(command))
        assert np.abs(command - np.array(panda.home)).max() < 0.05
