import json

import cv2
import numpy as np
import pytest

from lam_ros.sim.report import (
    STALL_S,
    STILL_RAD,
    EpisodeResult,
    Stillness,
    side_by_side,
    summarize,
    write_report,
)


def test_report_folder_has_every_episode_summary_plot_and_video(tmp_path):
    results = [EpisodeResult(seed=100 + i, success=i % 4 != 0, time_to_success_s=5.0 + i,
                             reason="" if i % 4 else "timeout") for i in range(8)]
    summary = summarize(results, {"inference p99": "0.7 ms"})
    frames = [[side_by_side([np.full((96, 96, 3), 10 * t, np.uint8),
                             np.zeros((120, 160, 3), np.uint8)]) for t in range(5)]] * 2
    out = write_report(tmp_path / "report", results, summary, frames)

    data = json.loads((out / "episodes.json").read_text())
    assert [e["seed"] for e in data["episodes"]] == list(range(100, 108))
    assert data["summary"]["successes"] == 6
    md = (out / "summary.md").read_text()
    assert "| success rate | 75.0% |" in md and "| 100 | timeout | 0 | no |" in md
    assert "inference p99" in md
    assert cv2.imread(str(out / "success.png")) is not None
    video = cv2.VideoCapture(str(out / "rollouts.mp4"))
    count = 0
    while video.read()[0]:
        count += 1
    assert count == 10
    assert summary.last_line() == "success_rate=0.75 ci95=0.41,0.93 episodes=8"


def test_stillness_counts_from_the_last_real_motion():
    still = Stillness()
    assert still.still_s() is None
    q = np.zeros(7)
    for i in range(20):  # moves 0.05 rad per reading for 2 s
        still.add(0.1 * i, q + 0.05 * i)
    assert still.still_s() == 0.0
    for i in range(20, 60):  # then only jitter below STILL_RAD for 4 s
        still.add(0.1 * i, q + 0.05 * 19 + 0.5 * STILL_RAD * (-1) ** i)
    assert still.still_s() == pytest.approx(0.1 * 59 - 0.1 * 19)


def test_a_failure_with_the_arm_still_at_the_end_is_a_stall():
    results = [EpisodeResult(1, False, still_s=STALL_S + 1), EpisodeResult(2, False, still_s=0.5),
               EpisodeResult(3, True, 4.0, still_s=STALL_S + 1), EpisodeResult(4, False)]
    assert [r.stalled for r in results] == [True, False, False, False]
    assert summarize(results).extra["stalled"].startswith("1 of 3 failures")
