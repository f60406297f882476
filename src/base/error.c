/* The error object and the code table. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "base/internal.h"
#include "base/str.h"

#define FTLS_MSG_MAX 512
#define FTLS_OSSL_MAX 1536

struct ftls_error {
    ftls_code code;
    unsigned long ossl_code;
    char message[FTLS_MSG_MAX];
    char openssl[FTLS_OSSL_MAX];
};

struct code_info {
    const char *name;
    const char *text;
    ftls_category cat;
};

/* Indexed by code; numbers are stable, so this table only ever grows. */
static const struct code_info g_codes[] = {
    [FTLS_OK] = {"FTLS_OK", "success", FTLS_CAT_NONE},
    [FTLS_E_INVALID_ARGUMENT] = {"FTLS_E_INVALID_ARGUMENT", "invalid argument",
                                 FTLS_CAT_USAGE},
    [FTLS_E_NOMEM] = {"FTLS_E_NOMEM", "out of memory", FTLS_CAT_RESOURCE},
    [FTLS_E_INTERNAL] = {"FTLS_E_INTERNAL", "internal error",
                         FTLS_CAT_INTERNAL},
    [FTLS_E_EMPTY] = {"FTLS_E_EMPTY", "nothing published yet", FTLS_CAT_STATE},
    [FTLS_E_STATE] = {"FTLS_E_STATE", "invalid state for this call",
                      FTLS_CAT_STATE},
    [FTLS_E_IO] = {"FTLS_E_IO", "input/output error", FTLS_CAT_IO},
    [FTLS_E_NOT_FOUND] = {"FTLS_E_NOT_FOUND", "not found", FTLS_CAT_IO},
    [FTLS_E_PERMISSION] = {"FTLS_E_PERMISSION", "permission denied",
                           FTLS_CAT_IO},
    [FTLS_E_TOO_LARGE] = {"FTLS_E_TOO_LARGE", "input too large",
                          FTLS_CAT_INPUT},
    [FTLS_E_PARSE] = {"FTLS_E_PARSE", "parse error", FTLS_CAT_INPUT},
    [FTLS_E_KEY_MISMATCH] = {"FTLS_E_KEY_MISMATCH",
                             "private key does not match certificate",
                             FTLS_CAT_INPUT},
    [FTLS_E_CHAIN_ORDER] = {"FTLS_E_CHAIN_ORDER",
                            "certificate chain is not ordered leaf-first",
                            FTLS_CAT_INPUT},
    [FTLS_E_EXPIRED] = {"FTLS_E_EXPIRED", "certificate has expired",
                        FTLS_CAT_VERIFY},
    [FTLS_E_NOT_YET_VALID] = {"FTLS_E_NOT_YET_VALID",
                              "certificate is not yet valid", FTLS_CAT_VERIFY},
    [FTLS_E_KEY_POLICY] = {"FTLS_E_KEY_POLICY", "key refused by policy",
                           FTLS_CAT_POLICY},
    [FTLS_E_VERIFY] = {"FTLS_E_VERIFY", "certificate verification failed",
                       FTLS_CAT_VERIFY},
    [FTLS_E_NAME_REJECTED] = {"FTLS_E_NAME_REJECTED", "name rejected",
                              FTLS_CAT_POLICY},
    [FTLS_E_OPENSSL] = {"FTLS_E_OPENSSL", "OpenSSL call failed",
                        FTLS_CAT_CRYPTO},
    [FTLS_E_RACE] = {"FTLS_E_RACE", "source changed while being read",
                     FTLS_CAT_IO},
    [FTLS_E_NO_ROOTS] = {"FTLS_E_NO_ROOTS", "no trust anchors loaded",
                         FTLS_CAT_VERIFY},
    [FTLS_E_UNSUPPORTED] = {"FTLS_E_UNSUPPORTED", "not supported",
                            FTLS_CAT_USAGE},
    [FTLS_E_EXISTS] = {"FTLS_E_EXISTS", "refusing to overwrite existing file",
                       FTLS_CAT_IO},
    [FTLS_E_TIMEOUT] = {"FTLS_E_TIMEOUT", "timed out", FTLS_CAT_IO},
    [FTLS_E_PARTIAL] = {"FTLS_E_PARTIAL", "some inputs failed", FTLS_CAT_INPUT},
};

static const char *const g_cat_names[] = {
    [FTLS_CAT_NONE] = "none",         [FTLS_CAT_USAGE] = "usage",
    [FTLS_CAT_RESOURCE] = "resource", [FTLS_CAT_IO] = "io",
    [FTLS_CAT_INPUT] = "input",       [FTLS_CAT_CRYPTO] = "crypto",
    [FTLS_CAT_VERIFY] = "verify",     [FTLS_CAT_POLICY] = "policy",
    [FTLS_CAT_STATE] = "state",       [FTLS_CAT_INTERNAL] = "internal",
};

static const struct code_info *code_info(ftls_code code)
{
    if ((unsigned)code >= FTLS_ARRAY_LEN(g_codes) || g_codes[code].name == NULL)
        return NULL;
    return &g_codes[code];
}

const char *ftls_code_name(ftls_code code)
{
    const struct code_info *ci = code_info(code);
    return ci ? ci->name : "FTLS_E_UNKNOWN";
}

const char *ftls_code_describe(ftls_code code)
{
    const struct code_info *ci = code_info(code);
    return ci ? ci->text : "unknown error";
}

ftls_category ftls_code_category(ftls_code code)
{
    const struct code_info *ci = code_info(code);
    return ci ? ci->cat : FTLS_CAT_INTERNAL;
}

