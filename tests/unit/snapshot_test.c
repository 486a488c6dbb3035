/*
 * snapshot_test.c - building snapshots: valid documents (the data directory, the example in
 * docs/flags.md, the shipped config/flags.json), the data-driven invalid cases in
 * tests/data/flags/invalid/<case>.json + <case>.expect, 10,000 flags, lookups in key order,
 * hold/rele and slot swaps from several threads, and allocation failures inside jansson.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <jansson.h>
#include <sodium.h>

#include "engine.h"
#include "flag.h"
#include "slot.h"
#include "snapshot.h"


static const char *
env_dir(const char *name)
{
    const char *v = getenv(name);

    ck_assert_msg(v != NULL && v[0] != '\0', "%s is not set (CTest sets it)", name);
    return v;
}

static char *
read_text(const char *path)
{
    FILE *fp = fopen(path, "rb");
    char *buf;
    long n;

    if (fp == NULL) {
        return NULL;
    }
    ck_assert_int_eq(fseek(fp, 0, SEEK_END), 0);
    n = ftell(fp);
    ck_assert_int_ge(n, 0);
    rewind(fp);
    buf = malloc((size_t) n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t) n, fp), (size_t) n);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* The sorted names of `dir`'s files ending in `suffix`; NULL-terminated, caller frees. */
static char **
list_dir(const char *dir, const char *suffix, size_t *count)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0;

    ck_assert_msg(d != NULL, "cannot open %s", dir);
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > strlen(suffix) && strcmp(e->d_name + len - strlen(suffix), suffix) == 0) {
            names = realloc(names, (n + 2) * sizeof *names);
            ck_assert_ptr_nonnull(names);
            names[n] = strdup(e->d_name);
            ck_assert_ptr_nonnull(names[n]);
            n++;
        }
    }
    closedir(d);
    if (names != NULL) {
        qsort(names, n, sizeof *names, cmp_str);
        names[n] = NULL;
    }
    *count = n;
    return names;
}

static void
free_list(char **names)
{
    for (size_t i = 0; names != NULL && names[i] != NULL; i++) {
        free(names[i]);
    }
    free(names);
}

/* ---- invalid documents ------------------------------------------------------------------ */

START_TEST(test_invalid_cases)
{
    char dir[512];
    size_t n;
    char **cases;
    size_t failures = 0;

    snprintf(dir, sizeof dir, "%s/flags/invalid", env_dir("GK_TEST_DATA"));
    cases = list_dir(dir, ".json", &n);
    ck_assert_msg(n >= 15, "only %zu invalid cases in %s", n, dir);
    for (size_t i = 0; i < n; i++) {
        char path[1024];
        char *expect;
        gkd_snapshot *snap = (gkd_snapshot *) 1;
        gk_diag diag = {0};
        gk_err rv;
        size_t len;

        snprintf(path, sizeof path, "%s/%.*s.expect", dir, (int) (strlen(cases[i]) - 5), cases[i]);
        expect = read_text(path);
        if (expect == NULL) {
            fprintf(stderr, "FAIL %s: no %s\n", cases[i], path);
            failures++;
            continue;
        }
        len = strlen(expect);
        while (len > 0 && (expect[len - 1] == '\n' || expect[len - 1] == '\r')) {
            expect[--len] = '\0';
        }
        snprintf(path, sizeof path, "%s/%s", dir, cases[i]);
        rv = gkd_snapshot_load_file(&snap, path, 1, &diag);
        if (rv == GK_OK || snap != NULL || diag.code != rv || len == 0 ||
            strstr(diag.text, expect) == NULL) {
            fprintf(stderr, "FAIL %s: rv %d, diag \"%s\", expected \"%s\"\n", cases[i], (int) rv,
                    diag.text, expect);
            failures++;
            gkd_snapshot_rele(snap);
        }
        free(expect);
    }
    free_list(cases);
    ck_assert_msg(failures == 0, "%zu of %zu invalid cases failed (see stderr)", failures, n);
}
END_TEST

