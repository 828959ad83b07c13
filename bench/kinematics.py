"""Inverse kinematics for teleop: lam_ros.kinematics (damped least squares on pinocchio) against
PyBullet's solver (what lam_ros used before), on the same robot description and targets.

Two kinds of target, from random joint positions inside the limits: a teleop jog (5 mm and 2 deg
from where the arm is, seeded there) and a far pose (seeded 0.3 rad away). Prints, per solver,
the median and worst position / orientation error and the time per solve, and the time ratio.

    lam-ros bench kinematics [--profile panda_sim] [--targets 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pybullet as pb

from lam_ros.core.profile import load_profile
from lam_ros.core.teleop import rotate_about_z
from lam_ros.kinematics import Kinematics, kinematic_urdf


def quaternion_angle(a: np.ndarray, b: np.ndarray) -> float:
    """Angle (rad) between two (x, y, z, w) orientations."""
    return float(2 * np.arccos(min(1.0, abs(float(np.dot(a, b))))))


class PyBulletIK:
    """PyBullet's calculateInverseKinematics on a DIRECT client, as lam_ros used it."""

    def __init__(self, profile):
        self.client = pb.connect(pb.DIRECT)
        self.body = pb.loadURDF(kinematic_urdf(profile.urdf), useFixedBase=True,
                                physicsClientId=self.client)
        joints = [pb.getJointInfo(self.body, i, physicsClientId=self.client)
                  for i in range(pb.getNumJoints(self.body, physicsClientId=self.client))]
        by_name = {j[1].decode(): j[0] for j in joints}
        self.ee = next(j[0] for j in joints if j[12].decode() == profile.end_effector_link)
        self.index = [by_name[n] for n in profile.joint_names]
        self.movable = [j[0] for j in joints if j[2] != pb.JOINT_FIXED]
        self.gripper = [k for k, n in enumerate(profile.joint_names)
                        if n in profile.gripper_joints]
        limits = {i: (j.lower, j.upper) for i, j in zip(self.index, profile.joints, strict=True)}
        self.limits = [limits.get(i, (j[8], j[9])) for i, j in
                       ((i, joints[i]) for i in self.movable)]

    def _set(self, q) -> None:
        for index, value in zip(self.index, q, strict=True):
            pb.resetJointState(self.body, index, float(value), physicsClientId=self.client)

    def inverse(self, position, orientation, q_seed) -> np.ndarray:
        self._set(q_seed)
        rest = dict(zip(self.index, q_seed, strict=True))
        solution = pb.calculateInverseKinematics(
            self.body, self.ee, list(position), list(orientation),
            lowerLimits=[lo for lo, _ in self.limits], upperLimits=[hi for _, hi in self.limits],
            jointRanges=[hi - lo for lo, hi in self.limits],
            restPoses=[float(rest.get(i, 0.0)) for i in self.movable],
            maxNumIterations=50, residualThreshold=1e-5, physicsClientId=self.client)
        by_index = dict(zip(self.movable, solution, strict=True))
        q = np.array([by_index[i] for i in self.index])
        q[self.gripper] = np.asarray(q_seed)[self.gripper]
        return q


def targets(profile, kinematics, count: int, rng):
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
    """Errors are measured with ``reference``'s forward kinematics."""
    times_by_kind = {}
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
        times_by_kind[kind] = times
        print(f"{name:10s} {kind}: position error median {1e3 * np.median(pos_err):.3f} mm, "
              f"worst {1e3 * np.max(pos_err):.3f} mm; orientation median "
              f"{np.degrees(np.median(rot_err)):.3f} deg, worst {np.degrees(np.max(rot_err)):.3f}"
              f" deg; {1e3 * np.median(times):.3f} ms per solve")
    return times_by_kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="panda_sim")
    parser.add_argument("--targets", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    profile = load_profile(args.profile)
    ours = Kinematics(profile)
    cases = targets(profile, ours, args.targets, np.random.default_rng(args.seed))
    print(f"{profile.name}: {args.targets} jog and {args.targets} far targets; errors measured "
          f"with lam_ros.kinematics' forward kinematics")
    pinocchio = measure("pinocchio", ours, ours, cases)
    pybullet = measure("pybullet", PyBulletIK(profile), ours, cases)
    for kind in ("jog", "far"):
        ratio = np.median(pybullet[kind]) / np.median(pinocchio[kind])
        print(f"{kind}: time per solve pybullet / pinocchio = {ratio:.2f}x")


if __name__ == "__main__":
    main()
