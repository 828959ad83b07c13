"""Step pacing of the simulator, config validation and the demo/eval seed split."""

import pytest

from lam_ros.sim.config import ExpertConfig, SimConfig
from lam_ros.sim.seeds import EVAL_SEED_START, demo_seeds, eval_seeds
from lam_ros.sim.stepping import StepGate


def test_real_time_paces_steps_at_the_control_period():
    gate = StepGate(0.1, real_time_factor=1.0, lockstep=False, timeout_s=0.5, groups=("arm",))
    assert gate.should_step(0.0)
    gate.stepped(0.0)
    assert not gate.should_step(0.05)
    assert gate.should_step(0.1)


def test_faster_than_real_time_and_as_fast_as_possible():
    half = StepGate(0.1, real_time_factor=2.0, lockstep=False, timeout_s=0.5, groups=("arm",))
    half.stepped(0.0)
    assert half.should_step(0.05)
    fast = StepGate(0.1, real_time_factor=0.0, lockstep=False, timeout_s=0.5, groups=("arm",))
    fast.stepped(0.0)
    assert fast.should_step(0.0)


def test_a_stall_does_not_cause_a_burst_of_catch_up_steps():
    gate = StepGate(0.1, real_time_factor=1.0, lockstep=False, timeout_s=0.5, groups=("arm",))
    gate.stepped(0.0)
    gate.stepped(5.0)  # stalled for 5 s
    assert not gate.should_step(5.05)
    assert gate.should_step(5.1)


def test_lockstep_waits_for_a_command_to_every_group_or_the_timeout():
    gate = StepGate(0.1, real_time_factor=0.0, lockstep=True, timeout_s=0.5,
                    groups=("arm", "gripper"))
    assert gate.should_step(0.0)  # the first step needs no command: it starts the clock
    gate.stepped(0.0)
    assert not gate.should_step(0.2)
    gate.command_arrived("arm")
    assert not gate.should_step(0.2)  # the gripper's command of this tick is still on its way
    gate.command_arrived("gripper")
    assert gate.should_step(0.2)
    gate.stepped(0.2)
    assert not gate.should_step(0.6)
    assert gate.should_step(0.75)
    gate.stepped(0.75)
    assert (gate.steps, gate.lockstep_timeouts) == (3, 1)  # the last step was the timeout's


@pytest.mark.parametrize("field, value", [
    ("seed", -1), ("lockstep_timeout_s", 0.0), ("real_time_factor", -1.0),
    ("real_time_factor", float("nan")), ("side_view_width", 0), ("profile", ""),
    ("diagnostics_period_s", 0.0),
])
def test_sim_config_names_the_bad_value(field, value):
    with pytest.raises(ValueError, match=field):
        SimConfig(**{field: value})


def test_expert_config_wants_an_absolute_topic():
    with pytest.raises(ValueError, match="object_poses_topic"):
        ExpertConfig(object_poses_topic="object_poses")


def test_demo_and_eval_seeds_never_overlap():
    assert demo_seeds(3) == [0, 1, 2]
    assert eval_seeds(2, start=5) == [EVAL_SEED_START + 5, EVAL_SEED_START + 6]
    assert not set(demo_seeds(1000)) & set(eval_seeds(1000))
    with pytest.raises(ValueError, match="demo seeds"):
        demo_seeds(10, start=EVAL_SEED_START - 5)
