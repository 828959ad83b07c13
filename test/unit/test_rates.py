"""Sliding-window rates for /diagnostics: receive rate, longest gap, real-time factor."""

import pytest

from lam_ros.core.rates import TopicRates, WindowedRate


def test_rate_counts_whole_intervals_from_the_start():
    rate = WindowedRate(window_s=2.0, start_s=10.0)
    for i in range(1, 11):  # 10 Hz for one second
        rate.add(10.0 + 0.1 * i, i)
    assert rate.rate(11.0) == pytest.approx(10.0)  # not diluted by the unused half window
    assert rate.longest_gap_s(11.0) == pytest.approx(0.1)


def test_a_total_that_stops_growing_reads_zero_a_window_later_and_its_silence_shows():
    rate = WindowedRate(window_s=1.0, start_s=0.0)
    for i in range(1, 21):  # 20 Hz until t = 1 s
        rate.add(0.05 * i, i)
    assert rate.rate(1.0) == pytest.approx(20.0)
    assert rate.rate(1.5) == pytest.approx(10.0)  # 10 messages in [0.5, 1.5]
    assert rate.rate(2.5) == 0.0
    assert rate.silent_s(2.5) == pytest.approx(1.5)
    assert rate.longest_gap_s(2.5) == pytest.approx(1.5)


def test_a_gap_is_reported_while_it_ends_inside_the_window():
    rate = WindowedRate(window_s=2.0, start_s=0.0)
    rate.add(0.1, 1)
    rate.add(1.1, 2)  # a 1 s gap
    for i in range(1, 20):  # then 10 Hz until t = 3 s
        rate.add(1.1 + 0.1 * i, 2 + i)
    assert rate.longest_gap_s(1.6) == pytest.approx(1.0)
    assert rate.longest_gap_s(3.05) == pytest.approx(1.0)  # it ended at 1.1, inside [1.05, 3.05]
    assert rate.longest_gap_s(3.15) == pytest.approx(0.15)  # gone; the silence since 3.0 is 0.15


def test_real_time_factor_from_sim_seconds_per_wall_second():
    rtf = WindowedRate(window_s=2.0, start_s=100.0, start_total=5.0)
    for i in range(1, 41):  # a 0.05 s step every 0.1 wall s: half real time
        rtf.add(100.0 + 0.1 * i, 5.0 + 0.05 * i)
    assert rtf.rate(104.0) == pytest.approx(0.5)


def test_window_must_be_positive():
    with pytest.raises(ValueError, match="window_s"):
        WindowedRate(window_s=0.0, start_s=0.0)


def test_topic_rates_name_the_silent_topics():
    rates = TopicRates(window_s=1.0)
    rates.watch("/a", 0.0)
    rates.watch("/never", 0.0)
    for i in range(1, 11):
        rates.received("/a", 0.1 * i)
    rates.watch("/a", 0.9)  # watching again keeps the history
    assert rates.topics["/a"].rate(1.0) == pytest.approx(10.0)
    assert rates.silent(1.0, silence_s=0.5) == ["/never"]
    assert rates.silent(2.0, silence_s=0.5) == ["/a", "/never"]