const char *ftls_category_name(ftls_category cat)
{
    if ((unsigned)cat >= FTLS_ARRAY_LEN(g_cat_names))
        return "unknown";
    return g_cat_names[cat];
}

ftls_code ftls_error_new(ftls_error **out)
{
    if (out == NULL)
        return FTLS_E_INVALID_ARGUMENT;
    *out = ftls__calloc(1, sizeof(**out));
    return *out ? FTLS_OK : FTLS_E_NOMEM;
}

void ftls_error_free(ftls_error *err)
{
    ftls__free(err);
}

void ftls_error_clear(ftls_error *err)
{
    if (err == NULL)
        return;
    err->code = FTLS_OK;
    err->ossl_code = 0;
    err->message[0] = '\0';
    err->openssl[0] = '\0';
}

ftls_code ftls_error_code(const ftls_error *err)
{
    return err ? err->code : FTLS_E_INVALID_ARGUMENT;
}

ftls_category ftls_error_category(const ftls_error *err)
{
    return err ? ftls_code_category(err->code) : FTLS_CAT_USAGE;
}

const char *ftls_error_message(const ftls_error *err)
{
    return err ? err->message : "";
}

const char *ftls_error_openssl(const ftls_error *err)
{
    return err ? err->openssl : "";
}

unsigned long ftls_error_openssl_code(const ftls_error *err)
{
    return err ? err->ossl_code : 0;
}

/* Append to a fixed buffer; a cut text ends in "..." (base/str.h). */
static void buf_append(char *buf, size_t cap, const char *fmt, ...)
    FTLS_PRINTF(3, 4);
static void buf_append(char *buf, size_t cap, const char *fmt, ...)
{
    size_t len = strnlen(buf, cap);
    if (len + 1 >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    ftls__str_vmessage(buf + len, cap - len, fmt, ap);
    va_end(ap);
}

/* Move the calling thread's OpenSSL error queue into err. */
static void capture_openssl(ftls_error *err)
{
    const char *data = NULL;
    int flags = 0;
    unsigned long e;
    char line[256];

    err->ossl_code = 0;
    err->openssl[0] = '\0';
    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        if (err->ossl_code == 0)
            err->ossl_code = e;
        ERR_error_string_n(e, line, sizeof(line));
        buf_append(err->openssl, sizeof(err->openssl), "%s%s%s%s",
                   err->openssl[0] ? "\n" : "", line,
                   (data && *data && (flags & ERR_TXT_STRING)) ? ": " : "",
                   (data && (flags & ERR_TXT_STRING)) ? data : "");
    }
}

static FTLS_NODISCARD ftls_code record(ftls_error *err, ftls_code code,
                                       const char *suffix, const char *fmt,
                                       va_list ap) FTLS_PRINTF(4, 0);
static FTLS_NODISCARD ftls_code record(ftls_error *err, ftls_code code,
                                       const char *suffix, const char *fmt,
                                       va_list ap)
{
    if (err == NULL)
        return code;
    err->code = code;
    err->message[0] = '\0';
    if (fmt != NULL) {
        ftls__str_vmessage(err->message, sizeof(err->message), fmt, ap);
        ftls__escape(err->message,
                     sizeof(err->message)); /* may embed peer bytes */
    } else
        buf_append(err->message, sizeof(err->message), "%s",
                   ftls_code_describe(code));
    if (suffix != NULL)
        buf_append(err->message, sizeof(err->message), ": %s", suffix);
    capture_openssl(err);
    /* Keep OpenSSL's reason visible in the one-line message too. */
    if (err->ossl_code != 0) {
        const char *reason = ERR_reason_error_string(err->ossl_code);
        if (reason != NULL && strstr(err->message, reason) == NULL)
            buf_append(err->message, sizeof(err->message), " (openssl: %s)",
                       reason);
    }
    return code;
}

ftls_code ftls__err(ftls_error *err, ftls_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    code = record(err, code, NULL, fmt, ap);
    va_end(ap);
    return code;
}

const char *ftls__strerror(int errnum, char *buf, size_t size)
{
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
    return strerror_r(errnum, buf, size);
#else
    if (strerror_r(errnum, buf, size) != 0)
        ftls__str_message(buf, size, "errno %d", errnum);
    return buf;
#endif
}

ftls_code ftls__err_errno(ftls_error *err, ftls_code code, int errnum,
                          const char *fmt, ...)
{
    char ebuf[128];
    const char *etext = ftls__strerror(errnum, ebuf, sizeof(ebuf));
    va_list ap;
    va_start(ap, fmt);
    code = record(err, code, etext, fmt, ap);
    va_end(ap);
    return code;
}

ftls_code ftls__code_from_errno(int errnum)
{
    switch (errnum) {
    case ENOENT:
    case ENOTDIR: return FTLS_E_NOT_FOUND;
    case EACCES:
    case EPERM: return FTLS_E_PERMISSION;
    case ENOMEM: return FTLS_E_NOMEM;
    case EFBIG: return FTLS_E_TOO_LARGE;
    case EEXIST: return FTLS_E_EXISTS;
    case EINVAL: return FTLS_E_INVALID_ARGUMENT;
    default: return FTLS_E_IO;
    }
}

ftls_code ftls_error_set(ftls_error *err, ftls_code code, const char *message)
{
    if (code == FTLS_OK)
        return FTLS_E_INVALID_ARGUMENT;
    if (message == NULL)
        return ftls__err(err, code, "%s", ftls_code_describe(code));
    return ftls__err(err, code, "%s", message);
}

void ftls__error_copy(ftls_error *dst, const ftls_error *src)
{
    if (dst != NULL && src != NULL && dst != src)
        memcpy(dst, src, sizeof(*dst));
}
