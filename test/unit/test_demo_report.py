"""The demonstration report's measures on episodes whose answers are known by construction."""

import numpy as np
import pytest

from lam_ros.data.demo_report import DemoStats, episode_stats, gripper_events, summary_rows


def episode(profile, hand_path, close_at, open_at):
    """Joint rows whose first three joints are the hand position (the FK the test passes), and
    actions that close the first gripper at ``close_at`` and open it at ``open_at``."""
    n = len(hand_path)
    q = np.tile(np.array(profile.home, dtype=float), (n, 1))
    q[:, :3] = hand_path
    group = profile.grippers[0]
    slot = profile.slots(group)[0]
    actions = q.copy()
    actions[:, slot] = group.gripper.open
    actions[close_at:open_at, slot] = group.gripper.closed
    return q, actions


def line(a, b, ticks):
    return np.linspace(a, b, ticks)


def test_idle_time_path_ratio_and_speed(profile):
    period = profile.control_period
    start, grasp, release = np.zeros(3), np.array([0.1, 0.0, 0.0]), np.array([0.1, 0.2, 0.0])
    path = np.concatenate([np.tile(start, (10, 1)),  # 10 idle ticks first
                           line(start, grasp, 11)[1:], line(grasp, release, 21)[1:],
                           np.tile(release, (5, 1))])  # 5 idle ticks last
    q, actions = episode(profile, path, close_at=19, open_at=39)  # at grasp, at release
    stats = episode_stats("e", "success", q, actions, profile, lambda row: row[:3])
    assert stats.duration_s == pytest.approx(len(path) * period)
    assert stats.idle_before_s == pytest.approx(9 * period)  # the first step leaves tick 9
    assert stats.idle_after_s == pytest.approx(5 * period)
    assert stats.path_ratio == pytest.approx(1.0)  # straight lines through grasp and release
    assert stats.speed_mps == pytest.approx(0.01 / period)
    assert 0.2 < stats.idle_share < 0.4


def test_a_detour_makes_the_path_longer_than_the_straightest(profile):
    a, b = np.zeros(3), np.array([0.2, 0.0, 0.0])
    detour = np.concatenate([line(a, np.array([0.1, 0.1, 0.0]), 11),
                             line(np.array([0.1, 0.1, 0.0]), b, 11)[1:]])
    q, actions = episode(profile, detour, close_at=len(detour), open_at=len(detour))
    stats = episode_stats("e", "failure", q, actions, profile, lambda row: row[:3])
    assert stats.path_ratio == pytest.approx(np.sqrt(2), rel=1e-6)


def test_gripper_events_are_the_first_close_and_the_reopen(profile):
    q, actions = episode(profile, np.zeros((30, 3)), close_at=8, open_at=21)
    assert gripper_events(actions, profile) == [8, 21]
    _, never = episode(profile, np.zeros((30, 3)), close_at=30, open_at=30)
    assert gripper_events(never, profile) == []


def test_summary_counts_outcomes_and_takes_medians():
    stats = [DemoStats("a", "success", 10.0, 0.1, 1.0, 0.5, 1.2, 1.0, 0.1),
             DemoStats("b", "failure", 20.0, 0.3, 2.0, 1.5, 3.0, 1.5, 0.2),
             DemoStats("c", "success", 30.0, 0.5, 3.0, 2.5, 2.0, 1.0, 0.3)]
    rows = dict(summary_rows(stats))
    assert rows["episodes"] == "3 (1 failure, 2 success)"
    assert rows["duration, median"] == "20.0 s"
    assert rows["hand path / straightest, median"] == "2.00"
