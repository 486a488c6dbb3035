#!/bin/sh
# `make demo` (and `make run`): a schema migration from start to finish against a real gatekeeper.
#
# Starts a gatekeeper on a fresh data directory (.demo/, or GK_DEMO_DIR) with the shipped
# policies and a release-manager actor of its own, an orders database (examples/orders: SQLite,
# 100,000 orders of 300 tenants), the orders-api service and the v1-era reporting consumer, then
# walks the migration flag orders.v2_migration as a release manager would, with gkctl and the
# actor's real key: off -> dualwrite -> (backfill) -> shadow -> live -> rampdown -> complete, with
# refused steps, a rollback and the kill switch on the way. It prints a running account (the
# tenants' stage split, reads and writes per side, mismatches, errors), the audit trail, and the
# verification that no order was lost or changed; it exits with the verification's status.
#
#   sh scripts/demo.sh [BUILD_DIR] [--serve]
#
# --serve (`make run`): afterwards keep the gatekeeper and the service running until Ctrl-C and
# print how to use gkctl and the SDK against them.
#
# Environment (defaults in brackets; the test sets smaller, faster values):
#   GK_DEMO_DIR [.demo]  GK_DEMO_PORT [7400: decisions; +1 admin, +2 events, +3 telemetry]
#   DEMO_ORDERS [100000]  DEMO_TENANTS [300]  DEMO_SEED [42]
#   DEMO_RATE [200 ops/s]  DEMO_WRITE_PCT [30]  DEMO_REPORTING_RATE [40 reads/s]
#   DEMO_STEP_S [3: seconds each step is held]  DEMO_BACKFILL_RATE [25000 rows/s]
#   DEMO_CHUNK [2000 rows]  DEMO_COMPLETE_WINDOW_S [5: no old-path reads before complete]
set -eu
build=build
serve=0
for a in "$@"; do
    case $a in
    --serve) serve=1 ;;
    -*) echo "usage: sh scripts/demo.sh [BUILD_DIR] [--serve]" >&2; exit 2 ;;
    *) build=$a ;;
    esac
done
top=$(cd "$(dirname "$0")/.." && pwd)
case $build in /*) ;; *) build="$top/$build" ;; esac
if [ "$serve" = 1 ]; then
    demo=${GK_DEMO_DIR:-$top/.run}
else
    demo=${GK_DEMO_DIR:-$top/.demo}
fi
port=${GK_DEMO_PORT:-7400}
orders_n=${DEMO_ORDERS:-100000}
tenants=${DEMO_TENANTS:-300}
seed=${DEMO_SEED:-42}
rate=${DEMO_RATE:-200}
write_pct=${DEMO_WRITE_PCT:-30}
reporting_rate=${DEMO_REPORTING_RATE:-40}
step=${DEMO_STEP_S:-3}
bf_rate=${DEMO_BACKFILL_RATE:-25000}
chunk=${DEMO_CHUNK:-2000}
window=${DEMO_COMPLETE_WINDOW_S:-5}

flag=orders.v2_migration
decide=tcp://127.0.0.1:$port
admin=tcp://127.0.0.1:$((port + 1))
events=tcp://127.0.0.1:$((port + 2))
telemetry=tcp://127.0.0.1:$((port + 3))
gatekeeper="$build/gatekeeper/gatekeeper"
gkctl_bin="$build/gkctl/gkctl"
orders="$build/examples/orders/gk-orders"
evaluate="$build/sdk/gk-evaluate"
schemas="$top/examples/orders/schemas"
db="$demo/orders.db"

for p in "$gatekeeper" "$gkctl_bin" "$orders"; do
    if [ ! -x "$p" ]; then
        echo "demo: $p is missing: build first (make build)" >&2
        exit 1
    fi
done

# ---- helpers ------------------------------------------------------------------------------

t0=$(date +%s.%N)
elapsed() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%5.1f", b - a }'; }
say() { printf '\n== [%ss] %s\n' "$(elapsed)" "$*"; }
note() { printf '   %s\n' "$*"; }
indent() { sed 's/^/   | /'; }

# The timeline: one line per phase with its start time; durations are printed at the end.
phase() { printf '%s %s\n' "$(date +%s.%N)" "$*" >> "$demo/phases"; }

# Run gkctl as the release manager, showing the command and its answer; returns gkctl's status.
gkctl() {
    printf '   $ gkctl'
    for a in "$@"; do
        case $a in
        *' '*) printf ' "%s"' "$a" ;;
        *) printf ' %s' "$a" ;;
        esac
    done
    printf '\n'
    rc=0
    "$gkctl_bin" "$@" > "$demo/gkctl.out" 2>&1 || rc=$?
    indent < "$demo/gkctl.out"
    return $rc
}

# A change that must go through.
change() {
    if ! gkctl "$@"; then
        echo "demo: gkctl $1 $2 failed (exit $rc); stopping" >&2
        exit 1
    fi
}

# A change a policy gate must refuse (exit 3); anything else stops the demo.
refused() {
    if gkctl "$@"; then
        echo "demo: gkctl $1 $2 was expected to be refused by a gate, and went through" >&2
        exit 1
    fi
    if [ "$rc" -ne 3 ]; then
        echo "demo: gkctl $1 $2 failed with exit $rc, not a policy refusal (3)" >&2
        exit 1
    fi
    note "REFUSED (exit 3): the gate is not met, and nothing was changed"
}

# Counters of the service and the reporting consumer (key=value files rewritten every second).
load_stats() { # FILE PREFIX
    if [ -f "$1" ]; then
        eval "$(sed -n "s/^\([a-z_]*\)=\([0-9.]*\)$/$2_\1=\2/p" "$1")"
    fi
}
a_reads_old=0 a_reads_new=0 a_writes_old=0 a_writes_new=0 a_mismatches=0 a_checks=0
a_errors_old=0 a_errors_new=0 a_failed=0 a_disabled=0 a_fallbacks=0 a_reads=0 a_writes=0
r_reads=0 r_reads_old=0 r_reads_new=0 r_mismatches=0 r_errors_old=0 r_errors_new=0 r_failed=0
p_a_reads_old=0 p_a_reads_new=0 p_a_writes_old=0 p_a_writes_new=0 p_a_mismatches=0 p_a_checks=0
p_a_errors=0 p_a_disabled=0 p_r_reads_old=0 p_r_reads_new=0 p_r_errors=0 p_t=$t0
mismatch_total=0

# The running account of one step: the stage split over the tenants (fresh decisions through the
# SDK), then what the service and the reporting consumer did since the last account.
account() {
    split_api=$("$orders" stages --db "$db" --jwks "$demo/keys/jwks.json" --endpoint "$decide" \
        --events "" --telemetry "" --flag "$flag" --service orders-api 2>&1 || true)
    split_rep=$("$orders" stages --db "$db" --jwks "$demo/keys/jwks.json" --endpoint "$decide" \
        --events "" --telemetry "" --flag "$flag" --service reporting 2>&1 || true)
    note "stages:     $split_api"
    note "            $split_rep"
    load_stats "$demo/orders-api.stats" a
    load_stats "$demo/reporting.stats" r
    now=$(date +%s.%N)
    a_errors=$((a_errors_old + a_errors_new + a_failed))
    r_errors=$((r_errors_old + r_errors_new + r_failed))
    secs=$(awk -v a="$p_t" -v b="$now" 'BEGIN { printf "%.1f", b - a }')
    note "orders-api: last ${secs}s: reads old $((a_reads_old - p_a_reads_old)) new $((a_reads_new - p_a_reads_new)), writes old $((a_writes_old - p_a_writes_old)) new $((a_writes_new - p_a_writes_new)), consistency checks $((a_checks - p_a_checks)), mismatches $((a_mismatches - p_a_mismatches)), errors $((a_errors - p_a_errors))"
    if [ $((a_disabled - p_a_disabled)) -gt 0 ]; then
        note "            $((a_disabled - p_a_disabled)) operations ran the fallback stage (kill switch: DISABLED)"
    fi
    note "reporting:  last ${secs}s: reads v1 $((r_reads_old - p_r_reads_old)) v2 $((r_reads_new - p_r_reads_new)), errors $((r_errors - p_r_errors))"
    p_a_reads_old=$a_reads_old p_a_reads_new=$a_reads_new p_a_writes_old=$a_writes_old
    p_a_writes_new=$a_writes_new p_a_mismatches=$a_mismatches p_a_checks=$a_checks
    p_a_errors=$a_errors p_a_disabled=$a_disabled p_r_reads_old=$r_reads_old
    p_r_reads_new=$r_reads_new p_r_errors=$r_errors p_t=$now
}

hold() { sleep "$step"; }

# One rollout step: the weights, held for a step, then the account.
weights() { # WEIGHTS WHY
    change rollout set "$flag" --variant-weights "$1" --why "$2"
    hold
    account
}

# ---- processes ----------------------------------------------------------------------------

gk_pid="" api_pid="" rep_pid=""
stop_pid() { # PID: SIGTERM, wait up to 10 s, then SIGKILL
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null || return 0
    i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
cleanup() {
    stop_pid "$rep_pid"
    stop_pid "$api_pid"
    stop_pid "$gk_pid"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# While the demo walks, the service and the consumer end by themselves after 10 minutes, so that
# nothing outlives a demo that was killed before its clean-up ran ($demo/pids lists them too).
start_service() { # [DURATION_S]
    "$orders" serve --db "$db" --jwks "$demo/keys/jwks.json" --endpoint "$decide" \
        --events "$events" --telemetry "$telemetry" --flag "$flag" --rate "$rate" \
        --write-pct "$write_pct" --stats-file "$demo/orders-api.stats" --duration "${1:-600}" \
        >> "$demo/orders-api.log" 2>&1 &
    api_pid=$!
    echo "$api_pid" >> "$demo/pids"
}
start_reporting() {
    "$orders" reporting --db "$db" --jwks "$demo/keys/jwks.json" --endpoint "$decide" \
        --events "$events" --telemetry "$telemetry" --flag "$flag" --rate "$reporting_rate" \
        --readers 1 --stats-file "$demo/reporting.stats" --duration 600 \
        >> "$demo/reporting.log" 2>&1 &
    rep_pid=$!
    echo "$rep_pid" >> "$demo/pids"
}

# ---- set-up -------------------------------------------------------------------------------

rm -rf "$demo"
mkdir -p "$demo"
: > "$demo/phases"
phase "set-up"
say "set-up: a gatekeeper on a fresh data directory ($demo), ports $port-$((port + 3))"
"$gatekeeper" keygen --out "$demo/keys" > /dev/null
key=$(ls "$demo"/keys/*.jwk | head -n 1)
if ! "$gkctl_bin" actor keygen --id rita --team team-orders --roles release-manager,owner \
    --out "$demo/actors" --actors "$demo/actors.json" > "$demo/keygen.out" 2>&1; then
    cat "$demo/keygen.out" >&2
    exit 1
fi
note "release manager: rita (team-orders; roles release-manager, owner), key $demo/actors/rita.jwk"
export GK_ADMIN_URL="$admin" GK_ACTOR_KEY_FILE="$demo/actors/rita.jwk"

set -- --key "$key" --data-dir "$demo/data" --actors "$demo/actors.json" \
    --policies "$top/policies" --listen "$decide" --listen "ipc://$demo/gatekeeper.sock" \
    --admin-listen "$admin" --events-listen "$events" --ready-file "$demo/ready"
telemetry_on=0
if "$gatekeeper" serve --help 2>&1 | grep -q -- '--telemetry-listen'; then
    set -- "$@" --telemetry-listen "$telemetry"
    telemetry_on=1
fi
"$gatekeeper" serve "$@" > "$demo/gatekeeper.log" 2>&1 &
gk_pid=$!
echo "$gk_pid" >> "$demo/pids"
i=0
while [ ! -f "$demo/ready" ]; do
    if ! kill -0 "$gk_pid" 2>/dev/null || [ $i -ge 100 ]; then
        echo "demo: the gatekeeper did not start:" >&2
        cat "$demo/gatekeeper.log" >&2
        exit 1
    fi
    sleep 0.1
    i=$((i + 1))
done
note "gatekeeper pid $gk_pid: decisions $decide, admin $admin, events $events"
[ "$telemetry_on" = 1 ] && note "                      telemetry $telemetry"

say "the orders database: $orders_n orders of $tenants tenants, schema v1 (SQLite, WAL)"
"$orders" init --db "$db" --orders "$orders_n" --tenants "$tenants" --seed "$seed" | indent
"$orders" baseline --db "$db" | indent

# ---- expand: register the schema versions, create the v2 table, apply the flag --------------

phase "expand"
say "expand: the schema versions, checked by the compatibility policy"
"$gkctl_bin" schema check --mode BACKWARD "$schemas/orders-v2.avsc" "$schemas/orders-v1.avsc" \
    | sed 's/^/   schema check orders-v2 against v1: /'
change schema register orders "$schemas/orders-v1.avsc" --mode BACKWARD \
    --why "orders v1: the shape the service writes today"
sed "s/\"completeAfterSeconds\": [0-9]*/\"completeAfterSeconds\": $window/" \
    "$top/examples/orders/flags/orders-migration.json" > "$demo/orders-migration.json"
change apply "$demo/orders-migration.json" --why "the migration flag of orders v1 -> v2, all tenants off"
change consumer register orders-api --schema orders --supports 1,2 --owner team-orders \
    --why "orders-api reads and writes both shapes"
change consumer register reporting --schema orders --supports 1 --owner team-orders \
    --why "reporting reads v1 only, for now"

say "the service and the reporting consumer start (every access through the SDK's migration helpers)"
start_service
start_reporting
hold
account

say "a refused step: dual-writing before schema v2 is registered"
refused rollout set "$flag" --variant-weights off=75,dualwrite=25 \
    --why "start dual-writing a quarter of the tenants"

change schema register orders "$schemas/orders-v2.avsc" --mode BACKWARD \
    --why "orders v2: the customer's name split in first and last name"
"$orders" expand --db "$db" | indent

# ---- dualwrite ----------------------------------------------------------------------------

phase "dualwrite"
say "dualwrite in steps: writes go to v1, then v2; reads stay on v1"
weights off=75,dualwrite=25 "dual-write a quarter of the tenants"
weights off=50,dualwrite=50 "dual-write half of the tenants"
weights dualwrite=100 "dual-write every tenant"

say "a refused step: shadow reads before the backfill is done"
refused rollout set "$flag" --variant-weights dualwrite=75,shadow=25 \
    --why "compare v2 reads for a quarter of the tenants"

phase "backfill"
say "backfill: copy the v1 rows into orders_v2 in chunks of $chunk, at most $bf_rate rows/s"
half=$((orders_n / 2))
{
    rc=0
    "$orders" backfill --db "$db" --chunk "$chunk" --rate "$bf_rate" --stop-after "$half" || rc=$?
    echo "$rc" > "$demo/backfill.rc"
} | indent
if [ "$(cat "$demo/backfill.rc")" != 3 ]; then
    echo "demo: the backfill's first run did not stop half-way as asked" >&2
    exit 1
fi
note "(stopped half-way on purpose, as a crash or a deploy would; it resumes from its checkpoint row)"
{
    rc=0
    "$orders" backfill --db "$db" --chunk "$chunk" --rate "$bf_rate" || rc=$?
    echo "$rc" > "$demo/backfill.rc"
} | indent
if [ "$(cat "$demo/backfill.rc")" != 0 ]; then
    echo "demo: the backfill failed" >&2
    exit 1
fi
account
change backfill done "$flag" --why "orders_v2 holds every v1 order (checkpoint done)"

# ---- shadow -------------------------------------------------------------------------------

phase "shadow"
say "shadow in steps: reads go to v1 and v2 and are compared; v1 answers"
weights dualwrite=75,shadow=25 "compare v2 reads for a quarter of the tenants"
weights dualwrite=50,shadow=50 "compare v2 reads for half of the tenants"
weights shadow=100 "compare v2 reads for every tenant"

say "a refused step: live before the consumers are ready"
refused rollout set "$flag" --variant-weights shadow=75,live=25 \
    --why "serve v2 reads to a quarter of the tenants"
gkctl status "$flag" || true

say "the consumers opt in (reporting ships its v2 reader first)"
change consumer register reporting --schema orders --supports 1,2 --owner team-orders \
    --why "reporting reads v2 since its release 4.2"
change optin add "$flag" orders-api --why "orders-api is ready for v2 reads"
change optin add "$flag" reporting --why "reporting is ready for v2 reads"

# ---- live, a rollback, the kill switch -----------------------------------------------------

phase "live"
say "live in steps: v2 answers, v1 is still read and compared"
weights shadow=75,live=25 "serve v2 reads to a quarter of the tenants"
weights shadow=50,live=50 "serve v2 reads to half of the tenants"
weights live=100 "serve v2 reads to every tenant"

phase "rollback"
say "a rollback: every tenant back one stage, to shadow (v1 answers again)"
weights shadow=100 "roll back: investigate v2 latency before going on"
weights live=100 "roll forward again: latency explained"

phase "kill switch"
say "the kill switch: every tenant runs the service's fallback stage (dualwrite: v1 answers, both written)"
change kill "$flag" --why "drill: kill the migration flag"
hold
account
change unkill "$flag" --why "drill over: the flag serves its rollout again"
hold
account

# ---- rampdown, complete -----------------------------------------------------------------------

phase "rampdown"
say "rampdown: v2 only is read; writes still go to both"
weights live=50,rampdown=50 "stop reading v1 for half of the tenants"
weights rampdown=100 "stop reading v1 for every tenant"

phase "complete"
say "complete: v2 only (needs no old-path read for ${window}s)"
# The gate reads the gatekeeper's telemetry: it allows complete once no old-path read has been
# reported for the window. A gatekeeper that has no telemetry for the flag (no collector, or one
# the policies do not see yet) never sees the old path go quiet, and the gate fails closed: the
# migration then stays at rampdown, where both sides are still written, and both are verified.
verify_side=new
tries=0
while :; do
    rc=0
    "$gkctl_bin" rollout set "$flag" --variant-weights complete=100 \
        --why "v1 is no longer read or written" > "$demo/gkctl.out" 2>&1 || rc=$?
    if [ "$rc" -eq 0 ] || [ "$tries" -eq 0 ]; then
        printf '   $ gkctl rollout set %s --variant-weights complete=100 --why "v1 is no longer read or written"\n' "$flag"
        indent < "$demo/gkctl.out"
    fi
    [ "$rc" -eq 0 ] && break
    if [ "$rc" -ne 3 ]; then
        indent < "$demo/gkctl.out"
        echo "demo: complete failed (exit $rc)" >&2
        exit 1
    fi
    [ "$tries" -eq 0 ] && note "REFUSED (exit 3): the gate is not met yet; retrying every second"
    if grep -q 'no telemetry for this flag' "$demo/gkctl.out" && [ "$tries" -ge 5 ]; then
        note "the gatekeeper has no telemetry for $flag (SDK batches are not reaching its"
        note "policies), so it never sees the old path go quiet and the gate stays closed:"
        note "the migration stops at rampdown, with both sides still written"
        verify_side=both
        break
    fi
    if [ "$tries" -ge $((window + 30)) ]; then
        indent < "$demo/gkctl.out"
        echo "demo: complete was still refused after $tries s" >&2
        exit 1
    fi
    tries=$((tries + 1))
    sleep 1
