/*
 * flag.c - parse one flag definition into a gkd_flag (docs/flags.md). The document is
 * configuration, so the parser is strict: an unknown member, a wrong type or a value out of range
 * is an error that names the flag, the rule if any, the problem and what to write instead.
 *
 * Every error path goes through one "fail" label that calls gkd_flag_fini on the partial flag, so
 * each allocation is recorded in the flag as soon as it is made.
 */
#include "flag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vocab.h"

/*
 * Where an error is: the flag, and the rule when inside one (by id, or by index before its id is
 * known). The diag prefix is formatted only when an error is recorded, so a valid document costs
 * no formatting at all.
 */
typedef struct where {
    const char *flag;
    const char *rule;
    size_t rule_index;
    bool in_rule;
} where;

static gk_err perr(gk_diag *diag, const char *source, const where *w, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static gk_err
perr(gk_diag *diag, const char *source, const where *w, const char *fmt, ...)
{
    char msg[sizeof diag->text];
    char rule[GKD_FLAG_NAME_MAX + 32];
    va_list ap;

    if (diag == NULL || diag->code != GK_OK) {
        return GK_EPROTO;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rule[0] = '\0';
    if (w->in_rule && w->rule != NULL) {
        snprintf(rule, sizeof rule, ": rule \"%.63s\"", w->rule);
    } else if (w->in_rule) {
        snprintf(rule, sizeof rule, ": rules[%zu]", w->rule_index);
    }
    return gkp_diag_set(diag, GK_EPROTO, source, 0, "flag \"%.127s\"%s: %s", w->flag, rule, msg);
}

static const char *const flag_members[] = {
    "description", "owner",         "state",   "variants", "defaultVariant", "salt",
    "bucketBy",    "prerequisites", "targets", "rules",    "rollout",        "metadata",
    "plan",        "optIns",        "kind",    "migration", "backfill",     NULL,
};

/* The stages of a migration flag, in order: its variants (docs/flags.md "Migration flags"). */
static const char *const migration_stages[] = {
    "off", "dualwrite", "shadow", "live", "rampdown", "complete", NULL,
};

static char *
copy_str(const char *s)
{
    size_t n = strlen(s);
    char *p = malloc(n + 1);

    if (p != NULL) {
        memcpy(p, s, n + 1);
    }
    return p;
}

static bool
valid_ident(const char *s, size_t max)
{
    size_t n = 0;
    char c = s[0];

    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
        return false;
    }
    for (; s[n] != '\0'; n++) {
        c = s[n];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            return false;
        }
    }
    return n <= max;
}

bool
gkd_flag_valid_key(const char *key)
{
    return key != NULL && valid_ident(key, GKD_FLAG_KEY_MAX);
}

bool
gkd_flag_valid_name(const char *name)
{
    return name != NULL && valid_ident(name, GKD_FLAG_NAME_MAX);
}

const char *
gkd_flag_key(const gkd_flag *flag)
{
    return flag->key;
}

int
gkd_flag_variant_index(const gkd_flag *flag, const char *name)
{
    for (size_t i = 0; i < flag->n_variants; i++) {
        if (strcmp(flag->variants[i].name, name) == 0) {
            return (int) i;
        }
    }
    return -1;
}

static int
cmp_bytes(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);

    if (c != 0) {
        return c;
    }
    return (an > bn) - (an < bn);
}

