"""Runs an exported policy with onnxruntime, after checking it fits the robot.

Loading either yields a runtime that has already run warm-up inferences on the best execution
provider that actually works here, or raises one PolicyLoadError subclass whose message names what
is wrong (not an ONNX file, no policy card, a card field that does not match the profile, an input
or output with the wrong name, type or shape, a warm-up output that is not finite).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from lam_ros.core import features
from lam_ros.core.profile import RobotProfile
from lam_ros.policy import gpu_libraries
from lam_ros.policy.card import CardMismatchError, PolicyCard, embedded_card

PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider",
                       "CPUExecutionProvider")


class PolicyLoadError(RuntimeError):
    """The model cannot run on this robot; the message says why."""


class NotOnnxError(PolicyLoadError):
    pass


class CardError(PolicyLoadError):
    """The policy card is missing, malformed or does not match the robot profile."""


class InterfaceError(PolicyLoadError):
    """A graph input or output has the wrong name, element type or shape."""


class NoProviderError(PolicyLoadError):
    pass


class ProviderParityError(PolicyLoadError):
    """A GPU provider computes other actions than the CPU provider for the same inputs."""


# Largest |action| difference (robot units: rad, m) a GPU provider may show against the CPU
# provider at load: float32 kernels differ in summation order only; fp16 rounds every layer.
PARITY_TOLERANCE = {False: 1e-3, True: 2e-2}  # keyed by fp16
# The action output's element types a policy may declare, and the buffer each is bound to.
OUTPUT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64,
                "tensor(float16)": np.float16}


def tensorrt_options(model_path: Path, fp16: bool) -> dict[str, str]:
    """TensorRT's engine and timing caches in a folder beside the model (``policy.trt/``): the
    engine is built once, in the first warm-up run, and reused across restarts."""
    cache = model_path.parent / f"{model_path.stem}.trt"
    return {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache),
            "trt_timing_cache_enable": "True", "trt_timing_cache_path": str(cache),
            "trt_fp16_enable": str(fp16)}


def read_card(model: onnx.ModelProto, model_path: Path) -> PolicyCard:
    try:
        return embedded_card(model, model_path)
    except CardMismatchError as exc:
        raise CardError(str(exc)) from None


def expected_inputs(card: PolicyCard) -> dict[str, tuple[str, list[int]]]:
    """Input name -> (onnxruntime element type, shape) the card promises."""
    inputs = {features.image_key(c.name): ("tensor(uint8)", [1, c.height, c.width, 3])
              for c in card.cameras}
    inputs[features.STATE] = ("tensor(float)", [1, len(card.joint_names)])
    if card.history > 1:
        inputs[features.STATE_HISTORY] = ("tensor(float)",
                                          [1, card.history - 1, len(card.joint_names)])
    return inputs


def _shape_fits(actual: Sequence[int | str | None], expected: Sequence[int]) -> bool:
    # A symbolic dimension (str/None) fits any size; the warm-up run then checks real output.
    return len(actual) == len(expected) and all(
        not isinstance(a, int) or a == e for a, e in zip(actual, expected, strict=True))


def check_interface(session: ort.InferenceSession, card: PolicyCard, model_path: Path) -> None:
    expected = expected_inputs(card)
    actual = {i.name: (i.type, i.shape) for i in session.get_inputs()}
    if set(actual) != set(expected):
        raise InterfaceError(
            f"{model_path}: inputs are {sorted(actual)}, the card's cameras and joints need "
            f"{sorted(expected)}")
    for name, (dtype, shape) in expected.items():
        if actual[name][0] != dtype or not _shape_fits(actual[name][1], shape):
            raise InterfaceError(f"{model_path}: input {name!r} is {actual[name][0]} "
                                 f"{actual[name][1]}, expected {dtype} {shape}")
    outputs = [o.name for o in session.get_outputs()]
    if features.ACTIONS not in outputs:
        raise InterfaceError(f"{model_path}: no output {features.ACTIONS!r} (outputs: {outputs})")


@contextlib.contextmanager
def _native_stderr_captured() -> Iterator[list[str]]:
    """Collects what onnxruntime's C++ logger writes to fd 2 while probing a provider."""
    lines: list[str] = []
    with tempfile.TemporaryFile(mode="w+") as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.extend(line.strip() for line in sink if line.strip())


