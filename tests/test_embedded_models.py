"""The embedded models, through the runtime classes, on our own synthetic data (no real data
needed): the detector finds the plates of a sample video frame, the recognizer reads rendered
plates, and the two agree on the frame's plates end to end."""

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from streamer.charset import normalize_text
from streamer.config import DetectorConfig
from streamer.detector import Detector
from streamer.geometry import box_iou, letterbox_params
from streamer.recognizer import Recognizer
from streamer.sources import Frame

SAMPLES = Path(__file__).resolve().parent.parent / "sample_videos"


def frame_with_big_plates(name: str, min_width: float = 110.0):
    """The first frame of a sample clip where a labelled plate is at least ``min_width`` wide."""
    truth = json.loads((SAMPLES / f"{name}.json").read_text())
    wanted = {}
    for track in truth["tracks"]:
        for f in track["frames"]:
            if f["box"][2] - f["box"][0] >= min_width and f.get("visible", 1.0) >= 1.0:
                plate = (np.array(f["box"]), track["text"], f["corners"])
                wanted.setdefault(f["frame"], []).append(plate)
    index = min(wanted)
    with av.open(str(SAMPLES / f"{name}.mp4")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return frame.to_ndarray(format="bgr24"), wanted[index]
    raise AssertionError("frame not found")


@pytest.fixture(scope="module")
def detector():
    return Detector()


@pytest.fixture(scope="module")
def recognizer():
    return Recognizer()


def decoded(planes: np.ndarray) -> Frame:
    """A frame as the decoder hands it to the detector: its I420 planes, no BGR copy."""
    return Frame(0, 0.0, None, i420=planes)


@pytest.mark.parametrize("clip", ["eu_street", "mixed_traffic", "cn_gate"])
def test_detector_finds_large_plates_in_sample_frames(detector, clip):
    image, plates = frame_with_big_plates(clip)
    detections = detector.detect(image)
    assert detections, "no plate found"
    ious = box_iou(np.stack([b for b, _, _ in plates]), np.stack([d.box for d in detections]))
    assert (ious.max(1) >= 0.5).all(), f"missed a plate: IoUs {ious.max(1)}"
    for d in detections:
        assert d.corners.shape == (4, 2)
        assert d.corners[:, 0].min() >= d.box[0] - 0.25 * (d.box[2] - d.box[0])


def test_recognizer_reads_labelled_corners_of_sample_frames(recognizer):
    right = total = 0
    for clip in ("eu_street", "mixed_traffic", "cn_gate"):
        image, plates = frame_with_big_plates(clip, min_width=130)
        readings = recognizer.recognize(
            [recognizer.rectify(image, np.array(c, np.float32)) for _, _, c in plates]
        )
        for reading, (_, text, _) in zip(readings, plates):
            total += 1
            right += reading.text == normalize_text(text)
            assert len(reading.char_confidences) == len(reading.text)
            assert 0.0 <= reading.confidence <= 1.0
    assert total >= 3
    assert right >= total // 2, f"read {right} of {total}"


def test_recognizer_output_is_a_distribution_per_position(recognizer):
    crops = [np.full((48, 192, 3), v, np.uint8) for v in (0, 128, 255)]
    for reading in recognizer.recognize(crops):
        assert reading.probs.shape == (recognizer.spec["max_length"], len(recognizer.charset))
        np.testing.assert_allclose(reading.probs.sum(-1), 1.0, atol=1e-4)


def test_a_plate_reads_the_same_whatever_is_read_beside_it(recognizer):
    """The INT8 model's activation scale is set per run, so by default plates are read one by
    one: a frame's other plates must not change a plate's read."""
    image, plates = frame_with_big_plates("mixed_traffic", min_width=60)
    crops = [recognizer.rectify(image, np.array(c, np.float32)) for _, _, c in plates]
    crops += [np.full((48, 192, 3), 255, np.uint8), np.zeros((48, 192, 3), np.uint8)]
    alone = recognizer.recognize(crops[:1])[0]
    beside = recognizer.recognize(crops)[0]
    np.testing.assert_array_equal(alone.probs, beside.probs)


@pytest.mark.parametrize("clip", ["mixed_traffic", "cn_gate"])
def test_detector_finds_the_same_plates_in_the_decoded_planes(detector, clip):
    """The pipeline detects on a frame's I420 planes, scaled before conversion: the plates
    found are the ones found in the frame converted to BGR first."""
    import cv2

    image, _ = frame_with_big_plates(clip)
    with av.open(str(SAMPLES / f"{clip}.mp4")) as container:
        planes = next(
            f.to_ndarray()
            for f in container.decode(video=0)
            if np.array_equal(f.to_ndarray(format="bgr24"), image)
        )
    from_bgr = detector.detect(cv2.cvtColor(planes, cv2.COLOR_YUV2BGR_I420))
    from_planes = detector.detect_frame(decoded(planes))
    assert len(from_planes) == len(from_bgr) >= 1
    ious = box_iou(np.stack([d.box for d in from_bgr]), np.stack([d.box for d in from_planes]))
    assert (ious.max(1) > 0.9).all()
    # a part of the frame around a plate that scales to an odd width (300x360 -> 533x640): the
    # planes path pads a line instead of converting the frame first, and finds the same plate
    x1, y1, x2, y2 = from_bgr[0].box
    left = int(np.clip((x1 + x2) / 2 - 150, 0, image.shape[1] - 300)) // 2 * 2
    top = int(np.clip((y1 + y2) / 2 - 180, 0, image.shape[0] - 360)) // 2 * 2
    bgr = cv2.cvtColor(planes, cv2.COLOR_YUV2BGR_I420)[top : top + 360, left : left + 300]
    odd = cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2YUV_I420)
    lb = letterbox_params((300, 360), detector.input_size((300, 360)))
    assert round(300 * lb.scale) % 2 == 1
    expected = detector.detect(cv2.cvtColor(odd, cv2.COLOR_YUV2BGR_I420))
    found = detector.detect_frame(decoded(odd))
    assert len(found) == len(expected) >= 1
    ious = box_iou(np.stack([d.box for d in expected]), np.stack([d.box for d in found]))
    assert (ious.max(1) > 0.9).all()


