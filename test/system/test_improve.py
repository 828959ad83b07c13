"""`lam-ros improve`, shortened: a demo policy, one round of corrections by the simulated person
through the ROS graph, training from that policy on demonstrations and corrections, evaluation."""

import json
import subprocess
import sys

import pytest

from lam_ros.core.profile import load_profile
from lam_ros.data.bag_info import find_episodes
from lam_ros.data.cache import convert_dataset

pytestmark = pytest.mark.system


def lam_ros(*args, timeout=900):
    result = subprocess.run([sys.executable, "-m", "lam_ros.cli", *args], capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_one_round_of_corrections_records_trains_from_the_policy_and_evaluates(tmp_path):
    demo = tmp_path / "demo"
    lam_ros("demo", "--out", str(demo), "--episodes", "2", "--eval-episodes", "1",
            "--train-minutes", "0", "--train-steps", "20")
    out = tmp_path / "improve"
    printed = lam_ros("improve", "--model", str(demo / "model" / "policy.onnx"), "--data",
                      str(demo / "data"), "--out", str(out), "--rounds", "1", "--episodes", "1",
                      "--train-minutes", "0", "--train-steps", "5", "--lr", "0.0003",
                      "--eval-episodes", "1",
                      "--skip-base-eval", "--cache-dir", str(tmp_path / "cache"))
    rounds = json.loads((out / "rounds.json").read_text())
    assert [r["round"] for r in rounds] == [1] and rounds[0]["eval_episodes"] == 1
    assert "| 1 | 1 (" in printed  # the table's row for round 1
    # A 20-step policy does not do the task: the person took over and drove.
    assert rounds[0]["takeovers"] >= 1 and rounds[0]["driving_min"] > 0
    corrections = find_episodes(out / "round_1" / "corrections" / "pick_place")
    assert len(corrections) == 1
    episode = convert_dataset(out / "round_1" / "corrections", load_profile("panda_sim"),
                              cache_dir=tmp_path / "cache", include_failed=True,
                              progress=False).episodes[0]
    assert episode.policy_ticks.any() and not episode.policy_ticks.all()
    card = json.loads((out / "round_1" / "model" / "policy.card.json").read_text())
    config = card["training"]["config"]
    assert config["init_from"] == str(demo / "model")
    assert config["lr"] == 0.0003  # a gentler fine-tuning than the demo's own training
    assert config["more_data"] == [str(out / "round_1" / "corrections")]
    assert card["training"]["episodes"] == 2 + rounds[0]["successes"]
