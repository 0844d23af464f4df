"""Export of a trained classifier (Paddle program, or ONNX in fp32 or int8) and the predictor that runs it.

What a folder holds is written by the export into export.json and read back by create_predictor, which
picks the engine from it: paddle.inference for the Paddle format, onnxruntime for ONNX.
"""
import json
import os
import tempfile

import numpy as np
import paddle
from paddle.static import InputSpec

from runtime import paddle_compat
from errors import InputError

PARAMS_FILE = "inference.pdiparams"
ONNX_FILE = "model.onnx"
EXPORT_INFO = "export.json"  # what the folder holds: written by export, read by the predictor
FORMATS = ("paddle", "onnx")
PRECISIONS = ("fp32", "int8")
ENGINES = {"paddle": "paddle", "onnx": "onnxruntime"}


def check_request(fmt, precision):
    """InputError if this stack cannot write FORMAT in PRECISION (checked before any model is loaded)."""
    if fmt == "paddle" and precision == "int8":
        raise InputError("--precision int8 is exported in the onnx format (onnxruntime): use --format onnx "
                         "(Paddle's own int8 path does not export on Paddle 3; see README, Deployment)")
    if fmt == "onnx" and not paddle_compat.ONNX_EXPORT:
        raise InputError(f"--format onnx: paddle2onnx exports Paddle 3.x programs only (installed: paddlepaddle "
                         f"{paddle_compat.VERSION}); export with the default stack (requirements.txt)")
    if fmt == "onnx":
        from deploy import deploy_deps

        for module in ("paddle2onnx", "onnx", "onnxruntime"):
            deploy_deps.require(module, f"--format onnx{' --precision int8' if precision == 'int8' else ''}")


def export(model, out_dir, fmt="paddle", precision="fp32", task_info=None):
    """Write the model to OUT_DIR in FORMAT (paddle | onnx) and PRECISION (fp32 | int8), with export.json
    (and in it the task the model was trained on, tasks.task.Task.describe(), when known)."""
    os.makedirs(out_dir, exist_ok=True)
    if fmt == "paddle":
        info = export_program(model, out_dir)
    else:
        with tempfile.TemporaryDirectory() as work:
            export_program(model, work)
            info = export_onnx(work, out_dir, precision)
    info.update(format=fmt, precision=precision, engine=ENGINES[fmt], paddle=paddle_compat.VERSION)
    if task_info:
        info["task"] = task_info
    with open(os.path.join(out_dir, EXPORT_INFO), "w") as f:
        json.dump(info, f, indent=1)
    return out_dir


def export_program(model, out_dir):
    """OUT_DIR/inference.{json|pdmodel} + .pdiparams; returns {"program": format written}.

    Inputs input_ids, token_type_ids [batch, seq] int64; output logits. The program is in the format the
    running Paddle writes (PIR JSON on 3.x). Padding is recognised by the model's pad_token_id (0 for
    BERT vocabularies), so no mask input is needed.
    """
    model.eval()
    spec = [InputSpec([None, None], "int64", "input_ids"), InputSpec([None, None], "int64", "token_type_ids")]
    # full_graph: one static program with dynamic shapes (Paddle 3's default would trace per shape)
    static = paddle.jit.to_static(model, input_spec=spec, full_graph=True)
    paddle.jit.save(static, os.path.join(out_dir, "inference"))
    return {"program": program_file(out_dir)[0]}


def export_onnx(program_dir, out_dir, precision):
    """OUT_DIR/model.onnx from the Paddle program in PROGRAM_DIR, fp32 or int8; returns the export.json fields."""
    from deploy import onnx_export

    _, program = program_file(program_dir)
    target = os.path.join(out_dir, ONNX_FILE)
    fp32 = os.path.join(program_dir, "fp32.onnx") if precision == "int8" else target
    onnx_export.convert(program, os.path.join(program_dir, PARAMS_FILE), fp32)
    if precision == "int8":
        onnx_export.quantize_int8(fp32, target)
    return {"program": ONNX_FILE, **onnx_export.versions()}


def read_export(model_dir):
    """export.json of MODEL_DIR, checked against the files; InputError (one line) if incomplete or unreadable.

    Folders exported before export.json existed are taken for what their files show (a Paddle program).
    """
    path = os.path.join(model_dir, EXPORT_INFO)
    if not os.path.isfile(path):
        return {"format": "paddle", "precision": "fp32", "program": program_file(model_dir)[0]}
    try:
        with open(path) as f:
            info = json.load(f)
        fmt = info.get("format", "paddle")
    except (ValueError, AttributeError):
        raise InputError(f"--model_dir {model_dir}: {EXPORT_INFO} is not a JSON object; re-export with "
                         "scripts/export_model.py") from None
    if fmt not in FORMATS:
        raise InputError(f"--model_dir {model_dir}: {EXPORT_INFO} names format {fmt!r}, not one of {list(FORMATS)}")
    if fmt == "paddle":
        program_file(model_dir)
    elif not os.path.isfile(os.path.join(model_dir, ONNX_FILE)):
        raise InputError(f"--model_dir {model_dir}: incomplete export, {EXPORT_INFO} says onnx but {ONNX_FILE} "
                         "is missing; re-export with scripts/export_model.py")
    return dict(info, format=fmt, precision=info.get("precision", "fp32"))


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
    """A callable predictor(input_ids, token_type_ids) -> logits for the export in MODEL_DIR, on its engine."""
    info = read_export(model_dir)
    threads = threads or os.cpu_count() or 1
    if info["format"] == "onnx":
        if device == "gpu":
            raise InputError(f"--model_dir {model_dir}: ONNX exports run on the CPU (onnxruntime's CPU build); "
                             "use --device cpu, or a Paddle export for the GPU")
        from deploy import onnx_predictor

        return onnx_predictor.OnnxPredictor(os.path.join(model_dir, ONNX_FILE), threads)
    return PaddlePredictor(model_dir, device, threads)


class PaddlePredictor:
    """paddle.inference on an exported program; predictor(input_ids, token_type_ids) -> logits."""

    def __init__(self, model_dir, device, threads):
        program_format, program = program_file(model_dir)
        config = paddle.inference.Config(program, os.path.join(model_dir, PARAMS_FILE))
        if device == "gpu":
            config.enable_use_gpu(100, 0)
        else:
            config.disable_gpu()
            config.set_cpu_math_library_num_threads(threads)
        config.switch_ir_optim(True)
        if program_format in paddle_compat.MEMORY_OPTIM_PROGRAMS:
            config.enable_memory_optim()
        config.disable_glog_info()
        self.predictor = paddle.inference.create_predictor(config)

    def __call__(self, input_ids, token_type_ids):
        return self.outputs(input_ids, token_type_ids)[0]

    def outputs(self, input_ids, token_type_ids):
        """Every output of the program, in its order (a student's: logits; the teacher program's: logits, [CLS])."""
        predictor = self.predictor
        for name, value in zip(predictor.get_input_names(), (input_ids, token_type_ids)):
            predictor.get_input_handle(name).copy_from_cpu(np.ascontiguousarray(value, dtype=np.int64))
        predictor.run()
        return [predictor.get_output_handle(name).copy_to_cpu() for name in predictor.get_output_names()]


def run_predictor(predictor, input_ids, token_type_ids):
    """Logits [batch, classes] for int64 arrays [batch, seq], whichever engine the predictor runs on."""
    return predictor(input_ids, token_type_ids)


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
