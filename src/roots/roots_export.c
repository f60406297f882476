/* Writing a root set as a commented PEM bundle, atomically. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/evp.h>

#include "base/fileio.h"
#include "roots/roots_internal.h"

/* A PEM bundle cannot carry a distrust-after constraint; roots distrusted
 * longer ago than the longest allowed TLS certificate lifetime can no
 * longer validate any live certificate they should, so they are dropped. */
#define DISTRUST_GRACE_DAYS 398

static void ymd(int64_t t, char out[11])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(out, 11, "%Y-%m-%d", &tm) == 0)
        memcpy(out, "invalid", sizeof("invalid"));
}

/* Write the subject on one line, control characters escaped. */
static int write_name(BIO *b, const X509_NAME *name)
{
    unsigned long flags = XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB;
    return X509_NAME_print_ex(b, name, 0, flags) >= 0;
}

static int write_root(BIO *b, const ftls_roots *r, size_t at, int64_t now)
{
    const struct ftls__root *e = &r->v[at];
    const struct ftls__subject_index *x = ftls__roots_index(r);
    char date[11];
    if (BIO_puts(b, "\n# ") <= 0)
        return 0;
    if (e->label != NULL) {
        if (BIO_puts(b, e->label) <= 0)
            return 0;
    } else if (x == NULL || !write_name(b, x->names[at])) {
        return 0;
    }
    BIO_puts(b, "\n# SHA-256:");
    for (int i = 0; i < 32; i++)
        BIO_printf(b, "%s%02X", i ? ":" : " ", e->sha256[i]);
    ymd(e->not_after, date);
    BIO_printf(b, "\n# Not after: %s\n", date);
    if (e->distrust_after != 0) {
        ymd(e->distrust_after, date);
        BIO_printf(b,
                   "# Server distrust-after: %s (not enforceable in a PEM "
                   "file: do not trust server certificates issued after this "
                   "date)%s\n",
                   date, e->distrust_after < now ? " [already past]" : "");
    }
    BIO_puts(b, "-----BEGIN CERTIFICATE-----\n");
    /* 48 DER bytes -> one 64-character base64 line. */
    unsigned char line[65 + 1];
    for (size_t off = 0; off < e->der_len; off += 48) {
        size_t n = e->der_len - off < 48 ? e->der_len - off : 48;
        int k = EVP_EncodeBlock(line, e->der + off, (int)n);
        line[k] = '\n';
        if (BIO_write(b, line, k + 1) != k + 1)
            return 0;
    }
    return BIO_puts(b, "-----END CERTIFICATE-----\n") > 0;
}

/* The bundle into `b`; 1 on success, the number of roots in *count. */
static int write_bundle(const ftls_roots *roots, BIO *b, unsigned flags,
                        int64_t now, size_t *count)
{
    char date[11];
    ymd(now, date);
    size_t dropped = 0;
    *count = 0;
    int ok = BIO_printf(b,
                        "# Root certificates exported by freshtls %s on %s "
                        "(source: %s).\n",
                        FTLS_VERSION_STRING, date,
                        ftls_roots_origin_name(roots->kind)) > 0;
    const struct ftls__subject_index *x = ftls__roots_index(roots);
    if (x == NULL)
        return 0;
    for (size_t i = 0; ok && i < roots->n; i++) {
        const struct ftls__root *e = &roots->v[i];
        if (e->distrust_after != 0 &&
            e->distrust_after + (int64_t)DISTRUST_GRACE_DAYS * 86400 < now &&
            !(flags & FTLS_EXPORT_KEEP_ALL_DISTRUSTED)) {
            dropped++;
            continue;
        }
        ok = write_root(b, roots, i, now);
        (*count)++;
    }
    if (ok && dropped > 0)
        ok = BIO_printf(b,
                        "\n# %zu root(s) left out: distrusted more than %d "
                        "days ago.\n",
                        dropped, DISTRUST_GRACE_DAYS) > 0;
    return ok;
}

ftls_code ftls_roots_export_pem(const ftls_roots *roots, const char *path,
                                unsigned flags, int64_t now, size_t *written,
                                ftls_error *err)
{
    if (written != NULL)
        *written = 0;
    FTLS_GUARD_ARG(roots != NULL && path != NULL, err, "roots or path is NULL");
    if (now == 0)
        now = (int64_t)time(NULL);
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL)
        return ftls__err(err, FTLS_E_NOMEM, "export: out of memory");
    size_t count = 0;
    int ok = write_bundle(roots, b, flags, now, &count);
    ftls_code rc;
    char *data = NULL;
    long len = BIO_get_mem_data(b, &data);
    if (!ok || len < 0)
        rc = ftls__err(err, FTLS_E_NOMEM, "export: out of memory");
    else
        rc = ftls__file_write_atomic(path, data, (size_t)len, 0644, 0, err);
    BIO_free(b);
    if (rc == FTLS_OK && written != NULL)
        *written = count;
    return rc;
}

ftls_code ftls_roots_export_pem_bio(const ftls_roots *roots, BIO *out,
                                    unsigned flags, int64_t now,
                                    size_t *written, ftls_error *err)
{
    if (written != NULL)
        *written = 0;
    FTLS_GUARD_ARG(roots != NULL && out != NULL, err, "roots or out is NULL");
    size_t count = 0;
    if (!write_bundle(roots, out, flags, now ? now : (int64_t)time(NULL),
                      &count) ||
        BIO_flush(out) <= 0)
        return ftls__err(err, FTLS_E_IO, "export: cannot write the bundle");
    if (written != NULL)
        *written = count;
    return FTLS_OK;
}
