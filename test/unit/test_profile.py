import copy

import pytest
import yaml
from conftest import SIM_PROFILES

from lam_ros.core.paths import robots_dir
from lam_ros.core.profile import ProfileError, load_profile, profile_from_dict

BASE = yaml.safe_load((robots_dir() / "panda_sim.yaml").read_text())


def test_panda_profile_loads():
    profile = load_profile("panda_sim")
    assert profile.joint_names[:7] == tuple(f"panda_joint{i}" for i in range(1, 8))
    assert profile.n_joints == 8 and profile.gripper_joints == ("panda_finger_joint1",)
    assert profile.cameras[0].name == "front" and profile.control_period == pytest.approx(0.1)
    arm, gripper = profile.command_groups
    assert profile.slots(arm) == list(range(7)) and profile.slots(gripper) == [7]
    assert gripper.gripper.opening(0.04) == 1.0 and gripper.gripper.opening(0.0) == 0.0


def test_xarm_gripper_is_its_own_controller_and_closes_upwards():
    profile = load_profile("xarm6_sim")
    arm, gripper = profile.command_groups
    assert arm.interface == "joint_trajectory" and gripper.interface == "float64"
    assert profile.arm_joints == arm.joints and profile.gripper_joints == ("drive_joint",)
    assert gripper.gripper.opening(0.0) == 1.0 and gripper.gripper.opening(0.85) == 0.0
    assert len(profile.joint_state_topics) == 2


def test_fingerprint_is_stable_and_sensitive(profile):
    assert profile.fingerprint() == load_profile(profile.name).fingerprint()
    changed = yaml.safe_load((robots_dir() / f"{profile.name}.yaml").read_text())
    assert profile_from_dict(changed).fingerprint() == profile.fingerprint()
    changed["control_hz"] = 20.0
    assert profile_from_dict(changed).fingerprint() != profile.fingerprint()
    others = [load_profile(name) for name in SIM_PROFILES if name != profile.name]
    assert all(other.fingerprint() != profile.fingerprint() for other in others)


def _mutate(path, value):
    data = copy.deepcopy(BASE)
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("joints", 0, "lower"), 5.0, "[panda_joint1]: lower limit 5.0 > upper limit 2.8973"),
        (("joints", 1, "name"), "panda_joint1", "duplicate joint names ['panda_joint1']"),
        (("command_groups", 0, "interface"), "effort",
         "command_groups[arm].interface must be one of"),
        (("command_groups", 1, "joints"), ["panda_finger_joint1", "panda_joint1"],
         "a gripper group commands one joint"),
        (("command_groups", 1, "joints"), ["panda_joint7"],
         "joint 'panda_joint7' is in both 'arm' and 'gripper'"),
        (("command_groups", 1, "gripper", "closed"), 0.04, "open == closed (0.04)"),
        (("command_groups", 1, "gripper", "open"), 0.5, "gripper.open=0.5 is outside"),
        (("command_groups", 1, "gripper", "mimic_joints"), ["panda_joint3"],
         "mimic_joints: 'panda_joint3' is a commanded joint"),
        (("command_groups", 1, "topic"), "/forward_position_controller/commands",
         "two groups share a topic"),
        (("command_groups", 0, "joints"), ["panda_joint1", "ghost"],
         "joint 'ghost' is not in joints"),
        (("command_groups", 0, "joints"), ["panda_joint1"], "are in no command group"),
        (("command_groups",), KeyError, "missing required key 'command_groups'"),
        (("joint_state_topics",), ["joint_states"], "is not absolute"),
        (("tool_offset",), [0.0, 0.1], "tool_offset must be three finite numbers"),
        (("cameras", 0, "width"), 0, "cameras[front].width must be a positive integer, got 0"),
        (("home",), [0.0] * 3, "home has 3 values but joints has 8"),
        (("control_hz",), -1, "control_hz must be in (0, 1000], got -1"),
        (("control_hz",), KeyError, "missing required key 'control_hz'"),
        (("joints", 2, "max_velocity"), float("nan"), "[panda_joint3].max_velocity must be"),
    ],
)
def test_bad_profile_names_field_and_value(path, value, expected):
    with pytest.raises(ProfileError) as info:
        profile_from_dict(_mutate(path, value))
    assert expected in str(info.value)


def test_missing_joint_entry_field_is_named():
    data = copy.deepcopy(BASE)
    del data["joints"][0]["upper"]
    with pytest.raises(ProfileError, match="upper"):
        profile_from_dict(data)


def test_unknown_profile_name_lists_available():
    with pytest.raises(ProfileError, match="available: .*panda_sim"):
        load_profile("no_such_robot")


def test_bad_yaml_file_error_names_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_mutate(("cameras", 0, "height"), 0)))
    with pytest.raises(ProfileError, match=r"bad.yaml: .*height"):
        load_profile(path)
