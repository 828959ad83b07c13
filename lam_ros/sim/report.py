"""Evaluation report: every episode in JSON, a Markdown summary, a success plot and a video."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lam_ros.core.stats import wilson_interval

STILL_RAD = 0.01  # no joint moved more than this (rad or m): the arm counts as still
STALL_S = 3.0  # a failed episode whose arm was still this long at its end stalled


class Stillness:
    """How long (sim seconds) the arm has been still: no joint moved more than STILL_RAD from
    where it was when it last moved."""

    def __init__(self) -> None:
        self._anchor: np.ndarray | None = None
        self._moved_at: float | None = None
        self._latest: float | None = None

    def add(self, t: float, positions: np.ndarray) -> None:
        if (self._anchor is None or self._anchor.shape != positions.shape
                or np.max(np.abs(positions - self._anchor)) > STILL_RAD):
            self._anchor, self._moved_at = positions.copy(), t
        self._latest = t

    def still_s(self) -> float | None:
        """None before the first reading."""
        return None if self._moved_at is None else self._latest - self._moved_at


@dataclass
class EpisodeResult:
    seed: int
    success: bool
    time_to_success_s: float | None = None  # sim time from enable to success
    faults: int = 0
    reason: str = ""  # why an episode failed: "timeout", "policy_node died", ...
    still_s: float | None = None  # how long the arm had been still when the episode ended

    @property
    def stalled(self) -> bool:
        """Failed with the arm standing still at the end: the policy gave up moving, rather
        than moving the wrong way."""
        return not self.success and self.still_s is not None and self.still_s >= STALL_S


@dataclass
class Summary:
    episodes: int
    successes: int
    success_rate: float
    ci95: tuple[float, float]
    extra: dict[str, Any] = field(default_factory=dict)

    def last_line(self) -> str:
        return (f"success_rate={self.success_rate:.2f} ci95={self.ci95[0]:.2f},{self.ci95[1]:.2f} "
                f"episodes={self.episodes}")


def summarize(results: list[EpisodeResult], extra: dict[str, Any] | None = None) -> Summary:
    n = len(results)
    k = sum(r.success for r in results)
    stalls = {"stalled": f"{sum(r.stalled for r in results)} of {n - k} failures (arm still for "
                         f"the last {STALL_S:g} s)"}
    return Summary(n, k, k / n, wilson_interval(k, n), {**stalls, **(extra or {})})


def write_report(out_dir: Path, results: list[EpisodeResult], summary: Summary,
                 rollouts: list[list[np.ndarray]] | None = None, fps: float = 10.0) -> Path:
    """Writes episodes.json, summary.md, success.png and (given frames) rollouts.mp4."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "episodes.json").write_text(json.dumps(
        {"summary": asdict(summary), "episodes": [asdict(r) for r in results]}, indent=2))
    _plot(out_dir / "success.png", results, summary)
    if rollouts:
        write_video(out_dir / "rollouts.mp4", [f for episode in rollouts for f in episode], fps)
    (out_dir / "summary.md").write_text(_markdown(results, summary, bool(rollouts)))
    return out_dir


def _markdown(results: list[EpisodeResult], summary: Summary, has_video: bool) -> str:
    times = [r.time_to_success_s for r in results if r.success and r.time_to_success_s]
    lines = [
        "# Closed-loop evaluation", "",
        "| metric | value |", "| --- | --- |",
        f"| episodes | {summary.episodes} |",
        f"| successes | {summary.successes} |",
        f"| success rate | {summary.success_rate:.1%} |",
        f"| 95% Wilson interval | {summary.ci95[0]:.1%} - {summary.ci95[1]:.1%} |",
    ]
    if times:
        lines.append(f"| mean time to success | {np.mean(times):.1f} s (sim) |")
    lines += [f"| {k} | {v} |" for k, v in summary.extra.items()]
    failures = [r for r in results if not r.success]
    if failures:
        lines += ["", "## Failed episodes", "", "| seed | reason | faults | stalled |",
                  "| --- | --- | --- | --- |"]
        lines += [f"| {r.seed} | {r.reason} | {r.faults} | {'yes' if r.stalled else 'no'} |"
                  for r in failures]
    lines += ["", "![success](success.png)"]
    if has_video:
        lines += ["", "Rollouts (policy camera | side view): [rollouts.mp4](rollouts.mp4)"]
    return "\n".join(lines) + "\n"


def _plot(path: Path, results: list[EpisodeResult], summary: Summary) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    success = np.array([r.success for r in results], dtype=float)
    n = np.arange(1, len(results) + 1)
    running = np.cumsum(success) / n
    bounds = np.array([wilson_interval(int(k), int(m)) for k, m in zip(np.cumsum(success), n,
                                                                        strict=True)])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax1.fill_between(n, bounds[:, 0], bounds[:, 1], alpha=0.25, label="95% Wilson interval")
    ax1.plot(n, running, label="success rate so far")
    ax1.scatter(n, success, s=8, c=np.where(success > 0, "tab:green", "tab:red"), label="episode")
    ax1.set(xlabel="episode", ylabel="success", ylim=(-0.05, 1.05),
            title=f"{summary.successes}/{summary.episodes} succeeded")
    ax1.legend(loc="lower right", fontsize=8)
    times = [r.time_to_success_s for r in results if r.success and r.time_to_success_s]
    ax2.hist(times or [0], bins=20, color="tab:blue")
    ax2.set(xlabel="time to success (s, sim)", ylabel="episodes", title="time to success")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_video(path: Path, frames: list[np.ndarray], fps: float) -> None:
    """RGB frames (all one size) to an mp4 file."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"cannot open a video writer for {path}")
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def side_by_side(images: list[np.ndarray], height: int = 240) -> np.ndarray:
    """Scales RGB images to one height and puts them next to each other (for rollout videos)."""
    scaled = [cv2.resize(im, (round(im.shape[1] * height / im.shape[0]), height),
                         interpolation=cv2.INTER_NEAREST) for im in images]
    return np.concatenate(scaled, axis=1)
