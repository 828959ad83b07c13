"""The task suite: seeded layouts, success judged from true poses, experts that solve every task
on every simulated robot, and task names that travel from recording to evaluation."""

import math
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pybullet as pb
import pytest
from onnx_models import hold_model

from lam_ros.core import features
from lam_ros.policy.card import CardMismatchError, PolicyCard
from lam_ros.sim.episode import run_expert_episode
from lam_ros.sim.expert import ScriptedExpert
from lam_ros.sim.seeds import eval_seeds
from lam_ros.sim.tasks import (
    CUBE_SIZE,
    GOAL_X,
    GOAL_Y,
    HOLE_CLEARANCE,
    PEG_HEIGHT,
    PEG_WIDTH,
    TARGET_SIZE,
    TASKS,
    WALL_HEIGHT,
    Pose,
    get_task,
    wrap_quarter_turn,
    yaw_of,
    yaw_quaternion,
)
from lam_ros.sim.world import TabletopWorld


@pytest.mark.parametrize("task", sorted(TASKS))
def test_the_expert_solves_each_task_on_held_out_seeds(profile, task):
    world, expert = TabletopWorld(profile, task), ScriptedExpert(profile, task)
    try:
        for seed in eval_seeds(2, start=40):
            result = run_expert_episode(world, expert, seed, cameras=())
            assert result.success, f"{task} seed {seed} on {profile.name}"
            assert result.steps * profile.control_period < world.task.time_limit_s / 1.5
    finally:
        world.close()


def test_pick_place_random_turns_the_cube_moves_the_target_and_adds_distractors():
    task = get_task("pick_place_random")
    layouts = [task.layout(seed) for seed in range(300)]
    yaws = np.array([layout["cube"][2] for layout in layouts])
    assert yaws.min() < -math.radians(40) and yaws.max() > math.radians(40)
    targets = np.array([layout["target"][:2] for layout in layouts])
    assert np.ptp(targets[:, 0]) > 0.15 and np.ptp(targets[:, 1]) > 0.12
    for layout in layouts:
        red, target = np.array(layout["cube"][:2]), np.array(layout["target"][:2])
        for name in ("distractor_blue", "distractor_yellow"):
            spot = np.array(layout[name][:2])
            assert np.linalg.norm(spot - red) >= 0.1
            # Never on the square's middle, where the red cube goes.
            assert np.linalg.norm(spot - target) >= TARGET_SIZE / 2 + CUBE_SIZE
    assert task.layout(7) == task.layout(7) and task.layout(7) != task.layout(8)


def test_every_task_moves_its_goal_except_pick_place():
    for name, task in TASKS.items():
        goal_object = next(b.name for b in task.bodies if b.name != task.held)
        spots = {tuple(np.round(task.layout(s)[goal_object][:2], 3)) for s in range(20)}
        assert (len(spots) == 1) == (name == "pick_place"), name
        if name != "pick_place":
            xs, ys = zip(*spots, strict=True)
            assert GOAL_X[0] <= min(xs) and max(xs) <= GOAL_X[1]
            assert GOAL_Y[0] <= min(ys) and max(ys) <= GOAL_Y[1]


def pose(x, y, z, yaw=0.0):
    return Pose(np.array([x, y, z]), yaw)


def test_stack_needs_the_red_cube_resting_on_the_blue_one_and_let_go():
    stack = get_task("stack")
    half = CUBE_SIZE / 2
    base = pose(0.5, 0.1, half, 0.3)
    on_top = {"cube": pose(0.505, 0.1, half + CUBE_SIZE), "base": base}
    assert stack.success(on_top, released=True)
    assert not stack.success(on_top, released=False)  # still held
    beside = {"cube": pose(0.55, 0.1, half), "base": base}
    assert not stack.success(beside, released=True)
    hovering = {"cube": pose(0.5, 0.1, half + CUBE_SIZE + 0.03), "base": base}
    assert not stack.success(hovering, released=True)
    knocked = {"cube": pose(0.5, 0.1, 0.05), "base": pose(0.5, 0.1, 0.03)}  # base tipped over
    assert not stack.success(knocked, released=True)
    assert np.allclose(stack.goal(on_top).position, [0.5, 0.1, half + CUBE_SIZE])


def settle(world, steps=40):
    for _ in range(steps):
        world.step()


def place(world, name, x, y, z, yaw=0.0):
    pb.resetBasePositionAndOrientation(world.bodies[name], [x, y, z], yaw_quaternion(yaw),
                                       physicsClientId=world.client)
    pb.resetBaseVelocity(world.bodies[name], [0, 0, 0], [0, 0, 0], physicsClientId=world.client)


