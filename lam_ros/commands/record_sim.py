"""`lam-ros record-sim`: record demonstrations in simulation through the ROS graph.

With ``--operator expert`` (the default), sim_node (lockstep, as fast as possible), expert_node
and recorder_node run as processes on the sim clock; for each demo seed the sim is reset, an
episode is recorded until the task succeeds (plus a moment to record the release) or the time
limit, and closed with its outcome.

With ``--operator joystick`` the graph is record.launch.py's, with a simulated person
(operator_node, ``sim/operator.py``) in place of the joy node: it drives teleop_node with Joy
messages, and teleop_node starts, stops and discards episodes through the recorder's services
when the person presses START, A, B or BACK. For each seed the sim is reset and a new person
begins; the episode ends when the person pressed its last button.

With ``--policy MODEL`` the episodes are corrections: policy_node drives (enabled for each
seed), and the simulated person watches (operator_node ``mode: correct``) and takes over with
the deadman when the policy goes wrong; policy_node yields to teleop_node at once
(``takeover_button``) and resumes when the person lets go. Every command carries its source on
/command_source, which the recorder logs, so training knows which ticks a person drove.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import rclpy
from std_msgs.msg import String
from std_srvs.srv import SetBool, Trigger
from tqdm import tqdm

from lam_ros.core.commands import profile_topics
from lam_ros.core.profile import load_profile
from lam_ros.core.teleop import TeleopConfig
from lam_ros.launcher import NodeExited, NodeGroup, NodeSpec
from lam_ros.ros import qos
from lam_ros.ros.sim_session import SessionError, SimSession, make_context, wait_for_services
from lam_ros.sim.config import SIM_PROFILE
from lam_ros.sim.corrector import CORRECT, DEMONSTRATE
from lam_ros.sim.operator import DEFAULT_STYLE, STYLES
from lam_ros.sim.seeds import demo_seeds
from lam_ros.sim.tasks import DEFAULT_TASK, TASKS, get_task

SETTLE_S = 0.3  # sim seconds after a reset in which success is impossible
EXPERT, JOYSTICK = "expert", "joystick"
# With a person, the sim steps on each teleop command, or after this long (wall seconds) while
# nobody moves the robot: idle frames and pauses pass quickly, in sim time as a person's would.
IDLE_STEP_S = 0.03


@dataclass(frozen=True)
class RecordSimConfig:
    data: str
    episodes: int = 50
    task: str = DEFAULT_TASK  # a simulated task; also the folder under data
    seed_offset: int = 0  # first demo seed
    profile: str = SIM_PROFILE
    time_limit_s: float = 30.0  # sim seconds per episode (a person: before it gives up)
    after_success_s: float = 1.0  # sim seconds recorded after success (the release)
    wall_limit_s: float = 300.0  # a hung graph ends the episode
    operator: str = EXPERT  # who drives: the scripted expert or a simulated joystick person
    style: str = DEFAULT_STYLE  # the joystick person's style
    policy: str = ""  # policy.onnx the person corrects (joystick only); "" = the person drives

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"--episodes must be >= 1, got {self.episodes}")
        if self.operator not in (EXPERT, JOYSTICK):
            raise ValueError(f"--operator must be {EXPERT} or {JOYSTICK}, got {self.operator!r}")
        if self.style not in STYLES:
            raise ValueError(f"--style must be one of {', '.join(STYLES)}, got {self.style!r}")
        if self.policy and self.operator != JOYSTICK:
            raise ValueError("--policy needs --operator joystick: a person corrects a policy")
        if self.policy and not Path(self.policy).is_file():
            raise ValueError(f"--policy: no such file {self.policy}")
        get_task(self.task)
        demo_seeds(self.episodes, self.seed_offset)  # raises naming the bad range


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--data", required=True, help="data root: <data>/<task>/episode_*")
    parser.add_argument("--task", default=DEFAULT_TASK, choices=sorted(TASKS),
                        help="simulated task; episodes go to <data>/<task>")
    parser.add_argument("--seed-offset", type=int, default=0, dest="seed_offset",
                        help="first demo seed")
    parser.add_argument("--profile", default=SIM_PROFILE)
    parser.add_argument("--time-limit", type=float, default=None, dest="time_limit_s",
                        help="sim seconds per episode (default: 30 for the expert, 60 for a "
                             "joystick person, who then gives up)")
    parser.add_argument("--operator", choices=(EXPERT, JOYSTICK), default=EXPERT,
                        help="who drives: the scripted expert straight to the robot, or a "
                             "simulated person with a gamepad through teleop_node")
    parser.add_argument("--style", choices=sorted(STYLES), default=DEFAULT_STYLE,
                        help="the joystick person's style")
    parser.add_argument("--policy", default="", metavar="MODEL",
                        help="record corrections: this policy.onnx drives and the joystick "
                             "person takes over when it goes wrong")


def run(args: argparse.Namespace) -> int:
    if args.time_limit_s is None:
        args.time_limit_s = 60.0 if args.operator == JOYSTICK else 30.0
    try:
        config = RecordSimConfig(**{k: v for k, v in vars(args).items()
                                    if k in RecordSimConfig.__dataclass_fields__})
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    try:
        outcomes = record(config)
    except (NodeExited, SessionError) as exc:
        print(f"error: {exc} (node logs: {Path(config.data) / 'logs' / config.task})",
              file=sys.stderr)
        return 1
    ok = sum(success for _, success, _ in outcomes)
    print(f"recorded {len(outcomes)} episodes under {Path(config.data) / config.task}: "
          f"{ok} succeeded, {len(outcomes) - ok} failed or discarded")
    # A person fails or discards an episode now and then; the expert never should.
    return 0 if ok == len(outcomes) or (config.operator == JOYSTICK and ok) else 1


def node_specs(config: RecordSimConfig) -> list[NodeSpec]:
    robot = {"profile": config.profile}
    task = {"task": config.task}
    sim = {**robot, **task, "lockstep": True, "real_time_factor": 0.0}
    if config.operator == EXPERT:
        drivers = [NodeSpec("expert_node", params={**robot, **task}, use_sim_time=True)]
    else:
        sim["lockstep_timeout_s"] = IDLE_STEP_S
        drivers = [NodeSpec("operator_node", use_sim_time=True, params={
                       **robot, **task, "style": config.style,
                       "time_limit_s": config.time_limit_s,
                       "mode": CORRECT if config.policy else DEMONSTRATE}),
                   NodeSpec("teleop_node", params=robot, use_sim_time=True)]
        if config.policy:
            drivers.append(NodeSpec("policy_node", use_sim_time=True, params={
                **robot, "model": str(Path(config.policy).resolve()),
                "takeover_button": TeleopConfig(profile=config.profile).deadman_button}))
    return [NodeSpec("sim_node", params=sim), *drivers,
            NodeSpec("recorder_node", use_sim_time=True, params={
                **robot, "data_root": str(Path(config.data).resolve()), "task": config.task})]


class OperatorSession:
    """operator_node's ~/begin and ~/status, on the SimSession's node."""

    def __init__(self, sim: SimSession):
        self.status: dict = {}
        sim.messages.subscribe(String, "/operator_node/status", self._on_status, qos.STATUS)
        self.begin = sim.node.create_client(Trigger, "/operator_node/begin")

    def _on_status(self, msg: String) -> None:
        self.status = json.loads(msg.data)


class RecorderSession:
    """The recorder_node services and status, on the SimSession's node."""

    def __init__(self, sim: SimSession):
        self.sim = sim
        self.status: dict = {}
        node = sim.node
        sim.messages.subscribe(String, "/recorder_node/status", self._on_status, qos.STATUS)
        self.start = node.create_client(Trigger, "/recorder_node/start")
        self.stop = node.create_client(SetBool, "/recorder_node/stop")

    def _on_status(self, msg: String) -> None:
        self.status = json.loads(msg.data)

    def wait_ready(self, topics: set[str], timeout_s: float, check=lambda: None) -> None:
        """Waits for the recorder's services and its subscriptions to ``topics``."""
        wait_for_services((self.start, self.stop), timeout_s, check)
        deadline = time.monotonic() + timeout_s
        while not topics <= set(self.status.get("topics", ())):
            check()
            if time.monotonic() > deadline:
                raise SessionError(f"recorder_node subscribed to {self.status.get('topics')}, "
                                   f"not all of {sorted(topics)}, in {timeout_s} s")
            time.sleep(0.05)

    def set_seed(self, seed: int) -> None:
        self.sim.set_parameter("recorder_node", "seed", int(seed))

    def trigger(self, client, request) -> str:
        response = self.sim.call(client, request)
        if not response.success:
            raise SessionError(f"{client.srv_name}: {response.message}")
        return response.message


