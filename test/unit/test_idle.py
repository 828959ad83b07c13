import numpy as np
import pytest

from lam_ros.data.idle import active_ticks, still_ticks, trim_idle
from lam_ros.data.sync import SyncedEpisode


def episode_from(moving: str) -> SyncedEpisode:
    """One joint; '.' a tick in which it moved (and the command changed), 's' a still tick."""
    q = np.cumsum([0.0] + [0.01 if c == "." else 0.0 for c in moving[1:]]).astype(np.float32)
    q = q[:, None]
    t = len(moving)
    return SyncedEpisode(np.arange(t, dtype=np.int64), q, q + 0.01,
                         {"front": np.arange(t, dtype=np.uint8)[:, None, None, None]},
                         np.ones(t, bool), {"ticks": t})


def test_still_ticks_need_both_the_joints_and_the_command_unchanged():
    q = np.array([[0.0], [0.0], [0.5], [0.5], [0.5]])
    command = np.array([[0.0], [0.0], [0.5], [0.5], [0.9]])
    assert still_ticks(q, command).tolist() == [True, True, False, True, False]


def test_idle_before_the_first_motion_and_after_the_last_is_cut_and_pauses_are_shortened():
    still = np.array([c == "s" for c in "sss..ssssss..s.sss"])
    keep = active_ticks(still, max_pause_ticks=2)
    assert "".join("k" if k else "-" for k in keep) == "---kkkk----kkkk---"


def test_trim_idle_keeps_every_array_aligned_and_reports_what_went():
    episode = episode_from("ssss....ssssssss....ssss")
    trimmed = trim_idle(episode, control_hz=10.0, max_pause_s=0.3)
    kept_images = trimmed.images["front"][:, 0, 0, 0].tolist()
    assert kept_images == [4, 5, 6, 7, 8, 9, 10, 16, 17, 18, 19]
    assert trimmed.stamps_ns.tolist() == kept_images
    assert trimmed.joint_positions[:, 0].tolist() == pytest.approx(
        episode.joint_positions[kept_images, 0].tolist())
    assert trimmed.report["idle_ticks_cut"] == 24 - 11
    assert episode.report == {"ticks": 24}  # the input is left as it was


def test_an_episode_in_which_nothing_moves_is_left_whole():
    episode = episode_from("ssssss")
    assert trim_idle(episode, 10.0, 0.5) is episode
