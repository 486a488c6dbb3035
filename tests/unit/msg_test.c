/*
 * msg_test.c - decision protocol v1 envelopes: request decoding (every error mapping, inline and
 * from the data directory tests/data/proto/invalid), an allocation-failure loop, request and
 * reply encoding, and reply decoding; with the members of decision sessions ("session",
 * "sessionPub" in requests, "mac" and "session" in token replies).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "msg.h"
#include "vocab.h"

/* Decode a NUL-terminated request; returns the status, fills code and diag. */
static gk_err
decode(gkp_request *req, const char *text, gk_error_code *code, gk_diag *diag)
{
    return gkp_request_decode(req, text, strlen(text), code, diag);
}

START_TEST(test_decode_evaluate)
{
    gkp_request req;
    gk_error_code code = GK_ERROR_GENERAL;
    gk_diag d = {0};

    ck_assert_int_eq(decode(&req,
                            "{\"v\":1,\"op\":\"evaluate\",\"flags\":[\"orders.read_v2\",\"b\"],"
                            "\"context\":{\"targetingKey\":\"t-42\",\"region\":\"eu\"},"
                            "\"unknown\":{\"x\":[1,2]}}",
                            &code, &d),
                     GK_OK);
    ck_assert_int_eq(code, GK_ERROR_NONE);
    ck_assert_int_eq(d.code, GK_OK);
    ck_assert_int_eq(req.op, GKP_OP_EVALUATE);
    ck_assert_uint_eq(json_array_size(req.flags), 2);
    ck_assert_str_eq(json_string_value(json_array_get(req.flags, 0)), "orders.read_v2");
    ck_assert_str_eq(json_string_value(json_object_get(req.context, "targetingKey")), "t-42");
    ck_assert_ptr_null(req.nonce);
    gkp_request_fini(&req);
    ck_assert_ptr_null(req.root);
    gkp_request_fini(&req);
}
END_TEST

/* A nonce of 16 to 64 base64url characters is accepted and handed out as is. */
START_TEST(test_decode_nonce)
{
    static const char *const good[] = {
        "AAAAAAAAAAAAAAAA",                                                 /* 16, the least */
        "q7Xv2Lr9T0aP4mWc1sHnZg",                                           /* 22, as the SDK */
        "-_-_-_-_-_-_-_-_-_-_",                                             /* both symbols */
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_", /* 64, the most */
    };
    gkp_request req;
    char text[256];

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(text, sizeof(text), "{\"v\":1,\"op\":\"evaluate\",\"nonce\":\"%s\"}", good[i]);
        ck_assert_msg(decode(&req, text, NULL, NULL) == GK_OK, "nonce %s refused", good[i]);
        ck_assert_str_eq(req.nonce, good[i]);
        gkp_request_fini(&req);
        ck_assert_ptr_null(req.nonce);
        ck_assert(gkp_nonce_valid(good[i], strlen(good[i])));
    }
    ck_assert(!gkp_nonce_valid("AAAAAAAAAAAAAAA", 15));
    ck_assert(!gkp_nonce_valid("AAAAAAAAAAAAAAA=", 16));
    ck_assert(!gkp_nonce_valid(NULL, 0));
    /* A jwks request ignores a nonce, good or bad. */
    ck_assert_int_eq(decode(&req, "{\"v\":1,\"op\":\"jwks\",\"nonce\":5}", NULL, NULL), GK_OK);
    ck_assert_ptr_null(req.nonce);
    gkp_request_fini(&req);
}
END_TEST

START_TEST(test_decode_explain)
{
    gkp_request req;
    gk_error_code code;
    gk_diag d = {0};

    ck_assert_int_eq(decode(&req, "{\"v\":1,\"op\":\"evaluate\",\"explain\":true}", NULL, NULL),
                     GK_OK);
    ck_assert_int_eq(req.explain, 1);
    gkp_request_fini(&req);
    ck_assert_int_eq(decode(&req, "{\"v\":1,\"op\":\"evaluate\",\"explain\":false}", NULL, NULL),
                     GK_OK);
    ck_assert_int_eq(req.explain, 0);
    gkp_request_fini(&req);
    ck_assert_int_eq(decode(&req, "{\"v\":1,\"op\":\"evaluate\"}", NULL, NULL), GK_OK);
    ck_assert_int_eq(req.explain, 0);
    gkp_request_fini(&req);
    ck_assert_int_eq(decode(&req, "{\"v\":1,\"op\":\"evaluate\",\"explain\":\"yes\"}", &code, &d),
                     GK_EPROTO);
    ck_assert_int_eq(code, GK_ERROR_PARSE_ERROR);
    ck_assert_ptr_nonnull(strstr(d.text, "\"explain\" is a string"));
}
END_TEST

START_TEST(test_decode_evaluate_minimal)
{
    gkp_request req;

    ck_assert_int_eq(decode(&req, "{\"op\":\"evaluate\",\"v\":1}", NULL, NULL), GK_OK);
    ck_assert_int_eq(req.op, GKP_OP_EVALUATE);
    ck_assert_ptr_null(req.flags);
    ck_assert_ptr_null(req.context);
    ck_assert_ptr_null(req.nonce);
    gkp_request_fini(&req);

    ck_assert_int_eq(decode(&req, "{\"v\":1,\"op\":\"evaluate\",\"flags\":[],\"context\":{}}",
                            NULL, NULL),
                     GK_OK);
    ck_assert_uint_eq(json_array_size(req.flags), 0);
    ck_assert(json_is_object(req.context));
    gkp_request_fini(&req);
}
END_TEST

START_TEST(test_decode_jwks)
{
    gkp_request req;

    /* A jwks request has no arguments: members that would be wrong for evaluate are ignored. */
    ck_assert_int_eq(decode(&req, "{\"v\":1,\"op\":\"jwks\",\"flags\":7}", NULL, NULL), GK_OK);
    ck_assert_int_eq(req.op, GKP_OP_JWKS);
    ck_assert_ptr_null(req.flags);
    gkp_request_fini(&req);
}
END_TEST

START_TEST(test_decode_limits_accepted)
{
    char *buf = malloc(GKP_REQUEST_MAX_BYTES + 1);
    gkp_request req;
    size_t n;
    unsigned i;

    /* 1024 flags, and a key of 127 bytes, are within the limits. */
    ck_assert_ptr_nonnull(buf);
    n = (size_t) sprintf(buf, "{\"v\":1,\"op\":\"evaluate\",\"flags\":[\"%0127d\"", 7);
    for (i = 1; i < GKP_REQUEST_MAX_FLAGS; i++) {
        n += (size_t) sprintf(buf + n, ",\"f%u\"", i);
    }
    n += (size_t) sprintf(buf + n, "]}");
    ck_assert_int_eq(gkp_request_decode(&req, buf, n, NULL, NULL), GK_OK);
    ck_assert_uint_eq(json_array_size(req.flags), GKP_REQUEST_MAX_FLAGS);
    gkp_request_fini(&req);

    /* Exactly GKP_REQUEST_MAX_BYTES bytes is accepted. */
    n = (size_t) sprintf(buf, "{\"v\":1,\"op\":\"jwks\"}");
    memset(buf + n, ' ', GKP_REQUEST_MAX_BYTES - n);
    ck_assert_int_eq(gkp_request_decode(&req, buf, GKP_REQUEST_MAX_BYTES, NULL, NULL), GK_OK);
    gkp_request_fini(&req);
    free(buf);
}
END_TEST

START_TEST(test_decode_not_nul_terminated)
{
    static const char buf[] = "{\"v\":1,\"op\":\"jwks\"}{\"v\":2}";
    gkp_request req;

    ck_assert_int_eq(gkp_request_decode(&req, buf, 19, NULL, NULL), GK_OK);
    gkp_request_fini(&req);
    ck_assert_int_eq(gkp_request_decode(&req, buf, sizeof(buf) - 1, NULL, NULL), GK_EPROTO);
    ck_assert_ptr_null(req.root);
}
END_TEST

/*
 * Members found in one walk over the request: each is found whatever its place, the last of a
 * duplicate counts (as json_object_get would find it), and names that only look alike do not.
 */