def _readable(message: str) -> str:
    """onnxruntime's message without colour codes and the C++ source location prefix."""
    message = re.sub(r"\x1b\[[0-9;]*m", "", message).strip()
    message = re.sub(r"^.*\] ", "", message)  # "[E:onnxruntime:..., file.cc:123 fn] "
    message = re.sub(r"^/\S+:\d+ .*?\) ", "", message)  # "/src/file.cc:729 void fn(...) "
    return re.sub(r"^: \d+ : \w+ : ", "", message)  # ": 1 : FAIL : "


def _probe_reason(outcome: str, native_log: list[str]) -> str:
    # The native log names the missing library (e.g. libcublas.so.13); that is the useful part.
    detail = [line for line in native_log if "Failed" in line]
    return _readable(detail[0] if detail else outcome)


def open_session(model_bytes: bytes, providers: Sequence[str] = PREFERRED_PROVIDERS,
                 threads: int = 1, provider_options: Mapping[str, dict[str, str]] | None = None
                 ) -> tuple[ort.InferenceSession, str, dict[str, str]]:
    """A session on the first provider in ``providers`` that works here, computing on ``threads``
    CPU threads (0: onnxruntime's default, one per core) that sleep rather than spin between
    runs.

    One thread is the default: a policy this size gains nothing from a pool, and a spinning pool
    competes with the node's executor, DDS and the camera drivers for the cores (measured on 2
    cores under load, demo policy: p99 4.9 ms with one thread, 9.0 ms with onnxruntime's
    default pool, p50 0.69 ms and 0.72 ms).

    onnxruntime-gpu lists TensorRT and CUDA even where their libraries or the GPU are missing and
    then silently runs on CPU, so each provider is tried alone and kept only if the session
    really runs on it. ``provider_options`` gives a provider its onnxruntime options. Returns
    (session, provider, {skipped provider: reason}).
    """
    provider_options = provider_options or {}
    available = set(ort.get_available_providers())
    if any(p in available for p in providers if p in gpu_libraries.GPU_PROVIDERS):
        gpu_libraries.preload()
    gpu_present = gpu_libraries.nvidia_gpu_present()
    skipped: dict[str, str] = {}
    for provider in providers:
        if provider not in available:
            skipped[provider] = "not in this onnxruntime build"
            continue
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: the probe's own failures are expected
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            with _native_stderr_captured() as native_log:
                entry = (provider, provider_options.get(provider, {}))
                session = ort.InferenceSession(model_bytes, options, providers=[entry],
                                               enable_fallback=0)
        except Exception as exc:  # onnxruntime raises bare RuntimeError/Fail types
            skipped[provider] = gpu_libraries.explain(
                _probe_reason(str(exc).splitlines()[0], native_log), gpu_present)
            continue
        ran_on = session.get_providers()
        if ran_on and ran_on[0] == provider:
            return session, provider, skipped
        skipped[provider] = gpu_libraries.explain(
            _probe_reason(f"the session fell back to {ran_on}", native_log), gpu_present)
    raise NoProviderError(f"no execution provider works here: {skipped}")


