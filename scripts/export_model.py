"""Export a trained model (any best_model folder) for deployment.

    python scripts/export_model.py --model_dir OUT/best_model --output_dir exported/SST-2
    python scripts/export_model.py --model_dir OUT/best_model --output_dir exported/SST-2-int8 --precision int8

--format paddle (default for fp32): the static program for paddle.inference (inference.json on Paddle 3.x,
inference.pdmodel on 2.6) and inference.pdiparams. --format onnx (default for int8): model.onnx for
onnxruntime, fp32 or with int8 weights (needs requirements-deploy.txt; Paddle 3.x). Either way the
folder gets export.json (format, precision, engine, and the task from the model's task.json: text
columns, labels) and the tokenizer files: all that scripts/predict.py needs.
"""
import argparse
import os
import sys

import project_root  # noqa: F401  (first: the project on sys.path, CPU settings before paddle)

import modeling
from errors import InputError
from deploy import inference
from runtime import checkpoint


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True, help="a save_pretrained folder, e.g. OUTPUT_DIR/best_model")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--format", choices=inference.FORMATS, default=None,
                        help="paddle (paddle.inference) or onnx (onnxruntime); default paddle, onnx for int8")
    parser.add_argument("--precision", choices=inference.PRECISIONS, default="fp32",
                        help="int8: int8 weights, onnxruntime dynamic quantization (onnx format)")
    args = parser.parse_args(argv)
    fmt = args.format or ("onnx" if args.precision == "int8" else "paddle")
    try:
        inference.check_request(fmt, args.precision)
        model = modeling.load_classifier(args.model_dir, "--model_dir")
        tokenizer = modeling.load_tokenizer(args.model_dir, "--model_dir")
        os.makedirs(args.output_dir, exist_ok=True)
    except (InputError, OSError) as e:
        sys.stderr.write(f"error: {e}\n")
        sys.exit(2)
    inference.export(model, args.output_dir, fmt, args.precision, checkpoint.read_task_info(args.model_dir))
    tokenizer.save_pretrained(args.output_dir)
    print(f"exported {args.model_dir} -> {args.output_dir} ({fmt}, {args.precision})")


if __name__ == "__main__":
    main()
