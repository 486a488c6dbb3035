/*
 * bootstrap.c - the flags file as the first recorded change.
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
    json_error_t jerr;
    json_t *doc, *changes, *args;
    char why[512];
    const char *key;
    json_t *def;
    gk_err rv;

    /* Reading it through the snapshot first gives the same errors as a start-up on the file. */
    rv = gkd_snapshot_load_file(&snap, path, 1, diag);
    gkd_snapshot_rele(snap);
    if (rv != GK_OK) {
        return rv;
    }
    doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    changes = json_array();
    for (size_t i = 0; doc != NULL && i < sizeof(sections) / sizeof(sections[0]); i++) {
        json_object_foreach(json_object_get(doc, sections[i].section), key, def)
        {
            /* Flags as flag.apply would store them (a migration flag's stages filled in). */
            json_t *after = i == 0 ? gkd_ops_normalize_flag(def) : json_incref(def);
            json_array_append_new(changes, json_pack("{s:s, s:s, s:n, s:o}", "kind",
                                                      sections[i].kind, "key", key, "before",
                                                      "after", after));
        }
    }
    snprintf(why, sizeof(why), "bootstrap from %.400s", path);
    args = json_pack("{s:s}", "file", path);
    rv = doc == NULL ? gkp_diag_set(diag, GK_EIO, path, 0, "cannot read the flags file") : GK_OK;
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
