"""Scores exactly as DESIGN.md defines them, shared by training, evaluation and tests.

Texts are compared after ``normalize_text`` (letters and digits, upper-case). Detections are
matched to labels one-to-one, best score first, at an IoU threshold (0.5; 0.7 for CCPD).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamer.charset import normalize_text
from streamer.geometry import box_iou, plate_width


@dataclass
class DetectionScore:
    true_positives: int
    false_positives: int
    labels: int
    ap50: float

    @property
    def recall(self) -> float:
        return self.true_positives / self.labels if self.labels else 1.0

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0


def match_detections(pred_boxes: np.ndarray, scores: np.ndarray, gt_boxes: np.ndarray, iou: float):
    """Greedy one-to-one matching by descending score: the label index per prediction or -1."""
    pred_boxes = np.asarray(pred_boxes, np.float32).reshape(-1, 4)
    gt_boxes = np.asarray(gt_boxes, np.float32).reshape(-1, 4)
    matched = np.full(len(pred_boxes), -1)
    if not len(pred_boxes) or not len(gt_boxes):
        return matched
    ious = box_iou(pred_boxes, gt_boxes)
    taken = np.zeros(len(gt_boxes), bool)
    for i in np.argsort(-np.asarray(scores)):
        candidates = np.where(~taken & (ious[i] >= iou))[0]
        if len(candidates):
            j = candidates[np.argmax(ious[i, candidates])]
            matched[i], taken[j] = j, True
    return matched


def average_precision(hits: np.ndarray, scores: np.ndarray, labels: int) -> float:
    """VOC all-point interpolated AP from per-detection hit flags over a whole set."""
    if labels == 0:
        return 1.0 if not len(hits) else 0.0
    order = np.argsort(-np.asarray(scores))
    tp = np.cumsum(np.asarray(hits)[order])
    recall = tp / labels
    precision = tp / np.arange(1, len(tp) + 1)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def detection_pr(
    predictions: list[tuple[np.ndarray, np.ndarray]],
    labels: list[np.ndarray],
    iou_threshold: float = 0.5,
) -> DetectionScore:
    """Recall, precision and AP50 over images: predictions are (boxes, scores) per image."""
    hits, all_scores, n_labels = [], [], 0
    for (boxes, scores), gt in zip(predictions, labels, strict=True):
        matched = match_detections(boxes, scores, gt, iou_threshold)
        hits.append(matched >= 0)
        all_scores.append(np.asarray(scores, np.float32).reshape(-1))
        n_labels += len(np.asarray(gt).reshape(-1, 4))
    hits_arr = np.concatenate(hits) if hits else np.zeros(0, bool)
    scores_arr = np.concatenate(all_scores) if all_scores else np.zeros(0)
    tp = int(hits_arr.sum())
    return DetectionScore(
        tp, len(hits_arr) - tp, n_labels, average_precision(hits_arr, scores_arr, n_labels)
    )


def corner_error(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean distance between matching corners, as a fraction of the labelled plate's width."""
    pred = np.asarray(pred, np.float32).reshape(4, 2)
    gt = np.asarray(gt, np.float32).reshape(4, 2)
    return float(np.linalg.norm(pred - gt, axis=1).mean() / max(plate_width(gt), 1e-6))


def plate_accuracy(predicted: list[str], expected: list[str]) -> float:
    """Share of plates read exactly (every character, the Chinese province included)."""
    if not expected:
        return 1.0
    right = sum(
        normalize_text(p) == normalize_text(e) for p, e in zip(predicted, expected, strict=True)
    )
    return right / len(expected)


def levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def character_error_rate(predicted: list[str], expected: list[str]) -> float:
    """Edit distance summed over plates, divided by the labels' total length."""
    pairs = [
        (normalize_text(p), normalize_text(e)) for p, e in zip(predicted, expected, strict=True)
    ]
    total = sum(len(e) for _, e in pairs)
    return sum(levenshtein(p, e) for p, e in pairs) / total if total else 0.0


@dataclass
class EndToEndScore:
    correct: int
    labels: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.labels if self.labels else 1.0


def end_to_end_image(
    detections: list[tuple[np.ndarray, str]], labels: list[tuple[np.ndarray, str]], iou: float = 0.5
) -> EndToEndScore:
    """A labelled plate counts when some detection overlaps it at ``iou`` and reads its text."""
    correct = 0
    for gt_box, gt_text in labels:
        for box, text in detections:
            overlap = box_iou(np.asarray(box).reshape(1, 4), np.asarray(gt_box).reshape(1, 4))[0, 0]
            if overlap >= iou and normalize_text(text) == normalize_text(gt_text):
                correct += 1
                break
    return EndToEndScore(correct, len(labels))


@dataclass
class ClipScore:
    read: list[str]
    missed: list[str]
    false_reads: list[str]

    @property
    def all_read(self) -> bool:
        return not self.missed and not self.false_reads


def score_clip(event_texts: list[str], labelled: list[str]) -> ClipScore:
    """Per labelled plate: did some event read it exactly? Events matching no label: false reads."""
    events = {normalize_text(t) for t in event_texts if normalize_text(t)}
    wanted = [normalize_text(t) for t in labelled]
    return ClipScore(
        read=[t for t in wanted if t in events],
        missed=[t for t in wanted if t not in events],
        false_reads=sorted(events - set(wanted)),
    )
