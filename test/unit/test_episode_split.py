"""Split rules: one long bag's receive times -> the segments that become episodes (pure)."""

import pytest

from lam_ros.data.episode_split import (
    GapRule,
    Segment,
    SplitError,
    TimesRule,
    TopicRule,
    TopicSamples,
    parse_split,
)

NS = 1_000_000_000
SPAN = (100 * NS, 200 * NS)  # the bag's first and last receive time


def samples(msgtype, *pairs):
    """TopicSamples from (seconds after the bag's start, data) pairs."""
    found = TopicSamples("/t")
    for seconds, value in pairs:
        found.add(msgtype, SPAN[0] + round(seconds * NS), value)
    return found


def bounds(segments):
    return [((s.start_ns - SPAN[0]) / NS, (s.end_ns - SPAN[0]) / NS, s.label) for s in segments]


def test_gap_rule_starts_an_episode_after_each_silence_longer_than_the_gap():
    times = [0.0, 0.1, 0.2, 2.0, 2.1, 2.15, 5.0]
    found = GapRule("/t", 1.0).segments("bag", samples("x/msg/Y", *[(t, None) for t in times]),
                                        SPAN)
    assert bounds(found) == [(0.0, 0.2, ""), (2.0, 2.15, ""), (5.0, 5.0, "")]
    assert [s.index for s in found] == [0, 1, 2]


def test_gap_rule_on_a_silent_topic_finds_nothing_and_says_so():
    with pytest.raises(SplitError, match="no messages on /t"):
        GapRule("/t", 1.0).segments("bag", TopicSamples("/t"), SPAN)


def test_bool_topic_is_an_episode_while_true_up_to_the_bags_end():
    marks = samples("std_msgs/msg/Bool", (1, False), (2, True), (3, True), (4, False), (6, True))
    found = TopicRule("/t").segments("bag", marks, SPAN)
    assert bounds(found) == [(2.0, 4.0 - 1e-9, ""), (6.0, 100.0, "")]


def test_string_topic_starts_an_episode_at_each_new_value_and_empty_is_between():
    marks = samples("std_msgs/msg/String", (1, "pick_a"), (2, "pick_a"), (3, "pick_b"), (5, ""),
                    (7, ""), (8, "pick_c"), (9, ""))
    found = TopicRule("/t").segments("bag", marks, SPAN)
    assert [(s.label, round((s.start_ns - SPAN[0]) / NS)) for s in found] == [
        ("pick_a", 1), ("pick_b", 3), ("pick_c", 8)]
    assert found[0].end_ns == found[1].start_ns - 1  # disjoint: a change belongs to the next


def test_episode_topic_of_another_type_or_never_true_is_refused_naming_why():
    with pytest.raises(SplitError, match="holds sensor_msgs/msg/JointState.*std_msgs/msg/Bool"):
        TopicRule("/t").segments("bag", samples("sensor_msgs/msg/JointState", (1, None)), SPAN)
    with pytest.raises(SplitError, match="holds no messages"):
        TopicRule("/t").segments("bag", TopicSamples("/t"), SPAN)
    with pytest.raises(SplitError, match="never starts an episode"):
        TopicRule("/t").segments("bag", samples("std_msgs/msg/Bool", (1, False)), SPAN)


def test_times_file_as_a_list_applies_to_every_bag(tmp_path):
    path = tmp_path / "times.yaml"
    path.write_text("[[0, 12.5], [14, 30]]\n")
    rule = parse_split(f"times:{path}")
    assert isinstance(rule, TimesRule) and rule.topic == ""
    for bag in ("a", "b"):
        assert bounds(rule.segments(bag, None, SPAN)) == [(0.0, 12.5, ""), (14.0, 30.0, "")]


def test_times_file_as_a_mapping_is_per_bag_and_names_a_bag_it_lacks(tmp_path):
    path = tmp_path / "times.json"
    path.write_text('{"session_1": [[1, 2]], "session_2": [[3, 4], [5, 6]]}')
    rule = parse_split(f"times:{path}")
    assert bounds(rule.segments("session_2", None, SPAN)) == [(3.0, 4.0, ""), (5.0, 6.0, "")]
    assert rule.cache_token("session_1") != rule.cache_token("session_2")
    with pytest.raises(SplitError, match="no times for bag 'session_3'"):
        rule.segments("session_3", None, SPAN)


@pytest.mark.parametrize("content", ["[[5, 2]]", "[[1]]", "[[-1, 2]]", "[]", "{a: 3}",
                                     "just text"])
def test_malformed_times_file_is_refused_naming_it(tmp_path, content):
    path = tmp_path / "times.yaml"
    path.write_text(content)
    with pytest.raises(SplitError, match="times.yaml"):
        parse_split(f"times:{path}")


def test_parse_split_reads_each_kind_and_names_a_bad_spec(tmp_path):
    assert parse_split("") is None
    assert parse_split("gap:/arm/commands:2.5") == GapRule("/arm/commands", 2.5)
    assert parse_split("topic:/episode") == TopicRule("/episode")
    for bad, why in [("gap:/t:soon", "not seconds"), ("gap:2.0", "absolute"),
                     ("gap:/t:0", "positive"), ("topic:episode", "absolute"),
                     ("pieces:3", "expected gap:TOPIC:SECONDS"), ("times:", "expected"),
                     (f"times:{tmp_path / 'absent.yaml'}", "absent.yaml")]:
        with pytest.raises(SplitError, match=why):
            parse_split(bad)


def test_segment_is_named_by_its_bag_index_and_times():
    segment = Segment(3, SPAN[0] + 12 * NS, SPAN[0] + 19_500_000_000)
    assert segment.name("bag_x", SPAN[0]) == "bag_x[3] (12.0-19.5 s)"