def test_detector_int8_weights_are_seven_bit_so_no_cpu_saturates():
    """On AVX2 CPUs without VNNI ONNX Runtime sums pairs of u8 x s8 products in 16 bits; with
    weights within +-64 a pair is at most 2 * 255 * 64 = 32640 and cannot saturate, so the
    embedded detector finds the same plates there as on a VNNI CPU (with 8-bit weights it
    lost 1 in 10 of the Spanish and Indian validation plates on an AVX2 EPYC)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(DetectorConfig().model)).graph
    kernels = [
        numpy_helper.to_array(t)
        for t in graph.initializer
        if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 4
    ]
    assert len(kernels) >= 20  # every body convolution is quantised
    assert max(int(np.abs(k.astype(np.int32)).max()) for k in kernels) <= 64


def test_detector_input_follows_the_frame_and_max_side(detector):
    assert detector.input_size((1920, 1080)) == (640, 384)  # the sidecar's longer side, aspect kept
    assert detector.input_size((480, 640)) == (480, 640)
    larger = Detector(DetectorConfig(max_side=960))
    assert larger.input_size((1920, 1080)) == (960, 544)
    frame, _ = frame_with_big_plates("eu_street")
    assert len(larger.detect(frame)) >= 1


def test_a_slow_sources_frames_are_searched_larger_but_never_upscaled():
    detector = Detector(DetectorConfig())
    detector.pace(2.0)
    assert detector.input_size((1920, 1080)) == (960, 544)
    assert detector.input_size((800, 600)) == (800, 608)  # its own size: no larger
    assert detector.input_size((640, 480)) == (640, 480)
    detector.pace(25.0)
    assert detector.input_size((1920, 1080)) == (640, 384)
    off = Detector(DetectorConfig(slow_fps=0))
    off.pace(2.0)
    assert off.input_size((1920, 1080)) == (640, 384)


def test_still_views_are_the_plate_and_its_shifts_along_its_width():
    from streamer.voting import shifted_corners, view_shifts

    assert view_shifts(1, 0.03) == [0.0]
    assert view_shifts(3, 0.03) == [0.0, -0.03, 0.03]
    assert view_shifts(5, 0.03) == [0.0, -0.03, 0.03, -0.06, 0.06]
    # a plate tilted by 30 degrees moves along its own top edge, not along the image's x axis
    angle = np.deg2rad(30)
    along, down = (
        np.array([np.cos(angle), np.sin(angle)]),
        np.array([-np.sin(angle), np.cos(angle)]),
    )
    corners = np.array([0 * along, 200 * along, 200 * along + 50 * down, 50 * down]) + 100
    moved = shifted_corners(corners, 0.1)
    np.testing.assert_allclose(moved - corners, np.tile(20 * along, (4, 1)), atol=1e-4)


def test_a_still_plate_is_read_in_fused_views(recognizer):
    """One view is the plain read; three views fuse the reads of the plate as found and
    shifted to each side into one text, the plate's, on the sample frames' large plates."""
    from dataclasses import replace

    from streamer.voting import read_still

    image, plates = frame_with_big_plates("mixed_traffic", min_width=130)
    corners = [np.array(c, np.float32) for _, _, c in plates]
    single = Recognizer(replace(recognizer.config, still_views=1))
    plain = single.recognize([single.rectify(image, c) for c in corners])
    for (text, _, char_conf), reading in zip(read_still(single, image, corners), plain):
        assert text == reading.text
        np.testing.assert_allclose(char_conf, reading.char_confidences, rtol=1e-6)
    fused = read_still(recognizer, image, corners)
    assert recognizer.config.still_views == 3
    assert [text for text, _, _ in fused] == [normalize_text(t) for _, t, _ in plates]
    for text, confidence, char_conf in fused:
        assert len(char_conf) == len(text) and 0.0 < confidence <= 1.0


def roi_around(box: np.ndarray, size: tuple[int, int], margin: float) -> tuple[float, ...]:
    """Fractions of the frame for the box grown by ``margin`` of the frame on each side."""
    w, h = size
    return (
        max(0.0, box[0] / w - margin),
        max(0.0, box[1] / h - margin),
        min(1.0, box[2] / w + margin),
        min(1.0, box[3] / h + margin),
    )


def test_a_search_area_finds_its_plate_in_frame_pixels_and_nothing_outside():
    """With ``roi`` only that part is searched (and scaled up to the model input), and the
    plates come back in the whole frame's pixels, from BGR and from I420 planes alike."""
    import cv2

    image, plates = frame_with_big_plates("mixed_traffic")
    box = plates[0][0]
    h, w = image.shape[:2]
    planes = cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)
    around = Detector(DetectorConfig(roi=roi_around(box, (w, h), 0.08)))
    x1, y1, x2, y2 = around.search_area((w, h))
    assert x1 % 2 == y1 % 2 == x2 % 2 == y2 % 2 == 0
    assert x1 <= box[0] and y1 <= box[1] and x2 >= box[2] and y2 >= box[3]
    for found in (
        around.detect(image),
        around.detect_frame(decoded(planes)),
        around.detect_still(image),
    ):
        assert found, "the plate inside the area was not found"
        assert box_iou(box[None], np.stack([d.box for d in found])).max() >= 0.5
        for d in found:  # nothing reported outside the area
            assert x1 <= d.box[0] and d.box[2] <= x2 + 1 and y1 <= d.box[1] and d.box[3] <= y2 + 1
    # an area beside the plate (left of it, or right of it) does not see it
    beside = (0.0, 0.0, max(0.01, box[0] / w - 0.05), 1.0)
    if box[0] / w < 0.3:
        beside = (min(0.99, box[2] / w + 0.05), 0.0, 1.0, 1.0)
    elsewhere = Detector(DetectorConfig(roi=beside)).detect(image)
    assert all(box_iou(box[None], d.box[None])[0, 0] < 0.1 for d in elsewhere)


