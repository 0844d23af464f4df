#!/usr/bin/env bash
# Reference run: chnsenticorp kd (see launch.sh for the settings and overrides).
exec bash "$(dirname "$0")/launch.sh" chnsenticorp kd "$@"
