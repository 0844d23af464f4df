#!/usr/bin/env bash
# Reference run: QQP pkd_last (see launch.sh for the settings and overrides).
exec bash "$(dirname "$0")/launch.sh" QQP pkd_last "$@"
