"""Rewrites of an exported detector's ONNX graph that ONNX Runtime runs faster.

They change how the graph computes, not what (all but ``take_raw_pixels`` exactly, that one
within INT8's own error): the model and its training stay as they are (the sidecar gains the
input's quantisation once the runtime makes it), ``quantize-detector`` applies them to every
new INT8 model, and ``rewrite-detector`` to an existing one. Measured on
the embedded INT8 detector at 640x384, one thread, medians of interleaved runs: the stem
14.3 -> 13.1 ms, merged prediction convolutions 17.3 -> 15.0 ms (on a busier machine).

- The stem, a 3x3 stride-2 convolution on the 3-channel image, becomes SpaceToDepth(2) and a
  2x2 stride-1 convolution on 12 channels (bit-identical: taps are moved, not mixed; INT8's
  input quantisation moves behind the SpaceToDepth, which only moves values). ORT's INT8
  convolution vectorises 12 input channels far better than 3. In an INT8 model the
  SpaceToDepth then moves to after the input's quantisation, where it moves a quarter of the
  bytes (bit-identical; 0.4 of 10.3 ms), and then both move out of the graph: its input is the
  quantised image in 2x2 blocks, which the runtime makes with a table lookup and one copy
  (``streamer.detector.quantized_blocks``, bit-identical; the sidecar's ``input_quantization``
  holds the quantisation). Since 2026-12-07 the blocks come channels last, (1, H/2, W/2, 12),
  which is the layout ORT's INT8 convolutions work in (``take_channels_last``).
- ORT runs the INT8 graph channels last, and moves everything between its convolutions into
  that layout; two things ran slowly there and are rewritten (both bit-identical on the
  embedded model): the nearest 2x upsamplings become uint8 copies (``upsample_channels_last``),
  and the BiFPN fusion weights, constants, fold into the dequantisation of the inputs they
  weigh, leaving additions only (``fold_fusion_weights``). With the channels-last input: 0.90-
  0.96 of the time at 640x384 on 1 and 2 threads.
- The head's three FP32 prediction convolutions of a level (score, box, corners), which read
  the same features, become one convolution with their 13 output channels and a Split (the same
  dot products, summed in another order: outputs within 2e-4 of an input pixel).
- Where the input's quantisation turns each pixel into itself once its mean moves (127.5/128
  and a step of 1/128: the mean to 128), the graph takes the pixels as they are and the stem's
  bias takes the difference (``take_raw_pixels``; not bit-identical, within INT8's own error):
  the runtime's lookup goes (0.3-0.4 ms; 0.96 of the time at 640x384 on 1 and 2 threads).
- A graph exported before 2026-12-04 decoded every location's box and corners itself; it now
  ends at the head's raw maps, as ``ExportedDetector`` exports them (the same values: the runtime
  decodes them, ``streamer.detector.decode_levels``).

Before quantisation, ``untie_shared_weights`` gives every use of a shared weight its own copy,
so that every quantised convolution reaches ORT's INT8 kernel.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from trainer.models.detector import OUTPUTS_NOTE, level_outputs
from trainer.onnx_graph import computed_constants, constant_values, consumers, drop_unused

#: (space-to-depth phase, 2x2 kernel offset) -> the tap of the 3x3 stride-2 kernel it carries:
#: output row y of a pad-1 stride-2 conv reads input rows 2y-1, 2y, 2y+1, which are phase 1 of
#: block row y-1 (offset 0) and phases 0 and 1 of block row y (offset 1)
STEM_TAPS = {(1, 0): 0, (0, 1): 1, (1, 1): 2}
#: the head's prediction convolutions, in the order their channels are merged
PREDICTIONS = ("score", "box", "corners")
#: a BiFPN weighted sum's multiplications (``WeightedSum``), and what folding leaves of them
FUSION = re.compile(r"/fuse_p\d(_td)?/Mul(_\d+)?$")
WEIGHTED_INPUT = re.compile(r"/model/(.+/fuse_p\d(?:_td)?)/weighted_input_(\d+)")


def stem_kernel_to_space_to_depth(kernel: np.ndarray) -> np.ndarray:
    """(O, C, 3, 3) kernel of a stride-2 pad-1 conv -> the (O, 4C, 2, 2) kernel that computes
    the same from ONNX ``SpaceToDepth(blocksize=2)`` of its input (channels ordered row phase,
    column phase, channel), padded at the top and left only."""
    out_ch, in_ch = kernel.shape[:2]
    out = np.zeros((out_ch, 4 * in_ch, 2, 2), kernel.dtype)
    for (row_phase, dy), i in STEM_TAPS.items():
        for (col_phase, dx), j in STEM_TAPS.items():
            phase = row_phase * 2 + col_phase
            out[:, phase * in_ch : (phase + 1) * in_ch, dy, dx] = kernel[:, :, i, j]
    return out


def stem_kernel_from_space_to_depth(kernel: np.ndarray) -> np.ndarray:
    """The inverse of ``stem_kernel_to_space_to_depth``: the stem's (O, C, 3, 3) kernel."""
    out_ch, in_ch = kernel.shape[0], kernel.shape[1] // 4
    out = np.zeros((out_ch, in_ch, 3, 3), kernel.dtype)
    for (row_phase, dy), i in STEM_TAPS.items():
        for (col_phase, dx), j in STEM_TAPS.items():
            phase = row_phase * 2 + col_phase
            out[:, :, i, j] = kernel[:, phase * in_ch : (phase + 1) * in_ch, dy, dx]
    return out


