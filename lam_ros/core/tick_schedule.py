"""When policy_node's control tick runs: as the joint-state reading that opens each control period
arrives, or on a free-running timer.

On a timer, the newest observation waits for the tick: up to one joint-state period (10 ms at
100 Hz) is added to every command's latency, at a phase that drifts. Ticking on the reading
itself removes that wait: the command answers the reading within the node's own work. The
readings' stamps lay out a grid of control periods (re-anchored after a gap or a clock jump),
so the command rate stays the control rate whatever the joint-state rate.

Either way a timer at the control period keeps watch: with readings it stays quiet; when no tick
ran for ``WATCHDOG_PERIODS`` (the readings stopped) it ticks, and that tick holds on the stale
observation and counts the fault, as the timer tick always did. Pure: no ROS.
"""

from __future__ import annotations

JOINT_STATES, TIMER = "joint_states", "timer"
TICK_SOURCES = (JOINT_STATES, TIMER)
WATCHDOG_PERIODS = 1.5
_EPS = 1e-6  # s: stamps on the grid up to float noise count as on it


class TickSchedule:
    """Decides, per joint-state reading and per timer callback, whether to tick now. Times are
    ROS seconds (the readings' stamps, the node's clock)."""

    def __init__(self, period_s: float, source: str = JOINT_STATES):
        if source not in TICK_SOURCES:
            raise ValueError(f"tick source must be one of {TICK_SOURCES}, got {source!r}")
        if not period_s > 0:
            raise ValueError(f"control period must be > 0, got {period_s}")
        self.period_s = period_s
        self.source = source
        self._next_due: float | None = None  # the next grid point, ROS seconds
        self._last_tick: float | None = None

    def on_reading(self, stamp: float) -> bool:
        """A joint-state reading stamped ``stamp`` arrived: True when it opens a control period
        (the node ticks now). Several readings of one instant open at most one period."""
        if self.source != JOINT_STATES:
            return False
        due = self._next_due
        if due is not None and due - 2 * self.period_s <= stamp < due - _EPS:
            return False  # inside the current period
        # On the grid, or the first reading, or after a gap (a period or more without one) or a
        # clock jump back (a simulator reset): re-anchor the grid at this reading.
        on_grid = due is not None and due - _EPS <= stamp < due + self.period_s
        self._next_due = (due if on_grid else stamp) + self.period_s
        return True

    def on_timer(self, now: float) -> bool:
        """The control-period timer fired at ``now``: True when it should tick. On a timer,
        always; ticking on readings, only when none ran for WATCHDOG_PERIODS (or ever)."""
        if self.source == TIMER:
            return True
        last = self._last_tick
        return last is None or not 0 <= now - last < WATCHDOG_PERIODS * self.period_s

    def ticked(self, now: float) -> None:
        """A tick ran at ``now`` (either trigger)."""
        self._last_tick = now