int
gkd_flag_find_target(const gkd_flag *flag, const char *key, size_t len)
{
    size_t lo = 0;
    size_t hi = flag->n_targets;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const gkd_target *t = &flag->targets[mid];
        int c = cmp_bytes(key, len, t->key, t->len);
        if (c == 0) {
            return (int) t->variant;
        }
        if (c < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return -1;
}

static int
cmp_target(const void *a, const void *b)
{
    const gkd_target *x = a;
    const gkd_target *y = b;

    return cmp_bytes(x->key, x->len, y->key, y->len);
}

void
gkd_flag_fini(gkd_flag *flag)
{
    if (flag == NULL) {
        return;
    }
    free(flag->key);
    free(flag->description);
    free(flag->owner);
    for (size_t i = 0; i < flag->n_variants; i++) {
        free(flag->variants[i].name);
        json_decref(flag->variants[i].value);
    }
    free(flag->variants);
    free(flag->bucket_by_alloc);
    free(flag->bucket_missing_msg_alloc);
    for (size_t i = 0; i < flag->n_prereqs; i++) {
        gkd_prerequisite *p = &flag->prereqs[i];
        free(p->flag_key);
        for (size_t j = 0; j < p->n_variants; j++) {
            free(p->variants[j]);
        }
        free(p->variants);
        free(p->rule_id);
    }
    free(flag->prereqs);
    for (size_t i = 0; i < flag->n_targets; i++) {
        free(flag->targets[i].key);
    }
    free(flag->targets);
    for (size_t i = 0; i < flag->n_rules; i++) {
        gkd_rule *r = &flag->rules[i];
        for (size_t j = 0; j < r->n_clauses; j++) {
            gkd_clause_fini(&r->clauses[j]);
        }
        free(r->clauses);
        free(r->id);
        free(r->weights);
    }
    free(flag->rules);
    free(flag->rollout);
    memset(flag, 0, sizeof *flag);
}

/* Edit distance, capped: small inputs only (member names). */
static size_t
edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a);
    size_t lb = strlen(b);
    size_t row[33];

    if (la > 32 || lb > 32) {
        return SIZE_MAX;
    }
    for (size_t j = 0; j <= lb; j++) {
        row[j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) {
                best = up + 1;
            }
            if (row[j - 1] + 1 < best) {
                best = row[j - 1] + 1;
            }
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The member of `names` that `word` probably meant (case or a typo or two away), or NULL. */
static const char *
suggest(const char *word, const char *const *names)
{
    const char *best = NULL;
    size_t best_d = 3;

    for (size_t i = 0; names[i] != NULL; i++) {
        size_t d;
        if (strlen(word) == strlen(names[i])) {
            bool same = true;
            for (size_t k = 0; word[k] != '\0' && same; k++) {
                char x = word[k];
                char y = names[i][k];
                x = (x >= 'A' && x <= 'Z') ? (char) (x - 'A' + 'a') : x;
                y = (y >= 'A' && y <= 'Z') ? (char) (y - 'A' + 'a') : y;
                same = x == y;
            }
            if (same) {
                return names[i];
            }
        }
        d = edit_distance(word, names[i]);
        if (d < best_d) {
            best_d = d;
            best = names[i];
        }
    }
    return best;
}

static gk_err
unknown_member(const where *w, const char *member, const char *const *names, const char *source,
               gk_diag *diag)
{
    const char *hint = suggest(member, names);
    char list[200];
    size_t n = 0;

    if (hint != NULL) {
        return perr(diag, source, w, "unknown member \"%.40s\" (did you mean \"%s\"?)", member,
                    hint);
    }
    list[0] = '\0';
    for (size_t i = 0; names[i] != NULL && n < sizeof list; i++) {
        int k = snprintf(list + n, sizeof list - n, "%s%s", i > 0 ? ", " : "", names[i]);
        if (k < 0) {
            break;
        }
        n += (size_t) k;
    }
    return perr(diag, source, w, "unknown member \"%.40s\" (allowed: %s)", member, list);
}

/*
 * One pass over the members of `obj`: slots[i] gets the value of names[i] (NULL when absent);
 * any other member is an error that names it.
 */
static gk_err
collect_members(json_t *obj, const char *const *names, json_t **slots, const where *w,
                const char *source, gk_diag *diag)
{
    const char *member;
    json_t *v;
    size_t i;

    for (i = 0; names[i] != NULL; i++) {
        slots[i] = NULL;
    }
    json_object_foreach (obj, member, v) {
        for (i = 0; names[i] != NULL && strcmp(member, names[i]) != 0; i++) {
        }
        if (names[i] == NULL) {
            return unknown_member(w, member, names, source, diag);
        }
        slots[i] = v;
    }
    return GK_OK;
}

static int
hex_nibble(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static bool
parse_salt(uint8_t salt[GKD_BUCKET_SALT_BYTES], const char *hex, size_t len)
{
    if (len != 2 * GKD_BUCKET_SALT_BYTES) {
        return false;
    }
    for (size_t i = 0; i < GKD_BUCKET_SALT_BYTES; i++) {
        int hi = hex_nibble(hex[2 * i]);
        int lo = hex_nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        salt[i] = (uint8_t) (hi << 4 | lo);
    }
    return true;
}

/*
 * A rollout object {"variant": weight, ...} into n_variants weights in declaration order.
 * Variants it does not name weigh 0.
 */
static gk_err
parse_rollout(uint32_t **out, const gkd_flag *flag, json_t *obj, const where *w, const char *source,
              gk_diag *diag)
{
    const char *name;
    json_t *weight;
    uint64_t sum = 0;
    uint32_t *weights;

    if (!json_is_object(obj) || json_object_size(obj) == 0) {
        return perr(diag, source, w,
                    "\"rollout\" must be an object of variant weights, e.g. "
                    "{\"off\": 95000, \"on\": 5000}");
    }
    json_object_foreach (obj, name, weight) {
        if (gkd_flag_variant_index(flag, name) < 0) {
            return perr(diag, source, w,
                        "rollout names unknown variant \"%.64s\" (declare it in \"variants\")",
                        name);
        }
        if (!json_is_integer(weight) || json_integer_value(weight) < 0 ||
            json_integer_value(weight) > (json_int_t) GKD_BUCKET_SCALE) {
            return perr(diag, source, w,
                        "rollout weight of \"%s\" must be an integer from 0 to 100000 (weights "
                        "are out of 100000; 5%% is 5000)",
                        name);
        }
        sum += (uint64_t) json_integer_value(weight);
    }
    if (sum != GKD_BUCKET_SCALE) {
        return perr(diag, source, w,
                    "rollout weights sum to %llu (they must sum to exactly 100000)",
                    (unsigned long long) sum);
    }
    weights = calloc(flag->n_variants, sizeof *weights);
    if (weights == NULL) {
        return GK_ENOMEM;
    }
    json_object_foreach (obj, name, weight) {
        weights[gkd_flag_variant_index(flag, name)] = (uint32_t) json_integer_value(weight);
    }
    *out = weights;
    return GK_OK;
}

static gk_err
parse_variants(gkd_flag *flag, json_t *variants, const where *w, const char *source, gk_diag *diag)
{
    const char *name;
    json_t *value;

    if (!json_is_object(variants) || json_object_size(variants) == 0 ||
        json_object_size(variants) > GKD_FLAG_MAX_VARIANTS) {
        return perr(diag, source, w,
                    "\"variants\" is required: an object of 1 to %d variants, e.g. "
                    "{\"off\": false, \"on\": true}",
                    GKD_FLAG_MAX_VARIANTS);
    }
    flag->variants = calloc(json_object_size(variants), sizeof *flag->variants);
    if (flag->variants == NULL) {
        return GK_ENOMEM;
    }
    json_object_foreach (variants, name, value) {
        gkd_variant *v = &flag->variants[flag->n_variants];
        if (!gkd_flag_valid_name(name)) {
            return perr(diag, source, w,
                        "variant name \"%.64s\" is invalid (use letters, digits, '.', '_', '-', "
                        "at most 63, starting with a letter or digit)",
                        name);
        }
        v->name = copy_str(name);
        v->value = json_deep_copy(value);
        flag->n_variants++;
        if (v->name == NULL || v->value == NULL) {
            return GK_ENOMEM;
        }
    }
    return GK_OK;
}

static gk_err
parse_prerequisites(gkd_flag *flag, json_t *arr, const where *w, const char *source, gk_diag *diag)
{
    static const char *const members[] = {"flag", "variants", NULL};
    size_t n = json_array_size(arr);
    gk_err rv;

    if (!json_is_array(arr) || n > GKD_FLAG_MAX_PREREQUISITES) {
        return perr(diag, source, w,
                    "\"prerequisites\" must be an array of at most %d "
                    "{\"flag\": key, \"variants\": [names]}",
                    GKD_FLAG_MAX_PREREQUISITES);
    }
    if (n == 0) {
        return GK_OK;
    }
    flag->prereqs = calloc(n, sizeof *flag->prereqs);
    if (flag->prereqs == NULL) {
        return GK_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(arr, i);
        json_t *m[2];
        gkd_prerequisite *pr = &flag->prereqs[i];
        const char *key;
        size_t rid_len;

        if (!json_is_object(p)) {
            return perr(diag, source, w,
                        "prerequisites[%zu] must be an object {\"flag\": key, \"variants\": "
                        "[names]}",
                        i);
        }
        rv = collect_members(p, members, m, w, source, diag);
        if (rv != GK_OK) {
            return rv;
        }
        if (!json_is_string(m[0]) || !gkd_flag_valid_key(json_string_value(m[0]))) {
            return perr(diag, source, w,
                        "prerequisites[%zu]: \"flag\" must be the key of another flag, e.g. "
                        "\"orders.schema_v2\"",
                        i);
        }
        key = json_string_value(m[0]);
        if (strcmp(key, flag->key) == 0) {
            return perr(diag, source, w,
                        "prerequisite cycle %s -> %s (a flag cannot require itself)", key, key);
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(flag->prereqs[j].flag_key, key) == 0) {
                return perr(diag, source, w,
                            "prerequisite \"%s\" is listed twice (merge its variants into one "
                            "entry)",
                            key);
            }
        }
        if (!json_is_array(m[1]) || json_array_size(m[1]) == 0 ||
            json_array_size(m[1]) > GKD_FLAG_MAX_VARIANTS) {
            return perr(diag, source, w,
                        "prerequisite \"%s\": \"variants\" must be a non-empty array of its "
                        "variant names, e.g. [\"on\"]",
                        key);
        }
        pr->flag_key = copy_str(key);
        rid_len = strlen("prerequisite:") + strlen(key) + 1;
        pr->rule_id = malloc(rid_len);
        pr->variants = calloc(json_array_size(m[1]), sizeof *pr->variants);
        flag->n_prereqs++;
        if (pr->flag_key == NULL || pr->rule_id == NULL || pr->variants == NULL) {
            return GK_ENOMEM;
        }
        memcpy(pr->rule_id, "prerequisite:", strlen("prerequisite:"));
        memcpy(pr->rule_id + strlen("prerequisite:"), key, strlen(key) + 1);
        for (size_t j = 0; j < json_array_size(m[1]); j++) {
            json_t *name = json_array_get(m[1], j);
            if (!json_is_string(name) || !gkd_flag_valid_name(json_string_value(name))) {
                return perr(diag, source, w,
                            "prerequisite \"%s\": variants[%zu] must be one of its variant names",
                            key, j);
            }
            pr->variants[j] = copy_str(json_string_value(name));
            pr->n_variants++;
            if (pr->variants[j] == NULL) {
                return GK_ENOMEM;
            }
        }
    }
    return GK_OK;
}

static gk_err
parse_targets(gkd_flag *flag, json_t *obj, const where *w, const char *source, gk_diag *diag)
{
    const char *name;
    json_t *list;
    size_t total = 0;

    if (!json_is_object(obj)) {
        return perr(diag, source, w,
                    "\"targets\" must be an object of variant -> [targetingKey values], e.g. "
                    "{\"on\": [\"tenant-1\"]}");
    }
    json_object_foreach (obj, name, list) {
        if (gkd_flag_variant_index(flag, name) < 0) {
            return perr(diag, source, w,
                        "targets names unknown variant \"%.64s\" (declare it in \"variants\")",
                        name);
        }
        if (!json_is_array(list)) {
            return perr(diag, source, w, "targets \"%s\" must be an array of targetingKey strings",
                        name);
        }
        total += json_array_size(list);
    }
    if (total == 0) {
        return GK_OK;
    }
    flag->targets = calloc(total, sizeof *flag->targets);
    if (flag->targets == NULL) {
        return GK_ENOMEM;
    }
    json_object_foreach (obj, name, list) {
        size_t vi = (size_t) gkd_flag_variant_index(flag, name);
        for (size_t i = 0; i < json_array_size(list); i++) {
            json_t *k = json_array_get(list, i);
            gkd_target *t = &flag->targets[flag->n_targets];
            if (!json_is_string(k) || json_string_length(k) == 0) {
                return perr(diag, source, w,
                            "targets \"%s\"[%zu] must be a non-empty string (a targetingKey; "
                            "write numbers as \"42\")",
                            name, i);
            }
            t->len = json_string_length(k);
            t->key = malloc(t->len + 1);
            if (t->key == NULL) {
                return GK_ENOMEM;
            }
            memcpy(t->key, json_string_value(k), t->len + 1);
            t->variant = vi;
            flag->n_targets++;
        }
    }
    qsort(flag->targets, flag->n_targets, sizeof *flag->targets, cmp_target);
    for (size_t i = 1; i < flag->n_targets; i++) {
        const gkd_target *a = &flag->targets[i - 1];
        const gkd_target *b = &flag->targets[i];
        if (cmp_target(a, b) == 0) {
            return perr(diag, source, w,
                        "targetingKey \"%.40s\" is listed twice in targets (under \"%s\" and "
                        "\"%s\"; keep one)",
                        a->key, flag->variants[a->variant].name, flag->variants[b->variant].name);
        }
    }
    return GK_OK;
}

enum { RULE_ID, RULE_CLAUSES, RULE_VARIANT, RULE_ROLLOUT, RULE_N };

static gk_err
parse_rule(gkd_flag *flag, gkd_rule *rule, size_t index, json_t *obj, const char *source,
           gk_diag *diag)
{
    static const char *const members[] = {"id", "clauses", "variant", "rollout", NULL};
    where w = {flag->key, NULL, index, true};
    json_t *m[RULE_N];
    const char *id;
    size_t n;
    gk_err rv;

    if (!json_is_object(obj)) {
        return perr(diag, source, &w,
                    "must be an object {\"id\", \"clauses\", \"variant\" or \"rollout\"}");
    }
    /* Name the rule by its id in every error, unknown members included, when it has one. */
    if (json_is_string(json_object_get(obj, "id")) &&
        gkd_flag_valid_name(json_string_value(json_object_get(obj, "id")))) {
        w.rule = json_string_value(json_object_get(obj, "id"));
    }
    rv = collect_members(obj, members, m, &w, source, diag);
    if (rv != GK_OK) {
        return rv;
    }
    if (!json_is_string(m[RULE_ID]) || !gkd_flag_valid_name(json_string_value(m[RULE_ID]))) {
        return perr(diag, source, &w,
                    "\"id\" is required: letters, digits, '.', '_', '-', at most 63, e.g. "
                    "\"gold-plan\"");
    }
    id = json_string_value(m[RULE_ID]);
    w.rule = id;
    if (strcmp(id, GKD_FLAG_RULE_ID_TARGETS) == 0) {
        return perr(diag, source, &w,
                    "the id \"targets\" is reserved for individual targets (choose another id)");
    }
    for (size_t i = 0; i < index; i++) {
        if (strcmp(flag->rules[i].id, id) == 0) {
            return perr(diag, source, &w,
                        "duplicate rule id (rule ids must be unique in a flag; rename one)");
        }
    }
    if ((m[RULE_VARIANT] == NULL) == (m[RULE_ROLLOUT] == NULL)) {
        return perr(diag, source, &w, "a rule needs exactly one of \"variant\" and \"rollout\"%s",
                    m[RULE_VARIANT] != NULL ? " (remove one)" : "");
    }
    n = json_array_size(m[RULE_CLAUSES]);
    if (!json_is_array(m[RULE_CLAUSES]) || n == 0 || n > GKD_FLAG_MAX_CLAUSES) {
        return perr(diag, source, &w,
                    "\"clauses\" is required: an array of 1 to %d clauses, all of which must "
                    "match",
                    GKD_FLAG_MAX_CLAUSES);
    }
    rule->variant = GKD_RULE_ROLLOUT;
    rule->id = copy_str(id);
    rule->clauses = calloc(n, sizeof *rule->clauses);
    if (rule->id == NULL || rule->clauses == NULL) {
        return GK_ENOMEM;
    }
    if (m[RULE_VARIANT] != NULL) {
        int vi = json_is_string(m[RULE_VARIANT])
                     ? gkd_flag_variant_index(flag, json_string_value(m[RULE_VARIANT]))
                     : -1;
        if (vi < 0) {
            return perr(diag, source, &w,
                        "\"variant\" must name a declared variant (one of \"variants\")");
        }
        rule->variant = (size_t) vi;
    } else {
        rv = parse_rollout(&rule->weights, flag, m[RULE_ROLLOUT], &w, source, diag);
        if (rv != GK_OK) {
            return rv;
        }
    }
    for (size_t i = 0; i < n; i++) {
        rv = gkd_clause_parse(&rule->clauses[i], json_array_get(m[RULE_CLAUSES], i), flag->key,
                              rule->id, i, source, diag);
        if (rv != GK_OK) {
            return rv;
        }
        rule->n_clauses++;
    }
    return GK_OK;
}

static gk_err
parse_rules(gkd_flag *flag, json_t *arr, const where *w, const char *source, gk_diag *diag)
{
    size_t n = json_array_size(arr);
    gk_err rv;

    if (!json_is_array(arr) || n > GKD_FLAG_MAX_RULES) {
        return perr(diag, source, w, "\"rules\" must be an array of at most %d rules",
                    GKD_FLAG_MAX_RULES);
    }
    if (n == 0) {
        return GK_OK;
    }
    flag->rules = calloc(n, sizeof *flag->rules);
    if (flag->rules == NULL) {
        return GK_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        /* Count the rule first so that fini releases what a failed parse_rule left behind. */
        flag->n_rules++;
        rv = parse_rule(flag, &flag->rules[i], i, json_array_get(arr, i), source, diag);
        if (rv != GK_OK) {
            return rv;
        }
    }
    return GK_OK;
}

static gk_err
optional_string(char **out, json_t *v, const char *member, const where *w, const char *source,
                gk_diag *diag)
{
    if (v == NULL) {
        return GK_OK;
    }
    if (!json_is_string(v)) {
        return perr(diag, source, w, "\"%s\" must be a string", member);
    }
    *out = copy_str(json_string_value(v));
    return *out == NULL ? GK_ENOMEM : GK_OK;
}

/* The default bucketing attribute and its message are shared, not copied per flag. */
static const char default_missing_msg[] =
    "bucketing attribute \"" GKD_FLAG_TARGETING_KEY
    "\" is missing from the context (or is not a string or an integer)";

static gk_err
set_bucket_by(gkd_flag *flag, json_t *v, const where *w, const char *source, gk_diag *diag)
{
    static const char fmt[] = "bucketing attribute \"%s\" is missing from the context (or is "
                              "not a string or an integer)";
    const char *attr;
    int n;

    if (v == NULL ||
        (json_is_string(v) && strcmp(json_string_value(v), GKD_FLAG_TARGETING_KEY) == 0)) {
        flag->bucket_by = GKD_FLAG_TARGETING_KEY;
        flag->bucket_missing_msg = default_missing_msg;
        return GK_OK;
    }
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        json_string_length(v) > GKD_CLAUSE_ATTRIBUTE_MAX ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        return perr(diag, source, w,
                    "\"bucketBy\" must name a context attribute, e.g. \"tenantId\" (default "
                    "\"targetingKey\")");
    }
    attr = json_string_value(v);
    n = snprintf(NULL, 0, fmt, attr);
    flag->bucket_by_alloc = copy_str(attr);
    flag->bucket_missing_msg_alloc = malloc((size_t) n + 1);
    if (flag->bucket_by_alloc == NULL || flag->bucket_missing_msg_alloc == NULL) {
        return GK_ENOMEM;
    }
    snprintf(flag->bucket_missing_msg_alloc, (size_t) n + 1, fmt, attr);
    flag->bucket_by = flag->bucket_by_alloc;
    flag->bucket_missing_msg = flag->bucket_missing_msg_alloc;
    return GK_OK;
}