def rewrite_detector(model: Path, output: Path, sidecar: dict) -> dict:
    """The rewrites, each only where it has not been made yet; returns what ``sidecar`` (the
    model's) must change: ``input_quantization`` once an INT8 graph's input quantisation has
    moved out of it, ``mean`` once it takes the pixels as they are, ``output`` once the graph
    ends at the head's maps."""
    import onnx

    proto = onnx.load(str(model))
    graph = proto.graph
    if not any(n.op_type == "SpaceToDepth" for n in graph.node) and not takes_blocks(graph):
        space_to_depth_stem(graph)
    quantize_before_space_to_depth(graph)
    quantization = take_quantized_blocks(graph)
    if takes_blocks(graph) and graph.input[0].type.tensor_type.shape.dim[1].dim_value == 12:
        take_channels_last(graph)
    upsample_channels_last(graph)
    fold_fusion_weights(proto)
    if any(n.name == f"/model/head/{PREDICTIONS[0]}/Conv" for n in graph.node):
        merge_prediction_convs(graph)
    changes = {"input_quantization": quantization} if quantization else {}
    quantization = quantization or sidecar.get("input_quantization")
    mean = quantization and take_raw_pixels(proto, sidecar["mean"], sidecar["std"], quantization)
    if mean:
        changes["mean"] = mean
    if len(graph.output) == 1:
        end_at_head_maps(graph)
        changes["output"] = OUTPUTS_NOTE
    onnx.checker.check_model(proto)
    onnx.save(proto, str(output))
    return changes


def space_to_depth_stem(graph) -> None:
    from onnx import helper, numpy_helper

    image = graph.input[0].name
    inits = {i.name: i for i in graph.initializer}
    producers = {out: n for n in graph.node for out in n.output}
    stem = next(n for n in graph.node if n.op_type == "Conv" and "/stem/" in n.name)
    reader = stem  # the node that reads the image for the stem: it, or INT8's QuantizeLinear
    while image not in reader.input:
        reader = producers[reader.input[0]]
    weight = stem.input[1] if stem.input[1] in inits else producers[stem.input[1]].input[0]
    kernel = numpy_helper.to_array(inits[weight])
    inits[weight].CopyFrom(numpy_helper.from_array(stem_kernel_to_space_to_depth(kernel), weight))
    for attr, value in (("kernel_shape", [2, 2]), ("strides", [1, 1]), ("pads", [1, 1, 0, 0])):
        next(a for a in stem.attribute if a.name == attr).ints[:] = value
    blocks = f"{image}_space_to_depth"
    reader.input[0] = blocks
    graph.node.insert(
        0,
        helper.make_node(
            "SpaceToDepth", [image], [blocks], name="stem_space_to_depth", blocksize=2
        ),
    )


