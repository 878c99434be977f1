"""Recognizer training: MAE pre-training of the strip encoder, then reading (frozen, then full).

Runs are sized by wall-clock minutes rather than epochs because the machine (2 CPU cores) is the
constraint; checkpoints are written as the run goes so a run can be resumed or exported early.
Batches mix the plate groups with fixed weights so that no region is starved by the big ones.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from streamer.charset import CHARSET, MAX_LENGTH, PROVINCES, decode_ctc, encode
from streamer.host import this_host
from streamer.modelfile import normalize_image
from streamer.recognizer import preprocess_plates, reading_from_probs
from trainer.data.augment import augmented_plate
from trainer.data.pack import add_pack_command, read_pack
from trainer.data.plates import PlateSample, load_real_samples
from trainer.data.shared import data_root
from trainer.device import (
    add_device_arguments,
    batch_stream,
    cpu_state,
    forward_precision,
    images_to_input,
    in_processes,
)
from trainer.mixing import check_group_names, group_weight
from trainer.models.recognizer import MaskedAutoencoder, PlateRecognizer, RecognizerSpec
from trainer.schedule import PATIENCE, PlateauScheduler, WallClockCosine
from trainer.trainlog import TrainLog

#: what the runtime needs to feed the model; written to the sidecar.
INPUT_SPEC = {"input_size": [192, 48], "mean": [127.5] * 3, "std": [127.5] * 3, "color": "RGB"}

#: share of each batch per group; groups absent from the data are dropped and the rest rescaled.
GROUP_WEIGHTS = {
    "cn": 0.16, "ccpd": 0.08, "br": 0.13, "us": 0.15, "ar": 0.08,
    "br-scene": 0.04, "us-scene": 0.06, "eu-scene": 0.06, "synth": 0.24, "restyled": 0.12,
}  # fmt: skip


def province_and_ending_balanced(samples: list[PlateSample]) -> np.ndarray | None:
    """Chances of drawing each sample for Chinese groups: 1/sqrt(plates of its province) times
    1/sqrt(plates that end like it, in a letter or a digit).

    Over 40 % of the real Chinese plates are from one province (CCPD's), and one in six ends in
    a letter, so drawn uniformly the model learns priors for both and reads a blurred rare
    province as the common one and a final P, B, Z, S or D as 8, 8, 2, 5, 0.
    """
    if not any(s.text[:1] in PROVINCES for s in samples):
        return None
    provinces = Counter(s.text[0] for s in samples)
    endings = Counter(s.text[-1].isalpha() for s in samples)
    weights = np.array(
        [(provinces[s.text[0]] * endings[s.text[-1].isalpha()]) ** -0.5 for s in samples]
    )
    return weights / weights.sum()


class PlateBatches:
    """Draws augmented batches from weighted groups of plate samples."""

    def __init__(
        self,
        groups: dict[str, list],
        rng: np.random.Generator,
        strength: float,
        synth_share: float | None = None,
        group_weights: dict[str, float] | None = None,
    ):
        self.groups = {k: v for k, v in groups.items() if v}
        names = list(self.groups)
        fixed = GROUP_WEIGHTS | (group_weights or {})
        weights = np.array([fixed.get(k, 0.05) for k in names])
        if synth_share is not None and "synth" in names:  # the real groups share the rest
            real = np.array([k != "synth" for k in names])
            weights = np.where(real, weights / weights[real].sum() * (1 - synth_share), synth_share)
        self.names, self.p = names, weights / weights.sum()
        real = {k: v for k, v in self.groups.items() if k != "synth"}
        self.within = {k: province_and_ending_balanced(v) for k, v in real.items()}
        self.rng, self.strength = rng, strength

    def draw(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch as the model takes it: normalised (B, 3, H, W) float32, and its targets."""
        rgb, targets = self.draw_raw(size)
        x = normalize_image(rgb, INPUT_SPEC["mean"], INPUT_SPEC["std"])
        return torch.from_numpy(x), torch.from_numpy(targets)

    def draw_raw(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """A batch as (B, H, W, 3) uint8 RGB plates and (B, max_length) targets: what
        data-loader workers hand over (``trainer.device``)."""
        crops, targets = [], []
        for g in self.rng.choice(len(self.names), size, p=self.p):
            name = self.names[g]
            source = self.groups[name]
            s = source[self.rng.choice(len(source), p=self.within.get(name))]
            crops.append(
                augmented_plate(
                    s.context, s.corners, tuple(INPUT_SPEC["input_size"]), self.rng, self.strength
                )
            )
            targets.append(encode(s.text))
        return np.ascontiguousarray(np.stack(crops)[..., ::-1]), np.stack(targets)


def synthetic_pool(
    seed: int, size: int, processes: int = 1, regions: tuple[str, ...] | None = None
) -> list[PlateSample]:
    """Synthetic plates of ``regions`` (default: those the recognizer reads; a region named
    twice is drawn twice as often), rendered once (about 30/s a process) and then re-augmented;
    in ``processes`` processes, each from its own random stream, where there are more than one."""
    if processes > 1:
        return in_processes(partial(synthetic_pool, regions=regions), seed, size, processes)
    from trainer.synth.plates import READ_REGIONS
    from trainer.synth.scenes import random_plate_sample

    rng = np.random.default_rng(seed)
    regions = regions or READ_REGIONS
    return [PlateSample(*random_plate_sample(rng, regions), group="synth") for _ in range(size)]


def restyled_pool(
    real: dict[str, list[PlateSample]],
    seed: int,
    size: int,
    groups: tuple[str, ...] | None = None,
    own: float = 0.0,
) -> list[PlateSample]:
    """``size`` real plates of ``groups`` (whole crops: US, Brazilian, Argentine; default all
    three) with new numbers (``trainer.synth.restyle``), each drawn at random from them; for a
    share ``own`` of them a number made of the plate's own characters is tried first, and a
    drawn one where that cannot be made. A plate whose characters are not found cleanly is
    passed over, and after ten tries a plate on average the pool is left short (where none of
    the plates can be restyled)."""
    from trainer.synth.restyle import RESTYLED_GROUPS, rearranged, restyled

    rng = np.random.default_rng(seed + 1)
    plates = [s for g in groups or RESTYLED_GROUPS for s in real.get(g, [])]
    pool: list[PlateSample] = []
    for _ in range(10 * size if plates else 0):
        if len(pool) == size:
            break
        s = plates[rng.integers(len(plates))]
        made = rearranged(s.context, s.group, s.text, rng) if own and rng.random() < own else None
        made = made or restyled(s.context, s.group, s.text, rng)
        if made is not None:
            image, text = made
            pool.append(PlateSample(image, s.corners, text, "restyled"))
    return pool


def load_groups(
    root: Path,
    split: str,
    synth: int,
    seed: int,
    pack: str | None = None,
    processes: int = 1,
    synth_regions: tuple[str, ...] | None = None,
    restyle: int = 0,
    restyle_groups: tuple[str, ...] | None = None,
    restyle_own: float = 0.0,
) -> dict[str, list]:
    """The real plates of ``split`` (from ``pack``, a pack-recognizer file, where given), a
    synthetic pool of ``synth`` plates and ``restyle`` real plates with new numbers (a share
    ``restyle_own`` of them made of the plates' own characters)."""
    groups: dict[str, list] = (
        read_pack(Path(pack)) if pack else dict(load_real_samples(root, split))
    )
    if restyle:
        groups["restyled"] = restyled_pool(groups, seed, restyle, restyle_groups, restyle_own)
    if synth:
        groups["synth"] = synthetic_pool(seed, synth, processes, synth_regions)
    return groups


def evaluate(model: PlateRecognizer, groups: dict[str, list[PlateSample]]) -> dict[str, dict]:
    """Exact-plate accuracy per group on un-augmented rectified plates (of the CTC head too,
    where the model has one)."""
    model.eval()
    results = {}
    with torch.no_grad():
        for name, samples in sorted(groups.items()):
            correct = ctc_correct = 0
            for i in range(0, len(samples), 64):
                chunk = samples[i : i + 64]
                crops = [
                    augmented_plate(s.context, s.corners, tuple(INPUT_SPEC["input_size"]), None, 0)
                    for s in chunk
                ]
                x = torch.from_numpy(preprocess_plates(crops, INPUT_SPEC))
                if model.ctc is None:
                    logits, ctc_logits = model(x), None
                else:
                    logits, ctc_logits = model(x, with_ctc=True)
                probs = logits.softmax(-1).numpy()
                correct += sum(
                    reading_from_probs(p, CHARSET).text == s.text for p, s in zip(probs, chunk)
                )
                if ctc_logits is not None:
                    ctc_probs = ctc_logits.softmax(-1).numpy()
                    ctc_correct += sum(
                        decode_ctc(p, CHARSET)[0] == s.text for p, s in zip(ctc_probs, chunk)
                    )
            n = max(1, len(samples))
            results[name] = {"n": len(samples), "accuracy": round(correct / n, 4)}
            if model.ctc is not None:
                results[name]["ctc_accuracy"] = round(ctc_correct / n, 4)
    model.train()
    return results


def ctc_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """CTC loss of strip logits (B, strips, classes) against end-padded targets (B, max_length)."""
    log_probs = logits.log_softmax(-1).transpose(0, 1)
    strips = torch.full((logits.shape[0],), logits.shape[1], dtype=torch.long, device=logits.device)
    return F.ctc_loss(log_probs, targets, strips, (targets > 0).sum(1), zero_infinity=True)


def parameter_groups(model: PlateRecognizer, lr: float, new_head: bool) -> list[dict]:
    """A new CTC head learns at 10x the rate of the trained network it is added to: at the
    fine-tuning rate a linear layer from random weights takes thousands of steps to read."""
    head = list(model.ctc.parameters()) if new_head else []
    ids = {id(p) for p in head}
    rest = [p for p in model.parameters() if id(p) not in ids]
    groups = [{"params": rest, "lr": lr, "initial_lr": lr}]
    if head:
        groups.append({"params": head, "lr": 10 * lr, "initial_lr": 10 * lr})
    return groups


def freeze_all_but_the_ctc_head(model: PlateRecognizer) -> None:
    """Train a CTC head alone on a trained recognizer: the encoder runs as at inference (no
    dropout) and without gradients, and the query decoder is untouched, so the model reads
    exactly as before and the head learns to read the same strip tokens."""
    model.requires_grad_(False).eval()
    model.ctc.requires_grad_(True).train()


def warm_up(opt: torch.optim.Optimizer, fraction: float) -> None:
    """Linear learning-rate warm-up: Adam's first steps, with its moment estimates still empty,
    move every weight by about the full rate and knock a trained model off its minimum."""
    for group in opt.param_groups:
        group["lr"] = group["initial_lr"] * fraction


def with_ctc_head(model: PlateRecognizer) -> PlateRecognizer:
    """The same recognizer with a new CTC head beside its query decoder."""
    if model.ctc is not None:
        return model
    joint = PlateRecognizer(replace(model.spec, ctc_head=True))
    joint.load_state_dict(model.state_dict(), strict=False)
    return joint


def spec_from_args(args) -> RecognizerSpec:
    return RecognizerSpec(
        dim=args.dim, encoder_layers=args.layers, decoder_layers=args.decoder_layers,
        num_classes=len(CHARSET), max_length=MAX_LENGTH,
    )  # fmt: skip


def run_mae(args) -> int:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    spec = spec_from_args(args)
    rng = np.random.default_rng(args.seed)
    batches = PlateBatches(load_groups(data_root(), "train", args.synth, args.seed), rng, 0.5)
    mae = MaskedAutoencoder(PlateRecognizer(spec).encoder, spec, mask_ratio=args.mask_ratio)
    opt = torch.optim.AdamW(mae.parameters(), lr=args.lr, weight_decay=0.05)
    sched = PlateauScheduler(opt, patience=args.patience)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = TrainLog(out / "mae_log.csv", ["step", "seconds", "loss", "lr"])
    start, step = time.time(), 0
    while time.time() - start < args.minutes * 60:
        x, _ = batches.draw(args.batch)
        loss = mae(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step(loss.item())
        step += 1
        if step % 50 == 0:
            log.write(step, time.time() - start, loss.item(), opt.param_groups[0]["lr"])
            torch.save(
                {"spec": spec.to_dict(), "encoder": mae.encoder.state_dict(), "step": step},
                out / "mae.pt",
            )
    torch.save(
        {"spec": spec.to_dict(), "encoder": mae.encoder.state_dict(), "step": step}, out / "mae.pt"
    )
    log.plot()
    print(f"MAE: {step} steps in {time.time() - start:.0f} s, last loss {loss.item():.4f}")
    return 0


def run_ocr(args) -> int:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    root = data_root()
    groups = load_groups(
        root,
        "train",
        args.synth,
        args.seed,
        args.pack,
        max(1, args.workers),
        args.synth_regions,
        args.restyle,
        args.restyle_groups,
        args.restyle_own,
    )
    group_weights = dict(args.group_weight or [])
    train = PlateBatches(groups, rng, args.strength, args.synth_share, group_weights)
    val = load_real_samples(root, "val") if root.is_dir() else {}
    ckpt_path = out / "ocr.pt"
    if args.resume and ckpt_path.exists():
        model, ckpt = load_ocr(ckpt_path)
        spec, done_seconds, step = model.spec, ckpt["seconds"], ckpt["step"]
    elif args.init_checkpoint:
        model, _ = load_ocr(Path(args.init_checkpoint))
        spec, done_seconds, step = model.spec, 0.0, 0
    elif args.init_onnx:
        from trainer.onnx_weights import recognizer_from_onnx

        model, spec = recognizer_from_onnx(Path(args.init_onnx))
        done_seconds, step = 0.0, 0
        if val:
            print("validation of the starting model:", json.dumps(evaluate(model, val)), flush=True)
    else:
        spec = spec_from_args(args)
        model = PlateRecognizer(spec)
        done_seconds, step = 0.0, 0
        if args.init_encoder:
            model.encoder.load_state_dict(
                torch.load(args.init_encoder, weights_only=False)["encoder"]
            )
    if args.ctc_head_only and not (args.init_onnx or args.init_checkpoint or args.resume):
        raise ValueError(
            "--ctc-head-only trains a CTC head on a trained recognizer: give it --init-onnx "
            "MODEL or --init-checkpoint CKPT"
        )
    new_head = (args.ctc_weight > 0 or args.ctc_head_only) and model.ctc is None
    if new_head:
        model = with_ctc_head(model)
        spec = model.spec
    device = torch.device(args.device)
    model.to(device)
    ema = weight_average(model, args.ema, out / "ocr_ema.pt" if args.resume else None)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    if args.ctc_head_only:
        freeze_all_but_the_ctc_head(model)
        head = {"params": list(model.ctc.parameters()), "lr": args.lr, "initial_lr": args.lr}
        opt = torch.optim.AdamW([head], weight_decay=0.05)
    else:
        opt = torch.optim.AdamW(parameter_groups(model, args.lr, new_head), weight_decay=0.05)
    log = TrainLog(
        out / "ocr_log.csv", ["step", "seconds", "loss", "lr", "frozen"], append=args.resume
    )
    start = time.time() - done_seconds
    if args.cosine:  # the warm-up is the schedule's own
        sched = WallClockCosine(opt, start, args.minutes * 60, args.warmup)
    else:
        sched = PlateauScheduler(opt, patience=args.patience)
    stream = batch_stream(train, args.batch, args.seed, args.workers)
    # a new part learns first on the trained encoder, so its first gradients do not scramble it
    starts_new = (args.init_encoder or new_head) and not args.resume
    freeze_until = args.freeze_minutes * 60 if starts_new and not args.ctc_head_only else 0
    losses = []
    while time.time() - start < args.minutes * 60:
        frozen = args.ctc_head_only or time.time() - start < freeze_until
        model.encoder.requires_grad_(not frozen)
        rgb, y = next(stream)
        x = images_to_input(rgb, INPUT_SPEC["mean"], INPUT_SPEC["std"], device)
        y = torch.from_numpy(y).to(device)
        with forward_precision(device, args.bf16):
            if args.ctc_head_only:
                with torch.no_grad():
                    memory = model.encoder(x)
                logits, ctc_logits = None, model.ctc(memory)
            elif model.ctc is None:
                logits, ctc_logits = model(x), None
            else:
                logits, ctc_logits = model(x, with_ctc=True)
        loss = 0.0
        if logits is not None:
            loss = loss_fn(logits.float().flatten(0, 1), y.flatten())
        if ctc_logits is not None:
            weight = 1.0 if logits is None else args.ctc_weight
            loss = loss + weight * ctc_loss(ctc_logits.float(), y)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 2.0)
        if step < args.warmup and not args.resume and not args.cosine:
            warm_up(opt, (step + 1) / args.warmup)
        opt.step()
        if ema is not None:
            ema.update_parameters(model)
        sched.step(loss.item())
        losses.append(loss.item())
        step += 1
        if step % 50 == 0:
            log.write(
                step,
                time.time() - start,
                float(np.mean(losses)),
                opt.param_groups[0]["lr"],
                int(frozen),
            )
            losses = []
        if step % 500 == 0:
            save_ocr(ckpt_path, model, spec, step, time.time() - start)
            if ema is not None:
                save_ocr(out / "ocr_ema.pt", ema.module, spec, step, time.time() - start)
    seconds = time.time() - start
    save_ocr(ckpt_path, model, spec, step, seconds)
    del stream
    model.cpu()
    if ema is not None:
        ema.cpu()
    if not val:
        print(f"no validation data at {root}: evaluate {ckpt_path} where the data is")
    metrics = evaluate(model, val)
    summary = {
        "steps": step, "seconds": round(seconds), "batch": args.batch, "strength": args.strength,
        "init_encoder": str(args.init_encoder or ""), "init_onnx": str(args.init_onnx or ""),
        "init_checkpoint": str(args.init_checkpoint or ""), "warmup": args.warmup,
        "freeze_minutes": args.freeze_minutes, "ctc_weight": args.ctc_weight,
        "ctc_head_only": args.ctc_head_only, "ema": args.ema,
        "synthetic_pool": args.synth, "synthetic_share": args.synth_share,
        "synthetic_regions": args.synth_regions, "restyled_pool": args.restyle,
        "restyled_groups": args.restyle_groups, "restyled_own": args.restyle_own,
        "group_weights": group_weights, "device": args.device, "host": this_host(),
        "threads": args.threads, "precision": "bfloat16 forward" if args.bf16 else "float32",
        "schedule": f"cosine, warm-up {args.warmup}" if args.cosine else "plateau",
        "lr_drops": sched.drops, "val": metrics,
    }  # fmt: skip
    (out / "ocr_summary.json").write_text(json.dumps(summary, indent=2))
    if ema is not None:  # exported as any run: export-recognizer ocr_ema.pt --summary ...
        save_ocr(out / "ocr_ema.pt", ema.module, spec, step, seconds)
        summary_ema = summary | {"weights": "EMA", "val": evaluate(ema.module, val)}
        (out / "ocr_ema_summary.json").write_text(json.dumps(summary_ema, indent=2))
    log.plot()
    print(json.dumps(summary, indent=2))
    return 0


def weight_average(model: PlateRecognizer, decay: float, resume_from: Path | None):
    """An exponential moving average of the weights along the run (None when ``decay`` is 0):
    a model soup of the run's own recent steps, which fine-tuning rounds from one model gained
    from when averaged after the fact. Resumes from ``resume_from`` where that exists."""
    if not decay:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))
    if resume_from is not None and resume_from.exists():
        ema.module.load_state_dict(load_ocr(resume_from)[0].state_dict())
        ema.n_averaged.fill_(1)
    return ema


