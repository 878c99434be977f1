"""Model soups (Wortsman et al., 2022): the uniform average of the weights of models
fine-tuned from one starting point.

Fine-tuning rounds from one model land in one basin of the loss, so their average is a model
of that basin too, and usually a better one than any single round: each round's data draw and
augmentation pull it towards a different corner of the validation set, and the average keeps
what they agree on. Here the recognizer's rounds 10-11, each a wash against round 9 on its own,
averaged with round 9 read more validation crops than any of them (512 of 563 against 508-510)
and as many clip plates as the best (39 of 41).

Detectors are averaged as read back from their ONNX files: a fine-tuning round recalibrates
the BatchNorms it unfolds, so two checkpoints of one network can hold the same function in
different parametrisations; read back from ONNX, every BatchNorm is folded into its
convolution alike, and the weights are comparable.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch

from streamer.modelfile import load_sidecar


def average_weights(state_dicts: Sequence[dict]) -> dict:
    """The mean of every floating-point tensor; integer buffers are taken from the first."""
    first = state_dicts[0]
    return {
        name: torch.stack([sd[name].float() for sd in state_dicts]).mean(0).to(tensor.dtype)
        if tensor.is_floating_point()
        else tensor
        for name, tensor in first.items()
    }


def _check_same_spec(paths: Sequence[Path], specs: Sequence[dict]) -> None:
    if len(paths) < 2:
        raise ValueError("a soup needs at least two models")
    for path, spec in zip(paths[1:], specs[1:]):
        if spec != specs[0]:
            raise ValueError(f"{path} has another model spec than {paths[0]}: no soup")


def recognizer_checkpoint(path: Path) -> dict:
    """An ``ocr.pt`` checkpoint, or an exported recognizer (FP32 or INT8 ONNX) read back as
    one, so that a soup can take the embedded model itself as an ingredient."""
    if Path(path).suffix != ".onnx":
        return torch.load(path, map_location="cpu", weights_only=False)
    from trainer.onnx_weights import recognizer_from_onnx

    model, spec = recognizer_from_onnx(Path(path))
    return {"spec": spec.to_dict(), "model": model.state_dict(), "step": 0, "seconds": 0.0}


def average_checkpoints(paths: Sequence[Path]) -> dict:
    """A checkpoint whose weights are the mean of ``paths``' weights (same spec required).
    ``soup_of`` lists the ingredients and their steps, ``step`` is the most any of them took."""
    ckpts = [recognizer_checkpoint(p) for p in paths]
    _check_same_spec(paths, [c["spec"] for c in ckpts])
    return {
        "spec": ckpts[0]["spec"],
        "model": average_weights([c["model"] for c in ckpts]),
        "step": max(c["step"] for c in ckpts),
        "seconds": sum(c.get("seconds", 0.0) for c in ckpts),
        "soup_of": [{"model": str(p), "steps": c["step"]} for p, c in zip(paths, ckpts)],
    }


def average_detectors(paths: Sequence[Path]) -> dict:
    """A detector checkpoint averaging exported detectors (FP32 or INT8 ONNX files)."""
    from trainer.onnx_weights import detector_from_onnx

    for path in paths:  # each file and its sidecar checked before the first is read
        load_sidecar(Path(path))
    models = [detector_from_onnx(Path(p)) for p in paths]
    _check_same_spec(paths, [spec.to_dict() for _, spec in models])
    return {
        "spec": models[0][1].to_dict(),
        "model": average_weights([model.state_dict() for model, _ in models]),
        "step": 0,
        "seconds": 0.0,
        "soup_of": [{"model": str(p)} for p in paths],
    }


def write_soup(soup: dict, out: Path, stem: str, val: dict) -> None:
    """``stem``.pt and ``stem``_summary.json in ``out``, as a training run leaves them, so that
    export records the soup and its validation scores in the sidecar."""
    out.mkdir(parents=True, exist_ok=True)
    torch.save(soup, out / f"{stem}.pt")
    summary = {"soup_of": soup["soup_of"], "val": val}
    (out / f"{stem}_summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
