"""The recognizer's optional CTC head: its greedy read, its loss and how it joins a trained
model."""

from __future__ import annotations

import math

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


def test_the_ctc_likelihood_sums_every_alignment_of_the_text():
    """The forward algorithm against the definition: the sum over all strip paths that
    collapse (runs merged, blanks dropped) to the text."""
    import itertools

    from streamer.recognizer import ctc_log_likelihood

    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=5)  # 5 strips, blank + 3 classes

    def collapse(path):
        merged = [c for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
        return [c for c in merged if c != 0]

    for labels in ([1], [1, 2], [2, 2], [1, 2, 1], [3, 3, 3]):
        total = sum(
            np.prod(probs[np.arange(5), path])
            for path in itertools.product(range(4), repeat=5)
            if collapse(list(path)) == labels
        )
        assert ctc_log_likelihood(probs, labels) == pytest.approx(np.log(total), rel=1e-6)


def test_the_ctc_read_becomes_a_reading_of_the_strips_where_its_characters_peak():
    from streamer.recognizer import ctc_reading

    a, b = CHARSET.index("A"), CHARSET.index("B")
    strips = _strip_probs([0, a, a, 0, a, b, 0], peak=0.8)
    strips[2, a] = 0.9
    reading = ctc_reading(strips, CHARSET, 10)
    assert reading.text == "AAB" and reading.probs.shape == (10, len(CHARSET))
    assert reading.probs[0, 0] == 0 and reading.probs[3:, 0].tolist() == [1.0] * 7
    assert reading.probs[0].argmax() == a and reading.probs[0, a] > reading.probs[1, a]
    np.testing.assert_allclose(reading.probs.sum(1), 1.0, rtol=1e-5)
    assert ctc_reading(_strip_probs([0, 0, 0]), CHARSET, 10) is None
    assert ctc_reading(_strip_probs([a, 0] * 6), CHARSET, 5) is None  # 6 do not fit in 5


def test_where_the_heads_disagree_the_text_both_score_higher_is_read():
    """The queries read a letter twice (ABBC) but are unsure of it; CTC reads ABC clearly:
    ABC wins once the CTC score weighs in, ABBC with the queries alone. Either way the text
    the heads dispute has their joint probability as its confidence, so that in a vote over
    views one view's disputed read does not outweigh another's switched one."""
    from streamer.recognizer import (
        ctc_log_likelihood,
        joint_reading,
        query_log_likelihood,
        reading_from_probs,
    )

    a, b, c = (CHARSET.index(x) for x in "ABC")
    probs = np.full((10, len(CHARSET)), 0.01 / (len(CHARSET) - 1), np.float32)
    for pos, cls, p in ((0, a, 0.99), (1, b, 0.99), (2, b, 0.5), (3, c, 0.69), (4, 0, 0.99)):
        probs[pos, cls] = p
    probs[2, c] = 0.45  # the third position could be C (then the end)
    probs[3, 0] = 0.3
    probs[5:, 0] = 0.99
    strips = _strip_probs([0, a, a, 0, b, b, 0, c, c, 0, 0, 0], peak=0.95)
    queries = reading_from_probs(probs, CHARSET)

    def joint_probability(text: str, weight: float) -> float:
        labels = [CHARSET.index(x) for x in text]
        return np.exp(
            (1 - weight) * query_log_likelihood(probs, labels)
            + weight * ctc_log_likelihood(strips, labels)
        )

    assert joint_reading(queries, strips, 0.0).text == "ABBC"
    kept = joint_reading(queries, strips, 0.1)  # the queries' text still, now disputed
    assert kept.text == "ABBC" and kept.probs is probs
    assert kept.confidence == pytest.approx(joint_probability("ABBC", 0.1))
    assert kept.confidence < queries.confidence
    chosen = joint_reading(queries, strips, 0.3)
    assert chosen.text == "ABC"
    # both heads' doubt, not CTC's alone
    assert chosen.confidence == pytest.approx(joint_probability("ABC", 0.3))
    assert chosen.confidence < 0.5 < math.prod(chosen.char_confidences)
    same = _strip_probs([0, a, 0, b, 0, b, 0, c, 0, 0, 0, 0], peak=0.95)
    assert joint_reading(queries, same, 0.3) is queries  # agreement: the queries' read


def test_the_ctc_head_weighs_more_where_it_counts_the_characters_differently():
    """``recount_weight`` applies where the two texts differ in length (CTC counts better),
    ``weight`` where they are as long (the queries judge a character better: I against 1)."""
    from streamer.recognizer import joint_reading, reading_from_probs

    a, b, c, d = (CHARSET.index(x) for x in "ABCD")
    probs = np.full((10, len(CHARSET)), 0.01 / (len(CHARSET) - 1), np.float32)
    for pos, cls, p in ((0, a, 0.99), (1, b, 0.99), (2, b, 0.5), (3, c, 0.69), (4, 0, 0.99)):
        probs[pos, cls] = p
    probs[2, c], probs[3, 0], probs[3, d], probs[5:, 0] = 0.45, 0.25, 0.05, 0.99
    queries = reading_from_probs(probs, CHARSET)
    recount = _strip_probs([0, a, a, 0, b, b, 0, c, c, 0, 0, 0], peak=0.95)  # ABC
    assert joint_reading(queries, recount, 0.0, recount_weight=0.3).text == "ABC"
    assert joint_reading(queries, recount, 0.3, recount_weight=0.0).text == "ABBC"
    relabel = _strip_probs([0, a, 0, b, 0, b, 0, d, 0, 0, 0, 0], peak=0.95)  # ABBD
    assert joint_reading(queries, relabel, 0.0, recount_weight=1.0).text == "ABBC"
    assert joint_reading(queries, relabel, 0.9, recount_weight=0.0).text == "ABBD"


def test_a_recognizer_with_a_ctc_head_reads_with_both_heads_where_the_queries_are_unsure(
    tmp_path,
):
    """An exported model with a CTC head is two files, the head reading the model's strip
    tokens; the runtime reads a plate as ``joint_reading`` with the sidecar's weight where the
    queries' confidence is not above the sidecar's ``ctc_skip_confidence``, and runs the head on
    those plates only; without the head's file named, the queries alone."""
    import json

    from streamer.config import RecognizerConfig
    from streamer.modelfile import open_session
    from streamer.recognizer import Recognizer, joint_reading, reading_from_probs
    from trainer.export import export_recognizer

    torch.manual_seed(0)
    spec = RecognizerSpec(dim=64, encoder_layers=1, decoder_layers=1, ctc_head=True)
    ckpt = tmp_path / "ocr.pt"
    torch.save(
        {"spec": spec.to_dict(), "model": PlateRecognizer(spec).state_dict(), "step": 1}, ckpt
    )
    onnx_path = tmp_path / "rec.onnx"
    export_recognizer(
        ckpt, onnx_path, ctc_weight=0.4, ctc_skip_confidence=1.0, ctc_recount_weight=0.6
    )
    sidecar_path = onnx_path.with_suffix(".json")
    sidecar = json.loads(sidecar_path.read_text())
    assert sidecar["ctc_model"] == "rec_ctc.onnx" and sidecar["ctc_rescoring_weight"] == 0.4
    assert sidecar["ctc_recount_weight"] == 0.6
    crops = [np.random.default_rng(i).integers(0, 255, (48, 192, 3), np.uint8) for i in range(6)]
    batch = (np.stack([c[..., ::-1] for c in crops]).astype(np.float32) - 127.5) / 127.5
    probs, memory = open_session(onnx_path, 1).run(None, {"images": batch.transpose(0, 3, 1, 2)})
    strips = open_session(tmp_path / "rec_ctc.onnx", 1).run(None, {"memory": memory})[0]
    queries = [reading_from_probs(p, CHARSET) for p in probs]
    joint = [joint_reading(q, s, 0.4, 0.6) for q, s in zip(queries, strips)]

    def reads(skip_confidence: float | None) -> tuple[list[str], list[int]]:
        if skip_confidence is None:
            del sidecar["ctc_model"]
        else:
            sidecar["ctc_skip_confidence"] = skip_confidence
        sidecar_path.write_text(json.dumps(sidecar))
        recognizer = Recognizer(RecognizerConfig(model=onnx_path, batch_size=8))
        head_batches: list[int] = []
        if recognizer.ctc_session is not None:
            session = recognizer.ctc_session
            run = session.run

            def counted(names, feed):
                head_batches.append(len(feed["memory"]))
                return run(names, feed)

            recognizer.ctc_session = type("Counted", (), {"run": staticmethod(counted)})()
        return [r.text for r in recognizer.recognize(crops)], head_batches

    assert reads(1.0) == ([r.text for r in joint], [6])
    middle = float(np.median([q.confidence for q in queries]))
    unsure = [q.confidence <= middle for q in queries]
    texts, head_batches = reads(middle)
    assert head_batches == [sum(unsure)] and 0 < sum(unsure) < 6
    assert texts == [j.text if u else q.text for j, q, u in zip(joint, queries, unsure)]
    assert reads(None) == ([q.text for q in queries], [])
