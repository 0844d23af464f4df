"""ONNX export of a Paddle inference program (paddle2onnx), and its int8 version (onnxruntime dynamic quantization).

int8 here means int8 weights (symmetric, one scale per output column) and activations quantized per
call from their own range: onnxruntime's `quantize_dynamic`, which needs no calibration data. The
README gives the measurements behind this choice and the alternatives tried.
"""
import os

from deploy import deploy_deps

OPSET = 13


def convert(program, params, onnx_path, needed_for="--format onnx"):
    """Write the fp32 ONNX model of a saved Paddle program (inference.json + .pdiparams) to onnx_path."""
    paddle2onnx = deploy_deps.require("paddle2onnx", needed_for)
    onnx = deploy_deps.require("onnx", needed_for)
    raw = onnx_path + ".raw"
    # optimize_tool=None: paddle2onnx's default (polygraphy) pip-installs packages at run time
    paddle2onnx.export(program, params, raw, opset_version=OPSET, enable_onnx_checker=True, optimize_tool=None)
    if not os.path.isfile(raw):  # paddle2onnx logs its errors instead of raising them
        raise RuntimeError(f"paddle2onnx did not write {raw} (its log above says why)")
    model = onnx.load(raw)
    weights_as_initializers(model)
    onnx.save(model, onnx_path)
    os.remove(raw)
    return onnx_path


def weights_as_initializers(model):
    """Turn Constant nodes holding tensors into graph initializers, in place; returns how many.

    paddle2onnx (1.2.11 and 2.1.0 alike) writes every weight as a Constant node, and onnxruntime's
    quantize_dynamic only quantizes initializers: without this it silently quantizes nothing.
    """
    kept, moved = [], 0
    for node in model.graph.node:
        if node.op_type == "Constant" and [a.name for a in node.attribute] == ["value"]:
            tensor = node.attribute[0].t
            tensor.name = node.output[0]
            model.graph.initializer.append(tensor)
            moved += 1
        else:
            kept.append(node)
    del model.graph.node[:]
    model.graph.node.extend(kept)
    return moved


def quantize_int8(fp32_path, int8_path, needed_for="--precision int8"):
    """int8 weights (MatMul weights and embedding tables), activations quantized dynamically (quantize_dynamic).

    per_channel: one scale per output column; with one scale per tensor, SST-2 dev accuracy of the
    3-layer students fell by 0.72 points on average (agreement with fp32 96.9%), per column by 0.11
    (98.6%), at the same speed (README, Deployment).
    """
    deploy_deps.require("onnx", needed_for)
    quantization = deploy_deps.require("onnxruntime.quantization", needed_for)
    quantization.quantize_dynamic(fp32_path, int8_path, weight_type=quantization.QuantType.QInt8, per_channel=True)
    return int8_path


def versions():
    """Versions of the tools that made an ONNX export, for export.json."""
    import onnxruntime
    import paddle2onnx

    return {"paddle2onnx": paddle2onnx.__version__, "onnxruntime": onnxruntime.__version__}
