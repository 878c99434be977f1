"""An exact rewrite of an exported recognizer's ONNX graph that ONNX Runtime runs faster.

``FixedShapeAttention`` exports each attention layer as the textbook sequence: the projected
queries, keys and values reshaped into heads and transposed, two batched MatMuls around a scaled
Softmax, and the heads transposed and reshaped back. ONNX Runtime runs those 12 nodes one by one,
and at batch 8 the transposes alone took 14 % of the INT8 recognizer's time on a 2-core AVX2
host. ``fuse_attention`` replaces each such sequence by one ``com.microsoft.MultiHeadAttention``
node (ORT's CPU kernel for the same computation, unmasked, scale 1/sqrt(head size)) reading the
projections the sequence read: the FP32 outputs agree within 1e-6. In an INT8 file a
self-attention and its projection then become one QAttention node (``quantized_self_attention``:
0.99 and 0.97 of the time at batch 8 on 1 and 2 threads, paired interleaved runs).
``quantize-recognizer`` applies both to every INT8 model it writes and to its CTC head's file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trainer.onnx_graph import constant_values, consumers, drop_unused, made_by

HEADS_FIRST = [0, 2, 1, 3]  # (batch, length, heads, size) <-> (batch, heads, length, size)
KEYS_TRANSPOSED = [0, 2, 3, 1]  # (batch, length, heads, size) -> (batch, heads, size, length)


def fuse_attention(graph) -> int:
    """Every Reshape-Transpose-MatMul-Mul-Softmax-MatMul-Transpose-Reshape attention of
    ``graph`` as one MultiHeadAttention node; returns how many were fused."""
    from onnx import helper

    producer = {out: n for n in graph.node for out in n.output}
    readers = consumers(graph)
    values = constant_values(graph)
    fused, removed = {}, set()
    for softmax in [n for n in graph.node if n.op_type == "Softmax"]:
        nodes = attention_nodes(softmax, producer, readers)
        if nodes is None:
            continue
        shape = values.get(nodes["q_reshape"].input[1])
        scale = values.get(nodes["scale"].input[1])
        if shape is None or scale is None or len(shape) != 4:
            continue
        heads, size = int(shape[2]), int(shape[3])
        if not np.isclose(float(scale), size**-0.5, rtol=1e-6):
            continue
        out = nodes["merge_reshape"]
        fused[out.output[0]] = helper.make_node(
            "MultiHeadAttention",
            [nodes[f"{k}_reshape"].input[0] for k in "qkv"],
            [out.output[0]],
            name=softmax.name.rsplit("/", 1)[0] + "/MultiHeadAttention",
            domain="com.microsoft",
            num_heads=heads,
        )
        removed |= {id(n) for n in nodes.values()}
    kept = []
    for n in graph.node:
        if n.output and n.output[0] in fused:
            kept.append(fused[n.output[0]])
        elif id(n) not in removed:
            kept.append(n)
    del graph.node[:]
    graph.node.extend(kept)
    return len(fused)


def attention_nodes(softmax, producer: dict, consumers: dict) -> dict | None:
    """The nodes of the attention around ``softmax`` by role, or None where it is not one."""

    def perm(node) -> list[int] | None:
        return next((list(a.ints) for a in node.attribute if a.name == "perm"), None)

    def only_user(name: str, op: str):
        users = consumers.get(name, [])
        return users[0] if len(users) == 1 and users[0].op_type == op else None

    scale = made_by(producer, softmax.input[0], "Mul")
    scores = scale and made_by(producer, scale.input[0], "MatMul")
    weighted = only_user(softmax.output[0], "MatMul")
    if not (scores and weighted) or weighted.input[0] != softmax.output[0]:
        return None
    q, k, v = (made_by(producer, name, "Transpose") for name in (*scores.input, weighted.input[1]))
    merge = only_user(weighted.output[0], "Transpose")
    merge_reshape = merge and only_user(merge.output[0], "Reshape")
    if not (q and k and v and merge_reshape):
        return None
    expected = [HEADS_FIRST, KEYS_TRANSPOSED, HEADS_FIRST, HEADS_FIRST]
    if [perm(q), perm(k), perm(v), perm(merge)] != expected:
        return None
    reshapes = [made_by(producer, t.input[0], "Reshape") for t in (q, k, v)]
    if not all(reshapes):
        return None
    return dict(
        scale=scale, scores=scores, softmax=softmax, weighted=weighted, merge=merge,
        merge_reshape=merge_reshape, q=q, k=k, v=v, q_reshape=reshapes[0],
        k_reshape=reshapes[1], v_reshape=reshapes[2],
    )  # fmt: skip


def quantized_self_attention(graph) -> int:
    """Every INT8 self-attention, a MultiHeadAttention reading three slices of one dynamically
    quantised projection (MatMulInteger, its scales, the bias), as one ``com.microsoft.
    QAttention`` node on the same quantised input and weights; returns how many. ORT's kernel
    writes the projection straight into heads, where the slices were copies (outputs within
    1e-6); cross-attention, whose keys and values are not the queries' input, stays as it is."""
    from onnx import helper

    producer = {out: n for n in graph.node for out in n.output}
    inits = {i.name for i in graph.initializer}
    replaced = {}
    for mha in [n for n in graph.node if n.op_type == "MultiHeadAttention"]:
        projection = quantized_projection(mha, producer, inits)
        if projection is None:
            continue
        x, weight, x_zero, weight_zero, x_scale, weight_scale, bias = projection
        heads = next(a.i for a in mha.attribute if a.name == "num_heads")
        replaced[id(mha)] = helper.make_node(
            "QAttention",
            [x, weight, bias, x_scale, weight_scale, "", x_zero, weight_zero],
            [mha.output[0]],
            name=mha.name.rsplit("/", 1)[0] + "/QAttention",
            domain="com.microsoft",
            num_heads=heads,
        )
    nodes = [replaced.get(id(n), n) for n in graph.node]
    del graph.node[:]
    graph.node.extend(nodes)
    return len(replaced)


