"""The GPU path's set-up: which machines get the GPU wheels, and a provider that fails for a
missing library says which one and how to install it."""

import os
import subprocess
from pathlib import Path

import pytest

from lam_ros.policy import gpu_libraries
from lam_ros.policy.runtime import open_session

ROOT = Path(__file__).resolve().parents[2]
# What onnxruntime-gpu 1.31 says on a machine without the CUDA 13 libraries.
CUDA_FAILURE = ("Failed to load library /venv/lib/python3.11/site-packages/onnxruntime/capi/"
                "libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open "
                "shared object file: No such file or directory")


def test_the_missing_library_is_named_with_its_wheel_and_the_set_up_that_installs_it():
    assert gpu_libraries.missing_library(CUDA_FAILURE) == "libcublasLt.so.13"
    explained = gpu_libraries.explain(CUDA_FAILURE, gpu_present=True)
    assert explained.startswith("libcublasLt.so.13 missing: it ships in the pip wheel "
                                "nvidia-cublas; LAM_ROS_GPU=1 scripts/setup")
    assert CUDA_FAILURE in explained  # onnxruntime's own words stay
    trt = CUDA_FAILURE.replace("libcublasLt.so.13", "libnvinfer.so.10")
    assert "tensorrt-cu13-libs" in gpu_libraries.explain(trt, gpu_present=True)


def test_without_a_gpu_the_missing_library_is_named_and_no_install_is_suggested():
    explained = gpu_libraries.explain(CUDA_FAILURE, gpu_present=False)
    assert explained.startswith("libcublasLt.so.13 missing (no NVIDIA GPU on this machine)")
    assert "scripts/setup" not in explained
    other = "the session fell back to ['CPUExecutionProvider']"
    assert gpu_libraries.explain(other, gpu_present=True) == other


def test_a_provider_that_cannot_run_here_is_reported_with_the_library_it_lacks():
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    _, provider, skipped = open_session(model.SerializeToString(),
                                        ("CUDAExecutionProvider", "CPUExecutionProvider"))
    if provider == "CUDAExecutionProvider":
        pytest.skip("the CUDA provider runs on this machine: no library is missing")
    reason = skipped["CUDAExecutionProvider"]
    library = gpu_libraries.missing_library(reason)
    if library is None:  # a GPU with its libraries, failing otherwise, or a CPU-only build
        assert reason, skipped
        return
    assert reason.startswith(f"{library} missing")
    assert ("scripts/setup" in reason) == gpu_libraries.nvidia_gpu_present()


def plan(gpu: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "LAM_ROS_GPU"}
    if gpu is not None:
        env["LAM_ROS_GPU"] = gpu
    result = subprocess.run([str(ROOT / "scripts" / "setup"), "--plan"], env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return [Path(line).name for line in result.stdout.split()]


def test_set_up_adds_the_gpu_wheels_only_where_there_is_a_gpu_or_when_asked():
    assert "requirements-gpu.txt" in plan("1")
    assert "requirements-gpu.txt" not in plan("0")
    assert ("requirements-gpu.txt" in plan(None)) == gpu_libraries.nvidia_gpu_present()
    assert plan("0")[0] == "requirements.txt"
