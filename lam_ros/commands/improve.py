"""`lam-ros improve`: learn from corrections in simulation, round after round.

Each round runs the current policy on fresh seeds with the simulated joystick person watching
(``record-sim --policy``: the person takes over when the policy goes wrong and hands back once
it is on track), records those episodes, continues training from the current policy on the
demonstrations and every correction so far (``train --init-from``), and evaluates the result on
held-out seeds. It prints success per round and the person's time: minutes watching (every
correction episode, start to end) and minutes driving (the ticks the person commanded).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import onnx

from lam_ros.commands.evaluate import EvalConfig, evaluate
from lam_ros.commands.record_sim import JOYSTICK, RecordSimConfig, record
from lam_ros.core.profile import load_profile
from lam_ros.data.cache import convert_dataset
from lam_ros.data.corrections import CorrectionWeights
from lam_ros.launcher import NodeExited
from lam_ros.policy.card import embedded_card
from lam_ros.policy.train import TrainConfig, train_policy
from lam_ros.policy.train_cli import add_correction_weight_arguments, correction_weights
from lam_ros.ros.sim_session import SessionError
from lam_ros.sim.operator import DEFAULT_STYLE, STYLES

CORRECTION_SEEDS = 50_000  # correction rounds draw their seeds from here (demos start at 0)


@dataclass(frozen=True)
class RoundResult:
    round: int
    model: str
    episodes: int  # correction episodes recorded this round (0 for the base policy)
    successes: int  # of those, the ones that ended in success
    takeovers: int
    watching_min: float  # the person's time over the correction episodes
    driving_min: float  # the part the person commanded
    eval_successes: int
    eval_episodes: int

    def row(self) -> str:
        rate = self.eval_successes / max(self.eval_episodes, 1)
        return (f"| {self.round} | {self.episodes} ({self.successes} ok) | {self.takeovers} | "
                f"{self.watching_min:.1f} | {self.driving_min:.1f} | "
                f"{self.eval_successes}/{self.eval_episodes} = {rate:.0%} |")


HEADER = ("| round | corrections | take-overs | person watching (min) | person driving (min) | "
          "success (held-out seeds) |\n| --- | --- | --- | --- | --- | --- |")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="the policy.onnx to improve (its folder "
                                                       "holds the checkpoint it continues from)")
    parser.add_argument("--data", required=True, nargs="+", metavar="DIR",
                        help="the demonstrations the policy learned from")
    parser.add_argument("--out", required=True, help="folder for every round's data and model")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--episodes", type=int, default=20, help="correction episodes a round")
    parser.add_argument("--train-minutes", type=float, default=5.0,
                        help="training budget a round (continuing from the last policy)")
    parser.add_argument("--train-steps", type=int, default=100_000,
                        help="step budget a round (whichever of the two ends first)")
    parser.add_argument("--lr", type=float, default=0.0,
                        help="peak learning rate of each round's training (default: the "
                             "policy's own)")
    parser.add_argument("--eval-episodes", type=int, default=50,
                        help="held-out seeds each policy is evaluated on (0: none)")
    parser.add_argument("--time-limit", type=float, default=0.0, dest="time_limit_s",
                        help="evaluation sim seconds per episode (default: the task's)")
    parser.add_argument("--style", choices=sorted(STYLES), default=DEFAULT_STYLE,
                        help="the simulated person's style")
    parser.add_argument("--cache-dir", default="", help="converted-episode cache")
    add_correction_weight_arguments(parser)
    parser.add_argument("--skip-base-eval", action="store_true",
                        help="do not evaluate the starting policy (round 0)")


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    try:
        results = improve(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"lam-ros improve: error: {exc}", file=sys.stderr)
        return 2
    except (NodeExited, SessionError) as exc:
        print(f"lam-ros improve: error: {exc}", file=sys.stderr)
        return 1
    print(HEADER)
    print("\n".join(r.row() for r in results))
    return 0


def improve(args: argparse.Namespace) -> list[RoundResult]:
    if args.rounds < 1 or args.episodes < 1:
        raise ValueError("--rounds and --episodes must be >= 1")
    model = Path(args.model).resolve()
    base = base_config(model)
    card = embedded_card(onnx.load(str(model)), model)
    if not card.task:
        raise ValueError(f"--model: {model}'s card names no simulated task to correct it on")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    results = []
    if not args.skip_base_eval:
        results.append(RoundResult(0, str(model), 0, 0, 0, 0.0, 0.0, *evaluated(
            model, base.profile, card.task, args, out / "round_0_eval")))
        print(HEADER + "\n" + results[-1].row(), flush=True)
    corrections: list[str] = []
    for k in range(1, args.rounds + 1):
        folder = out / f"round_{k}"
        data = folder / "corrections"
        outcomes = record(RecordSimConfig(
            data=str(data), episodes=args.episodes, task=card.task, profile=base.profile,
            seed_offset=CORRECTION_SEEDS + (k - 1) * args.episodes, time_limit_s=60.0,
            operator=JOYSTICK, style=args.style, policy=str(model)))
        corrections.append(str(data))
        takeovers, watching, driving = person_time(data, base.profile, args.cache_dir)
        result = train_policy(replace(
            base, data_dir=args.data[0], more_data=(*args.data[1:], *corrections),
            out_dir=str(folder / "model"), init_from=str(model.parent),
            minutes=args.train_minutes, steps=args.train_steps, lr=args.lr or base.lr,
            resume=False,
            cache_dir=args.cache_dir or base.cache_dir, progress=True,
            correction_weights=correction_weights(args)))
        model = Path(result.model_path)
        results.append(RoundResult(
            k, str(model), len(outcomes), sum(ok for _, ok, _ in outcomes), takeovers,
            watching / 60, driving / 60,
            *evaluated(model, base.profile, card.task, args, folder / "eval")))
        print(HEADER + "\n" + "\n".join(r.row() for r in results), flush=True)
    (out / "rounds.json").write_text(json.dumps([asdict(r) for r in results], indent=2))
    return results


def base_config(model: Path) -> TrainConfig:
    """The training settings of the policy in ``model``'s folder (family, options, chunk, ...):
    continuing from it needs the same model."""
    path = model.parent / "training_config.json"
    if not path.is_file():
        raise FileNotFoundError(f"--model: no training_config.json beside {model} (a policy "
                                "trained by lam-ros train holds one, with its checkpoint)")
    saved = json.loads(path.read_text())
    known = {f.name for f in fields(TrainConfig)}
    saved = {k: v for k, v in saved.items() if k in known}
    saved["more_data"] = tuple(saved.get("more_data", ()))
    saved["correction_weights"] = CorrectionWeights(**saved.get("correction_weights", {}))
    return TrainConfig(**saved)


def person_time(data: Path, profile: str, cache_dir: str) -> tuple[int, float, float]:
    """Take-overs, seconds watching and seconds driving over the correction episodes under
    ``data`` (failed ones too: the person spent that time)."""
    robot = load_profile(profile)
    conversion = convert_dataset(data, robot, cache_dir=cache_dir or None, include_failed=True,
                                 progress=False)
    takeovers, watching, driving = 0, 0.0, 0.0
    for episode in conversion.episodes:
        ticks = episode.policy_ticks
        watching += len(episode.stamps_ns) / robot.control_hz
        if ticks is not None:
            driving += float((~ticks).sum()) / robot.control_hz
            takeovers += int((ticks[:-1] & ~ticks[1:]).sum())
    return takeovers, watching, driving


def evaluated(model: Path, profile: str, task: str, args: argparse.Namespace,
              report: Path) -> tuple[int, int]:
    """(successes, episodes) of ``model`` on the held-out seeds."""
    if args.eval_episodes < 1:
        return 0, 0
    summary, _ = evaluate(EvalConfig(model=str(model), episodes=args.eval_episodes,
                                     report_dir=str(report), profile=profile, task=task,
                                     time_limit_s=args.time_limit_s,
                                     video_episodes=0))
    return summary.successes, summary.episodes

