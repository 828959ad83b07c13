"""The README's main command, shortened: record -> train -> export -> evaluate over real DDS."""

import json
import re
import subprocess
import sys

import cv2
import numpy as np
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

    frames = video_frames(out / "eval" / "rollouts.mp4")
    assert frames and frames[0].shape[1] > frames[0].shape[0], "policy camera | side view"
    assert cv2.imread(str(out / "eval" / "success.png")) is not None

    # The policy moved the arm: the policy camera's picture changes from one frame to the next
    # by more than 1 grey level on average in several places (even a 30-step policy reaches
    # towards the demonstrations' mean pose: about 6 such frames per episode). A policy that
    # holds the joints where they are gives none, even across the reset between episodes
    # (largest change 0.6), so this cannot pass on episode boundaries alone.
    square = frames[0].shape[0]  # the policy camera, scaled to the video's height, comes first
    policy_view = [cv2.cvtColor(f[:, :square], cv2.COLOR_BGR2GRAY).astype(np.float32)
                   for f in frames]
    changes = [float(np.abs(policy_view[i + 1] - policy_view[i]).mean())
               for i in range(len(policy_view) - 1)]
    moving = sum(c > 1.0 for c in changes)
    assert moving >= 2 * len(report["episodes"]), (
        f"the arm hardly moved: {moving} frame changes > 1 grey level, largest "
        f"{max(changes):.2f}, over {len(frames)} frames")


def video_frames(path) -> list:
    video = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = video.read()
        if not ok:
            return frames
        frames.append(frame)
