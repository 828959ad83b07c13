"""`lam-ros record-sim` end to end over DDS -> bags: sim_node + expert_node + recorder_node, or a
simulated person driving teleop_node, which calls the recorder on its buttons."""

import subprocess
import sys

import pytest

from lam_ros.core import features
from lam_ros.core.commands import profile_topics
from lam_ros.data.bag_info import find_episodes, read_episode_info
from lam_ros.sim.seeds import demo_seeds

pytestmark = pytest.mark.system


def test_record_sim_one_episode(tmp_path, profile):
    result = subprocess.run(
        [sys.executable, "-m", "lam_ros.cli", "record-sim", "--episodes", "1", "--seed-offset",
         "3", "--data", str(tmp_path), "--profile", profile.name], capture_output=True, text=True,
        timeout=240)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "1 succeeded, 0 failed" in result.stdout
    [episode] = find_episodes(tmp_path / "pick_place")
    info = read_episode_info(episode)
    assert info.success
    assert info.custom_data[features.EPISODE_SEED] == str(demo_seeds(1, 3)[0])
    assert info.custom_data[features.EPISODE_PROFILE_HASH] == profile.fingerprint()
    counts = {topic: count for topic, (_, count) in info.topics.items()}
    for topic in profile_topics(profile):  # every group's commands, every joint-state topic
        assert counts[topic] > 20, counts
    assert all(h["out_of_order"] == 0 for h in info.health.values()), info.health


def test_record_sim_with_a_joystick_person_through_teleop(tmp_path, profile):
    result = subprocess.run(
        [sys.executable, "-m", "lam_ros.cli", "record-sim", "--operator", "joystick",
         "--style", "hurried", "--episodes", "1", "--seed-offset", "4", "--data", str(tmp_path),
         "--profile", profile.name], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "1 succeeded" in result.stdout
    [episode] = find_episodes(tmp_path / "pick_place")
    info = read_episode_info(episode)
    assert info.success  # the person pressed A, teleop called ~/stop with success
    assert info.custom_data[features.EPISODE_SEED] == str(demo_seeds(1, 4)[0])
    counts = {topic: count for topic, (_, count) in info.topics.items()}
    assert counts["/joy"] > 20, counts
    for topic in profile_topics(profile):  # teleop's commands and the joint states
        assert counts[topic] > 20, counts
    # The person idled after START and before A: there are ticks without commands.
    assert counts[profile.command_groups[0].topic] < counts[profile.joint_state_topics[0]]
    # Only teleop_node calls the recorder in this graph; its log line for the stop may be cut
    # off when record-sim stops the nodes, the one for the start is long written by then.
    teleop_log = (tmp_path / "logs" / "pick_place" / "teleop_node.log").read_text()
    assert "start:" in teleop_log