def recorded_topics(config: RecordSimConfig) -> set[str]:
    """What the recorder must have subscribed before the first episode starts: the robot's
    topics and the clock, and the person's /joy (recorded once it has a publisher; under load
    the recorder's discovery can come after a hurried person's START)."""
    topics = {*profile_topics(load_profile(config.profile)), "/clock"}
    return topics | {"/joy"} if config.operator == JOYSTICK else topics


def record(config: RecordSimConfig) -> list[tuple[int, bool, str]]:
    """Records one episode per demo seed; returns (seed, success, episode dir) for each."""
    data_dir = Path(config.data)
    context = make_context()
    nodes = NodeGroup(node_specs(config), log_dir=data_dir / "logs" / config.task).start()
    sim = SimSession(context)
    session = RecorderSession(sim)
    person = OperatorSession(sim) if config.operator == JOYSTICK else None
    outcomes = []
    try:
        sim.wait_ready(timeout_s=60.0, with_policy=bool(config.policy), check=nodes.check)
        session.wait_ready(recorded_topics(config), timeout_s=60.0, check=nodes.check)
        if person is not None:
            wait_for_services((person.begin,), 60.0, nodes.check)
        for seed in tqdm(demo_seeds(config.episodes, config.seed_offset), desc="record-sim",
                         unit="episode"):
            outcomes.append(record_episode(session, nodes, seed, config) if person is None
                            else record_joystick_episode(session, person, nodes, seed, config))
            tqdm.write(f"seed {seed}: {'success' if outcomes[-1][1] else 'FAILED'} "
                       f"-> {outcomes[-1][2]}")
    finally:
        sim.close()
        nodes.stop()
        rclpy.try_shutdown(context=context)
    return outcomes


