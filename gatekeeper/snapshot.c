/*
 * snapshot.c - build an immutable snapshot from a flags document, share it by reference count,
 * and swap it in a slot. See snapshot.h and docs/flags.md.
 *
 * Flags are kept in one array sorted by key bytes: "gkd_snapshot_find" is a binary search, and
 * "gkd_snapshot_flag_at" walks keys in order. Prerequisites are resolved to pointers into that
 * array after sorting, so evaluation never looks a prerequisite up by name.
 *
 * A snapshot built from the one before (gkd_snapshot_rebuild) takes over, instead of parsing
 * again, every flag whose definition is the very same JSON value (the same pointer: the state is
 * copy-on-write and definitions are never modified, store.h) and that has no prerequisites. The
 * "gkd_flag" struct is copied, so the fields the build sets (prereq_depth, prereq_evals) stay
 * per snapshot, and its allocations are shared, counted in a "gkd_flag_share": the last
 * snapshot to let go of them frees them. Flags with prerequisites are always parsed again,
 * because their prerequisites point into their own snapshot's array. One change to 10,000 flags
 * thus parses one flag instead of 10,000.
 *
 * Prerequisite cycles and over-long chains are found with an iterative depth-first search (an
 * explicit stack, so a document of 100000 chained flags cannot overflow the C stack), visiting
 * flags in key order so the reported cycle does not depend on the document's member order.
 */
#include "snapshot.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flag.h"
#include "registry.h"
#include "vocab.h"

/* The owners of one compiled flag's allocations, and the definition it was compiled from. */
typedef struct gkd_flag_share {
    atomic_size_t refs; /* snapshots holding the flag */
    const json_t *def;  /* kept alive by each of those snapshots' "state" */
} gkd_flag_share;

struct gkd_snapshot {
    atomic_size_t refs;
    uint64_t version;
    size_t count;
    gkd_flag *flags; /* sorted by key bytes */
    json_t *state;   /* {"flags": {...}, "schemas": {...}, "consumers": {...}} for the policies */
};

static void
snapshot_free(gkd_snapshot *snap)
{
    for (size_t i = 0; i < snap->count; i++) {
        gkd_flag_share *share = snap->flags[i].share;

        /* Release so our reads happen before the free; acquire (on the last) to see everyone's. */
        if (share == NULL ||
            atomic_fetch_sub_explicit(&share->refs, 1, memory_order_acq_rel) == 1) {
            gkd_flag_fini(&snap->flags[i]);
            free(share);
        }
    }
    free(snap->flags);
    json_decref(snap->state);
    free(snap);
}

static int
cmp_key(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);

    if (c != 0) {
        return c;
    }
    return (an > bn) - (an < bn);
}

static int
cmp_flag(const void *a, const void *b)
{
    const gkd_flag *x = a;
    const gkd_flag *y = b;

    return cmp_key(x->key, x->key_len, y->key, y->key_len);
}

