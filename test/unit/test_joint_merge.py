"""Joint states merged by name from several topics, and split back as separate drivers report."""

import numpy as np
import pytest

from lam_ros.core.joint_merge import JointStateMerge, StaleSourceError, split_by_topic
from lam_ros.core.joints import MissingJointError
from lam_ros.core.profile import load_profile

ARM, GRIPPER = "/joint_states", "/gripper/joint_states"


@pytest.fixture
def merge():
    return JointStateMerge(("a", "b", "grip"), (ARM, GRIPPER), max_age_s=0.3)


def test_base_messages_yield_readings_with_the_latest_gripper(merge):
    with pytest.raises(StaleSourceError, match=f"no joint state from {GRIPPER}"):
        merge.add(ARM, ["b", "a"], np.array([2.0, 1.0]), 10.0)
    assert not merge.heard_all
    assert merge.add(GRIPPER, ["grip", "finger_mimic"], np.array([0.5, 0.5]), 10.0) is None
    assert merge.heard_all
    np.testing.assert_array_equal(merge.add(ARM, ["a", "b", "extra"], np.array([1.0, 2.0, 9.0]),
                                            10.1), [1.0, 2.0, 0.5])


def test_a_silent_gripper_topic_is_named_once_too_old(merge):
    merge.add(GRIPPER, ["grip"], np.array([0.5]), 10.0)
    merge.add(ARM, ["a", "b"], np.array([1.0, 2.0]), 10.25)  # 0.25 s: still fresh enough
    with pytest.raises(StaleSourceError, match=f"{GRIPPER} is 0.400 s older than {ARM}"):
        merge.add(ARM, ["a", "b"], np.array([1.0, 2.0]), 10.4)


def test_missing_joints_and_bad_messages_are_named(merge):
    merge.add(GRIPPER, ["grip"], np.array([0.5]), 10.0)
    with pytest.raises(MissingJointError, match=r"\['b'\] missing"):
        merge.add(ARM, ["a"], np.array([1.0]), 10.0)
    with pytest.raises(MissingJointError, match="none of the profile's joints"):
        merge.add(GRIPPER, ["other"], np.array([0.1]), 10.0)
    with pytest.raises(ValueError, match="2 joint names but 1 values"):
        merge.add(ARM, ["a", "b"], np.array([1.0]), 10.0)


def test_one_topic_is_plain_reordering():
    merge = JointStateMerge(("a", "b"), (ARM,), max_age_s=0.3)
    np.testing.assert_array_equal(merge.add(ARM, ["b", "a"], np.array([2.0, 1.0]), 1.0),
                                  [1.0, 2.0])
    with pytest.raises(MissingJointError):
        merge.add(ARM, ["a"], np.array([1.0]), 1.0)


def test_split_is_the_inverse_of_the_merge():
    profile = load_profile("xarm6_sim")  # its gripper reports on a topic of its own
    gripper = profile.grippers[0]
    names = [*profile.joint_names, *gripper.gripper.mimic_joints]
    split = split_by_topic(profile, names)
    assert [names[k] for k in split[profile.joint_state_topics[1]]] == [
        *gripper.joints, *gripper.gripper.mimic_joints]
    q = np.arange(len(names), dtype=float)
    merge = JointStateMerge(profile.joint_names, profile.joint_state_topics, max_age_s=0.3)
    readings = [merge.add(topic, [names[k] for k in index], q[index], 5.0)
                for topic, index in reversed(split.items())]
    np.testing.assert_array_equal(readings[-1], q[:profile.n_joints])
