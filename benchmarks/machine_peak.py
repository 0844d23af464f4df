"""The machine's own matrix-multiply peak, for the roofline sentence of the speed benchmark.

fp32: one matmul of BERT's feed-forward shape ([batch*seq, hidden] x [hidden, 4*hidden]) by Paddle
eager, numpy, Paddle Inference (a one-matmul program, as the exported models run) and onnxruntime; the
fastest counts as the peak. Paddle eager and numpy turned out to be no peak here: ~170-230 GFLOP/s,
half of what Paddle Inference and onnxruntime reach on the same matmul (their AVX-512 kernels).
int8: the same shape through onnxruntime's MatMulInteger (uint8 x int8 -> int32), the int8 kernel that
its dynamically quantized models use (via DynamicQuantizeMatMul / MatMulIntegerToFloat); numpy has no
int8 GEMM worth timing.
"""
import os

import numpy as np


def ffn_shape(hidden, batch=32, seq=128):
    """(M, K, N) of the first feed-forward matmul of a BERT layer."""
    return batch * seq, hidden, 4 * hidden


def matmul_flops(m, k, n):
    return 2.0 * m * k * n


def encoder_flops(layers, batch, seq, hidden):
    """Multiply-add FLOPs of a BERT encoder's forward: 12 h^2 per token and layer in the projections and
    feed-forward, 2 s h in the attention products (QK^T, AV); embeddings, softmax and the head are left out."""
    return 2.0 * batch * seq * layers * (12 * hidden * hidden + 2 * seq * hidden)


def fp32_variants(hidden):
    """{name: callable} timing one fp32 matmul of the feed-forward shape, by Paddle and by numpy."""
    import paddle

    m, k, n = ffn_shape(hidden)
    rng = np.random.RandomState(0)
    a, b = rng.rand(m, k).astype(np.float32), rng.rand(k, n).astype(np.float32)
    ta, tb = paddle.to_tensor(a), paddle.to_tensor(b)
    return {"sgemm_paddle": lambda: paddle.matmul(ta, tb).numpy(), "sgemm_numpy": lambda: a @ b}


def engine_fp32_variants(hidden, workdir, threads=None):
    """{name: callable} for one fp32 matmul of the feed-forward shape by Paddle Inference and onnxruntime."""
    variants = {"sgemm_paddle_inference": paddle_inference_matmul(hidden, workdir, threads)}
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError:
        return variants
    m, k, n = ffn_shape(hidden)
    rng = np.random.RandomState(0)
    weight = numpy_helper.from_array(rng.rand(k, n).astype(np.float32), "b")
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["y"])], "fp32_gemm",
                              [helper.make_tensor_value_info("a", onnx.TensorProto.FLOAT, [m, k])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [m, n])], [weight])
    session = onnxruntime_session(graph, threads)
    a = rng.rand(m, k).astype(np.float32)
    variants["sgemm_onnxruntime"] = lambda: session.run(None, {"a": a})
    return variants


def paddle_inference_matmul(hidden, workdir, threads=None):
    """A callable running one matmul (a bias-free Linear layer) exported and run by paddle.inference."""
    import paddle
    from paddle.static import InputSpec

    from runtime import paddle_compat

    m, k, n = ffn_shape(hidden)
    layer = paddle.nn.Linear(k, n, bias_attr=False)
    static = paddle.jit.to_static(layer, input_spec=[InputSpec([None, k], "float32", "x")], full_graph=True)
    prefix = os.path.join(workdir, "sgemm", "inference")
    paddle.jit.save(static, prefix)
    program = [os.path.join(os.path.dirname(prefix), name) for name in paddle_compat.PROGRAM_FILES.values()
               if os.path.isfile(os.path.join(os.path.dirname(prefix), name))][0]
    config = paddle.inference.Config(program, prefix + ".pdiparams")
    config.disable_gpu()
    config.set_cpu_math_library_num_threads(threads or os.cpu_count() or 1)
    config.switch_ir_optim(True)
    config.disable_glog_info()
    predictor = paddle.inference.create_predictor(config)
    a = np.random.RandomState(0).rand(m, k).astype(np.float32)

    def run():
        predictor.get_input_handle(predictor.get_input_names()[0]).copy_from_cpu(a)
        predictor.run()
        return predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()
    return run


def onnxruntime_session(graph, threads=None):
    import onnxruntime as ort
    from onnx import helper

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def int8_variant(hidden, threads=None):
    """{name: callable} for one onnxruntime MatMulInteger of the feed-forward shape, or {} without onnxruntime."""
    try:
        import onnx
        import onnxruntime  # noqa: F401
        from onnx import helper, numpy_helper
    except ImportError:
        return {}
    m, k, n = ffn_shape(hidden)
    rng = np.random.RandomState(0)
    weight = numpy_helper.from_array(rng.randint(-127, 128, size=(k, n)).astype(np.int8), "b")
    graph = helper.make_graph([helper.make_node("MatMulInteger", ["a", "b"], ["y"])], "int8_gemm",
                              [helper.make_tensor_value_info("a", onnx.TensorProto.UINT8, [m, k])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.INT32, [m, n])], [weight])
    session = onnxruntime_session(graph, threads)
    a = rng.randint(0, 256, size=(m, k)).astype(np.uint8)
    return {"int8_gemm_onnxruntime": lambda: session.run(None, {"a": a})}
