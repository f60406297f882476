/* CA files are handled as signing keys deserve: an encrypted key is never
 * prompted for (a passphrase file or variable, or a clear error), a key
 * others can read or replace is refused with the failing check named,
 * export refuses directories others can write, and no leaf outlives its
 * CA. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <freshtls/freshtls.h>

#include "test.h"
#include "testutil.h"

static char *g_dir;
static ftls_ca *g_ca;
static ftls_error *g_err;

static void join(char *out, size_t n, const char *dir, const char *name)
{
    int r = snprintf(out, n, "%s/%s", dir, name);
    REQUIRE(r > 0 && (size_t)r < n);
}

static void path(char *out, size_t n, const char *name)
{
    join(out, n, g_dir, name);
}

/* A fresh private subdirectory holding an exported CA. */
static void export_to(const char *sub, const ftls_ca_file_options *o,
                      char crt[4200], char key[4200])
{
    char d[4200];
    path(d, sizeof(d), sub);
    REQUIRE(mkdir(d, 0700) == 0);
    join(crt, 4200, d, "ca.crt");
    join(key, 4200, d, "ca.key");
    REQUIRE(ftls_ca_export_ex(g_ca, crt, key, o, NULL) == FTLS_OK);
}

static int file_contains(const char *p, const char *needle)
{
    char *t = tu_read_file(p, NULL);
    int found = t != NULL && strstr(t, needle) != NULL;
    free(t);
    return found;
}

static void test_encrypted_key_needs_a_passphrase(void)
{
    setenv("FTLS_TEST_CA_PASS", "correct horse", 1);
    ftls_ca_file_options enc = {.passphrase_env = "FTLS_TEST_CA_PASS"};
    char crt[4200], key[4200];
    export_to("enc", &enc, crt, key);
    CHECK(file_contains(key, "ENCRYPTED PRIVATE KEY"));
    ftls_ca *ca = NULL;
    /* No passphrase configured: a clear error, never a prompt. */
    CHECK_EQ_INT(ftls_ca_load(crt, key, &ca, g_err), FTLS_E_PARSE);
    CHECK_STR_CONTAINS(ftls_error_message(g_err),
                       "encrypted and no passphrase is configured");
    CHECK(ca == NULL);
    /* The right passphrase from the environment, then from a file. */
    CHECK_EQ_INT(ftls_ca_load_ex(crt, key, &enc, &ca, g_err), FTLS_OK);
    ftls_ca_free(ca);
    char pf[4200];
    path(pf, sizeof(pf), "pass.txt");
    REQUIRE(tu_write_file(pf, "correct horse\n", 14));
    ftls_ca_file_options byfile = {.passphrase_file = pf};
    CHECK_EQ_INT(ftls_ca_load_ex(crt, key, &byfile, &ca, g_err), FTLS_OK);
    ftls_ca_free(ca);
    /* A wrong one, and a variable that is not set. */
    setenv("FTLS_TEST_CA_PASS", "wrong", 1);
    ca = NULL;
    CHECK_EQ_INT(ftls_ca_load_ex(crt, key, &enc, &ca, g_err), FTLS_E_PARSE);
    CHECK_STR_CONTAINS(ftls_error_message(g_err), "wrong passphrase");
    unsetenv("FTLS_TEST_CA_PASS");
    CHECK_EQ_INT(ftls_ca_load_ex(crt, key, &enc, &ca, g_err), FTLS_E_NOT_FOUND);
    CHECK_STR_CONTAINS(ftls_error_message(g_err), "FTLS_TEST_CA_PASS");
    CHECK(ca == NULL);
}

static void test_key_others_can_read_is_refused(void)
{
    char crt[4200], key[4200];
    export_to("mode", NULL, crt, key);
    ftls_ca *ca = NULL;
    CHECK_EQ_INT(ftls_ca_load(crt, key, &ca, g_err), FTLS_OK);
    ftls_ca_free(ca);
    ca = NULL;
    const mode_t bad[] = {0644, 0640, 0604, 0666};
    for (size_t i = 0; i < FTLS_ARRAY_LEN(bad); i++) {
        REQUIRE(chmod(key, bad[i]) == 0);
        CHECK_EQ_INT(ftls_ca_load(crt, key, &ca, g_err), FTLS_E_PERMISSION);
        CHECK_STR_CONTAINS(ftls_error_message(g_err), "chmod 600");
        CHECK(ca == NULL);
    }
    /* Through a symlink the real file is checked. */
    char link[4200];
    path(link, sizeof(link), "link.key");
    REQUIRE(symlink(key, link) == 0);
    CHECK_EQ_INT(ftls_ca_load(crt, link, &ca, g_err), FTLS_E_PERMISSION);
    /* The explicit opt-out loads it. */
    ftls_ca_file_options loose = {.insecure_permissions = 1};
    CHECK_EQ_INT(ftls_ca_load_ex(crt, key, &loose, &ca, g_err), FTLS_OK);
    ftls_ca_free(ca);
}