START_TEST(test_invalid_needs_no_diag)
{
    json_t *doc = json_loads("{\"flags\": {\"a\": {\"variants\": {}}}}", 0, NULL);
    gkd_snapshot *snap;

    ck_assert_ptr_nonnull(doc);
    ck_assert_int_eq(gkd_snapshot_build(&snap, doc, 1, NULL, NULL), GK_EPROTO);
    ck_assert_ptr_null(snap);
    json_decref(doc);
}
END_TEST

START_TEST(test_first_error_wins)
{
    json_t *doc = json_loads("{\"flags\": {\"a\": {\"state\": \"off\"}}}", 0, NULL);
    gkd_snapshot *snap;
    gk_diag diag = {0};

    ck_assert_int_eq(gkd_snapshot_build(&snap, doc, 1, "mine.json", &diag), GK_EPROTO);
    ck_assert_str_eq(diag.source, "mine.json");
    ck_assert_ptr_nonnull(strstr(diag.text, "\"state\""));
    ck_assert_int_eq(gkd_snapshot_build(&snap, doc, 1, "other.json", &diag), GK_EPROTO);
    ck_assert_str_eq(diag.source, "mine.json");
    json_decref(doc);
}
END_TEST

START_TEST(test_load_file_errors)
{
    gkd_snapshot *snap;
    gk_diag diag = {0};

    ck_assert_int_eq(gkd_snapshot_load_file(&snap, "/nonexistent/flags.json", 1, &diag), GK_ENOENT);
    ck_assert_ptr_null(snap);
    ck_assert_int_eq(diag.code, GK_ENOENT);
    memset(&diag, 0, sizeof diag);
    ck_assert_int_eq(gkd_snapshot_load_file(&snap, env_dir("GK_TEST_DATA"), 1, &diag), GK_EIO);
    ck_assert_ptr_null(snap);
}
END_TEST

START_TEST(test_parse_error_position)
{
    char path[512];
    gkd_snapshot *snap;
    gk_diag diag = {0};

    snprintf(path, sizeof path, "%s/flags/invalid/not_json.json", env_dir("GK_TEST_DATA"));
    ck_assert_int_eq(gkd_snapshot_load_file(&snap, path, 1, &diag), GK_EPROTO);
    ck_assert_int_eq(diag.line, 1);
    ck_assert_int_gt(diag.column, 40);
}
END_TEST

/* ---- valid documents -------------------------------------------------------------------- */

static gkd_snapshot *
must_load(const char *path, uint64_t version)
{
    gkd_snapshot *snap = NULL;
    gk_diag diag = {0};

    ck_assert_msg(gkd_snapshot_load_file(&snap, path, version, &diag) == GK_OK, "%s: %s:%d: %s",
                  path, diag.source, diag.line, diag.text);
    ck_assert_ptr_nonnull(snap);
    return snap;
}

START_TEST(test_valid_cases)
{
    char dir[512];
    size_t n;
    char **cases;

    snprintf(dir, sizeof dir, "%s/flags/valid", env_dir("GK_TEST_DATA"));
    cases = list_dir(dir, ".json", &n);
    ck_assert_uint_ge(n, 3);
    for (size_t i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, cases[i]);
        gkd_snapshot_rele(must_load(path, i + 1));
    }
    free_list(cases);
}
END_TEST

