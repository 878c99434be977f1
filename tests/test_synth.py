"""The synthetic generator: plates, scenes, plate crops, videos and the committed sample clips."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import av
import numpy as np
import pytest

from streamer.charset import LATIN, PROVINCES, encode, normalize_text
from streamer.geometry import box_to_corners, corners_to_box
from trainer.data.plates import PlateSample
from trainer.synth.commands import register
from trainer.synth.glyphs import FONT_FILES, draw_glyph, glyph, wide_light_glyph
from trainer.synth.plates import (
    REGIONS,
    STYLE_SIZES_MM,
    STYLES,
    _draw_side_badge,
    new_canvas,
    render_plate,
)
from trainer.synth.restyle import character_boxes, new_order, rearranged, restyled
from trainer.synth.scenes import random_plate_sample, random_scene
from trainer.synth.texts import REPEAT_SHARE, fill_pattern
from trainer.synth.vehicles import car_face
from trainer.synth.video import READABLE_PX, synth_video
from trainer.train_recognizer import restyled_pool

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_videos"
CN = f"[{''.join(PROVINCES)}][A-HJ-NP-Z]"
TEXT_PATTERNS = {
    "cn_blue": rf"{CN}[A-HJ-NP-Z0-9]{{5}}",
    "cn_green": rf"{CN}([DF][A-HJ-NP-Z0-9]\d{{4}}|\d{{5}}[DF])",
    "eu": r"[A-Z0-9]{5,8}",
    "us": r"[A-NP-Z0-9]{2,8}",
    "br_grey": r"[A-Z]{3}\d{4}",
    "br_mercosur": r"[A-Z]{3}\d[A-Z]\d{2}",
    "ar_old": r"[A-Z]{3}\d{3}",
    "ar_mercosur": r"[A-Z]{2}\d{3}[A-Z]{2}",
    "in_car": r"[A-Z]{2}\d{1,2}[A-Z]{1,3}\d{4}",
    "in_square": r"[A-Z]{2}\d{1,2}[A-Z]{1,3}\d{4}",
    "id_car": r"[A-Z]{1,2}\d{2,4}[A-Z]{1,3}",
    "id_moto": r"[A-Z]{1,2}\d{2,4}[A-Z]{1,3}",
    "uk_front": r"[A-Z]{1,3}\d{2,4}[A-Z]{0,3}",
    "uk_rear": r"[A-Z]{1,3}\d{2,4}[A-Z]{0,3}",
    "uk_square": r"[A-Z]{1,3}\d{2,4}[A-Z]{0,3}",
}


def test_every_plate_character_has_a_glyph():
    assert all(path.is_file() for path in FONT_FILES.values())
    for ch in PROVINCES:
        assert glyph(ch, "cjk").mask.max() > 0
    for font in ("din", "sans", "sans-book", "mono", "serif"):
        for ch in LATIN:
            assert glyph(ch, font).mask.max() > 0


def test_the_letter_o_is_rounder_than_the_digit_in_every_face():
    """OSP-DIN draws both with one shape; plate faces print a round O and a narrow 0."""
    for font in ("din", "sans", "mono", "serif"):
        assert glyph("O", font).aspect > glyph("0", font).aspect
    assert glyph("O", "din").aspect > 1.2 * glyph("0", "din").aspect


def _stem(mask: np.ndarray) -> int:
    """Width of the first ink run a quarter of the way down (an H's left stem)."""
    row = mask[mask.shape[0] // 4] > 127
    edges = np.flatnonzero(np.diff(np.r_[0, row.astype(np.int8), 0]))
    return int(edges[1] - edges[0])


def test_the_dutch_face_is_wide_with_light_strokes_where_a_stretch_is_bold():
    plain = glyph("H", "din")
    cap = plain.cap_bottom - plain.cap_top
    light = wide_light_glyph("H", "din", 1.4, 0.1)
    assert light.aspect > 1.3 * plain.aspect
    assert abs(_stem(light.mask) - 0.1 * cap) <= 2
    assert _stem(light.mask) < 0.75 * _stem(plain.mask) * 1.4  # a plain stretch's stem


@pytest.mark.parametrize("style", sorted(STYLES))
def test_plates_have_their_size_and_text_format(style):
    rng = np.random.default_rng(1)
    w_mm, h_mm = STYLE_SIZES_MM[style]
    for _ in range(5):
        plate = render_plate(rng, style=style)
        assert plate.image.shape == (h_mm, w_mm, 3) and plate.image.dtype == np.uint8
        assert plate.alpha.shape == (h_mm, w_mm)
        assert plate.text == normalize_text(plate.printed)
        assert re.fullmatch(TEXT_PATTERNS[style], plate.text), (style, plate.printed)
        assert plate.region in REGIONS and style.startswith(plate.region.lower()[:2])
        encode(plate.text)  # inside the recognizer's charset
        assert plate.image.std() > 20  # characters were drawn


def test_region_choice_is_respected():
    rng = np.random.default_rng(2)
    assert {render_plate(rng, regions=["BR", "AR"]).region for _ in range(30)} == {"BR", "AR"}
    with pytest.raises(ValueError):
        render_plate(rng, regions=["XX"])


def test_scene_labels_lie_in_the_image_and_agree_with_their_boxes():
    rng = np.random.default_rng(3)
    plates = 0
    for _ in range(8):
        image, labels = random_scene(rng, (480, 320))
        assert image.shape == (320, 480, 3) and image.dtype == np.uint8
        for lab in labels:
            plates += 1
            corners = lab["corners"]
            assert corners.shape == (4, 2) and corners.dtype == np.float32
            assert (corners >= 0).all() and (corners[:, 0] <= 480).all()
            assert (corners[:, 1] <= 320).all()
            assert lab["box"].dtype == np.float32
            np.testing.assert_allclose(lab["box"], corners_to_box(corners))
            assert corners[1, 0] > corners[0, 0] and corners[3, 1] > corners[0, 1]  # TL TR BR BL
            encode(lab["text"])
            assert lab["region"] in REGIONS
    assert plates >= 5


def test_scenes_are_reproducible_from_the_seed():
    a, la = random_scene(np.random.default_rng(7), (320, 240))
    b, lb = random_scene(np.random.default_rng(7), (320, 240))
    assert np.array_equal(a, b) and [x["text"] for x in la] == [x["text"] for x in lb]


def test_badges_are_lettering_beside_the_plate_slot_only():
    """Scene cars carry model badges as hard negatives; the same seed draws the same car, so
    the badges are the only difference, and none of it lies in the plate's slot."""
    changed = 0
    for seed in range(20):
        plain = car_face(np.random.default_rng(seed), (520, 110), 0.5, rear=True)
        badged = car_face(np.random.default_rng(seed), (520, 110), 0.5, rear=True, badges=True)
        differs = (plain.image != badged.image).any(-1)
        x, y, w, h = (round(v * plain.px_per_mm) for v in plain.plate_mm)
        assert not differs[y : y + h, x : x + w].any()
        changed += differs.any()
    assert changed >= 10


def test_plate_samples_hold_their_plate_and_an_encodable_text():
    rng = np.random.default_rng(4)
    for _ in range(5):
        context, corners, text = random_plate_sample(rng)
        h, w = context.shape[:2]
        assert corners.shape == (4, 2)
        assert (corners >= -1).all() and (corners[:, 0] <= w + 1).all()
        assert (corners[:, 1] <= h + 1).all()
        encode(text)


def decoded_frames(path: Path) -> tuple[int, tuple[int, int]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        count = sum(1 for _ in container.decode(stream))
        return count, (stream.codec_context.width, stream.codec_context.height)


def check_truth(truth: dict, frames: int, size: tuple[int, int]) -> None:
    assert truth["frames"] == frames and (truth["width"], truth["height"]) == size
    assert truth["tracks"]
    for track in truth["tracks"]:
        encode(track["text"])
        widths = []
        for f in track["frames"]:
            assert 0 <= f["frame"] < frames
            assert f["pts"] == pytest.approx(f["frame"] / truth["fps"], abs=1e-5)
            corners = np.array(f["corners"])
            assert corners.shape == (4, 2)
            assert (corners >= 0).all() and (corners[:, 0] < size[0]).all()
            assert (corners[:, 1] < size[1]).all()
            np.testing.assert_allclose(f["box"], corners_to_box(corners), atol=0.02)
            if f["visible"] > 0.97:
                widths.append(f["box"][2] - f["box"][0])
        assert max(widths) >= READABLE_PX * 0.99, track["text"]  # readable at some point


@pytest.mark.parametrize("scene", ["street", "gate"])
def test_short_video_decodes_and_matches_its_ground_truth(tmp_path, scene):
    out = tmp_path / "clip.mp4"
    truth = synth_video(out, seconds=1.0, fps=10, size=(480, 272), seed=1, scene=scene)
    frames, size = decoded_frames(out)
    assert (frames, size) == (10, (480, 272))
    on_disk = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert on_disk == truth and on_disk["video"] == "clip.mp4"
    check_truth(on_disk, frames, size)


@pytest.mark.parametrize("name", ["eu_street", "mixed_traffic", "cn_gate"])
def test_committed_sample_videos_match_their_ground_truth(name):
    video = SAMPLES / f"{name}.mp4"
    truth = json.loads(video.with_suffix(".json").read_text(encoding="utf-8"))
    assert truth["video"] == video.name
    frames, size = decoded_frames(video)
    check_truth(truth, frames, size)


def test_sample_videos_stay_small():
    assert sum(p.stat().st_size for p in SAMPLES.glob("*.mp4")) <= 5 * 1024 * 1024


def test_synth_samples_command_writes_pngs(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["synth-samples", str(tmp_path), "--count", "2", "--size", "320x240"])
    assert args.func(args) == 0
    assert len(list(tmp_path.glob("plate_*.png"))) == 2
    assert len(list(tmp_path.glob("scene_*.png"))) == 2
    assert "plates/s" in capsys.readouterr().out


@pytest.mark.parametrize("turns", [{}, {"rotate_share": 1.0, "rotate_degrees": 35.0}])
def test_detector_tiles_keep_boxes_tight_around_turned_and_flipped_plates(turns):
    """Training tiles are scaled, flipped and sometimes turned in-plane; the target box must
    still be the plate's own extent in the tile, or the detector learns loose boxes. A plate cut
    by the tile's edge is no target but a region left out of the score loss: boxed, it teaches
    the detector to box parts of large plates, or what the tile does not show."""
    import cv2

    from trainer.data.detection import DetScene, random_tile

    image = np.full((480, 640, 3), 60, np.uint8)
    cv2.rectangle(image, (200, 200), (440, 280), (255, 255, 255), -1)
    corners = np.array([[[200, 200], [440, 200], [440, 280], [200, 280]]], np.float32)
    scene = DetScene(image, np.array([[200, 200, 440, 280]], np.float32), corners,
                     np.array([True]), "test", "test")  # fmt: skip
    rng = np.random.default_rng(0)
    checked = cut = 0
    for _ in range(80):
        t = random_tile(scene, rng, 320, strength=0.0, **turns)
        ys, xs = np.nonzero(t.image.min(2) > 160)
        if not len(xs):  # a turned plate's hull can reach into the tile where the plate does not
            assert len(t.boxes) == 0 and (turns or len(t.ignore) == 0)
            continue
        extent = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        if extent.min() == 0 or extent.max() == 320:  # cut by the tile's edge
            if len(t.ignore):
                cut += 1
                assert len(t.boxes) == 0
                covers = (t.ignore[0, :2] <= extent[:2] + 2).all() and (
                    t.ignore[0, 2:] >= extent[2:] - 2
                ).all()
                assert covers, (t.ignore[0], extent)
            continue
        assert len(t.boxes) == 1 and len(t.ignore) == 0
        assert np.abs(t.boxes[0] - extent).max() <= 8, (t.boxes[0], extent)
        checked += 1
    assert checked >= 10 and cut >= 3


def test_tiles_are_cut_at_scales_drawn_from_the_given_range():
    """``--tile-scales``: a plate 240 px wide in a 640-px scene (the runtime's own scale) is
    between LOW and HIGH times that wide in the tiles, and spans the range."""
    from trainer.data.detection import DetScene, random_tile

    image = np.full((480, 640, 3), 60, np.uint8)
    corners = np.array([[[200, 200], [440, 200], [440, 280], [200, 280]]], np.float32)
    scene = DetScene(image, np.array([[200, 200, 440, 280]], np.float32), corners,
                     np.array([True]), "test", "test")  # fmt: skip
    rng = np.random.default_rng(0)
    widths = []
    for _ in range(200):
        t = random_tile(scene, rng, 1024, strength=0.0, rotate_share=0.0, scales=(0.1, 0.3))
        widths += list(t.boxes[:, 2] - t.boxes[:, 0])
    widths = np.array(widths) / 240
    assert len(widths) > 100
    assert widths.min() >= 0.1 - 1e-3 and widths.max() <= 0.3 + 1e-3
    assert widths.min() < 0.12 and widths.max() > 0.27


def test_small_plate_tiles_draw_the_plate_width_whatever_the_scene_scale():
    """``--small-plate-share``: a close-up's 240-px plate is cut 16-64 px wide in those tiles
    (spanning the range), and a tile shrunk 4x or more is averaged as the runtime's letterbox
    is: pixel-fine noise keeps far less contrast than bilinear sampling leaves it."""
    from trainer.data.detection import SMALL_PLATE_WIDTHS, DetScene, random_tile

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (480, 640, 3)).astype(np.uint8)
    corners = np.array([[[200, 200], [440, 200], [440, 280], [200, 280]]], np.float32)
    scene = DetScene(image, np.array([[200, 200, 440, 280]], np.float32), corners,
                     np.array([True]), "test", "test")  # fmt: skip
    widths, contrast = [], []
    for _ in range(100):
        t = random_tile(scene, rng, 320, strength=0.0, rotate_share=0.0, small_share=1.0)
        widths += list(t.boxes[:, 2] - t.boxes[:, 0])
        if len(t.boxes) and t.boxes[0, 2] - t.boxes[0, 0] < 40:  # the scene shrunk 6x or more
            x1, y1, x2, y2 = t.boxes[0].astype(int)
            contrast.append(t.image[y1 + 2 : y2 - 2, x1 + 2 : x2 - 2].std())
    low, high = SMALL_PLATE_WIDTHS
    assert len(widths) > 80
    assert min(widths) >= low - 1 and max(widths) <= high + 1
    assert min(widths) < 1.3 * low and max(widths) > 0.8 * high
    assert contrast and max(contrast) < 12  # sampled, it keeps a deviation of 22-60


def test_plates_seen_but_not_labelled_are_left_out_of_the_score_loss():
    """The scenes label one plate an image: a second plate the embedded detector finds there is
    neither target nor background, and it stays so in every tile; fully labelled groups keep
    every unlabelled region as background."""
    from streamer.config import MODELS_DIR
    from streamer.geometry import box_iou
    from trainer.data.detection import DetScene, mark_unlabelled, random_tile
    from trainer.train_detector import synthetic_scenes

    full = next(s for s in synthetic_scenes(7, 12) if len(s.boxes) >= 2)

    def first_plate_only(group: str) -> DetScene:
        return DetScene(full.image, full.boxes[:1], full.corners[:1], full.has_corners[:1],
                        group, group)  # fmt: skip

    partly, fully = first_plate_only("scene-x"), first_plate_only("det-y")
    assert mark_unlabelled({"scene-x": [partly], "det-y": [fully]}, MODELS_DIR / "detector.onnx")
    assert len(fully.ignore) == 0
    assert (box_iou(full.boxes[1:], partly.ignore).max(1) >= 0.5).all()
    assert (box_iou(partly.ignore, partly.boxes) < 0.3).all()
    rng = np.random.default_rng(0)
    seen = 0
    for _ in range(60):
        t = random_tile(partly, rng, 320, strength=0.0)
        seen += len(t.ignore) > 0
        assert not len(t.boxes) or (box_iou(t.boxes, t.ignore) < 0.3).all()
    assert seen >= 10


def test_ignore_regions_move_with_the_tile():
    """Scaled and shifted, mirrored, or left outside the tile, as the tile's pixels are."""
    from trainer.data.detection import moved_boxes

    box = np.array([[10, 20, 60, 40]], np.float32)
    scaled = np.array([[2, 0, -10], [0, 2, -20]], np.float32)
    np.testing.assert_allclose(moved_boxes(box, scaled, 320), [[10, 20, 110, 60]])
    mirrored = np.array([[-1, 0, 320], [0, 1, 0]], np.float32)
    np.testing.assert_allclose(moved_boxes(box, mirrored, 320), [[260, 20, 310, 40]])
    away = np.array([[1, 0, 400], [0, 1, 0]], np.float32)
    assert moved_boxes(box, away, 320).shape == (0, 4)


def test_some_detector_batches_hold_large_tiles_with_the_same_pixels():
    """A plate wider than the usual tile must be seen whole in some batches; those batches hold
    fewer, larger tiles, so that a step costs the same."""
    from trainer.data.detection import DetScene
    from trainer.train_detector import TileBatches

    image = np.full((480, 640, 3), 60, np.uint8)
    box = np.array([[50, 300, 600, 420]], np.float32)
    corners = np.array([[[50, 300], [600, 300], [600, 420], [50, 420]]], np.float32)
    scene = DetScene(image, box, corners, np.array([True]), "test", "test")
    batches = TileBatches({"test": [scene]}, np.random.default_rng(0), 320, 0.0)
    shapes = {tuple(batches.draw(16)[0].shape) for _ in range(30)}
    assert shapes == {(16, 3, 320, 320), (4, 3, 640, 640)}
    assert {tuple(batches.draw(16, large_tiles=False)[0].shape) for _ in range(10)} == {
        (16, 3, 320, 320)
    }


def test_a_detector_group_weight_replaces_that_groups_share_of_the_batches():
    """The named group gets the weight given, the others keep theirs; a name that is not a
    group is an error naming the groups, not a weight silently unused."""
    from trainer.data.detection import DetScene
    from trainer.train_detector import GROUP_WEIGHTS, TileBatches

    scene = DetScene(
        np.zeros((64, 64, 3), np.uint8), np.zeros((0, 4), np.float32),
        np.zeros((0, 4, 2), np.float32), np.zeros(0, bool), "x", "x",
    )  # fmt: skip
    groups = {"ccpd": [scene], "det-a": [scene], "det-b": [scene]}
    plain = TileBatches(groups, np.random.default_rng(0), 64, 0.0)
    weighted = TileBatches(groups, np.random.default_rng(0), 64, 0.0, group_weights={"det-b": 0.5})
    left = 1 - GROUP_WEIGHTS["ccpd"]
    assert np.allclose(plain.p, np.array([GROUP_WEIGHTS["ccpd"], left / 2, left / 2]))
    w = np.array([GROUP_WEIGHTS["ccpd"], left / 2, 0.5])
    assert np.allclose(weighted.p, w / w.sum())
    with pytest.raises(ValueError, match="unknown group 'det-c'.*ccpd, det-a, det-b"):
        TileBatches(groups, np.random.default_rng(0), 64, 0.0, group_weights={"det-c": 0.5})


def test_us_texts_are_free_in_length_and_write_o_as_zero():
    from trainer.synth.texts import us_text

    rng = np.random.default_rng(4)
    texts = [normalize_text(us_text(rng)) for _ in range(400)]
    assert not any("O" in t for t in texts)
    lengths = {len(t) for t in texts}
    assert {3, 4, 5, 6, 7, 8} <= lengths  # not only the state formats' 5-7
    words = [t for t in texts if t.isalpha()]
    assert len(words) > 35  # vanity words
    assert sum(any(a == b for a, b in zip(w, w[1:])) for w in words) > 15  # GAGGED, BLOGGER


def test_some_us_plates_have_a_picture_inside_the_number(monkeypatch):
    """A state's picture between the characters (4 [horse] 434R) is drawn in a wide gap that
    the label does not have: the recognizer learns to read across it."""
    from trainer.synth import plates as plate_module

    gaps = []
    draw = plate_module._draw_us_emblem

    def recording(canvas, gap, rng):
        before = canvas.image.copy()
        draw(canvas, gap, rng)
        gaps.append((gap, np.abs(canvas.image - before).sum() > 0))

    monkeypatch.setattr(plate_module, "_draw_us_emblem", recording)
    rng = np.random.default_rng(2)
    plates = [render_plate(rng, style="us") for _ in range(60)]
    assert 5 <= len(gaps) <= 40
    for (char, left, width), drawn in gaps:
        assert char == " " and width >= 20 and left > 16 and drawn
    assert all(" " not in p.text and p.text == normalize_text(p.printed) for p in plates)


def test_us_numbers_vary_in_type_face_and_glyph_width(monkeypatch):
    """US states print their numbers in thin, bold, condensed and wide faces; a recognizer that
    sees one width only loses count of the letters of the others."""
    import trainer.synth.plates as plates

    drawn: list[tuple[str, float]] = []
    draw_text = plates.draw_text

    def recording(canvas, printed, box, font, weight, **kwargs):
        drawn.append((font, kwargs.get("widen", 1.0)))
        return draw_text(canvas, printed, box, font, weight, **kwargs)

    monkeypatch.setattr(plates, "draw_text", recording)
    rng = np.random.default_rng(5)
    for _ in range(40):
        plates.render_us(rng)
    widths = [w for _, w in drawn]
    assert min(widths) < 0.8 and max(widths) > 1.2
    assert {"sans", "din", "mono", "sans-book"} <= {f for f, _ in drawn}


def test_dutch_and_belgian_numbers_are_drawn_in_the_light_wide_kenteken_face(monkeypatch):
    """Belgian plates since 2010 print their ruby-red numbers in a light, wide face much like
    the Dutch Kenteken, with short dashes; taught them in bold DIN, a recognizer reads a real
    Belgian thin M as W."""
    import trainer.synth.plates as plates

    drawn: list[tuple[str, int, float]] = []
    draw_text = plates.draw_text

    def recording(canvas, printed, box, font, weight, **kwargs):
        drawn.append((font, weight, kwargs.get("widen", 1.0)))
        return draw_text(canvas, printed, box, font, weight, **kwargs)

    monkeypatch.setattr(plates, "draw_text", recording)
    rng = np.random.default_rng(4)
    belgian = [plates.render_eu(rng, variant="be") for _ in range(20)]
    dutch = [plates.render_eu(rng, variant="nl_yellow") for _ in range(20)]
    assert len(drawn) == 40
    assert all(font == "din" and weight <= 2 and widen >= 1.1 for font, weight, widen in drawn)
    assert all(re.fullmatch("[12][A-Z]{3}[0-9]{3}", p.text) for p in belgian)
    assert all(p.region == "EU" for p in belgian + dutch)


def test_old_argentine_plates_sit_in_light_holders_with_condensed_worn_faces(monkeypatch):
    """Photographed old Argentine plates sit in a light plastic frame, in a tall condensed face
    whose paint wears off the middle of the strokes; the label stays the plain number."""
    import trainer.synth.plates as plates

    widths: list[float] = []
    worn: list[bool] = []
    draw_text, wear = plates.draw_text, plates._wear_stroke_middles

    def recording_text(canvas, printed, box, font, weight, **kwargs):
        widths.append(kwargs.get("widen", 1.0))
        return draw_text(canvas, printed, box, font, weight, **kwargs)

    def recording_wear(canvas, rng):
        before = canvas.ink.sum()
        wear(canvas, rng)
        worn.append(canvas.ink.sum() < before)

    monkeypatch.setattr(plates, "draw_text", recording_text)
    monkeypatch.setattr(plates, "_wear_stroke_middles", recording_wear)
    rng = np.random.default_rng(3)
    drawn = [plates.render_ar_old(rng) for _ in range(60)]
    framed = [p for p in drawn if p.image[7:9, 100:190].mean() > 120]  # 8 mm down: frame or not
    assert 0.4 <= len(framed) / len(drawn) <= 0.8
    assert min(widths) < 0.7 and max(widths) > 0.9
    assert 5 <= len(worn) <= 35 and all(worn)
    assert any(set(p.printed) & {"-", "·"} for p in drawn)
    assert all(re.fullmatch("[A-Z]{3}[0-9]{3}", p.text) for p in drawn)


def test_pack_round_trip_scales_labels_with_the_picture(tmp_path):
    from trainer.data.detection import DetScene
    from trainer.data.pack import read_pack, write_pack
    from trainer.data.plates import PlateSample

    image = np.zeros((600, 1000, 3), np.uint8)
    image[300:360, 400:600] = 255  # the plate
    box = np.array([[400, 300, 600, 360]], np.float32)
    corners = np.array([[[400, 300], [600, 300], [600, 360], [400, 360]]], np.float32)
    scene = DetScene(image, box, corners, np.array([True]), "g", "one.jpg", box + [200, 0, 200, 0])
    plate = PlateSample(image[250:410, 300:700].copy(), corners[0] - [300, 250], "AB123", "br")
    size = write_pack({"g": [scene], "br": [plate]}, tmp_path / "a.pack", 500, quality=90)
    assert size > 0
    groups = read_pack(tmp_path / "a.pack")
    (back,) = groups["g"]
    assert back.image.shape == (300, 500, 3) and back.name == "one.jpg"
    np.testing.assert_allclose(back.boxes, box / 2)
    np.testing.assert_allclose(back.corners, corners / 2)
    np.testing.assert_allclose(back.ignore, (box + [200, 0, 200, 0]) / 2)
    x1, y1, x2, y2 = back.boxes[0].astype(int)
    assert back.image[y1 + 2 : y2 - 2, x1 + 2 : x2 - 2].min() > 200  # the plate is where its box is
    (same,) = groups["br"]  # no larger than max_side: kept at its size
    assert same.context.shape == (160, 400, 3) and same.text == "AB123" and same.group == "br"
    np.testing.assert_allclose(same.corners, plate.corners)


def test_a_file_that_is_not_a_pack_is_refused(tmp_path):
    import pickle

    from trainer.data.pack import read_pack

    path = tmp_path / "other.pack"
    path.write_bytes(pickle.dumps({"groups": {}}))
    with pytest.raises(ValueError, match="not a platestream-pack"):
        read_pack(path)


def test_tiles_drawn_by_loader_workers_become_the_same_input_as_in_process_ones():
    """Worker processes hand over uint8 tiles and numpy targets; on the training side they must
    become what ``TileBatches.draw`` gives in one process."""
    import torch

    from streamer.modelfile import normalize_image
    from trainer.data.detection import DetScene
    from trainer.device import batch_stream, images_to_input
    from trainer.train_detector import INPUT_SPEC, TileBatches, targets_to

    image = np.random.default_rng(1).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    box = np.array([[200, 200, 320, 240]], np.float32)
    corners = np.array([[[200, 200], [320, 200], [320, 240], [200, 240]]], np.float32)
    scene = DetScene(image, box, corners, np.array([True]), "test", "test")
    batches = TileBatches({"test": [scene]}, np.random.default_rng(0), 320, 0.0, 0.0)
    stream = batch_stream(batches, 4, seed=3, workers=2)
    rgb, targets = next(stream)
    cpu = torch.device("cpu")
    x = images_to_input(rgb, INPUT_SPEC["mean"], INPUT_SPEC["std"], cpu)
    assert x.shape == (4, 3, 320, 320) and x.dtype == torch.float32
    expected = normalize_image(rgb, INPUT_SPEC["mean"], INPUT_SPEC["std"])
    np.testing.assert_allclose(x.numpy(), expected, atol=1e-6)
    targets = targets_to(targets, cpu)
    assert len(targets) == 4 and all(t[0].shape[1:] == (4,) for t in targets)
    second, _ = next(stream)
    assert not np.array_equal(rgb, second)  # the workers draw different tiles


def test_plate_numbers_draw_runs_of_one_character_within_a_kind():
    """Runs (88, NN) come up more often than uniform draws give them, and a run never turns a
    letter place into a digit or the reverse."""
    rng = np.random.default_rng(3)
    texts = [fill_pattern("LL99LL99", rng) for _ in range(2000)]
    assert all(re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z]{2}[0-9]{2}", t) for t in texts)
    digit_runs = np.mean([t[2] == t[3] for t in texts])
    assert 0.1 + REPEAT_SHARE * 0.9 - 0.04 < digit_runs < 0.1 + REPEAT_SHARE * 0.9 + 0.04


@pytest.mark.parametrize("x_mm, width_mm", [(6, 64), (234, 56)])
def test_a_us_badge_stays_in_the_margin_beside_the_number(x_mm, width_mm):
    """The seal or pictogram must not cover a character, or the label would lie: render_us
    leaves 4 mm between the badge's margin and the number, and the outline's stroke and
    antialiasing may spill at most 3 mm (px here) over the margin's edge."""
    for seed in range(12):
        canvas = new_canvas("us", 1.0, (255, 255, 255))
        _draw_side_badge(canvas, x_mm, width_mm, np.random.default_rng(seed))
        columns = np.flatnonzero((canvas.image != 255).any(axis=(0, 2)))
        assert columns.size, "nothing drawn"
        assert x_mm - 3 <= columns.min() and columns.max() <= x_mm + width_mm + 3


def plate_with_number(text: str, ink, face, size=(320, 80), font="sans") -> np.ndarray:
    """A plain plate: ``text`` in ``font`` (DejaVu Sans Bold), 40 px high, across the middle."""
    canvas = np.zeros((size[1], size[0], 1), np.float32)
    x = 20.0
    for c in text:
        g = glyph(c, font)
        draw_glyph(canvas, g, (x, 20, g.aspect * 40, 40), (1.0,))
        x += g.aspect * 40 + 6
    plate = np.full((size[1], size[0], 3), face, np.float32)
    return (plate * (1 - canvas) + canvas * np.float32(ink)).astype(np.uint8)


@pytest.mark.parametrize(
    "ink, face", [((30, 30, 30), (230, 230, 225)), ((235, 235, 235), (40, 40, 140))]
)
def test_a_restyled_plate_shows_a_new_number_of_its_shape_where_the_old_one_was(ink, face):
    """Dark on light (most US and Mercosur plates) and light on dark (old Brazilian ones): the
    old characters are found and erased, and the new number fills their row."""
    plate = plate_with_number("ABC1234", ink, face)
    old, _ = character_boxes(plate)
    assert len(old) == 7
    image, text = restyled(plate, "br", "ABC1234", np.random.default_rng(3))
    assert re.fullmatch(r"[A-Z]{3}[0-9]{4}", text) and text != "ABC1234"
    new, _ = character_boxes(image)
    assert len(new) == 7
    assert abs(np.median([b[3] for b in new]) - np.median([b[3] for b in old])) <= 4
    assert abs(min(b[1] for b in new) - min(b[1] for b in old)) <= 4
    # the ink left is the new number's: drawn again over the old number's place it differs
    assert np.abs(image.astype(int) - plate.astype(int)).max() > 100


def test_a_plate_whose_characters_are_not_found_is_passed_over():
    blank = np.full((80, 260, 3), 200, np.uint8)
    assert restyled(blank, "us", "ABC123", np.random.default_rng(0)) is None
    plates = {"us": [PlateSample(blank, np.zeros((4, 2), np.float32), "ABC123", "us")]}
    assert restyled_pool(plates, seed=0, size=3) == []


def test_the_restyled_pool_holds_new_numbers_on_the_groups_plates():
    plate = plate_with_number("XYZ987", (30, 30, 30), (230, 230, 225))
    corners = box_to_corners([0, 0, 320, 80])
    pool = restyled_pool({"us": [PlateSample(plate, corners, "XYZ987", "us")]}, seed=1, size=5)
    assert len(pool) == 5
    assert all(s.group == "restyled" and s.context.shape == plate.shape for s in pool)
    assert all(encode(s.text) is not None and s.text != "XYZ987" for s in pool)
    assert len({s.text for s in pool}) > 1
    assert restyled_pool({"us": pool[:1]}, seed=1, size=5, groups=("br",)) == []


def test_a_rearranged_plate_shows_its_own_characters_in_a_new_order():
    """Each new character is the plate's own glyph, pixel for pixel, in one of the old
    number's places, and a Brazilian number keeps its letters and digits where they were."""
    plate = plate_with_number("ABC1234", (30, 30, 30), (230, 230, 225), font="din")
    old = dict(zip("ABC1234", sorted(character_boxes(plate)[0])))
    image, text = rearranged(plate, "br", "ABC1234", np.random.default_rng(5))
    assert re.fullmatch(r"[ABC]{3}[1234]{4}", text) and text != "ABC1234"
    new = sorted(character_boxes(image)[0])
    assert len(new) == 7
    for (x, y, w, h), c in zip(new, text):
        ox, oy, ow, oh = old[c]
        assert (w, h) == (ow, oh)
        drawn = image[y : y + h, x : x + w].astype(int)
        assert np.abs(drawn - plate[oy : oy + oh, ox : ox + ow]).mean() < 12


def test_a_rearranged_us_number_may_change_length_and_mix_its_characters():
    plate = plate_with_number("XYZ987", (30, 30, 30), (230, 230, 225))
    made = [rearranged(plate, "us", "XYZ987", np.random.default_rng(s)) for s in range(12)]
    texts = [m[1] for m in made if m is not None]
    assert len(texts) >= 6
    assert all(set(t) <= set("XYZ987") and t != "XYZ987" for t in texts)
    assert {len(t) for t in texts} > {6}
    assert any(re.search(r"[0-9][A-Z]", t) for t in texts)


def test_a_new_us_number_is_often_drawn_from_the_plates_letters_alone():
    orders = [new_order("us", "XYZ987", np.random.default_rng(s)) for s in range(200)]
    texts = ["".join("XYZ987"[k] for k in o) for o in orders if o is not None]
    all_letters = sum(t.isalpha() for t in texts) / len(texts)
    assert 0.4 < all_letters < 0.7
    assert sum(any(c.isdigit() for c in t) for t in texts) / len(texts) > 0.3
    digits_only = new_order("us", "987", np.random.default_rng(0))
    assert digits_only is not None and len(digits_only) >= 3
    one_letter = [new_order("us", "4821A", np.random.default_rng(s)) for s in range(50)]
    assert not any(o is not None and all(k == 4 for k in o) for o in one_letter)


@pytest.mark.parametrize("label", ["ABC123", "ABC7234", "A1C1234"])
def test_a_plate_whose_characters_do_not_match_its_label_is_not_rearranged(label):
    """One box too few, or a narrow 1 where the label has a wide 7 (or the reverse): cutting
    the characters out by the label would mislabel them."""
    plate = plate_with_number("ABC1234", (30, 30, 30), (230, 230, 225), font="din")
    assert rearranged(plate, "br", label, np.random.default_rng(0)) is None


def test_the_restyled_pool_rearranges_plates_own_characters_where_asked():
    plate = plate_with_number("XYZ987", (30, 30, 30), (230, 230, 225))
    corners = box_to_corners([0, 0, 320, 80])
    real = {"us": [PlateSample(plate, corners, "XYZ987", "us")]}
    own = restyled_pool(real, seed=2, size=24, own=1.0)
    kept = sum(set(s.text) <= set("XYZ987") for s in own)
    assert len(own) == 24 and kept >= 18  # the rest too long to fit: drawn instead
    drawn = restyled_pool(real, seed=2, size=6)
    assert any(not set(s.text) <= set("XYZ987") for s in drawn)
