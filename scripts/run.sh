#!/bin/sh
# `make run`: starts a gatekeeper on the default decision endpoint with the shipped flags file, the
# shipped policies and a signing key of its own (made on first run in .run/keys), shows a decision through the SDK's
# example program and the nngcat command to ask by hand, then serves until Ctrl-C.
set -eu
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
run="$top/.run"
url=${GK_URL:-tcp://127.0.0.1:7400}
mkdir -p "$run"

key=$(ls "$run"/keys/*.jwk 2>/dev/null | head -n 1 || true)
if [ -z "$key" ]; then
    "$top/$build/gatekeeper/gatekeeper" keygen --out "$run/keys"
    key=$(ls "$run"/keys/*.jwk | head -n 1)
fi

rm -f "$run/ready"
"$top/$build/gatekeeper/gatekeeper" serve --flags "$top/config/flags.json" --key "$key" \
    --policies "$top/policies" --listen "$url" --listen "ipc://$run/gatekeeper.sock" --ready-file "$run/ready" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null' INT TERM EXIT

waited=0
while [ ! -f "$run/ready" ]; do
    if ! kill -0 "$pid" 2>/dev/null || [ $waited -ge 100 ]; then
        echo "run: the gatekeeper did not start (see its messages above)" >&2
        exit 1
    fi
    sleep 0.1
    waited=$((waited + 1))
done

cat <<EOT

== the gatekeeper is serving signed decisions on $url
   flags:       config/flags.json (edit it, then: kill -HUP $pid)
   policies:    policies/*.lua (tested at start and on every reload)
   public JWKS: $run/keys/jwks.json

== all flags for tenant-7 as seen by the billing service, through the SDK
   (sdk/examples/evaluate.c):
EOT
"$top/$build/sdk/gk-evaluate" --endpoint "$url" --jwks "$run/keys/jwks.json" \
    --targeting-key tenant-7 --attr tenantId=tenant-7 --attr plan=gold \
    --attr service=billing || true
cat <<EOT

== the same for the reporting service, which reads orders v1 only (the compatibility policy
   keeps it on the old path):
EOT
"$top/$build/sdk/gk-evaluate" --endpoint "$url" --jwks "$run/keys/jwks.json" \
    --flag orders.read_v2 --targeting-key tenant-7 --attr tenantId=tenant-7 --attr plan=gold \
    --attr service=reporting || true
cat <<EOT

== ask by hand:
   nngcat --req0 --dial $url --ascii \\
     --data '{"v":1,"op":"evaluate","context":{"targetingKey":"t-1"}}'

Press Ctrl-C to stop.
EOT
wait $pid
