"""expert_node: the simulated task's scripted expert driving the robot through its command topic.

Reads /joint_states and the simulator's privileged object poses; every control period of (sim)
time it publishes the ScriptedExpert's next joint target on the profile's command interface. The
expert replans by itself when the world stops matching its plan (a reset moved the cube or the
robot); a clock that jumps backwards also starts a fresh plan. Reports its phase, replans and
commands sent on /diagnostics.
"""

from __future__ import annotations

import sys

import numpy as np
from geometry_msgs.msg import PoseArray
from rclpy.node import Node

from lam_ros.core.profile import load_profile
from lam_ros.ros import qos
from lam_ros.ros.command_publisher import CommandPublisher
from lam_ros.ros.diagnostics import WARN, Diagnostics, Report, worst_of
from lam_ros.ros.guard import MessageGuard
from lam_ros.ros.joint_states import JointStateInput
from lam_ros.ros.params import declare_config
from lam_ros.ros.startup import run_node
from lam_ros.sim.config import ExpertConfig
from lam_ros.sim.expert import ScriptedExpert
from lam_ros.sim.tasks import Pose, yaw_of


def held_and_goal(msg: PoseArray) -> tuple[Pose, Pose]:
    """The held object (poses[0]) and its goal (poses[1])."""
    return tuple(Pose(np.array([p.position.x, p.position.y, p.position.z]),
                      yaw_of((p.orientation.x, p.orientation.y, p.orientation.z,
                              p.orientation.w)))
                 for p in msg.poses[:2])


class ExpertNode(Node):
    def __init__(self):
        super().__init__("expert_node")
        self.config = declare_config(self, ExpertConfig)
        self.profile = load_profile(self.config.profile)
        self.expert = ScriptedExpert(self.profile, self.config.task)
        self.joints: np.ndarray | None = None
        self.objects: tuple[Pose, Pose] | None = None
        self.last_tick_ns = -1
        self.commands_sent = 0
        self.commands = CommandPublisher(self, self.profile)
        self.messages = MessageGuard(self)
        JointStateInput(self, self.messages, self.profile, self._on_joint_positions)
        self.messages.subscribe(PoseArray, self.config.object_poses_topic, self._on_poses,
                                qos.SENSOR)
        self.create_timer(self.profile.control_period, self._on_tick)
        self.diagnostics = Diagnostics(self, "expert", self.profile.name,
                                       self.config.diagnostics_period_s, self.diagnostics_report)

    def _on_joint_positions(self, stamp_s: float, positions: np.ndarray) -> None:
        self.joints = positions

    def _on_poses(self, msg: PoseArray) -> None:
        if len(msg.poses) >= 2:
            self.objects = held_and_goal(msg)

    def _on_tick(self) -> None:
        now = self.get_clock().now()
        if now.nanoseconds < self.last_tick_ns:
            self.expert.reset()  # sim time went backwards: a new episode
        self.last_tick_ns = now.nanoseconds
        if self.joints is None or self.objects is None:
            return
        target = self.expert.act(self.joints, *self.objects)
        self.commands.publish(target, now.nanoseconds * 1e-9)
        self.commands_sent += 1

    def diagnostics_report(self) -> Report:
        values = {"task": self.expert.task.name, "phase": self.expert.phase,
                  "replans": str(self.expert.replans), "commands_sent": str(self.commands_sent),
                  **self.messages.report()}
        missing = [what for what, value in (("joint states", self.joints),
                                            (self.config.object_poses_topic, self.objects))
                   if value is None]
        problems = [(WARN, f"waiting for {' and '.join(missing)}")] if missing else []
        return worst_of(problems, self.expert.phase, values)


def main(args=None) -> int:
    return run_node(ExpertNode, "expert_node", args=args)


if __name__ == "__main__":
    sys.exit(main())
