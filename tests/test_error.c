/* Error model: stable codes, categories, messages, OpenSSL reason capture. */
#include <errno.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "base/internal.h"
#include "test.h"

static void test_codes_are_stable(void)
{
    /* These numbers are ABI: they must never change. */
    CHECK_EQ_INT(FTLS_OK, 0);
    CHECK_EQ_INT(FTLS_E_INVALID_ARGUMENT, 1);
    CHECK_EQ_INT(FTLS_E_NOMEM, 2);
    CHECK_EQ_INT(FTLS_E_EMPTY, 4);
    CHECK_EQ_INT(FTLS_E_IO, 6);
    CHECK_EQ_INT(FTLS_E_PARSE, 10);
    CHECK_EQ_INT(FTLS_E_KEY_MISMATCH, 11);
    CHECK_EQ_INT(FTLS_E_VERIFY, 16);
    CHECK_EQ_INT(FTLS_E_OPENSSL, 18);
    CHECK_EQ_INT(FTLS_E_PARTIAL, 24);
    CHECK(strcmp(ftls_code_name(FTLS_E_NOMEM), "FTLS_E_NOMEM") == 0);
    CHECK(strcmp(ftls_code_name((ftls_code)999), "FTLS_E_UNKNOWN") == 0);
    CHECK(strcmp(ftls_code_name((ftls_code)-5), "FTLS_E_UNKNOWN") == 0);
    CHECK(strcmp(ftls_code_describe(FTLS_E_NOMEM), "out of memory") == 0);
    CHECK_EQ_INT(ftls_code_category(FTLS_OK), FTLS_CAT_NONE);
    CHECK_EQ_INT(ftls_code_category(FTLS_E_NOMEM), FTLS_CAT_RESOURCE);
    CHECK_EQ_INT(ftls_code_category(FTLS_E_PERMISSION), FTLS_CAT_IO);
    CHECK_EQ_INT(ftls_code_category(FTLS_E_OPENSSL), FTLS_CAT_CRYPTO);
    CHECK(strcmp(ftls_category_name(FTLS_CAT_IO), "io") == 0);
    CHECK(strcmp(ftls_category_name((ftls_category)77), "unknown") == 0);
}

static void test_every_code_has_name_and_distinct_name(void)
{
    for (int a = 0; a <= FTLS_E_PARTIAL; a++) {
        CHECK(strcmp(ftls_code_name((ftls_code)a), "FTLS_E_UNKNOWN") != 0);
        CHECK(strcmp(ftls_code_describe((ftls_code)a), "unknown error") != 0);
        for (int b = a + 1; b <= FTLS_E_PARTIAL; b++)
            CHECK(strcmp(ftls_code_name((ftls_code)a),
                         ftls_code_name((ftls_code)b)) != 0);
    }
}

static void test_error_object_lifecycle(void)
{
    ftls_error *err = (ftls_error *)0x1;
    CHECK_EQ_INT(ftls_error_new(NULL), FTLS_E_INVALID_ARGUMENT);
    REQUIRE(ftls_error_new(&err) == FTLS_OK);
    CHECK_EQ_INT(ftls_error_code(err), FTLS_OK);
    CHECK(strcmp(ftls_error_message(err), "") == 0);
    CHECK_EQ_INT(ftls_error_set(err, FTLS_E_IO, "tls.crt: short read"),
                 FTLS_E_IO);
    CHECK_EQ_INT(ftls_error_code(err), FTLS_E_IO);
    CHECK_EQ_INT(ftls_error_category(err), FTLS_CAT_IO);
    CHECK(strcmp(ftls_error_message(err), "tls.crt: short read") == 0);
    CHECK_EQ_INT(ftls_error_set(err, FTLS_OK, "x"), FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_error_set(err, FTLS_E_NOMEM, NULL), FTLS_E_NOMEM);
    CHECK(strcmp(ftls_error_message(err), "out of memory") == 0);
    ftls_error_clear(err);
    CHECK_EQ_INT(ftls_error_code(err), FTLS_OK);
    CHECK_EQ_INT(ftls_error_openssl_code(err), 0);
    ftls_error_free(err);
    ftls_error_free(NULL);
}

