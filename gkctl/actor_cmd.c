/*
 * actor_cmd.c - `gkctl actor keygen --id ID --team TEAM --roles r1,r2 --out DIR [--actors FILE]`:
 * make an actor's Ed25519 key pair, write the private JWK to DIR/<id>.jwk (mode 0600, never over
 * an existing file) and print the actor's entry for the gatekeeper's actors file
 *   {"id","team","roles":[...],"jwk":{"kty":"OKP","crv":"Ed25519","x","kid"}}
 * With --actors FILE the entry is also added to FILE ({"actors":[...]}), replacing an entry with
 * the same id, and FILE is rewritten atomically (a temporary file, fsync, rename).
 *
 * No gatekeeper is involved: the actors file is the trust root and whoever may write it decides
 * who is an actor. The seed only ever lives in sodium_malloc'd memory and in the key file.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "b64url.h"
#include "gkctl.h"
#include "jwk.h"

/* The kid rule of the key files (keyfile.c): base64url characters and '.', not starting with '.'. */
static int
valid_id(const char *id)
{
    size_t n = strlen(id), i;

    if (n == 0 || n >= GKP_KID_MAX || id[0] == '.') {
        return 0;
    }
    for (i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.')) {
            return 0;
        }
    }
    return 1;
}

/* "a,b" -> ["a","b"]; NULL when an item is empty. */
static json_t *
split_roles(const char *s)
{
    json_t *arr = json_array();
    const char *p = s;

    while (arr != NULL) {
        const char *e = strchr(p, ',');
        size_t n = e != NULL ? (size_t) (e - p) : strlen(p);
        if (n == 0 || json_array_append_new(arr, json_stringn(p, n)) != 0) {
            json_decref(arr);
            return NULL;
        }
        if (e == NULL) {
            break;
        }
        p = e + 1;
    }
    return arr;
}

/* Write text + "\n" to path through path.tmp.<pid> (fsync, rename, fsync of the directory). */
static int
write_atomic(const char *path, const char *text, mode_t mode)
{
    char tmp[PATH_MAX];
    char dir[PATH_MAX];
    size_t len = strlen(text);
    char *slash;
    int fd, ok, err;

    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long) getpid()) >= (int) sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        return -1;
    }
    ok = write(fd, text, len) == (ssize_t) len && write(fd, "\n", 1) == 1 &&
         fchmod(fd, mode) == 0 && fsync(fd) == 0;
    err = errno;
    ok = close(fd) == 0 && ok;
    if (ok && rename(tmp, path) != 0) {
        err = errno;
        ok = 0;
    }
    if (!ok) {
        unlink(tmp);
        errno = err;
        return -1;
    }
    snprintf(dir, sizeof dir, "%s", path);
    slash = strrchr(dir, '/');
    if (slash == dir) {
        slash[1] = '\0';
    } else if (slash != NULL) {
        *slash = '\0';
    } else {
        snprintf(dir, sizeof dir, ".");
    }
    fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    return 0;
}

/* Load FILE as {"actors":[...]} (a missing file is an empty list). NULL after printing why. */
static json_t *
load_actors(const char *path, mode_t *mode)
{
    json_error_t jerr;
    struct stat st;
    json_t *doc, *list, *e;
    size_t i;

    *mode = 0644;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT) {
            return json_pack("{s:[]}", "actors");
        }
        fprintf(stderr, "gkctl actor keygen: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    *mode = st.st_mode & 0777;
    doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        fprintf(stderr, "gkctl actor keygen: %s:%d: %s\n", path, jerr.line, jerr.text);
        return NULL;
    }
    list = json_object_get(doc, "actors");
    if (!json_is_array(list)) {
        fprintf(stderr, "gkctl actor keygen: %s: not an actors file ({\"actors\": [...]})\n",
                path);
        json_decref(doc);
        return NULL;
    }
    json_array_foreach (list, i, e) {
        if (!json_is_string(json_object_get(e, "id"))) {
            fprintf(stderr, "gkctl actor keygen: %s: actors[%zu] has no \"id\"\n", path, i);
            json_decref(doc);
            return NULL;
        }
    }
    return doc;
}