def run_soup(args) -> int:
    """Average fine-tuned recognizers (``trainer.soup``) and score the average as a training
    run is scored, so that ``export-recognizer --summary`` records it."""
    from trainer.soup import average_checkpoints, write_soup

    soup = average_checkpoints([Path(p) for p in args.checkpoints])
    model = PlateRecognizer(RecognizerSpec(**soup["spec"]))
    model.load_state_dict(soup["model"])
    write_soup(soup, Path(args.out), "ocr", evaluate(model, load_real_samples(data_root(), "val")))
    return 0


def save_ocr(path: Path, model: PlateRecognizer, spec: RecognizerSpec, step: int, seconds: float):
    torch.save(
        {"spec": spec.to_dict(), "model": cpu_state(model), "step": step, "seconds": seconds},
        path,
    )


def load_ocr(path: Path) -> tuple[PlateRecognizer, dict]:
    """The recognizer an ``ocr.pt`` (``save_ocr``'s or a soup's) holds, and the checkpoint."""
    ckpt = torch.load(path, weights_only=False)
    model = PlateRecognizer(RecognizerSpec(**ckpt["spec"]))
    model.load_state_dict(ckpt["model"])
    return model, ckpt


def run_export(args) -> int:
    from trainer.export import export_recognizer

    summary = Path(args.summary) if args.summary else None
    export_recognizer(
        Path(args.checkpoint),
        Path(args.output),
        summary,
        args.ctc_weight,
        args.ctc_skip_confidence,
        args.ctc_recount_weight,
    )
    return 0


