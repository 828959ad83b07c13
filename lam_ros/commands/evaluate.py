"""`lam-ros evaluate`: closed-loop evaluation of a policy against the simulator, over ROS.

sim_node (lockstep, on its own clock) and policy_node run as processes talking real DDS; each
episode gets a held-out seed, the policy is enabled, and the sim decides success. One such graph
keeps about one CPU core busy (the sim renders, the policy waits; then the other way round), so
``workers`` graphs run side by side, each in its own ROS domain (``ROS_DOMAIN_ID + k``), taking
seeds from one queue.
"""

from __future__ import annotations

import argparse
import math
import os
import queue
import sys
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from threading import BrokenBarrierError, Lock

import onnx
import rclpy
from tqdm import tqdm

from lam_ros.core.profile import load_profile
from lam_ros.launcher import NodeExited, NodeGroup, NodeSpec
from lam_ros.policy.card import CardMismatchError, embedded_card
from lam_ros.ros.sim_session import EpisodeOutcome, SessionError, SimSession, make_context
from lam_ros.sim.config import SIM_PROFILE
from lam_ros.sim.report import EpisodeResult, Summary, side_by_side, summarize, write_report
from lam_ros.sim.seeds import eval_seeds
from lam_ros.sim.tasks import TASKS, get_task


@dataclass(frozen=True)
class EvalConfig:
    model: str
    episodes: int = 50
    first_seed: int = 0  # index into the held-out evaluation seeds
    report_dir: str = ""  # default: <model folder>/eval
    profile: str = SIM_PROFILE
    task: str = ""  # default: the task the policy card names
    time_limit_s: float = 0.0  # sim seconds per episode; 0 = the task's
    video_episodes: int = 3
    workers: int = 0  # graphs side by side; 0 = one per CPU core, at most MAX_DEFAULT_WORKERS

    def __post_init__(self) -> None:
        if not Path(self.model).is_file():
            raise FileNotFoundError(f"--model {self.model}: no such file")
        if self.episodes < 1:
            raise ValueError(f"--episodes must be >= 1, got {self.episodes}")
        if self.workers < 0:
            raise ValueError(f"--workers must be >= 0, got {self.workers}")
        if self.task:
            get_task(self.task)


# Two graphs on 2 cores evaluated 20 episodes in 67 s where one took 61 s for 10 (1.8 times the
# episodes per minute); by default no more than this many, to leave ROS domains to others.
MAX_DEFAULT_WORKERS = 4
MAX_DOMAIN_ID = 101  # the highest ROS_DOMAIN_ID whose DDS ports are valid on every platform


def worker_domains(workers: int, episodes: int, base: str | None = None) -> list[int]:
    """The ROS domain of each evaluation graph: the caller's ROS_DOMAIN_ID (``base``, default
    the environment's), then the next ones. ``workers`` 0 means one per usable CPU core, at
    most MAX_DEFAULT_WORKERS and as many as fit below MAX_DOMAIN_ID; never more graphs than
    episodes. A single graph keeps the caller's domain, whatever it is."""
    raw = os.environ.get("ROS_DOMAIN_ID", "") if base is None else base
    try:
        first = int(raw or "0")
    except ValueError:
        raise ValueError(f"ROS_DOMAIN_ID={raw!r} is not a number") from None
    if workers:
        count = min(workers, episodes)
    else:
        cores = len(os.sched_getaffinity(0))
        count = max(1, min(cores, MAX_DEFAULT_WORKERS, episodes, MAX_DOMAIN_ID - first + 1))
    if count > 1 and not 0 <= first <= MAX_DOMAIN_ID - count + 1:
        raise ValueError(f"--workers {count} from ROS_DOMAIN_ID={first} needs domains "
                         f"{first}-{first + count - 1}; valid ones are 0-{MAX_DOMAIN_ID} "
                         f"(use fewer workers or a lower ROS_DOMAIN_ID)")
    return [first + k for k in range(count)]


class _Stopped(Exception):
    """Another graph failed, or the user stopped the evaluation: this graph stops too."""


