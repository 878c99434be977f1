import itertools

import cv2
import numpy as np
import pytest

from streamer.charset import CHARSET, MAX_LENGTH, decode_probs, encode, normalize_text
from streamer.geometry import (
    LETTERBOX_FILL,
    box_iou,
    box_to_corners,
    corners_to_box,
    letterbox,
    order_corners,
    plate_width,
    rectify,
    rectify_i420,
)

# a plate seen from slightly below and to the right: a skewed, non-rectangular quadrilateral
TILTED = np.array([[60, 50], [250, 70], [245, 130], [55, 105]], np.float32)


def test_letterbox_keeps_aspect_and_maps_points_both_ways():
    frame = np.zeros((360, 640, 3), np.uint8)
    frame[100:110, 300:310] = 255  # a white square whose position we follow
    out, lb = letterbox(frame, (320, 320))
    assert out.shape == (320, 320, 3)
    assert lb.scale == 0.5 and (lb.pad_x, lb.pad_y) == (0, 70)
    assert (out[:70] == LETTERBOX_FILL).all() and (out[250:] == LETTERBOX_FILL).all()
    centre = lb.to_input(np.array([305.0, 105.0]))
    np.testing.assert_allclose(centre, [152.5, 122.5])
    assert out[int(centre[1]), int(centre[0])].min() > 200
    points = np.array([[0, 0], [639, 359], [305.5, 105.25]], np.float32)
    np.testing.assert_allclose(lb.to_frame(lb.to_input(points)), points, atol=1e-4)
    box = np.array([300, 100, 310, 110], np.float32)
    np.testing.assert_allclose(lb.to_frame(lb.to_input(box)), box, atol=1e-4)


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_order_corners_from_any_order(order):
    np.testing.assert_array_equal(order_corners(TILTED[list(order)]), TILTED)


def test_ccpd_order_starting_bottom_right():
    ccpd = TILTED[[2, 3, 0, 1]]  # BR, BL, TL, TR
    np.testing.assert_array_equal(order_corners(ccpd), TILTED)


def test_box_helpers():
    np.testing.assert_array_equal(corners_to_box(TILTED), [55, 50, 250, 130])
    box = np.array([10, 20, 110, 50], np.float32)
    np.testing.assert_array_equal(corners_to_box(box_to_corners(box)), box)
    assert plate_width(box_to_corners(box)) == 100
    ious = box_iou(np.array([[0, 0, 10, 10], [5, 0, 15, 10]]), np.array([[0, 0, 10, 10]]))
    np.testing.assert_allclose(ious[:, 0], [1.0, 1 / 3])


def test_rectify_turns_a_drawn_quadrilateral_into_an_upright_plate():
    # Paint the plate's left half red and right half blue, with a black bar across its top
    # third, then check that the rectified image has the same layout, upright.
    image = np.full((200, 320, 3), 255, np.uint8)
    tl, tr, br, bl = TILTED
    top_mid, bottom_mid = (tl + tr) / 2, (bl + br) / 2
    left_third, right_third = tl + (bl - tl) / 3, tr + (br - tr) / 3
    cv2.fillConvexPoly(image, np.round([tl, top_mid, bottom_mid, bl]).astype(np.int32), (0, 0, 255))
    cv2.fillConvexPoly(image, np.round([top_mid, tr, br, bottom_mid]).astype(np.int32), (255, 0, 0))
    cv2.fillConvexPoly(image, np.round([tl, tr, right_third, left_third]).astype(np.int32), 0)
    plate = rectify(image, TILTED, (192, 48))
    assert plate.shape == (48, 192, 3)
    top, left, right = plate[4:12, 8:184], plate[24:44, 8:88], plate[24:44, 104:184]
    assert top.max() < 60  # the black bar runs along the whole top
    assert (left[..., 2] > 200).all() and (left[..., :2] < 60).all()  # red
    assert (right[..., 0] > 200).all() and (right[..., 1:] < 60).all()  # blue


def test_rectify_from_i420_planes_matches_rectify_of_the_converted_frame():
    """The pipeline rectifies plates straight from the decoded planes; the plate must be the
    one that rectifying the BGR conversion of the frame gives."""
    rng = np.random.default_rng(0)  # colours vary smoothly, as a camera's chroma does
    image = cv2.GaussianBlur(rng.integers(0, 256, (200, 320, 3), np.uint8), (31, 31), 0)
    cv2.putText(image, "AB 123", (70, 105), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (20, 20, 20), 4)
    planes = cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)
    expected = rectify(cv2.cvtColor(planes, cv2.COLOR_YUV2BGR_I420), TILTED, (192, 48))
    plate = rectify_i420(planes, TILTED, (192, 48))
    assert plate.shape == expected.shape == (48, 192, 3)
    diff = np.abs(plate.astype(int) - expected.astype(int))
    assert diff.mean() < 1.0 and np.percentile(diff, 99) <= 16


def test_normalize_text():
    assert normalize_text("ab-12 c.d") == "AB12CD"
    assert normalize_text("皖A·12345") == "皖A12345"


@pytest.mark.parametrize("text", ["皖AY339S", "AB12CD", "7", "ABCDEFGHJK"])
def test_encode_decode_round_trip(text):
    classes = encode(text)
    assert classes.shape == (MAX_LENGTH,) and (classes[len(text) :] == 0).all()
    probs = np.full((MAX_LENGTH, len(CHARSET)), 0.01, np.float32)
    probs[np.arange(MAX_LENGTH), classes] = 0.9
    decoded, confidences = decode_probs(probs)
    assert decoded == text
    assert confidences == pytest.approx([0.9] * len(text))


@pytest.mark.parametrize("text", ["", "ABCDEFGHJKL", "港A1234"])
def test_encode_refuses_what_cannot_be_read(text):
    with pytest.raises(ValueError):
        encode(text)


def test_a_letterbox_of_a_crop_maps_back_to_the_whole_frame():
    from streamer.geometry import letterbox_params

    lb = letterbox_params((300, 200), (640, 384))
    whole = lb.of_crop_at(100, 40)
    point = np.array([[10.0, 20.0]])  # in the crop
    np.testing.assert_allclose(whole.to_frame(lb.to_input(point)), point + [100, 40], atol=1e-4)


def test_crop_i420_is_the_cropped_picture():
    from streamer.geometry import crop_i420

    rng = np.random.default_rng(0)
    bgr = cv2.resize(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8), (160, 120))
    planes = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
    y, u, v = crop_i420(planes, (20, 10, 100, 90))
    assert y.shape == (80, 80) and u.shape == v.shape == (40, 40)
    assert all(np.shares_memory(p, planes) for p in (y, u, v))  # views, not copies
    packed = np.concatenate([y.ravel(), u.ravel(), v.ravel()]).reshape(120, 80)
    whole = cv2.cvtColor(planes, cv2.COLOR_YUV2BGR_I420)[10:90, 20:100]
    np.testing.assert_array_equal(cv2.cvtColor(packed, cv2.COLOR_YUV2BGR_I420), whole)
