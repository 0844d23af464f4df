#!/usr/bin/env bash
# Reference run: QQP ft (see launch.sh for the settings and overrides).
exec bash "$(dirname "$0")/launch.sh" QQP ft "$@"
