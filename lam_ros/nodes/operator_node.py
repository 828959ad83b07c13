"""operator_node: a simulated person with a gamepad, in place of the `joy` node.

``mode: demonstrate`` (``sim/operator.py``): the person does the task. ``mode: correct``
(``sim/corrector.py``): the person watches a policy do it and takes over (deadman) when it goes
wrong, for policy_node (``takeover_button``) to yield to teleop_node.

Reads /joint_states and the simulator's privileged object poses and task success; every control
period of (sim) time it publishes the sensor_msgs/Joy a person would (``sim/operator.py``) on
/joy, for teleop_node to act on: teleop drives the robot and calls the recorder on the episode
buttons, exactly as with a real pad. Between episodes it publishes an untouched pad, as the joy
node does. ``~/begin`` (std_srvs/Trigger) starts a new person on the current ``seed`` parameter;
``~/status`` (std_msgs/String, JSON) says its phase and, once it pressed its last button, the
outcome; /diagnostics says the same, and warns while the privileged inputs are missing.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field

import numpy as np
from geometry_msgs.msg import PoseArray
from rclpy.node import Node
from sensor_msgs.msg import Joy
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger

from lam_ros.core.profile import load_profile
from lam_ros.core.teleop import TeleopConfig
from lam_ros.kinematics import Kinematics
from lam_ros.nodes.expert_node import held_and_goal
from lam_ros.ros import qos
from lam_ros.ros.diagnostics import WARN, Diagnostics, Report, worst_of
from lam_ros.ros.guard import MessageGuard
from lam_ros.ros.joint_states import JointStateInput
from lam_ros.ros.params import declare_config
from lam_ros.ros.startup import run_node
from lam_ros.sim.config import SIM_PROFILE
from lam_ros.sim.corrector import CORRECT, DEMONSTRATE, CorrectingOperator
from lam_ros.sim.operator import DEFAULT_STYLE, STYLES, JoyFrame, JoystickOperator, idle_frame
from lam_ros.sim.tasks import DEFAULT_TASK, get_task

TELEOP_NODE = "teleop_node"  # who must hear the person before it begins


@dataclass(frozen=True)
class OperatorConfig:
    profile: str = field(default=SIM_PROFILE, metadata={"help": "robot profile name or path"})
    task: str = field(default=DEFAULT_TASK, metadata={"help": "simulated task (sim/tasks.py)"})
    style: str = field(default=DEFAULT_STYLE, metadata={
        "help": f"the person: {', '.join(STYLES)}"})
    mode: str = field(default=DEMONSTRATE, metadata={
        "help": f"{DEMONSTRATE}: the person does the task; {CORRECT}: the person watches a "
                "policy do it and takes over when it goes wrong"})
    seed: int = field(default=0, metadata={"help": "the person the next ~/begin starts"})
    time_limit_s: float = field(default=60.0, metadata={
        "help": "sim seconds after which the person gives up and presses B"})
    object_poses_topic: str = field(default="/sim_node/object_poses", metadata={
        "help": "privileged held object (poses[0]) and its goal (poses[1])"})
    success_topic: str = field(default="/sim_node/task_success", metadata={
        "help": "the simulator's verdict, which the person sees"})
    diagnostics_period_s: float = field(default=1.0, metadata={
        "help": "wall seconds between /diagnostics reports"})

    def __post_init__(self) -> None:
        get_task(self.task)
        if self.mode not in (DEMONSTRATE, CORRECT):
            raise ValueError(f"mode must be {DEMONSTRATE} or {CORRECT}, got {self.mode!r}")
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {', '.join(STYLES)}, got {self.style!r}")
        for name in ("time_limit_s", "diagnostics_period_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")


class OperatorNode(Node):
    def __init__(self, **kwargs):
        super().__init__("operator_node", **kwargs)
        self.config = declare_config(self, OperatorConfig, self._on_config, mutable=("seed",))
        self.profile = load_profile(self.config.profile)
        self.task = get_task(self.config.task)
        self.kinematics = Kinematics(self.profile)
        self.mapping = TeleopConfig(profile=self.profile.name)
        self.operator: JoystickOperator | CorrectingOperator | None = None
        self.operator_seed = -1  # the seed the current person began with
        self.joints: np.ndarray | None = None
        self.objects = None
        self.success = False
        self.messages = MessageGuard(self)
        JointStateInput(self, self.messages, self.profile, self._on_joint_positions)
        self.messages.subscribe(PoseArray, self.config.object_poses_topic, self._on_poses,
                                qos.SENSOR)
        self.messages.subscribe(Bool, self.config.success_topic,
                                lambda msg: setattr(self, "success", bool(msg.data)), qos.SENSOR)
        self.joy = self.create_publisher(Joy, "/joy", 10)  # as the joy node: reliable
        self.status = self.create_publisher(String, "~/status", qos.STATUS)
        self.create_service(Trigger, "~/begin", self._on_begin)
        self.create_timer(self.profile.control_period, self._on_tick)
        self.diagnostics = Diagnostics(self, "operator", self.profile.name,
                                       self.config.diagnostics_period_s, self.diagnostics_report)

    def _on_config(self, config: OperatorConfig) -> None:
        self.config = config

    def _on_joint_positions(self, stamp_s: float, positions: np.ndarray) -> None:
        self.joints = positions

    def _on_poses(self, msg: PoseArray) -> None:
        if len(msg.poses) >= 2:
            self.objects = held_and_goal(msg)

    def _on_begin(self, request: Trigger.Request, response: Trigger.Response):
        # The person's START must reach teleop_node, which acts on presses it saw happen: not
        # before teleop_node's /joy subscription is matched (discovery can lag under load).
        readers = self.get_subscriptions_info_by_topic("/joy")
        if (not any(r.node_name == TELEOP_NODE for r in readers)
                or self.joy.get_subscription_count() < len(readers)):
            response.success = False
            response.message = f"{TELEOP_NODE} does not hear /joy yet"
            return response
        person = CorrectingOperator if self.config.mode == CORRECT else JoystickOperator
        self.operator = person(self.profile, self.task, self.config.style, self.config.seed,
                               self.config.time_limit_s, self.kinematics, self.mapping)
        self.operator_seed = self.config.seed
        response.success = True
        response.message = f"a {self.config.style} person, seed {self.config.seed}"
        return response

    def _on_tick(self) -> None:
        now = self.get_clock().now()
        operator = self.operator
        if operator is None or operator.finished or self.joints is None or self.objects is None:
            frame = idle_frame()
        else:
            frame = operator.act(now.nanoseconds * 1e-9, self.joints, *self.objects,
                                 self.success)
        self._publish(frame, now.to_msg())
        if operator is not None:
            status = {"seed": self.operator_seed, "phase": operator.phase,
                      "outcome": operator.outcome, "finished": operator.finished}
            if isinstance(operator, CorrectingOperator):
                status.update(takeovers=operator.takeovers, human_s=round(operator.human_s, 3))
            self.status.publish(String(data=json.dumps(status)))

    def diagnostics_report(self) -> Report:
        operator = self.operator
        phase = "no episode begun" if operator is None else operator.phase
        values = {"style": self.config.style, "seed": str(self.operator_seed), "phase": phase,
                  "outcome": operator.outcome if operator else "", **self.messages.report()}
        missing = [what for what, value in (("joint states", self.joints),
                                            (self.config.object_poses_topic, self.objects))
                   if value is None]
        problems = [(WARN, f"waiting for {' and '.join(missing)}")] if missing else []
        return worst_of(problems, phase, values)

    def _publish(self, frame: JoyFrame, stamp) -> None:
        msg = Joy(axes=[float(a) for a in frame.axes], buttons=list(frame.buttons))
        msg.header.stamp = stamp
        self.joy.publish(msg)


def main(args=None) -> int:
    return run_node(OperatorNode, "operator_node", args=args)


if __name__ == "__main__":
    sys.exit(main())