def quantized_projection(mha, producer: dict, inits: set) -> tuple | None:
    """For a MultiHeadAttention whose queries, keys and values are the three thirds (Slices) of
    one Add(bias, dequantised MatMulInteger): the MatMulInteger's input, weight and zero points,
    the two scales and the bias; None for anything else."""

    slices = [made_by(producer, name, "Slice") for name in mha.input[:3]]
    if len(slices) != 3 or not all(slices) or len({s.input[0] for s in slices}) != 1:
        return None
    add = made_by(producer, slices[0].input[0], "Add")
    bias = next((name for name in add.input if name in inits), None) if add else None
    product = bias and made_by(producer, next(n for n in add.input if n != bias), "Mul")
    cast = product and made_by(producer, product.input[0], "Cast")
    matmul = cast and made_by(producer, cast.input[0], "MatMulInteger")
    scales = product and made_by(producer, product.input[1], "Mul")
    if not (matmul and scales) or matmul.input[1] not in inits:
        return None
    return (*matmul.input[:4], *scales.input[:2], bias)


def rewrite_recognizer(model: Path, output: Path) -> int:
    """``fuse_attention`` and then, in an INT8 file, ``quantized_self_attention``, written to
    ``output``; returns how many attention layers were rewritten (0 for a file done already)."""
    import onnx
    from onnx import helper

    proto = onnx.load(str(model))
    count = fuse_attention(proto.graph)
    count += quantized_self_attention(proto.graph)
    if count and not any(o.domain == "com.microsoft" for o in proto.opset_import):
        proto.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    drop_unused(proto.graph)  # the fused shapes and scales: ORT warns of them at every load
    onnx.checker.check_model(proto)
    onnx.save(proto, str(output))
    return count
