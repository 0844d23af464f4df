#!/usr/bin/env bash
# Reference run: chnsenticorp pkd_skip (see launch.sh for the settings and overrides).
exec bash "$(dirname "$0")/launch.sh" chnsenticorp pkd_skip "$@"
