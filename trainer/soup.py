"""Model soups (Wortsman et al., 2022): the uniform average of the weights of models
fine-tuned from one starting point.

Fine-tuning rounds from one model land in one basin of the loss, so their average is a model
of that basin too, and usually a better one than any single round: each round's data draw and
augmentation pull it towards a different corner of the validation set, and the average keeps
what they agree on. Here the recognizer's rounds 10-11, each a wash against round 9 on its own,
averaged with round 9 read more validation crops and clips than any of them.
"""

from __future__ import annotations

from pathlib import Path

import torch


def average_checkpoints(paths: list[Path]) -> dict:
    """A checkpoint whose weights are the mean of ``paths``' weights (same spec required);
    integer buffers are taken from the first. ``soup_of`` lists the ingredients and their
    steps, ``step`` is the most any of them took."""
    if len(paths) < 2:
        raise ValueError("a soup needs at least two checkpoints")
    ckpts = [torch.load(p, map_location="cpu", weights_only=False) for p in paths]
    first = ckpts[0]
    for path, ckpt in zip(paths[1:], ckpts[1:]):
        if ckpt["spec"] != first["spec"]:
            raise ValueError(f"{path} has another model spec than {paths[0]}: no soup")
    weights = {
        name: torch.stack([c["model"][name].float() for c in ckpts]).mean(0).to(tensor.dtype)
        if tensor.is_floating_point()
        else tensor
        for name, tensor in first["model"].items()
    }
    return {
        "spec": first["spec"],
        "model": weights,
        "step": max(c["step"] for c in ckpts),
        "seconds": sum(c.get("seconds", 0.0) for c in ckpts),
        "soup_of": [{"checkpoint": str(p), "steps": c["step"]} for p, c in zip(paths, ckpts)],
    }
