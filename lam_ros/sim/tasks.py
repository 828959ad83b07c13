"""Tabletop tasks: what a seed puts on the table, where the held object has to go, and when the
task has succeeded. Pure geometry (no PyBullet): the world builds the bodies, the scripted expert
plans from ``goal``, and success is judged from true poses, never from the images a policy sees.

Frames: the robot base frame, the table is the plane z = 0. Yaw is about +z, radians.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CUBE_SIZE = 0.045  # m, edge of every cube
CUBE_MASS = 0.05  # kg
RED, BLUE, YELLOW = (0.9, 0.1, 0.1, 1.0), (0.15, 0.3, 0.95, 1.0), (0.95, 0.85, 0.1, 1.0)
GREEN = (0.1, 0.75, 0.2, 1.0)
GREY = (0.35, 0.35, 0.4, 1.0)
# The region the picked object starts in (x, y bounds): 20 x 20 cm in front-right of the robot.
PICK_X, PICK_Y = (0.42, 0.62), (-0.24, -0.04)
# The region goals are placed in for tasks whose goal moves: front-left, 20 x 16 cm.
GOAL_X, GOAL_Y = (0.42, 0.62), (0.06, 0.22)
TARGET_XY = (0.52, 0.16)  # pick_place's fixed target square
TARGET_SIZE = 0.10  # m, edge of a target square
RESTING = 0.01  # m: a centre this close to its resting height counts as resting
STACKED_XY = 0.02  # m: the red cube's centre within this of the blue one's counts as on top
MAX_YAW = math.radians(45)  # objects whose yaw is random turn up to this either way
# insertion: a square peg into a square hole, 3 mm of clearance on each side.
PEG_WIDTH, PEG_HEIGHT, PEG_MASS = 0.03, 0.08, 0.03
HOLE_CLEARANCE = 0.003
WALL_THICKNESS, WALL_HEIGHT = 0.02, 0.04
INSERTED_XY = 0.006  # m: a peg centre this close to the hole's axis is inside the hole


@dataclass(frozen=True)
class Part:
    """One box of a body: centre offset from the body origin and full size (m)."""

    offset: tuple[float, float, float]
    size: tuple[float, float, float]


@dataclass(frozen=True)
class Body:
    """An object on the table. Its origin rests at z = ``rest_z`` when set down upright."""

    name: str
    parts: tuple[Part, ...]
    rgba: tuple[float, float, float, float]
    mass: float = 0.0  # 0: fixed where the layout puts it
    collides: bool = True  # False: paint on the table (a target square)
    rest_z: float = 0.0


def cube(name: str, rgba) -> Body:
    return Body(name, (Part((0, 0, 0), (CUBE_SIZE,) * 3),), rgba, CUBE_MASS,
                rest_z=CUBE_SIZE / 2)


def target_square(name: str = "target") -> Body:
    return Body(name, (Part((0, 0, 0), (TARGET_SIZE, TARGET_SIZE, 1e-3)),), GREEN,
                collides=False, rest_z=5e-4)


def hole_fixture(name: str = "hole") -> Body:
    """Four walls around a square hole whose floor is the table; origin at the hole's centre."""
    inner = PEG_WIDTH + 2 * HOLE_CLEARANCE
    outer = inner + 2 * WALL_THICKNESS
    middle = (inner + WALL_THICKNESS) / 2
    z = WALL_HEIGHT / 2
    parts = (Part((middle, 0, z), (WALL_THICKNESS, outer, WALL_HEIGHT)),
             Part((-middle, 0, z), (WALL_THICKNESS, outer, WALL_HEIGHT)),
             Part((0, middle, z), (inner, WALL_THICKNESS, WALL_HEIGHT)),
             Part((0, -middle, z), (inner, WALL_THICKNESS, WALL_HEIGHT)))
    return Body(name, parts, GREY)


@dataclass(frozen=True)
class Pose:
    position: np.ndarray  # (3,) m
    yaw: float  # rad about +z


class Task:
    """A task: its bodies, a seeded layout, the held object's goal, and the success test."""

    name = ""
    description = ""
    held = "cube"  # the body the robot picks up
    grasp_above_centre = -0.0025  # m: the grasp point's height above the held object's centre
    align_yaw = False  # the held object must arrive turned as the goal is (a peg in a hole)
    time_limit_s = 15.0  # sim seconds a rollout gets (recording and evaluation)
    bodies: tuple[Body, ...] = ()

    def layout(self, seed: int) -> dict[str, tuple[float, float, float]]:
        """Body name -> (x, y, yaw) for an episode seed."""
        raise NotImplementedError

    def goal(self, poses: dict[str, Pose]) -> Pose:
        """Where the held object's centre goes and, with ``align_yaw``, how it is turned."""
        raise NotImplementedError

    def success(self, poses: dict[str, Pose], released: bool) -> bool:
        raise NotImplementedError

    def body(self, name: str) -> Body:
        return next(b for b in self.bodies if b.name == name)


class PickPlace(Task):
    name = "pick_place"
    description = "red cube (yaw 0) from a 20 x 20 cm region into a fixed green square"
    bodies = (cube("cube", RED), target_square())

    def layout(self, seed: int) -> dict[str, tuple[float, float, float]]:
        rng = np.random.default_rng(seed)
        return {"cube": (rng.uniform(*PICK_X), rng.uniform(*PICK_Y), 0.0),
                "target": (*TARGET_XY, 0.0)}

    def goal(self, poses: dict[str, Pose]) -> Pose:
        target = poses["target"].position
        return Pose(np.array([target[0], target[1], CUBE_SIZE / 2]), 0.0)

    def success(self, poses: dict[str, Pose], released: bool) -> bool:
        return bool(released and on_square(poses["cube"].position, poses["target"].position))


