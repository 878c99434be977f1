"""Scores exactly as DESIGN.md defines them, shared by training, evaluation and tests.

One copy of each rule keeps every number we report comparable. Texts are compared after
``normalize_text`` (letters and digits, upper-case). Detections are matched to labels one-to-one,
best score first, at an IoU threshold (0.5; 0.7 for CCPD end-to-end). Pure numpy, no torch, so
anything that yields boxes and texts can be scored with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamer.charset import normalize_text
from streamer.geometry import box_iou, plate_width

AP_IOU = 0.5


@dataclass
class DetectionScore:
    true_positives: int
    false_positives: int
    labels: int
    ap50: float  # always at IoU 0.5, whatever threshold recall and precision used

    @property
    def recall(self) -> float:
        return self.true_positives / self.labels if self.labels else 1.0

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0


def match_detections(
    pred_boxes: np.ndarray, scores: np.ndarray, gt_boxes: np.ndarray, iou: float
) -> np.ndarray:
    """Label index per prediction, or -1: greedy and one-to-one, highest score first.

    Each prediction takes the free label it overlaps most (at least ``iou``); a second prediction
    on a taken plate is a false positive, so duplicates are penalised.
    """
    pred_boxes = np.asarray(pred_boxes, np.float32).reshape(-1, 4)
    gt_boxes = np.asarray(gt_boxes, np.float32).reshape(-1, 4)
    matched = np.full(len(pred_boxes), -1)
    if not len(pred_boxes) or not len(gt_boxes):
        return matched
    ious = box_iou(pred_boxes, gt_boxes)
    taken = np.zeros(len(gt_boxes), bool)
    for i in _by_score(scores):
        candidates = np.where(~taken & (ious[i] >= iou))[0]
        if len(candidates):
            j = candidates[np.argmax(ious[i, candidates])]
            matched[i], taken[j] = j, True
    return matched


def _by_score(scores: np.ndarray) -> np.ndarray:
    """Indices by descending score; ties keep their input order so results are reproducible."""
    return np.argsort(-np.asarray(scores, np.float64).reshape(-1), kind="stable")


def average_precision(hits: np.ndarray, scores: np.ndarray, labels: int) -> float:
    """VOC all-point interpolated AP from per-detection hit flags pooled over a set of images.

    With no labels there is nothing to find: 1.0 when nothing was predicted either, else 0.0.
    """
    hits = np.asarray(hits, bool).reshape(-1)
    if labels == 0:
        return 0.0 if len(hits) else 1.0
    tp = np.cumsum(hits[_by_score(scores)])
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
    """Recall and precision at ``iou_threshold`` and AP50 over a set of images.

    ``predictions`` holds (boxes (N, 4), scores (N,)) per image, ``labels`` the boxes (M, 4).
    """
    hits, ap_hits, all_scores, n_labels = [], [], [], 0
    for (boxes, scores), gt in zip(predictions, labels, strict=True):
        matched = match_detections(boxes, scores, gt, iou_threshold)
        hits.append(matched >= 0)
        ap_matched = (
            matched if iou_threshold == AP_IOU else match_detections(boxes, scores, gt, AP_IOU)
        )
        ap_hits.append(ap_matched >= 0)
        all_scores.append(np.asarray(scores, np.float32).reshape(-1))
        n_labels += len(np.asarray(gt).reshape(-1, 4))
    hits_arr = np.concatenate(hits) if hits else np.zeros(0, bool)
    ap_hits_arr = np.concatenate(ap_hits) if ap_hits else np.zeros(0, bool)
    scores_arr = np.concatenate(all_scores) if all_scores else np.zeros(0, np.float32)
    tp = int(hits_arr.sum())
    ap50 = average_precision(ap_hits_arr, scores_arr, n_labels)
    return DetectionScore(tp, len(hits_arr) - tp, n_labels, ap50)


#: bands of a plate's width as the detector sees it (pixels at its input), where its recall
#: changes: on the validation scenes (detector of 2026-12-06) no plate under 24 px is found, 4 of
#: 7 at 24-32 px, 9 of 13 at 32-40 px, and 246 of 250 from 40 px on
WIDTH_BANDS = (24, 32, 40, 48, 64, 96)


def found_by_width(
    widths: np.ndarray, found: np.ndarray, edges: tuple[int, ...] = WIDTH_BANDS
) -> dict[str, list[int]]:
    """Labelled plates found and labelled, [found, labelled], per band of width: a group's one
    recall mixes plates any detector finds with plates too small for its input, and which of the
    two a miss is decides whether to retrain or to give the detector more pixels."""
    widths = np.asarray(widths, np.float32).reshape(-1)
    found = np.asarray(found, bool).reshape(-1)
    band = np.searchsorted(np.asarray(edges), widths, side="right")
    return {
        name: [int(found[band == i].sum()), int((band == i).sum())]
        for i, name in enumerate(width_band_names(edges))
        if (band == i).any()
    }


def width_band_names(edges: tuple[int, ...] = WIDTH_BANDS) -> list[str]:
    """``found_by_width``'s bands, narrowest first."""
    return [f"<{edges[0]}"] + [f"{a}-{b}" for a, b in zip(edges, edges[1:])] + [f">={edges[-1]}"]


