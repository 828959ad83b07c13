"""The README's main command, shortened: record -> train -> export -> evaluate over real DDS."""

import json
import re
import subprocess
import sys

import cv2
import pytest

from lam_ros.core import features
from lam_ros.data.bag_info import find_episodes, read_episode_info

pytestmark = pytest.mark.system


def test_short_demo_records_trains_exports_and_evaluates(tmp_path):
    out = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "lam_ros.cli", "demo", "--out", str(out), "--episodes", "2",
         "--eval-episodes", "2", "--train-minutes", "0", "--train-steps", "30"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    last = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"success_rate=\d\.\d\d ci95=\d\.\d\d,\d\.\d\d episodes=2", last), last
    table = (out / "RESULTS.md").read_text()
    for row in ("closed-loop success", "training", "inference (onnxruntime)", "wall time"):
        assert row in table

    assert (out / "model" / "policy.onnx").is_file()
    assert (out / "model" / "policy.card.json").is_file()
    assert (out / "model" / "training_curve.png").is_file()

    demo_seeds = {int(read_episode_info(e).custom_data[features.EPISODE_SEED])
                  for e in find_episodes(out / "data" / "pick_place")}
    report = json.loads((out / "eval" / "episodes.json").read_text())
    eval_seeds = {e["seed"] for e in report["episodes"]}
    assert len(demo_seeds) == 2 and len(eval_seeds) == 2
    assert not demo_seeds & eval_seeds, "evaluation must use held-out seeds"
    for episode in report["episodes"]:
        assert episode["success"] or episode["reason"], episode

    video = cv2.VideoCapture(str(out / "eval" / "rollouts.mp4"))
    ok, frame = video.read()
    assert ok and frame.shape[1] > frame.shape[0], "policy camera and side view side by side"
    assert cv2.imread(str(out / "eval" / "success.png")) is not None
