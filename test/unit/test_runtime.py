"""PolicyRuntime loads real ONNX files with real onnxruntime and refuses ones that do not fit."""

import dataclasses
import json

import numpy as np
import onnxruntime as ort
import pytest
from family_models import tiny_exported_policy
from onnx import TensorProto
from onnx_models import constant_chunk_model, default_card, hold_model

from lam_ros.core import features
from lam_ros.core.profile import CameraSpec
from lam_ros.policy.families import FAMILIES
from lam_ros.policy.runtime import (
    PARITY_TOLERANCE,
    PREFERRED_PROVIDERS,
    CardError,
    InterfaceError,
    NoProviderError,
    NotOnnxError,
    PolicyLoadError,
    PolicyRuntime,
    ProviderParityError,
    check_parity,
    open_session,
)


def images_for(profile, value=0):
    return {c.name: np.full((c.height, c.width, 3), value, np.uint8) for c in profile.cameras}


def test_hold_model_predicts_the_state_over_the_chunk(tmp_path, profile):
    path = hold_model(tmp_path / "hold.onnx", profile, chunk=5, offset=0.25)
    runtime = PolicyRuntime(path, profile)
    state = np.array(profile.home)
    actions = runtime.predict(images_for(profile, 200), state)
    assert actions.shape == (5, profile.n_joints) and runtime.chunk == 5
    np.testing.assert_allclose(actions, np.tile(state + 0.25, (5, 1)), atol=1e-6)
    assert len(runtime.warmup_ms) == 3


def _runs_here(model_bytes: bytes, provider: str) -> bool:
    """Whether a session on ``provider`` alone loads and really runs on it (onnxruntime-gpu lists
    CUDA and TensorRT on machines where they cannot load, then falls back to CPU)."""
    try:
        session = ort.InferenceSession(model_bytes, providers=[provider])
    except Exception:  # onnxruntime raises bare RuntimeError/Fail types
        return False
    return session.get_providers()[0] == provider


def test_runs_on_the_first_preferred_provider_that_works_and_says_why_others_were_skipped(
        tmp_path, profile):
    path = hold_model(tmp_path / "m.onnx", profile)
    runtime = PolicyRuntime(path, profile)
    available = ort.get_available_providers()
    works = [p for p in PREFERRED_PROVIDERS
             if p in available and _runs_here(path.read_bytes(), p)]
    assert works, "not even CPUExecutionProvider runs here"
    # CPU-only machine: CPU; with a usable GPU: CUDA or TensorRT. Either way the first that works.
    assert runtime.provider == works[0]
    assert runtime.session.get_providers()[0] == runtime.provider
    before = PREFERRED_PROVIDERS[:PREFERRED_PROVIDERS.index(runtime.provider)]
    assert set(runtime.skipped_providers) == set(before)  # every earlier one, and only those
    for name in before:
        reason = runtime.skipped_providers[name]
        assert reason.strip(), name
        if name not in available:
            assert reason == "not in this onnxruntime build"


def test_provider_missing_from_the_build_is_skipped_with_its_reason(tmp_path, profile):
    path = hold_model(tmp_path / "m.onnx", profile)
    runtime = PolicyRuntime(path, profile,
                            providers=("NoSuchExecutionProvider", "CPUExecutionProvider"))
    assert runtime.provider == "CPUExecutionProvider"
    assert runtime.skipped_providers == {
        "NoSuchExecutionProvider": "not in this onnxruntime build"}


def test_no_working_provider_is_a_load_error(tmp_path, profile):
    path = hold_model(tmp_path / "m.onnx", profile)
    with pytest.raises(NoProviderError, match="NoSuchExecutionProvider"):
        PolicyRuntime(path, profile, providers=("NoSuchExecutionProvider",))


