"""Episode seeds: demonstrations and evaluation draw from ranges that never overlap."""

from __future__ import annotations

EVAL_SEED_START = 100_000  # demonstrations use seeds below this, evaluation from here up


def demo_seeds(n: int, start: int = 0) -> list[int]:
    """Seeds for recording demonstrations: ``start`` .. ``start + n - 1``, below the eval range."""
    if n < 0 or start < 0 or start + n > EVAL_SEED_START:
        raise ValueError(f"demo seeds {start}..{start + n - 1} must lie in "
                         f"0..{EVAL_SEED_START - 1}")
    return list(range(start, start + n))


def eval_seeds(n: int, start: int = 0) -> list[int]:
    """Held-out seeds for evaluation: ``EVAL_SEED_START + start`` onwards."""
    if n < 0 or start < 0:
        raise ValueError(f"eval seed count and offset must be >= 0, got n={n}, start={start}")
    return list(range(EVAL_SEED_START + start, EVAL_SEED_START + start + n))