def corner_error(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean distance between matching corners as a fraction of the labelled plate's width, so
    that near and far plates weigh alike."""
    pred = np.asarray(pred, np.float32).reshape(4, 2)
    gt = np.asarray(gt, np.float32).reshape(4, 2)
    return float(np.linalg.norm(pred - gt, axis=1).mean() / max(plate_width(gt), 1e-6))


@dataclass
class TextScore:
    plates: int
    correct: int  # plates read exactly, every character including the province
    edits: int  # Levenshtein distance summed over plates
    characters: int  # labelled characters summed over plates

    @property
    def accuracy(self) -> float:
        return self.correct / self.plates if self.plates else 1.0

    @property
    def cer(self) -> float:
        return self.edits / self.characters if self.characters else 0.0


def score_texts(predicted: list[str], expected: list[str]) -> TextScore:
    """Exact-plate accuracy and character error rate of reads against their labels."""
    pairs = [
        (normalize_text(p), normalize_text(e)) for p, e in zip(predicted, expected, strict=True)
    ]
    return TextScore(
        plates=len(pairs),
        correct=sum(p == e for p, e in pairs),
        edits=sum(levenshtein(p, e) for p, e in pairs),
        characters=sum(len(e) for _, e in pairs),
    )


def plate_accuracy(predicted: list[str], expected: list[str]) -> float:
    return score_texts(predicted, expected).accuracy


def character_error_rate(predicted: list[str], expected: list[str]) -> float:
    """Edit distance summed over plates divided by the labels' total length (not a mean of
    per-plate rates, which would weigh short plates more)."""
    return score_texts(predicted, expected).cer


def levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


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
    """A labelled plate counts when some detection overlaps it at ``iou`` and reads its text.

    ``detections`` and ``labels`` are (box, text) pairs of one image; use ``iou=0.7`` for CCPD.
    """
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
    read: list[str]  # labelled plates some event read exactly
    missed: list[str]  # labelled plates no event read
    false_reads: list[str]  # one text per event that matches no labelled plate

    @property
    def labelled(self) -> int:
        return len(self.read) + len(self.missed)


def score_clip(event_texts: list[str], labelled: list[str]) -> ClipScore:
    """Per labelled plate of a clip: did some plate event read it exactly? Plus false reads.

    False reads are counted per event, so a wrong text emitted twice counts twice. Events with no
    text at all claim no plate and are not false reads.
    """
    wanted = [normalize_text(t) for t in labelled]
    events = [t for t in (normalize_text(t) for t in event_texts) if t]
    return ClipScore(
        read=[t for t in wanted if t in events],
        missed=[t for t in wanted if t not in events],
        false_reads=[t for t in events if t not in wanted],
    )
