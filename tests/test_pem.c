/* The PEM body decoder: strict base64 (alphabet, whitespace between
 * characters, padding only at the end, whole quanta), the same bytes as
 * OpenSSL's decoder for every valid body, and a clear refusal otherwise. */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "base/pem.h"
#include "test.h"

static ftls_code decode(const char *body, unsigned char **out, size_t *n)
{
    struct ftls__pem_block blk = {.label = "X",
                                  .label_len = 1,
                                  .body = body,
                                  .body_len = strlen(body),
                                  .line = 1};
    return ftls__pem_decode(&blk, out, n);
}

static void expect_bytes(const char *body, const char *want)
{
    unsigned char *out = NULL;
    size_t n = 0;
    CHECK_EQ_INT(decode(body, &out, &n), FTLS_OK);
    CHECK_EQ_INT(n, strlen(want));
    CHECK(out != NULL && memcmp(out, want, strlen(want)) == 0);
    ftls__free(out);
}

static void expect_refused(const char *body)
{
    unsigned char *out = (unsigned char *)"x";
    size_t n = 7;
    CHECK_EQ_INT(decode(body, &out, &n), FTLS_E_PARSE);
    CHECK(out == NULL && n == 0);
}

/* A leading UTF-8 BOM is skipped, as OpenSSL's PEM reader does. */
static void test_bom_before_first_block(void)
{
    const char text[] = "\xef\xbb\xbf-----BEGIN CERTIFICATE-----\nAAAA\n"
                        "-----END CERTIFICATE-----\n";
    struct ftls__pem_scan sc;
    struct ftls__pem_block b;
    CHECK_EQ_INT(ftls__pem_has_bom(text, sizeof(text) - 1), 1);
    CHECK_EQ_INT(ftls__pem_has_bom(text + 3, sizeof(text) - 4), 0);
    ftls__pem_scan_init(&sc, text, sizeof(text) - 1);
    CHECK_EQ_INT(ftls__pem_next(&sc, &b), 1);
    CHECK(ftls__pem_label_is(&b, "CERTIFICATE"));
    CHECK_EQ_INT(b.line, 1);
    CHECK_EQ_INT(ftls__pem_next(&sc, &b), 0);
}

static void test_valid_bodies(void)
{
    expect_bytes("Zm9vYmFy", "foobar");
    expect_bytes("Zm9vYg==", "foob");
    expect_bytes("Zm9vYmE=", "fooba");
    expect_bytes("Zm9v\nYmFy\n", "foobar");
    expect_bytes("\r\n Zm9v\tYmFy \r\n", "foobar");
    expect_bytes("Zm9vYg=\n=\n", "foob"); /* padding split by a newline */
}

static void test_invalid_bodies(void)
{
    expect_refused(""); /* nothing decoded */
    expect_refused("\n\n");
    expect_refused("Zm9vYmF"); /* partial quantum */
    expect_refused("Zm9vY");
    expect_refused("Zm9vYg==="); /* three pad characters */
    expect_refused("Zm9v=YmFy"); /* data after padding */
    expect_refused("Zm9vYg==Zm9v");
    expect_refused("Zm9vYmE");
    expect_refused("Zm9v-mFy"); /* outside the alphabet */
    expect_refused("Zm9v_mFy");
    expect_refused("Proc-Type: 4,ENCRYPTED\nZm9vYmFy"); /* PEM headers */
    expect_refused("Zm9vYmFy\x80");
    expect_refused("Zg="); /* padding without a whole quantum */
    expect_refused("====");
}

/* Random DER-like bytes, base64 by OpenSSL in 64-column lines: our
 * decoder gives back exactly the input. */
static void test_matches_openssl_encoder(void)
{
    for (int len = 1; len < 600; len += 7) {
        unsigned char raw[600], b64[1024];
        REQUIRE(RAND_bytes(raw, len) == 1);
        int m = EVP_EncodeBlock(b64, raw, len);
        char body[1200];
        size_t o = 0;
        for (int i = 0; i < m; i++) { /* fold at 64 columns, as PEM does */
            body[o++] = (char)b64[i];
            if (i % 64 == 63)
                body[o++] = '\n';
        }
        body[o] = '\0';
        unsigned char *out = NULL;
        size_t n = 0;
        CHECK_EQ_INT(decode(body, &out, &n), FTLS_OK);
        CHECK_EQ_INT(n, len);
        CHECK(out != NULL && memcmp(out, raw, (size_t)len) == 0);
        ftls__free(out);
    }
}

int main(void)
{
    RUN(test_bom_before_first_block);
    RUN(test_valid_bodies);
    RUN(test_invalid_bodies);
    RUN(test_matches_openssl_encoder);
    return TEST_SUMMARY();
}