def record_episode(session: RecorderSession, nodes: NodeGroup, seed: int,
                   config: RecordSimConfig) -> tuple[int, bool, str]:
    session.set_seed(seed)
    session.sim.reset(seed)
    episode_dir = session.trigger(session.start, Trigger.Request())
    success = wait_for_outcome(session, nodes, config)
    session.trigger(session.stop, SetBool.Request(data=success))
    return seed, success, episode_dir


def record_joystick_episode(session: RecorderSession, person: OperatorSession,
                            nodes: NodeGroup, seed: int,
                            config: RecordSimConfig) -> tuple[int, bool, str]:
    """A new person on a freshly reset sim; returns once it pressed its last button and the
    recorder closed (or discarded) the episode teleop_node started for it."""
    correcting = bool(config.policy)
    if correcting:
        session.sim.set_policy_enabled(False)
    session.set_seed(seed)
    session.sim.set_parameter("operator_node", "seed", int(seed))
    session.sim.reset(seed)
    begin_by = time.monotonic() + 60.0
    while not (response := session.sim.call(person.begin, Trigger.Request())).success:
        nodes.check()  # operator_node waits until teleop_node hears its /joy
        if time.monotonic() > begin_by:
            raise SessionError(f"operator_node/begin: {response.message} after 60 s")
        time.sleep(0.1)
    if correcting:
        session.sim.set_policy_enabled(True)
    deadline = time.monotonic() + config.wall_limit_s
    recorded = False  # the recorder was seen recording this episode
    while not (person.status.get("seed") == seed and person.status.get("finished")
               and not session.status.get("recording", True)):
        recorded = recorded or (person.status.get("seed") == seed
                                and session.status.get("recording", False))
        nodes.check()  # a dead node ends the recording with its reason
        if time.monotonic() > deadline:
            raise SessionError(f"seed {seed}: the person did not finish in "
                               f"{config.wall_limit_s:.0f} s of wall time "
                               f"(status {person.status}, recorder {session.status})")
        time.sleep(0.02)
    if correcting:
        session.sim.set_policy_enabled(False)
        tqdm.write(f"seed {seed}: {person.status.get('takeovers', 0)} take-over(s), the person "
                   f"drove {person.status.get('human_s', 0.0):.1f} s")
    outcome = person.status["outcome"]
    if not recorded:  # e.g. teleop_node missed START: no episode, whatever the person did
        return seed, False, f"{outcome}, but not recorded (the recorder never started)"
    return seed, outcome == "success", outcome


def wait_for_outcome(session: RecorderSession, nodes: NodeGroup, config: RecordSimConfig) -> bool:
    """Success (after recording ``after_success_s`` more), or False at a limit or dead node."""
    start_wall = time.monotonic()
    start_sim = session.sim.wait_for_clock(config.wall_limit_s)
    success_at = None
    while True:
        now, success = session.sim.now()
        if now - start_sim < SETTLE_S:  # a success flag still in flight from before the reset
            session.sim.clear_success()
        elif success and success_at is None:
            success_at = now
        if success_at is not None and now - success_at >= config.after_success_s:
            return True
        if now - start_sim > config.time_limit_s:
            return success_at is not None
        if nodes.dead() or time.monotonic() - start_wall > config.wall_limit_s:
            nodes.check()  # a dead node ends the recording with its reason
            tqdm.write(f"episode aborted: no outcome in {config.wall_limit_s:.0f} s of wall time")
            return False
        time.sleep(0.01)
