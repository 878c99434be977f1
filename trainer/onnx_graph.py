"""Generic reading and pruning of ONNX graphs, shared by the detector's and the recognizer's
graph rewrites (``trainer.detector_graph``, ``trainer.recognizer_graph``)."""

from __future__ import annotations

import numpy as np


def consumers(graph) -> dict[str, list]:
    """Tensor name -> the nodes that read it."""
    readers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    return readers


def made_by(producers: dict, name: str, op: str):
    """The node of type ``op`` that produces tensor ``name``, or None."""
    node = producers.get(name)
    return node if node is not None and node.op_type == op else None


def constant_values(graph) -> dict[str, np.ndarray]:
    """Initializers and Constant nodes' outputs by name."""
    from onnx import numpy_helper

    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for n in graph.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            values[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    return values


def computed_constants(model, names: list[str]) -> list[np.ndarray]:
    """The values of tensors of ``model`` (a ModelProto) that depend on constants only, as ONNX
    Runtime computes them at the model's own opsets."""
    import onnx
    import onnxruntime as ort
    from onnx import helper

    probe = onnx.GraphProto()
    probe.CopyFrom(model.graph)
    del probe.output[:]
    probe.output.extend(
        helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in names
    )
    drop_unused(probe)
    del probe.input[:]
    options = ort.SessionOptions()
    options.log_severity_level = 3
    probe_model = helper.make_model(probe, opset_imports=model.opset_import)
    session = ort.InferenceSession(
        probe_model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return session.run(names, {})


def fold_matmul_weights(model) -> int:
    """Each MatMul weight computed from constants at run time (a Split and Transpose of a
    parameter, as the cross-attention's projections are exported) becomes a constant itself, so
    that quantisation sees a weight; returns how many. ``model`` is a ModelProto."""
    from onnx import numpy_helper

    graph = model.graph
    constant = {i.name for i in graph.initializer}
    producers = {out: n for n in graph.node for out in n.output}
    for node in graph.node:  # in topological order
        if all(name in constant for name in node.input if name):
            constant.update(node.output)

    matmuls = [
        n for n in graph.node
        if n.op_type == "MatMul" and n.input[1] in producers and n.input[1] in constant
    ]  # fmt: skip
    if not matmuls:
        return 0
    values = computed_constants(model, [n.input[1] for n in matmuls])
    for node, value in zip(matmuls, values):
        name = f"{node.name.lstrip('/')}_weight"
        graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        node.input[1] = name
    drop_unused(graph)
    return len(matmuls)


def drop_unused(graph) -> None:
    """Remove the nodes and constants no output depends on."""
    producers = {out: n for n in graph.node for out in n.output}
    needed, todo = set(), [o.name for o in graph.output]
    while todo:
        node = producers.get(todo.pop())
        if node is not None and node.output[0] not in needed:
            needed.add(node.output[0])
            todo.extend(node.input)
    kept = [n for n in graph.node if n.output[0] in needed]
    del graph.node[:]
    graph.node.extend(kept)
    used = {name for n in kept for name in n.input}
    inits = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    infos = [v for v in graph.value_info if v.name in used]
    del graph.value_info[:]
    graph.value_info.extend(infos)
