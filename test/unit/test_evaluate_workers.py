"""How `lam-ros evaluate` spreads its graphs over ROS domains."""

import pytest

from lam_ros.commands.evaluate import MAX_DOMAIN_ID, worker_domains


def test_workers_take_the_callers_domain_then_the_next_ones():
    assert worker_domains(3, episodes=10, base="42") == [42, 43, 44]
    assert worker_domains(1, episodes=10, base="") == [0]


def test_never_more_graphs_than_episodes():
    assert worker_domains(4, episodes=2, base="7") == [7, 8]


def test_the_default_is_one_graph_per_usable_core_within_the_cap(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1})
    assert worker_domains(0, episodes=100, base="5") == [5, 6]
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(64)))
    assert worker_domains(0, episodes=100, base="5") == [5, 6, 7, 8]
    # the default shrinks to the domains left below the highest; one graph keeps any domain
    assert worker_domains(0, episodes=100, base=str(MAX_DOMAIN_ID - 1)) == [
        MAX_DOMAIN_ID - 1, MAX_DOMAIN_ID]
    assert worker_domains(0, episodes=100, base="230") == [230]
    assert worker_domains(1, episodes=100, base="230") == [230]


@pytest.mark.parametrize("workers, base, words", [
    (3, str(MAX_DOMAIN_ID - 1), f"needs domains {MAX_DOMAIN_ID - 1}-{MAX_DOMAIN_ID + 1}"),
    (2, "-1", "needs domains -1-0"),
    (1, "forty", "ROS_DOMAIN_ID='forty' is not a number"),
])
def test_domains_outside_the_valid_range_are_refused_with_the_reason(workers, base, words):
    with pytest.raises(ValueError, match=words):
        worker_domains(workers, episodes=10, base=base)
