/*
 * bootstrap.c - the flags file as the first recorded change.
 *
 * The file is parsed once. Its definitions go into the record and the store's state by
 * reference (store.h), so a bootstrap of 10,000 flags is in memory once, plus the record's text
 * streamed to the journal, instead of a copy per step.
 */
#include "bootstrap.h"

#include <stdio.h>
#include <string.h>

#include "ops.h"
#include "snapshot.h"
#include "vocab.h"

gk_err
gkd_bootstrap_apply(gkd_store *store, const char *path, gk_diag *diag)
{
    static const struct {
        const char *section, *kind;
    } sections[] = {{"flags", "flag"}, {"schemas", "schema"}, {"consumers", "consumer"}};
    gkd_snapshot *snap = NULL;
    json_t *doc = NULL, *changes = NULL, *args = NULL;
    char why[512];
    const char *key;
    json_t *def;
    gk_err rv;

    /* Built into a snapshot first: the same errors as a start-up on the file. */
    rv = gkd_snapshot_read_file(&doc, path, diag);
    if (rv == GK_OK) {
        rv = gkd_snapshot_build(&snap, doc, 1, path, diag);
        gkd_snapshot_rele(snap);
    }
    if (rv != GK_OK) {
        json_decref(doc);
        return rv;
    }
    changes = json_array();
    rv = changes != NULL ? GK_OK : GK_ENOMEM;
    for (size_t i = 0; rv == GK_OK && i < sizeof(sections) / sizeof(sections[0]); i++) {
        json_object_foreach(json_object_get(doc, sections[i].section), key, def)
        {
            /* Flags as flag.apply would store them (a migration flag's stages filled in). */
            json_t *after = i == 0 ? gkd_ops_normalize_flag(def) : json_incref(def);
            if (after == NULL ||
                json_array_append_new(changes, json_pack("{s:s, s:s, s:n, s:o}", "kind",
                                                         sections[i].kind, "key", key, "before",
                                                         "after", after)) != 0) {
                rv = GK_ENOMEM;
                break;
            }
        }
    }
    snprintf(why, sizeof(why), "bootstrap from %.400s", path);
    args = json_pack("{s:s}", "file", path);
    if (rv == GK_OK && args == NULL) {
        rv = GK_ENOMEM;
    }
    if (rv == GK_OK) {
        const gkd_store_change change = {
            .actor = "system", .op = "bootstrap", .args = args, .why = why, .changes = changes,
        };
        rv = store->ops->commit(store, 0, &change, NULL, diag);
    }
    json_decref(args);
    json_decref(changes);
    json_decref(doc);
    return rv;
}
