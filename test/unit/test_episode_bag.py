"""Episode bags written with rosbags (MCAP, real CDR messages) read back and converted."""

import warnings

import numpy as np
import pytest
from conftest import SIM_PROFILES
from episode_bag_factory import tiny_profile, write_dataset, write_episode

from lam_ros.data.bag_repair import QUARANTINE_SUFFIX
from lam_ros.data.cache import ConversionWarning, convert_dataset, select_episodes
from lam_ros.data.episode_bag import (
    EpisodeBagError,
    find_episode_dirs,
    place_headerless_commands,
    read_episode,
)
from lam_ros.data.sync import Stream, SyncSettings, synchronize


@pytest.fixture(params=SIM_PROFILES)
def profile(tmp_path, request):
    """Each simulated robot, with a small camera."""
    return tiny_profile(tmp_path, base=request.param)


def _convert(episode_dir, profile):
    raw = read_episode(episode_dir, profile)
    return raw, synchronize(raw.joint_positions, raw.commands, raw.images,
                            SyncSettings.for_rate(profile.control_hz))


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8"])
def test_episode_round_trips_through_a_real_bag(tmp_path, profile, encoding):
    targets = write_episode(tmp_path / "ep", profile, ticks=30, image_encoding=encoding)
    raw, synced = _convert(tmp_path / "ep", profile)
    assert raw.success and raw.warnings == []
    assert synced.n_kept == 30
    np.testing.assert_allclose(synced.actions, targets, atol=1e-6)
    np.testing.assert_allclose(synced.joint_positions[1:], targets[:-1], atol=1e-6)
    red = synced.images["front"][..., 0].astype(int) - synced.images["front"][..., 2]
    assert red.max() > 150  # the red square came through as red in RGB order


def test_permuted_joint_order_converts_by_name(tmp_path, profile):
    names = list(profile.joint_names)
    shuffled = [names[i] for i in np.random.default_rng(3).permutation(len(names))]
    shuffled.insert(4, profile.grippers[0].gripper.mimic_joints[0])  # the sim publishes mirrors
    write_episode(tmp_path / "plain", profile, ticks=20, seed=7)
    write_episode(tmp_path / "shuffled", profile, ticks=20, seed=7, joint_order=shuffled)
    _, plain = _convert(tmp_path / "plain", profile)
    _, permuted = _convert(tmp_path / "shuffled", profile)
    np.testing.assert_array_equal(plain.joint_positions, permuted.joint_positions)


def test_missing_joint_is_refused_naming_it(tmp_path, profile):
    missing = profile.arm_joints[3]
    order = [n for n in profile.joint_names if n != missing]
    write_episode(tmp_path / "ep", profile, ticks=10, joint_order=order)
    with pytest.raises(EpisodeBagError, match=rf"\b{missing}\b"):
        read_episode(tmp_path / "ep", profile)


def test_truncated_bag_keeps_its_whole_chunks_with_a_warning(tmp_path):
    profile = tiny_profile(tmp_path, size=96)  # 96x96 frames: the bag spans two 1 MiB chunks
    episode_dir = tmp_path / "data" / "task" / "episode_000000"
    write_episode(episode_dir, profile, ticks=60)
    (mcap,) = episode_dir.glob("*.mcap")
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size - 300_000])
    with pytest.warns(ConversionWarning, match="truncated"):
        result = convert_dataset(tmp_path / "data", profile, cache_dir=tmp_path / "cache",
                                 progress=False)
    (episode,) = result.episodes
    assert 20 < episode.n_kept < 60


def test_bag_without_metadata_is_skipped_pointing_at_repair(tmp_path, profile):
    good, unfinished = write_dataset(tmp_path / "data", profile, episodes=2, ticks=10)
    (unfinished / "metadata.yaml").unlink()
    with pytest.warns(ConversionWarning, match="bag repair"):
        result = convert_dataset(tmp_path / "data", profile, cache_dir=tmp_path / "cache",
                                 progress=False)
    assert result.episode_dirs == [good]
    assert list(result.skipped) == [str(unfinished)]
    unfinished.rename(unfinished.with_name(unfinished.name + QUARANTINE_SUFFIX))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a quarantined episode was put aside on purpose
        result = convert_dataset(tmp_path / "data", profile, cache_dir=tmp_path / "cache",
                                 progress=False)
    assert result.episode_dirs == [good] and result.skipped == {}


def test_unreadable_episode_is_skipped_by_name_never_empty(tmp_path, profile):
    good, bad = write_dataset(tmp_path / "data", profile, episodes=2, ticks=20)
    (mcap,) = bad.glob("*.mcap")
    mcap.write_bytes(mcap.read_bytes()[:200])  # not even one message survives
    with pytest.warns(ConversionWarning, match=bad.name):
        result = convert_dataset(tmp_path / "data", profile, cache_dir=tmp_path / "cache",
                                 progress=False)
    assert result.episode_dirs == [good]
    assert list(result.skipped) == [str(bad)]
    assert all(e.n_kept > 0 for e in result.episodes)


