"""sim_node: the PyBullet tabletop (one task) behind the topics a ros2_control robot offers.

It is the clock source: its own timer runs on the steady wall clock (never on /clock), and after
every step it publishes camera images, /joint_states, ~/object_poses and ~/task_success stamped
with sim time, then /clock. Each command group of the profile is a simulated controller on the
group's topic in its interface (see CommandGuard.check_trajectory for which trajectory point is
used); every command passes that group's guard, so a malformed command never reaches the motors
and the robot holds. When the profile lists more than one joint-state topic, each gripper (its
joint and mirrors) reports on the next one, as a separate gripper driver would. Reports the
task, seed, steps, the measured real-time factor and lockstep timeouts on /diagnostics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import rclpy
from geometry_msgs.msg import Pose, PoseArray
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import Image
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from lam_ros.core import commands
from lam_ros.core.profile import CommandGroup, RobotProfile, load_profile
from lam_ros.core.rates import WindowedRate
from lam_ros.launcher import exit_with_parent
from lam_ros.ros import qos
from lam_ros.ros.command_publisher import MESSAGE_CLASSES
from lam_ros.ros.convert import rgb_to_image, sec_to_stamp
from lam_ros.ros.diagnostics import WARN, Diagnostics, Report, worst_of
from lam_ros.ros.guard import MessageGuard
from lam_ros.ros.joint_states import JointStatePublisher
from lam_ros.ros.params import declare_config
from lam_ros.ros.startup import spin_until_shutdown
from lam_ros.sim.command_guard import CommandGuard, GuardResult
from lam_ros.sim.config import SimConfig
from lam_ros.sim.stepping import StepGate
from lam_ros.sim.tasks import yaw_quaternion
from lam_ros.sim.world import CAMERAS, TabletopWorld

POLL_S = 0.002  # wall seconds between step-gate checks
WARN_EVERY_S = 2.0
RTF_WINDOW_S = 2.0  # wall seconds the reported real-time factor is measured over
RTF_WARN_SHARE = 0.8  # paced (not lockstep), /diagnostics warns below this share of the target


@dataclass(frozen=True)
class SimCamera:
    name: str  # simulated camera in world.CAMERAS
    topic: str
    width: int
    height: int
    encoding: str = "rgb8"


def sim_cameras(profile: RobotProfile, config: SimConfig) -> list[SimCamera]:
    """The profile's cameras plus the optional wrist camera and side view."""
    cameras = [SimCamera(c.name, c.topic, c.width, c.height, c.encoding) for c in profile.cameras]
    first = profile.cameras[0] if profile.cameras else None
    if config.publish_wrist_camera and "wrist" not in {c.name for c in cameras}:
        size = (first.width, first.height) if first else (96, 96)
        cameras.append(SimCamera("wrist", "/wrist/image_raw", *size))
    if config.publish_side_view:
        cameras.append(SimCamera("side", "~/side_view/image_raw", config.side_view_width,
                                 config.side_view_height))
    unknown = [c.name for c in cameras if c.name not in CAMERAS]
    if unknown:
        raise ValueError(f"profile {profile.name!r} camera(s) {unknown} have no simulated "
                         f"counterpart; the sim renders {sorted(CAMERAS)}")
    return cameras


def camera_image(rgb: np.ndarray, camera: SimCamera, stamp) -> Image:
    if camera.encoding == "bgr8":
        msg = rgb_to_image(rgb[..., ::-1], stamp, f"{camera.name}_camera")
        msg.encoding = "bgr8"
        return msg
    return rgb_to_image(rgb, stamp, f"{camera.name}_camera")


def object_poses(world: TabletopWorld, stamp) -> PoseArray:
    """poses[0] = the held object, poses[1] = where its centre goes, in the robot base frame."""
    msg = PoseArray()
    msg.header.stamp = stamp
    msg.header.frame_id = "world"
    for body in (world.held_pose(), world.goal_pose()):
        position, quat = body.position, yaw_quaternion(body.yaw)
        pose = Pose()
        pose.position.x, pose.position.y, pose.position.z = (float(v) for v in position)
        (pose.orientation.x, pose.orientation.y, pose.orientation.z,
         pose.orientation.w) = (float(v) for v in quat)
        msg.poses.append(pose)
    return msg


