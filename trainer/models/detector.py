"""SCRFD-style plate detector (Guo et al., 2021, "Sample and Computation Redistribution for
Efficient Face Detection"), with a BiFPN neck (Tan et al., 2020, EfficientDet) and a backbone in
the MobileNetV4 spirit (Qin et al., 2024).

Backbone: MobileNetV4's fused inverted-bottleneck blocks (a full 3x3 expansion conv, then a 1x1
projection). MobileNetV4-conv-small switches to depthwise blocks in its later stages; here every
stage is fused because full convolutions train about 6x faster per image on our 2-core CPU, and
at these widths they run fast enough at inference too.

Head: one anchor point per location at strides 8/16/32 (a high-resolution level for small plates),
shared across levels, predicting a plate score (quality focal loss: the score is the IoU), the box
as distances to its 4 sides and the 4 plate corners as offsets, both in units of the level's
stride. ``decode`` turns them into input-pixel boxes and corners; it is part of the exported
graph, so training and inference cannot disagree on strides or anchor points.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class DetectorSpec:
    stem: int = 16
    #: (channels, blocks, expansion) of the stages at strides 4, 8, 16, 32.
    stages: list[tuple[int, int, int]] = field(
        default_factory=lambda: [(24, 1, 2), (32, 2, 3), (64, 2, 3), (96, 2, 3)]
    )
    neck: int = 48
    bifpn_layers: int = 1
    head_convs: int = 2
    strides: tuple[int, ...] = (8, 16, 32)
    #: channels of a stride-4 level for plates narrower than ~32 px (0: none); its strides
    #: then start with 4
    small_level: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, stride, k // 2, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class FusedIB(nn.Module):
    """MobileNetV4 fused inverted bottleneck: 3x3 expand (may stride), 1x1 project, residual."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        self.expand = conv_bn(cin, cin * expand, 3, stride)
        self.project = conv_bn(cin * expand, cout, 1, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.expand(x))
        return x + y if self.residual else y


class Backbone(nn.Module):
    """Returns the stride 4, 8, 16 and 32 feature maps."""

    def __init__(self, spec: DetectorSpec):
        super().__init__()
        self.stem = conv_bn(3, spec.stem, 3, 2)
        stages, cin = [], spec.stem
        for cout, blocks, expand in spec.stages:
            blocks_ = [FusedIB(cin, cout, 2, expand)]
            blocks_ += [FusedIB(cout, cout, 1, expand) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*blocks_))
            cin = cout
        self.stages = nn.ModuleList(stages)
        self.out_channels = [c for c, _, _ in spec.stages]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


class WeightedSum(nn.Module):
    """BiFPN's fast normalised fusion: learned non-negative weights, normalised to sum to one."""

    def __init__(self, n: int):
        super().__init__()
        self.w = nn.Parameter(torch.ones(n))

    def normalised(self) -> torch.Tensor:
        """The weights the inputs are multiplied by."""
        w = F.relu(self.w)
        return w / (w.sum() + 1e-4)

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return sum(wi * x for wi, x in zip(self.normalised(), inputs))


def upsample(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


def downsample(x: torch.Tensor) -> torch.Tensor:
    """Inputs are multiples of 32 pixels, so every level is exactly half the one above."""
    return F.max_pool2d(x, 2)


class BiFPNLayer(nn.Module):
    """One bidirectional pass over three levels: top-down, then bottom-up with skip inputs."""

    def __init__(self, ch: int):
        super().__init__()
        self.fuse_p4_td, self.fuse_p3 = WeightedSum(2), WeightedSum(2)
        self.fuse_p4, self.fuse_p5 = WeightedSum(3), WeightedSum(2)
        self.conv_p4_td, self.conv_p3 = conv_bn(ch, ch), conv_bn(ch, ch)
        self.conv_p4, self.conv_p5 = conv_bn(ch, ch), conv_bn(ch, ch)

    def forward(self, p3: torch.Tensor, p4: torch.Tensor, p5: torch.Tensor):
        p4_td = self.conv_p4_td(self.fuse_p4_td([p4, upsample(p5)]))
        p3_out = self.conv_p3(self.fuse_p3([p3, upsample(p4_td)]))
        p4_out = self.conv_p4(self.fuse_p4([p4, p4_td, downsample(p3_out)]))
        p5_out = self.conv_p5(self.fuse_p5([p5, downsample(p4_out)]))
        return p3_out, p4_out, p5_out


class BiFPN(nn.Module):
    def __init__(self, in_channels: list[int], ch: int, layers: int):
        super().__init__()
        self.lateral = nn.ModuleList(conv_bn(c, ch, 1) for c in in_channels)
        self.layers = nn.ModuleList(BiFPNLayer(ch) for _ in range(layers))

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        p = [lat(f) for lat, f in zip(self.lateral, feats)]
        for layer in self.layers:
            p = list(layer(*p))
        return p


class Head(nn.Module):
    """Shared towers; a learned scale per level for the regressions, as in FCOS/GFL."""

    def __init__(self, ch: int, convs: int, levels: int):
        super().__init__()
        self.tower = nn.Sequential(*[conv_bn(ch, ch) for _ in range(convs)])
        self.score = nn.Conv2d(ch, 1, 3, padding=1)
        self.box = nn.Conv2d(ch, 4, 3, padding=1)
        self.corners = nn.Conv2d(ch, 8, 3, padding=1)
        self.scales = nn.Parameter(torch.ones(levels))
        nn.init.constant_(self.score.bias, -4.6)  # prior 0.01: most locations hold no plate

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        outs = []
        for i, f in enumerate(feats):
            t = self.tower(f)
            box = self.box(t) * self.scales[i]
            outs.append(torch.cat([self.score(t), box, self.corners(t)], 1))
        return outs


class SmallPlateLevel(nn.Module):
    """A stride-4 level with its own light head, for plates of 16-32 px at the input.

    At stride 8 such a plate covers 2-4 cells by 1 and its box and score fall apart (measured:
    at 24 px the best candidate's IoU is 0.54, its score 0.25). A stride-4 level with the shared
    48-channel head would cost 2.2x the whole detector at 640x384; this one, FPN's top-down
    step (the stride-4 features plus P3 upsampled) at ``ch`` channels, one tower conv and one
    prediction conv for all 13 outputs, 1.4x. It adds detections to those of the other levels
    without changing them, so it can be trained alone on top of a trained detector.
    """

    def __init__(self, backbone_ch: int, neck_ch: int, ch: int):
        super().__init__()
        self.lateral, self.reduce = conv_bn(backbone_ch, ch, 1), conv_bn(neck_ch, ch, 1)
        self.fuse_p2, self.conv = WeightedSum(2), conv_bn(ch, ch)
        self.tower = conv_bn(ch, ch)
        self.predict = nn.Conv2d(ch, 13, 3, padding=1)
        nn.init.zeros_(self.predict.bias)
        nn.init.constant_(self.predict.bias[:1], -4.6)  # prior 0.01, as the shared head's

    def forward(self, c2: torch.Tensor, p3: torch.Tensor) -> torch.Tensor:
        p2 = self.conv(self.fuse_p2([self.lateral(c2), upsample(self.reduce(p3))]))
        return self.predict(self.tower(p2))


def anchor_points(h: int, w: int, stride: int, device=None) -> torch.Tensor:
    """Cell centres of one level in input pixels, row-major: (h*w, 2)."""
    ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) * stride
    xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) * stride
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], -1)


