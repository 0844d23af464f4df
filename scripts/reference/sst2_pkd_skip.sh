#!/usr/bin/env bash
# Reference run: SST-2 pkd_skip (see launch.sh for the settings and overrides).
exec bash "$(dirname "$0")/launch.sh" SST-2 pkd_skip "$@"