def test_failed_episodes_are_left_out_unless_asked(tmp_path, profile):
    write_dataset(tmp_path / "data", profile, episodes=2, ticks=10, failed=1)
    chosen, left_out = select_episodes(tmp_path / "data", include_failed=False)
    assert [p.name for p in chosen] == ["episode_000000", "episode_000001"]
    assert list(left_out) == [str(tmp_path / "data" / "synthetic" / "episode_000002")]
    chosen, _ = select_episodes(tmp_path / "data", include_failed=True)
    assert len(chosen) == 3


def test_second_run_uses_the_cache_and_a_changed_bag_reconverts(tmp_path, profile):
    dirs = write_dataset(tmp_path / "data", profile, episodes=2, ticks=15)
    kwargs = dict(cache_dir=tmp_path / "cache", progress=False)
    first = convert_dataset(tmp_path / "data", profile, **kwargs)
    second = convert_dataset(tmp_path / "data", profile, **kwargs)
    assert (first.converted, second.converted) == (2, 0)
    np.testing.assert_array_equal(first.episodes[1].actions, second.episodes[1].actions)
    (mcap,) = dirs[0].glob("*.mcap")
    mcap.touch()  # a rewritten bag has a new mtime
    assert convert_dataset(tmp_path / "data", profile, **kwargs).converted == 1


def test_data_dir_may_hold_episode_dirs_directly(tmp_path, profile):
    write_episode(tmp_path / "flat" / "episode_000000", profile, ticks=5)
    write_episode(tmp_path / "flat" / "episode_000001", profile, ticks=5)
    assert [p.name for p in find_episode_dirs(tmp_path / "flat")] == [
        "episode_000000", "episode_000001"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(convert_dataset(tmp_path / "flat", profile, cache_dir=tmp_path / "c",
                                   progress=False).episodes) == 2


def test_a_folder_of_links_to_chosen_episodes_is_a_data_set(tmp_path, profile):
    for i in range(3):
        write_episode(tmp_path / "all" / f"episode_{i:06d}", profile, ticks=5)
    chosen = tmp_path / "chosen" / "task"
    chosen.mkdir(parents=True)
    for i in (0, 2):
        (chosen / f"episode_{i:06d}").symlink_to(tmp_path / "all" / f"episode_{i:06d}")
    (chosen / "loop").symlink_to(tmp_path / "chosen")  # a link back up is followed once
    assert [p.name for p in find_episode_dirs(tmp_path / "chosen")] == [
        "episode_000000", "episode_000002"]


def _joints_on(clock_offset_ns):
    stamps = np.arange(10, 20) * 100_000_000
    return Stream(stamps, np.zeros((10, 1)), stamps - clock_offset_ns)


def test_headerless_command_takes_the_stamp_of_the_state_it_answers():
    period = 100_000_000
    answered = np.array([1_000, 1_100, 1_200, 1_300]) * 1_000_000
    # a lockstep sim's recorder clock may stamp a command a tick late or early
    receive = answered + np.array([0, period, 0, -period])
    stamps = place_headerless_commands(receive, answered, _joints_on(0), period, [])
    np.testing.assert_array_equal(stamps, answered)


def test_headerless_command_keeps_receive_time_without_a_recent_state():
    period = 100_000_000
    receive = np.array([900, 1_500]) * 1_000_000
    answered = np.array([-1, 1_200_000_000])  # none yet; a stalled joint_states stream
    stamps = place_headerless_commands(receive, answered, _joints_on(0), period, [])
    np.testing.assert_array_equal(stamps, receive)


def test_headerless_command_on_a_wall_clock_recorder_is_placed_by_its_state():
    warnings_seen = []
    wall = 1_700_000_000 * 1_000_000_000
    answered = np.array([1_000_000_000, 1_300_000_000])
    stamps = place_headerless_commands(answered + wall + 5_000_000, answered,
                                       _joints_on(-wall), 100_000_000, warnings_seen)
    np.testing.assert_array_equal(stamps, answered)
    assert "another clock" in warnings_seen[0]


def test_episodes_of_another_profile_are_refused_naming_both(tmp_path, profile):
    """A bag stores its robot's profile hash; converting it for another robot (here: the same
    arm with a 64 px camera) is refused unless the user says the difference is harmless."""
    write_dataset(tmp_path / "data", profile, episodes=2, ticks=12)
    (tmp_path / "other").mkdir()
    other = tiny_profile(tmp_path / "other", size=64, base=profile.name.removesuffix("_tiny"))
    with pytest.raises(EpisodeBagError) as refusal:
        convert_dataset(tmp_path / "data", other, cache_dir=tmp_path / "cache", progress=False)
    message = str(refusal.value)
    assert profile.fingerprint() in message and other.fingerprint() in message
    assert "episode_000000" in message and "--allow-profile-mismatch" in message
    with pytest.warns(ConversionWarning, match="another robot profile"):
        result = convert_dataset(tmp_path / "data", other, cache_dir=tmp_path / "cache",
                                 progress=False, allow_profile_mismatch=True)
    assert len(result.episodes) == 2
