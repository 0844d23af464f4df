"""A randomly initialised model folder of another shape with a pre-trained model's family and vocabulary: a
stand-in for a narrow pre-trained student where none can be downloaded (--student_model_name_or_path).

    python scripts/random_student.py models/m3e-small models/random-4x256 --layers 4 --hidden 256 --heads 4

The config is the model's own with the sizes replaced (feed-forward 4 x hidden); the tokenizer files are copied,
so the vocabulary is the model's token for token. Weights are PaddleNLP's initialisation, seeded; saved as
model.safetensors.
"""
import argparse
import copy
import os

import project_root  # noqa: F401  (first: the project on sys.path, CPU settings before paddle)
import paddle

import modeling
from model_folders import safe_weights


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model_dir")
    p.add_argument("out_dir")
    p.add_argument("--layers", type=int, required=True)
    p.add_argument("--hidden", type=int, required=True)
    p.add_argument("--heads", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.hidden % args.heads:
        p.error(f"--hidden {args.hidden} is not a multiple of --heads {args.heads}")
    family = modeling.family_of(args.model_dir, "model_dir")
    config = copy.deepcopy(modeling.load_config(args.model_dir, "model_dir"))
    config.num_hidden_layers, config.hidden_size = args.layers, args.hidden
    config.num_attention_heads, config.intermediate_size = args.heads, 4 * args.hidden
    paddle.seed(args.seed)
    os.makedirs(args.out_dir, exist_ok=True)
    safe_weights.save_pretrained(family.model(config), args.out_dir)
    modeling.load_tokenizer(args.model_dir, "model_dir").save_pretrained(args.out_dir)
    print(f"wrote {args.out_dir}: {config.model_type}, {args.layers} layers, hidden {args.hidden}, "
          f"vocabulary {config.vocab_size} (random weights)")


if __name__ == "__main__":
    main()
