"""The recognizer's optional CTC head: its greedy read, its loss and how it joins a trained
model."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the [train] extra (torch) is not installed")

from streamer.charset import CHARSET, decode_ctc, encode  # noqa: E402
from trainer.models.recognizer import PlateRecognizer, RecognizerSpec  # noqa: E402
from trainer.train_recognizer import ctc_loss, with_ctc_head  # noqa: E402


def _strip_probs(classes: list[int], peak: float = 0.9) -> np.ndarray:
    probs = np.full((len(classes), len(CHARSET)), (1 - peak) / (len(CHARSET) - 1), np.float32)
    probs[np.arange(len(classes)), classes] = peak
    return probs


def test_ctc_read_merges_runs_and_keeps_blank_separated_doubles():
    a, b, one = CHARSET.index("A"), CHARSET.index("B"), CHARSET.index("1")
    probs = _strip_probs([0, a, a, 0, a, b, b, 0, 0, one, one, 0])
    probs[2, a] = 0.95  # the run's best strip gives the character's confidence
    text, confs = decode_ctc(probs, CHARSET)
    assert text == "AAB1"
    assert confs == pytest.approx([0.95, 0.9, 0.9, 0.9])
    assert decode_ctc(_strip_probs([0, 0, 0]), CHARSET) == ("", [])


def test_ctc_loss_is_low_on_an_alignment_of_the_text_and_high_off_it():
    text = "AB11"
    target = torch.from_numpy(encode(text)).unsqueeze(0)
    a, b, one = (CHARSET.index(c) for c in "AB1")
    aligned = [0, a, a, 0, b, 0, one, 0, one, one, 0, 0]
    wrong = [0, b, b, 0, a, 0, one, 0, 0, 0, 0, 0]

    def loss_of(classes: list[int]) -> float:
        logits = torch.full((1, len(classes), len(CHARSET)), -10.0)
        logits[0, torch.arange(len(classes)), torch.tensor(classes)] = 10.0
        return float(ctc_loss(logits, target))

    assert loss_of(aligned) < 0.01
    assert loss_of(wrong) > 5.0  # per target character
    too_few_strips = torch.zeros(1, 3, len(CHARSET))  # 4 characters cannot fit in 3 strips
    assert float(ctc_loss(too_few_strips, target)) == 0.0


def test_a_new_ctc_head_leaves_the_query_decoder_reading_unchanged():
    torch.manual_seed(0)
    trained = PlateRecognizer(RecognizerSpec(dim=64, encoder_layers=1, decoder_layers=1)).eval()
    joint = with_ctc_head(trained).eval()
    assert joint.spec.ctc_head and not trained.spec.ctc_head
    x = torch.randn(2, 3, 48, 192)
    with torch.no_grad():
        chars, strips = joint(x, with_ctc=True)
        torch.testing.assert_close(chars, trained(x))
    assert strips.shape == (2, joint.spec.num_strips, joint.spec.num_classes)
    assert with_ctc_head(joint) is joint
