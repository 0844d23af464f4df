#!/usr/bin/env bash
# The test suite: CPU, no network, no ../shared needed.
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
python -m pytest -q -p no:cacheprovider tests "$@"