def task_to_evaluate(model: str | Path, requested: str) -> str:
    """The task a policy is evaluated on: the one its card names. Another task is refused; a
    card without one (written before tasks had names) takes ``requested``, else pick_place."""
    try:
        proto = onnx.load(str(model))
    except Exception as exc:  # protobuf's DecodeError and friends
        raise CardMismatchError(f"{model} is not a readable ONNX model: {exc}") from None
    trained = embedded_card(proto, model).task
    if requested and trained and requested != trained:
        raise CardMismatchError(f"task: {model} was trained on {trained!r}, not {requested!r}; "
                                f"evaluate it on {trained!r} or train a policy for {requested!r}")
    return trained or requested or "pick_place"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="policy.onnx to evaluate")
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0, dest="first_seed",
                        help="index of the first held-out evaluation seed")
    parser.add_argument("--report", default="", dest="report_dir",
                        help="report folder (default: <model folder>/eval)")
    parser.add_argument("--profile", default=SIM_PROFILE)
    parser.add_argument("--task", default="", choices=["", *sorted(TASKS)],
                        help="simulated task (default: the one the policy card names)")
    parser.add_argument("--time-limit", type=float, default=0.0, dest="time_limit_s",
                        help="sim seconds per episode (default: the task's)")
    parser.add_argument("--video-episodes", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0,
                        help="sim + policy graphs evaluating side by side, each in its own ROS "
                             "domain (ROS_DOMAIN_ID, then the next ones); default: one per CPU "
                             f"core, at most {MAX_DEFAULT_WORKERS}")


def run(args: argparse.Namespace) -> int:
    config = EvalConfig(**{k: v for k, v in vars(args).items()
                           if k in EvalConfig.__dataclass_fields__})
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    try:
        summary, report = evaluate(config)
    except (NodeExited, SessionError, CardMismatchError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"report: {report}")
    print(f"stalled: {summary.extra['stalled']}")
    print(summary.last_line())
    return 0


def node_specs(config: EvalConfig, task: str) -> list[NodeSpec]:
    return [
        NodeSpec("sim_node", params={"profile": config.profile, "task": task, "lockstep": True,
                                     "real_time_factor": 0.0, "publish_side_view": True}),
        NodeSpec("policy_node", use_sim_time=True,
                 params={"profile": config.profile, "model": str(Path(config.model).resolve())}),
    ]


def evaluate(config: EvalConfig) -> tuple[Summary, Path]:
    profile = load_profile(config.profile)
    task = task_to_evaluate(config.model, config.task)
    time_limit_s = config.time_limit_s or get_task(task).time_limit_s
    report_dir = Path(config.report_dir or Path(config.model).parent / "eval")
    seeds = eval_seeds(config.episodes, start=config.first_seed)
    domains = worker_domains(config.workers, len(seeds))
    todo: queue.Queue[int] = queue.Queue()
    for i in range(len(seeds)):
        todo.put(i)
    results: dict[int, EpisodeResult] = {}
    rollouts: dict[int, list] = {}
    statuses: list[dict[str, str]] = []
    video_topics = {"policy": profile.cameras[0].topic, "side": "/sim_node/side_view/image_raw"}
    stop = threading.Event()  # a graph failed, or Ctrl-C: every graph stops
    ready = threading.Barrier(len(domains))  # graphs start together and share the seeds
    progress, progress_lock = tqdm(total=len(seeds), desc="evaluate", unit="episode"), Lock()

    def work(k: int, domain: int) -> None:
        context = None
        try:
            context = make_context(domain)
            logs = report_dir / "logs" / (f"worker{k}" if len(domains) > 1 else "")
            with NodeGroup(node_specs(config, task), log_dir=logs,
                           env={"ROS_DOMAIN_ID": str(domain)}) as nodes:
                session = SimSession(context, video_topics, name=f"lam_ros_evaluate_{k}",
                                     joint_state_topic=profile.joint_state_topics[0], stop=stop)
                try:
                    session.wait_ready(timeout_s=60.0, check=lambda: _check(stop, nodes))
                    ready.wait()
                    while (i := _next(todo)) is not None:
                        result, frames = _episode(session, nodes, seeds[i], time_limit_s,
                                                  i < config.video_episodes, stop)
                        results[i] = result
                        if frames:
                            rollouts[i] = frames
                        outcome = "success" if result.success else "FAIL " + result.reason
                        tqdm.write(f"seed {seeds[i]}: {outcome}")
                        with progress_lock:
                            progress.update()
                finally:
                    statuses.append(session.policy_status())
                    session.close()
        except BaseException:
            stop.set()
            ready.abort()
            raise
        finally:
            if context is not None:
                rclpy.try_shutdown(context=context)

    pool = ThreadPoolExecutor(len(domains), thread_name_prefix="evaluate")
    futures = [pool.submit(work, k, d) for k, d in enumerate(domains)]
    try:
        wait(futures)
    except BaseException:  # Ctrl-C or SIGTERM: each graph ends its episode and its nodes
        stop.set()
        ready.abort()
        raise
    finally:
        pool.shutdown(wait=True)
        progress.close()
    errors = [f.exception() for f in futures if f.exception() is not None]
    first_cause = [e for e in errors if not isinstance(e, _Stopped | BrokenBarrierError)]
    if errors:
        raise (first_cause or errors)[0]  # the graph that failed first says why
    ordered = [results[i] for i in sorted(results)]
    extra = {**_latency_figures(statuses), "workers": str(len(domains))}
    summary = summarize(ordered, {"model": config.model, "task": task, **extra})
    write_report(report_dir, ordered, summary, [rollouts[i] for i in sorted(rollouts)],
                 fps=profile.control_hz)
    return summary, report_dir


