"""The CUDA, cuDNN and TensorRT libraries onnxruntime-gpu's GPU providers need, from pip wheels.

``scripts/setup`` installs them on a machine with an NVIDIA GPU (``requirements-gpu.txt``:
onnxruntime-gpu's own ``cuda`` and ``cudnn`` extras), so no system CUDA toolkit is needed.
``preload()`` loads them from the wheels before a GPU provider is tried (onnxruntime's
``preload_dlls``; TensorRT's ``tensorrt_libs`` folder when installed). When a provider still
fails, ``explain()`` names the missing library, the wheel that holds it, and how to install it.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.util
import io
import re
from pathlib import Path

import onnxruntime as ort

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
SETUP_HINT = "LAM_ROS_GPU=1 scripts/setup installs the GPU runtime wheels"
# Library name (before ".so") -> the pip wheel that ships it.
WHEELS = {
    "libcublas": "nvidia-cublas", "libcublasLt": "nvidia-cublas",
    "libcudart": "nvidia-cuda-runtime", "libnvrtc": "nvidia-cuda-nvrtc",
    "libcufft": "nvidia-cufft", "libcurand": "nvidia-curand",
    "libnvJitLink": "nvidia-nvjitlink", "libcudnn": "nvidia-cudnn-cu13",
    "libnvinfer": "tensorrt-cu13-libs (from NVIDIA's index, https://pypi.nvidia.com)",
    "libnvinfer_plugin": "tensorrt-cu13-libs (from NVIDIA's index, https://pypi.nvidia.com)",
}
_MISSING = re.compile(r"(lib[\w+-]+?)(\.so[\d.]*): cannot open shared object file")
_GPUS = Path("/proc/driver/nvidia/gpus")


def nvidia_gpu_present() -> bool:
    """The NVIDIA driver reports at least one GPU (as scripts/setup decides)."""
    return _GPUS.is_dir() and any(_GPUS.iterdir())


def missing_library(reason: str) -> str | None:
    """The shared library a provider's failure says it could not open, e.g. libcublas.so.13."""
    found = _MISSING.search(reason)
    return found.group(1) + found.group(2) if found else None


def explain(reason: str, gpu_present: bool) -> str:
    """A provider's failure, with what to do about a missing library."""
    library = missing_library(reason)
    if library is None:
        return reason
    if not gpu_present:
        return f"{library} missing (no NVIDIA GPU on this machine): {reason}"
    wheel = WHEELS.get(library.split(".so")[0], "the NVIDIA wheels onnxruntime-gpu names")
    return f"{library} missing: it ships in the pip wheel {wheel}; {SETUP_HINT}. ({reason})"


@functools.cache
def preload() -> tuple[str, ...]:
    """Loads the CUDA/cuDNN libraries from the nvidia-* wheels, and TensorRT's from
    tensorrt_libs, where installed; returns what onnxruntime printed while doing so (its
    complaints about a library it could not load). Once per process; a no-op without wheels."""
    printed = io.StringIO()
    if importlib.util.find_spec("nvidia") is not None:
        with contextlib.redirect_stdout(printed):
            ort.preload_dlls(cuda=True, cudnn=True, msvc=False)
    tensorrt = importlib.util.find_spec("tensorrt_libs")
    if tensorrt is not None and tensorrt.submodule_search_locations:
        for folder in tensorrt.submodule_search_locations:
            for library in sorted(Path(folder).glob("lib*.so*")):
                try:
                    ctypes.CDLL(str(library), mode=ctypes.RTLD_GLOBAL)
                except OSError as exc:
                    print(f"Failed to load {library}: {exc}", file=printed)
    return tuple(line for line in printed.getvalue().splitlines() if line.strip())