def quantize_before_space_to_depth(graph) -> None:
    """image -> SpaceToDepth -> QuantizeLinear becomes image -> QuantizeLinear -> SpaceToDepth
    (the quantisation's scale and zero point are one per tensor)."""
    s2d = next((n for n in graph.node if n.op_type == "SpaceToDepth"), None)
    readers = [n for n in graph.node if s2d and s2d.output[0] in n.input]
    if len(readers) != 1 or readers[0].op_type != "QuantizeLinear":
        return
    quantize = readers[0]
    quantize.input[0], s2d.input[0] = s2d.input[0], f"{s2d.input[0]}_quantized"
    quantize.output[0], s2d.output[0] = s2d.input[0], quantize.output[0]
    nodes = [n for n in graph.node if n is not s2d]
    nodes.insert(nodes.index(quantize) + 1, s2d)
    del graph.node[:]
    graph.node.extend(nodes)


def end_at_head_maps(graph) -> None:
    """The graph's outputs become the head's per-level maps (the concatenated score, box and
    corner convolutions of each level), named as ``ExportedDetector`` names them; the decoding
    that followed them is dropped."""
    from onnx import TensorProto, helper

    def level(node) -> int:
        suffix = node.name[len("/model/head/Concat") :]
        return int(suffix[1:]) if suffix else 0

    heads = sorted(
        (n for n in graph.node if re.fullmatch(r"/model/head/Concat(_\d+)?", n.name)), key=level
    )
    names = level_outputs(len(heads))
    for node, name in zip(heads, names):
        node.output[0] = name
    del graph.output[:]
    maps = [1, 13, None, None]
    graph.output.extend(helper.make_tensor_value_info(n, TensorProto.FLOAT, maps) for n in names)
    drop_unused(graph)


def takes_blocks(graph) -> bool:
    """Whether the graph's input is already the quantised image in 2x2 blocks."""
    from onnx import TensorProto

    return graph.input[0].type.tensor_type.elem_type == TensorProto.UINT8


def take_quantized_blocks(graph) -> dict | None:
    """image -> QuantizeLinear -> SpaceToDepth becomes an input of the quantised blocks
    themselves (``streamer.detector.quantized_blocks`` makes them, exactly); returns the
    quantisation, or None where the graph does not start so (FP32, or done already)."""
    from onnx import TensorProto, helper, numpy_helper

    image = graph.input[0].name
    quantize = next(
        (n for n in graph.node if n.op_type == "QuantizeLinear" and image in n.input), None
    )
    s2d = quantize and next((n for n in graph.node if quantize.output[0] in n.input), None)
    if s2d is None or s2d.op_type != "SpaceToDepth":
        return None
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    scale, zero_point = (inits[name] for name in quantize.input[1:3])
    for node in graph.node:
        node.input[:] = [image if name == s2d.output[0] else name for name in node.input]
    dropped = {quantize.output[0], s2d.output[0]}
    kept = [n for n in graph.node if n.output[0] not in dropped]
    del graph.node[:]
    graph.node.extend(kept)
    blocks = [1, 12, "height_blocks", "width_blocks"]
    graph.input[0].CopyFrom(helper.make_tensor_value_info(image, TensorProto.UINT8, blocks))
    return {"scale": float(scale), "zero_point": int(zero_point)}


def take_raw_pixels(
    model, mean: list[float], std: list[float], quantization: dict
) -> list[float] | None:
    """The quantised input becomes the pixels themselves: the input's mean moves to the value
    that quantises each pixel to itself (the zero point, where std times the quantisation's
    scale is 1, as for 127.5/128 and 1/128), and the stem's bias takes the difference, so the
    runtime makes the blocks without a lookup (0.3-0.4 of 9-10 ms at 640x384 on 2 threads).
    Returns the new mean, or None where no mean quantises pixels to themselves or it is so
    already. ``model`` is a ModelProto whose graph starts at the stem.

    Not bit-identical: the normalised pixel (x - 127.5)/128 was quantised to a step of 1/128
    with its half rounded to even, so an odd x became x + 1; now x stays x and the half step
    moves into the bias (exactly, but at the top row and left column, where the stem's padding
    reads no pixel). The maps move by less than INT8's own error and stay as close to the
    FP32 model's (test); the embedded model's validation figures are in its sidecar."""
    from onnx import numpy_helper

    scale, zero_point = quantization["scale"], quantization["zero_point"]
    if len(set(mean)) > 1 or len(set(std)) > 1 or abs(std[0] * scale - 1) > 1e-9:
        return None
    raw_mean = float(zero_point)
    if mean[0] == raw_mean:
        return None
    graph = model.graph
    producers = {out: n for n in graph.node for out in n.output}
    inits = {i.name: i for i in graph.initializer}
    stem = next(n for n in graph.node if n.op_type == "Conv" and "/stem/" in n.name)
    weights = numpy_helper.to_array(inits[producers[stem.input[1]].input[0]]).astype(np.int64)
    bias_name = producers[stem.input[2]].input[0]
    bias = numpy_helper.to_array(inits[bias_name]).astype(np.int64)
    # the bias is counted in steps of input scale x weight scale, the weights in weight steps
    shift = (raw_mean - mean[0]) / std[0] / scale * weights.sum(axis=(1, 2, 3))
    inits[bias_name].CopyFrom(
        numpy_helper.from_array(np.rint(bias + shift).astype(np.int32), bias_name)
    )
    return [raw_mean] * len(mean)