class PickPlaceRandom(PickPlace):
    name = "pick_place_random"
    description = ("red cube turned up to 45 deg either way, a green square anywhere in a "
                   "20 x 16 cm region, and a blue and a yellow cube in the way of nothing")
    bodies = (cube("cube", RED), target_square(), cube("distractor_blue", BLUE),
              cube("distractor_yellow", YELLOW))

    def layout(self, seed: int) -> dict[str, tuple[float, float, float]]:
        rng = np.random.default_rng(seed)
        red = (rng.uniform(*PICK_X), rng.uniform(*PICK_Y), rng.uniform(-MAX_YAW, MAX_YAW))
        target = (rng.uniform(*GOAL_X), rng.uniform(*GOAL_Y), 0.0)
        taken = [(red[:2], 0.10), (target[:2], TARGET_SIZE / 2 + CUBE_SIZE)]
        layout = {"cube": red, "target": target}
        for name in ("distractor_blue", "distractor_yellow"):
            xy = free_spot(rng, (PICK_X[0] - 0.04, PICK_X[1] + 0.04),
                           (PICK_Y[0] - 0.02, GOAL_Y[1]), taken)
            taken.append((xy, 0.10))
            layout[name] = (*xy, rng.uniform(-MAX_YAW, MAX_YAW))
        return layout


class Stack(Task):
    name = "stack"
    description = "red cube onto the blue cube, both placed and turned at random"
    bodies = (cube("cube", RED), cube("base", BLUE))

    def layout(self, seed: int) -> dict[str, tuple[float, float, float]]:
        rng = np.random.default_rng(seed)
        return {"cube": (rng.uniform(*PICK_X), rng.uniform(*PICK_Y),
                         rng.uniform(-MAX_YAW, MAX_YAW)),
                "base": (rng.uniform(*GOAL_X), rng.uniform(*GOAL_Y),
                         rng.uniform(-MAX_YAW, MAX_YAW))}

    def goal(self, poses: dict[str, Pose]) -> Pose:
        base = poses["base"].position
        return Pose(np.array([base[0], base[1], CUBE_SIZE * 1.5]), poses["base"].yaw)

    def success(self, poses: dict[str, Pose], released: bool) -> bool:
        red, blue = poses["cube"].position, poses["base"].position
        return bool(released
                    and abs(blue[2] - CUBE_SIZE / 2) < RESTING
                    and abs(red[2] - blue[2] - CUBE_SIZE) < RESTING
                    and np.linalg.norm(red[:2] - blue[:2]) < STACKED_XY)


class Insertion(Task):
    name = "insertion"
    description = (f"a {PEG_WIDTH * 100:.0f} cm square peg, turned up to 45 deg, into a hole "
                   f"{HOLE_CLEARANCE * 1000:.0f} mm wider on each side, placed at random")
    held = "peg"
    grasp_above_centre = PEG_HEIGHT / 2 - 0.02  # 2 cm below the peg's top
    align_yaw = True
    bodies = (Body("peg", (Part((0, 0, 0), (PEG_WIDTH, PEG_WIDTH, PEG_HEIGHT)),), RED, PEG_MASS,
                   rest_z=PEG_HEIGHT / 2),
              hole_fixture())

    def layout(self, seed: int) -> dict[str, tuple[float, float, float]]:
        rng = np.random.default_rng(seed)
        return {"peg": (rng.uniform(*PICK_X), rng.uniform(*PICK_Y),
                        rng.uniform(-MAX_YAW, MAX_YAW)),
                "hole": (rng.uniform(*GOAL_X), rng.uniform(*GOAL_Y), 0.0)}

    def goal(self, poses: dict[str, Pose]) -> Pose:
        hole = poses["hole"]
        return Pose(np.array([hole.position[0], hole.position[1], PEG_HEIGHT / 2]), hole.yaw)

    def success(self, poses: dict[str, Pose], released: bool) -> bool:
        peg, hole = poses["peg"].position, poses["hole"].position
        return bool(released and abs(peg[2] - PEG_HEIGHT / 2) < RESTING
                    and np.linalg.norm(peg[:2] - hole[:2]) < INSERTED_XY)


TASKS: dict[str, Task] = {t.name: t for t in (PickPlace(), PickPlaceRandom(), Stack(),
                                               Insertion())}
DEFAULT_TASK = "pick_place"


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; the simulator has {sorted(TASKS)}")
    return TASKS[name]


def on_square(position: np.ndarray, square_xy: np.ndarray) -> bool:
    """A cube's centre inside a target square, the cube resting on the table."""
    inside = bool(np.all(np.abs(position[:2] - square_xy[:2]) <= TARGET_SIZE / 2))
    return bool(inside and abs(position[2] - CUBE_SIZE / 2) < RESTING)


def free_spot(rng: np.random.Generator, x_range, y_range,
              taken: list[tuple[np.ndarray, float]]) -> np.ndarray:
    """A uniform (x, y) at least each taken spot's clearance away from it."""
    for _ in range(1000):
        xy = np.array([rng.uniform(*x_range), rng.uniform(*y_range)])
        if all(np.linalg.norm(xy - np.asarray(spot)) >= clearance for spot, clearance in taken):
            return xy
    raise RuntimeError("no free spot on the table: the layout's regions are too crowded")


def wrap_quarter_turn(yaw: float) -> float:
    """``yaw`` modulo 90 deg into [-45, 45) deg: a square's turns that look the same."""
    quarter = math.pi / 2
    return (yaw + quarter / 2) % quarter - quarter / 2


def yaw_of(quaternion) -> float:
    """Yaw (about +z) of an (x, y, z, w) quaternion."""
    x, y, z, w = quaternion
    return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


def yaw_quaternion(yaw: float) -> list[float]:
    return [0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)]