def test_no_search_area_is_the_whole_frame(detector):
    assert detector.search_area((1920, 1080)) == (0, 0, 1920, 1080)


@pytest.mark.parametrize("clip", ["eu_street", "mixed_traffic", "cn_gate"])
def test_a_still_is_looked_at_twice_and_its_mirror_maps_back(detector, clip):
    """The mirror image's plates, mapped back, are the image's own (boxes and corner order);
    ``detect_still`` keeps the labelled plates, boxes and corners between the two looks'."""
    from streamer.detector import mirrored_back

    image, plates = frame_with_big_plates(clip)
    direct = detector.detect(image)
    mirror = mirrored_back(detector.detect(np.ascontiguousarray(image[:, ::-1])), image.shape[1])
    ious = box_iou(np.stack([d.box for d in direct]), np.stack([d.box for d in mirror]))
    assert (ious.max(1) >= 0.5).all()  # each plate of one look overlaps its twin
    for d in mirror:  # TL, TR, BR, BL again: left corners left of the right ones
        assert d.corners[0, 0] < d.corners[1, 0] and d.corners[3, 0] < d.corners[2, 0]
    still = detector.detect_still(image)
    ious = box_iou(np.stack([b for b, _, _ in plates]), np.stack([d.box for d in still]))
    assert (ious.max(1) >= 0.5).all(), f"missed a plate: IoUs {ious.max(1)}"
    assert all(d.score >= detector.score_threshold for d in still)