/*
 * "plan": a staged rollout the admin plane steps through (gkctl rollout plan/advance/back):
 * {"variant": V, "steps": [percent, ...] strictly increasing in (0, 100], "holdSeconds": n >= 0,
 * "step": index of the current step or -1 before the first, "paused": bool, "stepAt": unix s}.
 * The engine does not read it: the rollout it sets is what decides.
 */
static gk_err
check_plan(const gkd_flag *flag, json_t *plan, const where *w, const char *source, gk_diag *diag)
{
    const json_t *variant = json_object_get(plan, "variant");
    const json_t *steps = json_object_get(plan, "steps");
    const json_t *hold = json_object_get(plan, "holdSeconds");
    const json_t *step = json_object_get(plan, "step");
    const json_t *paused = json_object_get(plan, "paused");
    const json_t *at = json_object_get(plan, "stepAt");
    const json_t *pct;
    double last = 0;
    size_t i;

    if (!json_is_object(plan) || !json_is_string(variant) ||
        gkd_flag_variant_index(flag, json_string_value(variant)) < 0) {
        return perr(diag, source, w,
                    "\"plan\" must be an object whose \"variant\" names one of the flag's variants");
    }
    if (!json_is_array(steps) || json_array_size(steps) == 0 || json_array_size(steps) > 100) {
        return perr(diag, source, w, "\"plan\".\"steps\" must be 1 to 100 percentages");
    }
    json_array_foreach(steps, i, pct)
    {
        if (!json_is_number(pct) || json_number_value(pct) <= last ||
            json_number_value(pct) > 100) {
            return perr(diag, source, w,
                        "\"plan\".\"steps\" must increase strictly within (0, 100], e.g. "
                        "[1, 5, 25, 100]");
        }
        last = json_number_value(pct);
    }
    if ((hold != NULL && (!json_is_integer(hold) || json_integer_value(hold) < 0)) ||
        (step != NULL && (!json_is_integer(step) || json_integer_value(step) < -1 ||
                          json_integer_value(step) >= (json_int_t) json_array_size(steps))) ||
        (paused != NULL && !json_is_boolean(paused)) ||
        (at != NULL && !json_is_integer(at))) {
        return perr(diag, source, w,
                    "\"plan\": \"holdSeconds\" is an integer >= 0, \"step\" an index into "
                    "\"steps\" or -1, \"paused\" a boolean, \"stepAt\" unix seconds");
    }
    return GK_OK;
}

