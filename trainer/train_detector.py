"""Detector training: ATSS assignment, quality focal loss, GIoU box loss, corner loss.

AdamW with the backbone at 1/10 of the head's learning rate; the rate halves on a plateau found by
dlib's count-steps-without-decrease test. Runs are sized in wall-clock minutes (2 CPU cores) and
checkpoint as they go; validation runs the runtime's own pre/post-processing on full real scenes.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from streamer.detector import (
    decode_levels,
    input_size_for,
    postprocess,
    preprocess_frame,
    widest_anchor,
)
from streamer.host import this_host
from streamer.modelfile import load_sidecar, normalize_image
from trainer.data.detection import (
    BASE_SIDE,
    ROTATE_DEGREES,
    ROTATE_SHARE,
    SMALL_PLATE_WIDTHS,
    TILE_SCALES,
    DetScene,
    load_det_scenes,
    mark_unlabelled,
    random_tile,
)
from trainer.data.pack import add_pack_command, read_pack
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
from trainer.models.detector import DetectorSpec, PlateDetector
from trainer.schedule import PATIENCE, PlateauScheduler, WallClockCosine
from trainer.trainlog import TrainLog

#: what the runtime needs; written to the sidecar.
INPUT_SPEC = {"max_side": BASE_SIDE, "mean": [127.5] * 3, "std": [128.0] * 3, "color": "RGB"}
ANCHOR_SHAPE = (6.0, 2.0)  # anchor box (w, h) in strides: plates are wide
ATSS_TOPK = 9
#: smooth-L1 corner loss is quadratic below this many strides: 0.1 stride was 1.5-2.5 % of a
#: plate's width, so the corners were barely held at the precision that matters (~3 %)
CORNER_BETA = 0.01
GROUP_WEIGHTS = {"ccpd": 0.3, "synth": 0.2}  # the rest share what is left equally
#: share of batches cut as tiles twice as wide, four times fewer (the same pixels): a plate
#: wider than the usual tile (a close-up at a gate) is otherwise never seen whole, and the
#: detector boxes it in parts
LARGE_TILE_SHARE = 0.25


def atss_assign(points, strides, level_sizes, gt_boxes):
    """ATSS (Zhang et al., 2020): per plate, the k nearest points of each level are candidates;
    those whose anchor IoU exceeds the candidates' mean + std, and that lie on the plate, are
    positives. Returns the matched plate index per point (-1 = background)."""
    n, m, device = len(points), len(gt_boxes), points.device
    assigned = torch.full((n,), -1, dtype=torch.long, device=device)
    if m == 0:
        return assigned
    half = torch.stack([strides * ANCHOR_SHAPE[0] / 2, strides * ANCHOR_SHAPE[1] / 2], 1)
    anchors = torch.cat([points - half, points + half], 1)
    ious = box_iou_t(anchors, gt_boxes)  # (N, M)
    centres = (gt_boxes[:, :2] + gt_boxes[:, 2:]) / 2
    dist = torch.cdist(points, centres)  # (N, M)
    candidates, start = [], 0
    for size in level_sizes:
        k = min(ATSS_TOPK, size)
        candidates.append(dist[start : start + size].topk(k, 0, largest=False).indices + start)
        start += size
    cand = torch.cat(candidates, 0)  # (K, M)
    cand_iou = ious.gather(0, cand)
    thr = cand_iou.mean(0) + cand_iou.std(0)
    # "inside the plate", with tiny plates grown to one stride so that they still own a point
    grow = (strides[cand] / 2 - (gt_boxes[:, 2:] - gt_boxes[:, :2]).min(1).values / 2).clamp(min=0)
    px, py = points[cand, 0], points[cand, 1]
    inside = (
        (px > gt_boxes[:, 0] - grow) & (px < gt_boxes[:, 2] + grow)
        & (py > gt_boxes[:, 1] - grow) & (py < gt_boxes[:, 3] + grow)
    )  # fmt: skip
    positive = (cand_iou >= thr) & inside
    best = cand_iou.argmax(0)
    positive[best, torch.arange(m, device=device)] = True  # every plate: its best candidate
    score = torch.full((n, m), -1.0, device=device)
    cols = torch.arange(m, device=device).expand_as(cand)
    score[cand[positive], cols[positive]] = ious[cand[positive], cols[positive]]
    best_iou, best_gt = score.max(1)
    assigned[best_iou >= 0] = best_gt[best_iou >= 0]
    return assigned


def points_inside(points: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """(N,) whether each point lies in any of the boxes (K, 4)."""
    x, y = points[:, :1], points[:, 1:]
    return ((x > boxes[:, 0]) & (x < boxes[:, 2]) & (y > boxes[:, 1]) & (y < boxes[:, 3])).any(1)


def box_iou_t(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    lt = torch.max(a[:, None, :2], b[None, :, :2])
    rb = torch.min(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).prod(-1)
    return inter / (area_a[:, None] + area_b[None] - inter + 1e-9)


def giou_pairs(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """IoU and generalised IoU of matching rows of a and b."""
    lt, rb = torch.max(a[:, :2], b[:, :2]), torch.min(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    union = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(-1) + (b[:, 2:] - b[:, :2]).prod(-1) - inter
    iou = inter / (union + 1e-9)
    hull = (torch.max(a[:, 2:], b[:, 2:]) - torch.min(a[:, :2], b[:, :2])).prod(-1)
    return iou, iou - (hull - union) / (hull + 1e-9)


def detection_loss(
    model: PlateDetector, images, targets, corner_weight: float = 0.5, bf16: bool = False
):
    """Quality focal loss on the score (target = IoU of the predicted box), GIoU on the boxes,
    L1 in stride units on the corners of plates whose corners are labelled. Points inside a
    plate cut by the tile's edge are left out of the score loss unless assigned to a plate.
    ``bf16``: the model runs in bfloat16 (``forward_precision``), the loss in float32."""
    with forward_precision(images.device, bf16):
        maps = [m.float() for m in model(images)]
    raw, points, strides = model.flatten(maps)
    level_sizes = [m.shape[2] * m.shape[3] for m in maps]
    scores_logit = raw[..., 0]
    _, boxes, corners = model.decode(raw, points, strides)
    quality = torch.zeros_like(scores_logit)
    counted = torch.ones_like(scores_logit)
    box_losses, corner_losses, n_pos = [], [], 0
    for i, (gt_boxes, gt_corners, has_corners, ignore) in enumerate(targets):
        assigned = atss_assign(points, strides, level_sizes, gt_boxes)
        pos = assigned >= 0
        if len(ignore):
            counted[i, points_inside(points, ignore) & ~pos] = 0
        if not pos.any():
            continue
        n_pos += int(pos.sum())
        gt = assigned[pos]
        iou, giou = giou_pairs(boxes[i, pos], gt_boxes[gt])
        quality[i, pos] = iou.detach().clamp(min=0.01)
        box_losses.append((1 - giou).sum())
        with_corners = has_corners[gt]
        if with_corners.any():
            diff = (corners[i, pos] - gt_corners[gt].reshape(-1, 8)) / strides[pos, None]
            corner_losses.append(
                F.smooth_l1_loss(
                    diff[with_corners],
                    torch.zeros_like(diff[with_corners]),
                    reduction="sum",
                    beta=CORNER_BETA,
                )
                / 8
            )
    sig = scores_logit.sigmoid()
    qfl = (
        F.binary_cross_entropy_with_logits(scores_logit, quality, reduction="none")
        * (sig - quality).abs().pow(2)
        * counted
    )
    norm = max(n_pos, 1)
    loss_cls = qfl.sum() / norm
    loss_box = sum(box_losses) / norm if box_losses else raw.sum() * 0
    loss_corner = sum(corner_losses) / norm if corner_losses else raw.sum() * 0
    total = loss_cls + 2.0 * loss_box + corner_weight * loss_corner
    return total, (loss_cls.item(), float(loss_box.detach()), float(loss_corner.detach()))


class TileBatches:
    def __init__(
        self,
        groups: dict,
        rng: np.random.Generator,
        tile: int,
        strength: float,
        large_tile_share: float = LARGE_TILE_SHARE,
        rotate_share: float = ROTATE_SHARE,
        rotate_degrees: float = ROTATE_DEGREES,
        group_weights: dict[str, float] | None = None,
        tile_scales: tuple[float, float] = TILE_SCALES,
        small_plate_share: float = 0.0,
    ):
        self.groups = {k: v for k, v in groups.items() if v}
        self.tile_scales, self.small_plate_share = tile_scales, small_plate_share
        check_group_names(group_weights or {}, self.groups)
        self.large_tile_share, self.rotate_share = large_tile_share, rotate_share
        self.rotate_degrees = rotate_degrees
        rest = [k for k in self.groups if k not in GROUP_WEIGHTS]
        left = 1 - sum(GROUP_WEIGHTS.get(k, 0) for k in self.groups)
        fixed = GROUP_WEIGHTS | (group_weights or {})
        w = np.array([fixed.get(k, left / max(1, len(rest))) for k in self.groups])
        self.names, self.p = list(self.groups), w / w.sum()
        self.rng, self.tile, self.strength = rng, tile, strength

    def draw(self, size: int, large_tiles: bool = True):
        """A batch as the model takes it: normalised (B, 3, H, W) float32, and its targets."""
        rgb, targets = self.draw_raw(size, large_tiles)
        x = torch.from_numpy(normalize_image(rgb, INPUT_SPEC["mean"], INPUT_SPEC["std"]))
        return x, targets_to(targets, torch.device("cpu"))

    def draw_raw(self, size: int, large_tiles: bool = True):
        """A batch as (B, H, W, 3) uint8 RGB tiles and, per tile, numpy (boxes, corners,
        has_corners, ignore): what data-loader workers hand over (``trainer.device``)."""
        images, targets = [], []
        tile = self.tile
        if large_tiles and size >= 4 and self.rng.random() < self.large_tile_share:
            tile, size = 2 * tile, size // 4
        for g in self.rng.choice(len(self.names), size, p=self.p):
            source = self.groups[self.names[g]]
            scene = source[self.rng.integers(len(source))]
            t = random_tile(
                scene,
                self.rng,
                tile,
                self.strength,
                self.rotate_share,
                self.rotate_degrees,
                self.tile_scales,
                self.small_plate_share,
            )
            images.append(t.image)
            targets.append((t.boxes, t.corners, t.has_corners, t.ignore))
        return np.ascontiguousarray(np.stack(images)[..., ::-1]), targets


def targets_to(targets: list[tuple], device: torch.device) -> list[tuple]:
    """Per tile (boxes, corners, has_corners, ignore) as tensors on ``device``."""
    return [
        (
            torch.from_numpy(boxes).float().to(device),
            torch.from_numpy(corners).float().to(device),
            torch.from_numpy(has_corners).to(device),
            torch.from_numpy(ignore).float().to(device),
        )
        for boxes, corners, has_corners, ignore in targets
    ]


def synthetic_scenes(seed: int, size: int, processes: int = 1) -> list[DetScene]:
    """Synthetic scenes with perspective plates and exact corners, rendered once (~17/s a
    process); in ``processes`` processes, each from its own random stream, where there are
    more than one."""
    if processes > 1:
        return in_processes(synthetic_scenes, seed, size, processes)
    from trainer.synth.scenes import random_scene

    rng = np.random.default_rng(seed)
    scenes = []
    for _ in range(size):
        image, plates = random_scene(rng)
        corners = np.array([p["corners"] for p in plates], np.float32).reshape(-1, 4, 2)
        boxes = np.array([p["box"] for p in plates], np.float32).reshape(-1, 4)
        scenes.append(DetScene(image, boxes, corners, np.ones(len(plates), bool), "synth", "synth"))
    return scenes


def predict_scene(
    model: PlateDetector, image: np.ndarray, score_thr: float = 0.3, nms_iou: float = 0.45
):
    h, w = image.shape[:2]
    batch, lb = preprocess_frame(image, input_size_for((w, h), BASE_SIDE), INPUT_SPEC)
    with torch.no_grad():
        maps = [m.numpy() for m in model(torch.from_numpy(batch))]
    decoded = decode_levels(maps, model.spec.strides, score_thr)
    widest = widest_anchor(ANCHOR_SHAPE, model.spec.strides)
    return postprocess(decoded, lb, score_thr, nms_iou, widest)


SCORE_THRESHOLDS = np.round(np.arange(0.15, 0.76, 0.05), 2)


#: groups whose every plate is boxed; "scenes" label one plate an image, so their precision is
#: only a lower bound and they take no part in choosing the threshold.
FULLY_LABELLED = ("ccpd", "det-")


def choose_threshold(preds: dict, gts: dict, min_precision: float = 0.95) -> float:
    """The lowest threshold (most recall) whose precision over the fully labelled validation
    groups is at least ``min_precision``; the best-F1 one when none is."""
    from trainer.eval.metrics import detection_pr

    groups = [g for g in preds if g.startswith(FULLY_LABELLED)]
    rows = []
    for thr in SCORE_THRESHOLDS:
        kept = [(b[s >= thr], s[s >= thr]) for g in groups for b, s in preds[g]]
        pr = detection_pr(kept, [gt for g in groups for gt in gts[g]], iou_threshold=0.5)
        rows.append((float(thr), pr.recall, pr.precision))
    good = [r for r in rows if r[2] >= min_precision]
    if good:
        return min(good)[0]
    return max(rows, key=lambda r: 2 * r[1] * r[2] / max(r[1] + r[2], 1e-9))[0]


def train_mode(model: PlateDetector, freeze_bn: bool) -> None:
    """Training mode, with the BatchNorms' statistics kept as they are when ``freeze_bn``.

    Fine-tuning a trained detector with batch statistics (16 tiles, or 4 large ones) moves the
    running statistics away from what the weights were fitted to, and the corners with them:
    300 steps at 2e-4 narrowed the CCPD corners from -1.8 % to -6.6 % of the plate width
    (corner error 2.8 -> 4.0 %), with frozen statistics to -1.3 % (3.2 %); weight decay
    made no difference. Frozen BatchNorm is how detectors are usually fine-tuned on small
    batches.
    """
    model.train()
    if freeze_bn:
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.eval()


def with_small_level(model: PlateDetector, channels: int) -> PlateDetector:
    """A trained detector plus a new stride-4 level (``SmallPlateLevel``) of ``channels``."""
    if model.spec.small_level:
        raise ValueError("--add-small-level: the model has a stride-4 level already")
    spec = dataclasses.replace(model.spec, strides=(4, *model.spec.strides), small_level=channels)
    grown = PlateDetector(spec)
    grown.load_state_dict(model.state_dict(), strict=False)  # all but the new level's weights
    return grown


def train_only_small_level(model: PlateDetector) -> None:
    """Freeze all but the stride-4 level, BatchNorm statistics included: the other levels then
    compute exactly what they did, so what the model found before it still finds, and the
    training steps cost the forward pass and the small level's backward only."""
    model.eval()
    model.small.train()
    for name, param in model.named_parameters():
        param.requires_grad = name.startswith("small.")


