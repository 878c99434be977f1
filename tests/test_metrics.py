import numpy as np
import pytest

from trainer.eval.metrics import (
    average_precision,
    character_error_rate,
    corner_error,
    detection_pr,
    end_to_end_image,
    found_by_width,
    levenshtein,
    match_detections,
    plate_accuracy,
    score_clip,
    score_texts,
)

A = [0, 0, 100, 40]
B = [200, 0, 300, 40]
A_SHIFTED = [10, 0, 110, 40]  # IoU with A: 90 / 110 = 0.818
A_HALF = [50, 0, 150, 40]  # IoU with A: 1/3


def boxes(*b):
    return np.array(b, np.float32).reshape(-1, 4)


def test_perfect_detection():
    score = detection_pr([(boxes(A, B), np.array([0.9, 0.8]))], [boxes(A, B)])
    assert (score.true_positives, score.false_positives, score.labels) == (2, 0, 2)
    assert score.recall == 1.0 and score.precision == 1.0 and score.ap50 == 1.0


def test_duplicates_and_misses_are_counted_one_to_one():
    # Image 1: two detections on plate A (the second is a duplicate), plate B missed.
    # Image 2: one false positive, no plates.
    predictions = [
        (boxes(A_SHIFTED, A), np.array([0.6, 0.9])),
        (boxes(B), np.array([0.7])),
    ]
    score = detection_pr(predictions, [boxes(A, B), boxes()])
    assert (score.true_positives, score.false_positives, score.labels) == (1, 2, 2)
    assert score.recall == 0.5 and score.precision == pytest.approx(1 / 3)
    # By score: hit (0.9), miss (0.7), miss (0.6): precision 1 at recall 0.5, never recall 1.
    assert score.ap50 == pytest.approx(0.5)


def test_highest_score_takes_the_plate():
    matched = match_detections(boxes(A_SHIFTED, A), np.array([0.9, 0.6]), boxes(A), 0.5)
    assert matched.tolist() == [0, -1]


def test_iou_threshold_applies_to_recall_but_ap50_stays_at_half():
    predictions = [(boxes(A_SHIFTED), np.array([0.9]))]
    strict = detection_pr(predictions, [boxes(A)], iou_threshold=0.85)
    assert (strict.true_positives, strict.false_positives) == (0, 1)
    assert strict.ap50 == 1.0
    loose = detection_pr([(boxes(A_HALF), np.array([0.9]))], [boxes(A)])
    assert (loose.true_positives, loose.recall, loose.ap50) == (0, 0.0, 0.0)


def test_average_precision_interpolates_over_all_points():
    # hits by descending score: 1 0 1 0 with 3 labels -> P/R points (1, 1/3), (2/3, 2/3)
    ap = average_precision(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.6]), 3)
    assert ap == pytest.approx(1 / 3 * 1 + 1 / 3 * 2 / 3)
    assert average_precision(np.zeros(0), np.zeros(0), 0) == 1.0
    assert average_precision(np.array([0]), np.array([0.5]), 0) == 0.0


def test_nothing_to_find_and_nothing_found_is_perfect():
    score = detection_pr([(boxes(), np.zeros(0))], [boxes()])
    assert (score.recall, score.precision, score.ap50) == (1.0, 1.0, 1.0)


def test_text_scores_compare_normalised_text():
    predicted = ["ab-123", "皖A12345", "XYZ9", ""]
    expected = ["AB123", "皖A12346", "XYZ", "K1"]
    score = score_texts(predicted, expected)
    assert (score.plates, score.correct, score.edits, score.characters) == (4, 1, 4, 17)
    assert score.accuracy == 0.25 and score.cer == pytest.approx(4 / 17)
    assert plate_accuracy(predicted, expected) == 0.25
    assert character_error_rate(predicted, expected) == pytest.approx(4 / 17)


def test_cer_with_different_lengths():
    assert levenshtein("ABC", "ABC") == 0
    assert levenshtein("ABCD", "ABC") == 1  # one insertion
    assert levenshtein("AC", "ABC") == 1  # one deletion
    assert levenshtein("", "ABC") == 3
    assert character_error_rate(["ABCDE", "A"], ["ABC", "ABC"]) == pytest.approx(4 / 6)
    assert character_error_rate(["ABC"], ["ABC"]) == 0.0


def test_end_to_end_needs_overlap_and_exact_text():
    labels = [(boxes(A)[0], "AB 123"), (boxes(B)[0], "CD456")]
    perfect = end_to_end_image([(A, "ab123"), (B, "CD-456")], labels)
    assert (perfect.correct, perfect.labels, perfect.accuracy) == (2, 2, 1.0)
    wrong_text = end_to_end_image([(A, "AB128"), (B, "CD456")], labels)
    assert wrong_text.correct == 1
    misplaced = end_to_end_image([(A_HALF, "AB123")], labels)
    assert misplaced.correct == 0
    # IoU 0.818 passes CCPD's 0.7 rule but not a stricter 0.85
    assert end_to_end_image([(A_SHIFTED, "AB123")], labels, iou=0.7).correct == 1
    assert end_to_end_image([(A_SHIFTED, "AB123")], labels, iou=0.85).correct == 0


def test_clip_scoring_counts_reads_misses_and_false_reads():
    score = score_clip(["88-XP-FS", "88XPF5", "88XPF5", "", "ZZ-99"], ["88-XP-FS", "72-FP-RV"])
    assert score.read == ["88XPFS"]
    assert score.missed == ["72FPRV"]
    assert score.false_reads == ["88XPF5", "88XPF5", "ZZ99"]  # per event; empty text is no read
    assert score.labelled == 2


def test_clip_without_labelled_plates_counts_every_read_as_false():
    score = score_clip(["AB12"], [])
    assert (score.read, score.missed, score.false_reads) == ([], [], ["AB12"])


def test_corner_error_is_relative_to_plate_width():
    gt = np.array([[0, 0], [100, 0], [100, 30], [0, 30]], np.float32)
    assert corner_error(gt, gt) == 0.0
    assert corner_error(gt + [5, 0], gt) == pytest.approx(0.05)
    shifted_one = gt.copy()
    shifted_one[2] += [0, 8]
    assert corner_error(shifted_one, gt) == pytest.approx(2 / 100)


def test_plates_found_are_counted_per_band_of_width():
    widths = np.array([10, 23.9, 24, 39, 40, 95, 96, 500])
    found = np.array([0, 0, 1, 0, 1, 1, 1, 0], bool)
    assert found_by_width(widths, found) == {
        "<24": [0, 2],
        "24-32": [1, 1],
        "32-40": [0, 1],
        "40-48": [1, 1],
        "64-96": [1, 1],
        ">=96": [1, 2],
    }
    assert found_by_width(np.array([30.0]), np.array([True]), edges=(20, 40)) == {"20-40": [1, 1]}