def test_open_session_prefers_the_listed_order(tmp_path, profile):
    data = hold_model(tmp_path / "m.onnx", profile).read_bytes()
    session, provider, skipped = open_session(data, ("CPUExecutionProvider",))
    assert provider == "CPUExecutionProvider" and skipped == {}
    assert session.get_providers() == ["CPUExecutionProvider"]
    # the first that works wins; later ones are never tried (so never reported as skipped)
    _, provider, skipped = open_session(data, ("CPUExecutionProvider", "NoSuchExecutionProvider"))
    assert provider == "CPUExecutionProvider" and skipped == {}


@pytest.mark.parametrize("threads", [1, 2])
def test_the_session_computes_on_the_asked_threads_without_spinning(tmp_path, profile, threads):
    data = hold_model(tmp_path / "m.onnx", profile).read_bytes()
    session, _, _ = open_session(data, ("CPUExecutionProvider",), threads)
    options = session.get_session_options()
    assert options.intra_op_num_threads == threads
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


@pytest.mark.parametrize("content", [b"", b"definitely not a protobuf \xff\xfe", b"\x08\x07"])
def test_a_file_that_is_not_onnx(tmp_path, profile, content):
    path = tmp_path / "policy.onnx"
    path.write_bytes(content)
    with pytest.raises(NotOnnxError, match="policy.onnx"):
        PolicyRuntime(path, profile)


def test_missing_file(tmp_path, profile):
    with pytest.raises(NotOnnxError, match="does not exist"):
        PolicyRuntime(tmp_path / "nope.onnx", profile)


def test_missing_card(tmp_path, profile):
    path = hold_model(tmp_path / "m.onnx", profile, card_json=None)
    with pytest.raises(CardError, match="no policy card"):
        PolicyRuntime(path, profile)


def test_malformed_card(tmp_path, profile):
    path = hold_model(tmp_path / "m.onnx", profile, card_json="{not json")
    with pytest.raises(CardError, match="malformed"):
        PolicyRuntime(path, profile)


def _card_with(profile, **changes):
    card = json.loads(default_card(profile, 4))
    card.update(changes)
    return json.dumps(card)


@pytest.mark.parametrize(("changes", "field"), [
    # as many joints as the robot has, named otherwise: names are checked, not just the count
    (lambda p: {"joint_names": [chr(ord("a") + i) for i in range(p.n_joints)]}, "joint_names"),
    (lambda p: {"cameras": [{"name": "wrist", "width": 96, "height": 96}]}, "cameras"),
    (lambda p: {"control_hz": 30.0}, "control_hz"),
])
def test_card_mismatch_names_the_field(tmp_path, profile, changes, field):
    card = _card_with(profile, **changes(profile))
    path = hold_model(tmp_path / "m.onnx", profile, card_json=card)
    with pytest.raises(CardError, match=rf"does not fit robot '{profile.name}': {field}:"):
        PolicyRuntime(path, profile)


def test_wrong_input_shape_is_named(tmp_path, profile):
    n = profile.n_joints
    path = hold_model(tmp_path / "m.onnx", profile, state_shape=[1, n + 1])
    with pytest.raises(InterfaceError, match=rf"input 'state' is tensor\(float\) \[1, {n + 1}\], "
                       rf"expected tensor\(float\) \[1, {n}\]"):
        PolicyRuntime(path, profile)


def test_input_for_a_camera_the_profile_lacks(tmp_path, profile):
    # The model was built for a two-camera robot, but its card claims the one-camera profile.
    wrist = CameraSpec("wrist", "/wrist/image_raw", 64, 64)
    two_cameras = dataclasses.replace(profile, cameras=(*profile.cameras, wrist))
    path = hold_model(tmp_path / "m.onnx", two_cameras, card_json=default_card(profile, 4))
    with pytest.raises(InterfaceError, match="image_wrist"):
        PolicyRuntime(path, profile)


def test_output_chunk_must_match_the_card(tmp_path, profile):
    card = default_card(profile, chunk=7)
    n = profile.n_joints
    path = constant_chunk_model(tmp_path / "m.onnx", profile, np.zeros((3, n)), card_json=card)
    with pytest.raises(InterfaceError, match=rf"\[1, 3, {n}\], the card promises \[1, 7, {n}\]"):
        PolicyRuntime(path, profile)


