"""Pick-and-place tabletop in PyBullet (DIRECT mode, CPU rendering): the robot the sim node runs.

The robot stands on a table (the plane z = 0). A small red cube starts at a seed-dependent spot;
the task is to put it down inside a green target square. Success is judged from the true cube
pose, never from the images the policy sees.
"""

from __future__ import annotations

import numpy as np
import pybullet as pb
import pybullet_data

from lam_ros.core.profile import RobotProfile
from lam_ros.kinematics import urdf_file

PHYSICS_HZ = 240.0
CUBE_SIZE = 0.045  # m, edge length
CUBE_MASS = 0.05  # kg
CUBE_RGBA = (0.9, 0.1, 0.1, 1.0)
# Cube start region (x, y bounds, m, robot base frame): 20 x 20 cm in front-right of the robot.
CUBE_X_RANGE = (0.42, 0.62)
CUBE_Y_RANGE = (-0.24, -0.04)
TARGET_XY = (0.52, 0.16)
TARGET_SIZE = 0.10  # m, edge of the target square
TARGET_RGBA = (0.1, 0.75, 0.2, 1.0)
TABLE_RGBA = (0.55, 0.5, 0.45, 1.0)
GRIPPER_FORCE = 40.0  # N per finger: enough to lift the cube by friction
FRICTION = 1.5
# Front camera: above and in front of the workspace, looking back at the robot.
CAMERAS = {
    "front": {"eye": (1.0, 0.0, 0.7), "target": (0.4, -0.03, 0.05), "fov": 48.0},
    "wrist": {"eye": None, "target": None, "fov": 70.0},
    "side": {"eye": (0.95, -0.85, 0.75), "target": (0.45, 0.0, 0.1), "fov": 50.0},
}
RELEASED_FINGER = 0.026  # finger opening (m) above which the cube counts as released