/* "optIns": the consumers (service names) that opted in to this flag's new path. */
static gk_err
check_opt_ins(const json_t *opt_ins, const where *w, const char *source, gk_diag *diag)
{
    const json_t *name;
    size_t i;

    if (!json_is_array(opt_ins)) {
        return perr(diag, source, w, "\"optIns\" must be a list of consumer names");
    }
    json_array_foreach(opt_ins, i, name)
    {
        if (!json_is_string(name) || !gkd_flag_valid_key(json_string_value(name))) {
            return perr(diag, source, w, "\"optIns\"[%zu] is not a consumer name", i);
        }
    }
    return GK_OK;
}

/*
 * "migration": {"schema": name, "from": v, "to": v, "checkRatio": n >= 1,
 * "completeAfterSeconds": s >= 0}. The engine does not read it; the policies do.
 */
static gk_err
check_migration(const json_t *mig, const where *w, const char *source, gk_diag *diag)
{
    static const char *const members[] = {"schema", "from", "to", "checkRatio",
                                          "completeAfterSeconds", NULL};
    json_t *m[5];
    gk_err rv;

    if (!json_is_object(mig)) {
        return perr(diag, source, w,
                    "a migration flag needs \"migration\": {\"schema\": \"orders\", \"from\": 1, "
                    "\"to\": 2}");
    }
    rv = collect_members((json_t *) (uintptr_t) mig, members, m, w, source, diag);
    if (rv != GK_OK) {
        return rv;
    }
    if (!json_is_string(m[0]) || !gkd_flag_valid_key(json_string_value(m[0]))) {
        return perr(diag, source, w,
                    "\"migration\".\"schema\" must name the schema migrated, e.g. \"orders\"");
    }
    if (!json_is_integer(m[1]) || json_integer_value(m[1]) < 1 || !json_is_integer(m[2]) ||
        json_integer_value(m[2]) <= json_integer_value(m[1])) {
        return perr(diag, source, w,
                    "\"migration\": \"from\" and \"to\" must be schema versions (integers >= 1) "
                    "with \"to\" above \"from\", e.g. \"from\": 1, \"to\": 2");
    }
    if (m[3] != NULL && (!json_is_integer(m[3]) || json_integer_value(m[3]) < 1)) {
        return perr(diag, source, w,
                    "\"migration\".\"checkRatio\" must be an integer >= 1 (compare 1 in N "
                    "shadow and live reads; default 1)");
    }
    if (m[4] != NULL && (!json_is_integer(m[4]) || json_integer_value(m[4]) < 0)) {
        return perr(diag, source, w,
                    "\"migration\".\"completeAfterSeconds\" must be an integer >= 0 (default "
                    "300)");
    }
    return GK_OK;
}

