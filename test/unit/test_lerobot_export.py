"""`lam-ros export lerobot`: the LeRobotDataset it writes, read back by an independent reader
(pyarrow + PyAV, test/unit/lerobot_reader.py), holds lam_ros's own conversion: the kept frames,
their states, actions, control-grid timestamps, tasks and images."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from episode_bag_factory import TINY_PROFILE_FILE, tiny_profile, write_dataset
from lerobot_reader import read_dataset

from lam_ros.cli import main
from lam_ros.data.cache import convert_dataset
from lam_ros.data.lerobot_export import (
    episode_tasks,
    export_fps,
    export_lerobot,
    video_key,
)
from lam_ros.data.sync import NS

MAX_MEAN_GREY_ERROR = 3.0  # H.264 yuv420p is lossy: mean |decoded - original| per frame


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """Three small episodes (64x64 camera, 10 Hz) and lam_ros's conversion of them."""
    root = tmp_path_factory.mktemp("lerobot")
    profile = tiny_profile(root, size=64)
    write_dataset(root / "data", profile, episodes=3, ticks=30, failed=1)
    conversion = convert_dataset(root / "data", profile, cache_dir=root / "cache",
                                 progress=False)
    return root, profile, conversion


def grey_error(decoded: np.ndarray, original: np.ndarray) -> float:
    """The worst frame's mean |decoded - original| in grey levels."""
    return float(np.abs(decoded.astype(int) - original).mean((1, 2, 3)).max())


def export_cli(root, out, *extra) -> int:
    return main(["export", "lerobot", "--data", str(root / "data"), "--out", str(out),
                 "--robot", str(root / TINY_PROFILE_FILE), "--cache-dir", str(root / "cache"),
                 "--no-progress", *extra])


def test_export_holds_the_conversion_lam_ros_trains_on(recorded, tmp_path):
    root, profile, conversion = recorded
    assert export_cli(root, tmp_path / "ds", "--task", "put the red square away") == 0
    info, episodes = read_dataset(tmp_path / "ds")

    key = video_key(profile.cameras[0].name)
    kept = [np.flatnonzero(e.kept) for e in conversion.episodes]
    assert info["codebase_version"] == "v3.0" and info["fps"] == 10
    assert info["robot_type"] == profile.name
    assert info["total_episodes"] == len(episodes) == 3  # the failed one is left out
    assert info["total_frames"] == sum(len(k) for k in kept)
    assert info["features"]["observation.state"]["names"] == list(profile.joint_names)
    assert info["features"][key]["shape"] == [64, 64, 3]
    start = 0
    for expected, ticks, got in zip(conversion.episodes, kept, episodes, strict=True):
        np.testing.assert_array_equal(got.state, expected.joint_positions[ticks])
        np.testing.assert_array_equal(got.action, expected.actions[ticks])
        grid = (expected.stamps_ns[ticks] - expected.stamps_ns[ticks[0]]) / NS
        np.testing.assert_allclose(got.timestamp, grid, atol=1e-6)
        np.testing.assert_array_equal(got.frame_index, np.arange(len(ticks)))
        np.testing.assert_array_equal(got.index, start + np.arange(len(ticks)))
        start += len(ticks)
        assert got.tasks == ["put the red square away"]
        assert set(got.row_tasks) == {"put the red square away"}
        assert grey_error(got.images[key], expected.images["front"][ticks]) < MAX_MEAN_GREY_ERROR


def test_stats_cover_the_exported_frames(recorded, tmp_path):
    root, profile, conversion = recorded
    tasks = episode_tasks(conversion.episodes)
    assert tasks == ["synthetic"] * 3  # the task the bags record
    export_lerobot(tmp_path / "ds", conversion.episodes, tasks, profile, fps=10)
    stats = json.loads((tmp_path / "ds" / "meta" / "stats.json").read_text())

    kept = [np.flatnonzero(e.kept) for e in conversion.episodes]
    states = np.concatenate([e.joint_positions[k] for e, k in zip(conversion.episodes, kept,
                                                                   strict=True)])
    mean = states.mean(0, dtype=np.float64)
    np.testing.assert_allclose(stats["observation.state"]["mean"], mean, rtol=1e-9)
    np.testing.assert_allclose(stats["observation.state"]["max"], states.max(0), rtol=1e-6)
    assert stats["observation.state"]["count"] == [len(states)]
    frames = np.concatenate([e.images["front"][k] for e, k in zip(conversion.episodes, kept,
                                                                   strict=True)])
    image = stats[video_key("front")]
    np.testing.assert_allclose(np.ravel(image["mean"]), frames.mean((0, 1, 2)) / 255, rtol=1e-9)
    np.testing.assert_allclose(np.ravel(image["std"]), frames.std((0, 1, 2)) / 255, rtol=1e-6)
    assert np.ravel(image["max"]).tolist() == (frames.max((0, 1, 2)) / 255).tolist()
    assert np.array(image["q50"]).shape == (3, 1, 1)


def test_dropped_ticks_leave_gaps_in_time_not_in_the_video(recorded, tmp_path):
    """A tick the synchronization dropped has no row; the rows after it still find their own
    images, because the video keeps one frame per tick."""
    root, profile, conversion = recorded
    episodes = [replace(e, kept=e.kept.copy()) for e in conversion.episodes[:2]]
    episodes[0].kept[[0, 7, 8]] = False  # a late start and a gap of two ticks
    episodes[1].kept[-1] = False
    result = export_lerobot(tmp_path / "ds", episodes, ["a", "b"], profile, fps=10)
    _, got = read_dataset(tmp_path / "ds")

    assert result.gaps == 2  # the late start is cut, not counted
    assert [len(e.state) for e in got] == [e.n_kept for e in episodes]
    assert [e.row_tasks[0] for e in got] == ["a", "b"]
    assert np.diff(got[0].timestamp).max() == pytest.approx(0.3, abs=1e-6)
    for expected, read in zip(episodes, got, strict=True):
        ticks = np.flatnonzero(expected.kept)
        np.testing.assert_array_equal(read.action, expected.actions[ticks])
        assert grey_error(read.images[video_key("front")],
                          expected.images["front"][ticks]) < MAX_MEAN_GREY_ERROR


def test_refusals_name_what_is_wrong(recorded, tmp_path, capsys):
    root, profile, conversion = recorded
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    assert export_cli(root, tmp_path / "full") == 2
    assert "not an empty folder" in capsys.readouterr().err
    # without --robot the profile the bags record is used; this one is not in config/robots
    assert main(["export", "lerobot", "--data", str(root / "data"), "--out",
                 str(tmp_path / "ds")]) == 2
    assert "'panda_sim_tiny' not found" in capsys.readouterr().err
    with pytest.raises(ValueError, match="whole, positive frame rate"):
        export_fps(0, 12.5)
    assert export_fps(0, 10.0) == 10 and export_fps(5, 10.0) == 5
    with pytest.raises(ValueError, match="pass --task"):
        episode_tasks([replace(conversion.episodes[0], report={})])
