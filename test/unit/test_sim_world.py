"""The PyBullet tabletop (pick_place): reset by seed, command holding, camera images, success."""

import numpy as np
import pybullet as pb
import pytest

from lam_ros.kinematics import Kinematics
from lam_ros.sim.tasks import CUBE_SIZE, TARGET_SIZE, TARGET_XY, get_task
from lam_ros.sim.world import TabletopWorld


@pytest.fixture(scope="module")
def world(profile):
    w = TabletopWorld(profile, "pick_place")
    yield w
    w.close()


def red_pixels(rgb: np.ndarray) -> np.ndarray:
    """(row, col) of cube-coloured pixels."""
    r, g, b = (rgb[..., k].astype(int) for k in range(3))
    return np.argwhere((r > 120) & (g < 80) & (b < 80))


def move_cube(world, x, y, z=CUBE_SIZE / 2):
    pb.resetBasePositionAndOrientation(world.bodies["cube"], [x, y, z], [0, 0, 0, 1],
                                       physicsClientId=world.client)


def cube_start_xy(seed: int) -> np.ndarray:
    return np.array(get_task("pick_place").layout(seed)["cube"][:2])


def test_cube_start_region_is_at_least_20_by_20_cm_and_seeded():
    starts = np.array([cube_start_xy(s) for s in range(300)])
    assert np.ptp(starts[:, 0]) >= 0.19 and np.ptp(starts[:, 1]) >= 0.19
    np.testing.assert_array_equal(cube_start_xy(7), cube_start_xy(7))
    assert not np.allclose(cube_start_xy(7), cube_start_xy(8))
    half = TARGET_SIZE / 2 + CUBE_SIZE
    assert np.all(np.abs(starts - TARGET_XY).max(axis=1) > half)  # never starts on the target


def test_reset_puts_robot_home_and_cube_at_the_seeds_spot(world, profile):
    world.reset(5)
    np.testing.assert_allclose(world.joint_positions(), profile.home, atol=1e-9)
    np.testing.assert_allclose(world.held_pose().position[:2], cube_start_xy(5))
    assert world.episode_time == 0.0 and not world.success()


def test_robot_holds_its_command_and_time_advances(world, profile):
    world.reset(0)
    before = world.sim_time
    for _ in range(10):
        world.step()
    assert world.sim_time == pytest.approx(before + 10 * profile.control_period)
    assert world.episode_time == pytest.approx(10 * profile.control_period)
    np.testing.assert_allclose(world.joint_positions(), profile.home, atol=2e-3)
    assert world.held_pose().position[2] == pytest.approx(CUBE_SIZE / 2, abs=2e-3)  # resting


def gripper(profile):
    """The profile's gripper spec and its slot in the command vector."""
    (group,) = profile.grippers
    (slot,) = profile.slots(group)
    return group.gripper, slot


def test_joint_state_lists_the_mimic_joints_which_mirror_the_gripper(world, profile):
    world.reset(0)
    spec, slot = gripper(profile)
    target = np.array(profile.home)
    target[slot] = spec.closed + 0.3 * (spec.open - spec.closed)
    world.apply_command(target)
    for _ in range(5):
        world.step()
    names, positions, velocities = world.joint_state()
    assert names == [*profile.joint_names, *spec.mimic_joints]
    assert positions.shape == velocities.shape == (len(names),)
    assert positions[slot] == pytest.approx(target[slot], abs=2e-3)
    np.testing.assert_allclose(positions[profile.n_joints:], positions[slot], atol=2e-3)


def test_tool_pose_is_the_grasp_point_the_kinematics_moves(world, profile):
    world.reset(0)
    position, rotation = world.tool_pose()
    expected, _ = Kinematics(profile).forward(world.joint_positions())
    np.testing.assert_allclose(position, expected, atol=1e-6)
    np.testing.assert_allclose(rotation[:, 2], [0.0, 0.0, -1.0], atol=1e-3)  # home: pointing down


def test_front_camera_sees_the_cube_and_it_moves_in_the_image(world, profile):
    world.reset(0)
    spec = profile.camera("front")
    move_cube(world, 0.5, -0.2)
    left = world.render("front")
    assert left.shape == (spec.height, spec.width, 3) and left.dtype == np.uint8
    move_cube(world, 0.5, -0.05)
    right = world.render("front")
    a, b = red_pixels(left), red_pixels(right)
    assert len(a) >= 9 and len(b) >= 9  # a few pixels across, even at 96x96
    # The front camera looks back at the robot: +y in the world is to the right in the image.
    assert b[:, 1].mean() - a[:, 1].mean() > 5
    green = (right[..., 1] > 120) & (right[..., 0] < 80)
    assert green.sum() >= 30  # the target square is in view


def test_extra_cameras_render_at_the_requested_size(world):
    assert world.render("wrist", (64, 48)).shape == (48, 64, 3)
    assert world.render("side", (160, 120)).shape == (120, 160, 3)
    with pytest.raises(KeyError, match="no simulated camera"):
        world.render("ceiling", (10, 10))


def test_success_needs_the_cube_on_the_target_and_released(world, profile):
    world.reset(0)
    move_cube(world, TARGET_XY[0] + 0.03, TARGET_XY[1] - 0.03)
    assert world.success()
    move_cube(world, TARGET_XY[0], TARGET_XY[1], z=0.1)  # held above the target
    assert not world.success()
    move_cube(world, TARGET_XY[0] + 0.08, TARGET_XY[1])  # beside it
    assert not world.success()
    move_cube(world, *TARGET_XY)
    spec, slot = gripper(profile)
    closed = np.array(profile.home)
    closed[slot] = spec.closed
    world.apply_command(closed)
    for _ in range(5):
        world.step()
    assert not world.success()  # fingers closed: not let go
