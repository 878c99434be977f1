"""The sample clips' ground truth replayed through the metrics: perfect as it is, lower once
perturbed, so the metrics and the ground truth format agree."""

import json
from pathlib import Path

import numpy as np
import pytest

from trainer.eval.metrics import detection_pr, score_clip

SAMPLES = sorted((Path(__file__).resolve().parent.parent / "sample_videos").glob("*.json"))


def frame_boxes(truth: dict) -> dict[int, list]:
    boxes: dict[int, list] = {}
    for track in truth["tracks"]:
        for f in track["frames"]:
            boxes.setdefault(f["frame"], []).append(f["box"])
    return boxes


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_ground_truth_scores_perfectly(path):
    truth = json.loads(path.read_text())
    texts = [t["text"] for t in truth["tracks"]]
    clip = score_clip(texts, texts)
    assert clip.missed == [] and clip.false_reads == [] and len(clip.read) == len(texts)
    boxes = frame_boxes(truth)
    preds = [(np.array(b), np.ones(len(b))) for b in boxes.values()]
    pr = detection_pr(preds, [np.array(b) for b in boxes.values()])
    assert pr.recall == pr.precision == pr.ap50 == 1.0


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_perturbed_ground_truth_scores_lower(path):
    truth = json.loads(path.read_text())
    texts = [t["text"] for t in truth["tracks"]]
    wrong = texts[0][:-1] + ("0" if texts[0][-1] != "0" else "1")
    clip = score_clip([wrong, *texts[1:]], texts)
    assert clip.missed == [texts[0]] and clip.false_reads == [wrong]
    boxes = frame_boxes(truth)
    shifted = [(np.array(b) + np.array([60, 0, 60, 0]), np.ones(len(b))) for b in boxes.values()]
    pr = detection_pr(shifted, [np.array(b) for b in boxes.values()])
    assert pr.recall < 1.0 and pr.precision < 1.0
