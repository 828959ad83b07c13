"""Inference beside the control tick, for models too slow to run inside it.

The tick hands the newest observation to ``submit`` and never waits: one worker thread runs the
model (onnxruntime releases the GIL while it computes) and leaves the outcome for the tick to
``collect``. A newer observation replaces one still waiting its turn; one already running
finishes. Outcomes of work submitted before ``cancel`` (enable, a clock reset) are thrown away.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Job:
    images: dict[str, np.ndarray]
    state: np.ndarray
    anchor: float  # the observation's stamp: the chunk's step 0 starts there
    arrival: float  # time.monotonic() when the observation's newest sample arrived
    past: np.ndarray | None = None  # joint positions at the ticks before (policy history)


@dataclass(frozen=True)
class Outcome:
    job: Job
    chunk: np.ndarray | None  # None when the model raised
    error: str  # "" or "ExceptionType: message"
    seconds: float  # wall time the model took


def run_job(predict: Callable[..., np.ndarray],
            job: Job) -> Outcome:
    """Runs the model on one job; any exception becomes the outcome's error."""
    start = time.perf_counter()
    try:
        chunk = (predict(job.images, job.state) if job.past is None
                 else predict(job.images, job.state, job.past))
        error = ""
    except Exception as exc:  # any model failure holds the robot; the caller reports it
        chunk, error = None, f"{type(exc).__name__}: {exc}"
    return Outcome(job, chunk, error, time.perf_counter() - start)


class InferenceWorker:
    def __init__(self, predict: Callable[..., np.ndarray]):
        self._predict = predict
        self._wake = threading.Condition()
        self._pending: tuple[int, Job] | None = None  # (generation, job)
        self._running = False
        self._done: list[Outcome] = []
        self._generation = 0
        self._closed = False
        self.superseded = 0  # observations replaced before the model got to them
        self._thread = threading.Thread(target=self._serve, name="inference", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> None:
        with self._wake:
            if self._pending is not None:
                self.superseded += 1
            self._pending = (self._generation, job)
            self._wake.notify()

    def busy(self) -> bool:
        """A job waits or runs."""
        with self._wake:
            return self._running or self._pending is not None

    def collect(self) -> list[Outcome]:
        """Outcomes finished since the last call, oldest first."""
        with self._wake:
            done, self._done = self._done, []
        return done

    def cancel(self) -> None:
        """Drops the waiting job and every outcome of work submitted until now."""
        with self._wake:
            self._generation += 1
            self._pending = None
            self._done.clear()

    def close(self, timeout_s: float = 5.0) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout=timeout_s)

    def _serve(self) -> None:
        while True:
            with self._wake:
                while self._pending is None and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                (generation, job), self._pending = self._pending, None
                self._running = True
            outcome = run_job(self._predict, job)
            with self._wake:
                self._running = False
                if generation == self._generation:
                    self._done.append(outcome)
