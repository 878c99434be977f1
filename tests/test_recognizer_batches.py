"""How the recognizer's training batches draw their plates."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from trainer.data.plates import PlateSample
from trainer.train_recognizer import province_and_ending_balanced


def _samples(texts: list[str]) -> list[PlateSample]:
    return [PlateSample(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 2)), t, "cn") for t in texts]


def test_rare_provinces_are_drawn_more_often_than_their_share():
    texts = ["皖A12345"] * 90 + ["豫A12345"] * 10
    p = province_and_ending_balanced(_samples(texts))
    rare_share = p[90:].sum()
    assert abs(p.sum() - 1) < 1e-9
    assert 0.1 < rare_share < 0.5  # 10 % of the plates; sqrt-balanced: 1/(1+3) = 25 %
    assert np.allclose(p[:90], p[0]) and np.allclose(p[90:], p[90])


def test_latin_groups_are_drawn_uniformly():
    assert province_and_ending_balanced(_samples(["ABC1234", "XYZ9876"])) is None


def test_plates_ending_in_a_rare_letter_are_drawn_more_often_than_their_share():
    texts = ["皖A12345"] * 95 + ["皖A1234P"] * 5
    p = province_and_ending_balanced(_samples(texts))
    assert p[95:].sum() > 3 * 0.05  # 5 % of the plates; the final P counts 5 against 95


def test_the_synthetic_share_of_a_batch_can_be_set_and_the_real_groups_keep_their_proportions():
    from trainer.train_recognizer import GROUP_WEIGHTS, PlateBatches

    groups = {k: _samples(["ABC1234"]) for k in ("cn", "us", "synth")}
    rng = np.random.default_rng(0)
    plain, shared = PlateBatches(groups, rng, 1.0), PlateBatches(groups, rng, 1.0, 0.5)
    p_plain, p_shared = dict(zip(plain.names, plain.p)), dict(zip(shared.names, shared.p))
    total = sum(GROUP_WEIGHTS[k] for k in groups)
    assert np.isclose(p_plain["synth"], GROUP_WEIGHTS["synth"] / total)
    assert np.isclose(p_shared["synth"], 0.5) and np.isclose(sum(p_shared.values()), 1)
    assert np.isclose(p_shared["cn"] / p_shared["us"], GROUP_WEIGHTS["cn"] / GROUP_WEIGHTS["us"])


def test_a_group_weight_can_be_replaced_from_the_command_line():
    from trainer.train_recognizer import GROUP_WEIGHTS, PlateBatches
    from trainer.train_recognizer import known_group_weight as group_weight

    groups = {k: _samples(["ABC1234"]) for k in ("br", "us")}
    batches = PlateBatches(
        groups, np.random.default_rng(0), 1.0, None, dict([group_weight("br=0.3")])
    )
    p = dict(zip(batches.names, batches.p))
    assert np.isclose(p["br"], 0.3 / (0.3 + GROUP_WEIGHTS["us"]))
    with pytest.raises(argparse.ArgumentTypeError, match="unknown group 'xx'"):
        group_weight("xx=0.3")
    with pytest.raises(argparse.ArgumentTypeError, match="expected GROUP=W"):
        group_weight("br")
    with pytest.raises(argparse.ArgumentTypeError, match="cannot be negative"):
        group_weight("br=-0.1")