def take_channels_last(graph) -> None:
    """The quantised blocks are taken channels last, (1, H/2, W/2, 12), and turned by a
    Transpose that ONNX Runtime cancels against the one it puts before its channels-last INT8
    convolutions: the graph then starts at the stem (the Transpose took 0.4-0.65 ms at
    640x384), and the runtime makes the blocks in this order faster than in the other
    (``streamer.detector.quantized_blocks``)."""
    from onnx import TensorProto, helper

    image = graph.input[0].name
    planar = f"{image}_channels_first"
    for node in graph.node:
        node.input[:] = [planar if name == image else name for name in node.input]
    graph.node.insert(
        0,
        helper.make_node("Transpose", [image], [planar], name="channels_first", perm=[0, 3, 1, 2]),
    )
    blocks = [1, "height_blocks", "width_blocks", 12]
    graph.input[0].CopyFrom(helper.make_tensor_value_info(image, TensorProto.UINT8, blocks))


def upsample_channels_last(graph) -> None:
    """Each INT8 nearest 2x Resize (DequantizeLinear -> Resize -> QuantizeLinear, one
    quantisation) becomes the same copies made on the uint8 tensor channels last: Transpose,
    Unsqueeze, Expand, Reshape, Transpose back (bit-identical). ONNX Runtime moves a Resize
    between its channels-last INT8 convolutions into that layout, where its kernel is ten times
    slower than on channels first (0.30 against 0.03 ms for the 24x40x48 level); the two
    Transposes cancel against its own."""
    from onnx import numpy_helper

    values = constant_values(graph)
    producers = {out: n for n in graph.node for out in n.output}
    readers = consumers(graph)
    constants = {
        "upsample_axes": [2, 4],
        "upsample_copies": [1, 1, 2, 1, 2, 1],
        "upsample_factors": [1, 2, 2, 1],
    }
    nodes, replaced = list(graph.node), 0
    for resize in [n for n in nodes if n.op_type == "Resize"]:
        dequantize, quantize = producers.get(resize.input[0]), readers[resize.output[0]]
        if not (dequantize and dequantize.op_type == "DequantizeLinear" and len(quantize) == 1):
            continue
        (quantize,) = quantize
        attrs = {a.name: a.s.decode() for a in resize.attribute if a.s}
        scales = values.get(resize.input[2]) if len(resize.input) > 2 else None
        same = all(
            np.array_equal(values[a], values[b])
            for a, b in zip(dequantize.input[1:], quantize.input[1:], strict=True)
        )
        nearest = attrs.get("mode") == "nearest"
        asymmetric = attrs.get("coordinate_transformation_mode") == "asymmetric"
        if scales is None or list(scales) != [1, 1, 2, 2] or not (same and nearest and asymmetric):
            continue
        new = upsample_nodes(resize.name, dequantize.input[0], quantize.output[0])
        at = nodes.index(resize)
        nodes.remove(resize)
        nodes.remove(quantize)
        nodes[at:at] = new
        replaced += 1
    if replaced:
        graph.initializer.extend(
            numpy_helper.from_array(np.array(v, np.int64), k) for k, v in constants.items()
        )
        del graph.node[:]
        graph.node.extend(nodes)
        drop_unused(graph)


