"""Frame decoding shared by bag conversion and the inference node."""

import cv2
import numpy as np
import pytest

from lam_ros.data.images import compressed_to_rgb, raw_to_rgb, to_policy_size


def test_rgb8_and_bgr8_with_row_padding_decode_to_the_same_rgb():
    rgb = np.random.default_rng(0).integers(0, 255, (4, 5, 3), dtype=np.uint8)
    padded = np.zeros((4, 5 * 3 + 1), np.uint8)  # step > width * 3, as some drivers send
    padded[:, :15] = rgb.reshape(4, 15)
    np.testing.assert_array_equal(raw_to_rgb(padded.tobytes(), 4, 5, 16, "rgb8"), rgb)
    padded[:, :15] = rgb[..., ::-1].reshape(4, 15)
    np.testing.assert_array_equal(raw_to_rgb(padded.tobytes(), 4, 5, 16, "bgr8"), rgb)


def test_unsupported_encoding_is_named():
    with pytest.raises(ValueError, match="'mono16'"):
        raw_to_rgb(b"\0" * 8, 2, 2, 4, "mono16")


def test_png_compressed_round_trip_and_garbage():
    rgb = np.random.default_rng(1).integers(0, 255, (6, 7, 3), dtype=np.uint8)
    ok, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    np.testing.assert_array_equal(compressed_to_rgb(png.tobytes()), rgb)
    with pytest.raises(ValueError, match="undecodable"):
        compressed_to_rgb(b"not an image")


def test_resize_to_the_profile_size_only_when_needed():
    rgb = np.full((480, 640, 3), 200, np.uint8)
    small = to_policy_size(rgb, 96, 96)
    assert small.shape == (96, 96, 3) and small.flags.c_contiguous and small[0, 0, 0] == 200
    same = np.zeros((96, 96, 3), np.uint8)
    assert to_policy_size(same, 96, 96) is same


@pytest.mark.parametrize(("data", "height", "width", "step"), [
    (b"", 0, 0, 0),  # zero-sized
    (bytes(10), 4, 4, 12),  # fewer bytes than the header promises
    (bytes(48 + 5), 4, 4, 12),  # more
    (bytes(48), 4, 4, 6),  # a step shorter than a row
])
def test_malformed_raw_images_are_a_value_error(data, height, width, step):
    with pytest.raises(ValueError, match="cannot hold"):
        raw_to_rgb(data, height, width, step, "rgb8")


@pytest.mark.parametrize("data", [b"", b"not a jpeg"])
def test_undecodable_compressed_images_are_a_value_error(data):
    with pytest.raises(ValueError, match="undecodable"):
        compressed_to_rgb(data)
