"""Forward and inverse kinematics of a profile's robot description, on pinocchio.

Used by teleop's Cartesian jogging and by the scripted expert. Inverse kinematics is damped least
squares on the end-effector frame's 6-D error, from the seed, with joint limits by clipping;
gripper joints keep their seed. Chosen over PyBullet's solver by `lam-ros bench kinematics`: on the
panda_sim profile, PyBullet missed 5 mm jog targets by up to 6.9 mm, this solver by 0.001 mm,
3.4x faster.
"""

from __future__ import annotations

import numpy as np
import pinocchio as pin

from lam_ros.core.profile import RobotProfile
from lam_ros.kinematics.urdf import kinematic_urdf

DAMPING = 1e-6  # keeps the step finite near singularities
TOLERANCE = 1e-6  # norm of the 6-D pose error (m, rad) that counts as reached


class Kinematics:
    def __init__(self, profile: RobotProfile):
        self.profile = profile
        full = pin.buildModelFromUrdf(kinematic_urdf(profile.urdf))
        missing = [n for n in profile.joint_names if not full.existJointName(n)]
        if missing:
            raise ValueError(f"robot description {profile.urdf} lacks profile joints {missing}")
        if not full.existFrame(profile.end_effector_link):
            raise ValueError(f"robot description {profile.urdf} has no link "
                             f"{profile.end_effector_link!r}")
        # Joints the profile does not command (mimic fingers, passive joints) stay at zero.
        keep = {full.getJointId(n) for n in profile.joint_names}
        locked = [j for j in range(1, full.njoints) if j not in keep]
        self.model = pin.buildReducedModel(full, locked, pin.neutral(full))
        # The grasp point: the end-effector link moved by the profile's tool_offset.
        link = self.model.frames[self.model.getFrameId(profile.end_effector_link)]
        offset = pin.SE3(np.eye(3), np.asarray(profile.tool_offset, dtype=np.float64))
        self.frame = self.model.addFrame(pin.Frame(
            "lam_ros_tool", link.parentJoint, self.model.getFrameId(profile.end_effector_link),
            link.placement * offset, pin.FrameType.OP_FRAME))
        self.data = self.model.createData()
        self.index = [self.model.joints[self.model.getJointId(n)].idx_q
                      for n in profile.joint_names]
        self.gripper = [k for k, n in enumerate(profile.joint_names)
                        if n in profile.gripper_joints]
        self.lower = np.array([j.lower for j in profile.joints])
        self.upper = np.array([j.upper for j in profile.joints])

    def _q(self, q_profile: np.ndarray) -> np.ndarray:
        q = np.zeros(self.model.nq)
        q[self.index] = q_profile
        return q

    def forward(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grasp point position (m) and quaternion (x, y, z, w) for joint positions q."""
        pin.framesForwardKinematics(self.model, self.data, self._q(np.asarray(q, float)))
        placement = self.data.oMf[self.frame]
        return placement.translation.copy(), pin.Quaternion(placement.rotation).coeffs().copy()

    def inverse(self, position: np.ndarray, orientation: np.ndarray,
                q_seed: np.ndarray, iterations: int = 100) -> np.ndarray:
        """Joint positions (profile order) reaching the pose; non-arm joints keep q_seed."""
        seed = np.asarray(q_seed, dtype=np.float64)
        x, y, z, w = orientation
        goal = pin.SE3(pin.Quaternion(w, x, y, z).normalized().toRotationMatrix(),
                       np.asarray(position, dtype=np.float64))
        lower, upper = self._q(self.lower), self._q(self.upper)
        q = self._q(seed)
        for _ in range(iterations):
            pin.framesForwardKinematics(self.model, self.data, q)
            error = pin.log6(self.data.oMf[self.frame].actInv(goal)).vector
            if np.linalg.norm(error) < TOLERANCE:
                break
            jacobian = pin.computeFrameJacobian(self.model, self.data, q, self.frame)
            step = jacobian.T @ np.linalg.solve(jacobian @ jacobian.T + DAMPING * np.eye(6),
                                                error)
            q = np.clip(pin.integrate(self.model, q, step), lower, upper)
        solution = q[self.index]
        solution[self.gripper] = seed[self.gripper]
        return np.clip(solution, self.lower, self.upper)
