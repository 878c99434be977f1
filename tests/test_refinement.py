"""The recognizer's refinement pass: added to a trained model it changes nothing until trained,
and once its embedding is not zero, the second pass reads differently from the first."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="the [train] extra (torch) is not installed")

from torch import nn  # noqa: E402

from streamer.charset import encode  # noqa: E402
from trainer.models.recognizer import PlateRecognizer, RecognizerSpec  # noqa: E402
from trainer.train_recognizer import query_loss, with_refinement  # noqa: E402


def _trained() -> PlateRecognizer:
    torch.manual_seed(0)
    return PlateRecognizer(RecognizerSpec(dim=64, encoder_layers=1, decoder_layers=1)).eval()


def test_a_new_refinement_leaves_the_reading_unchanged():
    trained = _trained()
    refined = with_refinement(trained, 1).eval()
    assert refined.spec.refine_passes == 1 and trained.spec.refine_passes == 0
    x = torch.randn(2, 3, 48, 192)
    with torch.no_grad():
        torch.testing.assert_close(refined(x), trained(x))
        first, second = refined.decoder.passes(refined.encoder(x))
    torch.testing.assert_close(first, second)
    assert with_refinement(refined, 1) is refined


def test_the_second_pass_reads_the_first_ones_reading():
    refined = with_refinement(_trained(), 1).eval()
    nn.init.normal_(refined.decoder.context.weight, std=1.0)
    x = torch.randn(2, 3, 48, 192)
    with torch.no_grad():
        first, second = refined.decoder.passes(refined.encoder(x))
        assert (first - second).abs().max() > 0.1
        torch.testing.assert_close(refined(x), second)


def test_the_loss_trains_every_pass_and_the_embedding():
    refined = with_refinement(_trained(), 1).train()
    x = torch.randn(2, 3, 48, 192)
    y = torch.from_numpy(encode("AB123")).unsqueeze(0).repeat(2, 1)
    loss = query_loss(refined, refined.encoder(x), y, nn.CrossEntropyLoss())
    loss.backward()
    assert refined.decoder.context.weight.grad.abs().sum() > 0
    assert refined.decoder.queries.grad.abs().sum() > 0
