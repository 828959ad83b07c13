"""Forward and inverse kinematics of a profile's URDF, computed by PyBullet's kinematics in
DIRECT mode (no simulation, no window).

Used by the scripted expert and by teleop's Cartesian jogging; each instance owns a private
physics client, so it never disturbs a simulated world.
"""

from __future__ import annotations

import numpy as np
import pybullet as pb

from lam_ros.core.profile import RobotProfile
from lam_ros.kinematics.urdf import kinematic_urdf


class Kinematics:
    def __init__(self, profile: RobotProfile, client: int | None = None):
        self.profile = profile
        self._own_client = client is None
        self.client = pb.connect(pb.DIRECT) if client is None else client
        self.body = pb.loadURDF(kinematic_urdf(profile.urdf), useFixedBase=True,
                                physicsClientId=self.client)
        by_name = {}
        for i in range(pb.getNumJoints(self.body, physicsClientId=self.client)):
            info = pb.getJointInfo(self.body, i, physicsClientId=self.client)
            by_name[info[1].decode()] = i
            if info[12].decode() == profile.end_effector_link:
                self.ee_index = i
        missing = [n for n in profile.joint_names if n not in by_name]
        if missing:
            raise ValueError(f"URDF {profile.urdf} lacks profile joints {missing}")
        if not hasattr(self, "ee_index"):
            raise ValueError(f"URDF {profile.urdf} has no link {profile.end_effector_link!r}")
        self.joint_indices = [by_name[n] for n in profile.joint_names]
        # PyBullet's IK solves for every movable joint, in index order.
        self.movable = [i for i in range(pb.getNumJoints(self.body, physicsClientId=self.client))
                        if pb.getJointInfo(self.body, i, physicsClientId=self.client)[2]
                        != pb.JOINT_FIXED]
        self.lower = np.array([j.lower for j in profile.joints])
        self.upper = np.array([j.upper for j in profile.joints])

    def _set(self, q: np.ndarray) -> None:
        for index, value in zip(self.joint_indices, q, strict=True):
            pb.resetJointState(self.body, index, float(value), physicsClientId=self.client)

    def forward(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """End-effector position (m) and quaternion (x, y, z, w) for joint positions q."""
        self._set(q)
        state = pb.getLinkState(self.body, self.ee_index, computeForwardKinematics=True,
                                physicsClientId=self.client)
        return np.array(state[4]), np.array(state[5])

    def inverse(self, position: np.ndarray, orientation: np.ndarray,
                q_seed: np.ndarray, iterations: int = 50) -> np.ndarray:
        """Joint positions (profile order) reaching the pose; non-arm joints keep q_seed."""
        self._set(q_seed)
        rest = {i: float(v) for i, v in zip(self.joint_indices, q_seed, strict=True)}
        solution = pb.calculateInverseKinematics(
            self.body, self.ee_index, list(position), list(orientation),
            lowerLimits=[float(self._limit(i, 0)) for i in self.movable],
            upperLimits=[float(self._limit(i, 1)) for i in self.movable],
            jointRanges=[float(self._limit(i, 1) - self._limit(i, 0)) for i in self.movable],
            restPoses=[rest.get(i, 0.0) for i in self.movable],
            maxNumIterations=iterations, residualThreshold=1e-5,
            physicsClientId=self.client)
        by_index = dict(zip(self.movable, solution, strict=True))
        q = np.array([by_index[i] for i in self.joint_indices])
        gripper = [k for k, n in enumerate(self.profile.joint_names)
                   if n in self.profile.gripper_joints]
        q[gripper] = q_seed[gripper]
        return np.clip(q, self.lower, self.upper)

    def _limit(self, joint_index: int, which: int) -> float:
        if joint_index in self.joint_indices:
            k = self.joint_indices.index(joint_index)
            return (self.lower, self.upper)[which][k]
        info = pb.getJointInfo(self.body, joint_index, physicsClientId=self.client)
        return info[8 + which]

    def close(self) -> None:
        if self._own_client and pb.isConnected(self.client):
            pb.disconnect(self.client)
