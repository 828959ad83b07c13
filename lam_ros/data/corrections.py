"""How much each tick of an episode counts in training (pure numpy).

A demonstration counts evenly. A correction episode (the policy drove, a person took over when it
went wrong, then let it carry on; ``SyncedEpisode.policy_ticks``) counts the person's ticks
``human`` times, the policy's own ticks ``policy`` times, and not at all the ``before_takeover_s``
of policy ticks before each take-over, where the policy was going wrong and the person was
deciding to step in. This is the weighting of intervention-based imitation (HG-DAgger keeps
only the person's labels; Sirius up-weights them and drops the moments before an intervention);
see docs/results.md "Learning from corrections" for the weights measured here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CorrectionWeights:
    human: float = 2.0  # a person's ticks in a correction episode
    policy: float = 1.0  # the policy's own ticks in a (successful) correction episode
    # Policy ticks before a take-over that count zero. A person steps in only after watching
    # the policy go wrong for a while (the simulated one: 2.5-3 s without progress, plus its
    # reaction), so one second left most of the going-wrong ticks at full weight.
    before_takeover_s: float = 3.0

    def __post_init__(self) -> None:
        for key in ("human", "policy", "before_takeover_s"):
            if not getattr(self, key) >= 0:
                raise ValueError(f"correction weight {key} must be >= 0, "
                                 f"got {getattr(self, key)}")
        if self.human == 0:
            raise ValueError("correction weight human must be > 0: a person's ticks are what a "
                             "correction teaches")


def tick_weights(policy_ticks: np.ndarray | None, n_ticks: int, control_hz: float,
                 weights: CorrectionWeights) -> np.ndarray:
    """float32 [T]; all ones for a demonstration (``policy_ticks`` None or never True)."""
    if policy_ticks is None or not policy_ticks.any():
        return np.ones(n_ticks, np.float32)
    out = np.where(policy_ticks, weights.policy, weights.human).astype(np.float32)
    window = int(round(weights.before_takeover_s * control_hz))
    takeovers = np.flatnonzero(policy_ticks[:-1] & ~policy_ticks[1:]) + 1
    for t in takeovers:
        out[max(0, t - window):t] = 0.0
    return out