def evaluate(model: PlateDetector, groups: dict) -> dict:
    """Per validation group: recall/precision at IoU 0.5 at the chosen score threshold, and the
    median corner error (fraction of plate width) where corners are labelled. Run once a run
    has ended: the model is left in eval mode."""
    from trainer.eval.metrics import corner_error, detection_pr

    model.eval()
    preds, gts, dets_by_group = {}, {}, {}
    for name, scenes in sorted(groups.items()):
        dets_by_group[name] = [predict_scene(model, s.image, SCORE_THRESHOLDS[0]) for s in scenes]
        preds[name] = [
            (np.array([d.box for d in ds]).reshape(-1, 4), np.array([d.score for d in ds]))
            for ds in dets_by_group[name]
        ]
        gts[name] = [s.boxes for s in scenes]
    thr = choose_threshold(preds, gts)
    results: dict = {"score_threshold": thr}
    for name, scenes in sorted(groups.items()):
        kept = [(b[s >= thr], s[s >= thr]) for b, s in preds[name]]
        pr = detection_pr(kept, gts[name], iou_threshold=0.5)
        row = {"n": len(scenes), "recall": round(pr.recall, 4), "precision": round(pr.precision, 4)}
        cerrs = [
            corner_error(d.corners, s.corners[0])
            for s, ds in zip(scenes, dets_by_group[name])
            if s.has_corners.any()
            for d in ds[:1]
            if d.score >= thr
        ]
        if cerrs:
            row["corner_error_median"] = round(float(np.median(cerrs)), 4)
        results[name] = row
    return results


