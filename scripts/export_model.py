"""Export a trained model (any best_model folder) for paddle.inference.

    python scripts/export_model.py --model_dir OUT/best_model --output_dir exported/SST-2

Writes the static program (inference.json on Paddle 3.x, inference.pdmodel on 2.6), inference.pdiparams,
export.json and the tokenizer files, which is all that scripts/predict.py needs.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import inference  # noqa: E402
import modeling  # noqa: E402
from args import InputError  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True, help="a save_pretrained folder, e.g. OUTPUT_DIR/best_model")
    parser.add_argument("--output_dir", required=True)
    args = parser.parse_args(argv)
    try:
        model = modeling.load_classifier(args.model_dir, "--model_dir")
        tokenizer = modeling.load_tokenizer(args.model_dir, "--model_dir")
        os.makedirs(args.output_dir, exist_ok=True)
    except (InputError, OSError) as e:
        sys.stderr.write(f"error: {e}\n")
        sys.exit(2)
    inference.export(model, args.output_dir)
    tokenizer.save_pretrained(args.output_dir)
    print(f"exported {args.model_dir} -> {args.output_dir}")


if __name__ == "__main__":
    main()
