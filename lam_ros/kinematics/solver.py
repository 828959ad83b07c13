"""Forward and inverse kinematics of a profile's robot description, on pinocchio.

Used by teleop's Cartesian jogging and by the scripted expert. Inverse kinematics is damped least
squares on the end-effector frame's 6-D error, from the seed, with joint limits by clipping;
gripper joints keep their seed. Chosen over PyBullet's solver by `lam-ros bench kinematics`: on the
default simulated profile, PyBullet missed 5 mm jog targets by up to 6.9 mm, this solver by
0.001 mm, 3.4x faster (figures in the README's benchmark table).

An arm with fewer than 6 non-gripper joints (a 5-DOF SO-101) cannot reach an arbitrary 6-D pose,
and least squares on the whole error would trade position for orientation. Such an arm solves
with priorities instead: the position first (a damped Newton step on the 3-D error), then the
orientation in least squares inside what the position leaves free (the null space of the position
Jacobian). So the grasp point reaches a reachable position exactly, and the orientation comes as
close as the arm allows: exactly when the pose is reachable; for a 5-DOF arm pointing down, a yaw
jog turns the wrist roll, while a tilt the joints cannot make is left out. Arms with 6 or more
joints keep the 6-D solve.
"""

from __future__ import annotations

import numpy as np
import pinocchio as pin

from lam_ros.core.profile import RobotProfile
from lam_ros.kinematics.urdf import kinematic_urdf

DAMPING = 1e-6  # keeps the step finite near singularities
TOLERANCE = 1e-6  # norm of the 6-D pose error (m, rad) that counts as reached
FULL_POSE_JOINTS = 6  # arms with fewer non-gripper joints put position before orientation


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
        self.full_pose = len(profile.arm_joints) >= FULL_POSE_JOINTS

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
            step = self._step(q, goal) if self.full_pose else self._position_first_step(q, goal)
            if step is None:
                break
            q = np.clip(pin.integrate(self.model, q, step), lower, upper)
        solution = q[self.index]
        solution[self.gripper] = seed[self.gripper]
        return np.clip(solution, self.lower, self.upper)

    def _step(self, q: np.ndarray, goal: pin.SE3) -> np.ndarray | None:
        """Damped least squares on the 6-D error; None once the pose is reached."""
        error = pin.log6(self.data.oMf[self.frame].actInv(goal)).vector
        if np.linalg.norm(error) < TOLERANCE:
            return None
        jacobian = pin.computeFrameJacobian(self.model, self.data, q, self.frame)
        return _damped(jacobian, error)

    def _position_first_step(self, q: np.ndarray, goal: pin.SE3) -> np.ndarray | None:
        """The position's step, plus the orientation's least-squares step in its null space;
        None once the position is reached and the orientation cannot improve."""
        current = self.data.oMf[self.frame]
        position_error = goal.translation - current.translation  # world frame
        rotation_error = pin.log3(goal.rotation @ current.rotation.T)  # world frame
        jacobian = pin.computeFrameJacobian(self.model, self.data, q, self.frame,
                                            pin.LOCAL_WORLD_ALIGNED)
        linear, angular = jacobian[:3], jacobian[3:]
        step = _damped(linear, position_error)
        free = np.eye(self.model.nv) - np.linalg.pinv(linear) @ linear
        step = step + free @ _damped(angular @ free, rotation_error - angular @ step)
        if np.linalg.norm(position_error) < TOLERANCE and np.linalg.norm(step) < TOLERANCE:
            return None
        return step


def _damped(jacobian: np.ndarray, error: np.ndarray) -> np.ndarray:
    """The damped least-squares joint step making ``jacobian @ step`` approach ``error``."""
    rows = jacobian.shape[0]
    return jacobian.T @ np.linalg.solve(jacobian @ jacobian.T + DAMPING * np.eye(rows), error)
