import pytest

from lam_ros.core.stats import percentiles_ms, wilson_interval


@pytest.mark.parametrize(
    ("k", "n", "lo", "hi"),
    [(95, 100, 0.8883, 0.9785), (0, 10, 0.0, 0.2775), (10, 10, 0.7225, 1.0),
     (1, 2, 0.0945, 0.9055)],
)
def test_wilson_matches_reference_values(k, n, lo, hi):
    got = wilson_interval(k, n)
    assert got == pytest.approx((lo, hi), abs=1e-4)


def test_wilson_rejects_impossible_counts():
    with pytest.raises(ValueError, match="successes must be in"):
        wilson_interval(5, 4)
    with pytest.raises(ValueError, match="trials must be > 0"):
        wilson_interval(0, 0)


def test_percentiles_in_ms():
    got = percentiles_ms([0.001] * 99 + [0.1])
    assert got["p50"] == pytest.approx(1.0)
    assert got["p99"] > 1.0
