"""Run an ONNX export (onnx_export.py) with onnxruntime on the CPU; same call as inference.PaddlePredictor."""
import numpy as np

from deploy import deploy_deps


class OnnxPredictor:
    """predictor(input_ids, token_type_ids) -> logits [batch, classes] (numpy int64 in, float32 out)."""

    def __init__(self, path, threads):
        ort = deploy_deps.require("onnxruntime", f"{path} (an ONNX export)")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # else one warning per unused shape constant of the export
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]

    def __call__(self, input_ids, token_type_ids):
        feeds = {name: np.ascontiguousarray(value, dtype=np.int64)
                 for name, value in zip(self.input_names, (input_ids, token_type_ids))}
        return self.session.run(None, feeds)[0]
