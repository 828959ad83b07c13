import json

import cv2
import numpy as np

from lam_ros.sim.report import EpisodeResult, side_by_side, summarize, write_report


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
    assert "| success rate | 75.0% |" in md and "| 100 | timeout | 0 |" in md
    assert "inference p99" in md
    assert cv2.imread(str(out / "success.png")) is not None
    video = cv2.VideoCapture(str(out / "rollouts.mp4"))
    count = 0
    while video.read()[0]:
        count += 1
    assert count == 10
    assert summary.last_line() == "success_rate=0.75 ci95=0.41,0.93 episodes=8"