class PickPlaceWorld:
    """A tabletop episode: reset by seed, command joint position targets, step, render."""

    def __init__(self, profile: RobotProfile, seed: int = 0):
        self.profile = profile
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
        half = CUBE_SIZE / 2
        self.cube = pb.createMultiBody(
            CUBE_MASS,
            pb.createCollisionShape(pb.GEOM_BOX, halfExtents=[half] * 3, physicsClientId=c),
            pb.createVisualShape(pb.GEOM_BOX, halfExtents=[half] * 3, rgbaColor=CUBE_RGBA,
                                 physicsClientId=c),
            basePosition=[0.5, 0.0, half], physicsClientId=c)
        pb.changeDynamics(self.cube, -1, lateralFriction=FRICTION, spinningFriction=0.003,
                          physicsClientId=c)
        # The target is paint on the table: visual only, so it never disturbs the cube.
        self.target = pb.createMultiBody(
            0, -1, pb.createVisualShape(pb.GEOM_BOX, halfExtents=[TARGET_SIZE / 2] * 2 + [5e-4],
                                        rgbaColor=TARGET_RGBA, physicsClientId=c),
            basePosition=[*TARGET_XY, 5e-4], physicsClientId=c)

    def _index_joints(self) -> None:
        c = self.client
        by_name = {}
        for i in range(pb.getNumJoints(self.robot, physicsClientId=c)):
            info = pb.getJointInfo(self.robot, i, physicsClientId=c)
            by_name[info[1].decode()] = i
            if info[12].decode() == self.profile.end_effector_link:
                self.ee_index = i
        missing = [n for n in self.profile.joint_names if n not in by_name]
        if missing:
            raise ValueError(f"URDF {self.profile.urdf} lacks profile joints {missing}")
        self.command_indices = [by_name[n] for n in self.profile.joint_names]
        # A mimic finger (profile gripper_mimic_joints) is driven as a mirror of the first
        # gripper joint: one gripper command.
        mimic = self.profile.gripper_mimic_joints[:1]
        self.mirror_index = by_name.get(mimic[0]) if mimic else None
        self.state_names = list(self.profile.joint_names)
        self.state_indices = list(self.command_indices)
        if self.mirror_index is not None:
            self.state_names.append(mimic[0])
            self.state_indices.append(self.mirror_index)
        self.finger_slot = self.profile.joint_names.index(self.profile.gripper_joints[0])
        # A link's index is its parent joint's index: these are the two finger pads.
        for index in (self.command_indices[self.finger_slot], self.mirror_index):
            if index is not None:
                pb.changeDynamics(self.robot, index, lateralFriction=FRICTION,
                                  physicsClientId=c)
        self.lower = np.array([j.lower for j in self.profile.joints])
        self.upper = np.array([j.upper for j in self.profile.joints])
        self.max_velocity = np.array([j.max_velocity for j in self.profile.joints])

    # --- episode -----------------------------------------------------------------------------
    def reset(self, seed: int) -> None:
        """Robot to home, cube to the seed's start spot; the command target becomes home."""
        self.seed = int(seed)
        c = self.client
        home = np.array(self.profile.home, dtype=float)
        for index, value in zip(self.command_indices, home, strict=True):
            pb.resetJointState(self.robot, index, float(value), 0.0, physicsClientId=c)
        if self.mirror_index is not None:
            pb.resetJointState(self.robot, self.mirror_index, float(home[self.finger_slot]), 0.0,
                               physicsClientId=c)
        self.cube_start_xy = cube_start_xy(self.seed)
        pb.resetBasePositionAndOrientation(self.cube, [*self.cube_start_xy, CUBE_SIZE / 2],
                                           [0, 0, 0, 1], physicsClientId=c)
        pb.resetBaseVelocity(self.cube, [0, 0, 0], [0, 0, 0], physicsClientId=c)
        self.episode_time = 0.0
        self.apply_command(home)

    def apply_command(self, positions: np.ndarray) -> None:
        """Joint position targets in profile order (already checked by the command guard)."""
        target = np.clip(np.asarray(positions, dtype=float), self.lower, self.upper)
        self.command = target
        for k, index in enumerate(self.command_indices):
            self._drive(index, target[k], self.max_velocity[k], k == self.finger_slot)
        if self.mirror_index is not None:
            self._drive(self.mirror_index, target[self.finger_slot],
                        self.max_velocity[self.finger_slot], True)

    def _drive(self, index: int, position: float, max_velocity: float, finger: bool) -> None:
        force = GRIPPER_FORCE if finger else 200.0
        pb.setJointMotorControl2(self.robot, index, pb.POSITION_CONTROL,
                                 targetPosition=float(position), force=force,
                                 maxVelocity=float(max_velocity), physicsClientId=self.client)

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
        """Names (profile joints plus the mirrored finger), positions and velocities."""
        states = pb.getJointStates(self.robot, self.state_indices, physicsClientId=self.client)
        return (list(self.state_names), np.array([s[0] for s in states]),
                np.array([s[1] for s in states]))

    def cube_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Cube centre position (m) and orientation quaternion (x, y, z, w)."""
        pos, quat = pb.getBasePositionAndOrientation(self.cube, physicsClientId=self.client)
        return np.array(pos), np.array(quat)

    def target_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Centre of the target square on the table."""
        return np.array([*TARGET_XY, 0.0]), np.array([0.0, 0.0, 0.0, 1.0])

    def success(self) -> bool:
        """Cube inside the target square, resting on the table, and let go of."""
        position, _ = self.cube_pose()
        fingers = self.joint_positions()[self.finger_slot]
        return bool(placed(position, np.array(TARGET_XY)) and fingers > RELEASED_FINGER)

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
        if cam["eye"] is None:  # wrist: look along the gripper from the hand
            state = pb.getLinkState(self.robot, self.ee_index, computeForwardKinematics=True,
                                    physicsClientId=self.client)
            rotation = np.array(pb.getMatrixFromQuaternion(state[5])).reshape(3, 3)
            eye = np.array(state[4]) - 0.1 * rotation[:, 2]
            target, up = eye + rotation[:, 2], rotation[:, 0]
        else:
            eye, target, up = cam["eye"], cam["target"], (0.0, 0.0, 1.0)
        view = pb.computeViewMatrix(list(eye), list(target), list(up))
        projection = pb.computeProjectionMatrixFOV(cam["fov"], aspect, 0.02, 3.0)
        return view, projection

    def close(self) -> None:
        if pb.isConnected(self.client):
            pb.disconnect(self.client)


def cube_start_xy(seed: int) -> np.ndarray:
    """The cube's start (x, y) for an episode seed: uniform over the start region."""
    rng = np.random.default_rng(seed)
    return np.array([rng.uniform(*CUBE_X_RANGE), rng.uniform(*CUBE_Y_RANGE)])


def placed(cube_position: np.ndarray, target_xy: np.ndarray) -> bool:
    """Cube centre inside the target square and the cube resting on the table."""
    inside = bool(np.all(np.abs(cube_position[:2] - target_xy) <= TARGET_SIZE / 2))
    resting = bool(abs(cube_position[2] - CUBE_SIZE / 2) < 0.01)
    return inside and resting
