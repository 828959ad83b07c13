"""Policy families against tasks: `lam-ros bench suite [--tasks ...] [--policies ...]`.

For each task: demonstrations recorded through the ROS graph (or reused from <out>/data/<task>);
for each (task, policy) cell: train within one budget, then evaluate closed loop over ROS on
held-out seeds. Each finished cell writes <out>/cells/<task>/<policy>/cell.json; a rerun keeps
those cells and measures only the missing ones (task-major, so a partial run gives full rows).
After every cell, <out>/SUITE.md (success with its 95% Wilson interval, training minutes,
inference p99) and <out>/suite.png (grouped bars) are written again.

    lam-ros bench suite --tasks pick_place_random stack --policies conv act flow --demos 50 \\
        --eval-episodes 100 --train-minutes 15 [--train-steps 100000] [--robot panda_sim] \\
        [--out runs/suite]
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import shutil
import sys
from pathlib import Path

CELL_FILE = "cell.json"
MISSING = "\u2014"  # an em dash: a cell not measured yet


# --- cells on disk ---------------------------------------------------------------------------
def cell_dir(out: Path, task: str, policy: str) -> Path:
    return Path(out) / "cells" / task / policy


def read_cell(folder: Path) -> dict | None:
    """The finished cell in ``folder``, or None when it has none (or an unreadable one)."""
    try:
        return json.loads((Path(folder) / CELL_FILE).read_text())
    except (OSError, ValueError):
        return None


def read_cells(out: Path) -> dict[tuple[str, str], dict]:
    """Every finished cell under <out>/cells, by (task, policy)."""
    cells = {}
    for path in sorted((Path(out) / "cells").glob(f"*/*/{CELL_FILE}")):
        if (cell := read_cell(path.parent)) is not None:
            cells[(path.parent.parent.name, path.parent.name)] = cell
    return cells


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def _number(value) -> float | None:
    """A finite float from a figure (the policy node reports strings), else None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def make_cell(task: str, policy: str, robot: str, summary, result) -> dict:
    """cell.json's content from evaluate's Summary and train_policy's TrainResult."""
    extra = summary.extra or {}
    return {
        "task": task, "policy": policy, "robot": robot,
        "demos": result.episodes,
        "successes": summary.successes, "episodes": summary.episodes,
        "success_rate": summary.success_rate,
        "ci95": [float(summary.ci95[0]), float(summary.ci95[1])],
        "train_minutes": result.train_seconds / 60.0,
        "steps": result.steps,
        "val_l1": _number(result.val_l1),
        "inference_p99_ms": _number(extra.get("inference_p99_ms")),
        "obs_to_command_p99_ms": _number(extra.get("obs_to_command_p99_ms")),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }


# --- the report (pure) -----------------------------------------------------------------------
def _percent(x: float) -> str:
    return f"{100.0 * x:.0f}"


def format_cell(cell: dict | None) -> str:
    """`87/100 = 87% [79-92] · 15.0 min · p99 3.1 ms`, or an em dash for no cell."""
    if cell is None:
        return MISSING
    low, high = cell["ci95"]
    parts = [f"{cell['successes']}/{cell['episodes']} = {_percent(cell['success_rate'])}% "
             f"[{_percent(low)}-{_percent(high)}]"]
    if cell.get("train_minutes") is not None:
        parts.append(f"{cell['train_minutes']:.1f} min")
    if cell.get("inference_p99_ms") is not None:
        parts.append(f"p99 {cell['inference_p99_ms']:.1f} ms")
    return " \u00b7 ".join(parts)


def table_axes(cells: dict[tuple[str, str], dict], tasks: list[str],
               policies: list[str]) -> tuple[list[str], list[str]]:
    """The requested tasks and policies and any others already measured under <out>, in the
    order the task and policy registries list them (so columns never move between runs)."""
    from lam_ros.policy.families import FAMILIES
    from lam_ros.sim.tasks import TASKS

    def ordered(names, registry):
        known = list(registry)
        return sorted(set(names), key=lambda n: (known.index(n) if n in known else len(known), n))

    return (ordered([*tasks, *(t for t, _ in cells)], TASKS),
            ordered([*policies, *(p for _, p in cells)], FAMILIES))


