#!/usr/bin/env bash
# Reference run: QQP kd (see launch.sh for the settings and overrides).
exec bash "$(dirname "$0")/launch.sh" QQP kd "$@"
