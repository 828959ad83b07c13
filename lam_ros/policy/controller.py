"""One control tick of the policy node, without ROS: observation -> model -> schedule -> safety.

The node feeds the latest camera images and joint positions (with their header stamps and the
wall time they arrived) and calls ``tick(now, clock)`` at the control rate; ``tick`` returns the
safety filter's Decision plus what /diagnostics reports. Every path that does not end in a safe
command ends in "send nothing", which makes a position controller hold the last command.

Inference runs in one of two places (``INLINE`` or ``BACKGROUND``, see ``choose_inference``):

- inline, inside the tick, for a model fast against the control period. Inference can still
  stall (a GC pause, a starved CPU), so after it the clock is read again and everything is
  decided for that later time: the step is the one in force then, the observation must still be
  fresh then, and the policy must still be enabled and the deadman held.
- in the background, on an InferenceWorker thread, for a slow model: the tick submits the newest
  observation and goes on with the chunks already scheduled, so a slow model costs latency (its
  chunk is anchored to its observation's stamp and joins the schedule when it is done), never a
  missed tick.

Either way a step whose slot has passed is never sent, and an inference longer than one control
period is counted as a deadline miss.

An operator can take over (``on_takeover``: the teleop deadman held): the policy then sends
nothing, without a fault, while teleop drives; it drops the chunks planned before the takeover and
keeps planning from the new observations, so on release it goes on from where the arm is, with
the first step measured from the arm's position and limited by the velocity limit, never back
towards its old plan. ``disable``, ``on_deadman`` and ``on_takeover`` may be called from another
thread (policy_node serves ~/enable and /joy on one, so the off switch never waits for a tick);
everything else runs on the node's executor thread.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lam_ros.core import safety
from lam_ros.core.chunking import ChunkScheduler, ScheduledStep
from lam_ros.core.safety import Decision, PositionReadings, SafetyFilter
from lam_ros.core.state_history import StateHistory
from lam_ros.core.stats import percentiles_ms
from lam_ros.data.images import to_policy_size
from lam_ros.policy.inference_worker import InferenceWorker, Job, Outcome, run_job
from lam_ros.policy.runtime import PolicyRuntime

JOINTS = "joint_states"  # the joint-state input, beside the camera names
WAITING = "waiting_for_observation"  # nothing received yet (or since a reset): not a fault
DEADMAN_RELEASED = "deadman_released"  # the operator let go: hold, not a fault
TAKEN_OVER = "operator_in_control"  # the operator drives through teleop: hold, not a fault

INLINE, BACKGROUND, AUTO = "inline", "background", "auto"
INFERENCE_MODES = (AUTO, INLINE, BACKGROUND)
# auto runs a model in the background when it takes more than this share of a control period
INLINE_SHARE = 0.25


def choose_inference(mode: str, model_ms: float, period_s: float) -> str:
    """INLINE or BACKGROUND for ``mode`` (one of INFERENCE_MODES); ``model_ms`` is the model's
    time per inference (its fastest warm-up run)."""
    if mode not in INFERENCE_MODES:
        raise ValueError(f"inference mode must be one of {INFERENCE_MODES}, got {mode!r}")
    if mode != AUTO:
        return mode
    return BACKGROUND if model_ms > INLINE_SHARE * period_s * 1e3 else INLINE


@dataclass(frozen=True)
class Sample:
    stamp: float  # header stamp, seconds of ROS time
    arrival: float  # time.monotonic() when it arrived, for wall-clock latency
    value: np.ndarray


@dataclass(frozen=True)
class TickResult:
    decision: Decision
    step: ScheduledStep | None = None
    arrival: float | None = None  # wall arrival of the observation behind the newest chunk
    decided_at: float | None = None  # ROS time the command was decided for (after inference)


class RollingStats:
    """p50/p99 in milliseconds over the last ``size`` durations (seconds)."""

    def __init__(self, size: int = 500):
        self.samples_s: deque[float] = deque(maxlen=size)

    def add(self, seconds: float) -> None:
        self.samples_s.append(seconds)

    def percentiles_ms(self) -> dict[str, float]:
        return percentiles_ms(list(self.samples_s))


class PolicyController:
    def __init__(self, runtime: PolicyRuntime, safety_filter: SafetyFilter,
                 scheduler: ChunkScheduler, deadman_timeout_s: float | None = None,
                 inference: str = INLINE):
        """With ``deadman_timeout_s``, commands go out only while the operator holds the deadman
        button, reported by ``on_deadman`` no longer ago than that (wall seconds). ``inference``
        is INLINE or BACKGROUND; ``close`` ends a background worker."""
        self.runtime = runtime
        if inference not in (INLINE, BACKGROUND):
            raise ValueError(f"inference must be {INLINE!r} or {BACKGROUND!r}, got {inference!r}")
        self.inference_mode = inference
        self.worker = (InferenceWorker(runtime.predict) if self.inference_mode == BACKGROUND
                       else None)
        self.deadline_misses = 0  # inferences longer than one control period
        self.deadman_timeout_s = deadman_timeout_s
        self._deadman: tuple[bool, float] = (False, -math.inf)  # (held, monotonic arrival)
        self._takeover = False  # the operator holds teleop's deadman (set from any thread)
        self._was_taken_over = False  # at the last tick
        self.takeovers = 0
        self.safety = safety_filter
        self.readings = PositionReadings.for_filter(safety_filter)
        self.history = StateHistory(runtime.history, scheduler.period)
        self.scheduler = scheduler
        self.cameras = {c.name: c for c in runtime.profile.cameras}
        self.inference = RollingStats()
        self.last_model_error = ""
        self._images: dict[str, Sample] = {}
        self._joints: Sample | None = None
        self._last_inferred: tuple[float, ...] | None = None
        self._chunk_arrival: float | None = None  # arrival behind the newest scheduled chunk
        self.obs_to_command = RollingStats()
        self.tick_to_command = RollingStats()  # the node's own share of obs_to_command
        self.tick_interval = RollingStats()
        # How much older the oldest input behind an inference was than the newest (a camera
        # behind the joint states, say): the observation's own spread in time.
        self.obs_skew = RollingStats()
        self._last_tick: float | None = None
        self.last_reason = safety.DISABLED
        self._rate_window: tuple[float, int] | None = None  # (ROS time, commands sent) at report
        self._enable_requested = False
        self.ticks = 0
        self._created = time.monotonic()
        self._heard: dict[str, float] = {}  # input -> monotonic time of its last message

    def on_image(self, camera: str, stamp: float, rgb: np.ndarray) -> None:
        """Keeps the newest frame, at the size the policy sees (as bag conversion resizes)."""
        spec = self.cameras[camera]
        rgb = to_policy_size(rgb, spec.width, spec.height)
        self._images[camera] = Sample(stamp, time.monotonic(), rgb)
        self._heard[camera] = self._images[camera].arrival

    def on_joint_positions(self, stamp: float, positions: np.ndarray) -> None:
        self._joints = Sample(stamp, time.monotonic(), positions)
        self._heard[JOINTS] = self._joints.arrival
        self.readings.add(positions)
        self.history.add(stamp, positions)

    def silent_inputs(self, silence_s: float) -> list[str]:
        """Inputs (camera names, JOINTS) not heard for ``silence_s`` wall seconds, or never
        heard in that long since the controller was made."""
        now = time.monotonic()
        return [name for name in (*self.cameras, JOINTS)
                if now - self._heard.get(name, self._created) > silence_s]

    def on_deadman(self, held: bool) -> None:
        self._deadman = (held, time.monotonic())

    def on_takeover(self, held: bool) -> None:
        """The operator pressed (True) or released (False) teleop's deadman. A joystick that
        goes silent while held leaves the operator in control: only a release hands back."""
        self._takeover = held

    def deadman_held(self) -> bool:
        if self.deadman_timeout_s is None:
            return True
        held, arrival = self._deadman
        return held and time.monotonic() - arrival <= self.deadman_timeout_s

    def tick(self, now: float, clock: Callable[[], float] | None = None) -> TickResult:
        """Decides this tick's command; ``clock()`` (ROS seconds) is read again after inference,
        and the decision is made for that time."""
        self.ticks += 1
        tick_start = time.monotonic()
        if self._last_tick is not None:
            self.tick_interval.add(tick_start - self._last_tick)
        self._last_tick = tick_start
        if self._enable_requested:
            self._enable_requested = False
            self._start()
        result = self._decide(now, clock or (lambda: now))
        self.last_reason = result.decision.reason
        return result

    def _decide(self, now: float, clock: Callable[[], float]) -> TickResult:
        if self.scheduler.observe_clock(now):
            self._forget_observations_after(now)
        hold = self._hold_reason()
        if hold:
            return TickResult(Decision(None, hold))
        joints, images = self._joints, self._images
        if joints is None or any(c not in images for c in self.cameras):
            return TickResult(Decision(None, WAITING))
        samples = [joints, *images.values()]
        oldest = min(s.stamp for s in samples)
        newest = max(samples, key=lambda s: s.stamp)
        if any(self.safety.is_stale(s.stamp, now) for s in samples):
            return TickResult(self.safety.fault(safety.STALE_OBSERVATION))
        if not np.all(np.isfinite(joints.value)):
            return TickResult(self.safety.fault(safety.NON_FINITE_STATE))
        taken_over = self._takeover
        if taken_over != self._was_taken_over:
            self._hand_over(taken_over)
        fault = self._infer_if_new(joints, images, newest, oldest)
        if fault:
            return TickResult(self.safety.fault(fault))
        if taken_over:
            return TickResult(Decision(None, TAKEN_OVER))
        if self.worker is None:
            now = clock()  # inference took time: decide for the moment the command goes out
            hold = self._hold_reason()  # switched off or let go during inference
            if hold:
                return TickResult(Decision(None, hold))
            if self.safety.is_stale(oldest, now):  # the observation aged past use meanwhile
                return TickResult(self.safety.fault(safety.STALE_OBSERVATION))
        step = self.scheduler.step_at(now)
        if step is None:
            if self._chunk_arrival is None:  # the first chunk since enable or reset is coming
                return TickResult(Decision(None, WAITING))
            return TickResult(self.safety.fault(safety.NO_ACTION))
        decision = self.safety.command(step.positions, joints.value, now, oldest,
                                       confirmed=self.readings.confirmed)
        return TickResult(decision, step, self._chunk_arrival, now)

    def _hold_reason(self) -> str:
        if not self.safety.enabled:
            return safety.DISABLED
        if not self.deadman_held():
            return DEADMAN_RELEASED
        return ""

    def command_sent(self, arrival: float) -> None:
        """Records wall time to the command's publish from the arrival of the observation behind
        it (which includes its wait for the tick: up to one sensor period) and from the tick's
        start (the node's own work: inference when inline, safety, publish)."""
        now = time.monotonic()
        self.obs_to_command.add(now - arrival)
        self.tick_to_command.add(now - self._last_tick)

    def report(self, now: float) -> dict[str, str]:
        """Key/values for /diagnostics; the rate is commands per second of ROS time."""
        sent = self.safety.commands_sent
        rate = math.nan
        if self._rate_window is not None and now > self._rate_window[0]:
            rate = (sent - self._rate_window[1]) / (now - self._rate_window[0])
        self._rate_window = (now, sent)
        values = {
            "provider": self.runtime.provider,
            "tensorrt_fp16": str(self.runtime.tensorrt_fp16).lower(),
            "parity_max_abs_diff": f"{self.runtime.parity_max_diff:.3g}",
            "inference_mode": self.inference_mode,
            "inference_deadline_misses": str(self.deadline_misses),
            "inference_superseded": str(self.worker.superseded if self.worker else 0),
            "skipped_providers": "; ".join(f"{k}: {v}" for k, v in
                                           self.runtime.skipped_providers.items()),
            "enabled": str(self.safety.enabled).lower(),
            "disabled_reason": self.safety.disabled_reason,
            "last_decision": self.last_reason,
            "achieved_rate_hz": f"{rate:.2f}",
            "commands_sent": str(sent),
            "commands_limited": str(self.safety.commands_limited),
            "reanchors": str(self.safety.reanchors),
            "position_holds": str(self.safety.position_holds),
            "consecutive_faults": str(self.safety.consecutive_faults),
            "clock_resets": str(self.scheduler.resets),
            "takeovers": str(self.takeovers),
        }
        for name, stats in (("inference", self.inference),
                            ("obs_to_command", self.obs_to_command),
                            ("tick_to_command", self.tick_to_command),
                            ("tick_interval", self.tick_interval),
                            ("obs_skew", self.obs_skew)):
            for q, ms in stats.percentiles_ms().items():
                values[f"{name}_{q}_ms"] = f"{ms:.3f}"
        values.update({f"faults.{k}": str(v) for k, v in self.safety.fault_counts.items()})
        return values

    def enable(self) -> None:
        """Starts at the next tick, with an empty schedule (thread safe); enabling a running
        policy changes nothing (it must not restart from a fresh reading mid-motion)."""
        self._enable_requested = not self.safety.enabled

    def disable(self, reason: str) -> None:
        """Stops at once: a tick that is running sends nothing (thread safe)."""
        self._enable_requested = False
        self.safety.disable(reason)

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()

    def _start(self) -> None:
        self._forget_schedule()
        # A simulator reset between episodes does not move its clock back: the readings before
        # an enable may be another episode's, and an episode's history starts still in training.
        self._restart_history()
        self.safety.enable()

    def _restart_history(self) -> None:
        joints = self._joints
        self.history.restart(*((joints.stamp, joints.value) if joints is not None else ()))

    def _hand_over(self, to_operator: bool) -> None:
        """At a takeover, forget the old plan; at the release, measure the first step from
        where the operator left the arm."""
        self._was_taken_over = to_operator
        if to_operator:
            self.takeovers += 1
            self._forget_schedule()
        else:
            self.safety.forget_last_command()

    def _forget_schedule(self) -> None:
        self.scheduler.clear()
        self._last_inferred = None
        self._chunk_arrival = None
        if self.worker is not None:
            self.worker.cancel()

    def _infer_if_new(self, joints: Sample, images: dict[str, Sample], newest: Sample,
                      oldest: float) -> str:
        """Once per new observation, runs the model (inline) or hands it to the worker; takes in
        what the model produced. Returns a fault kind or ''."""
        stamps = (joints.stamp, *(images[c].stamp for c in self.cameras))
        job = None
        if stamps != self._last_inferred:  # else its chunk is already scheduled (or coming)
            self._last_inferred = stamps
            self.obs_skew.add(newest.stamp - oldest)
            job = Job({c: images[c].value for c in self.cameras}, joints.value, newest.stamp,
                      newest.arrival, self.history.before(joints.stamp))
        if self.worker is None:
            return self._take(run_job(self.runtime.predict, job)) if job else ""
        if job:
            self.worker.submit(job)
        faults = [self._take(outcome) for outcome in self.worker.collect()]
        return next((f for f in faults if f), "")

    def _take(self, outcome: Outcome) -> str:
        """Schedules a finished inference's chunk; returns a fault kind or ''."""
        if outcome.chunk is None:
            self.last_model_error = outcome.error
            return safety.MODEL_FAILURE
        self.inference.add(outcome.seconds)
        self.deadline_misses += outcome.seconds > self.scheduler.period
        if not np.all(np.isfinite(outcome.chunk)):
            return safety.NON_FINITE_COMMAND  # never let NaN into the ensemble
        self.scheduler.add(outcome.chunk, outcome.job.anchor)
        self._chunk_arrival = outcome.job.arrival
        return ""

    def _forget_observations_after(self, now: float) -> None:
        """After a clock reset: drops what was stamped before it (now "in the future") and keeps
        what the new episode already sent, so a lockstep simulator gets its command at once."""
        newest_allowed = now + 0.5 * self.scheduler.period
        self._images = {c: s for c, s in self._images.items() if s.stamp <= newest_allowed}
        if self._joints is not None and self._joints.stamp > newest_allowed:
            self._joints = None
        self._restart_history()  # the readings before the reset are another episode's
        self._forget_schedule()
        self.safety.forget_last_command()
        self.readings.trust()  # the simulator moved the arm on purpose