START_TEST(test_everything_fields)
{
    char path[512];
    gkd_snapshot *snap;
    const gkd_flag *f;

    snprintf(path, sizeof path, "%s/flags/valid/everything.json", env_dir("GK_TEST_DATA"));
    snap = must_load(path, 42);
    ck_assert_uint_eq(gkd_snapshot_version(snap), 42);
    ck_assert_uint_eq(gkd_snapshot_count(snap), 3);
    /* Key order: checkout.theme < orders.read_v2 < orders.schema_v2. */
    ck_assert_str_eq(gkd_flag_key(gkd_snapshot_flag_at(snap, 0)), "checkout.theme");
    ck_assert_str_eq(gkd_flag_key(gkd_snapshot_flag_at(snap, 1)), "orders.read_v2");
    ck_assert_str_eq(gkd_flag_key(gkd_snapshot_flag_at(snap, 2)), "orders.schema_v2");
    ck_assert_ptr_null(gkd_snapshot_flag_at(snap, 3));
    f = gkd_snapshot_find(snap, "orders.read_v2", 14);
    ck_assert_ptr_nonnull(f);
    ck_assert_str_eq(f->description, "Read orders through the v2 schema");
    ck_assert_str_eq(f->owner, "team-orders");
    ck_assert_str_eq(f->bucket_by, "tenantId");
    ck_assert_uint_eq(f->salt[0], 0x00);
    ck_assert_uint_eq(f->salt[10], 0xaa);
    ck_assert_uint_eq(f->salt[15], 0xff);
    ck_assert_uint_eq(f->n_rules, 2);
    ck_assert_uint_eq(f->rules[1].n_clauses, 14);
    ck_assert_uint_eq(f->rollout[0], 95000);
    ck_assert_uint_eq(f->rollout[1], 5000);
    ck_assert_uint_eq(f->n_prereqs, 1);
    ck_assert_ptr_eq(f->prereqs[0].flag, gkd_snapshot_find(snap, "orders.schema_v2", 16));
    ck_assert_uint_eq(f->prereqs[0].variant_mask, 2);
    ck_assert_str_eq(f->prereqs[0].rule_id, "prerequisite:orders.schema_v2");
    ck_assert(!f->is_static);
    f = gkd_snapshot_find(snap, "checkout.theme", 14);
    ck_assert(f->disabled);
    ck_assert(f->is_static);
    ck_assert_uint_eq(f->n_variants, 3);
    ck_assert(json_is_null(f->variants[2].value));
    /* Variant order is the document's, not alphabetical. */
    ck_assert_str_eq(f->variants[0].name, "classic");
    ck_assert_str_eq(f->variants[1].name, "fresh");
    ck_assert_ptr_null(gkd_snapshot_find(snap, "orders", 6));
    ck_assert_ptr_null(gkd_snapshot_find(snap, "zzz", 3));
    ck_assert_ptr_null(gkd_snapshot_find(snap, "", 0));
    gkd_snapshot_rele(snap);
}
END_TEST

/* Every ```json block of docs/flags.md that holds a flags document builds. */
START_TEST(test_docs_examples_build)
{
    char path[512];
    char *text;
    char *p;
    unsigned built = 0;

    snprintf(path, sizeof path, "%s/docs/flags.md", env_dir("GK_SOURCE_DIR"));
    text = read_text(path);
    ck_assert_msg(text != NULL, "cannot read %s", path);
    for (p = strstr(text, "```json\n"); p != NULL; p = strstr(p, "```json\n")) {
        char *start = p + 8;
        char *end = strstr(start, "```");
        json_error_t jerr;
        json_t *doc;
        ck_assert_ptr_nonnull(end);
        doc = json_loadb(start, (size_t) (end - start), JSON_REJECT_DUPLICATES, &jerr);
        ck_assert_msg(doc != NULL, "docs/flags.md: block at offset %td: %s", start - text,
                      jerr.text);
        if (json_object_get(doc, "flags") != NULL) {
            gkd_snapshot *snap;
            gk_diag diag = {0};
            ck_assert_msg(gkd_snapshot_build(&snap, doc, 1, "docs/flags.md", &diag) == GK_OK,
                          "docs/flags.md example at offset %td: %s", start - text, diag.text);
            gkd_snapshot_rele(snap);
            built++;
        }
        json_decref(doc);
        p = end + 3;
    }
    ck_assert_uint_ge(built, 1);
    free(text);
}
END_TEST

START_TEST(test_shipped_config)
{
    char path[512];
    gkd_snapshot *snap;
    size_t n;
    bool has_disabled = false;
    bool has_prereq = false;
    bool has_rollout = false;
    bool has_targets = false;

    snprintf(path, sizeof path, "%s/config/flags.json", env_dir("GK_SOURCE_DIR"));
    snap = must_load(path, 1);
    n = gkd_snapshot_count(snap);
    ck_assert_uint_ge(n, 4);
    ck_assert_uint_le(n, 6);
    for (size_t i = 0; i < n; i++) {
        const gkd_flag *f = gkd_snapshot_flag_at(snap, i);
        has_disabled |= f->disabled;
        has_prereq |= f->n_prereqs > 0;
        has_rollout |= f->rollout != NULL;
        has_targets |= f->n_targets > 0;
        ck_assert_ptr_nonnull(f->description);
        ck_assert_ptr_nonnull(f->owner);
    }
    ck_assert(has_disabled && has_prereq && has_rollout && has_targets);
    gkd_snapshot_rele(snap);
}
END_TEST