def run_quantize(args) -> int:
    from trainer.export import quantize_recognizer

    out = quantize_recognizer(Path(args.model), Path(args.output))
    size = out.stat().st_size / 1e6
    print(f"wrote {out} ({size:.1f} MB); compare: platestream-train eval --recognizer {out}")
    return 0


def restyle_groups(text: str) -> tuple[str, ...]:
    """``--restyle-groups``: some of the groups whose plates are whole crops."""
    from trainer.synth.restyle import RESTYLED_GROUPS

    groups = tuple(text.lower().split(","))
    unknown = [g for g in groups if g not in RESTYLED_GROUPS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown group {unknown[0]!r} (restyled: {', '.join(RESTYLED_GROUPS)})"
        )
    return groups


def known_group_weight(text: str) -> tuple[str, float]:
    """``--group-weight`` for the recognizer's fixed groups."""
    pair = group_weight(text)
    try:
        check_group_names(dict([pair]), GROUP_WEIGHTS)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return pair


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="runs/recognizer", help="folder for checkpoints and logs")
    p.add_argument("--minutes", type=float, default=20, help="wall-clock budget")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--patience", type=int, default=PATIENCE, help="plateau steps before an LR drop")
    p.add_argument("--dim", type=int, default=192)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--decoder-layers", type=int, default=2)
    p.add_argument("--synth", type=int, default=3000, help="synthetic plates in the pool (0: none)")


