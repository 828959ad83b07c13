"""The learning-rate schedule: warm-up, the peak held, a cosine over the budget's last share."""

import pytest

from lam_ros.policy.train import lr_factor
from lam_ros.policy.train_config import TrainConfig


def test_warm_up_then_hold_then_anneal_to_zero():
    assert lr_factor(0.0, 0, warmup_steps=200, decay_fraction=0.3) == pytest.approx(1 / 200)
    assert lr_factor(0.5, 1000, 200, 0.3) == 1.0
    assert lr_factor(0.7, 1000, 200, 0.3) == 1.0  # the decay starts at 70 % of the budget
    assert lr_factor(0.85, 1000, 200, 0.3) == pytest.approx(0.5)
    assert lr_factor(1.0, 1000, 200, 0.3) == pytest.approx(0.0)
    assert lr_factor(0.5, 1000, 200, 1.0) == pytest.approx(0.5)  # 1.0: the cosine of old


@pytest.mark.parametrize("value", [0.0, 1.5])
def test_decay_fraction_is_checked(value):
    with pytest.raises(ValueError, match="lr_decay_fraction"):
        TrainConfig(data_dir="d", out_dir="o", profile="panda_sim", lr_decay_fraction=value)
