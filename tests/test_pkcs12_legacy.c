/* PKCS#12 files as OpenSSL 1.x and many tools still write them (RC2-40
 * for the certificates, 3DES for the key) load, decrypted in a private
 * library context: the application's default context does not gain the
 * legacy algorithms. */
#include <stdlib.h>

#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>

#include <freshtls/freshtls.h>

#include "test.h"
#include "testutil.h"

static char *g_dir;

/* A legacy-encrypted PKCS#12 of leaf+key+ca at `path`; 0 when this
 * OpenSSL has no legacy provider to write one with. */
static int write_legacy_p12(const char *path, EVP_PKEY *key, X509 *leaf,
                            X509 *ca, const char *pass)
{
    OSSL_LIB_CTX *lctx = OSSL_LIB_CTX_new();
    OSSL_PROVIDER *leg = lctx ? OSSL_PROVIDER_load(lctx, "legacy") : NULL;
    OSSL_PROVIDER *def = lctx ? OSSL_PROVIDER_load(lctx, "default") : NULL;
    STACK_OF(X509) *cas = sk_X509_new_null();
    PKCS12 *p12 = NULL;
    int ok = 0;
    if (leg && def && cas && sk_X509_push(cas, ca))
        p12 = PKCS12_create_ex(pass, "legacy", key, leaf, cas,
                               NID_pbe_WithSHA1And3_Key_TripleDES_CBC,
                               NID_pbe_WithSHA1And40BitRC2_CBC, 2048, 2048, 0,
                               lctx, NULL);
    unsigned char *der = NULL;
    int n = p12 ? i2d_PKCS12(p12, &der) : -1;
    if (n > 0)
        ok = tu_write_file(path, der, (size_t)n);
    OPENSSL_free(der);
    PKCS12_free(p12);
    sk_X509_free(cas);
    OSSL_PROVIDER_unload(def);
    OSSL_PROVIDER_unload(leg);
    OSSL_LIB_CTX_free(lctx);
    return ok;
}

static void test_legacy_pkcs12_loads(void)
{
    EVP_PKEY *kca = tu_key(), *kl = tu_key();
    struct tu_cert_opts co = {.cn = "Legacy CA", .ca = 1, .lifetime = 86400};
    X509 *ca = tu_cert(&co, kca, NULL, NULL);
    X509 *leaf = tu_leaf("legacy.example", "legacy.example", NULL, "serverAuth",
                         -60, 86400, kl, ca, kca);
    REQUIRE(ca && leaf);
    char path[4200], pass[4200];
    snprintf(path, sizeof(path), "%s/legacy.p12", g_dir);
    snprintf(pass, sizeof(pass), "%s/pass", g_dir);
    if (!write_legacy_p12(path, kl, leaf, ca, "old-school")) {
        printf("# no legacy provider here: cannot write an RC2 PKCS#12\n");
    } else {
        REQUIRE(tu_write_file(pass, "old-school\n", 11));
        ftls_identity_options o = {.passphrase_file = pass};
        ftls_source *s = NULL;
        ftls_error *err = NULL;
        REQUIRE(ftls_error_new(&err) == FTLS_OK);
        REQUIRE(ftls_source_new_identity_pkcs12(path, &o, &s, NULL) == FTLS_OK);
        CHECK_EQ_INT(ftls_source_reload(s, err), FTLS_OK);
        ftls_identity *id = NULL;
        if (ftls_source_get1_identity(s, &id, NULL) == FTLS_OK) {
            CHECK(X509_cmp(ftls_identity_get0_leaf(id), leaf) == 0);
            CHECK_EQ_INT(sk_X509_num(ftls_identity_get0_chain(id)), 1);
            CHECK(EVP_PKEY_eq(ftls_identity_get0_key(id), kl) == 1);
            ftls_identity_free(id);
        }
        /* The application's context gained nothing. */
        EVP_CIPHER *rc2 = EVP_CIPHER_fetch(NULL, "RC2-40-CBC", NULL);
        CHECK(rc2 == NULL);
        EVP_CIPHER_free(rc2);
        ftls_source_free(s);
        ftls_error_free(err);
    }
    X509_free(ca);
    X509_free(leaf);
    EVP_PKEY_free(kca);
    EVP_PKEY_free(kl);
}

int main(void)
{
    REQUIRE((g_dir = tu_tmpdir()) != NULL);
    RUN(test_legacy_pkcs12_loads);
    tu_rmrf(g_dir);
    free(g_dir);
    return TEST_SUMMARY();
}