def run_detector(args) -> int:
    if args.add_small_level and not (args.init_onnx or args.resume):
        raise ValueError("--add-small-level grows a trained detector: give it --init-onnx MODEL")
    if args.init_onnx:
        load_sidecar(Path(args.init_onnx))  # a wrong path fails now, not after loading the data
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    root = data_root()
    rng = np.random.default_rng(args.seed)
    if args.pack:
        train_groups: dict = read_pack(Path(args.pack))
    else:
        train_groups = dict(load_det_scenes(root, "train"))
    if args.ignore_unlabelled:
        marked = mark_unlabelled(train_groups, args.ignore_unlabelled)
        print(f"{marked} unlabelled plates found by {args.ignore_unlabelled} left unscored")
    if args.synth:
        train_groups["synth"] = synthetic_scenes(args.seed, args.synth, max(1, args.workers))
    batches = TileBatches(
        train_groups, rng, args.tile, args.strength, args.large_tile_share, args.rotate_share,
        args.rotate_degrees, dict(args.group_weight or []), tuple(args.tile_scales),
        args.small_plate_share,
    )  # fmt: skip
    print(
        {k: len(v) for k, v in train_groups.items()},
        flush=True,
    )
    ckpt_path = out / "detector.pt"
    model = PlateDetector(DetectorSpec())
    done, step = 0.0, 0
    if args.resume and ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=False)
        model = PlateDetector(DetectorSpec(**ckpt["spec"]))
        model.load_state_dict(ckpt["model"])
        done, step = ckpt["seconds"], ckpt["step"]
    elif args.init_onnx:
        from trainer.onnx_weights import detector_from_onnx, recalibrate_folded_batchnorm

        model, _ = detector_from_onnx(Path(args.init_onnx))
        if args.add_small_level:  # the rest stays as it is, BatchNorm included
            model = with_small_level(model, args.add_small_level)
        else:
            calibration = torch.cat([batches.draw(args.batch, False)[0] for _ in range(4)])
            recalibrate_folded_batchnorm(model, calibration)
    if args.add_small_level and not model.spec.small_level:
        raise ValueError(f"--resume: {ckpt_path} has no stride-4 level to go on training")
    spec = model.spec
    device = torch.device(args.device)
    model.to(device)
    torch.backends.cudnn.benchmark = device.type == "cuda"  # the tile size never changes
    if args.add_small_level:
        train_only_small_level(model)
    else:
        train_mode(model, args.freeze_bn)
    backbone = [p for p in model.backbone.parameters() if p.requires_grad]
    rest = [
        p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("backbone.")
    ]
    groups = [{"params": backbone, "lr": args.lr / 10}, {"params": rest, "lr": args.lr}]
    opt = torch.optim.AdamW([g for g in groups if g["params"]], weight_decay=0.01)
    log = TrainLog(
        out / "detector_log.csv",
        ["step", "seconds", "loss", "cls", "box", "corner", "lr"],
        append=args.resume,
    )
    start = time.time() - done
    if args.cosine:
        sched = WallClockCosine(opt, start, args.minutes * 60, args.warmup)
    else:
        sched = PlateauScheduler(opt, patience=args.patience)
    stream = batch_stream(batches, args.batch, args.seed, args.workers)
    parts = []
    while time.time() - start < args.minutes * 60:
        rgb, targets = next(stream)
        x = images_to_input(rgb, INPUT_SPEC["mean"], INPUT_SPEC["std"], device)
        loss, detail = detection_loss(
            model, x, targets_to(targets, device), args.corner_weight, args.bf16
        )
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(rest + backbone, 10.0)
        opt.step()
        sched.step(loss.item())
        parts.append((loss.item(), *detail))
        step += 1
        if step % 20 == 0:
            mean = np.mean(parts, 0)
            log.write(step, time.time() - start, *map(float, mean), opt.param_groups[-1]["lr"])
            parts = []
        if step % 200 == 0:
            save_checkpoint(ckpt_path, model, spec, step, time.time() - start)
    seconds = time.time() - start
    save_checkpoint(ckpt_path, model, spec, step, seconds)
    del train_groups, batches, stream
    val = load_det_scenes(root, "val") if root.is_dir() else {}
    if val:
        metrics = evaluate(model.cpu(), val)
    else:
        metrics = {}
        print(f"no validation data at {root}: evaluate {ckpt_path} where the data is")
    summary = {
        "steps": step,
        "seconds": round(seconds),
        "batch": args.batch,
        "tile": args.tile,
        "init_onnx": str(args.init_onnx or ""),
        "corner_weight": args.corner_weight,
        "large_tile_share": args.large_tile_share,
        "rotate_share": args.rotate_share,
        "rotate_degrees": args.rotate_degrees,
        "tile_scales": list(args.tile_scales),
        "small_plate_share": args.small_plate_share,
        "group_weights": dict(args.group_weight or []),
        "freeze_bn": args.freeze_bn,
        "small_level": args.add_small_level,
        "schedule": f"cosine, warm-up {args.warmup}" if args.cosine else "plateau",
        "device": args.device,
        "host": this_host(),
        "threads": args.threads,
        "precision": "bfloat16 forward" if args.bf16 else "float32",
        "lr_drops": sched.drops,
        "val": metrics,
    }
    (out / "detector_summary.json").write_text(json.dumps(summary, indent=2))
    log.plot()
    print(json.dumps(summary, indent=2))
    return 0


