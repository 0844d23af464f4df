#!/usr/bin/env bash
# Reference run: SST-2 ft (see launch.sh for the settings and overrides).
exec bash "$(dirname "$0")/launch.sh" SST-2 ft "$@"