static void test_directory_others_can_write_is_refused(void)
{
    char d[4200], crt[4200], key[4200];
    path(d, sizeof(d), "shared");
    REQUIRE(mkdir(d, 0700) == 0 && chmod(d, 0777) == 0);
    join(crt, sizeof(crt), d, "ca.crt");
    join(key, sizeof(key), d, "ca.key");
    CHECK_EQ_INT(ftls_ca_export(g_ca, crt, key, g_err), FTLS_E_PERMISSION);
    CHECK_STR_CONTAINS(ftls_error_message(g_err), "writable by others");
    CHECK(access(key, F_OK) != 0 && access(crt, F_OK) != 0);
    REQUIRE(chmod(d, 0770) == 0);
    CHECK_EQ_INT(ftls_ca_export(g_ca, crt, key, g_err), FTLS_E_PERMISSION);
    CHECK_STR_CONTAINS(ftls_error_message(g_err), "writable by its group");
    /* Files already there (written while it was private) are refused on
     * load, since whoever can write the directory can swap them. */
    REQUIRE(chmod(d, 0700) == 0);
    CHECK_EQ_INT(ftls_ca_export(g_ca, crt, key, g_err), FTLS_OK);
    REQUIRE(chmod(d, 0777) == 0);
    ftls_ca *ca = NULL;
    CHECK_EQ_INT(ftls_ca_load(crt, key, &ca, g_err), FTLS_E_PERMISSION);
    CHECK_STR_CONTAINS(ftls_error_message(g_err), "could replace the key");
    REQUIRE(chmod(d, 0700) == 0);
}

static void test_foreign_owner_is_refused(void)
{
    if (geteuid() != 0) {
        printf("# not root: cannot give files to another user; the mode "
               "checks above still ran\n");
        return;
    }
    char crt[4200], key[4200], d[4200];
    export_to("foreign", NULL, crt, key);
    ftls_ca *ca = NULL;
    REQUIRE(chown(key, 65534, 65534) == 0);
    CHECK_EQ_INT(ftls_ca_load(crt, key, &ca, g_err), FTLS_E_PERMISSION);
    CHECK_STR_CONTAINS(ftls_error_message(g_err), "owned by uid 65534");
    REQUIRE(chown(key, 0, 0) == 0);
    /* A directory owned by another user: export there is refused. */
    path(d, sizeof(d), "foreign/theirs");
    REQUIRE(mkdir(d, 0755) == 0 && chown(d, 65534, 65534) == 0);
    join(key, sizeof(key), d, "ca.key");
    join(crt, sizeof(crt), d, "ca.crt");
    CHECK_EQ_INT(ftls_ca_export(g_ca, crt, key, g_err), FTLS_E_PERMISSION);
    CHECK_STR_CONTAINS(ftls_error_message(g_err), "owned by uid 65534");
}

static void test_leaves_never_outlive_the_ca(void)
{
    ftls_ca_options co = {.common_name = "Short CA", .validity = 86400};
    ftls_ca *ca = NULL;
    REQUIRE(ftls_ca_generate(&co, &ca, NULL) == FTLS_OK);
    int64_t now = (int64_t)time(NULL);
    ftls_mint_options mo = {.lifetime = 90 * 86400};
    ftls_leaf *l = NULL;
    CHECK_EQ_INT(ftls_leaf_mint(ca, "long.example", &mo, now, &l, g_err),
                 FTLS_OK);
    /* Clamped to the CA's notAfter (now + 1 day, to the second). */
    CHECK(ftls_leaf_not_after(l) <= now + 86400 + 1);
    CHECK(ftls_leaf_not_after(l) >= now + 86400 - 5);
    CHECK(ASN1_TIME_compare(X509_get0_notAfter(ftls_leaf_get0_cert(l)),
                            X509_get0_notAfter(ftls_ca_get0_cert(ca))) <= 0);
    ftls_leaf_free(l);
    l = NULL;
    /* Past the CA's end: refused, not minted dead. */
    CHECK_EQ_INT(
        ftls_leaf_mint(ca, "late.example", NULL, now + 2 * 86400, &l, g_err),
        FTLS_E_EXPIRED);
    CHECK(l == NULL);
    ftls_ca_free(ca);
}

int main(void)
{
    REQUIRE((g_dir = tu_tmpdir()) != NULL);
    REQUIRE(ftls_error_new(&g_err) == FTLS_OK);
    REQUIRE(ftls_ca_generate(NULL, &g_ca, NULL) == FTLS_OK);
    RUN(test_encrypted_key_needs_a_passphrase);
    RUN(test_key_others_can_read_is_refused);
    RUN(test_directory_others_can_write_is_refused);
    RUN(test_foreign_owner_is_refused);
    RUN(test_leaves_never_outlive_the_ca);
    ftls_ca_free(g_ca);
    ftls_error_free(g_err);
    tu_rmrf(g_dir);
    free(g_dir);
    return TEST_SUMMARY();
}