/* ---- scale ------------------------------------------------------------------------------ */

START_TEST(test_ten_thousand_flags)
{
    const size_t n = 10000;
    json_t *flags = json_object();
    json_t *doc = json_pack("{s:o}", "flags", flags);
    gkd_snapshot *snap;
    gk_diag diag = {0};
    char key[64];

    ck_assert_ptr_nonnull(doc);
    for (size_t i = 0; i < n; i++) {
        /* Inserted in reverse key order, so the build really has to sort. */
        snprintf(key, sizeof key, "svc.%05zu.feature", n - 1 - i);
        json_object_set_new(flags, key,
                            json_pack("{s:{s:b,s:b},s:s,s:[{s:s,s:[{s:s,s:s,s:s}],s:s}],"
                                      "s:{s:i,s:i}}",
                                      "variants", "off", 0, "on", 1, "defaultVariant", "off",
                                      "rules", "id", "beta", "clauses", "attribute", "plan", "op",
                                      "equals", "value", "beta", "variant", "on", "rollout", "off",
                                      90000, "on", 10000));
    }
    ck_assert_uint_eq(json_object_size(flags), n);
    /* How long this takes is the benchmark's business (bench/), not a test's. */
    ck_assert_msg(gkd_snapshot_build(&snap, doc, 1, "generated", &diag) == GK_OK, "%s", diag.text);
    ck_assert_uint_eq(gkd_snapshot_count(snap), n);
    for (size_t i = 0; i < n; i++) {
        const gkd_flag *f;
        snprintf(key, sizeof key, "svc.%05zu.feature", i);
        f = gkd_snapshot_find(snap, key, strlen(key));
        ck_assert_msg(f != NULL, "%s not found", key);
        ck_assert_str_eq(f->key, key);
        ck_assert_ptr_eq(gkd_snapshot_flag_at(snap, i), f); /* key order */
    }
    json_decref(doc);
    gkd_snapshot_rele(snap);
}
END_TEST

START_TEST(test_too_many_flags)
{
    json_t *flags = json_object();
    json_t *def = json_pack("{s:{s:b},s:s}", "variants", "on", 1, "defaultVariant", "on");
    json_t *doc = json_pack("{s:o}", "flags", flags);
    gkd_snapshot *snap;
    gk_diag diag = {0};
    char key[32];

    for (unsigned i = 0; i <= GKD_SNAPSHOT_MAX_FLAGS; i++) {
        snprintf(key, sizeof key, "f%u", i);
        json_object_set(flags, key, def);
    }
    ck_assert_int_eq(gkd_snapshot_build(&snap, doc, 1, "big", &diag), GK_EPROTO);
    ck_assert_ptr_nonnull(strstr(diag.text, "at most 100000"));
    json_decref(def);
    json_decref(doc);
}
END_TEST

/* ---- allocation failure inside jansson (json_deep_copy of variant values and lists) ------- */

static atomic_long alloc_budget;

static void *
failing_malloc(size_t size)
{
    if (atomic_fetch_sub(&alloc_budget, 1) <= 0) {
        return NULL;
    }
    return malloc(size);
}

