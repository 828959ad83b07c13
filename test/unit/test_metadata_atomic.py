"""metadata.yaml is published atomically and durably, and a damaged one never passes as intact:
repair rebuilds it from the copy a closed MCAP file holds (or salvages or quarantines),
`lam-ros bag info` reports it, and conversion skips that one episode with its reason."""

import contextlib
import io
import os

import pytest
from episode_bag_factory import tiny_profile, write_dataset
from test_bag_writer import record

from lam_ros.cli import main as lam_ros_main
from lam_ros.core import features
from lam_ros.data.bag_info import read_episode_info
from lam_ros.data.bag_repair import repair_episode
from lam_ros.data.bag_writer import SIDECAR
from lam_ros.data.cache import ConversionWarning, convert_dataset
from lam_ros.data.episode_bag import EpisodeBagError

METADATA = "metadata.yaml"


def damage(episode_dir, how):
    meta = episode_dir / METADATA
    text = meta.read_text()
    if how == "empty":
        meta.write_text("")
    elif how == "garbage":
        meta.write_text("rosbag2_bagfile_information: [unclosed\n  - : :")
    elif how == "missing file":
        meta.write_text(text.replace(f"{episode_dir.name}.mcap", "elsewhere.mcap"))
    else:  # cut at a fraction of its length, as a kill or a full disk leaves it
        meta.write_text(text[:int(len(text) * how)])


DAMAGE = ["empty", "garbage", "missing file", 0.05, 0.3, 0.6, 0.9, 0.99]


def test_metadata_is_renamed_into_place_after_it_and_the_bag_are_on_disk(tmp_path,
                                                                         monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.path.basename(src), os.path.basename(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    episode = tmp_path / "episode_000000"
    writer = record(episode, n=5, close=False)
    events.clear()
    writer.close()
    published = [e for e in events if e[0] == "replace" and e[2] == METADATA]
    assert len(published) == 1, events
    staged = published[0][1]
    index = events.index(published[0])
    assert ("fsync", "episode_000000.mcap") in events[:index]
    assert ("fsync", staged) in events[:index]
    assert ("fsync", "episode_000000") in events[index:]  # the rename itself is on disk
    assert sorted(p.name for p in episode.iterdir()) == ["episode_000000.mcap", METADATA]


@pytest.mark.parametrize("how", DAMAGE)
def test_repair_rebuilds_damaged_metadata_from_the_closed_mcap(tmp_path, how):
    episode = tmp_path / "episode_000000"
    record(episode, n=50)
    damage(episode, how)
    result = repair_episode(episode)
    assert result.status == "repaired", result
    assert result.messages == 60 and METADATA in result.reason
    info = read_episode_info(episode)
    assert info.message_count == 60
    assert info.success and info.custom_data[features.EPISODE_SEED] == "7"  # facts kept
    assert repair_episode(episode).status == "intact"


def test_repair_rebuilds_metadata_lost_after_the_bag_was_closed(tmp_path):
    episode = tmp_path / "episode_000000"
    record(episode, n=50)
    (episode / METADATA).unlink()  # killed between closing the MCAP and publishing metadata
    result = repair_episode(episode)
    assert result.status == "repaired"
    info = read_episode_info(episode)
    assert info.message_count == 60 and info.success
    assert info.custom_data[features.EPISODE_STATUS] == "complete"


def test_damaged_metadata_beside_an_unfinished_bag_is_salvaged(tmp_path):
    episode = tmp_path / "episode_000000"
    writer = record(episode, n=50, close=False)
    writer._writer.storage.bio.flush()
    (episode / METADATA).write_text("rosbag2_bagfile_information:\n  compression_fo")
    result = repair_episode(episode)
    assert result.status == "repaired"
    assert "rosbag2_bagfile_information mapping" in result.reason
    assert read_episode_info(episode).custom_data[features.EPISODE_SEED] == "7"  # sidecar
    assert not (episode / SIDECAR).exists()


def test_damaged_metadata_beside_an_empty_bag_is_quarantined_with_both_reasons(tmp_path):
    episode = tmp_path / "episode_000000"
    episode.mkdir()
    (episode / "episode_000000.mcap").write_bytes(b"")
    (episode / METADATA).write_text("")
    result = repair_episode(episode)
    assert result.status == "quarantined"
    assert "metadata.yaml has no rosbag2_bagfile_information" in result.reason
    assert "no complete message" in result.reason


@pytest.mark.parametrize("how", ["garbage", "missing file", 0.5])
def test_bag_info_reports_a_damaged_episode_and_goes_on(tmp_path, how):
    record(tmp_path / "episode_000000")
    record(tmp_path / "episode_000001")
    damage(tmp_path / "episode_000000", how)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = lam_ros_main(["bag", "info", str(tmp_path)])
    printed = out.getvalue()
    assert code == 1
    assert "episode_000000: UNUSABLE:" in printed and "bag repair" in printed
    assert "episode_000001: 60 messages" in printed
    assert "2 episode(s), 1 unusable" in printed


@pytest.mark.parametrize("how", ["garbage", "missing file", 0.5])
def test_conversion_skips_the_one_damaged_episode_with_its_reason(tmp_path, how):
    profile = tiny_profile(tmp_path)
    broken, *good = write_dataset(tmp_path / "data", profile, episodes=3, ticks=10)
    damage(broken, how)
    with pytest.warns(ConversionWarning, match=f"skipped episode: .*{broken.name}.*metadata"):
        result = convert_dataset(tmp_path / "data", profile, cache_dir=tmp_path / "cache",
                                 progress=False)
    assert result.episode_dirs == good
    assert list(result.skipped) == [str(broken)]
    for episode in good:
        damage(episode, how)
    with pytest.warns(ConversionWarning), \
            pytest.raises(EpisodeBagError, match="no usable episodes.*metadata"):
        convert_dataset(tmp_path / "data", profile, cache_dir=tmp_path / "cache",
                        progress=False)