const gkd_flag *
gkd_snapshot_find(const gkd_snapshot *snap, const char *key, size_t len)
{
    size_t lo = 0;
    size_t hi = snap->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const gkd_flag *f = &snap->flags[mid];
        int c = cmp_key(key, len, f->key, f->key_len);
        if (c == 0) {
            return f;
        }
        if (c < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return NULL;
}

/* Resolve every prerequisite's flag and variant names (after the array is sorted). */
static gk_err
resolve_prerequisites(gkd_snapshot *snap, const char *source, gk_diag *diag)
{
    for (size_t i = 0; i < snap->count; i++) {
        gkd_flag *f = &snap->flags[i];
        for (size_t j = 0; j < f->n_prereqs; j++) {
            gkd_prerequisite *p = &f->prereqs[j];
            const gkd_flag *g = gkd_snapshot_find(snap, p->flag_key, strlen(p->flag_key));
            if (g == NULL) {
                return gkp_diag_set(diag, GK_EPROTO, source, 0,
                                    "flag \"%s\": prerequisite \"%s\" is not a flag of this "
                                    "document (define it or remove the prerequisite)",
                                    f->key, p->flag_key);
            }
            p->flag = g;
            p->variant_mask = 0;
            for (size_t k = 0; k < p->n_variants; k++) {
                int vi = gkd_flag_variant_index(g, p->variants[k]);
                if (vi < 0) {
                    return gkp_diag_set(diag, GK_EPROTO, source, 0,
                                        "flag \"%s\": prerequisite \"%s\" has no variant \"%s\" "
                                        "(name one of its variants)",
                                        f->key, p->flag_key, p->variants[k]);
                }
                p->variant_mask |= UINT64_C(1) << vi;
            }
        }
    }
    return GK_OK;
}

/* Appends "a -> b -> c" for the stack entries [from, to) followed by `last` into buf. */
static void
format_chain(char *buf, size_t size, const gkd_snapshot *snap, const size_t *stack, size_t from,
             size_t to, const char *last)
{
    size_t n = 0;

    buf[0] = '\0';
    for (size_t i = from; i < to && n < size; i++) {
        int w = snprintf(buf + n, size - n, "%s -> ", snap->flags[stack[i]].key);
        if (w < 0) {
            return;
        }
        n += (size_t) w;
    }
    if (n < size) {
        snprintf(buf + n, size - n, "%s", last);
    }
}

/* The deepest chain starting at flag `f`, once depths are known. */
static void
format_deepest(char *buf, size_t size, const gkd_snapshot *snap, const gkd_flag *f)
{
    size_t n = 0;

    buf[0] = '\0';
    while (f != NULL && n < size) {
        const gkd_flag *next = NULL;
        int w = snprintf(buf + n, size - n, "%s%s", n > 0 ? " -> " : "", f->key);
        if (w < 0) {
            return;
        }
        n += (size_t) w;
        for (size_t j = 0; j < f->n_prereqs; j++) {
            if (f->prereqs[j].flag->prereq_depth + 1 == f->prereq_depth) {
                next = f->prereqs[j].flag;
                break;
            }
        }
        f = next;
    }
    (void) snap;
}

enum { UNSEEN = 0, ON_STACK, DONE };

static gk_err
check_prerequisite_graph(gkd_snapshot *snap, const char *source, gk_diag *diag)
{
    size_t n = snap->count;
    unsigned char *state = calloc(n > 0 ? n : 1, 1);
    size_t *next = calloc(n > 0 ? n : 1, sizeof *next);
    size_t *stack = calloc(n > 0 ? n : 1, sizeof *stack);
    char chain[1024];
    gk_err rv = GK_OK;

    if (state == NULL || next == NULL || stack == NULL) {
        rv = gkp_diag_set(diag, GK_ENOMEM, source, 0, "out of memory checking prerequisites");
        goto done;
    }
    for (size_t root = 0; root < n; root++) {
        size_t sp = 0;
        if (state[root] != UNSEEN || snap->flags[root].n_prereqs == 0) {
            continue;
        }
        stack[sp++] = root;
        state[root] = ON_STACK;
        while (sp > 0) {
            size_t fi = stack[sp - 1];
            gkd_flag *f = &snap->flags[fi];
            if (next[fi] < f->n_prereqs) {
                size_t gi = (size_t) (f->prereqs[next[fi]++].flag - snap->flags);
                if (state[gi] == ON_STACK) {
                    size_t pos = 0;
                    while (stack[pos] != gi) {
                        pos++;
                    }
                    format_chain(chain, sizeof chain, snap, stack, pos, sp, snap->flags[gi].key);
                    rv = gkp_diag_set(diag, GK_EPROTO, source, 0,
                                      "flag \"%s\": prerequisite cycle %s (remove one of these "
                                      "prerequisites)",
                                      snap->flags[gi].key, chain);
                    goto done;
                }
                if (state[gi] == UNSEEN) {
                    state[gi] = ON_STACK;
                    stack[sp++] = gi;
                }
                continue;
            }
            /* All prerequisites done: depth and expanded evaluation count. */
            f->prereq_depth = 0;
            f->prereq_evals = 1;
            for (size_t j = 0; j < f->n_prereqs; j++) {
                const gkd_flag *g = f->prereqs[j].flag;
                if (g->prereq_depth + 1 > f->prereq_depth) {
                    f->prereq_depth = g->prereq_depth + 1;
                }
                f->prereq_evals += g->prereq_evals;
                if (f->prereq_evals > GKD_FLAG_MAX_PREREQ_EVALS + 1) {
                    f->prereq_evals = GKD_FLAG_MAX_PREREQ_EVALS + 1; /* saturate */
                }
            }
            if (f->prereq_depth > GKD_FLAG_MAX_PREREQ_DEPTH) {
                format_deepest(chain, sizeof chain, snap, f);
                rv = gkp_diag_set(diag, GK_EPROTO, source, 0,
                                  "flag \"%s\": prerequisite chain deeper than %d (%s); shorten "
                                  "it",
                                  f->key, GKD_FLAG_MAX_PREREQ_DEPTH, chain);
                goto done;
            }
            if (f->prereq_evals > GKD_FLAG_MAX_PREREQ_EVALS) {
                rv = gkp_diag_set(diag, GK_EPROTO, source, 0,
                                  "flag \"%s\": its prerequisites expand to more than %d flag "
                                  "evaluations (share fewer prerequisites)",
                                  f->key, GKD_FLAG_MAX_PREREQ_EVALS);
                goto done;
            }
            state[fi] = DONE;
            sp--;
        }
    }

done:
    free(state);
    free(next);
    free(stack);
    return rv;
}

/* The document's top level: "flags" (required), "schemas", "consumers", "$schema" (optional). */
static gk_err
check_sections(const json_t *doc, const char *source, gk_diag *diag)
{
    static const char *const sections[] = {"flags", "schemas", "consumers", "$schema", NULL};
    const char *name;
    json_t *v;
    gk_err rv;

    json_object_foreach((json_t *) (uintptr_t) doc, name, v)
    {
        size_t i = 0;
        while (sections[i] != NULL && strcmp(sections[i], name) != 0) {
            i++;
        }
        if (sections[i] == NULL) {
            return gkp_diag_set(diag, GK_EPROTO, source, 0,
                                "unknown top-level member \"%.40s\" (allowed: flags, schemas, "
                                "consumers, $schema)",
                                name);
        }
    }
    if (json_object_get(doc, "flags") == NULL) {
        return gkp_diag_set(diag, GK_EPROTO, source, 0,
                            "the flags document needs \"flags\": {\"flags\": {\"key\": {...}}}");
    }
    rv = gkd_registry_check_schemas(json_object_get(doc, "schemas"), source, diag);
    if (rv == GK_OK) {
        rv = gkd_registry_check_consumers(json_object_get(doc, "consumers"), source, diag);
    }
    return rv;
}

/*
 * The policies' view of the document. It shares the document's values (json_incref), so the
 * caller must not modify the document after the build; nothing here copies 10,000 definitions.
 */
static gk_err
build_state(gkd_snapshot *snap, const json_t *doc, const char *source, gk_diag *diag)
{
    static const char *const sections[] = {"flags", "schemas", "consumers"};
    json_t *section;

    snap->state = json_object();
    for (size_t i = 0; snap->state != NULL && i < 3; i++) {
        section = json_object_get(doc, sections[i]);
        section = section != NULL ? json_incref(section) : json_object();
        if (json_object_set_new(snap->state, sections[i], section) != 0) {
            json_decref(snap->state);
            snap->state = NULL;
        }
    }
    if (snap->state == NULL) {
        return gkp_diag_set(diag, GK_ENOMEM, source, 0, "out of memory");
    }
    return GK_OK;
}

/* One flag into `f`: taken over from `prev` when it compiled the same definition, else parsed. */
static gk_err
add_flag(gkd_flag *f, const char *key, json_t *def, const gkd_snapshot *prev, const char *source,
         gk_diag *diag)
{
    const gkd_flag *old = prev != NULL ? gkd_snapshot_find(prev, key, strlen(key)) : NULL;
    gk_err rv;

    if (old != NULL && old->share != NULL && old->share->def == def && old->n_prereqs == 0) {
        *f = *old;
        f->prereq_depth = 0; /* as parsed: the build sets them again */
        f->prereq_evals = 0;
        atomic_fetch_add_explicit(&f->share->refs, 1, memory_order_relaxed);
        return GK_OK;
    }
    rv = gkd_flag_parse(f, key, def, source, diag);
    if (rv != GK_OK) {
        return rv;
    }
    f->share = malloc(sizeof *f->share);
    if (f->share == NULL) {
        gkd_flag_fini(f);
        memset(f, 0, sizeof *f);
        return gkp_diag_set(diag, GK_ENOMEM, source, 0, "out of memory");
    }
    atomic_init(&f->share->refs, 1);
    f->share->def = def;
    return GK_OK;
}

gk_err
gkd_snapshot_build(gkd_snapshot **snapp, const json_t *doc, uint64_t version, const char *source,
                   gk_diag *diag)
{
    return gkd_snapshot_rebuild(snapp, NULL, doc, version, source, diag);
}

gk_err
gkd_snapshot_rebuild(gkd_snapshot **snapp, const gkd_snapshot *prev, const json_t *doc,
                     uint64_t version, const char *source, gk_diag *diag)
{
    gkd_snapshot *snap = NULL;
    json_t *flags;
    json_t *def;
    const char *key;
    size_t n;
    gk_err rv;

    *snapp = NULL;
    if (source == NULL) {
        source = "flags";
    }
    if (!json_is_object(doc)) {
        return gkp_diag_set(diag, GK_EPROTO, source, 0,
                            "the flags document must be an object {\"flags\": {...}}");
    }
    rv = check_sections(doc, source, diag);
    if (rv != GK_OK) {
        return rv;
    }
    flags = json_object_get(doc, "flags");
    if (!json_is_object(flags)) {
        return gkp_diag_set(diag, GK_EPROTO, source, 0,
                            "\"flags\" must be an object of flag key -> definition");
    }
    n = json_object_size(flags);
    if (n > GKD_SNAPSHOT_MAX_FLAGS) {
        return gkp_diag_set(diag, GK_EPROTO, source, 0,
                            "the document defines %zu flags; at most %u are allowed", n,
                            GKD_SNAPSHOT_MAX_FLAGS);
    }
    snap = calloc(1, sizeof *snap);
    if (snap == NULL) {
        return gkp_diag_set(diag, GK_ENOMEM, source, 0, "out of memory");
    }
    atomic_init(&snap->refs, 1);
    snap->version = version;
    snap->flags = calloc(n > 0 ? n : 1, sizeof *snap->flags);
    if (snap->flags == NULL) {
        rv = gkp_diag_set(diag, GK_ENOMEM, source, 0, "out of memory");
        goto fail;
    }
    json_object_foreach (flags, key, def) {
        rv = add_flag(&snap->flags[snap->count], key, def, prev, source, diag);
        if (rv != GK_OK) {
            goto fail;
        }
        snap->count++;
    }
    qsort(snap->flags, snap->count, sizeof *snap->flags, cmp_flag);
    rv = resolve_prerequisites(snap, source, diag);
    if (rv != GK_OK) {
        goto fail;
    }
    rv = check_prerequisite_graph(snap, source, diag);
    if (rv != GK_OK) {
        goto fail;
    }
    rv = build_state(snap, doc, source, diag);
    if (rv != GK_OK) {
        goto fail;
    }
    *snapp = snap;
    return GK_OK;

fail:
    snapshot_free(snap);
    return rv;
}

gk_err
gkd_snapshot_read_file(json_t **docp, const char *path, gk_diag *diag)
{
    json_error_t jerr;
    json_t *doc;
    FILE *fp;
    gk_err rv;

    *docp = NULL;
    fp = fopen(path, "rb");
    if (fp == NULL) {
        int e = errno;
        return gkp_diag_set(diag, e == ENOENT ? GK_ENOENT : GK_EIO, path, 0,
                            "cannot open flags file: %s", strerror(e));
    }
    /* Duplicate keys are refused: in a config file the second one is always a mistake. */
    doc = json_loadf(fp, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        bool io = ferror(fp) != 0;
        fclose(fp);
        if (io) {
            return gkp_diag_set(diag, GK_EIO, path, 0, "cannot read flags file");
        }
        if (diag != NULL && diag->code == GK_OK) {
            rv = gkp_diag_set(diag, GK_EPROTO, path, jerr.line, "%s", jerr.text);
            diag->column = jerr.column;
            return rv;
        }
        return GK_EPROTO;
    }
    fclose(fp);
    *docp = doc;
    return GK_OK;
}

gk_err
gkd_snapshot_load_file(gkd_snapshot **snapp, const char *path, uint64_t version, gk_diag *diag)
{
    json_t *doc;
    gk_err rv;

    *snapp = NULL;
    rv = gkd_snapshot_read_file(&doc, path, diag);
    if (rv != GK_OK) {
        return rv;
    }
    rv = gkd_snapshot_build(snapp, doc, version, path, diag);
    json_decref(doc);
    return rv;
}

gkd_snapshot *
gkd_snapshot_hold(gkd_snapshot *snap)
{
    if (snap != NULL) {
        atomic_fetch_add_explicit(&snap->refs, 1, memory_order_relaxed);
    }
    return snap;
}

void
gkd_snapshot_rele(gkd_snapshot *snap)
{
    if (snap == NULL) {
        return;
    }
    /* Release so our reads happen before the free; acquire (on the last) to see everyone's. */
    if (atomic_fetch_sub_explicit(&snap->refs, 1, memory_order_acq_rel) == 1) {
        snapshot_free(snap);
    }
}

/* gkd_snapshot_hold and gkd_snapshot_rele with the signatures a gkd_slot takes. */
static void *
slot_hold(void *snap)
{
    return gkd_snapshot_hold(snap);
}

static void
slot_rele(void *snap)
{
    gkd_snapshot_rele(snap);
}

gk_err
gkd_snapshot_slot_init(gkd_slot *slot)
{
    return gkd_slot_init(slot, slot_hold, slot_rele);
}

uint64_t
gkd_snapshot_version(const gkd_snapshot *snap)
{
    return snap->version;
}

size_t
gkd_snapshot_count(const gkd_snapshot *snap)
{
    return snap->count;
}

const gkd_flag *
gkd_snapshot_flag_at(const gkd_snapshot *snap, size_t i)
{
    return i < snap->count ? &snap->flags[i] : NULL;
}

const json_t *
gkd_snapshot_state(const gkd_snapshot *snap)
{
    return snap->state;
}