class PolicyRuntime:
    """One loaded, checked and warmed-up policy for one robot profile."""

    def __init__(self, model_path: str | Path, profile: RobotProfile,
                 providers: Sequence[str] = PREFERRED_PROVIDERS, warmup_runs: int = 3,
                 threads: int = 1, tensorrt_fp16: bool = False):
        self.model_path = Path(model_path)
        self.profile = profile
        model = _load_model(self.model_path)
        self.card = read_card(model, self.model_path)
        try:
            self.card.check_against(profile)
        except CardMismatchError as exc:
            raise CardError(
                f"{self.model_path} does not fit robot {profile.name!r}: {exc}") from None
        model_bytes = model.SerializeToString()
        self.tensorrt_fp16 = tensorrt_fp16
        self.session, self.provider, self.skipped_providers = open_session(
            model_bytes, providers, threads,
            {"TensorrtExecutionProvider": tensorrt_options(self.model_path, tensorrt_fp16)})
        check_interface(self.session, self.card, self.model_path)
        self._bind_io()
        # The first run builds TensorRT's engine (or loads it from the cache): here, at load,
        # never on a control tick.
        self.warmup_ms = [self._warm_up() for _ in range(max(1, warmup_runs))]
        self.parity_max_diff = 0.0  # against the CPU provider; 0 when running on it
        if self.provider != "CPUExecutionProvider":
            reference, _, _ = open_session(model_bytes, ("CPUExecutionProvider",), threads)
            fp16 = tensorrt_fp16 and self.provider == "TensorrtExecutionProvider"
            self.parity_max_diff = check_parity(
                self._run_bound, lambda feed: reference.run([features.ACTIONS], feed)[0][0],
                self.check_feeds(), PARITY_TOLERANCE[fp16],
                f"{self.model_path} on {self.provider}{' fp16' if fp16 else ''}")

    def check_feeds(self, count: int = 3, seed: int = 0) -> list[dict[str, np.ndarray]]:
        """Inputs the load-time checks run: the home pose with black images, then poses near
        home with seeded random images."""
        rng = np.random.default_rng(seed)
        feeds = []
        for k in range(count):
            state = np.asarray(self.profile.home, np.float32) + (
                rng.normal(0.0, 0.1, self.profile.n_joints).astype(np.float32) if k else 0.0)
            feed = {features.STATE: state.reshape(1, -1)}
            if self.card.history > 1:  # as if the arm had been there the whole time
                feed[features.STATE_HISTORY] = np.tile(state, (1, self.card.history - 1, 1))
            for camera in self.card.cameras:
                shape = (1, camera.height, camera.width, 3)
                image = rng.integers(0, 256, shape, dtype=np.uint8) if k else np.zeros(shape,
                                                                                     np.uint8)
                feed[features.image_key(camera.name)] = image
            feeds.append(feed)
        return feeds

    @property
    def chunk(self) -> int:
        return self.card.chunk

    def _bind_io(self) -> None:
        """Fixed-shape I/O binding: input and output buffers made once. A run copies the
        observation into the input buffers and binds them (on a GPU provider that is where
        onnxruntime copies them to the device), and the session writes the chunk into the bound
        output buffer: no per-run allocation for the model's inputs and output."""
        n = self.profile.n_joints
        self._inputs = {features.STATE: np.zeros((1, n), np.float32)}
        if self.card.history > 1:
            self._inputs[features.STATE_HISTORY] = np.zeros((1, self.card.history - 1, n),
                                                            np.float32)
        for camera in self.card.cameras:
            self._inputs[features.image_key(camera.name)] = np.zeros(
                (1, camera.height, camera.width, 3), np.uint8)
        output = next(o for o in self.session.get_outputs() if o.name == features.ACTIONS)
        if output.type not in OUTPUT_TYPES:
            raise InterfaceError(f"{self.model_path}: output {features.ACTIONS!r} is "
                                 f"{output.type}, expected one of {sorted(OUTPUT_TYPES)}")
        self._actions = np.zeros((1, self.card.chunk, n), OUTPUT_TYPES[output.type])
        try:  # one plain run first: a wrong output shape is named, not a binding error
            (actions,) = self.session.run([features.ACTIONS], self._inputs)
        except Exception as exc:  # a graph that fails on well-formed input is unusable
            raise InterfaceError(f"{self.model_path}: warm-up inference failed: "
                                 f"{str(exc).splitlines()[0]}") from None
        if actions.shape != self._actions.shape:
            raise InterfaceError(f"{self.model_path}: output {features.ACTIONS!r} is "
                                 f"{list(actions.shape)}, the card promises "
                                 f"{list(self._actions.shape)}")
        self._binding = self.session.io_binding()
        self._binding.bind_ortvalue_output(features.ACTIONS,
                                           ort.OrtValue.ortvalue_from_numpy(self._actions))

    def _run_bound(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        """The chunk [chunk, n_joints] for ``feed`` (the model's inputs, batch 1), through the
        binding; a copy, never the bound buffer."""
        for name, buffer in self._inputs.items():
            np.copyto(buffer, feed[name], casting="unsafe")
            # Bound again every run: a GPU provider copies a CPU input when it is bound.
            self._binding.bind_cpu_input(name, buffer)
        self.session.run_with_iobinding(self._binding)
        return self._actions[0].astype(np.float64)

    @property
    def history(self) -> int:
        """Control ticks of joint positions the policy sees (1: the present only)."""
        return self.card.history

    def predict(self, images: dict[str, np.ndarray], state: np.ndarray,
                past: np.ndarray | None = None) -> np.ndarray:
        """Joint-target chunk [chunk, n_joints] (float64, robot units) for one observation.

        ``images`` maps camera name -> HxWx3 uint8 RGB at the card's size; ``state`` is the joint
        positions in profile order; ``past`` [history - 1, n_joints] the positions at the ticks
        before, oldest first (only for a policy with history). One thread at a time (the
        tick's, or the inference worker's).
        """
        state = np.asarray(state)
        n = self.profile.n_joints
        if state.shape != (n,):
            raise ValueError(f"state has shape {state.shape}, the policy needs "
                             f"({n},) joint positions")
        feed = {features.STATE: state[np.newaxis]}
        if self.card.history > 1:
            past = np.asarray(past) if past is not None else None
            if past is None or past.shape != (self.card.history - 1, n):
                raise ValueError(f"state history is {None if past is None else past.shape}, "
                                 f"the policy needs ({self.card.history - 1}, {n}) joint "
                                 f"positions of the ticks before")
            feed[features.STATE_HISTORY] = past[np.newaxis]
        for camera in self.card.cameras:
            rgb = images[camera.name]
            if rgb.shape != (camera.height, camera.width, 3) or rgb.dtype != np.uint8:
                raise ValueError(f"camera {camera.name!r} image is {rgb.dtype} {rgb.shape}, the "
                                 f"policy needs uint8 {(camera.height, camera.width, 3)}")
            feed[features.image_key(camera.name)] = rgb[np.newaxis]
        return self._run_bound(feed)

    def _warm_up(self) -> float:
        images = {c.name: np.zeros((c.height, c.width, 3), np.uint8) for c in self.card.cameras}
        home = np.asarray(self.profile.home)
        # a policy with history sees an arm that has been at home the whole time
        past = (np.tile(home, (self.card.history - 1, 1)),) if self.card.history > 1 else ()
        start = time.perf_counter()
        try:
            actions = self.predict(images, home, *past)
        except Exception as exc:  # a graph that fails on well-formed input is unusable
            raise InterfaceError(f"{self.model_path}: warm-up inference failed: "
                                 f"{str(exc).splitlines()[0]}") from None
        if not np.isfinite(actions).all():
            raise PolicyLoadError(f"{self.model_path}: warm-up output {features.ACTIONS!r} holds "
                                  f"{int((~np.isfinite(actions)).sum())} non-finite (NaN/Inf) "
                                  "values for the home pose and black images")
        return (time.perf_counter() - start) * 1e3


def check_parity(candidate: Callable[[dict[str, np.ndarray]], np.ndarray],
                 reference: Callable[[dict[str, np.ndarray]], np.ndarray],
                 feeds: Sequence[dict[str, np.ndarray]], tolerance: float, what: str) -> float:
    """The largest |action| difference of ``candidate(feed)`` against ``reference(feed)`` (each
    the chunk for one feed) over ``feeds``; raises ProviderParityError, naming ``what``, beyond
    ``tolerance``."""
    worst = 0.0
    for feed in feeds:
        got, expected = candidate(feed), reference(feed)
        diff = np.abs(np.asarray(got, np.float64) - np.asarray(expected, np.float64))
        worst = max(worst, float(np.nanmax(diff)) if np.isfinite(diff).all() else np.inf)
    if not worst <= tolerance:
        raise ProviderParityError(
            f"{what} disagrees with the CPU provider: actions differ by up to {worst:.3g} "
            f"(tolerance {tolerance:g}) on the load check inputs; refusing the model")
    return worst


def _load_model(path: Path) -> onnx.ModelProto:
    if not path.is_file():
        raise NotOnnxError(f"model file {path} does not exist")
    try:
        model = onnx.load(str(path))
        # Random bytes can decode as an empty protobuf; the checker tells a real graph apart.
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:  # protobuf's DecodeError, onnx's ValidationError and friends
        raise NotOnnxError(f"{path} is not a valid ONNX model: "
                           f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                           ) from None
    return model