class PlateDetector(nn.Module):
    def __init__(self, spec: DetectorSpec):
        super().__init__()
        self.spec = spec
        if (spec.strides[0] == 4) != bool(spec.small_level):
            raise ValueError(f"strides {spec.strides} and small_level {spec.small_level} disagree")
        self.backbone = Backbone(spec)
        channels = self.backbone.out_channels
        self.neck = BiFPN(channels[1:], spec.neck, spec.bifpn_layers)
        self.head = Head(spec.neck, spec.head_convs, 3)
        if spec.small_level:
            self.small = SmallPlateLevel(channels[0], spec.neck, spec.small_level)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Raw per-level maps (B, 13, H/s, W/s): score logit, 4 box distances, 8 corner offsets."""
        feats = self.backbone(images)
        p = self.neck(feats[1:])
        maps = self.head(p)
        if self.spec.small_level:
            maps.insert(0, self.small(feats[0], p[0]))
        return maps

    def flatten(self, maps: list[torch.Tensor]):
        """Concatenate levels: raw (B, N, 13), anchor points (N, 2), strides (N,)."""
        raws, points, strides = [], [], []
        for m, s in zip(maps, self.spec.strides):
            b, c, h, w = m.shape
            raws.append(m.permute(0, 2, 3, 1).reshape(b, h * w, c))
            points.append(anchor_points(h, w, s, m.device))
            strides.append(torch.full((h * w,), float(s), device=m.device))
        return torch.cat(raws, 1), torch.cat(points), torch.cat(strides)

    @staticmethod
    def decode(raw: torch.Tensor, points: torch.Tensor, strides: torch.Tensor):
        """Scores (B, N), boxes (B, N, 4) and corners (B, N, 8) in input pixels, for the loss.

        The runtime decodes with ``streamer.detector.decode_levels``, in numpy, only where the
        score passes; ``tests/test_model_export.py`` holds the two equal.
        """
        s = strides[None, :, None]
        dist = torch.exp(raw[..., 1:5].clamp(-6, 6)) * s
        boxes = torch.cat([points - dist[..., :2], points + dist[..., 2:]], -1)
        corners = points.repeat(1, 4)[None] + raw[..., 5:13] * s
        return raw[..., 0].sigmoid(), boxes, corners


#: the exported detector's outputs, as its sidecar describes them
OUTPUTS_NOTE = (
    "per level (level0... in the order of strides), (1, 13, H/stride, W/stride): score "
    "logit, box distances left top right bottom (log, in strides), corner offsets TL TR BR BL "
    "(x, y, in strides) from the cell centre"
)


def level_outputs(levels: int) -> tuple[str, ...]:
    return tuple(f"level{i}" for i in range(levels))


class ExportedDetector(nn.Module):
    """What ONNX holds: the raw maps, one (1, 13, H/s, W/s) a level, named ``level0``... in the
    order of ``spec.strides``.

    The runtime decodes only the locations that pass the score threshold
    (``streamer.detector.decode_levels``), as SCRFD's own inference code does: decoding all of
    them in the graph took 0.3-1 of 9-13 ms at 640x384 on 2 threads, mostly ONNX Runtime's
    per-node overhead on the shape arithmetic of the anchor points.
    """

    def __init__(self, model: PlateDetector):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.model(images))

    def output_names(self) -> tuple[str, ...]:
        return level_outputs(len(self.model.spec.strides))

    def dynamic_axes(self) -> dict:
        return {"images": {2: "height", 3: "width"}} | {
            name: {2: f"{name}_height", 3: f"{name}_width"} for name in self.output_names()
        }
