"""When policy_node's control tick runs: as the joint-state reading that opens each control period
arrives, or on a free-running timer.

On a timer, the newest observation waits for the tick: up to one joint-state period (10 ms at
100 Hz) is added to every command's latency, at a phase that drifts. Ticking on the reading
itself removes that wait: with inline inference the command answers the reading within the
node's own work. The readings' stamps lay out a grid of control periods; the reading nearest a
grid point (within half the readings' own interval, so stamp jitter cannot move a tick by a
whole reading) opens its period. A missing reading or a clock jump back re-anchors the grid at
the next one, if the node has not ticked for most of a period (so readings whose stamps jump
about cannot tick faster than the control rate). So commands go out at the control rate when
joint states come at least that fast; slower joint states tick once each.

Either way a timer at the control period keeps watch: while readings open periods it stays
quiet; once none did for ``WATCHDOG_PERIODS`` (the readings stopped) it ticks every period, as
the timer tick always did: the schedule in force goes on until the observation is older than
the stale limit, then every tick holds and counts the fault. Pure: no ROS.
"""

from __future__ import annotations

JOINT_STATES, TIMER = "joint_states", "timer"
TICK_SOURCES = (JOINT_STATES, TIMER)
WATCHDOG_PERIODS = 1.5
_EPS = 1e-6  # s: stamps on the grid up to float noise count as on it


class TickSchedule:
    """Decides, per joint-state reading and per timer callback, whether to tick now. Stamps and
    ``now`` are ROS seconds; ``now`` is the node's clock. A tick started by a reading is for
    ``tick_time``: on simulated time the /clock message of an instant may come after its
    reading, so the node's clock can lag the reading by a period."""

    def __init__(self, period_s: float, source: str = JOINT_STATES):
        if source not in TICK_SOURCES:
            raise ValueError(f"tick source must be one of {TICK_SOURCES}, got {source!r}")
        if not period_s > 0:
            raise ValueError(f"control period must be > 0, got {period_s}")
        self.period_s = period_s
        self.source = source
        self._next_due: float | None = None  # the next grid point (a reading stamp's time)
        self._last_stamp: float | None = None
        self._interval = 0.0  # between the last two readings of distinct stamps, <= a period
        self._last_reading_tick: float | None = None  # tick time
        self._last_tick: float | None = None  # tick time, reading or watchdog

    def tick_time(self, stamp: float, now: float) -> float:
        """The time a tick started by a reading decides for: never before the reading it answers,
        and at most a period ahead of the node's clock (a stamp further ahead is wrong)."""
        return max(now, min(stamp, now + self.period_s))

    def on_reading(self, stamp: float, now: float) -> bool:
        """A joint-state reading stamped ``stamp`` arrived at ``now``: True when it opens a
        control period (the node ticks now). Readings of one instant open at most one."""
        if self.source != JOINT_STATES:
            return False
        now = self.tick_time(stamp, now)
        if self._last_stamp is not None and 0 < stamp - self._last_stamp <= self.period_s:
            self._interval = stamp - self._last_stamp
        self._last_stamp = stamp
        due, early = self._next_due, self._interval / 2
        if due is not None and due - 2 * self.period_s <= stamp < due - early - _EPS:
            return False  # inside the current period
        # Near the grid point: the grid goes on. Else (the first reading, one after a missing
        # reading or a gap, a clock jump back): the grid re-anchors here, unless the node ticked
        # less than a period ago (readings whose stamps jump about must not tick at their rate).
        # A reading on the grid may come soon after a watchdog tick, not within half a period.
        on_grid = due is not None and due - early - _EPS <= stamp < due + early + _EPS
        if self._ticked_within(self.period_s / 2 if on_grid else self.period_s - early, now):
            return False
        self._next_due = (due if on_grid else stamp) + self.period_s
        self._last_reading_tick = self._last_tick = now
        return True

    def on_timer(self, now: float) -> bool:
        """The control-period timer fired at ``now``: True when it should tick. On a timer,
        always; ticking on readings, only when none opened a period for WATCHDOG_PERIODS (or
        ever), and then every time until one does."""
        if self.source == TIMER:
            return True
        if self._ticked_within(WATCHDOG_PERIODS * self.period_s, now, self._last_reading_tick):
            return False
        self._last_tick = now
        return True

    def _ticked_within(self, seconds: float, now: float, last: float | None = None) -> bool:
        """A tick (by default any, reading or watchdog) less than ``seconds`` before ``now``, or
        after it by at most the period a tick time may lead the clock; never across a clock
        jump back further than that."""
        last = self._last_tick if last is None else last
        return last is not None and -self.period_s - _EPS <= now - last < seconds