/* "backfill": {"complete": bool, "at": unix s, "by": actor}, maintained by the admin plane. */
static gk_err
check_backfill(const json_t *b, const where *w, const char *source, gk_diag *diag)
{
    static const char *const members[] = {"complete", "at", "by", NULL};
    json_t *m[3];
    gk_err rv;

    if (!json_is_object(b)) {
        return perr(diag, source, w,
                    "\"backfill\" must be an object {\"complete\": bool, \"at\": unix seconds, "
                    "\"by\": actor} (`gkctl backfill done` sets it)");
    }
    rv = collect_members((json_t *) (uintptr_t) b, members, m, w, source, diag);
    if (rv != GK_OK) {
        return rv;
    }
    if ((m[0] != NULL && !json_is_boolean(m[0])) || (m[1] != NULL && !json_is_integer(m[1])) ||
        (m[2] != NULL && !json_is_string(m[2]))) {
        return perr(diag, source, w,
                    "\"backfill\": \"complete\" is a boolean, \"at\" unix seconds, \"by\" an "
                    "actor id");
    }
    return GK_OK;
}

/* The variants of a migration flag, given or filled in; refused unless exactly the six stages. */
static gk_err
migration_variants(json_t **out, const json_t *given, const where *w, const char *source,
                   gk_diag *diag)
{
    const char *name;
    json_t *value;
    size_t i = 0;

    if (given == NULL) {
        *out = json_object();
        for (i = 0; *out != NULL && migration_stages[i] != NULL; i++) {
            if (json_object_set_new(*out, migration_stages[i],
                                    json_string(migration_stages[i])) != 0) {
                json_decref(*out);
                *out = NULL;
            }
        }
        return *out != NULL ? GK_OK : GK_ENOMEM;
    }
    if (json_is_object(given)) {
        json_object_foreach ((json_t *) (uintptr_t) given, name, value) {
            if (migration_stages[i] == NULL || strcmp(name, migration_stages[i]) != 0 ||
                !json_is_string(value) || strcmp(json_string_value(value), name) != 0) {
                break;
            }
            i++;
        }
        if (migration_stages[i] == NULL && json_object_size(given) == i) {
            *out = json_incref((json_t *) (uintptr_t) given);
            return GK_OK;
        }
    }
    return perr(diag, source, w,
                "the variants of a migration flag are its six stages, in order: {\"off\": \"off\", "
                "\"dualwrite\": \"dualwrite\", \"shadow\": \"shadow\", \"live\": \"live\", "
                "\"rampdown\": \"rampdown\", \"complete\": \"complete\"} (or leave "
                "\"variants\" out)");
}