def test_every_load_failure_is_a_policy_load_error():
    for cls in (NotOnnxError, CardError, InterfaceError, NoProviderError):
        assert issubclass(cls, PolicyLoadError)


def test_predict_refuses_an_image_of_the_wrong_size(tmp_path, profile):
    runtime = PolicyRuntime(hold_model(tmp_path / "m.onnx", profile), profile)
    with pytest.raises(ValueError, match="front"):
        runtime.predict({"front": np.zeros((48, 48, 3), np.uint8)}, np.array(profile.home))


@pytest.mark.parametrize("family", FAMILIES)
def test_bound_predictions_equal_a_plain_session_run_input_after_input(tmp_path, profile, family):
    # predict writes into buffers bound once; each new observation must come through whole
    # (no input or output of the previous run left behind).
    model = tiny_exported_policy(tmp_path / f"{family}.onnx", profile, family)
    runtime = PolicyRuntime(model, profile, providers=("CPUExecutionProvider",))
    plain = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    previous = None
    for _ in range(3):
        images = {c.name: rng.integers(0, 256, (c.height, c.width, 3), np.uint8)
                  for c in profile.cameras}
        state = np.array(profile.home) + rng.normal(0, 0.2, profile.n_joints)
        got = runtime.predict(images, state)
        feed = {features.STATE: state.astype(np.float32)[None],
                **{features.image_key(c): v[None] for c, v in images.items()}}
        (expected,) = plain.run([features.ACTIONS], feed)
        np.testing.assert_allclose(got, expected[0], rtol=0, atol=1e-6)
        assert previous is None or not np.allclose(got, previous)
        previous = got


def test_predict_refuses_a_state_of_the_wrong_length(tmp_path, profile):
    runtime = PolicyRuntime(hold_model(tmp_path / "m.onnx", profile), profile)
    with pytest.raises(ValueError, match=rf"\({profile.n_joints},\) joint positions"):
        runtime.predict(images_for(profile), np.zeros(profile.n_joints + 1))


def test_a_provider_that_disagrees_with_the_cpu_is_refused_beyond_the_tolerance(tmp_path,
                                                                               profile):
    # Two real onnxruntime sessions whose graphs differ by 5 mrad: refused at the fp32
    # tolerance, accepted (and the difference reported) at the fp16 one.
    def chunk_of(path):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda feed: session.run([features.ACTIONS], feed)[0][0]

    runtime = PolicyRuntime(hold_model(tmp_path / "a.onnx", profile), profile)
    candidate = chunk_of(hold_model(tmp_path / "b.onnx", profile, offset=0.005))
    feeds = runtime.check_feeds()
    with pytest.raises(ProviderParityError, match=r"differ by up to 0\.005.*tolerance 0\.001"):
        check_parity(candidate, chunk_of(tmp_path / "a.onnx"), feeds, PARITY_TOLERANCE[False],
                     "b.onnx on a GPU")
    worst = check_parity(candidate, chunk_of(tmp_path / "a.onnx"), feeds,
                         PARITY_TOLERANCE[True], "b.onnx fp16")
    assert worst == pytest.approx(0.005, abs=1e-6)
    # The runtime's own bound path is what a GPU provider is checked through.
    assert check_parity(runtime._run_bound, chunk_of(tmp_path / "a.onnx"), feeds,
                        PARITY_TOLERANCE[False], "a.onnx") < 1e-6


def test_an_output_of_an_unusable_type_is_named(tmp_path, profile):
    path = constant_chunk_model(tmp_path / "m.onnx", profile, np.zeros((10, profile.n_joints)),
                                output_type=TensorProto.INT32)
    with pytest.raises(InterfaceError, match=r"tensor\(int32\)"):
        PolicyRuntime(path, profile)