def register(sub) -> None:
    p = sub.add_parser("mae", help="pre-train the recognizer encoder as a masked autoencoder")
    add_common(p)
    p.add_argument("--mask-ratio", type=float, default=0.7)
    p.set_defaults(func=run_mae)

    p = sub.add_parser("ocr", help="train the recognizer (optionally from an MAE encoder)")
    add_common(p)
    p.add_argument("--init-encoder", help="mae.pt from 'platestream-train mae'")
    p.add_argument(
        "--init-onnx", help="start from an exported recognizer (e.g. the embedded one, INT8 too)"
    )
    p.add_argument("--init-checkpoint", help="start from an ocr.pt (a training run's or a soup's)")
    p.add_argument(
        "--ctc-weight",
        type=float,
        default=0.0,
        help="weight of a CTC head's loss trained beside the query decoder (0: no CTC head)",
    )
    p.add_argument(
        "--ctc-head-only",
        action="store_true",
        help="train only a CTC head (added where the model has none) on the frozen recognizer "
        "of --init-onnx or --init-checkpoint: the query decoder reads exactly as before",
    )
    p.add_argument(
        "--freeze-minutes",
        type=float,
        default=3,
        help="minutes with the encoder frozen (after --init-encoder or a new CTC head)",
    )
    p.add_argument("--strength", type=float, default=1.0, help="augmentation strength")
    p.add_argument(
        "--synth-regions",
        type=lambda text: tuple(text.upper().split(",")),
        help="regions of the synthetic pool, comma-separated, one named twice drawn twice as "
        "often (default: the regions read, CN,EU,US,BR,AR,UK)",
    )
    p.add_argument(
        "--restyle",
        type=int,
        default=0,
        help="real US, Brazilian and Argentine training plates with their numbers replaced by "
        "random ones, in a pool of this many (0: none)",
    )
    p.add_argument(
        "--restyle-groups",
        type=restyle_groups,
        help="the groups restyled, comma-separated (default: us,br,ar, every group of whole "
        "plate crops)",
    )
    p.add_argument(
        "--restyle-own",
        type=float,
        default=0.0,
        help="share of the restyled plates whose new number is made of the plate's own "
        "characters, set again in a new order, instead of drawn in a font (default 0)",
    )
    p.add_argument(
        "--synth-share",
        type=float,
        help="share of each batch drawn from the synthetic pool, the real groups keeping their "
        f"proportions (default: {GROUP_WEIGHTS['synth']} of the fixed group weights)",
    )
    p.add_argument(
        "--group-weight",
        type=known_group_weight,
        action="append",
        metavar="GROUP=W",
        help="replace one group's fixed batch weight, e.g. br=0.2 (repeatable; groups: "
        + ", ".join(GROUP_WEIGHTS)
        + ")",
    )
    p.add_argument("--warmup", type=int, default=0, help="steps of linear learning-rate warm-up")
    p.add_argument(
        "--ema",
        type=float,
        default=0.0,
        help="decay of an exponential moving average of the weights, saved as ocr_ema.pt "
        "beside ocr.pt and scored in ocr_ema_summary.json (0: none)",
    )
    p.add_argument("--resume", action="store_true")
    add_device_arguments(p, "pack-recognizer", "augmenting plates")
    p.set_defaults(func=run_ocr)

    add_pack_command(
        sub, "pack-recognizer", "plates", lambda: load_real_samples(data_root(), "train"), 320, 88
    )

    p = sub.add_parser(
        "soup-recognizer", help="average recognizers fine-tuned from one model (a model soup)"
    )
    p.add_argument(
        "checkpoints",
        nargs="+",
        help="ocr.pt files of rounds from one model, or exported ONNX recognizers (the model "
        "they started from: streamer/models/recognizer.onnx)",
    )
    p.add_argument("--out", default="runs/recognizer-soup", help="folder for ocr.pt and summary")
    p.set_defaults(func=run_soup)

    p = sub.add_parser("export-recognizer", help="export a recognizer checkpoint to ONNX + sidecar")
    p.add_argument("checkpoint")
    p.add_argument("--output", default="streamer/models/recognizer.onnx")
    p.add_argument("--summary", help="ocr_summary.json to record in the sidecar")
    p.add_argument(
        "--ctc-weight",
        type=float,
        default=0.3,
        help="for a model with a CTC head: the weight of its score where the two heads read "
        "different texts of the same length (0: the queries' text always, 1: the better CTC "
        "score; default 0.3)",
    )
    p.add_argument(
        "--ctc-recount-weight",
        type=float,
        default=0.8,
        help="for a model with a CTC head: the weight of its score where the two heads' texts "
        "differ in length (CTC counts characters better than the queries; default 0.8)",
    )
    p.add_argument(
        "--ctc-skip-confidence",
        type=float,
        default=0.7,
        help="for a model with a CTC head: reads whose plate confidence is above this keep "
        "the queries' text without running the head (default 0.7; 1: the head runs always)",
    )
    p.set_defaults(func=run_export)

    p = sub.add_parser("quantize-recognizer", help="ONNX Runtime dynamic INT8 copy of a recognizer")
    p.add_argument("model", help="recognizer ONNX (its sidecar is copied beside the output)")
    p.add_argument("--output", default="runs/recognizer/recognizer.int8.onnx")
    p.set_defaults(func=run_quantize)