def dusk_frame(index: int) -> tuple[np.ndarray, dict[str, list[float]]]:
    """A frame of the eu_street sample darkened as at dusk (gamma 2.2, 0.8 gain, noise: the
    clips' ``--perturb dark``), and its plates' boxes."""
    from trainer.eval.perturbations import darker

    truth = json.loads((SAMPLES / "eu_street.json").read_text())
    boxes = {
        t["text"]: f["box"] for t in truth["tracks"] for f in t["frames"] if f["frame"] == index
    }
    with av.open(str(SAMPLES / "eu_street.mp4")) as container:
        frames = container.decode(video=0)
        picture = next(f for i, f in enumerate(frames) if i == index).to_ndarray(format="bgr24")
    return darker(picture, np.random.default_rng(0)), boxes


def plates_found(detector: Detector, frame, boxes: dict[str, list[float]]) -> set[str]:
    """The labelled plates of ``boxes`` that ``detector`` finds in ``frame`` (IoU 0.5)."""
    got = np.array([d.box for d in detector.detect_frame(frame)]).reshape(-1, 4)
    if not len(got):
        return set()
    return {t for t, b in boxes.items() if box_iou(np.array([b]), got).max() >= 0.5}


@pytest.mark.parametrize("planes", [False, True])
def test_a_dark_frame_gets_a_second_brightened_look(planes):
    """eu_street's frame 75 at dusk: the near yellow plate 8JL084 (90 px wide), lost in the
    dark, is found in the look brightened to a mean of 0.35; MV184VT, found in both, is kept
    once."""
    from streamer.sources import frame_pixels

    dark, boxes = dusk_frame(75)
    if planes:
        picture = av.VideoFrame.from_ndarray(dark, format="bgr24").reformat(format="yuv420p")
        frame = Frame(index=0, pts=0.0, wallclock=None, i420=frame_pixels(picture)[1])
    else:
        frame = Frame(index=0, pts=0.0, wallclock=None, bgr=dark)

    one_look, two_looks = Detector(DetectorConfig(dark_frame=0)), Detector()
    assert "8JL084" not in plates_found(one_look, frame, boxes)
    assert {"8JL084", "MV184VT"} <= plates_found(two_looks, frame, boxes)
    assert len(two_looks.detect_frame(frame)) == 2


def test_the_search_area_alone_decides_whether_a_frame_is_dark():
    """The dusk street under a white sky (the frame's upper half): bright on the whole, but
    the part searched (``roi``, the street) is dark and gets its brightened look. Frame 60:
    MV184VT is found in neither look of the whole frame nor in the street's one look (frame
    75's 8JL084 was, until the detector of 2026-12-06 found it in the street's one look)."""
    dark, boxes = dusk_frame(60)
    dark[:300] = 255  # a mean of 0.52
    frame = Frame(index=0, pts=0.0, wallclock=None, bgr=dark)
    street = (0.0, 0.45, 1.0, 0.95)  # below the white
    assert "MV184VT" not in plates_found(Detector(), frame, boxes)
    assert "MV184VT" not in plates_found(
        Detector(DetectorConfig(roi=street, dark_frame=0)), frame, boxes
    )
    assert "MV184VT" in plates_found(Detector(DetectorConfig(roi=street)), frame, boxes)


def test_only_a_dark_frame_is_looked_at_twice():
    detector = Detector()
    dark, _ = dusk_frame(75)
    curve = detector.dark_lift(dark)
    assert curve is not None and curve[0] == 0 and curve[255] == 255
    assert abs(cv2.LUT(dark, curve).mean() / 255 - 0.35) < 0.08  # about the mean aimed at
    assert detector.dark_lift(np.full((48, 64, 3), 90, np.uint8)) is None  # mean 0.35
    assert Detector(DetectorConfig(dark_frame=0)).dark_lift(dark) is None
