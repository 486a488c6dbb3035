#!/bin/sh
# Fails when the shared SDK library defines a dynamic symbol that does not start with gk_.
set -eu
lib=$1
bad=$(nm -D --defined-only "$lib" | awk '{print $NF}' | grep -v '^gk_' | grep -v '^_' || true)
count=$(nm -D --defined-only "$lib" | awk '{print $NF}' | grep -c '^gk_' || true)
if [ -n "$bad" ]; then
    echo "libgatekeeper exports symbols outside gk_*:" >&2
    echo "$bad" >&2
    exit 1
fi
if [ "$count" -lt 10 ]; then
    echo "libgatekeeper exports only $count gk_* symbols; expected the public API" >&2
    exit 1
fi
echo "ok: $count gk_* symbols, nothing else"
