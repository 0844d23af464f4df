"""Static-graph export of a trained classifier and fast inference with paddle.inference."""
import os

import numpy as np
import paddle
from paddle.static import InputSpec

MODEL_FILE, PARAMS_FILE = "inference.pdmodel", "inference.pdiparams"


def export(model, out_dir):
    """Write OUT_DIR/inference.pdmodel + .pdiparams: inputs input_ids, token_type_ids [batch, seq] int64; output logits.

    Padding is recognised by the model's pad_token_id (0 for BERT vocabularies), so no mask input is needed.
    """
    model.eval()
    spec = [InputSpec([None, None], "int64", "input_ids"), InputSpec([None, None], "int64", "token_type_ids")]
    static = paddle.jit.to_static(model, input_spec=spec)
    paddle.jit.save(static, os.path.join(out_dir, "inference"))
    return out_dir


def create_predictor(model_dir, device="cpu", threads=None):
    config = paddle.inference.Config(os.path.join(model_dir, MODEL_FILE), os.path.join(model_dir, PARAMS_FILE))
    if device == "gpu":
        config.enable_use_gpu(100, 0)
    else:
        config.disable_gpu()
        config.set_cpu_math_library_num_threads(threads or os.cpu_count() or 1)
    config.switch_ir_optim(True)
    config.enable_memory_optim()
    config.disable_glog_info()
    return paddle.inference.create_predictor(config)


def run_predictor(predictor, input_ids, token_type_ids):
    """Logits [batch, classes] for int64 arrays [batch, seq]."""
    for name, value in zip(predictor.get_input_names(), (input_ids, token_type_ids)):
        predictor.get_input_handle(name).copy_from_cpu(np.ascontiguousarray(value, dtype=np.int64))
    predictor.run()
    return predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()


def predict_logits(predictor, encoded, collate, batch_size=64):
    """Logits for every example, batched by length (little padding), returned in input order.

    collate: the training collator (data.collator(tokenizer)), giving padded numpy arrays.
    """
    import data

    chunks, logits = [], []
    for chunk in data.LengthSortedBatchSampler(data.lengths_of(encoded), batch_size):
        batch = collate([{k: encoded[i][k] for k in ("input_ids", "token_type_ids")} for i in chunk])
        logits.append(run_predictor(predictor, batch["input_ids"], batch["token_type_ids"]))
        chunks.extend(chunk)
    out = np.empty((len(encoded), logits[0].shape[1]), dtype=np.float32)
    out[chunks] = np.concatenate(logits)
    return out
