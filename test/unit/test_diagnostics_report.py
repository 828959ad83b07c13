"""The shared /diagnostics report: the worst problem sets the level, every problem is said."""

from lam_ros.ros.diagnostics import ERROR, OK, WARN, worst_of


def test_worst_problem_first_or_the_ok_message():
    assert worst_of([], "idle", {"k": "v"}).level == OK
    assert worst_of([], "idle", {}).message == "idle"
    report = worst_of([(WARN, "slow"), (ERROR, "disk full"), (WARN, "silent")], "idle", {})
    assert report.level == ERROR
    assert report.message == "disk full; slow; silent"
