#!/usr/bin/env bash
# The whole pipeline (teacher, FT, KD, PKD-skip, PKD-last) on a synthetic task, CPU, no downloads.
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
python scripts/demo.py "$@"
