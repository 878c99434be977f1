"""Training on a GPU: batches drawn in data-loader worker processes and normalised on the device,
checkpoints written with CPU tensors; and forward passes in bfloat16 where the CPU has AMX or
AVX-512 BF16.

A GPU takes a batch in a fraction of the time one core needs to cut and augment it, so the
batches are drawn in several processes, each from its own random stream. A batch source is any
object with an ``rng`` and a ``draw_raw(size)`` that returns uint8 RGB images and numpy labels:
they are pickled through the workers' pipes (tensors would go through shared memory, which a
container may hold to a few megabytes) and normalised on the device, at a quarter of the bytes
of float input.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from multiprocessing import get_context
from typing import Any

import numpy as np
import torch


class DrawnBatches(torch.utils.data.IterableDataset):
    """Endless ``source.draw_raw(size)`` batches, each worker with its own random stream."""

    def __init__(self, source: Any, size: int, seed: int):
        self.source, self.size, self.seed = source, size, seed

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker = info.id if info is not None else 0
        self.source.rng = np.random.default_rng([self.seed, worker])
        while True:
            yield self.source.draw_raw(self.size)


def as_drawn(batch):
    """The data loader's collate function: batches are whole when drawn."""
    return batch


def batch_stream(source: Any, size: int, seed: int, workers: int) -> Iterator:
    """Batches of ``source`` from ``workers`` processes (or this one, at 0)."""
    loader = torch.utils.data.DataLoader(
        DrawnBatches(source, size, seed),
        batch_size=None,
        collate_fn=as_drawn,
        num_workers=workers,
        prefetch_factor=4 if workers else None,
    )
    return iter(loader)


def images_to_input(
    rgb: np.ndarray, mean: list[float], std: list[float], device: torch.device
) -> torch.Tensor:
    """(B, H, W, 3) uint8 RGB -> (B, 3, H, W) float32 on ``device``, normalised as
    ``streamer.modelfile.normalize_image`` does on the CPU."""
    m = torch.tensor(mean, device=device).view(1, 3, 1, 1)
    s = torch.tensor(std, device=device).view(1, 3, 1, 1)
    return (torch.from_numpy(rgb).to(device).permute(0, 3, 1, 2).float() - m) / s


def forward_precision(device: torch.device, bf16: bool) -> torch.autocast:
    """The context a model's forward pass runs in: bfloat16 autocast with ``bf16`` (convolutions
    and matrix products take bfloat16, and on the CPU the normalisations and softmax after them
    run in it too), else float32. Losses are taken on the outputs cast back to float32.

    On a Xeon with AMX the training loops made 1.79x the steps a second for the detector and
    1.36x for the recognizer, on an EPYC with AVX-512 BF16 (no AMX) 1.62x and 1.44x; a CPU
    with neither may be slower, so it is asked for, not assumed."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


def cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights as CPU tensors, so that a checkpoint written on a GPU loads anywhere."""
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def in_processes(make: Callable[[int, int], list], seed: int, size: int, processes: int) -> list:
    """``make(seed, count)``'s ``size`` samples, made in ``processes`` forked processes, each
    with its own seed: a synthetic pool renders at tens of samples a second a core."""
    counts = [len(part) for part in np.array_split(np.arange(size), processes)]
    with get_context("fork").Pool(processes) as pool:
        parts = pool.starmap(make, [(seed * 1000 + i, n) for i, n in enumerate(counts)])
    return [sample for part in parts for sample in part]


def add_device_arguments(p: argparse.ArgumentParser, pack_command: str, drawing: str) -> None:
    """The options of a trainer that runs where the data folder is not, on a GPU say."""
    p.add_argument("--pack", help=f"train samples from a {pack_command} file, not the data folder")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    p.add_argument(
        "--bf16",
        action="store_true",
        help="forward passes in bfloat16 (autocast): faster on a CPU with AMX or AVX-512 BF16, "
        "or a recent GPU",
    )
    p.add_argument(
        "--workers", type=int, default=0, help=f"processes {drawing} (0: the training one)"
    )
    p.add_argument(
        "--cosine",
        action="store_true",
        help="cosine decay over --minutes (after --warmup steps) instead of plateau drops",
    )