def _episode(session: SimSession, nodes: NodeGroup, seed: int, time_limit_s: float,
             record: bool, stop: threading.Event) -> tuple[EpisodeResult, list]:
    """One episode; a crashed or hung graph becomes a failed episode and is restarted. Raises
    _Stopped once ``stop`` is set (the episode is then not counted)."""
    _check(stop, nodes, restartable=True)
    graph_broken = False
    faults_before = _faults(session.policy_status())
    try:
        session.set_policy_enabled(False)
        # The side view is for the video only: rendering it costs more than the rest of a step.
        session.set_parameter("sim_node", "publish_side_view", record)
        session.reset(seed)
        outcome = session.run_episode(
            time_limit_s, wall_limit_s=120.0, record=record,
            alive=lambda: "stopped" if stop.is_set() else nodes.exit_reasons())
    except SessionError as exc:
        outcome, graph_broken = EpisodeOutcome(False, None, str(exc), []), True
    _check(stop, nodes, restartable=True)
    if graph_broken or nodes.dead() or outcome.reason.startswith("hung"):
        for name in nodes.procs:
            nodes.restart(name)
        session.wait_ready(timeout_s=60.0, check=lambda: _check(stop, nodes))
    frames = [side_by_side([f[k] for k in ("policy", "side") if k in f]) for f in outcome.frames]
    # A restarted policy node counts from zero again.
    faults = max(0, _faults(session.policy_status()) - faults_before)
    return EpisodeResult(seed, outcome.success, outcome.time_to_success_s, faults,
                         outcome.reason, outcome.still_s), frames


def _check(stop: threading.Event, nodes: NodeGroup, restartable: bool = False) -> None:
    """Raises _Stopped once ``stop`` is set; else NodeExited for a node that exited (unless
    ``restartable``: between episodes, a dead graph is restarted)."""
    if stop.is_set():
        raise _Stopped()
    if not restartable:
        nodes.check()


def _next(todo: queue.Queue[int]) -> int | None:
    try:
        return todo.get_nowait()
    except queue.Empty:
        return None


def _faults(status: dict[str, str]) -> int:
    """Total faults the policy node has counted (its counters are cumulative)."""
    return sum(int(v) for k, v in status.items() if k.startswith("faults."))


def _latency_figures(statuses: list[dict[str, str]]) -> dict[str, str]:
    """Each latency figure's worst value over the graphs (they ran side by side, so under each
    other's load), and every provider they ran on."""
    figures: dict[str, str] = {}
    providers = sorted({s["provider"] for s in statuses if "provider" in s})
    if providers:
        figures["provider"] = ", ".join(providers)
    for status in statuses:
        for key, value in status.items():
            if key.endswith(("_p50_ms", "_p99_ms")) and math.isfinite(_number(value)):
                figures[key] = max(figures.get(key, value), value, key=_number)
    return dict(sorted(figures.items()))


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan

