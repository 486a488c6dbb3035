/*
 * policy.h - the Lua 5.4 policy runtime: policy sets, sandboxed VMs, budgets, hook calls, the
 * combination of verdicts and the explain trace. The contract for policy authors is
 * policies/README.md; this header is its C side.
 *
 * A gkd_policy_set is the immutable list of policy files (name + source) read from a directory,
 * compiled once at load to report syntax errors with file:line. A gkd_policy_vm is one sandboxed
 * lua_State with a set loaded (one per worker thread, one for the admin path, h2o's model): every
 * file runs in its own _ENV, its hooks are looked up once at open, and each hook call runs every
 * policy defining the hook, in file-name order, under the set's budgets (instructions and wall-clock
 * time per hook call, memory per lua_State). Errors and budget breaches fail closed (see
 * gkd_policy_outcome), are logged with file:line through gkd_log and counted
 * (gkd_policy_error_count).
 *
 * Ownership: json_t arguments are borrowed for the call; results own their json_t members and are
 * released with gkd_policy_result_fini. A vm holds a reference on its set.
 *
 * THREAD SAFETY: a gkd_policy_set is immutable and may be shared by all threads; hold/rele are
 * atomic. A gkd_policy_vm is used by one thread at a time (no internal locking). The error count
 * is atomic. gkd_policy_testing_fail_alloc is for tests only and is not thread safe.
 */
#ifndef GKD_POLICY_H
#define GKD_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "gatekeeper.h"
#include "slot.h"

/* Defaults of gkd_policy_limits (policies/README.md, "The sandbox"). */
#define GKD_POLICY_INSTRUCTIONS_DEFAULT 1000000u
#define GKD_POLICY_TIMEOUT_MS_DEFAULT   50u
#define GKD_POLICY_MEMORY_BYTES_DEFAULT ((size_t) 32 * 1024 * 1024)

/* Most policy files one set may hold, and the longest policy source read (bytes). */
#define GKD_POLICY_MAX_FILES      64u
#define GKD_POLICY_MAX_FILE_BYTES ((size_t) 1024 * 1024)

/*
 * gkd_policy_limits - the budgets of every hook call. Zero in a field means its default.
 * instructions  Lua VM instructions per hook call, all policies of the call together.
 * timeout_ms    wall-clock time per hook call, milliseconds.
 * memory_bytes  cap on the memory of one lua_State (allocator-enforced), bytes.
 */
typedef struct gkd_policy_limits {
    uint64_t instructions;
    uint32_t timeout_ms;
    size_t memory_bytes;
} gkd_policy_limits;

/* gkd_policy_limits_default - fill `l` with the defaults above. */
void gkd_policy_limits_default(gkd_policy_limits *l);

typedef struct gkd_policy_set gkd_policy_set;
typedef struct gkd_policy_vm gkd_policy_vm;

/*
 * gkd_policy_set_load - read DIR/ *.lua (regular files, sorted bytewise by name; subdirectories such
 * as tests/ are ignored) and compile each in a scratch sandbox, running its top level, so that a
 * syntax error, a top-level runtime error or a global write after load is reported now.
 * setp    out: a set with one reference (gkd_policy_set_rele).
 * dir     the policies directory; copied.
 * limits  budgets for every vm of the set; NULL or zero fields mean the defaults; copied.
 * diag    on error: source "policies/<file>.lua", line, text (Lua's message).
 * Returns GK_OK, GK_ENOENT (no such directory), GK_EIO, GK_EPROTO (a policy does not compile or
 * its top level fails), GK_ENOMEM, GK_EINVAL (NULL argument, too many or too large files).
 * An empty directory is a valid, empty set (every hook then gives its default).
 */
gk_err gkd_policy_set_load(gkd_policy_set **setp, const char *dir, const gkd_policy_limits *limits,
                           gk_diag *diag);

/*
 * gkd_policy_set_test - run the set's tests: every tests_dir/ *_test.lua, each global function
 * whose name starts with "test_" in a fresh vm (see policies/README.md, "Testing policies";
 * fixtures are read from tests_dir/fixtures/<name>.json). Failures are logged at WARN.
 * tests_dir  usually "<dir>/tests"; a missing directory means zero tests.
 * passed, failed  out: counts (may be NULL).
 * diag       names the first failure: source "tests/<file>_test.lua", line, text
 *            "<test>: <message>"; code GK_EPROTO.
 * Returns GK_OK when every test passed, GK_EPROTO when one failed or a test file does not compile,
 * GK_EIO, GK_ENOMEM, GK_EINVAL.
 */
gk_err gkd_policy_set_test(const gkd_policy_set *set, const char *tests_dir, size_t *passed,
                           size_t *failed, gk_diag *diag);

/* gkd_policy_set_hold - take one more reference; returns set. Thread safety: atomic. */
gkd_policy_set *gkd_policy_set_hold(gkd_policy_set *set);

/* gkd_policy_set_rele - drop one reference; the last frees the set (NULL is ignored). */
void gkd_policy_set_rele(gkd_policy_set *set);

/* gkd_policy_set_slot_init - gkd_slot_init for a slot of policy sets (held and released with
 * gkd_policy_set_hold and gkd_policy_set_rele; an empty slot holds NULL). GK_OK or GK_ENOMEM. */
gk_err gkd_policy_set_slot_init(gkd_slot *slot);

/* gkd_policy_set_count - number of policy files in the set. */
size_t gkd_policy_set_count(const gkd_policy_set *set);

/* gkd_policy_set_name - file name of policy `i` (e.g. "ownership.lua"); borrowed from the set. */
const char *gkd_policy_set_name(const gkd_policy_set *set, size_t i);

/* gkd_policy_set_limits - the set's budgets (defaults filled in); borrowed from the set. */
const gkd_policy_limits *gkd_policy_set_limits(const gkd_policy_set *set);

/*
 * gkd_policy_vm_open - create a sandboxed lua_State and load every policy of `set` into it.
 * vmp   out: the vm (gkd_policy_vm_close).
 * set   takes a reference of its own (the caller keeps its reference).
 * diag  as for gkd_policy_set_load.
 * Returns GK_OK, GK_EPROTO (a policy fails to load), GK_ENOMEM, GK_EINVAL.
 * Cost: one lua_State plus the policies' top levels (tens of µs for small policies).
 */
gk_err gkd_policy_vm_open(gkd_policy_vm **vmp, gkd_policy_set *set, gk_diag *diag);

/* gkd_policy_vm_close - close the lua_State and release the set (NULL is ignored). */
void gkd_policy_vm_close(gkd_policy_vm *vm);

/* gkd_policy_vm_set - the vm's set; borrowed, valid until gkd_policy_vm_close. */
const gkd_policy_set *gkd_policy_vm_set(const gkd_policy_vm *vm);

/*
 * gkd_policy_vm_set_state - give the vm the state passed to on_change and on_evaluate:
 * {flags: {key: flag definition}, schemas: {...}, consumers: {...}, ...} (policies/README.md).
 * The vm keeps a reference on `state` and hands policies a read-only view of it
 * (gkd_luajson_push_shared): nothing is converted here; a table is converted from the JSON the
 * first time a policy reaches it and then kept for this version, so the state's size is paid once,
 * by the caller's JSON, and each vm pays (against its memory budget) only for what its policies
 * read. Iterating a map converts one small table per entry (about 0.5 KiB). The previous
 * version's view is dropped at once (atomically: a hook call sees one version), and with it the
 * policies' gk.state_memo tables; a table of it that a policy kept stays readable, with its JSON,
 * until collected. A later call with the same version does nothing.
 * state    an object or NULL (an empty state); referenced until the next version's call or
 *          gkd_policy_vm_close (longer if a policy keeps a table of it) and read from this
 *          thread meanwhile: it must not change (a snapshot's state never does). Several vms on
 *          several threads may share it.
 * version  the snapshot version the state belongs to.
 * Returns GK_OK, GK_ENOMEM (memory cap), GK_EINVAL (state not an object).
 * Cost: a few µs plus a full collection of the vm's heap (the old view), whatever the state size.
 */
gk_err gkd_policy_vm_set_state(gkd_policy_vm *vm, const json_t *state, uint64_t version);

/*
 * gkd_policy_outcome - the combined outcome of one hook call (policies/README.md, "Combination").
 * GKD_POLICY_ALLOW    some policy allowed and none denied.
 * GKD_POLICY_DENY     some policy denied (deny wins); for on_evaluate also two policies forcing
 *                     different variants (the flag serves its default variant).
 * GKD_POLICY_DEFAULT  every policy abstained (or none defines the hook): the hook's default applies
 *                     (authorize: deny; on_change, on_evaluate: allow; mask: mask nothing).
 * GKD_POLICY_ERROR    a policy raised an error, exceeded a budget or returned a wrong shape: fail
 *                     closed (authorize/on_change: deny; on_evaluate: default variant, reason
 *                     ERROR; mask: mask every field; `mask` then lists every top-level field).
 */
typedef enum gkd_policy_outcome {
    GKD_POLICY_ALLOW,
    GKD_POLICY_DENY,
    GKD_POLICY_DEFAULT,
    GKD_POLICY_ERROR,
} gkd_policy_outcome;

/*
 * gkd_policy_result - the combined verdict of one hook call. Filled by every hook call (also on
 * a non-OK return, with outcome GKD_POLICY_ERROR); release with gkd_policy_result_fini.
 * variant  on_evaluate: the forced variant ("" when none); only with GKD_POLICY_ALLOW.
 * policy   the file that decided: the first denying file, the forcing file, the failing file,
 *          the second of two conflicting forcing files; "" otherwise.
 * mask     union of every verdict's `mask` list (array of strings, first-seen order), or NULL.
 *          Read-only: it may be shared with the vm, which keeps the last list it built alone
 *          from one verdict to hand out again when the next call's first mask is the same.
 * trace    explain trace: one object per verdict or error, in file order:
 *          {policy, hook, verdict ("allow"|"deny"|"error"), reason, source ("policies/x.lua:12"),
 *          and violations / variant / mask when given}; NULL when tracing is off.
 * error    "policies/x.lua:12: message" when outcome is GKD_POLICY_ERROR, else "".
 */
typedef struct gkd_policy_result {
    gkd_policy_outcome outcome;
    char variant[64];
    char policy[64];
    json_t *mask;
    json_t *trace;
    char error[160];
} gkd_policy_result;

/* gkd_policy_result_fini - release mask and trace (a zeroed or finished result is fine). */
void gkd_policy_result_fini(gkd_policy_result *r);

/*
 * gkd_policy_vm_authorize - run authorize(req) across the policies (default: deny).
 * req    the request object (policies/README.md, "Arguments"); borrowed, copied into Lua.
 * trace  non-zero to build the explain trace in out->trace.
 * out    caller-allocated; always filled (release with gkd_policy_result_fini).
 * Returns GK_OK (policy errors are outcomes, not failures), GK_EINVAL on NULL arguments.
 */
gk_err gkd_policy_vm_authorize(gkd_policy_vm *vm, const json_t *req, int trace,
                               gkd_policy_result *out);

/*
 * gkd_policy_vm_on_change - run on_change(change, state) with the state of the last
 * gkd_policy_vm_set_state (empty when never set). Default: allow. Otherwise as authorize.
 */
gk_err gkd_policy_vm_on_change(gkd_policy_vm *vm, const json_t *change, int trace,
                               gkd_policy_result *out);

/*
 * gkd_policy_proposal - the engine's answer for a flag: variant (NULL: none), reason
 * ("SPLIT", ...; NULL: none), rule_id (NULL: none). Borrowed for the call.
 */
typedef struct gkd_policy_proposal {
    const char *variant;
    const char *reason;
    const char *rule_id;
} gkd_policy_proposal;

/*
 * gkd_policy_vm_on_evaluate - run on_evaluate(ctx, flag, proposal, state) (default: allow, the
 * proposal stands). `flag` is the view {key, owner, defaultVariant, variants (names in order),
 * metadata} of state.flags[flag_key], built once per state version and key; `state` is the
 * state of the last gkd_policy_vm_set_state. proposal is the vm's one read-only table, whose
 * variant, reason and ruleId are set for every call (a policy writing into it fails); ctx is made
 * once for consecutive calls with the same json_t (the flags of one request) and shared by them.
 * A forced variant that is not one of the flag's variants is an error.
 * When every policy defining on_evaluate declares the context fields it reads (on_evaluate_reads,
 * policies/README.md), ctx holds only those fields and, with trace 0, the outcome is kept
 * (verdict_cache.h) and reused for the calls with the same state version, flag key, proposal and
 * declared fields, without running the policies; errors are never kept.
 * flag_key  NUL-terminated; a key absent from the state gives {key = flag_key, variants = {}}.
 * ctx       the evaluation context object; borrowed, but the vm keeps a reference on the last one
 *           until the next call with another ctx (or gkd_policy_vm_close), so that its address
 *           cannot come back as another context's. Do not change it between calls that pass it.
 * Cost: a kept outcome about 1,500 instructions (key, hash, copy). Running the policies: about
 *       3,500 instructions of glue for two policies that abstain at once, plus the policies' own
 *       work: about 15,000 instructions in all for the shipped policies and orders.read_v2
 *       (callgrind, gk-bench figure 5); nothing is formatted when trace is 0.
 */
gk_err gkd_policy_vm_on_evaluate(gkd_policy_vm *vm, const char *flag_key, const json_t *ctx,
                                 const gkd_policy_proposal *proposal, int trace,
                                 gkd_policy_result *out);

/*
 * gkd_policy_vm_has_hook - non-zero when some policy of the vm defines the global function `hook`
 * ("authorize", "on_change", "on_evaluate", "mask"). Cost: a few compares.
 */
int gkd_policy_vm_has_hook(const gkd_policy_vm *vm, const char *hook);

/*
 * gkd_policy_vm_mask - run mask(kind, record): kind "context" or a schema name; record an object.
 * out->mask is the union of the lists to mask; on GKD_POLICY_ERROR or GKD_POLICY_DENY it lists
 * every top-level field of record (mask everything).
 */
gk_err gkd_policy_vm_mask(gkd_policy_vm *vm, const char *kind, const json_t *record, int trace,
                          gkd_policy_result *out);

/*
 * gkd_policy_vm_call_global - call the global function `name` of policy file `policy` (e.g.
 * "compatibility.lua") with JSON arguments, outside the hook machinery but under the same
 * budgets (used by `gkctl schema check` for compatibility.lua's check()).
 * args     array of arguments; borrowed.
 * resultp  out: the first return value as JSON (null for nil); the caller owns it.
 * error    on failure: "policies/x.lua:12: message" (NUL-terminated, cut to errlen).
 * Returns GK_OK, GK_ENOENT (no such file or function), GK_EPROTO (the function raised an error or
 * returned something JSON cannot hold), GK_EINVAL.
 */
gk_err gkd_policy_vm_call_global(gkd_policy_vm *vm, const char *policy, const char *name,
                                 const json_t *args, json_t **resultp, char *error, size_t errlen);

/* gkd_policy_error_count - process-wide count of policy errors and budget breaches (atomic). */
uint64_t gkd_policy_error_count(void);

/* gkd_policy_outcome_name - "allow", "deny", "default", "error". */
const char *gkd_policy_outcome_name(gkd_policy_outcome outcome);

/*
 * gkd_policy_testing_fail_alloc - tests only: make the policy runtime's n-th allocation from now
 * on fail (0 = the next one), counting the Lua allocator and the runtime's own mallocs; a
 * negative n turns failure injection off. Not thread safe.
 */
void gkd_policy_testing_fail_alloc(long n);

#endif
