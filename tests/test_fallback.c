/* The embedded Mozilla bundle: contents, distrust-after dates, export. */
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <freshtls/freshtls.h>
#include "test.h"
#include "testutil.h"

#define IZENPE_DISTRUST 1776297599LL  /* 2026-04-15 23:59:59 UTC */
#define ENTRUST_DISTRUST 1733011199LL /* 2024-11-30 23:59:59 UTC */
#define EPKI_DISTRUST 1744761599LL    /* 2025-04-15 23:59:59 UTC */

static int64_t distrust_of(const ftls_roots *r, const char *label)
{
    for (size_t i = 0; i < ftls_roots_count(r); i++) {
        ftls_root_info info;
        if (ftls_roots_get0_info(r, i, &info) == FTLS_OK && info.label &&
            strcmp(info.label, label) == 0)
            return info.distrust_after;
    }
    return -1;
}

static void test_contents(void)
{
    ftls_roots *r = NULL;
    REQUIRE(ftls_roots_load(FTLS_ROOTS_FALLBACK, &r, NULL) == FTLS_OK);
    CHECK_EQ_INT(ftls_roots_count(r), 121);
    CHECK_EQ_INT(ftls_roots_problem_count(r), 0);
    size_t dated = 0;
    for (size_t i = 0; i < ftls_roots_count(r); i++) {
        ftls_root_info info;
        REQUIRE(ftls_roots_get0_info(r, i, &info) == FTLS_OK);
        CHECK(info.label != NULL && info.label[0] != '\0');
        CHECK(strcmp(info.location, "embedded:mozilla") == 0);
        const unsigned char *p = info.der;
        X509 *x = d2i_X509(NULL, &p, (long)info.der_len);
        CHECK(x != NULL);
        CHECK(x != NULL && X509_check_ca(x) >= 1);
        X509_free(x);
        dated += info.distrust_after != 0;
    }
    CHECK_EQ_INT(dated, 3);
    /* Izenpe's date sits on the trust object, not the certificate. */
    CHECK_EQ_INT(distrust_of(r, "Izenpe.com"), IZENPE_DISTRUST);
    CHECK_EQ_INT(distrust_of(r, "Entrust Root Certification Authority"),
                 ENTRUST_DISTRUST);
    CHECK_EQ_INT(distrust_of(r, "ePKI Root Certification Authority"),
                 EPKI_DISTRUST);
    /* In certdata.txt but CKT_NSS_MUST_VERIFY_TRUST for servers: left out. */
    CHECK_EQ_INT(distrust_of(r, "GlobalSign Root CA"), -1);
    ftls_roots_free(r);
}

static size_t count_certs(const char *file)
{
    X509_STORE *s = X509_STORE_new();
    REQUIRE(s != NULL);
    size_t n = 0;
    if (X509_STORE_load_file(s, file) == 1) {
        STACK_OF(X509) *all = X509_STORE_get1_all_certs(s);
        n = (size_t)sk_X509_num(all);
        sk_X509_pop_free(all, X509_free);
    }
    X509_STORE_free(s);
    return n;
}

static void test_export_policy(void)
{
    char *dir = tu_tmpdir();
    REQUIRE(dir != NULL);
    char out[4096];
    snprintf(out, sizeof(out), "%s/bundle.pem", dir);
    ftls_roots *r = NULL;
    REQUIRE(ftls_roots_get1_shared(FTLS_ROOTS_FALLBACK, &r, NULL) == FTLS_OK);
    size_t n = 0;
    /* 2026-11-22: Entrust and ePKI are past 398 days; Izenpe is not. */
    int64_t now = 1795305600LL;
    CHECK_EQ_INT(ftls_roots_export_pem(r, out, 0, now, &n, NULL), FTLS_OK);
    CHECK_EQ_INT(n, 119);
    CHECK_EQ_INT(count_certs(out), 119);
    char *text = tu_read_file(out, NULL);
    REQUIRE(text != NULL);
    CHECK_STR_CONTAINS(text, "# Izenpe.com\n# SHA-256: ");
    CHECK_STR_CONTAINS(text, "# Server distrust-after: 2026-04-15");
    CHECK(strstr(text, "# Entrust Root Certification Authority\n") == NULL);
    CHECK_STR_CONTAINS(text, "2 root(s) left out");
    free(text);
    struct stat st;
    CHECK(stat(out, &st) == 0 && (st.st_mode & 0777) == 0644);
    /* --all keeps them. A year earlier only Entrust... is still kept too. */
    CHECK_EQ_INT(ftls_roots_export_pem(r, out, FTLS_EXPORT_KEEP_ALL_DISTRUSTED,
                                       now, &n, NULL),
                 FTLS_OK);
    CHECK_EQ_INT(n, 121);
    CHECK_EQ_INT(ftls_roots_export_pem(r, out, 0, 1735689600LL /* 2025-01-01 */,
                                       &n, NULL),
                 FTLS_OK);
    CHECK_EQ_INT(n, 121);
    ftls_roots_free(r);
    tu_rmrf(dir);
    free(dir);
}

static void test_export_unwritable_leaves_nothing(void)
{
    char *dir = tu_tmpdir();
    REQUIRE(dir != NULL);
    ftls_roots *r = NULL;
    REQUIRE(ftls_roots_get1_shared(FTLS_ROOTS_FALLBACK, &r, NULL) == FTLS_OK);
    ftls_error *err = NULL;
    REQUIRE(ftls_error_new(&err) == FTLS_OK);
    char out[4096];
    snprintf(out, sizeof(out), "%s/missing-dir/bundle.pem", dir);
    CHECK_EQ_INT(ftls_roots_export_pem(r, out, 0, 0, NULL, err),
                 FTLS_E_NOT_FOUND);
    CHECK_STR_CONTAINS(ftls_error_message(err), "missing-dir/bundle.pem");
    /* A path whose final component is a directory: rename fails. */
    snprintf(out, sizeof(out), "%s/adir", dir);
    REQUIRE(mkdir(out, 0755) == 0);
    CHECK(ftls_roots_export_pem(r, out, 0, 0, NULL, err) != FTLS_OK);
    /* No temporary or partial file is left behind. */
    int entries = 0;
    DIR *d = opendir(dir);
    REQUIRE(d != NULL);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        entries += de->d_name[0] != '.';
    closedir(d);
    CHECK_EQ_INT(entries, 1); /* just "adir" */
    ftls_error_free(err);
    ftls_roots_free(r);
    tu_rmrf(dir);
    free(dir);
}

int main(void)
{
    RUN(test_contents);
    RUN(test_export_policy);
    RUN(test_export_unwritable_leaves_nothing);
    return TEST_SUMMARY();
}