START_TEST(test_decode_members_anywhere)
{
    static const char dup_ok[] =
        "{\"nonce\":\"x\",\"context\":{\"targetingKey\":\"t\"},\"explain\":true,\"flags\":[\"a\"],"
        "\"op\":\"jwks\",\"v\":2,\"sessionPu\":1,\"Session\":2,\"nonce\":\"q7Xv2Lr9T0aP4mWc1sHnZg\","
        "\"op\":\"evaluate\",\"v\":1,\"vv\":3,\"flag\":4}";
    static const char dup_bad[] = "{\"v\":1,\"op\":\"evaluate\",\"nonce\":\"q7Xv2Lr9T0aP4mWc1sHnZg\","
                                  "\"nonce\":\"short\"}";
    gkp_request req;
    gk_diag diag = {0};
    gk_error_code code;

    ck_assert_int_eq(gkp_request_decode(&req, dup_ok, sizeof(dup_ok) - 1, &code, &diag), GK_OK);
    ck_assert_int_eq(req.op, GKP_OP_EVALUATE);
    ck_assert_str_eq(req.nonce, "q7Xv2Lr9T0aP4mWc1sHnZg");
    ck_assert_int_eq(req.explain, 1);
    ck_assert_uint_eq(json_array_size(req.flags), 1);
    ck_assert_ptr_nonnull(req.context);
    ck_assert_ptr_null(req.session);
    ck_assert_ptr_null(req.session_pub);
    gkp_request_fini(&req);
    ck_assert_int_eq(gkp_request_decode(&req, dup_bad, sizeof(dup_bad) - 1, &code, &diag),
                     GK_EPROTO);
    ck_assert_int_eq(code, GK_ERROR_PARSE_ERROR);
    ck_assert_str_eq(diag.text,
                     "\"nonce\" is 5 bytes; it must be 16 to 64 base64url characters");
}
END_TEST

/* Every error mapping, with the code for the reply and text errorDetails must contain. */
static const struct {
    const char *input;
    gk_error_code code;
    const char *text;
} bad_requests[] = {
    {"{\"v\":1,", GK_ERROR_PARSE_ERROR, "invalid JSON at line 1, column"},
    {"", GK_ERROR_PARSE_ERROR, "invalid JSON at line 1"},
    {"[]", GK_ERROR_PARSE_ERROR, "request is an array; it must be a JSON object"},
    {"{\"v\":2,\"op\":\"evaluate\"}", GK_ERROR_PARSE_ERROR,
     "unsupported protocol version 2; this gatekeeper speaks v1"},
    {"{\"v\":0,\"op\":\"evaluate\"}", GK_ERROR_PARSE_ERROR, "unsupported protocol version 0"},
    {"{\"v\":\"1\",\"op\":\"evaluate\"}", GK_ERROR_PARSE_ERROR, "unsupported protocol version \"1\""},
    {"{\"v\":true,\"op\":\"evaluate\"}", GK_ERROR_PARSE_ERROR, "(a boolean"},
    {"{\"op\":\"evaluate\"}", GK_ERROR_PARSE_ERROR, "missing protocol version \"v\""},
    {"{\"v\":1}", GK_ERROR_PARSE_ERROR, "missing \"op\"; expected one of \"evaluate\", \"jwks\""},
    {"{\"v\":1,\"op\":\"delete\"}", GK_ERROR_PARSE_ERROR,
     "unknown op \"delete\"; expected one of \"evaluate\", \"jwks\""},
    {"{\"v\":1,\"op\":\"Evaluate\"}", GK_ERROR_PARSE_ERROR, "unknown op \"Evaluate\""},
    {"{\"v\":1,\"op\":\"\\u00e9\\n\"}", GK_ERROR_PARSE_ERROR, "unknown op \"???\""},
    {"{\"v\":1,\"op\":[\"evaluate\"]}", GK_ERROR_PARSE_ERROR, "\"op\" is an array, not a string"},
    {"{\"v\":1,\"op\":\"evaluate\",\"flags\":\"x\"}", GK_ERROR_PARSE_ERROR,
     "\"flags\" is a string; it must be an array of flag keys"},
    {"{\"v\":1,\"op\":\"evaluate\",\"flags\":{}}", GK_ERROR_PARSE_ERROR, "\"flags\" is an object"},
    {"{\"v\":1,\"op\":\"evaluate\",\"flags\":[\"a\",1]}", GK_ERROR_PARSE_ERROR,
     "flags[1] is an integer; a flag key is a string"},
    {"{\"v\":1,\"op\":\"evaluate\",\"flags\":[null]}", GK_ERROR_PARSE_ERROR, "flags[0] is null"},
    {"{\"v\":1,\"op\":\"evaluate\",\"flags\":[\"\"]}", GK_ERROR_PARSE_ERROR,
     "flags[0] is 0 bytes; a flag key is 1..127 bytes"},
    {"{\"v\":1,\"op\":\"evaluate\",\"nonce\":42}", GK_ERROR_PARSE_ERROR,
     "\"nonce\" is an integer; it must be a string of 16 to 64 base64url characters"},
    {"{\"v\":1,\"op\":\"evaluate\",\"nonce\":null}", GK_ERROR_PARSE_ERROR, "\"nonce\" is null"},
    {"{\"v\":1,\"op\":\"evaluate\",\"nonce\":\"AAAAAAAAAAAAAAA\"}", GK_ERROR_PARSE_ERROR,
     "\"nonce\" is 15 bytes; it must be 16 to 64 base64url characters"},
    {"{\"v\":1,\"op\":\"evaluate\",\"nonce\":\"\"}", GK_ERROR_PARSE_ERROR,
     "\"nonce\" is 0 bytes"},
    {"{\"v\":1,\"op\":\"evaluate\",\"nonce\":"
     "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
     GK_ERROR_PARSE_ERROR, "\"nonce\" is 65 bytes"},
    {"{\"v\":1,\"op\":\"evaluate\",\"nonce\":\"AAAAAAAAAAAAAAAAAAAA+/==\"}",
     GK_ERROR_PARSE_ERROR,
     "\"nonce\" has a character outside the base64url alphabet (A-Z a-z 0-9 - _) at offset 20"},
    /* A bad nonce is reported before a bad context. */
    {"{\"v\":1,\"op\":\"evaluate\",\"nonce\":1,\"context\":[]}", GK_ERROR_PARSE_ERROR,
     "\"nonce\" is an integer"},
    {"{\"v\":1,\"op\":\"evaluate\",\"context\":[]}", GK_ERROR_INVALID_CONTEXT,
     "\"context\" is an array; it must be an object of attributes"},
    {"{\"v\":1,\"op\":\"evaluate\",\"context\":\"t-42\"}", GK_ERROR_INVALID_CONTEXT,
     "\"context\" is a string"},
    {"{\"v\":1,\"op\":\"evaluate\",\"context\":{\"targetingKey\":5}}", GK_ERROR_INVALID_CONTEXT,
     "context.targetingKey is an integer; it must be a string"},
    {"{\"v\":1,\"op\":\"evaluate\",\"context\":{\"targetingKey\":null}}", GK_ERROR_INVALID_CONTEXT,
     "context.targetingKey is null"},
    /* "session" names an open session: exactly 22 base64url characters. */
    {"{\"v\":1,\"op\":\"evaluate\",\"session\":5}", GK_ERROR_PARSE_ERROR,
     "\"session\" must be a string of 22 base64url characters"},
    {"{\"v\":1,\"op\":\"evaluate\",\"session\":null}", GK_ERROR_PARSE_ERROR,
     "\"session\" must be a string of 22"},
    {"{\"v\":1,\"op\":\"evaluate\",\"session\":[\"q7Xv2Lr9T0aP4mWc1sHnZg\"]}", GK_ERROR_PARSE_ERROR,
     "\"session\" must be a string of 22"},
    {"{\"v\":1,\"op\":\"evaluate\",\"session\":\"q7Xv2Lr9T0aP4mWc1sHnZ\"}", GK_ERROR_PARSE_ERROR,
     "\"session\" must be a string of 22"},
    {"{\"v\":1,\"op\":\"evaluate\",\"session\":\"q7Xv2Lr9T0aP4mWc1sHnZgA\"}", GK_ERROR_PARSE_ERROR,
     "\"session\" must be a string of 22"},
    {"{\"v\":1,\"op\":\"evaluate\",\"session\":\"\"}", GK_ERROR_PARSE_ERROR,
     "\"session\" must be a string of 22"},
    {"{\"v\":1,\"op\":\"evaluate\",\"session\":\"q7X+2Lr9T0aP4mWc1sHnZg\"}", GK_ERROR_PARSE_ERROR,
     "\"session\" has a character outside the base64url alphabet (A-Z a-z 0-9 - _) at offset 3"},
    {"{\"v\":1,\"op\":\"evaluate\",\"session\":\"q7Xv2Lr9T0aP4mWc1sHn==\"}", GK_ERROR_PARSE_ERROR,
     "\"session\" has a character outside the base64url alphabet (A-Z a-z 0-9 - _) at offset 20"},
    /* A NUL inside (jansson refuses \u0000 before the member is looked at). */
    {"{\"v\":1,\"op\":\"evaluate\",\"session\":\"q7Xv2Lr9T0aP4mWc1sHnZ\\u0000\"}",
     GK_ERROR_PARSE_ERROR, "invalid JSON"},
    {"{\"v\":1,\"op\":\"evaluate\",\"session\":\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
     "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\"}",
     GK_ERROR_PARSE_ERROR, "\"session\" has a character outside the base64url alphabet"},
    /* "sessionPub" opens one: a client X25519 key, exactly 43 base64url characters. */
    {"{\"v\":1,\"op\":\"evaluate\",\"sessionPub\":true}", GK_ERROR_PARSE_ERROR,
     "\"sessionPub\" must be a string of 43 base64url characters"},
    {"{\"v\":1,\"op\":\"evaluate\",\"sessionPub\":{}}", GK_ERROR_PARSE_ERROR,
     "\"sessionPub\" must be a string of 43"},
    {"{\"v\":1,\"op\":\"evaluate\","
     "\"sessionPub\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHUR\"}",
     GK_ERROR_PARSE_ERROR, "\"sessionPub\" must be a string of 43"},
    {"{\"v\":1,\"op\":\"evaluate\","
     "\"sessionPub\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURoA\"}",
     GK_ERROR_PARSE_ERROR, "\"sessionPub\" must be a string of 43"},
    {"{\"v\":1,\"op\":\"evaluate\","
     "\"sessionPub\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHUR=\"}",
     GK_ERROR_PARSE_ERROR,
     "\"sessionPub\" has a character outside the base64url alphabet (A-Z a-z 0-9 - _) at offset "
     "42"},
    {"{\"v\":1,\"op\":\"evaluate\","
     "\"sessionPub\":\"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}",
     GK_ERROR_PARSE_ERROR, "\"sessionPub\" has a character outside the base64url alphabet"},
    /* A good session id does not excuse a bad key, and the session is checked first. */
    {"{\"v\":1,\"op\":\"evaluate\",\"session\":\"q7Xv2Lr9T0aP4mWc1sHnZg\",\"sessionPub\":1}",
     GK_ERROR_PARSE_ERROR, "\"sessionPub\" must be a string of 43"},
    {"{\"v\":1,\"op\":\"evaluate\",\"session\":1,\"sessionPub\":1}", GK_ERROR_PARSE_ERROR,
     "\"session\" must be a string of 22"},
    /* The first problem is the one reported: a bad version beats a bad context. */
    {"{\"v\":9,\"op\":\"evaluate\",\"context\":[]}", GK_ERROR_PARSE_ERROR,
     "unsupported protocol version 9"},
};

