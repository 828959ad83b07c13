"""When the simulator takes its next step: real-time pacing, as fast as possible, or lockstep."""

from __future__ import annotations


class StepGate:
    """Decides, from wall time, whether the sim should advance one control period now.

    ``real_time_factor`` > 0 paces steps at ``period_s / real_time_factor`` wall seconds (after a
    stall it resumes from now rather than bursting to catch up); 0 steps whenever asked.
    ``lockstep`` additionally waits for a command since the last step, or ``timeout_s``.
    """

    def __init__(self, period_s: float, real_time_factor: float, lockstep: bool,
                 timeout_s: float):
        self.period_s = period_s
        self.configure(real_time_factor, lockstep, timeout_s)
        self.next_due = 0.0
        self.last_step = None
        self.command_since_step = False

    def configure(self, real_time_factor: float, lockstep: bool, timeout_s: float) -> None:
        self.wall_period = self.period_s / real_time_factor if real_time_factor > 0 else 0.0
        self.lockstep = lockstep
        self.timeout_s = timeout_s

    def command_arrived(self) -> None:
        self.command_since_step = True

    def should_step(self, now: float) -> bool:
        if now < self.next_due:
            return False
        if not self.lockstep or self.command_since_step or self.last_step is None:
            return True
        return now - self.last_step >= self.timeout_s

    def stepped(self, now: float) -> None:
        self.command_since_step = False
        self.last_step = now
        self.next_due += self.wall_period
        if self.next_due <= now:  # fell a period behind: resume from now, no catch-up burst
            self.next_due = now + self.wall_period
