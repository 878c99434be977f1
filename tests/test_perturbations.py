"""The camera changes `platestream-train eval --perturb` applies to the labelled clips."""

from __future__ import annotations

import cv2
import numpy as np
from conftest import decoded, frame_rate, sample

from trainer.eval.evaluate import clip_as_filmed
from trainer.eval.perturbations import PERTURBATIONS


def test_a_clip_filmed_darker_and_at_half_the_rate_keeps_its_timing(tmp_path):
    src = sample("cn_gate.mp4")
    out = clip_as_filmed(src, tmp_path, frame_rate(src) / 2, PERTURBATIONS["dark"])
    before, after = list(decoded(src)), list(decoded(out))
    assert len(after) == (len(before) + 1) // 2
    assert frame_rate(out) == frame_rate(src) / 2
    luma = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY).mean() for f in (before[0], after[0])]
    # gamma 2.2 and 0.8 gain: a mid-grey frame keeps about a third of its luma
    assert 0.2 < luma[1] / luma[0] < 0.6


def test_changes_are_sized_by_the_frame_and_repeatable():
    rng = lambda: np.random.default_rng(0)  # noqa: E731
    edge = np.zeros((480, 640, 3), np.uint8)
    edge[:, 320:] = 255
    row = PERTURBATIONS["motion"].picture(edge, rng())[240, :, 0]
    assert 6 <= np.count_nonzero((row > 10) & (row < 245)) <= 10  # 1.4 % of 640 px
    half = PERTURBATIONS["half-size"].picture(edge, rng())
    assert half.shape == (240, 320, 3)
    dark = PERTURBATIONS["dark"]
    assert np.array_equal(dark.picture(edge, rng()), dark.picture(edge, rng()))