START_TEST(test_decode_refuses)
{
    gkp_request req;
    gk_error_code code = GK_ERROR_NONE;
    gk_diag d = {0};

    memset(&req, 0xAB, sizeof(req));
    ck_assert_int_eq(decode(&req, bad_requests[_i].input, &code, &d), GK_EPROTO);
    ck_assert_ptr_null(req.root);
    ck_assert_ptr_null(req.flags);
    ck_assert_int_eq(code, bad_requests[_i].code);
    ck_assert_int_eq(d.code, GK_EPROTO);
    ck_assert_msg(strstr(d.text, bad_requests[_i].text) != NULL, "diag \"%s\" lacks \"%s\"",
                  d.text, bad_requests[_i].text);
    gkp_request_fini(&req);
}
END_TEST

START_TEST(test_decode_json_position)
{
    gkp_request req;
    gk_error_code code;
    gk_diag d = {0};

    ck_assert_int_eq(decode(&req, "{\"v\":1,\n \"op\": evaluate}", &code, &d), GK_EPROTO);
    ck_assert_int_eq(code, GK_ERROR_PARSE_ERROR);
    /* jansson reports the position where the offending token ends. */
    ck_assert_int_eq(d.line, 2);
    ck_assert_int_eq(d.column, 15);
    ck_assert_ptr_nonnull(strstr(d.text, "invalid JSON at line 2, column 15: invalid token"));
    ck_assert_str_eq(d.source, "request");
}
END_TEST

START_TEST(test_decode_oversize)
{
    size_t len = GKP_REQUEST_MAX_BYTES + 1;
    char *buf = malloc(len);
    gkp_request req;
    gk_error_code code;
    gk_diag d = {0};

    ck_assert_ptr_nonnull(buf);
    memset(buf, ' ', len);
    ck_assert_int_eq(gkp_request_decode(&req, buf, len, &code, &d), GK_EPROTO);
    ck_assert_int_eq(code, GK_ERROR_PARSE_ERROR);
    ck_assert_str_eq(d.text, "request is 65537 bytes; the limit is 65536 bytes");
    free(buf);
}
END_TEST