static int
keygen(int argc, char **argv, const gkctl_opts *o)
{
    const char *id = NULL, *team = NULL, *roles_s = NULL, *out = NULL, *actors = NULL;
    uint8_t pk[GKP_ED25519_PK_BYTES];
    uint8_t *sk = NULL;
    char x[64], d[64];
    char path[PATH_MAX];
    json_t *roles = NULL, *doc = NULL, *entry = NULL, *priv = NULL;
    char *text = NULL;
    mode_t actors_mode = 0644;
    int rc = GKCTL_USAGE, fd, replaced = 0;
    size_t len, i;

    for (int k = 1; k < argc; k++) {
        const char **slot = NULL;
        if (strcmp(argv[k], "--id") == 0) {
            slot = &id;
        } else if (strcmp(argv[k], "--team") == 0) {
            slot = &team;
        } else if (strcmp(argv[k], "--roles") == 0) {
            slot = &roles_s;
        } else if (strcmp(argv[k], "--out") == 0) {
            slot = &out;
        } else if (strcmp(argv[k], "--actors") == 0) {
            slot = &actors;
        }
        if (slot == NULL || k + 1 >= argc) {
            fprintf(stderr, "gkctl actor keygen: %s \"%s\"\n",
                    slot == NULL ? "unexpected argument" : "missing value for", argv[k]);
            return gkctl_usage();
        }
        *slot = argv[++k];
    }
    if (id == NULL || team == NULL || roles_s == NULL || out == NULL) {
        fprintf(stderr, "gkctl actor keygen: needs --id ID --team TEAM --roles r1,r2 --out DIR\n");
        return gkctl_usage();
    }
    if (!valid_id(id)) {
        fprintf(stderr, "gkctl actor keygen: --id \"%s\": 1 to 63 characters of A-Z a-z 0-9 - _ . "
                        "(not starting with '.')\n", id);
        return GKCTL_USAGE;
    }
    if (team[0] == '\0') {
        fprintf(stderr, "gkctl actor keygen: --team must not be empty\n");
        return GKCTL_USAGE;
    }
    roles = split_roles(roles_s);
    if (roles == NULL) {
        fprintf(stderr, "gkctl actor keygen: --roles \"%s\": a comma-separated list of role names "
                        "(e.g. release-manager,owner)\n", roles_s);
        return GKCTL_USAGE;
    }
    if (actors != NULL) {
        doc = load_actors(actors, &actors_mode);
        if (doc == NULL) {
            goto done;
        }
    }
    if (snprintf(path, sizeof path, "%s/%s.jwk", out, id) >= (int) sizeof path) {
        fprintf(stderr, "gkctl actor keygen: --out path too long\n");
        goto done;
    }
    rc = GKCTL_FAIL;
    if (mkdir(out, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "gkctl actor keygen: cannot create %s: %s\n", out, strerror(errno));
        goto done;
    }
    if (sodium_init() < 0 || (sk = sodium_malloc(GKP_ED25519_SK_BYTES)) == NULL) {
        fprintf(stderr, "gkctl actor keygen: out of memory\n");
        goto done;
    }
    crypto_sign_keypair(pk, sk);
    gkp_b64url_encode(x, sizeof x, pk, sizeof pk);
    /* d is the seed: sk's first half */
    gkp_b64url_encode_secret(d, sizeof d, sk, GKP_ED25519_SEED_BYTES);
    priv = json_pack("{s:s,s:s,s:s,s:s,s:s}", "kty", "OKP", "crv", "Ed25519", "x", x, "d", d,
                     "kid", id);
    sodium_memzero(d, sizeof d);
    text = priv != NULL ? json_dumps(priv, JSON_COMPACT) : NULL;
    json_decref(priv);
    if (text == NULL) {
        fprintf(stderr, "gkctl actor keygen: out of memory\n");
        goto done;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "gkctl actor keygen: cannot create %s: %s%s\n", path, strerror(errno),
                errno == EEXIST ? " (a key is never overwritten: pick another --id or --out, "
                                  "or remove the old key first)"
                                : "");
        goto done;
    }
    len = strlen(text);
    if (fchmod(fd, 0600) != 0 || write(fd, text, len) != (ssize_t) len ||
        write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
        fprintf(stderr, "gkctl actor keygen: cannot write %s: %s\n", path, strerror(errno));
        close(fd);
        unlink(path);
        goto done;
    }
    close(fd);
    sodium_memzero(text, len);
    free(text);
    text = NULL;

    entry = json_pack("{s:s,s:s,s:O,s:{s:s,s:s,s:s,s:s}}", "id", id, "team", team, "roles", roles,
                      "jwk", "kty", "OKP", "crv", "Ed25519", "x", x, "kid", id);
    if (entry == NULL) {
        fprintf(stderr, "gkctl actor keygen: out of memory\n");
        goto done;
    }
    if (doc != NULL) {
        json_t *list = json_object_get(doc, "actors"), *e;
        json_array_foreach (list, i, e) {
            if (strcmp(json_string_value(json_object_get(e, "id")), id) == 0) {
                json_array_set(list, i, entry);
                replaced = 1;
                break;
            }
        }
        if (!replaced) {
            json_array_append(list, entry);
        }
        text = json_dumps(doc, JSON_INDENT(2));
        if (text == NULL || write_atomic(actors, text, actors_mode) != 0) {
            fprintf(stderr, "gkctl actor keygen: cannot write %s: %s (the key %s was written)\n",
                    actors, text == NULL ? "out of memory" : strerror(errno), path);
            goto done;
        }
    }
    gkctl_print_json(json_incref(entry));
    if (!o->json) {
        fprintf(stderr, "wrote %s (the private key, mode 0600: keep it secret)\n", path);
        if (actors != NULL) {
            fprintf(stderr, "%s actor %s in %s\n", replaced ? "replaced" : "added", id, actors);
        } else {
            fprintf(stderr, "add the entry above to the gatekeeper's actors file "
                            "({\"actors\": [...]}), or run again with --actors FILE\n");
        }
    }
    rc = GKCTL_OK;

done:
    sodium_free(sk);
    free(text);
    json_decref(entry);
    json_decref(doc);
    json_decref(roles);
    return rc;
}

int
gkctl_actor_main(int argc, char **argv, const gkctl_opts *o)
{
    if (strcmp(argv[0], "keygen") == 0) {
        return keygen(argc, argv, o);
    }
    fprintf(stderr, "gkctl actor: unknown subcommand \"%s\" (keygen)\n", argv[0]);
    return gkctl_usage();
}
