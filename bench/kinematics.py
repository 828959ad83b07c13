"""Inverse kinematics for teleop: PyBullet's solver (what lam_ros.kinematics uses) against a damped
least-squares solver on pinocchio, on the same robot description and the same targets.

Two kinds of target, from random joint positions inside the limits: a teleop jog (5 mm and 2 deg
from where the arm is, seeded there) and a far pose (seeded 0.3 rad away). Prints, per solver,
the median and worst position / orientation error and the time per solve, and the time ratio.

    lam-ros bench kinematics [--profile panda_sim] [--targets 200]

pinocchio is not a lam_ros dependency: `pip install pin` to include it; without it only PyBullet
is measured.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from lam_ros.core.profile import load_profile
from lam_ros.core.teleop import rotate_about_z
from lam_ros.kinematics import Kinematics, kinematic_urdf


def quaternion_angle(a: np.ndarray, b: np.ndarray) -> float:
    """Angle (rad) between two (x, y, z, w) orientations."""
    return float(2 * np.arccos(min(1.0, abs(float(np.dot(a, b))))))


class PinocchioIK:
    """Damped least squares on the end-effector frame, joint limits by clipping."""

    def __init__(self, profile):
        import pinocchio as pin

        self.pin = pin
        full = pin.buildModelFromUrdf(kinematic_urdf(profile.urdf))
        keep = {full.getJointId(n) for n in profile.joint_names}
        lock = [j for j in range(1, full.njoints) if j not in keep]
        self.model = pin.buildReducedModel(full, lock, pin.neutral(full))
        self.data = self.model.createData()
        self.frame = self.model.getFrameId(profile.end_effector_link)
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

    def forward(self, q_profile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pin = self.pin
        pin.framesForwardKinematics(self.model, self.data, self._q(q_profile))
        placement = self.data.oMf[self.frame]
        return placement.translation.copy(), pin.Quaternion(placement.rotation).coeffs().copy()

    def inverse(self, position, orientation, q_seed, iterations: int = 100) -> np.ndarray:
        pin = self.pin
        x, y, z, w = orientation
        goal = pin.SE3(pin.Quaternion(w, x, y, z).toRotationMatrix(), np.asarray(position))
        q = self._q(q_seed)
        for _ in range(iterations):
            pin.framesForwardKinematics(self.model, self.data, q)
            error = pin.log6(self.data.oMf[self.frame].actInv(goal)).vector
            if np.linalg.norm(error) < 1e-6:
                break
            jacobian = pin.computeFrameJacobian(self.model, self.data, q, self.frame)
            step = jacobian.T @ np.linalg.solve(jacobian @ jacobian.T + 1e-6 * np.eye(6), error)
            q = np.clip(pin.integrate(self.model, q, step), self._q(self.lower),
                        self._q(self.upper))
        out = q[self.index]
        out[self.gripper] = np.asarray(q_seed)[self.gripper]  # IK moves the arm only
        return out


def targets(profile, kinematics, count: int, rng) -> list[tuple[str, np.ndarray, np.ndarray,
                                                                 np.ndarray]]:
    lower = np.array([j.lower for j in profile.joints])
    upper = np.array([j.upper for j in profile.joints])
    out = []
    for _ in range(count):
        q = rng.uniform(lower + 0.2 * (upper - lower), upper - 0.2 * (upper - lower))
        position, orientation = kinematics.forward(q)
        jog = position + rng.normal(size=3) / np.sqrt(3) * 0.005
        out.append(("jog", jog, rotate_about_z(orientation, np.radians(2.0)), q))
        seed = np.clip(q + rng.uniform(-0.3, 0.3, q.shape), lower, upper)
        out.append(("far", position, orientation, seed))
    return out


def measure(name, solver, reference, cases) -> dict[str, list[float]]:
    figures = {}
    for kind in ("jog", "far"):
        pos_err, rot_err, times = [], [], []
        for case_kind, position, orientation, seed in cases:
            if case_kind != kind:
                continue
            start = time.perf_counter()
            q = solver.inverse(position, orientation, seed)
            times.append(time.perf_counter() - start)
            reached, reached_orientation = reference.forward(q)
            pos_err.append(float(np.linalg.norm(reached - position)))
            rot_err.append(quaternion_angle(reached_orientation, orientation))
        figures[kind] = (pos_err, rot_err, times)
        print(f"{name:10s} {kind}: position error median {1e3 * np.median(pos_err):.3f} mm, "
              f"worst {1e3 * np.max(pos_err):.3f} mm; orientation median "
              f"{np.degrees(np.median(rot_err)):.3f} deg, worst {np.degrees(np.max(rot_err)):.3f}"
              f" deg; {1e3 * np.median(times):.3f} ms per solve")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="panda_sim")
    parser.add_argument("--targets", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    profile = load_profile(args.profile)
    pybullet = Kinematics(profile)
    cases = targets(profile, pybullet, args.targets, np.random.default_rng(args.seed))
    print(f"{profile.name}: {args.targets} jog targets and {args.targets} far targets; errors "
          f"measured with PyBullet's forward kinematics")
    ours = measure("pybullet", pybullet, pybullet, cases)
    try:
        other = PinocchioIK(profile)
    except ImportError:
        print("pinocchio is not installed (pip install pin): PyBullet only")
        return
    q = np.array(profile.home)
    agree = np.linalg.norm(other.forward(q)[0] - pybullet.forward(q)[0])
    print(f"forward kinematics agree to {1e3 * agree:.4f} mm at home")
    theirs = measure("pinocchio", other, pybullet, cases)
    for kind in ("jog", "far"):
        speed = np.median(ours[kind][2]) / np.median(theirs[kind][2])
        print(f"{kind}: time per solve pybullet / pinocchio = {speed:.2f}x")


if __name__ == "__main__":
    main()