START_TEST(test_jansson_alloc_failure)
{
    char path[512];
    json_t *doc;
    long n;

    snprintf(path, sizeof path, "%s/flags/valid/everything.json", env_dir("GK_TEST_DATA"));
    doc = json_load_file(path, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    json_set_alloc_funcs(failing_malloc, free);
    for (n = 0; n < 10000; n++) {
        gkd_snapshot *snap;
        gk_diag diag = {0};
        gk_err rv;
        atomic_store(&alloc_budget, n);
        rv = gkd_snapshot_build(&snap, doc, 1, "chaos", &diag);
        if (rv == GK_OK) {
            gkd_snapshot_rele(snap);
            break;
        }
        ck_assert_int_eq(rv, GK_ENOMEM);
        ck_assert_int_eq(diag.code, GK_ENOMEM);
        ck_assert_ptr_null(snap);
    }
    json_set_alloc_funcs(malloc, free);
    ck_assert_int_gt(n, 5); /* the document's values really were copied through jansson */
    ck_assert_int_lt(n, 10000);
    json_decref(doc);
}
END_TEST

/* ---- threads ---------------------------------------------------------------------------- */

#define N_THREADS 6

static gkd_snapshot *
versioned_snapshot(uint64_t version)
{
    json_t *doc =
        json_pack("{s:{s:{s:{s:I},s:s},s:{s:{s:b,s:b},s:s,s:{s:i,s:i}}}}", "flags", "build",
                  "variants", "v", (json_int_t) version, "defaultVariant", "v", "split", "variants",
                  "off", 0, "on", 1, "defaultVariant", "off", "rollout", "off", 50000, "on", 50000);
    gkd_snapshot *snap;
    gk_diag diag = {0};

    ck_assert_ptr_nonnull(doc);
    ck_assert_msg(gkd_snapshot_build(&snap, doc, version, "gen", &diag) == GK_OK, "%s", diag.text);
    json_decref(doc);
    return snap;
}

static void *
hold_rele_worker(void *arg)
{
    gkd_snapshot *snap = arg;

    for (int i = 0; i < 100000; i++) {
        gkd_snapshot *h = gkd_snapshot_hold(snap);
        if (gkd_snapshot_count(h) != 2) {
            abort();
        }
        gkd_snapshot_rele(h);
    }
    return NULL;
}

START_TEST(test_hold_rele_threads)
{
    gkd_snapshot *snap = versioned_snapshot(1);
    pthread_t t[N_THREADS];

    for (int i = 0; i < N_THREADS; i++) {
        gkd_snapshot_hold(snap); /* each thread drops one extra reference at the end */
        ck_assert_int_eq(pthread_create(&t[i], NULL, hold_rele_worker, snap), 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
        gkd_snapshot_rele(snap);
    }
    ck_assert_uint_eq(gkd_snapshot_version(snap), 1);
    gkd_snapshot_rele(snap); /* the last: freed (a leak or double free shows under ASan) */
}
END_TEST

/* The slot (slot.h) holding snapshots, as the daemon uses it. */
static gkd_slot slot;
static atomic_bool stop_readers;
static atomic_long reads_done;

static void *
slot_reader(void *arg)
{
    uint64_t last = 0;
    json_t *ctx = json_pack("{s:s}", "targetingKey", "tenant-42");

    (void) arg;
    while (!atomic_load(&stop_readers)) {
        gkd_snapshot *snap = gkd_slot_acquire(&slot);
        gkd_decision d;
        if (snap == NULL) {
            continue;
        }
        /* Versions only move forward, and a snapshot is seen whole (value = its version). */
        if (gkd_snapshot_version(snap) < last) {
            abort();
        }
        last = gkd_snapshot_version(snap);
        gkd_engine_eval_key(snap, "build", 5, ctx, &d);
        if (d.reason != GK_REASON_STATIC || (uint64_t) json_integer_value(d.value) != last) {
            abort();
        }
        gkd_engine_eval_key(snap, "split", 5, ctx, &d);
        if (d.reason != GK_REASON_SPLIT) {
            abort();
        }
        gkd_snapshot_rele(snap);
        atomic_fetch_add(&reads_done, 1);
    }
    json_decref(ctx);
    return NULL;
}

START_TEST(test_slot_swap_threads)
{
    pthread_t t[N_THREADS];

    ck_assert_int_eq(gkd_snapshot_slot_init(&slot), GK_OK);
    ck_assert_ptr_null(gkd_slot_acquire(&slot));
    atomic_store(&stop_readers, false);
    atomic_store(&reads_done, 0);
    for (int i = 0; i < N_THREADS; i++) {
        ck_assert_int_eq(pthread_create(&t[i], NULL, slot_reader, NULL), 0);
    }
    for (uint64_t v = 1; v <= 300; v++) {
        gkd_slot_swap_take(&slot, versioned_snapshot(v));
    }
    while (atomic_load(&reads_done) < 1000) {
        sched_yield();
    }
    atomic_store(&stop_readers, true);
    for (int i = 0; i < N_THREADS; i++) {
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    }
    {
        gkd_snapshot *cur = gkd_slot_acquire(&slot);
        ck_assert_uint_eq(gkd_snapshot_version(cur), 300);
        gkd_snapshot_rele(cur);
    }
    /* A reader keeps an old snapshot alive across a swap. */
    {
        gkd_snapshot *old = gkd_slot_acquire(&slot);
        gkd_slot_swap_take(&slot, versioned_snapshot(301));
        ck_assert_uint_eq(gkd_snapshot_version(old), 300);
        ck_assert_ptr_nonnull(gkd_snapshot_find(old, "build", 5));
        gkd_snapshot_rele(old);
    }
    gkd_slot_fini(&slot);
}
END_TEST

START_TEST(test_slot_empty_fini)
{
    gkd_slot s;

    ck_assert_int_eq(gkd_snapshot_slot_init(&s), GK_OK);
    gkd_slot_swap_take(&s, NULL);
    ck_assert_ptr_null(gkd_slot_acquire(&s));
    gkd_slot_fini(&s);
    gkd_snapshot_rele(NULL);
    ck_assert_ptr_null(gkd_snapshot_hold(NULL));
}
END_TEST

/*
 * gkd_snapshot_rebuild takes over the compiled flags whose definition is the same JSON value and
 * that have no prerequisites, parses the rest, gives the same snapshot a build from scratch would,
 * and either snapshot may be released first.
 */
START_TEST(test_rebuild_takes_over_unchanged_flags)
{
    json_error_t jerr;
    json_t *doc1 = json_loads(
        "{\"flags\": {"
        "\"a\": {\"variants\": {\"off\": false, \"on\": true}, \"defaultVariant\": \"on\"},"
        "\"b\": {\"variants\": {\"off\": false, \"on\": true}, \"defaultVariant\": \"off\","
        "        \"rollout\": {\"off\": 50000, \"on\": 50000}},"
        "\"c\": {\"variants\": {\"off\": false, \"on\": true}, \"defaultVariant\": \"off\","
        "        \"prerequisites\": [{\"flag\": \"b\", \"variants\": [\"on\"]}]}}}",
        0, &jerr);
    json_t *doc2, *flags2, *b2;
    gkd_snapshot *s1 = NULL, *s2 = NULL, *fresh = NULL;
    const gkd_flag *f1, *f2;
    gk_diag d = {0};

    ck_assert_msg(doc1 != NULL, "%s", jerr.text);
    ck_assert_int_eq(gkd_snapshot_build(&s1, doc1, 1, "rebuild", &d), GK_OK);
    /* Copy-on-write, as a change does it: new maps, "b" replaced, "a" and "c" the same values. */
    doc2 = json_copy(doc1);
    flags2 = json_copy(json_object_get(doc1, "flags"));
    b2 = json_deep_copy(json_object_get(flags2, "b"));
    json_object_set_new(json_object_get(b2, "rollout"), "on", json_integer(100000));
    json_object_set_new(json_object_get(b2, "rollout"), "off", json_integer(0));
    json_object_set_new(flags2, "b", b2);
    json_object_set_new(doc2, "flags", flags2);
    ck_assert_int_eq(gkd_snapshot_rebuild(&s2, s1, doc2, 2, "rebuild", &d), GK_OK);
    ck_assert_int_eq(gkd_snapshot_build(&fresh, doc2, 2, "rebuild", &d), GK_OK);
    ck_assert_uint_eq(gkd_snapshot_count(s2), 3);
    ck_assert_uint_eq(gkd_snapshot_version(s2), 2);

    /* "a": unchanged, no prerequisites: its allocations are shared. */
    f1 = gkd_snapshot_find(s1, "a", 1);
    f2 = gkd_snapshot_find(s2, "a", 1);
    ck_assert_ptr_ne(f1, f2);
    ck_assert_ptr_eq(f1->key, f2->key);
    ck_assert_ptr_eq(f1->variants, f2->variants);
    /* "b": changed, so parsed again, with the new weights. */
    f1 = gkd_snapshot_find(s1, "b", 1);
    f2 = gkd_snapshot_find(s2, "b", 1);
    ck_assert_ptr_ne(f1->key, f2->key);
    ck_assert_uint_eq(f2->rollout[1], 100000);
    ck_assert_uint_eq(f1->rollout[1], 50000);
    /* "c": unchanged but with a prerequisite: parsed again, pointing into its own snapshot. */
    f1 = gkd_snapshot_find(s1, "c", 1);
    f2 = gkd_snapshot_find(s2, "c", 1);
    ck_assert_ptr_ne(f1->prereqs, f2->prereqs);
    ck_assert_ptr_eq(f2->prereqs[0].flag, gkd_snapshot_find(s2, "b", 1));
    ck_assert_ptr_eq(f1->prereqs[0].flag, gkd_snapshot_find(s1, "b", 1));
    /* The same as a build from scratch, field by field where the build sets them. */
    for (size_t i = 0; i < 3; i++) {
        const gkd_flag *x = gkd_snapshot_flag_at(s2, i), *y = gkd_snapshot_flag_at(fresh, i);
        ck_assert_str_eq(x->key, y->key);
        ck_assert_uint_eq(x->n_variants, y->n_variants);
        ck_assert_uint_eq(x->default_variant, y->default_variant);
        ck_assert_uint_eq(x->prereq_depth, y->prereq_depth);
        ck_assert_uint_eq(x->prereq_evals, y->prereq_evals);
        ck_assert_int_eq(x->is_static, y->is_static);
        ck_assert_int_eq(memcmp(x->salt, y->salt, sizeof(x->salt)), 0);
    }
    /* The older one first: the newer keeps the shared flag (ASan would see a use after free). */
    gkd_snapshot_rele(s1);
    json_decref(doc1);
    ck_assert_str_eq(gkd_snapshot_find(s2, "a", 1)->variants[1].name, "on");
    /* A third from the second, then the second released first. */
    {
        gkd_snapshot *s3 = NULL;
        ck_assert_int_eq(gkd_snapshot_rebuild(&s3, s2, doc2, 3, "rebuild", &d), GK_OK);
        ck_assert_ptr_eq(gkd_snapshot_find(s3, "b", 1)->rollout,
                         gkd_snapshot_find(s2, "b", 1)->rollout);
        gkd_snapshot_rele(s2);
        ck_assert_uint_eq(gkd_snapshot_find(s3, "b", 1)->rollout[1], 100000);
        gkd_snapshot_rele(s3);
    }
    gkd_snapshot_rele(fresh);
    json_decref(doc2);
}
END_TEST

static Suite *
snapshot_suite(void)
{
    Suite *s = suite_create("snapshot");
    TCase *tc = tcase_create("invalid");

    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_invalid_cases);
    tcase_add_test(tc, test_invalid_needs_no_diag);
    tcase_add_test(tc, test_first_error_wins);
    tcase_add_test(tc, test_load_file_errors);
    tcase_add_test(tc, test_parse_error_position);
    suite_add_tcase(s, tc);

    tc = tcase_create("valid");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_valid_cases);
    tcase_add_test(tc, test_everything_fields);
    tcase_add_test(tc, test_docs_examples_build);
    tcase_add_test(tc, test_shipped_config);
    suite_add_tcase(s, tc);

    tc = tcase_create("scale");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_ten_thousand_flags);
    tcase_add_test(tc, test_too_many_flags);
    tcase_add_test(tc, test_jansson_alloc_failure);
    tcase_add_test(tc, test_rebuild_takes_over_unchanged_flags);
    suite_add_tcase(s, tc);

    tc = tcase_create("threads");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_hold_rele_threads);
    tcase_add_test(tc, test_slot_swap_threads);
    tcase_add_test(tc, test_slot_empty_fini);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr;
    int failed;

    if (sodium_init() < 0) {
        return 1;
    }
    sr = srunner_create(snapshot_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
