"""`lam-ros bench suite`, shortened: demonstrations, then train + evaluate per (task, policy)
cell over real DDS; a second run keeps the finished cell, reuses the data and measures the new
one. Plus the report's table on hand-made cells."""

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from lam_ros.core.stats import wilson_interval
from lam_ros.data.episode_bag import find_episode_dirs

pytestmark = pytest.mark.system

REPO = Path(__file__).resolve().parents[2]


def load_suite():
    spec = importlib.util.spec_from_file_location("bench_suite", REPO / "bench" / "suite.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_suite(out: Path, *policies: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "lam_ros.cli", "bench", "suite", "--tasks", "pick_place",
         "--policies", *policies, "--demos", "2", "--eval-episodes", "1",
         "--train-minutes", "0", "--train-steps", "20", "--out", str(out)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "ROS_DOMAIN_ID": os.environ["LAM_ROS_TEST_DOMAIN_ID"]})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def row(table: str, task: str) -> list[str]:
    """The cells of the first table's row for ``task``."""
    line = next(x for x in table.splitlines() if x.startswith(f"| {task} |"))
    return [c.strip() for c in line.strip("|").split("|")][1:]


def test_suite_measures_cells_and_resumes_keeping_finished_ones(tmp_path):
    out = tmp_path / "suite"
    run_suite(out, "conv")

    conv = out / "cells" / "pick_place" / "conv" / "cell.json"
    cell = json.loads(conv.read_text())
    assert (cell["task"], cell["policy"], cell["robot"]) == ("pick_place", "conv", "panda_sim")
    assert cell["episodes"] == 1 and 0 <= cell["successes"] <= 1 and cell["steps"] == 20
    low, high = cell["ci95"]
    assert 0.0 <= low <= cell["success_rate"] <= high <= 1.0
    assert cell["demos"] >= 1 and cell["date"]
    assert (out / "cells" / "pick_place" / "conv" / "model" / "policy.onnx").is_file()
    assert re.fullmatch(r"\d/1 = \d+% \[\d+-\d+\] · \d+\.\d min( · p99 [\d.]+ ms)?",
                        row((out / "SUITE.md").read_text(), "pick_place")[0])
    assert cv2.imread(str(out / "suite.png")) is not None

    episodes = find_episode_dirs(out / "data" / "pick_place")
    assert len(episodes) == 2
    mtime = conv.stat().st_mtime_ns

    second = run_suite(out, "conv", "flow")
    assert "kept pick_place/conv: " in second.stdout, second.stdout[-2000:]
    assert "reusing 2 recorded episodes" in second.stdout, second.stdout[-2000:]
    assert conv.stat().st_mtime_ns == mtime, "a finished cell is not measured again"
    assert find_episode_dirs(out / "data" / "pick_place") == episodes, "the data is reused"
    flow = json.loads((out / "cells" / "pick_place" / "flow" / "cell.json").read_text())
    assert flow["policy"] == "flow" and flow["episodes"] == 1
    table = (out / "SUITE.md").read_text()
    assert "| task | conv | flow |" in table
    assert all(re.match(r"\d/1 = ", c) for c in row(table, "pick_place")), table
    assert cv2.imread(str(out / "suite.png")) is not None


def test_table_shows_rate_interval_budget_and_missing_cells():
    suite = load_suite()

    def cell(task, policy, k, n, minutes=15.0, p99=3.14):
        return {"task": task, "policy": policy, "successes": k, "episodes": n,
                "success_rate": k / n, "ci95": list(wilson_interval(k, n)),
                "train_minutes": minutes, "inference_p99_ms": p99, "steps": 4000,
                "val_l1": 0.0088, "demos": 50, "date": "2026-12-03T10:00:00"}

    cells = {("stack", "act"): cell("stack", "act", 87, 100),
             ("stack", "conv"): cell("stack", "conv", 2, 2, minutes=0.5, p99=None)}
    settings = {"robot": "panda_sim", "demos": 50, "eval_episodes": 100,
                "train_minutes": 15.0, "train_steps": 100_000}
    table = suite.suite_markdown(cells, ["pick_place_random", "stack"], ["conv", "act", "flow"],
                                 settings)
    assert "| task | conv | act | flow |" in table
    assert row(table, "pick_place_random") == ["—", "—", "—"]
    assert row(table, "stack") == ["2/2 = 100% [34-100] · 0.5 min",
                                   "87/100 = 87% [79-92] · 15.0 min · p99 3.1 ms", "—"]
    assert "panda_sim" in table and "100 held-out seeds" in table and "15 min" in table
    assert "| stack | act | 50 | 4000 | 0.0088 |" in table  # steps and validation L1
    assert suite.format_cell(None) == "—"
    assert suite.format_cell(cell("t", "p", 0, 2, p99=None)) == "0/2 = 0% [0-66] · 15.0 min"