/* Read a whole file into a malloc'd buffer; NULL when it cannot be read. */
static char *
read_file(const char *path, size_t *lenp)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0;
    size_t len = 0;
    size_t n;

    if (f == NULL) {
        return NULL;
    }
    do {
        if (len == cap) {
            char *p = realloc(buf, cap ? cap * 2 : 4096);
            ck_assert_ptr_nonnull(p);
            buf = p;
            cap = cap ? cap * 2 : 4096;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    fclose(f);
    *lenp = len;
    return buf;
}

/* Check one case directory: returns 1 when it passed (messages go to stderr). */
static int
run_case(const char *dir, const char *name)
{
    char path[1024];
    char *input;
    char *expect;
    size_t inlen = 0;
    size_t exlen = 0;
    char *code_line;
    char *text_line;
    gkp_request req;
    gk_error_code code = GK_ERROR_NONE;
    gk_diag d = {0};
    gk_err rv;
    int ok = 1;

    ck_assert_int_lt(snprintf(path, sizeof(path), "%s/%s/input", dir, name), (int) sizeof(path));
    input = read_file(path, &inlen);
    ck_assert_msg(input != NULL, "case %s: missing %s", name, path);
    ck_assert_int_lt(snprintf(path, sizeof(path), "%s/%s/expect", dir, name), (int) sizeof(path));
    expect = read_file(path, &exlen);
    ck_assert_msg(expect != NULL, "case %s: missing %s", name, path);
    expect = realloc(expect, exlen + 1);
    ck_assert_ptr_nonnull(expect);
    expect[exlen] = '\0';
    code_line = strtok(expect, "\n");
    text_line = strtok(NULL, "\n");
    ck_assert_msg(code_line != NULL && text_line != NULL,
                  "case %s: expect needs an errorCode line and a details line", name);

    rv = gkp_request_decode(&req, input, inlen, &code, &d);
    if (rv != GK_EPROTO || strcmp(gkp_error_code_name(code), code_line) != 0 ||
        strstr(d.text, text_line) == NULL) {
        fprintf(stderr, "case %s: got %s, %s, \"%s\"; want GK_EPROTO, %s, \"...%s...\"\n", name,
                gkp_strerror(rv), gkp_error_code_name(code), d.text, code_line, text_line);
        ok = 0;
    }
    gkp_request_fini(&req);
    free(input);
    free(expect);
    return ok;
}

START_TEST(test_data_directory)
{
    const char *data = getenv("GK_TEST_DATA");
    char dir[1024];
    DIR *dp;
    struct dirent *e;
    int cases = 0;
    int failed = 0;

    ck_assert_msg(data != NULL, "GK_TEST_DATA is not set (CTest sets it to tests/data)");
    snprintf(dir, sizeof(dir), "%s/proto/invalid", data);
    dp = opendir(dir);
    ck_assert_msg(dp != NULL, "cannot open %s", dir);
    while ((e = readdir(dp)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        cases++;
        failed += !run_case(dir, e->d_name);
    }
    closedir(dp);
    ck_assert_msg(cases >= 15, "only %d cases in %s", cases, dir);
    ck_assert_msg(failed == 0, "%d of %d cases in %s failed (see stderr)", failed, cases, dir);
}
END_TEST

/* An allocator for jansson that fails its n-th call (counting from 0). */
static long alloc_calls;
static long alloc_fail_at;
static int alloc_fail_rest; /* every allocation from alloc_fail_at on fails, not only that one */

static void *
failing_malloc(size_t size)
{
    long call = alloc_calls++;

    if (call == alloc_fail_at || (alloc_fail_rest && call > alloc_fail_at)) {
        return NULL;
    }
    return malloc(size);
}

/*
 * Every string token of this request is shorter than 13 bytes on purpose: jansson 2.14's lexer
 * ignores a failed growth of its token buffer (lex_save drops strbuffer_append_byte's result,
 * akheron/jansson issue #362) and then reads past the buffer, so a failure injected while it
 * grows (first at a 15-byte token, quotes included) crashes inside json_loadb itself. Longer
 * tokens are tested once that fix ships in the jansson we build against.
 *
 * _i 0: every allocation from the n-th on fails: the decode fails cleanly (GK_ENOMEM, nothing
 * kept) until n is past the last allocation it makes. _i 1: only the n-th fails: the reader's
 * fast path gives up and jansson reads the request, so it always succeeds. _i 2: only the n-th
 * fails, in a request the fast path leaves to jansson (a real number) after building part of it:
 * past the fast path's allocations, each of jansson's own fails in turn, and fails cleanly.
 */
START_TEST(test_decode_allocation_failures)
{
    static const char plain_text[] =
        "{\"v\":1,\"op\":\"evaluate\",\"flags\":[\"orders.v2\",\"beta\"],"
        "\"context\":{\"targetingKey\":\"t-42\",\"region\":\"eu\",\"seats\":12,"
        "\"tags\":[\"a\",\"b\"],\"x\":{\"y\":null}}}";
    static const char real_text[] =
        "{\"v\":1,\"op\":\"evaluate\",\"flags\":[\"orders.v2\",\"beta\"],"
        "\"context\":{\"targetingKey\":\"t-42\",\"region\":\"eu\",\"ratio\":0.5}}";
    const char *text = _i == 2 ? real_text : plain_text;
    gkp_request req;
    gk_error_code code;
    gk_diag d;
    gk_err rv = GK_ENOMEM;
    long n, failed = 0, injected = 0;
    int done = 0;

    alloc_fail_rest = _i == 0;
    for (n = 0; n < 10000 && !done; n++) {
        alloc_calls = 0;
        alloc_fail_at = n;
        memset(&d, 0, sizeof(d));
        json_set_alloc_funcs(failing_malloc, free);
        rv = gkp_request_decode(&req, text, strlen(text), &code, &d);
        json_set_alloc_funcs(malloc, free);
        injected += alloc_calls > n;
        done = alloc_calls <= n; /* no allocation failed: every one has had its turn */
        if (rv != GK_OK) {
            ck_assert_msg(_i != 1, "n=%ld: one failed allocation failed the decode: %s", n,
                          d.text);
            ck_assert_msg(rv == GK_ENOMEM || rv == GK_EPROTO, "n=%ld: %s", n, gkp_strerror(rv));
            ck_assert_ptr_null(req.root);
            ck_assert_int_eq(d.code, rv);
            failed++;
        } else {
            ck_assert_str_eq(json_string_value(json_object_get(req.context, "region")), "eu");
        }
        gkp_request_fini(&req);
    }
    alloc_fail_rest = 0;
    ck_assert_int_eq(rv, GK_OK);
    ck_assert_msg(done, "the request kept allocating");
    ck_assert_int_gt(injected, 5); /* the loop really failed allocations */
    if (_i != 1) {
        ck_assert_int_gt(failed, 5); /* and some of them failed the decode, cleanly */
    }
}
END_TEST

START_TEST(test_encode_evaluate_round_trip)
{
    static const char *const flags[] = {"orders.read_v2", "caf\xc3\xa9"};
    json_t *ctx = json_pack("{s:s,s:i}", "targetingKey", "t-42", "seats", 12);
    char *out = NULL;
    size_t len = 0;
    gkp_request req;

    ck_assert_int_eq(gkp_request_encode_evaluate(&out, &len, flags, 2, ctx, NULL), GK_OK);
    ck_assert_str_eq(out, "{\"v\":1,\"op\":\"evaluate\",\"flags\":[\"orders.read_v2\","
                          "\"caf\xc3\xa9\"],\"context\":{\"targetingKey\":\"t-42\",\"seats\":12}}");
    ck_assert_uint_eq(len, strlen(out));
    ck_assert_int_eq(gkp_request_decode(&req, out, len, NULL, NULL), GK_OK);
    ck_assert(json_equal(req.context, ctx));
    ck_assert_str_eq(json_string_value(json_array_get(req.flags, 1)), flags[1]);
    gkp_request_fini(&req);
    free(out);
    /* The borrowed context is left as it was. */
    ck_assert_int_eq(ctx->refcount, 1);
    json_decref(ctx);

    ck_assert_int_eq(gkp_request_encode_evaluate(&out, NULL, NULL, 0, NULL, NULL), GK_OK);
    ck_assert_str_eq(out, "{\"v\":1,\"op\":\"evaluate\"}");
    free(out);
    ck_assert_int_eq(gkp_request_encode_evaluate(&out, NULL, NULL, 3, NULL, NULL), GK_EINVAL);

    /* A nonce goes out as "nonce" and comes back from the decoder. */
    ck_assert_int_eq(
        gkp_request_encode_evaluate(&out, &len, NULL, 0, NULL, "q7Xv2Lr9T0aP4mWc1sHnZg"), GK_OK);
    ck_assert_str_eq(out, "{\"v\":1,\"op\":\"evaluate\",\"nonce\":\"q7Xv2Lr9T0aP4mWc1sHnZg\"}");
    ck_assert_int_eq(gkp_request_decode(&req, out, len, NULL, NULL), GK_OK);
    ck_assert_str_eq(req.nonce, "q7Xv2Lr9T0aP4mWc1sHnZg");
    gkp_request_fini(&req);
    free(out);
    /* The encoder never sends a nonce the decoder would refuse. */
    out = NULL;
    ck_assert_int_eq(gkp_request_encode_evaluate(&out, NULL, NULL, 0, NULL, "short"), GK_EINVAL);
    ck_assert_int_eq(
        gkp_request_encode_evaluate(&out, NULL, NULL, 0, NULL, "has spaces in it, 22ch"),
        GK_EINVAL);
    ck_assert_ptr_null(out);
}
END_TEST

/* A decoded reply's string (not necessarily NUL-terminated: compare by its length) is `want`. */
#define assert_span(ptr, len, want)                    \
    do {                                               \
        ck_assert_ptr_nonnull(ptr);                    \
        ck_assert_uint_eq((len), strlen(want));        \
        ck_assert_mem_eq((ptr), (want), strlen(want)); \
    } while (0)

START_TEST(test_reply_token_round_trip)
{
    static const char tok[] = "eyJhbGciOiJFZERTQSJ9.e30.c2ln";
    char *out = NULL;
    size_t len = 0;
    gkp_reply r;

    ck_assert_int_eq(gkp_reply_encode_token(&out, &len, tok, sizeof(tok) - 1), GK_OK);
    ck_assert_str_eq(out, "{\"v\":1,\"ok\":true,\"token\":\"eyJhbGciOiJFZERTQSJ9.e30.c2ln\"}");
    ck_assert_uint_eq(len, strlen(out));
    ck_assert_int_eq(gkp_reply_decode(&r, out, len, NULL), GK_OK);
    ck_assert_int_eq(r.ok, 1);
    ck_assert_str_eq(r.token, tok);
    ck_assert_uint_eq(r.token_len, sizeof(tok) - 1);
    ck_assert_ptr_null(r.jwks);
    gkp_reply_fini(&r);
    free(out);

    /* Anything but base64url and dots is escaped by jansson, never pasted raw. */
    ck_assert_int_eq(gkp_reply_encode_token(&out, &len, "a\"b", 3), GK_OK);
    ck_assert_str_eq(out, "{\"v\":1,\"ok\":true,\"token\":\"a\\\"b\"}");
    free(out);

    /* With an explain trace beside the token. */
    {
        json_t *explain = json_pack("[{s:s,s:[]}]", "key", "orders.read_v2", "trace");
        ck_assert_int_eq(
            gkp_reply_encode_token_explain(&out, &len, tok, sizeof(tok) - 1, explain), GK_OK);
        ck_assert_int_eq(gkp_reply_decode(&r, out, len, NULL), GK_OK);
        ck_assert_str_eq(r.token, tok);
        ck_assert(json_equal(r.explain, explain));
        gkp_reply_fini(&r);
        free(out);
        json_decref(explain);
    }
}
END_TEST

START_TEST(test_reply_jwks_round_trip)
{
    json_t *jwks = json_pack("{s:[{s:s,s:s,s:s,s:s}]}", "keys", "kty", "OKP", "crv", "Ed25519",
                             "x", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid", "k1");
    char *out = NULL;
    size_t len = 0;
    gkp_reply r;

    ck_assert_int_eq(gkp_reply_encode_jwks(&out, &len, jwks), GK_OK);
    ck_assert_int_eq(gkp_reply_decode(&r, out, len, NULL), GK_OK);
    ck_assert_int_eq(r.ok, 1);
    ck_assert_ptr_null(r.token);
    ck_assert(json_equal(r.jwks, jwks));
    gkp_reply_fini(&r);
    free(out);
    ck_assert_int_eq(jwks->refcount, 1);
    json_decref(jwks);
}
END_TEST

START_TEST(test_reply_error_round_trip)
{
    char *out = NULL;
    size_t len = 0;
    gkp_reply r;

    ck_assert_int_eq(gkp_reply_encode_error(&out, &len, GK_ERROR_INVALID_CONTEXT,
                                            "context.targetingKey is an integer"),
                     GK_OK);
    ck_assert_str_eq(out, "{\"v\":1,\"ok\":false,\"errorCode\":\"INVALID_CONTEXT\","
                          "\"errorDetails\":\"context.targetingKey is an integer\"}");
    ck_assert_int_eq(gkp_reply_decode(&r, out, len, NULL), GK_OK);
    ck_assert_int_eq(r.ok, 0);
    ck_assert_int_eq(r.error_code, GK_ERROR_INVALID_CONTEXT);
    ck_assert_str_eq(r.error_details, "context.targetingKey is an integer");
    gkp_reply_fini(&r);
    free(out);

    ck_assert_int_eq(gkp_reply_encode_error(&out, NULL, GK_ERROR_PARSE_ERROR, NULL), GK_OK);
    ck_assert_str_eq(out,
                     "{\"v\":1,\"ok\":false,\"errorCode\":\"PARSE_ERROR\",\"errorDetails\":\"\"}");
    free(out);
}
END_TEST

START_TEST(test_reply_error_not_utf8)
{
    char *out = NULL;

    /* jansson's "near '...'" can quote raw request bytes; the reply must still be JSON. */
    ck_assert_int_eq(gkp_reply_encode_error(&out, NULL, GK_ERROR_PARSE_ERROR,
                                            "near '\xff\xc3' caf\xc3\xa9 \xed\xa0\x80!"),
                     GK_OK);
    ck_assert_str_eq(out, "{\"v\":1,\"ok\":false,\"errorCode\":\"PARSE_ERROR\","
                          "\"errorDetails\":\"near '\?\?' caf\xc3\xa9 \?\?\?!\"}");
    free(out);
}
END_TEST

START_TEST(test_decoded_error_details_reply)
{
    /* End to end: a refused request's diag text becomes a valid error reply. */
    static const char bad[] = "{\"v\":1,\"op\":\"evaluate\",\"flags\":[\"caf\xff\"]}";
    gkp_request req;
    gk_error_code code;
    gk_diag d = {0};
    char *out = NULL;
    gkp_reply r;

    ck_assert_int_eq(gkp_request_decode(&req, bad, sizeof(bad) - 1, &code, &d), GK_EPROTO);
    ck_assert_int_eq(gkp_reply_encode_error(&out, NULL, code, d.text), GK_OK);
    ck_assert_int_eq(gkp_reply_decode(&r, out, strlen(out), NULL), GK_OK);
    ck_assert_int_eq(r.error_code, GK_ERROR_PARSE_ERROR);
    ck_assert_ptr_nonnull(strstr(r.error_details, "invalid JSON"));
    gkp_reply_fini(&r);
    free(out);
}
END_TEST

static const struct {
    const char *input;
    const char *text;
} bad_replies[] = {
    {"", "invalid JSON"},
    {"[1]", "not a v1 reply"},
    {"{\"v\":2,\"ok\":true,\"token\":\"a.b.c\"}", "not a v1 reply"},
    {"{\"ok\":true,\"token\":\"a.b.c\"}", "not a v1 reply"},
    {"{\"v\":1,\"token\":\"a.b.c\"}", "boolean \"ok\""},
    {"{\"v\":1,\"ok\":1,\"token\":\"a.b.c\"}", "boolean \"ok\""},
    {"{\"v\":1,\"ok\":true}", "neither"},
    {"{\"v\":1,\"ok\":true,\"token\":5}", "\"token\" is not a string"},
    {"{\"v\":1,\"ok\":true,\"jwks\":[]}", "\"jwks\" is not an object"},
    {"{\"v\":1,\"ok\":true,\"token\":\"a.b.c\",\"mac\":5}", "\"mac\" is not a string"},
    {"{\"v\":1,\"ok\":true,\"token\":\"a.b.c\",\"mac\":null}", "\"mac\" is not a string"},
    {"{\"v\":1,\"ok\":true,\"token\":\"a.b.c\",\"mac\":\"m\",\"session\":[]}",
     "\"session\" is not a string"},
    {"{\"v\":1,\"ok\":true,\"token\":\"a.b.c\",\"session\":{\"sid\":\"x\"}}",
     "\"session\" is not a string"},
    {"{\"v\":1,\"ok\":false}", "no \"errorCode\""},
    {"{\"v\":1,\"ok\":false,\"errorCode\":\"GENERAL\",\"errorDetails\":{}}",
     "\"errorDetails\" is not a string"},
};

START_TEST(test_reply_decode_refuses)
{
    gkp_reply r;
    gk_diag d = {0};
    const char *in = bad_replies[_i].input;

    ck_assert_int_eq(gkp_reply_decode(&r, in, strlen(in), &d), GK_EPROTO);
    ck_assert_ptr_null(r.root);
    ck_assert_ptr_null(r.token);
    ck_assert_msg(strstr(d.text, bad_replies[_i].text) != NULL, "diag \"%s\" lacks \"%s\"", d.text,
                  bad_replies[_i].text);
    gkp_reply_fini(&r);
}
END_TEST

START_TEST(test_reply_decode_lenient)
{
    static const char in[] =
        "{\"v\":1,\"ok\":false,\"errorCode\":\"SOMETHING_NEW\",\"extra\":[1,{}]}";
    gkp_reply r;

    ck_assert_int_eq(gkp_reply_decode(&r, in, sizeof(in) - 1, NULL), GK_OK);
    ck_assert_int_eq(r.ok, 0);
    ck_assert_int_eq(r.error_code, GK_ERROR_GENERAL);
    ck_assert_str_eq(r.error_details, "");
    gkp_reply_fini(&r);
}
END_TEST

#define TEST_SID "q7Xv2Lr9T0aP4mWc1sHnZg"                      /* 22 base64url characters */
#define TEST_PUB "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" /* 43 */
#define TEST_MAC "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR4" /* 43 */

/* An evaluate request may name an open session or carry a key to open one; a jwks request ignores
 * both, good or bad. */
START_TEST(test_decode_session)
{
    gkp_request req;
    gk_diag d = {0};

    ck_assert_int_eq(
        decode(&req, "{\"v\":1,\"op\":\"evaluate\",\"session\":\"" TEST_SID "\"}", NULL, &d),
        GK_OK);
    ck_assert_str_eq(req.session, TEST_SID);
    ck_assert_ptr_null(req.session_pub);
    gkp_request_fini(&req);

    ck_assert_int_eq(
        decode(&req, "{\"v\":1,\"op\":\"evaluate\",\"sessionPub\":\"" TEST_PUB "\"}", NULL, &d),
        GK_OK);
    ck_assert_ptr_null(req.session);
    ck_assert_str_eq(req.session_pub, TEST_PUB);
    gkp_request_fini(&req);

    ck_assert_int_eq(decode(&req,
                            "{\"v\":1,\"op\":\"evaluate\",\"nonce\":\"AAAAAAAAAAAAAAAA\","
                            "\"sessionPub\":\"-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-\","
                            "\"session\":\"__________-_________-_\"}",
                            NULL, &d),
                     GK_OK);
    ck_assert_str_eq(req.session, "__________-_________-_");
    ck_assert_str_eq(req.session_pub, "-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-");
    ck_assert_str_eq(req.nonce, "AAAAAAAAAAAAAAAA");
    gkp_request_fini(&req);
    ck_assert_ptr_null(req.session);
    ck_assert_ptr_null(req.session_pub);

    ck_assert_int_eq(decode(&req, "{\"v\":1,\"op\":\"evaluate\"}", NULL, &d), GK_OK);
    ck_assert_ptr_null(req.session);
    ck_assert_ptr_null(req.session_pub);
    gkp_request_fini(&req);

    ck_assert_int_eq(
        decode(&req, "{\"v\":1,\"op\":\"jwks\",\"session\":5,\"sessionPub\":\"x\"}", NULL, &d),
        GK_OK);
    ck_assert_ptr_null(req.session);
    ck_assert_ptr_null(req.session_pub);
    gkp_request_fini(&req);
    ck_assert_int_eq(d.code, GK_OK);
}
END_TEST

/*
 * The text encoder (the SDK's): the context text is spliced as given, plain keys are copied,
 * keys that need escaping go through jansson, and the result decodes to the same request.
 */
START_TEST(test_encode_evaluate_text)
{
    static const char *const flags[] = {"orders.read_v2", "q\"uote\\back\tslash", "caf\xc3\xa9"};
    static const char *const bad_utf8[] = {"caf\xe9"};
    static const char *const with_null[] = {"a", NULL};
    static const char ctx[] = "{\"region\":\"eu\",\"targetingKey\":\"t-42\"}";
    char *out = NULL;
    size_t len = 0;
    gkp_request req;

    ck_assert_int_eq(gkp_request_encode_evaluate_text(&out, &len, flags, 3, ctx, strlen(ctx),
                                                      "AAAAAAAAAAAAAAAA", NULL, TEST_PUB),
                     GK_OK);
    ck_assert_uint_eq(len, strlen(out));
    ck_assert_int_eq(gkp_request_decode(&req, out, len, NULL, NULL), GK_OK);
    ck_assert_uint_eq(json_array_size(req.flags), 3);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_str_eq(json_string_value(json_array_get(req.flags, i)), flags[i]);
    }
    ck_assert_str_eq(json_string_value(json_object_get(req.context, "region")), "eu");
    ck_assert_str_eq(json_string_value(json_object_get(req.context, "targetingKey")), "t-42");
    ck_assert_str_eq(req.nonce, "AAAAAAAAAAAAAAAA");
    ck_assert_str_eq(req.session_pub, TEST_PUB);
    gkp_request_fini(&req);
    free(out);

    /* The same bytes as the tree encoder for a plain request. */
    ck_assert_int_eq(gkp_request_encode_evaluate_text(&out, &len, flags, 1, NULL, 0,
                                                      "AAAAAAAAAAAAAAAA", TEST_SID, NULL),
                     GK_OK);
    ck_assert_str_eq(out, "{\"v\":1,\"op\":\"evaluate\",\"flags\":[\"orders.read_v2\"],"
                          "\"nonce\":\"AAAAAAAAAAAAAAAA\",\"session\":\"" TEST_SID "\"}");
    free(out);
    ck_assert_int_eq(gkp_request_encode_evaluate_text(&out, &len, flags, 0, NULL, 0, NULL, NULL,
                                                      NULL),
                     GK_OK);
    ck_assert_str_eq(out, "{\"v\":1,\"op\":\"evaluate\",\"flags\":[]}");
    free(out);

    /* Refusals: a key that is not UTF-8 (jansson), a NULL key, a bad nonce; nothing is left. */
    {
        static char untouched[] = "untouched";
        out = untouched;
    }
    ck_assert_int_eq(gkp_request_encode_evaluate_text(&out, &len, bad_utf8, 1, NULL, 0, NULL,
                                                      NULL, NULL),
                     GK_ENOMEM);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(gkp_request_encode_evaluate_text(&out, &len, with_null, 2, NULL, 0, NULL,
                                                      NULL, NULL),
                     GK_EINVAL);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(gkp_request_encode_evaluate_text(&out, &len, NULL, 0, NULL, 0, "short", NULL,
                                                      NULL),
                     GK_EINVAL);
    ck_assert_int_eq(gkp_request_encode_evaluate_text(&out, &len, NULL, 2, NULL, 0, NULL, NULL,
                                                      NULL),
                     GK_EINVAL);
}
END_TEST

START_TEST(test_encode_evaluate_session)
{
    static const char *const flags[] = {"orders.read_v2"};
    char *out = NULL;
    size_t len = 0;
    gkp_request req;

    ck_assert_int_eq(gkp_request_encode_evaluate_session(&out, &len, flags, 1, NULL,
                                                         "AAAAAAAAAAAAAAAA", TEST_SID, NULL),
                     GK_OK);
    ck_assert_str_eq(out, "{\"v\":1,\"op\":\"evaluate\",\"flags\":[\"orders.read_v2\"],"
                          "\"nonce\":\"AAAAAAAAAAAAAAAA\",\"session\":\"" TEST_SID "\"}");
    ck_assert_uint_eq(len, strlen(out));
    ck_assert_int_eq(gkp_request_decode(&req, out, len, NULL, NULL), GK_OK);
    ck_assert_str_eq(req.session, TEST_SID);
    ck_assert_ptr_null(req.session_pub);
    gkp_request_fini(&req);
    free(out);

    ck_assert_int_eq(
        gkp_request_encode_evaluate_session(&out, &len, NULL, 0, NULL, NULL, NULL, TEST_PUB),
        GK_OK);
    ck_assert_str_eq(out, "{\"v\":1,\"op\":\"evaluate\",\"sessionPub\":\"" TEST_PUB "\"}");
    ck_assert_int_eq(gkp_request_decode(&req, out, len, NULL, NULL), GK_OK);
    ck_assert_ptr_null(req.session);
    ck_assert_str_eq(req.session_pub, TEST_PUB);
    gkp_request_fini(&req);
    free(out);

    ck_assert_int_eq(
        gkp_request_encode_evaluate_session(&out, &len, NULL, 0, NULL, NULL, TEST_SID, TEST_PUB),
        GK_OK);
    ck_assert_int_eq(gkp_request_decode(&req, out, len, NULL, NULL), GK_OK);
    ck_assert_str_eq(req.session, TEST_SID);
    ck_assert_str_eq(req.session_pub, TEST_PUB);
    gkp_request_fini(&req);
    free(out);

    /* Neither: the same bytes as gkp_request_encode_evaluate. */
    ck_assert_int_eq(
        gkp_request_encode_evaluate_session(&out, &len, NULL, 0, NULL, NULL, NULL, NULL), GK_OK);
    ck_assert_str_eq(out, "{\"v\":1,\"op\":\"evaluate\"}");
    free(out);

    /* The encoder never sends an id or a key the decoder would refuse. */
    {
        static const char *const bad_sids[] = {
            "q7Xv2Lr9T0aP4mWc1sHnZ",  "q7Xv2Lr9T0aP4mWc1sHnZgA", "",
            "q7Xv2Lr9T0aP4mWc1sHn==", "q7Xv2Lr9T0aP4mWc1s.nZg",  "q7Xv2Lr9T0aP4mWc1sHnZ\xc3",
        };
        static const char *const bad_pubs[] = {
            "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHUR",
            "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURoA",
            "11qYAYKxCrfVS+7TyWQHOg7hcvPapiMlrwIaaPcHURo",
            "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHUR=",
            "",
        };

        for (size_t i = 0; i < sizeof(bad_sids) / sizeof(bad_sids[0]); i++) {
            out = NULL;
            ck_assert_msg(gkp_request_encode_evaluate_session(&out, &len, NULL, 0, NULL, NULL,
                                                              bad_sids[i], NULL) == GK_EINVAL,
                          "session \"%s\" sent", bad_sids[i]);
            ck_assert_ptr_null(out);
        }
        for (size_t i = 0; i < sizeof(bad_pubs) / sizeof(bad_pubs[0]); i++) {
            out = NULL;
            ck_assert_msg(gkp_request_encode_evaluate_session(&out, &len, NULL, 0, NULL, NULL, NULL,
                                                              bad_pubs[i]) == GK_EINVAL,
                          "sessionPub \"%s\" sent", bad_pubs[i]);
            ck_assert_ptr_null(out);
        }
    }
}
END_TEST

/* A token reply, made by the encoder, then given a MAC and (optionally) a session JWS. */
START_TEST(test_reply_add_session)
{
    static const char tok[] = "eyJhbGciOiJFZERTQSJ9.e30.c2ln";
    static const char jws[] = "eyJhbGciOiJFZERTQSIsInR5cCI6ImdrLXNlc3Npb24rand0In0.e30.c2ln";
    char *out = NULL;
    size_t len = 0;
    json_t *parsed;
    json_error_t jerr;
    gkp_reply r;
    gk_diag d = {0};

    ck_assert_int_eq(gkp_reply_encode_token(&out, &len, tok, sizeof(tok) - 1), GK_OK);
    ck_assert_int_eq(gkp_reply_add_session(&out, &len, TEST_MAC, jws), GK_OK);
    ck_assert_uint_eq(len, strlen(out));
    parsed = json_loadb(out, len, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(parsed != NULL, "not JSON (%s): %s", jerr.text, out);
    ck_assert_str_eq(json_string_value(json_object_get(parsed, "mac")), TEST_MAC);
    ck_assert_str_eq(json_string_value(json_object_get(parsed, "session")), jws);
    json_decref(parsed);
    ck_assert_int_eq(gkp_reply_decode(&r, out, len, &d), GK_OK);
    ck_assert_int_eq(r.ok, 1);
    assert_span(r.token, r.token_len, tok);
    assert_span(r.mac, r.mac_len, TEST_MAC);
    assert_span(r.session, r.session_len, jws);
    gkp_reply_fini(&r);
    free(out);

    /* A MAC alone (a request in an open session). */
    ck_assert_int_eq(gkp_reply_encode_token(&out, &len, tok, sizeof(tok) - 1), GK_OK);
    ck_assert_int_eq(gkp_reply_add_session(&out, &len, TEST_MAC, NULL), GK_OK);
    ck_assert_str_eq(out, "{\"v\":1,\"ok\":true,\"token\":\"eyJhbGciOiJFZERTQSJ9.e30.c2ln\","
                          "\"mac\":\"" TEST_MAC "\"}");
    ck_assert_uint_eq(len, strlen(out));
    ck_assert_int_eq(gkp_reply_decode(&r, out, len, &d), GK_OK);
    assert_span(r.mac, r.mac_len, TEST_MAC);
    ck_assert_ptr_null(r.session);
    ck_assert_uint_eq(r.session_len, 0);
    gkp_reply_fini(&r);
    free(out);

    /* Beside an explain trace. */
    {
        json_t *explain = json_pack("[{s:s,s:[]}]", "key", "orders.read_v2", "trace");

        ck_assert_int_eq(gkp_reply_encode_token_explain(&out, &len, tok, sizeof(tok) - 1, explain),
                         GK_OK);
        ck_assert_int_eq(gkp_reply_add_session(&out, &len, TEST_MAC, jws), GK_OK);
        ck_assert_uint_eq(len, strlen(out));
        ck_assert_int_eq(gkp_reply_decode(&r, out, len, &d), GK_OK);
        assert_span(r.token, r.token_len, tok);
        ck_assert(json_equal(r.explain, explain));
        assert_span(r.mac, r.mac_len, TEST_MAC);
        assert_span(r.session, r.session_len, jws);
        gkp_reply_fini(&r);
        free(out);
        json_decref(explain);
    }

    /* A plain token reply decodes with neither. */
    ck_assert_int_eq(gkp_reply_encode_token(&out, &len, tok, sizeof(tok) - 1), GK_OK);
    ck_assert_int_eq(gkp_reply_decode(&r, out, len, &d), GK_OK);
    ck_assert_ptr_null(r.mac);
    ck_assert_uint_eq(r.mac_len, 0);
    ck_assert_ptr_null(r.session);
    gkp_reply_fini(&r);
    free(out);
    ck_assert_int_eq(d.code, GK_OK);
}
END_TEST

/*
 * A token reply completed around a token written in place, in a buffer of exactly
 * gkp_reply_token_size bytes: the same bytes as the encoder, with the MAC as gkp_reply_add_session
 * adds it, for tokens of every length up to 70 (the empty one included).
 */
START_TEST(test_reply_token_finish)
{
    static const char chars[] = "eyJhbGciOiJFZERTQSJ9.e30.c2ln-_AZaz09.";
    char tok[71];
    char *want = NULL, *out;
    size_t wantlen = 0, len;

    for (size_t toklen = 0; toklen < sizeof(tok); toklen++) {
        for (size_t i = 0; i < toklen; i++) {
            tok[i] = chars[(i * 7) % (sizeof(chars) - 1)];
        }
        for (int with_mac = 0; with_mac < 2; with_mac++) {
            ck_assert_int_eq(gkp_reply_encode_token(&want, &wantlen, tok, toklen), GK_OK);
            if (with_mac) {
                ck_assert_int_eq(gkp_reply_add_session(&want, &wantlen, TEST_MAC, NULL), GK_OK);
            }
            ck_assert_uint_eq(gkp_reply_token_size(toklen, with_mac), wantlen + 1);
            out = malloc(wantlen + 1);
            ck_assert_ptr_nonnull(out);
            memcpy(out + GKP_REPLY_TOKEN_AT, tok, toklen);
            len = gkp_reply_token_finish(out, toklen, with_mac ? TEST_MAC : NULL);
            ck_assert_uint_eq(len, wantlen);
            ck_assert_str_eq(out, want);
            free(out);
            free(want);
        }
    }
}
END_TEST

START_TEST(test_reply_add_session_refuses)
{
    static const char tok[] = "eyJhbGciOiJFZERTQSJ9.e30.c2ln";
    static const char *const bad_macs[] = {
        "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR",   /* 42 */
        "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR4A", /* 44 */
        "",
        "hgyY0il_MGCjP0Jzln\"WG1PPOt7-09PGcvMg3AIbQR4", /* 43, with a quote */
        "hgyY0il_MGCjP0Jzln\\WG1PPOt7-09PGcvMg3AIbQR4", /* 43, with a backslash */
    };
    char *out = NULL;
    char *before;
    size_t len = 0, len_before;

    ck_assert_int_eq(gkp_reply_encode_token(&out, &len, tok, sizeof(tok) - 1), GK_OK);
    before = malloc(len + 1);
    ck_assert_ptr_nonnull(before);
    memcpy(before, out, len + 1);
    len_before = len;

    for (size_t i = 0; i < sizeof(bad_macs) / sizeof(bad_macs[0]); i++) {
        ck_assert_msg(gkp_reply_add_session(&out, &len, bad_macs[i], NULL) == GK_EINVAL,
                      "mac \"%s\" added", bad_macs[i]);
        ck_assert_uint_eq(len, len_before);
        ck_assert_str_eq(out, before);
    }
    ck_assert_int_eq(gkp_reply_add_session(&out, &len, NULL, NULL), GK_EINVAL);
    /* A session JWS that could not go between quotes as is. */
    ck_assert_int_eq(gkp_reply_add_session(&out, &len, TEST_MAC, "a.b\".c"), GK_EINVAL);
    ck_assert_int_eq(gkp_reply_add_session(&out, &len, TEST_MAC, "a.b c.d"), GK_EINVAL);
    ck_assert_str_eq(out, before);

    /* A reply that does not end in '}': cut short, or with a trailing newline. */
    len = len_before - 1;
    ck_assert_int_eq(gkp_reply_add_session(&out, &len, TEST_MAC, NULL), GK_EINVAL);
    ck_assert_uint_eq(len, len_before - 1);
    out[len_before - 1] = '\n';
    len = len_before;
    ck_assert_int_eq(gkp_reply_add_session(&out, &len, TEST_MAC, NULL), GK_EINVAL);
    out[len_before - 1] = '}';
    len = 1;
    ck_assert_int_eq(gkp_reply_add_session(&out, &len, TEST_MAC, NULL), GK_EINVAL);
    len = len_before;
    ck_assert_str_eq(out, before);
    ck_assert_int_eq(gkp_reply_add_session(NULL, &len, TEST_MAC, NULL), GK_EINVAL);
    ck_assert_int_eq(gkp_reply_add_session(&out, NULL, TEST_MAC, NULL), GK_EINVAL);
    /* Only a token reply takes a MAC: not an error or JWKS reply. */
    {
        char *err = NULL;
        size_t err_len = 0;

        ck_assert_int_eq(gkp_reply_encode_error(&err, &err_len, GK_ERROR_GENERAL, "x"), GK_OK);
        ck_assert_int_eq(gkp_reply_add_session(&err, &err_len, TEST_MAC, NULL), GK_EINVAL);
        free(err);
    }
    {
        char *none = NULL;

        ck_assert_int_eq(gkp_reply_add_session(&none, &len, TEST_MAC, NULL), GK_EINVAL);
        ck_assert_ptr_null(none);
    }
    /* And the reply still takes a good MAC afterwards. */
    ck_assert_int_eq(gkp_reply_add_session(&out, &len, TEST_MAC, NULL), GK_OK);
    ck_assert_uint_eq(len, len_before + strlen(",\"mac\":\"\"") + strlen(TEST_MAC));
    free(before);
    free(out);
}
END_TEST

/* A session reply decodes to the same members whatever its form: the codec's own (read without a
 * JSON parser) or any other the protocol allows (member order, whitespace, escapes, extras). */
START_TEST(test_reply_session_any_form)
{
    static const char *const forms[] = {
        "{\"v\":1,\"ok\":true,\"token\":\"a.b.c\",\"mac\":\"" TEST_MAC "\",\"session\":\"s.t.u\"}",
        "{\"ok\":true,\"v\":1,\"session\":\"s.t.u\",\"mac\":\"" TEST_MAC "\",\"token\":\"a.b.c\"}",
        "{ \"v\": 1, \"ok\": true, \"token\": \"a.b.c\", \"mac\": \"" TEST_MAC "\", "
        "\"session\": \"s.t.u\" }\n",
        "{\"v\":1,\"ok\":true,\"token\":\"\\u0061.b.c\",\"mac\":\"" TEST_MAC "\","
        "\"session\":\"s.t.u\",\"later\":[1]}",
    };
    gkp_reply r;
    gk_diag d = {0};

    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        ck_assert_msg(gkp_reply_decode(&r, forms[i], strlen(forms[i]), &d) == GK_OK, "%s: %s",
                      forms[i], d.text);
        ck_assert_int_eq(r.ok, 1);
        assert_span(r.token, r.token_len, "a.b.c");
        assert_span(r.mac, r.mac_len, TEST_MAC);
        assert_span(r.session, r.session_len, "s.t.u");
        gkp_reply_fini(&r);
    }

    /* A session JWS without a MAC (not a form the codec writes) still reads. */
    {
        static const char in[] = "{\"v\":1,\"ok\":true,\"token\":\"a.b.c\",\"session\":\"s.t.u\"}";

        ck_assert_int_eq(gkp_reply_decode(&r, in, sizeof(in) - 1, &d), GK_OK);
        assert_span(r.token, r.token_len, "a.b.c");
        ck_assert_ptr_null(r.mac);
        assert_span(r.session, r.session_len, "s.t.u");
        gkp_reply_fini(&r);
    }

    /* The codec's form cut short or with a stray comma is not a reply at all. */
    {
        static const char *const bad[] = {
            "{\"v\":1,\"ok\":true,\"token\":\"a.b.c\",\"mac\":\"" TEST_MAC "\"",
            "{\"v\":1,\"ok\":true,\"token\":\"a.b.c\",\"mac\":\"" TEST_MAC "}",
            "{\"v\":1,\"ok\":true,\"token\":\"a.b.c\",\"mac\":\"" TEST_MAC "\",}",
            "{\"v\":1,\"ok\":true,\"token\":\"a.b.c\",}",
            "{\"v\":1,\"ok\":true,\"token\":\"a.b.c\"",
            "{\"v\":1,\"ok\":true,}",
            "{\"v\":1,\"ok\":true,",
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            ck_assert_msg(gkp_reply_decode(&r, bad[i], strlen(bad[i]), NULL) == GK_EPROTO,
                          "accepted: %s", bad[i]);
            ck_assert_ptr_null(r.token);
            ck_assert_ptr_null(r.mac);
            gkp_reply_fini(&r);
        }
    }
}
END_TEST

static Suite *
msg_suite(void)
{
    Suite *s = suite_create("msg");
    TCase *tc;

    tc = tcase_create("request_decode");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_decode_evaluate);
    tcase_add_test(tc, test_decode_evaluate_minimal);
    tcase_add_test(tc, test_decode_nonce);
    tcase_add_test(tc, test_decode_explain);
    tcase_add_test(tc, test_decode_jwks);
    tcase_add_test(tc, test_decode_limits_accepted);
    tcase_add_test(tc, test_decode_not_nul_terminated);
    tcase_add_test(tc, test_decode_members_anywhere);
    tcase_add_test(tc, test_decode_session);
    suite_add_tcase(s, tc);

    tc = tcase_create("request_errors");
    tcase_set_timeout(tc, 180);
    tcase_add_loop_test(tc, test_decode_refuses, 0,
                        (int) (sizeof(bad_requests) / sizeof(bad_requests[0])));
    tcase_add_test(tc, test_decode_json_position);
    tcase_add_test(tc, test_decode_oversize);
    tcase_add_test(tc, test_data_directory);
    tcase_add_loop_test(tc, test_decode_allocation_failures, 0, 3);
    suite_add_tcase(s, tc);

    tc = tcase_create("encode");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_encode_evaluate_round_trip);
    tcase_add_test(tc, test_reply_token_round_trip);
    tcase_add_test(tc, test_reply_jwks_round_trip);
    tcase_add_test(tc, test_reply_error_round_trip);
    tcase_add_test(tc, test_reply_error_not_utf8);
    tcase_add_test(tc, test_decoded_error_details_reply);
    tcase_add_test(tc, test_encode_evaluate_session);
    tcase_add_test(tc, test_encode_evaluate_text);
    tcase_add_test(tc, test_reply_add_session);
    tcase_add_test(tc, test_reply_token_finish);
    tcase_add_test(tc, test_reply_add_session_refuses);
    suite_add_tcase(s, tc);

    tc = tcase_create("reply_decode");
    tcase_set_timeout(tc, 180);
    tcase_add_loop_test(tc, test_reply_decode_refuses, 0,
                        (int) (sizeof(bad_replies) / sizeof(bad_replies[0])));
    tcase_add_test(tc, test_reply_decode_lenient);
    tcase_add_test(tc, test_reply_session_any_form);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(msg_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