def suite_markdown(cells: dict[tuple[str, str], dict], tasks: list[str], policies: list[str],
                   settings: dict) -> str:
    """SUITE.md: one row per task, one column per policy, then each cell's training figures.

    ``settings``: robot, demos, eval_episodes, train_minutes, train_steps (what was asked for).
    """
    tasks, policies = table_axes(cells, tasks, policies)
    measured = sum((t, p) in cells for t in tasks for p in policies)
    lines = [
        "# Benchmark suite: policy families x tasks", "",
        f"Robot `{settings['robot']}`; {settings['demos']} scripted-expert demonstrations per "
        f"task, recorded through the ROS graph; each policy trained for "
        f"{settings['train_minutes']:g} min (at most {settings['train_steps']} steps), then "
        f"evaluated closed loop over ROS on {settings['eval_episodes']} held-out seeds. "
        f"{measured} of {len(tasks) * len(policies)} cells measured.", "",
        "Cell: successes/episodes = rate [95% Wilson interval, %] \u00b7 training minutes "
        f"\u00b7 inference p99 (onnxruntime); {MISSING} = not measured yet.", "",
        "| task | " + " | ".join(policies) + " |",
        "| --- |" + " --- |" * len(policies),
    ]
    for task in tasks:
        lines.append(f"| {task} | "
                     + " | ".join(format_cell(cells.get((task, p))) for p in policies) + " |")
    lines += ["", "| task | policy | demos | steps | val L1 (rad) | obs to command p99 | date |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for task in tasks:
        for policy in policies:
            if (cell := cells.get((task, policy))) is None:
                continue
            val = cell.get("val_l1")
            o2c = cell.get("obs_to_command_p99_ms")
            lines.append(f"| {task} | {policy} | {cell.get('demos', '?')} | "
                         f"{cell.get('steps', '?')} | "
                         f"{'n/a' if val is None else f'{val:.4f}'} | "
                         f"{'n/a' if o2c is None else f'{o2c:.1f} ms'} | "
                         f"{cell.get('date', '?')} |")
    return "\n".join(lines) + "\n"


def plot_suite(cells: dict[tuple[str, str], dict], tasks: list[str], policies: list[str],
               path: Path, title: str = "") -> Path:
    """Grouped bars: tasks on the x axis, one bar per policy, 95% Wilson error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks, policies = table_axes(cells, tasks, policies)
    width = 0.8 / max(1, len(policies))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.5 + 0.5 * len(tasks) * len(policies)), 4))
    for i, policy in enumerate(policies):
        xs, rates, below, above = [], [], [], []
        for j, task in enumerate(tasks):
            if (cell := cells.get((task, policy))) is None:
                continue
            low, high = cell["ci95"]
            rate = cell["success_rate"]
            xs.append(j - 0.4 + width * (i + 0.5))
            rates.append(rate)
            below.append(max(0.0, rate - low))
            above.append(max(0.0, high - rate))
        ax.bar(xs, rates, width, yerr=[below, above], capsize=3, label=policy, color=f"C{i}")
    ax.set_xticks(range(len(tasks)), tasks)
    ax.set_xlim(-0.6, len(tasks) - 0.4)
    ax.set_ylim(0.0, 1.0)
    ax.set_ylabel("success rate (held-out seeds)")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(title="policy", fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def write_report(out: Path, tasks: list[str], policies: list[str], settings: dict) -> None:
    cells = read_cells(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "SUITE.md.tmp"
    tmp.write_text(suite_markdown(cells, tasks, policies, settings))
    os.replace(tmp, out / "SUITE.md")
    plot_suite(cells, tasks, policies, out / "suite.png",
               title=f"{settings['robot']}, {settings['demos']} demos, "
                     f"{settings['train_minutes']:g} min training, "
                     f"{settings['eval_episodes']} held-out seeds")


# --- the run ---------------------------------------------------------------------------------
def measure_cell(out: Path, task: str, policy: str, data: Path, args) -> dict:
    """Trains and evaluates one cell from scratch; writes and returns its cell.json."""
    from lam_ros.commands.evaluate import EvalConfig, evaluate
    from lam_ros.policy.train import TrainConfig, train_policy

    folder = cell_dir(out, task, policy)
    if folder.exists():  # an interrupted earlier attempt: start clean
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    result = train_policy(TrainConfig(data_dir=str(data), out_dir=str(folder / "model"),
                                      profile=args.robot, policy=policy,
                                      cache_dir=str(out / "cache"),
                                      minutes=args.train_minutes, steps=args.train_steps))
    summary, _ = evaluate(EvalConfig(model=str(result.model_path), episodes=args.eval_episodes,
                                     profile=args.robot, task=task,
                                     report_dir=str(folder / "eval")))
    cell = make_cell(task, policy, args.robot, summary, result)
    write_json_atomic(folder / CELL_FILE, cell)
    return cell


def run_suite(args: argparse.Namespace) -> int:
    from lam_ros.commands.demo import ensure_demonstrations

    out = Path(args.out)
    settings = {"robot": args.robot, "demos": args.demos, "eval_episodes": args.eval_episodes,
                "train_minutes": args.train_minutes, "train_steps": args.train_steps}
    write_report(out, args.tasks, args.policies, settings)
    total = len(args.tasks) * len(args.policies)
    done = 0
    for task in args.tasks:
        data = None
        for policy in args.policies:
            done += 1
            name = f"{task}/{policy}"
            kept = read_cell(cell_dir(out, task, policy))
            if kept is not None:
                print(f"kept {name}: {kept['successes']}/{kept['episodes']}", flush=True)
                _note_other_settings(name, kept, args)
                continue
            if data is None:
                data = ensure_demonstrations(out / "data", task, args.demos, args.robot)
            print(f"cell {done}/{total} {name}: training ({args.train_minutes:g} min, at most "
                  f"{args.train_steps} steps), then {args.eval_episodes} held-out seeds",
                  flush=True)
            cell = measure_cell(out, task, policy, data, args)
            write_report(out, args.tasks, args.policies, settings)
            print(f"done {name}: {format_cell(cell)}", flush=True)
    print(f"suite: {out / 'SUITE.md'}, {out / 'suite.png'}")
    return 0


def _note_other_settings(name: str, cell: dict, args) -> None:
    asked = {"robot": args.robot, "episodes": args.eval_episodes}
    other = [f"{k} {cell.get(k)} (asked: {v})" for k, v in asked.items() if cell.get(k) != v]
    if other:
        print(f"  note: {name} was measured with {', '.join(other)}; delete "
              f"{cell_dir(Path(args.out), *name.split('/'))} to measure it again")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["pick_place_random", "stack"])
    parser.add_argument("--policies", nargs="+", default=["conv", "act", "flow"])
    parser.add_argument("--demos", type=int, default=50, help="demonstrations per task")
    parser.add_argument("--eval-episodes", type=int, default=100, help="held-out seeds per cell")
    parser.add_argument("--train-minutes", type=float, default=15.0,
                        help="training wall-clock budget per cell (0 = steps only)")
    parser.add_argument("--train-steps", type=int, default=100_000, help="training step cap")
    parser.add_argument("--robot", default="panda_sim", help="simulated robot profile")
    parser.add_argument("--out", default="runs/suite", help="folder for data, cells and report")
    args = parser.parse_args(argv)
    args.tasks = list(dict.fromkeys(args.tasks))
    args.policies = list(dict.fromkeys(args.policies))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    # evaluate takes this domain and up to 3 more: not the tests' 50..97 nor the demo's 42..45
    os.environ.setdefault("ROS_DOMAIN_ID", "46")
    from lam_ros.launcher import NodeExited
    from lam_ros.policy.families import FAMILIES
    from lam_ros.ros.sim_session import SessionError
    from lam_ros.sim.tasks import TASKS

    for kind, names, known in (("task", args.tasks, TASKS), ("policy", args.policies, FAMILIES)):
        if unknown := [n for n in names if n not in known]:  # before anything is recorded
            print(f"error: unknown {kind} {', '.join(unknown)}; known: {', '.join(known)}",
                  file=sys.stderr)
            return 2
    try:
        return run_suite(args)
    except (NodeExited, SessionError) as exc:  # a node refused to start or died: say why
        print(f"error: {exc}", file=sys.stderr)
        print("cells already finished are kept; the same command again resumes",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
