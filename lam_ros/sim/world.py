"""The tabletop in PyBullet (DIRECT mode, CPU rendering): the robot the sim node runs.

The robot stands on a table (the plane z = 0); a task (sim/tasks.py) says which objects stand on
it, where a seed puts them and when the task has succeeded, judged from true poses, never from
the images the policy sees.
"""

from __future__ import annotations

import numpy as np
import pybullet as pb
import pybullet_data

from lam_ros.core.profile import RobotProfile
from lam_ros.kinematics import urdf_file
from lam_ros.sim.tasks import DEFAULT_TASK, Body, Pose, Task, get_task, yaw_of, yaw_quaternion

PHYSICS_HZ = 240.0
TABLE_RGBA = (0.55, 0.5, 0.45, 1.0)
ARM_FORCE = 200.0  # N or N m: the arm joints' motors, strong enough to ignore the objects
# N: the gripper motor's limit as a force at the grasp point (a revolute gripper joint gets it
# times its lever arm). Ample for the 50 g cube; squeezes twice as strong make PyBullet's solver
# let the xArm's linkage drift apart and the cube slip.
GRIP_FORCE = 6.0
MIMIC_FORCE = 1000.0  # N or N m: gear constraints holding mimic joints to the commanded joint
MIMIC_ERP = 0.2  # share of a mimic joint's drift from its commanded joint corrected per step
FRICTION = 1.5  # lateral friction of table, objects and gripper links
# Front camera: above and in front of the workspace, looking back at the robot.
CAMERAS = {
    "front": {"eye": (1.0, 0.0, 0.7), "target": (0.4, -0.03, 0.05), "fov": 48.0},
    "wrist": {"eye": None, "target": None, "fov": 70.0},  # follows the gripper
    "side": {"eye": (0.95, -0.85, 0.75), "target": (0.45, 0.0, 0.1), "fov": 50.0},
}
WRIST_CAMERA_BACK = 0.1  # m behind the grasp point, along the gripper, where the wrist camera sits
# Gripper opening (0 closed .. 1 open) above which the held object counts as let go of: the
# fingers are clear of its sides.
RELEASED_OPENING = 0.65