enum {
    M_DESCRIPTION,
    M_OWNER,
    M_STATE,
    M_VARIANTS,
    M_DEFAULT_VARIANT,
    M_SALT,
    M_BUCKET_BY,
    M_PREREQUISITES,
    M_TARGETS,
    M_RULES,
    M_ROLLOUT,
    M_METADATA,
    M_PLAN,
    M_OPT_INS,
    M_KIND,
    M_MIGRATION,
    M_BACKFILL,
    M_N
};

gk_err
gkd_flag_parse(gkd_flag *flag, const char *key, json_t *def, const char *source, gk_diag *diag)
{
    where w = {key, NULL, 0, false};
    json_t *m[M_N];
    json_t *v;
    json_t *variants = NULL;
    bool migration = false;
    int di;
    gk_err rv;

    memset(flag, 0, sizeof *flag);
    if (!gkd_flag_valid_key(key)) {
        return perr(diag, source, &w,
                    "invalid key (use letters, digits, '.', '_', '-', at most 127, starting "
                    "with a letter or digit)");
    }
    if (!json_is_object(def)) {
        return perr(diag, source, &w,
                    "the definition must be an object with at least \"variants\" and "
                    "\"defaultVariant\"");
    }
    rv = collect_members(def, flag_members, m, &w, source, diag);
    if (rv != GK_OK) {
        return rv;
    }
    /* Metadata is for policies (read through the snapshot's state), not for evaluation. */
    if (m[M_METADATA] != NULL && !json_is_object(m[M_METADATA])) {
        return perr(diag, source, &w,
                    "\"metadata\" must be an object, e.g. {\"schema\": \"orders\", "
                    "\"targetVersion\": 2}");
    }
    flag->key_len = strlen(key);
    flag->key = copy_str(key);
    if (flag->key == NULL) {
        rv = GK_ENOMEM;
        goto fail;
    }
    w.flag = flag->key;
    if ((rv = optional_string(&flag->description, m[M_DESCRIPTION], "description", &w, source,
                              diag)) != GK_OK ||
        (rv = optional_string(&flag->owner, m[M_OWNER], "owner", &w, source, diag)) != GK_OK) {
        goto fail;
    }
    v = m[M_STATE];
    if (v != NULL) {
        if (json_is_string(v) && strcmp(json_string_value(v), "DISABLED") == 0) {
            flag->disabled = true;
        } else if (!json_is_string(v) || strcmp(json_string_value(v), "ENABLED") != 0) {
            rv = perr(diag, source, &w,
                      "\"state\" %s%.20s%s is invalid (use \"ENABLED\" or "
                      "\"DISABLED\")",
                      json_is_string(v) ? "\"" : "",
                      json_is_string(v) ? json_string_value(v) : "(not a string)",
                      json_is_string(v) ? "\"" : "");
            goto fail;
        }
    }
    v = m[M_KIND];
    if (v != NULL && !(json_is_string(v) && strcmp(json_string_value(v), "migration") == 0)) {
        rv = perr(diag, source, &w,
                  "\"kind\" may only be \"migration\" (leave it out for an ordinary flag)");
        goto fail;
    }
    migration = v != NULL;
    if (!migration && (m[M_MIGRATION] != NULL || m[M_BACKFILL] != NULL)) {
        rv = perr(diag, source, &w,
                  "\"%s\" belongs to migration flags: add \"kind\": \"migration\" or remove it",
                  m[M_MIGRATION] != NULL ? "migration" : "backfill");
        goto fail;
    }
    if (migration) {
        if ((rv = check_migration(m[M_MIGRATION], &w, source, diag)) != GK_OK ||
            (m[M_BACKFILL] != NULL &&
             (rv = check_backfill(m[M_BACKFILL], &w, source, diag)) != GK_OK)) {
            goto fail;
        }
        if (m[M_BUCKET_BY] == NULL) {
            rv = perr(diag, source, &w,
                      "a migration flag needs \"bucketBy\": the data-partition key its stages "
                      "split by, e.g. \"tenantId\"");
            goto fail;
        }
        if ((rv = migration_variants(&variants, m[M_VARIANTS], &w, source, diag)) != GK_OK) {
            goto fail;
        }
    }
    rv = parse_variants(flag, migration ? variants : m[M_VARIANTS], &w, source, diag);
    json_decref(variants);
    if (rv != GK_OK) {
        goto fail;
    }
    v = m[M_DEFAULT_VARIANT];
    if (v == NULL && migration) {
        flag->default_variant = 0; /* "off" */
    } else if (!json_is_string(v)) {
        rv = perr(diag, source, &w,
                  "\"defaultVariant\" is required: the name of one of its variants, e.g. \"%s\"",
                  flag->variants[0].name);
        goto fail;
    } else {
        di = gkd_flag_variant_index(flag, json_string_value(v));
        if (di < 0) {
            rv = perr(diag, source, &w,
                      "defaultVariant \"%.64s\" is not a declared variant (declare it in "
                      "\"variants\")",
                      json_string_value(v));
            goto fail;
        }
        flag->default_variant = (size_t) di;
    }

    v = m[M_SALT];
    if (v == NULL) {
        gkd_bucket_default_salt(flag->salt, key);
    } else if (!json_is_string(v) ||
               !parse_salt(flag->salt, json_string_value(v), json_string_length(v))) {
        rv = perr(diag, source, &w,
                  "\"salt\" must be 32 hex digits (16 bytes), e.g. "
                  "\"00112233445566778899aabbccddeeff\", or be left out");
        goto fail;
    }
    if ((rv = set_bucket_by(flag, m[M_BUCKET_BY], &w, source, diag)) != GK_OK) {
        goto fail;
    }
    if (m[M_PREREQUISITES] != NULL &&
        (rv = parse_prerequisites(flag, m[M_PREREQUISITES], &w, source, diag)) != GK_OK) {
        goto fail;
    }
    if (m[M_TARGETS] != NULL &&
        (rv = parse_targets(flag, m[M_TARGETS], &w, source, diag)) != GK_OK) {
        goto fail;
    }
    if (m[M_RULES] != NULL && (rv = parse_rules(flag, m[M_RULES], &w, source, diag)) != GK_OK) {
        goto fail;
    }
    if (m[M_ROLLOUT] != NULL &&
        (rv = parse_rollout(&flag->rollout, flag, m[M_ROLLOUT], &w, source, diag)) != GK_OK) {
        goto fail;
    }
    if ((m[M_PLAN] != NULL && (rv = check_plan(flag, m[M_PLAN], &w, source, diag)) != GK_OK) ||
        (m[M_OPT_INS] != NULL &&
         (rv = check_opt_ins(m[M_OPT_INS], &w, source, diag)) != GK_OK)) {
        goto fail;
    }
    flag->is_static =
        flag->n_prereqs == 0 && flag->n_targets == 0 && flag->n_rules == 0 && flag->rollout == NULL;
    return GK_OK;

fail:
    if (rv == GK_ENOMEM) {
        gkp_diag_set(diag, GK_ENOMEM, source, 0, "flag \"%s\": out of memory", key);
    }
    gkd_flag_fini(flag);
    return rv;
}
