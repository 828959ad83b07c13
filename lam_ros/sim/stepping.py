"""When the simulator takes its next step: real-time pacing, as fast as possible, or lockstep."""

from __future__ import annotations


class StepGate:
    """Decides, from wall time, whether the sim should advance one control period now.

    ``real_time_factor`` > 0 paces steps at ``period_s / real_time_factor`` wall seconds (after a
    stall it resumes from now rather than bursting to catch up); 0 steps whenever asked.
    ``lockstep`` additionally waits for a command to every one of ``groups`` (the robot's
    controllers) since the last step, or ``timeout_s``. Counts the steps, and the lockstep steps
    that the timeout took (a command missing).
    """

    def __init__(self, period_s: float, real_time_factor: float, lockstep: bool,
                 timeout_s: float, groups: tuple[str, ...]):
        self.period_s = period_s
        self.groups = frozenset(groups)
        self.configure(real_time_factor, lockstep, timeout_s)
        self.next_due = 0.0
        self.last_step = None
        self.commanded: set[str] = set()  # groups commanded since the last step
        self.steps = 0
        self.lockstep_timeouts = 0

    def configure(self, real_time_factor: float, lockstep: bool, timeout_s: float) -> None:
        self.wall_period = self.period_s / real_time_factor if real_time_factor > 0 else 0.0
        self.lockstep = lockstep
        self.timeout_s = timeout_s

    def command_arrived(self, group: str) -> None:
        self.commanded.add(group)

    def should_step(self, now: float) -> bool:
        if now < self.next_due:
            return False
        if not self.lockstep or self.commanded >= self.groups or self.last_step is None:
            return True
        return now - self.last_step >= self.timeout_s

    def stepped(self, now: float) -> None:
        self.steps += 1
        if self.lockstep and self.last_step is not None and not self.commanded >= self.groups:
            self.lockstep_timeouts += 1
        self.commanded.clear()
        self.last_step = now
        self.next_due += self.wall_period
        if self.next_due <= now:  # fell a period behind: resume from now, no catch-up burst
            self.next_due = now + self.wall_period
