#!/usr/bin/env bash
# Checks training, mixed precision, 2-GPU data parallelism, export and a GPU predictor on this
# machine's GPUs, one pass/fail line per item (see scripts/gpu_check.py). On a GPU machine, give the
# CUDA of the Paddle build to install (see README):
#   PADDLE_GPU=cu126 bash scripts/gpu_check.sh        # cu118 | cu126 | cu129
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
python scripts/gpu_check.py "$@"
