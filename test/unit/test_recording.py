"""EpisodeRecorder (no ROS): numbering, writer thread, discard, silence, status."""

import time

import pytest

from lam_ros.core import features
from lam_ros.data.bag_info import read_episode_info
from lam_ros.data.bag_writer import EpisodeWriter, TopicSpec
from lam_ros.data.recording import EpisodeRecorder, next_episode_index

TOPICS = [TopicSpec("/cmd", "std_msgs/msg/Float64MultiArray"),
          TopicSpec("/flag", "std_msgs/msg/Bool")]
BOOL_TRUE = bytes([0, 1, 0, 0, 1])  # CDR little endian, data=true


@pytest.fixture
def recorder(tmp_path):
    rec = EpisodeRecorder(tmp_path / "task")
    yield rec
    rec.shutdown()


def test_episodes_are_numbered_and_closed_with_outcome(recorder, tmp_path):
    first = recorder.start(TOPICS, {features.EPISODE_TASK: "task"}, now_ns=10**9)
    for i in range(20):
        recorder.put("/flag", BOOL_TRUE, 10**9 + i)
    recorder.put("/unknown", BOOL_TRUE, 10**9)  # a topic that appeared mid-episode: skipped
    assert recorder.stop(True, "done", now_ns=2 * 10**9) == first
    second = recorder.start(TOPICS, {}, now_ns=3 * 10**9)
    recorder.put("/flag", BOOL_TRUE, 3 * 10**9)
    recorder.stop(False, "dropped cube", now_ns=4 * 10**9)
    assert [first.name, second.name] == ["episode_000000", "episode_000001"]
    info = read_episode_info(first)
    assert info.success and info.topics["/flag"][1] == 20
    assert info.custom_data[features.EPISODE_START] == "1.000000000"
    assert info.custom_data[features.EPISODE_STOP] == "2.000000000"
    assert not read_episode_info(second).success
    assert recorder.write_errors == 0


def test_discard_deletes_and_numbering_skips_quarantined(recorder, tmp_path):
    (tmp_path / "task" / "episode_000004.quarantined").mkdir(parents=True)
    assert next_episode_index(tmp_path / "task") == 5
    episode = recorder.start(TOPICS, {}, now_ns=0)
    recorder.put("/flag", BOOL_TRUE, 1)
    assert recorder.discard() == episode
    assert not episode.exists()
    with pytest.raises(RuntimeError, match="not recording"):
        recorder.stop(True, "", now_ns=0)


def test_double_start_refused_and_silence(recorder):
    recorder.start(TOPICS, {}, now_ns=0)
    with pytest.raises(RuntimeError, match="already recording"):
        recorder.start(TOPICS, {}, now_ns=0)
    recorder.put("/flag", BOOL_TRUE, 5 * 10**8)
    deadline = time.monotonic() + 5
    while recorder.status(0)["counts"].get("/flag") != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    # /cmd never spoke since the start; /flag last spoke at 0.5 s
    assert recorder.silent_topics(now_ns=2 * 10**9, silence_s=1.0) == ["/cmd", "/flag"]
    assert recorder.silent_topics(now_ns=1 * 10**9, silence_s=0.8) == ["/cmd"]
    status = recorder.status(now_ns=3 * 10**9)
    assert status["recording"] and status["episode"] == "episode_000000"
    assert status["elapsed_s"] == 3.0


def test_write_failure_is_counted_not_fatal(recorder, monkeypatch):
    recorder.start(TOPICS, {}, now_ns=0)
    real_write = EpisodeWriter.write

    def flaky(self, topic, cdr, receive_ns):
        if receive_ns == 2:
            raise OSError("disk hiccup")
        real_write(self, topic, cdr, receive_ns)

    monkeypatch.setattr(EpisodeWriter, "write", flaky)
    for t in range(4):
        recorder.put("/flag", BOOL_TRUE, t)
    episode = recorder.stop(True, "", now_ns=10)
    assert recorder.write_errors == 1 and "disk hiccup" in recorder.last_error
    assert read_episode_info(episode).topics["/flag"][1] == 3