def test_the_hole_takes_the_peg_with_millimetres_to_spare_and_no_more(profile):
    """Physics, not only the success test: a peg dropped on the hole's axis falls in; dropped
    a little more than the clearance off it, it lands on a wall and does not count."""
    world = TabletopWorld(profile, "insertion")
    try:
        world.reset(3)
        hole = world.poses()["hole"].position
        drop_z = WALL_HEIGHT + PEG_HEIGHT / 2 + 0.005
        place(world, "peg", hole[0], hole[1], drop_z)
        settle(world)
        assert world.poses()["peg"].position[2] == pytest.approx(PEG_HEIGHT / 2, abs=0.005)
        assert world.success()
        off = PEG_WIDTH / 2 + HOLE_CLEARANCE + 0.004  # the peg's far edge over the wall
        place(world, "peg", hole[0] + off, hole[1], drop_z)
        settle(world)
        assert not world.success()
        place(world, "peg", hole[0] + 0.2, hole[1], PEG_HEIGHT / 2)  # on the table beside it
        settle(world, 5)
        assert not world.success()
    finally:
        world.close()


def test_insertion_turns_the_peg_to_the_hole():
    """The expert's place yaw brings a peg turned 40 degrees to the hole's square."""
    from lam_ros.sim.expert import place_for

    insertion = get_task("insertion")
    held = pose(0.5, -0.1, PEG_HEIGHT / 2, math.radians(40))
    goal = pose(0.5, 0.15, PEG_HEIGHT / 2, 0.0)
    grasp_yaw = wrap_quarter_turn(held.yaw)
    spot = place_for(insertion, held, goal, held.position[:2], grasp_yaw)
    assert wrap_quarter_turn(held.yaw + (spot.yaw - grasp_yaw) - goal.yaw) == pytest.approx(0)
    # An object 5 mm off the grasp point lands centred: the place shifts the hand, not the goal.
    shifted = replace(held, position=held.position + np.array([0.005, 0.0, 0.0]))
    spot = place_for(get_task("pick_place"), shifted, goal, held.position[:2], grasp_yaw)
    np.testing.assert_allclose(spot.xy + [0.005, 0.0], goal.position[:2], atol=1e-9)


def test_yaw_helpers_agree():
    for yaw in (-1.2, -0.3, 0.0, 0.7, 2.5):
        assert yaw_of(yaw_quaternion(yaw)) == pytest.approx(yaw)
    assert wrap_quarter_turn(math.radians(60)) == pytest.approx(math.radians(-30))
    assert wrap_quarter_turn(math.radians(-44)) == pytest.approx(math.radians(-44))


def test_unknown_tasks_are_refused_naming_the_known_ones(tmp_path):
    from lam_ros.commands.record_sim import RecordSimConfig
    from lam_ros.sim.config import ExpertConfig, SimConfig

    for make in (lambda: SimConfig(task="wipe"), lambda: ExpertConfig(task="wipe"),
                 lambda: RecordSimConfig(data=str(tmp_path), task="wipe")):
        with pytest.raises(ValueError, match=r"unknown task 'wipe'.*pick_place_random"):
            make()


def test_a_policy_is_evaluated_only_on_the_task_it_learned(tmp_path, profile):
    from lam_ros.commands.evaluate import task_to_evaluate

    def model_for(task, name):
        card = replace(PolicyCard.for_profile(profile, 4), task=task)
        return hold_model(tmp_path / name, profile, chunk=4, card_json=card.to_json())

    stack = model_for("stack", "stack.onnx")
    assert task_to_evaluate(stack, "") == "stack"
    assert task_to_evaluate(stack, "stack") == "stack"
    with pytest.raises(CardMismatchError, match=r"trained on 'stack', not 'insertion'"):
        task_to_evaluate(stack, "insertion")
    older = model_for("", "older.onnx")  # a card from before tasks had names
    assert task_to_evaluate(older, "insertion") == "insertion"
    assert task_to_evaluate(older, "") == "pick_place"


def test_training_takes_its_task_from_the_episodes_and_refuses_a_mix():
    from lam_ros.policy.training_data import recorded_task

    def conversion(*tasks):
        return SimpleNamespace(episodes=[SimpleNamespace(report={"facts": {
            features.EPISODE_TASK: t}}) for t in tasks])

    assert recorded_task(conversion("stack", "stack")) == "stack"
    with pytest.raises(ValueError, match=r"several tasks \['insertion', 'stack'\]"):
        recorded_task(conversion("stack", "insertion"))


def test_a_profile_that_lists_a_wrist_camera_gets_it_rendered_and_recorded(profile):
    """Every task renders the front and the wrist camera; which of them a recording carries
    is the profile's list."""
    from lam_ros.core.commands import profile_topics
    from lam_ros.core.profile import CameraSpec
    from lam_ros.nodes.sim_node import sim_cameras
    from lam_ros.sim.config import SimConfig

    wrist = CameraSpec("wrist", "/wrist/image_raw", 64, 64)
    both = replace(profile, cameras=(*profile.cameras, wrist))
    assert [c.topic for c in sim_cameras(both, SimConfig())] == [
        *(c.topic for c in profile.cameras), "/wrist/image_raw"]
    assert profile_topics(both)["/wrist/image_raw"] == "sensor_msgs/msg/Image"
    assert "/wrist/image_raw" not in profile_topics(profile)
    for task in TASKS:
        world = TabletopWorld(profile, task)
        try:
            for camera in ("front", "wrist"):
                assert world.render(camera, (32, 32)).std() > 5, (task, camera)  # not blank
        finally:
            world.close()