class TabletopWorld:
    """A task's episode: reset by seed, command joint position targets, step, render."""

    def __init__(self, profile: RobotProfile, task: str | Task = DEFAULT_TASK, seed: int = 0):
        self.profile = profile
        self.task = get_task(task) if isinstance(task, str) else task
        self.client = pb.connect(pb.DIRECT)
        self.substeps = max(1, round(PHYSICS_HZ / profile.control_hz))
        pb.setTimeStep(profile.control_period / self.substeps, physicsClientId=self.client)
        pb.setGravity(0, 0, -9.81, physicsClientId=self.client)
        self._build_scene()
        self.sim_time = 0.0  # s, monotonic over the world's life (the /clock source)
        self.episode_time = 0.0  # s since the last reset
        self.reset(seed)

    # --- scene -------------------------------------------------------------------------------
    def _build_scene(self) -> None:
        c = self.client
        pb.setAdditionalSearchPath(pybullet_data.getDataPath(), physicsClientId=c)
        self.table = pb.loadURDF("plane.urdf", physicsClientId=c)
        pb.changeVisualShape(self.table, -1, rgbaColor=TABLE_RGBA, textureUniqueId=-1,
                             physicsClientId=c)
        pb.changeDynamics(self.table, -1, lateralFriction=FRICTION, physicsClientId=c)
        self.robot = pb.loadURDF(urdf_file(self.profile.urdf), useFixedBase=True,
                                 physicsClientId=c)
        self._index_joints()
        self._couple_grippers()
        self.bodies = {body.name: self._create(body) for body in self.task.bodies}

    def _create(self, body: Body) -> int:
        c = self.client
        frames = [list(p.offset) for p in body.parts]
        halves = [[v / 2 for v in p.size] for p in body.parts]
        visual = pb.createVisualShapeArray([pb.GEOM_BOX] * len(halves), halfExtents=halves,
                                           visualFramePositions=frames, physicsClientId=c)
        collision = -1  # paint on the table: visual only, so it never disturbs anything
        if body.collides:
            collision = pb.createCollisionShapeArray([pb.GEOM_BOX] * len(halves),
                                                     halfExtents=halves,
                                                     collisionFramePositions=frames,
                                                     physicsClientId=c)
        uid = pb.createMultiBody(body.mass, collision, visual, basePosition=[0, 0, body.rest_z],
                                 physicsClientId=c)
        pb.changeVisualShape(uid, -1, rgbaColor=body.rgba, textureUniqueId=-1,
                             physicsClientId=c)
        if body.collides:
            pb.changeDynamics(uid, -1, lateralFriction=FRICTION, spinningFriction=0.003,
                              physicsClientId=c)
        return uid

    def _index_joints(self) -> None:
        c = self.client
        self.joint_index, link_index = {}, {}  # a link's index is its parent joint's
        for i in range(pb.getNumJoints(self.robot, physicsClientId=c)):
            info = pb.getJointInfo(self.robot, i, physicsClientId=c)
            self.joint_index[info[1].decode()] = i
            link_index[info[12].decode()] = i
        if self.profile.end_effector_link not in link_index:
            raise ValueError(f"URDF {self.profile.urdf} has no link "
                             f"{self.profile.end_effector_link!r}")
        self.ee_index = link_index[self.profile.end_effector_link]
        mimics = [m for g in self.profile.grippers for m in g.gripper.mimic_joints]
        missing = [n for n in (*self.profile.joint_names, *mimics) if n not in self.joint_index]
        if missing:
            raise ValueError(f"URDF {self.profile.urdf} lacks profile joints {missing}")
        self.command_indices = [self.joint_index[n] for n in self.profile.joint_names]
        self.state_names = [*self.profile.joint_names, *mimics]
        self.state_indices = [self.joint_index[n] for n in self.state_names]
        self.lower = np.array([j.lower for j in self.profile.joints])
        self.upper = np.array([j.upper for j in self.profile.joints])
        self.max_velocity = np.array([j.max_velocity for j in self.profile.joints])
        self.motor_force = np.full(self.profile.n_joints, ARM_FORCE)

    def _couple_grippers(self) -> None:
        """Makes each gripper one command: mimic joints mirror the commanded joint.

        Gear constraints (not motors of their own) tie each mimic joint to the commanded one,
        so a linkage moves as one mechanism and stays consistent when a finger is blocked.
        """
        c = self.client
        self.mirrors = []  # (mimic joint index, command slot)
        for group in self.profile.grippers:
            (slot,) = self.profile.slots(group)
            drive = self.command_indices[slot]
            self.motor_force[slot] = self._effort(drive, GRIP_FORCE)
            mimics = [self.joint_index[m] for m in group.gripper.mimic_joints]
            for index in mimics:
                pb.setJointMotorControl2(self.robot, index, pb.VELOCITY_CONTROL, force=0.0,
                                         physicsClientId=c)  # PyBullet's default motor off
                gear = pb.createConstraint(self.robot, drive, self.robot, index, pb.JOINT_GEAR,
                                           jointAxis=[1, 0, 0], parentFramePosition=[0, 0, 0],
                                           childFramePosition=[0, 0, 0],  # unused by a gear
                                           physicsClientId=c)
                # Ratio -1: the two joint positions stay equal (a mimic multiplier of 1).
                pb.changeConstraint(gear, gearRatio=-1.0, maxForce=MIMIC_FORCE, erp=MIMIC_ERP,
                                    physicsClientId=c)
                self.mirrors.append((index, slot))
            # The gripper's links, finger pads included, grip objects by friction.
            for index in (drive, *mimics):
                pb.changeDynamics(self.robot, index, lateralFriction=FRICTION, physicsClientId=c)

    def _effort(self, index: int, force: float) -> float:
        """Joint effort that exerts ``force`` (N) at the grasp point.

        The force itself for a prismatic joint; for a revolute one, times the distance from the
        joint's axis to the grasp point.
        """
        info = pb.getJointInfo(self.robot, index, physicsClientId=self.client)
        if info[2] != pb.JOINT_REVOLUTE:
            return force
        state = pb.getLinkState(self.robot, index, computeForwardKinematics=True,
                                physicsClientId=self.client)
        axis = _rotation(state[5]) @ np.array(info[13])
        arm = self.tool_pose()[0] - np.array(state[4])
        return force * float(np.linalg.norm(arm - (arm @ axis) * axis))

    # --- episode -----------------------------------------------------------------------------
    def reset(self, seed: int) -> None:
        """Robot to home, objects to the seed's layout; the command target becomes home."""
        self.seed = int(seed)
        c = self.client
        home = np.array(self.profile.home, dtype=float)
        for index, value in zip(self.command_indices, home, strict=True):
            pb.resetJointState(self.robot, index, float(value), 0.0, physicsClientId=c)
        for index, slot in self.mirrors:
            pb.resetJointState(self.robot, index, float(home[slot]), 0.0, physicsClientId=c)
        self.layout = self.task.layout(self.seed)
        for name, (x, y, yaw) in self.layout.items():
            uid = self.bodies[name]
            pb.resetBasePositionAndOrientation(uid, [x, y, self.task.body(name).rest_z],
                                               yaw_quaternion(yaw), physicsClientId=c)
            pb.resetBaseVelocity(uid, [0, 0, 0], [0, 0, 0], physicsClientId=c)
        self.episode_time = 0.0
        self.apply_command(home)

    def apply_command(self, positions: np.ndarray) -> None:
        """Joint position targets in profile order (already checked by the command guard)."""
        target = np.clip(np.asarray(positions, dtype=float), self.lower, self.upper)
        self.command = target
        for slot, index in enumerate(self.command_indices):
            pb.setJointMotorControl2(self.robot, index, pb.POSITION_CONTROL,
                                     targetPosition=float(target[slot]),
                                     force=float(self.motor_force[slot]),
                                     maxVelocity=float(self.max_velocity[slot]),
                                     physicsClientId=self.client)

    def step(self) -> None:
        """Advances one control period (fixed physics substeps)."""
        for _ in range(self.substeps):
            pb.stepSimulation(physicsClientId=self.client)
        self.sim_time += self.profile.control_period
        self.episode_time += self.profile.control_period

    # --- observations ------------------------------------------------------------------------
    def joint_positions(self) -> np.ndarray:
        """Measured positions of the command joints, profile order."""
        states = pb.getJointStates(self.robot, self.command_indices, physicsClientId=self.client)
        return np.array([s[0] for s in states])

    def joint_state(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Names (profile joints, then the grippers' mimic joints), positions and velocities."""
        states = pb.getJointStates(self.robot, self.state_indices, physicsClientId=self.client)
        return (list(self.state_names), np.array([s[0] for s in states]),
                np.array([s[1] for s in states]))

    def poses(self) -> dict[str, Pose]:
        """Every body's true pose (its origin and yaw)."""
        return {name: self._pose(uid) for name, uid in self.bodies.items()}

    def _pose(self, uid: int) -> Pose:
        position, quat = pb.getBasePositionAndOrientation(uid, physicsClientId=self.client)
        return Pose(np.array(position), yaw_of(quat))

    def held_pose(self) -> Pose:
        """The pose of the object the task picks up."""
        return self._pose(self.bodies[self.task.held])

    def goal_pose(self) -> Pose:
        """Where the task wants the held object's centre (it moves with a goal object)."""
        return self.task.goal(self.poses())

    def success(self) -> bool:
        return bool(self.task.success(self.poses(), self.released()))

    def released(self) -> bool:
        """Every gripper opened past ``RELEASED_OPENING``: nothing is held."""
        q = self.joint_positions()
        return all(g.gripper.opening(q[slot]) > RELEASED_OPENING
                   for g in self.profile.grippers for slot in self.profile.slots(g))

    def tool_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """The grasp point (m) and the gripper's rotation matrix: the end-effector link's frame
        moved by the profile's tool_offset."""
        state = pb.getLinkState(self.robot, self.ee_index, computeForwardKinematics=True,
                                physicsClientId=self.client)
        rotation = _rotation(state[5])
        return np.array(state[4]) + rotation @ np.array(self.profile.tool_offset), rotation

    def render(self, camera_name: str, size: tuple[int, int] | None = None) -> np.ndarray:
        """HxWx3 uint8 RGB, CPU renderer, at ``size`` (width, height) or the profile camera's."""
        if size is None:
            spec = self.profile.camera(camera_name)
            size = (spec.width, spec.height)
        width, height = size
        view, projection = self._camera_matrices(camera_name, width / height)
        _, _, rgba, _, _ = pb.getCameraImage(
            width, height, view, projection, renderer=pb.ER_TINY_RENDERER,
            lightDirection=[0.6, -0.4, 1.0], shadow=0, physicsClientId=self.client)
        return np.asarray(rgba, dtype=np.uint8).reshape(height, width, 4)[..., :3]

    def _camera_matrices(self, camera_name: str, aspect: float) -> tuple[list, list]:
        if camera_name not in CAMERAS:
            raise KeyError(f"no simulated camera {camera_name!r}; have {sorted(CAMERAS)}")
        cam = CAMERAS[camera_name]
        if cam["eye"] is None:  # wrist: look along the gripper at the grasp point
            tool, rotation = self.tool_pose()
            eye = tool - WRIST_CAMERA_BACK * rotation[:, 2]
            target, up = tool, rotation[:, 0]
        else:
            eye, target, up = cam["eye"], cam["target"], (0.0, 0.0, 1.0)
        view = pb.computeViewMatrix(list(eye), list(target), list(up))
        projection = pb.computeProjectionMatrixFOV(cam["fov"], aspect, 0.02, 3.0)
        return view, projection

    def close(self) -> None:
        if pb.isConnected(self.client):
            pb.disconnect(self.client)


def _rotation(quaternion) -> np.ndarray:
    """3x3 rotation matrix of a PyBullet (x, y, z, w) quaternion."""
    return np.array(pb.getMatrixFromQuaternion(quaternion)).reshape(3, 3)