done
if [ "$verify_side" = new ]; then
    [ "$tries" -gt 0 ] && note "allowed after $tries s of retries"
    hold
    account
fi

# ---- the end: stop the traffic, audit, verify ----------------------------------------------

phase "verify"
say "the service and the reporting consumer stop"
stop_pid "$api_pid"
api_pid=""
stop_pid "$rep_pid"
rep_pid=""
tail -n 1 "$demo/orders-api.log" | indent
tail -n 1 "$demo/reporting.log" | indent

say "status and the audit trail"
gkctl status "$flag" || true
gkctl audit log --limit 200 || true
gkctl audit verify || true

say "verification: was any order lost or changed?"
vrc=0
"$orders" verify --db "$db" --side "$verify_side" > "$demo/verify.out" 2>&1 || vrc=$?
indent < "$demo/verify.out"
phase "end"

say "timeline"
awk 'NR > 1 { printf "   %-12s %6.1f s\n", name, $1 - start } { start = $1; $1 = ""; name = substr($0, 2) }' \
    "$demo/phases"
load_stats "$demo/orders-api.stats" a
load_stats "$demo/reporting.stats" r
ops=$(awk -v n=$((a_reads + a_writes)) -v t="$a_elapsed" 'BEGIN { printf "%.0f", (t > 0 ? n / t : 0) }')
note "orders-api: $a_reads reads (old $a_reads_old, new $a_reads_new), $a_writes writes (old $a_writes_old, new $a_writes_new) in $a_elapsed s: $ops ops/s"
note "            $a_checks consistency checks, $a_mismatches mismatches, errors old $a_errors_old new $a_errors_new"
note "reporting:  $r_reads reads (v1 $r_reads_old, v2 $r_reads_new), $r_mismatches mismatches"
note "total $(elapsed) s; logs in $demo (gatekeeper.log, orders-api.log, reporting.log)"
if [ "$vrc" -eq 0 ]; then
    say "demo: OK: the migration walked, nothing lost or changed"
else
    say "demo: FAILED: the verification found lost or changed orders (exit $vrc)"
fi

if [ "$serve" = 1 ]; then
    start_service 0
    cat <<EOT

== the gatekeeper keeps serving, and orders-api keeps running
   state:       $demo/data (its journal is the audit log)
   policies:    policies/*.lua (tested at start and on every reload: kill -HUP $gk_pid)
   public JWKS: $demo/keys/jwks.json
   database:    $db (gk-orders verify --db $db --side $verify_side)
   service log: $demo/orders-api.log

== the decision for tenant-007 as orders-api sees it, through the SDK (sdk/examples/evaluate.c):
   $evaluate --endpoint $decide --jwks $demo/keys/jwks.json \\
       --flag $flag --targeting-key tenant-007 --attr tenantId=tenant-007 --attr service=orders-api
EOT
    "$evaluate" --endpoint "$decide" --jwks "$demo/keys/jwks.json" --flag "$flag" \
        --targeting-key tenant-007 --attr tenantId=tenant-007 --attr service=orders-api | indent ||
        true
    cat <<EOT

== the stage of every tenant, and the service's counters:
   $orders stages --db $db --jwks $demo/keys/jwks.json --endpoint $decide
   tail -f $demo/orders-api.log

== change flags as the release manager rita (docs/gkctl.md):
   export GK_ADMIN_URL=$admin GK_ACTOR_KEY_FILE=$demo/actors/rita.jwk
   $gkctl_bin status
   $gkctl_bin rollout set $flag --variant-weights live=100 --why "back to live"
   $gkctl_bin kill $flag --why "kill switch drill"
   $gkctl_bin audit log && $gkctl_bin audit verify

== ask by hand:
   nngcat --req0 --dial $decide --ascii \\
     --data '{"v":1,"op":"evaluate","context":{"targetingKey":"tenant-007","tenantId":"tenant-007"}}'

Press Ctrl-C to stop.
EOT
    wait "$gk_pid" || true
fi
exit "$vrc"
