#!/bin/sh
# `make run`: starts a gatekeeper on the default endpoints (decisions 7400, admin 7401, change
# events 7402) with the shipped flags file as the first change of a data directory in .run/, the
# shipped policies, a signing key and a release-manager actor of its own (made on first run),
# shows decisions through the SDK's example program and how to change flags with gkctl, then
# serves until Ctrl-C.
set -eu
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
run="$top/.run"
url=${GK_URL:-tcp://127.0.0.1:7400}
mkdir -p "$run"

gkctl="$top/$build/gkctl/gkctl"
key=$(ls "$run"/keys/*.jwk 2>/dev/null | head -n 1 || true)
if [ -z "$key" ]; then
    "$top/$build/gatekeeper/gatekeeper" keygen --out "$run/keys"
    key=$(ls "$run"/keys/*.jwk | head -n 1)
fi
# A release manager who may change flags through the admin socket (gkctl).
if [ ! -f "$run/actors/rita.jwk" ]; then
    "$gkctl" actor keygen --id rita --team team-orders --roles release-manager,owner \
        --out "$run/actors" --actors "$run/actors.json" > /dev/null
fi

rm -f "$run/ready"
"$top/$build/gatekeeper/gatekeeper" serve --flags "$top/config/flags.json" --key "$key" \
    --data-dir "$run/data" --actors "$run/actors.json" --policies "$top/policies" \
    --listen "$url" --listen "ipc://$run/gatekeeper.sock" --ready-file "$run/ready" &
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
   state:       $run/data (bootstrapped from config/flags.json; its journal is the audit log)
   policies:    policies/*.lua (tested at start and on every reload: kill -HUP $pid)
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

== change flags as the release manager rita (docs/gkctl.md):
   export GK_ACTOR_KEY_FILE=$run/actors/rita.jwk
   $gkctl status
   $gkctl rollout plan orders.read_v2 --steps 1,5,25,100 --hold 0s --why "staged read cut-over"
   $gkctl rollout advance orders.read_v2 --why "step to the next slice of tenants"
   $gkctl kill orders.read_v2 --why "kill switch drill"
   $gkctl audit log && $gkctl audit verify

== ask by hand:
   nngcat --req0 --dial $url --ascii \\
     --data '{"v":1,"op":"evaluate","context":{"targetingKey":"t-1"}}'

Press Ctrl-C to stop.
EOT
wait $pid
