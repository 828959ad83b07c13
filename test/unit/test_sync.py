"""Resampling onto the control grid with synthetic streams: jitter, gaps, late starts."""

import numpy as np
import pytest

from lam_ros.data.sync import NS, Stream, SyncSettings, control_grid, synchronize

HZ = 10.0
PERIOD = NS // 10


def _stream(stamps_ns, values):
    return Stream(np.asarray(stamps_ns, np.int64), np.asarray(values))


def _images(stamps_ns):
    frames = np.zeros((len(stamps_ns), 4, 4, 3), np.uint8)
    frames[:, 0, 0, 0] = np.arange(len(stamps_ns))  # frame id in a pixel
    return _stream(stamps_ns, frames)


def _ramp(start_ns, stop_ns, hz, joints=2):
    stamps = np.arange(start_ns, stop_ns, int(NS / hz))
    seconds = stamps / NS
    return _stream(stamps, np.stack([seconds * (j + 1) for j in range(joints)], axis=1))


def test_grid_starts_when_every_stream_has_data_and_ends_with_the_first_to_stop():
    streams = [_stream([3 * NS, 9 * NS], [0, 0]), _stream([2 * NS, 8 * NS], [0, 0]),
               _stream([int(3.05 * NS), 10 * NS], [0, 0])]
    ticks = control_grid(streams, HZ)
    assert ticks[0] == int(3.05 * NS) and ticks[-1] <= 8 * NS
    assert np.all(np.diff(ticks) == PERIOD)


def test_joint_states_are_interpolated_at_ticks_under_jitter():
    rng = np.random.default_rng(0)
    stamps = np.sort(np.arange(0, 5 * NS, NS // 100) + rng.integers(-3_000_000, 3_000_000, 500))
    joints = _stream(stamps, np.stack([stamps / NS, -2 * stamps / NS], axis=1))
    images = _images(np.arange(0, 5 * NS, PERIOD))
    commands = _stream([0], [[0.0, 0.0]])
    synced = synchronize(joints, commands, {"front": images}, SyncSettings.for_rate(HZ))
    seconds = synced.stamps_ns / NS
    np.testing.assert_allclose(synced.joint_positions[:, 0], seconds, atol=1e-6)
    np.testing.assert_allclose(synced.joint_positions[:, 1], -2 * seconds, atol=1e-6)


def test_image_is_the_latest_at_or_before_the_tick():
    images = _images(np.arange(0, 3 * NS, NS // 30) + 1_000_000)  # 30 Hz, 1 ms after ticks
    synced = synchronize(_ramp(0, 4 * NS, 100), _stream([0], [[0.0, 0.0]]),
                         {"front": images}, SyncSettings.for_rate(HZ))
    frame_ids = synced.images["front"][:, 0, 0, 0].astype(int)
    latest = [np.searchsorted(images.stamps_ns, t, side="right") - 1 for t in synced.stamps_ns]
    np.testing.assert_array_equal(frame_ids, latest)
    assert np.all(images.stamps_ns[frame_ids] <= synced.stamps_ns)


def test_action_is_the_command_in_force_at_each_tick():
    command_stamps = np.array([0, 250, 420, 1000]) * 1_000_000  # irregular, headerless-like
    commands = _stream(command_stamps, np.arange(4.0)[:, None].repeat(2, 1))
    synced = synchronize(_ramp(0, NS + 1, 100), commands,
                         {"front": _images(np.arange(0, NS + 1, PERIOD))},
                         SyncSettings.for_rate(HZ))
    expected = [0, 0, 0, 1, 1, 2, 2, 2, 2, 2, 3]  # ticks at 0, 100, ..., 1000 ms
    np.testing.assert_array_equal(synced.actions[:, 0], expected)


def test_frames_over_the_image_gap_are_dropped_with_the_reason_and_counted():
    stamps = np.arange(0, 4 * NS, PERIOD)
    stamps = stamps[(stamps < NS) | (stamps >= 2 * NS)]  # camera silent for one second
    synced = synchronize(_ramp(0, 4 * NS, 100), _stream([0], [[0.0, 0.0]]),
                         {"front": _images(stamps)}, SyncSettings.for_rate(HZ))
    report = synced.report
    assert report["frames_dropped"] == 9  # ticks 1.1 .. 1.9 s: last image at 0.9 s is too old
    assert report["dropped_because"] == {"image_front older than tolerance": 9}
    assert report["frames_kept"] + report["frames_dropped"] == len(synced.stamps_ns)
    assert report["topics"]["image_front"]["max_gap_s"] == pytest.approx(1.1)
    assert report["topics"]["joint_states"]["rate_hz"] == pytest.approx(100, rel=1e-3)
    assert len(synced.actions) == len(synced.stamps_ns)  # actions stay on the full grid


def test_joint_state_gap_drops_ticks_inside_it():
    stamps = np.arange(0, 3 * NS, NS // 100)
    stamps = stamps[(stamps < NS) | (stamps > 2 * NS)]
    joints = _stream(stamps, np.zeros((len(stamps), 2)))
    synced = synchronize(joints, _stream([0], [[0.0, 0.0]]),
                         {"front": _images(np.arange(0, 3 * NS, PERIOD))},
                         SyncSettings.for_rate(HZ))
    dropped = synced.stamps_ns[~synced.kept] / NS  # samples stop at 0.99 s, resume at 2.01 s
    np.testing.assert_allclose(dropped, np.arange(10, 21) / 10)
    assert synced.report["dropped_because"] == {"joint_states gap": 11}


@pytest.mark.parametrize("key", ["control_hz", "image_tolerance_s", "max_joint_gap_s"])
def test_settings_name_a_bad_value(key):
    values = {"control_hz": 10.0, "image_tolerance_s": 0.1, "max_joint_gap_s": 0.2, key: 0.0}
    with pytest.raises(ValueError, match=key):
        SyncSettings(**values)
