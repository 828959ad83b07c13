"""EpisodeCalls: one recorder call at a time, and a call the recorder never answers is given up."""

from lam_ros.core.teleop import START, STOP_SUCCESS, EpisodeCalls


def test_a_second_press_waits_for_the_first_answer():
    calls = EpisodeCalls(timeout_s=5.0)
    assert calls.refusal(START, 10.0) == ""
    calls.sent(START, 10.0)
    refusal = calls.refusal(STOP_SUCCESS, 10.2)
    assert "not answered start" in refusal
    calls.answered()
    assert calls.refusal(STOP_SUCCESS, 10.3) == ""


def test_an_unanswered_call_expires():
    calls = EpisodeCalls(timeout_s=5.0)
    calls.sent(START, 10.0)
    assert not calls.expired(14.9)
    assert calls.refusal(START, 14.9) != ""
    assert calls.expired(15.1)
    assert calls.refusal(START, 15.1) == ""