def upsample_nodes(name: str, x: str, y: str) -> list:
    """Nearest 2x upsampling of the (N, C, H, W) tensor ``x`` into ``y``, made channels last:
    each cell (N, H, 1, W, 1, C) expanded to (N, H, 2, W, 2, C) and read as (N, 2H, 2W, C)."""
    from onnx import helper

    steps = [
        ("Transpose", [x], "nhwc", {"perm": [0, 2, 3, 1]}),
        ("Unsqueeze", ["nhwc", "upsample_axes"], "cells", {}),
        ("Expand", ["cells", "upsample_copies"], "copies", {}),
        ("Shape", ["nhwc"], "shape", {}),
        ("Mul", ["shape", "upsample_factors"], "up_shape", {}),
        ("Reshape", ["copies", "up_shape"], "up", {}),
        ("Transpose", ["up"], y, {"perm": [0, 3, 1, 2]}),
    ]
    local = {step[2] for step in steps[:-1]}
    tensor = {s: f"{name}/{s}_output" for s in local}
    return [
        helper.make_node(op, [tensor.get(i, i) for i in inputs], [tensor.get(out, out)],
                         name=f"{name}/{op.lower()}_{k}", **attrs)
        for k, (op, inputs, out, attrs) in enumerate(steps)
    ]  # fmt: skip


def fold_fusion_weights(model) -> None:
    """BiFPN's weighted sums (``WeightedSum``: each input times its normalised weight, then
    added) lose their INT8 multiplications: the weight, a constant, moves into the scale of the
    input's DequantizeLinear, which ONNX Runtime fuses into the addition (QLinearAdd). The
    product's own quantisation had the scale of the input's times the weight, so the values
    are the same (bit-identical on the embedded model), and 9 QLinearMul (0.4 ms at 640x384)
    are gone. ``fusion_weights`` reads the weights back."""
    from onnx import helper, numpy_helper

    graph = model.graph
    producers = {out: n for n in graph.node for out in n.output}
    readers = consumers(graph)

    def quantised(mul) -> bool:
        sources = [producers.get(name) for name in mul.input]
        after = readers[mul.output[0]]
        return all(s is not None and s.op_type == "DequantizeLinear" for s in sources) and [
            n.op_type for n in after
        ] == ["QuantizeLinear"]

    muls = [n for n in graph.node if n.op_type == "Mul" and FUSION.search(n.name)]
    muls = [n for n in muls if quantised(n)]
    if not muls:
        return
    weights = computed_constants(model, [producers[m.input[0]].output[0] for m in muls])
    values = constant_values(graph)
    nodes = list(graph.node)
    for mul, weight in zip(muls, weights):
        term = producers[producers[mul.input[0]].input[0]].input[0]  # DQ <- Q <- Squeeze
        index = int(producers[term].input[0].rsplit("_", 1)[-1])  # Squeeze <- Split output k
        (quantize,) = readers[mul.output[0]]
        (dequantize,) = readers[quantize.output[0]]
        source = producers[mul.input[1]]
        if float(weight) <= 0:
            raise ValueError(f"{mul.name}: a fusion weight of {float(weight)} cannot be folded")
        scale = f"{mul.name.rsplit('/', 1)[0]}/weighted_input_{index}_scale".lstrip("/")
        graph.initializer.append(
            numpy_helper.from_array(values[source.input[1]] * np.float32(weight), scale)
        )
        folded = helper.make_node(
            "DequantizeLinear",
            [source.input[0], scale, source.input[2]],
            [dequantize.output[0]],
            name=f"{mul.name.rsplit('/', 1)[0]}/weighted_input_{index}",
        )
        at = nodes.index(mul)
        for node in (mul, quantize, dequantize):
            nodes.remove(node)
        nodes.insert(at, folded)
    del graph.node[:]
    graph.node.extend(nodes)
    drop_unused(graph)


