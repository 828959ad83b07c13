"""The writer's flush timer does not depend on how long ago the machine booted.

The monotonic clock starts near 0 at boot, so a timer that starts at 0 behaves differently in the
first minutes after boot. The clock is faked here at several uptimes, from just booted to ten days.
"""

import types

import pytest

from lam_ros.data import bag_writer
from lam_ros.data.bag_writer import EpisodeWriter, TopicSpec

NS = 10**9
FLAG = TopicSpec("/flag", "std_msgs/msg/Bool")
BOOL_TRUE = bytes([0, 1, 0, 0, 1])  # CDR little endian, data=true


@pytest.mark.parametrize("uptime_s", [0.2, 60.0, 464.0, 10 * 86400.0])
def test_first_message_is_flushed_then_every_period_whatever_the_uptime(tmp_path, monkeypatch,
                                                                        uptime_s):
    now = [int(uptime_s * NS)]
    monkeypatch.setattr(bag_writer, "time", types.SimpleNamespace(monotonic_ns=lambda: now[0]))
    writer = EpisodeWriter(tmp_path / "episode_000000", [FLAG], {}, flush_period_s=0.5).open()

    def write_at(offset_s: float) -> int:
        now[0] = int((uptime_s + offset_s) * NS)
        writer.write("/flag", BOOL_TRUE, now[0])
        return writer.messages_saved

    assert write_at(0.0) == 1  # the first message reaches the file at once
    assert write_at(0.3) == 1  # the period has not passed since that flush
    assert write_at(0.49) == 1
    assert write_at(0.5) == 4  # due: the chunk closes with every message so far
    assert write_at(0.9) == 4
    assert write_at(1.0) == 6
