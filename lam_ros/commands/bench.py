"""`lam-ros bench <name> [args]`: runs bench/<name>.py from the source checkout.

Benchmarks print figures (ratios against a reference measured in the same run); they are never
timed assertions in the tests.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    available = sorted(p.stem for p in BENCH_DIR.glob("*.py")) if BENCH_DIR.is_dir() else []
    parser.add_argument("name", choices=available or None, help="benchmark to run")
    parser.add_argument("bench_args", nargs=argparse.REMAINDER, help="its own arguments")


def run(args: argparse.Namespace) -> int:
    script = BENCH_DIR / f"{args.name}.py"
    if not script.is_file():
        print(f"no benchmark {script}; benchmarks ship with the source checkout", file=sys.stderr)
        return 2
    sys.argv = [str(script), *args.bench_args]
    runpy.run_path(str(script), run_name="__main__")
    return 0
