#!/bin/sh
# `make run`: the `make demo` walk-through (scripts/demo.sh) in .run/: a gatekeeper on the default
# endpoints (decisions 7400, admin 7401, change events 7402, telemetry 7403) with a fresh data
# directory, the shipped policies, a signing key and a release-manager actor (rita) of its own,
# the orders example service and its reporting consumer, and a migration flag walked from off to
# complete with gkctl; then it keeps the gatekeeper and the service running and prints how to
# use gkctl, the SDK's example program and nngcat against them, until Ctrl-C.
# GK_DEMO_PORT, DEMO_ORDERS, DEMO_STEP_S, ... as for scripts/demo.sh.
set -eu
build=${1:-build}
exec sh "$(dirname "$0")/demo.sh" "$build" --serve