def save_checkpoint(path: Path, model: PlateDetector, spec, step: int, seconds: float) -> None:
    state = cpu_state(model)
    torch.save({"spec": spec.to_dict(), "model": state, "step": step, "seconds": seconds}, path)


def run_soup(args) -> int:
    """Average exported detectors (``trainer.soup``) into a checkpoint, scored and given its
    threshold as a training run's is, so that ``export-detector --summary`` records it."""
    from trainer.soup import average_detectors, write_soup

    soup = average_detectors([Path(p) for p in args.models])
    model = PlateDetector(DetectorSpec(**soup["spec"]))
    model.load_state_dict(soup["model"])
    val = evaluate(model, load_det_scenes(data_root(), "val"))
    write_soup(soup, Path(args.out), "detector", val)
    return 0


def run_export(args) -> int:
    from trainer.export import export_detector

    export_detector(
        Path(args.checkpoint), Path(args.output), Path(args.summary) if args.summary else None
    )
    return 0


def calibration_batches(root: Path, count: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` train-split frames, taken in turn from each scene group (CCPD would otherwise
    be most of them), preprocessed exactly as the runtime does."""
    from trainer.data.ccpd import read_ccpd
    from trainer.data.shared import read_scenes, split_of

    groups: dict[str, list[Path]] = {"ccpd": [Path(c.image) for c in read_ccpd(root / "ccpd")[0]]}
    for folder in ("scenes", "detscenes"):
        for lab in read_scenes(root / folder / "labels.jsonl")[0]:
            groups.setdefault(Path(lab.image).parent.name, []).append(Path(lab.image))
    rng = np.random.default_rng(seed)
    pools = []
    for paths in groups.values():
        train = [p for p in paths if split_of(p.name) == "train"]
        pools.append([train[i] for i in rng.permutation(len(train))])
    batches: list[np.ndarray] = []
    while len(batches) < count and any(pools):
        for pool in pools:
            image = cv2.imread(str(pool.pop())) if pool else None
            if image is not None and len(batches) < count:
                size = input_size_for((image.shape[1], image.shape[0]), BASE_SIDE)
                batches.append(preprocess_frame(image, size, INPUT_SPEC)[0])
    return batches


def run_quantize(args) -> int:
    from trainer.export import quantize_detector_static

    model, output = Path(args.model), Path(args.output)
    root = Path(args.data) if args.data else data_root()
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    rewritten = quantize_detector_static(model, output, calibration_batches(root, args.images))
    sidecar = json.loads(model.with_suffix(".json").read_text()) | rewritten
    sidecar["quantization"] = {
        "method": "ONNX Runtime static INT8, QDQ, per-channel 7-bit weights (reduce_range: no "
        "16-bit saturation on CPUs without VNNI), min/max activations",
        "calibration": f"{args.images} train-split real frames, in turn from each scene group",
        "fp32_kept": "final score/box/corner convolutions",
        "graph": REWRITE_NOTE,
    }
    output.with_suffix(".json").write_text(json.dumps(sidecar, indent=2, ensure_ascii=False) + "\n")
    size = output.stat().st_size / 1e6
    print(f"wrote {output} ({size:.1f} MB); compare: platestream-train eval --detector {output}")
    return 0


REWRITE_NOTE = (
    "rewritten (trainer/detector_graph.py), exactly where not said otherwise: the stem as "
    "SpaceToDepth(2) + 2x2 convolution on 12 channels, after the input's quantisation "
    "(bit-identical), and the "
    "score/box/corner convolutions of each level as one convolution + Split (within float "
    "rounding); the input's quantisation and SpaceToDepth done by the runtime, channels last "
    "(streamer.detector.quantized_blocks, bit-identical; input_quantization); the INT8 nearest "
    "upsamplings as uint8 copies channels last, and the BiFPN fusion weights folded into the "
    "scales of their inputs (bit-identical on the embedded model); a graph that decoded every "
    "location ends at the head's raw maps (the runtime decodes where the score passes); where "
    "the input's quantisation allows it, the pixels taken as they are (mean moved to the zero "
    "point, the half step in the stem's bias: no lookup at run time; not bit-identical, within "
    "INT8's own error)"
)


def run_rewrite(args) -> int:
    from trainer.detector_graph import rewrite_detector

    model, output = Path(args.model), Path(args.output)
    sidecar = json.loads(model.with_suffix(".json").read_text())
    sidecar |= rewrite_detector(model, output, sidecar)
    sidecar.setdefault("quantization", {})["graph"] = REWRITE_NOTE
    output.with_suffix(".json").write_text(json.dumps(sidecar, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {output}; compare: platestream-train eval --detector {output}")
    return 0


def register(sub) -> None:
    low, high = SMALL_PLATE_WIDTHS
    p = sub.add_parser("detector", help="train the plate detector")
    p.add_argument("--out", default="runs/detector")
    p.add_argument("--minutes", type=float, default=30, help="wall-clock budget")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--tile", type=int, default=320, help="training crop size")
    p.add_argument("--lr", type=float, default=2e-3, help="head learning rate (backbone: 1/10)")
    p.add_argument("--strength", type=float, default=0.5, help="photometric augmentation strength")
    p.add_argument("--patience", type=int, default=PATIENCE, help="plateau steps before an LR drop")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--synth", type=int, default=800, help="synthetic scenes in the pool (0: none)")
    p.add_argument(
        "--corner-weight", type=float, default=0.5, help="corner L1 against the score and box"
    )
    p.add_argument(
        "--large-tile-share", type=float, default=LARGE_TILE_SHARE, help="batches of 2x tiles"
    )
    p.add_argument("--rotate-share", type=float, default=ROTATE_SHARE, help="tiles turned in-plane")
    p.add_argument(
        "--tile-scales",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        default=TILE_SCALES,
        help="a tile's scale is the runtime's times a factor drawn log-uniformly from LOW-HIGH "
        "(default %(default)s; a lower LOW: more small plates)",
    )
    p.add_argument(
        "--small-plate-share",
        type=float,
        default=0.0,
        metavar="P",
        help=f"share of tiles cut around a plate scaled to {low:g}-{high:g} px wide, whatever "
        "its scene's scale (CCPD's close-ups give no plate under ~60 px otherwise)",
    )
    p.add_argument(
        "--group-weight",
        type=group_weight,
        action="append",
        metavar="GROUP=W",
        help="replace one group's batch weight, e.g. det-spain_uc3m=0.12 (repeatable; ccpd "
        f"{GROUP_WEIGHTS['ccpd']}, synth {GROUP_WEIGHTS['synth']}, the other groups share the "
        "rest equally)",
    )
    p.add_argument(
        "--rotate-degrees",
        type=float,
        default=ROTATE_DEGREES,
        help="most a tile is turned (overhead cameras see turning cars' plates at 30-40 degrees)",
    )
    p.add_argument("--resume", action="store_true")
    p.add_argument("--init-onnx", help="start from an exported detector (e.g. the embedded one)")
    p.add_argument(
        "--add-small-level",
        type=int,
        default=0,
        metavar="CHANNELS",
        help="give the --init-onnx detector a stride-4 level of CHANNELS (24: 1.4x its time) for "
        "plates under ~32 px at the input, and train only that level (with --resume: go on "
        "training only it)",
    )
    p.add_argument(
        "--ignore-unlabelled",
        metavar="MODEL",
        help="leave unscored the plates this detector ONNX finds where the scenes and Kaggle "
        "images label none (they label one plate an image, or the car in front)",
    )
    add_device_arguments(p, "pack-detector", "cutting tiles")
    p.add_argument("--warmup", type=int, default=0, help="steps of linear warm-up (--cosine)")
    p.add_argument(
        "--freeze-bn",
        action="store_true",
        help="keep the BatchNorm statistics fixed (fine-tuning: the corners drift without it)",
    )
    p.set_defaults(func=run_detector)

    add_pack_command(
        sub, "pack-detector", "scenes", lambda: load_det_scenes(data_root(), "train"), 800, 85
    )

    p = sub.add_parser(
        "soup-detector", help="average detectors fine-tuned from one model (a model soup)"
    )
    p.add_argument("models", nargs="+", help="detector ONNX files (FP32 or INT8) of the rounds")
    p.add_argument("--out", default="runs/detector-soup", help="folder for detector.pt and summary")
    p.set_defaults(func=run_soup)

    p = sub.add_parser("export-detector", help="export a detector checkpoint to ONNX + sidecar")
    p.add_argument("checkpoint")
    p.add_argument("--output", default="streamer/models/detector.onnx")
    p.add_argument("--summary", help="detector_summary.json to record in the sidecar")
    p.set_defaults(func=run_export)

    p = sub.add_parser("quantize-detector", help="static INT8 copy of a detector, calibrated")
    p.add_argument("model", help="FP32 detector ONNX (its sidecar is copied beside the output)")
    p.add_argument("--output", default="runs/detector/detector.int8.onnx")
    p.add_argument("--images", type=int, default=512, help="real frames to calibrate on")
    p.add_argument("--data", help="data folder (default: ../shared/data or $PLATESTREAM_DATA)")
    p.set_defaults(func=run_quantize)

    p = sub.add_parser(
        "rewrite-detector",
        help="rewrite a detector's graph in the form ONNX Runtime runs faster",
    )
    p.add_argument("model", help="detector ONNX (quantize-detector's output is rewritten already)")
    p.add_argument("--output", required=True)
    p.set_defaults(func=run_rewrite)