class SimNode(Node):
    def __init__(self):
        super().__init__("sim_node")
        self.config = declare_config(self, SimConfig, on_change=self._on_config, mutable=(
            "seed", "lockstep", "lockstep_timeout_s", "real_time_factor", "publish_side_view"))
        self.profile = load_profile(self.config.profile)
        self.world = TabletopWorld(self.profile, self.config.task, self.config.seed)
        self.rejected = 0
        self.gate = StepGate(self.profile.control_period, self.config.real_time_factor,
                             self.config.lockstep, self.config.lockstep_timeout_s,
                             tuple(g.name for g in self.profile.command_groups))
        self.cameras = sim_cameras(self.profile, self.config)
        self.image_pubs = {c.name: self.create_publisher(Image, c.topic, qos.SENSOR)
                           for c in self.cameras}
        self.joint_states = JointStatePublisher(self, self.profile, self.world.joint_state()[0])
        self.poses_pub = self.create_publisher(PoseArray, "~/object_poses", qos.SENSOR)
        self.success_pub = self.create_publisher(Bool, "~/task_success", qos.STATUS)
        self.clock_pub = self.create_publisher(ClockMsg, "/clock", qos.CLOCK)
        self.messages = MessageGuard(self)
        for group in self.profile.command_groups:
            guard = CommandGuard(self.profile, group)
            self.messages.subscribe(MESSAGE_CLASSES[group.interface], group.topic,
                                    lambda msg, g=group, c=guard: self._on_command(g, c, msg),
                                    qos.COMMAND)
        self.create_service(Trigger, "~/reset", self._on_reset)
        # The sim is the clock source, so it paces itself by the wall clock, never by /clock.
        self.wall = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(POLL_S, self._on_timer, clock=self.wall)
        self.sim_rate = WindowedRate(RTF_WINDOW_S, self.wall_s(), self.world.sim_time)
        self.reported_timeouts = 0  # lockstep timeouts at the previous /diagnostics report
        self.diagnostics = Diagnostics(self, "simulation", self.profile.name,
                                       self.config.diagnostics_period_s, self.diagnostics_report)
        self.get_logger().info(
            f"simulating {self.profile.name!r} on task {self.world.task.name!r} at "
            f"{self.profile.control_hz:g} Hz "
            f"(lockstep: {self.config.lockstep}); cameras {[c.topic for c in self.cameras]}")

    def _on_config(self, config: SimConfig) -> None:
        self.config = config  # profile and cameras are read at start; seed applies on reset
        self.gate.configure(config.real_time_factor, config.lockstep, config.lockstep_timeout_s)

    def _on_command(self, group: CommandGroup, guard: CommandGuard, msg) -> None:
        result = guard.check(commands.decode(group, msg), self.profile.control_period)
        self._apply(group, result)

    def _apply(self, group: CommandGroup, result: GuardResult) -> None:
        self.rejected += not result.accepted
        if result.reason:  # throttled: the count says how many went by unlogged
            self.get_logger().warning(f"{group.topic}: command {result.reason} "
                                      f"({self.rejected} rejected so far)",
                                      throttle_duration_sec=WARN_EVERY_S)
        if result.accepted:
            target = self.world.command.copy()  # the other groups keep their targets
            target[self.profile.slots(group)] = result.positions
            self.world.apply_command(target)
            self.gate.command_arrived(group.name)

    def wall_s(self) -> float:
        return self.wall.now().nanoseconds * 1e-9

    def _on_timer(self) -> None:
        now = self.wall_s()
        if self.gate.should_step(now):
            self.world.step()
            self.gate.stepped(now)
            self.sim_rate.add(now, self.world.sim_time)
            self._publish()

    def _publish(self) -> None:
        stamp = sec_to_stamp(self.world.sim_time)
        for camera in self.cameras:
            if camera.name == "side" and not self.config.publish_side_view:
                continue  # switched off at run time: the side view costs more than the rest
            rgb = self.world.render(camera.name, (camera.width, camera.height))
            self.image_pubs[camera.name].publish(camera_image(rgb, camera, stamp))
        _, positions, velocities = self.world.joint_state()
        self.joint_states.publish(positions, velocities, stamp)
        self.poses_pub.publish(object_poses(self.world, stamp))
        self.success_pub.publish(Bool(data=self.world.success()))
        self.clock_pub.publish(ClockMsg(clock=stamp))

    def diagnostics_report(self) -> Report:
        config, gate, world = self.config, self.gate, self.world
        factor = self.sim_rate.rate(self.wall_s())
        new_timeouts = gate.lockstep_timeouts - self.reported_timeouts
        self.reported_timeouts = gate.lockstep_timeouts
        values = {"task": world.task.name,
                  "seed": str(world.seed),
                  "steps": str(gate.steps),
                  "sim_time_s": f"{world.sim_time:.2f}",
                  "real_time_factor": f"{factor:.2f}",
                  "real_time_factor_target": f"{config.real_time_factor:g}",
                  "lockstep": "true" if config.lockstep else "false",
                  "lockstep_timeouts": str(gate.lockstep_timeouts),
                  "commands_rejected": str(self.rejected),
                  **self.messages.report()}
        problems = []
        if new_timeouts:
            problems.append((WARN, f"lockstep: {new_timeouts} steps taken without a command "
                                   f"since the last report (lockstep_timeout_s="
                                   f"{config.lockstep_timeout_s:g})"))
        target = config.real_time_factor
        if not config.lockstep and factor < RTF_WARN_SHARE * target:
            problems.append((WARN, f"running at {factor:.2f}x real time, target {target:g}x"))
        return worst_of(problems, f"{world.task.name} seed {world.seed}: {factor:.2f}x real time",
                        values)

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response):
        self.world.reset(self.config.seed)
        response.success = True
        response.message = json.dumps({
            "seed": self.config.seed, "task": self.world.task.name,
            "layout": {name: [round(float(v), 4) for v in placement]
                       for name, placement in self.world.layout.items()}})
        self.get_logger().info(f"reset: {response.message}")
        return response


def main(args=None):
    exit_with_parent()
    rclpy.init(args=args)
    node = SimNode()
    try:
        spin_until_shutdown(lambda: rclpy.spin(node))
    finally:
        node.world.close()
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