static void test_long_message_truncates_safely(void)
{
    char big[4000];
    memset(big, 'A', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ftls_error *err = NULL;
    REQUIRE(ftls_error_new(&err) == FTLS_OK);
    CHECK_EQ_INT(ftls_error_set(err, FTLS_E_PARSE, big), FTLS_E_PARSE);
    size_t n = strlen(ftls_error_message(err));
    CHECK(n > 100 && n < sizeof(big));
    ftls_error_free(err);
}

/* Provoke a real OpenSSL failure: PEM parsing of garbage. */
static void provoke_pem_failure(void)
{
    static const char garbage[] = "this is not PEM at all\n";
    BIO *bio = BIO_new_mem_buf(garbage, (int)sizeof(garbage) - 1);
    REQUIRE(bio != NULL);
    X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    CHECK(x == NULL);
    BIO_free(bio);
}

static void test_openssl_reason_preserved(void)
{
    ftls_error *err = NULL;
    REQUIRE(ftls_error_new(&err) == FTLS_OK);
    ERR_clear_error();
    provoke_pem_failure();
    CHECK(ERR_peek_error() != 0);
    ftls_code rc = ftls__err(err, FTLS_E_PARSE, "%s: no certificate", "x.pem");
    CHECK_EQ_INT(rc, FTLS_E_PARSE);
    CHECK_EQ_INT(ERR_GET_LIB(ftls_error_openssl_code(err)), ERR_LIB_PEM);
    CHECK_EQ_INT(ERR_GET_REASON(ftls_error_openssl_code(err)),
                 PEM_R_NO_START_LINE);
    CHECK_STR_CONTAINS(ftls_error_openssl(err), "no start line");
    /* The one-line message keeps both our context and OpenSSL's reason. */
    CHECK_STR_CONTAINS(ftls_error_message(err), "x.pem: no certificate");
    CHECK_STR_CONTAINS(ftls_error_message(err), "no start line");
    /* With an error object the queue is moved, not copied. */
    CHECK_EQ_INT(ERR_peek_error(), 0);
    ftls_error_free(err);
}

static void test_openssl_queue_left_without_error_object(void)
{
    ERR_clear_error();
    provoke_pem_failure();
    unsigned long before = ERR_peek_error();
    CHECK(before != 0);
    CHECK_EQ_INT(ftls__err(NULL, FTLS_E_PARSE, "ignored"), FTLS_E_PARSE);
    CHECK_EQ_INT(ERR_peek_error(), before);
    ERR_clear_error();
}

static void test_public_set_captures_openssl(void)
{
    ftls_error *err = NULL;
    REQUIRE(ftls_error_new(&err) == FTLS_OK);
    provoke_pem_failure();
    CHECK_EQ_INT(ftls_error_set(err, FTLS_E_OPENSSL, "app: PEM"),
                 FTLS_E_OPENSSL);
    CHECK_EQ_INT(ERR_GET_REASON(ftls_error_openssl_code(err)),
                 PEM_R_NO_START_LINE);
    /* A later failure without OpenSSL involvement clears the old text. */
    CHECK_EQ_INT(ftls_error_set(err, FTLS_E_IO, "later"), FTLS_E_IO);
    CHECK(strcmp(ftls_error_openssl(err), "") == 0);
    CHECK_EQ_INT(ftls_error_openssl_code(err), 0);
    ftls_error_free(err);
}

static void test_errno_mapping_and_text(void)
{
    ftls_error *err = NULL;
    REQUIRE(ftls_error_new(&err) == FTLS_OK);
    CHECK_EQ_INT(ftls__code_from_errno(ENOENT), FTLS_E_NOT_FOUND);
    CHECK_EQ_INT(ftls__code_from_errno(EACCES), FTLS_E_PERMISSION);
    CHECK_EQ_INT(ftls__code_from_errno(EIO), FTLS_E_IO);
    CHECK_EQ_INT(ftls__code_from_errno(ENOMEM), FTLS_E_NOMEM);
    CHECK_EQ_INT(ftls__err_errno(err, FTLS_E_NOT_FOUND, ENOENT, "open %s",
                                 "/nonexistent/tls.crt"),
                 FTLS_E_NOT_FOUND);
    CHECK_STR_CONTAINS(ftls_error_message(err), "/nonexistent/tls.crt");
    CHECK_STR_CONTAINS(ftls_error_message(err), "No such file");
    ftls_error_free(err);
}

int main(void)
{
    RUN(test_codes_are_stable);
    RUN(test_every_code_has_name_and_distinct_name);
    RUN(test_error_object_lifecycle);
    RUN(test_long_message_truncates_safely);
    RUN(test_openssl_reason_preserved);
    RUN(test_openssl_queue_left_without_error_object);
    RUN(test_public_set_captures_openssl);
    RUN(test_errno_mapping_and_text);
    return TEST_SUMMARY();
}
