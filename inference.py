"""Static-graph export of a trained classifier and fast inference with paddle.inference."""
import json
import os

import numpy as np
import paddle
from paddle.static import InputSpec

import paddle_compat
from args import InputError

PARAMS_FILE = "inference.pdiparams"
EXPORT_INFO = "export.json"  # what the folder holds: written by export, read by the predictor


def export(model, out_dir):
    """Write OUT_DIR/inference.{json|pdmodel} + .pdiparams and export.json; returns OUT_DIR.

    Inputs input_ids, token_type_ids [batch, seq] int64; output logits. The program is in the format the
    running Paddle writes (PIR JSON on 3.x). Padding is recognised by the model's pad_token_id (0 for
    BERT vocabularies), so no mask input is needed.
    """
    model.eval()
    spec = [InputSpec([None, None], "int64", "input_ids"), InputSpec([None, None], "int64", "token_type_ids")]
    # full_graph: one static program with dynamic shapes (Paddle 3's default would trace per shape)
    static = paddle.jit.to_static(model, input_spec=spec, full_graph=True)
    paddle.jit.save(static, os.path.join(out_dir, "inference"))
    written = [fmt for fmt, name in paddle_compat.PROGRAM_FILES.items() if os.path.isfile(os.path.join(out_dir, name))]
    info = {"engine": "paddle", "program": written[0], "paddle": paddle_compat.VERSION}
    with open(os.path.join(out_dir, EXPORT_INFO), "w") as f:
        json.dump(info, f, indent=1)
    return out_dir


def program_file(model_dir):
    """(format, path) of the exported program in MODEL_DIR that the running Paddle can load; InputError otherwise."""
    found = [fmt for fmt, name in paddle_compat.PROGRAM_FILES.items()
             if os.path.isfile(os.path.join(model_dir, name))]
    if not found or not os.path.isfile(os.path.join(model_dir, PARAMS_FILE)):
        names = " or ".join(paddle_compat.PROGRAM_FILES.values())
        raise InputError(f"--model_dir {model_dir}: no exported model ({names} with {PARAMS_FILE}); "
                         "export it with scripts/export_model.py")
    readable = [fmt for fmt in found if fmt in paddle_compat.READABLE_PROGRAMS]
    if not readable:
        raise InputError(f"--model_dir {model_dir}: exported in the {found[0]} program format "
                         f"({paddle_compat.PROGRAM_FILES[found[0]]}), which paddlepaddle {paddle_compat.VERSION} "
                         "cannot load; predict with the Paddle that exported it, or re-export with this one")
    return readable[0], os.path.join(model_dir, paddle_compat.PROGRAM_FILES[readable[0]])


def create_predictor(model_dir, device="cpu", threads=None):
    program_format, program = program_file(model_dir)
    config = paddle.inference.Config(program, os.path.join(model_dir, PARAMS_FILE))
    if device == "gpu":
        config.enable_use_gpu(100, 0)
    else:
        config.disable_gpu()
        config.set_cpu_math_library_num_threads(threads or os.cpu_count() or 1)
    config.switch_ir_optim(True)
    if program_format in paddle_compat.MEMORY_OPTIM_PROGRAMS:
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