def fusion_weights(graph, init: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The normalised weights of each weighted sum that ``fold_fusion_weights`` folded (torch
    names: ``neck.layers.0.fuse_p4.w``), each the folded scale over its input's own; a
    parameter equal to its normalised weights computes the same (within 1e-4)."""
    producers = {out: n for n in graph.node for out in n.output}
    found: dict[str, dict[int, float]] = {}
    for node in graph.node:
        match = WEIGHTED_INPUT.fullmatch(node.name)
        if node.op_type != "DequantizeLinear" or not match:
            continue
        source = producers[node.input[0]]
        while source.op_type != "QuantizeLinear":  # the layout moves of an upsampling
            source = producers[source.input[0]]
        weight = init[node.input[1]] / init[source.input[1]]
        found.setdefault(match[1], {})[int(match[2])] = float(weight)
    return {
        f"{scope.replace('/', '.')}.w": np.array([w[k] for k in sorted(w)], np.float32)
        for scope, w in found.items()
    }


def untie_shared_weights(graph) -> None:
    """Each use of a shared initializer gets its own copy, in place of the Identity nodes the
    torch export puts between the initializer and its second and third use (the head towers'
    weights are shared by the three levels). Quantisation needs this: it takes an Identity's
    output for an activation, so those convolutions had their weights quantised a second time,
    per tensor, and kept their bias in FP32, which ONNX Runtime then ran as FP32 convolutions."""
    from onnx import numpy_helper

    inits = {i.name: i for i in graph.initializer}
    copies = [n for n in graph.node if n.op_type == "Identity" and n.input[0] in inits]
    for node in copies:
        array = numpy_helper.to_array(inits[node.input[0]])
        graph.initializer.append(numpy_helper.from_array(array, node.output[0]))
    copied = {n.output[0] for n in copies}
    kept = [n for n in graph.node if not (n.op_type == "Identity" and n.output[0] in copied)]
    del graph.node[:]
    graph.node.extend(kept)


def merge_prediction_convs(graph) -> None:
    """Per level, the score, box and corner convolutions -> one convolution and a Split whose
    outputs keep the three convolutions' output names (their consumers are unchanged)."""
    from onnx import helper, numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    params = [f"model.head.{k}.{p}" for p in ("weight", "bias") for k in PREDICTIONS]
    weight = np.concatenate([inits[f"model.head.{k}.weight"] for k in PREDICTIONS])
    bias = np.concatenate([inits[f"model.head.{k}.bias"] for k in PREDICTIONS])
    sizes = np.array([len(inits[f"model.head.{k}.bias"]) for k in PREDICTIONS], np.int64)
    kept = [i for i in graph.initializer if i.name not in params]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    graph.initializer.extend([
        numpy_helper.from_array(weight, "model.head.predictions.weight"),
        numpy_helper.from_array(bias, "model.head.predictions.bias"),
        numpy_helper.from_array(sizes, "model.head.predictions.split"),
    ])  # fmt: skip
    nodes = list(graph.node)
    for level in sorted(
        {n.name.split("/")[3] for n in nodes if n.name.startswith("/model/head/score")}
    ):
        suffix = level[len("score") :]
        convs = [
            next(n for n in nodes if n.name == f"/model/head/{k}{suffix}/Conv") for k in PREDICTIONS
        ]
        merged = helper.make_node(
            "Conv",
            [convs[0].input[0], "model.head.predictions.weight", "model.head.predictions.bias"],
            [f"/model/head/predictions{suffix}/Conv_output_0"],
            name=f"/model/head/predictions{suffix}/Conv",
        )
        merged.attribute.extend(convs[0].attribute)
        split = helper.make_node(
            "Split",
            [merged.output[0], "model.head.predictions.split"],
            [c.output[0] for c in convs],
            name=f"/model/head/predictions{suffix}/Split",
            axis=1,
        )
        at = min(nodes.index(c) for c in convs)
        for c in convs:
            nodes.remove(c)
        nodes[at:at] = [merged, split]
    del graph.node[:]
    graph.node.extend(nodes)


def unmerged_prediction_weights(init: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The score, box and corner convolutions' weights and biases out of the merged one (torch
    names), for training from a rewritten model; nothing for a model without it."""
    if "model.head.predictions.weight" not in init:
        return {}
    cuts = np.cumsum(init["model.head.predictions.split"])[:-1]
    out = {}
    for param in ("weight", "bias"):
        parts = np.split(init[f"model.head.predictions.{param}"], cuts)
        out |= {f"head.{k}.{param}": part for k, part in zip(PREDICTIONS, parts)}
    return out
