/* Misuse: NULL for every pointer argument of every public function gives
 * an error (or a documented no-op), never a crash. */
#include <string.h>

#include <openssl/opensslv.h>

#include <freshtls/freshtls.h>
#include "test.h"

static void test_error_api_nulls(void)
{
    CHECK_EQ_INT(ftls_error_new(NULL), FTLS_E_INVALID_ARGUMENT);
    ftls_error_free(NULL);
    ftls_error_clear(NULL);
    CHECK_EQ_INT(ftls_error_code(NULL), FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_error_category(NULL), FTLS_CAT_USAGE);
    CHECK(strcmp(ftls_error_message(NULL), "") == 0);
    CHECK(strcmp(ftls_error_openssl(NULL), "") == 0);
    CHECK_EQ_INT(ftls_error_openssl_code(NULL), 0);
    CHECK_EQ_INT(ftls_error_set(NULL, FTLS_E_IO, NULL), FTLS_E_IO);
    CHECK_EQ_INT(ftls_error_set(NULL, FTLS_E_IO, "m"), FTLS_E_IO);
}

static void test_log_api_nulls(void)
{
    CHECK_EQ_INT(ftls_log_set_callback(NULL, NULL, FTLS_LOG_ERROR), FTLS_OK);
}

static void test_mem_api_nulls(void)
{
    CHECK_EQ_INT(ftls_mem_set_functions(NULL, NULL, NULL),
                 FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_mem_set_functions(malloc, NULL, free),
                 FTLS_E_INVALID_ARGUMENT);
}

static void test_snapshot_api_nulls(void)
{
    ftls_error *err = NULL;
    REQUIRE(ftls_error_new(&err) == FTLS_OK);
    ftls_cell *cell = NULL;
    ftls_snapshot *snap = NULL;
    uint64_t gen = 99;

    CHECK_EQ_INT(ftls_cell_new(NULL, NULL, NULL, err), FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_error_code(err), FTLS_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(ftls_error_message(err), "ftls_cell_new");
    CHECK_EQ_INT(ftls_cell_new(NULL, NULL, NULL, NULL),
                 FTLS_E_INVALID_ARGUMENT);
    ftls_cell_free(NULL);
    CHECK_EQ_INT(ftls_cell_publish(NULL, &gen, &gen, err),
                 FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(gen, 0);
    CHECK_EQ_INT(ftls_cell_publish(NULL, NULL, NULL, NULL),
                 FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_cell_get1_snapshot(NULL, NULL), FTLS_E_INVALID_ARGUMENT);
    snap = (ftls_snapshot *)0x1;
    CHECK_EQ_INT(ftls_cell_get1_snapshot(NULL, &snap), FTLS_E_INVALID_ARGUMENT);
    CHECK(snap == NULL);
    CHECK_EQ_INT(ftls_cell_generation(NULL), 0);
    ftls_snapshot_free(NULL);
    CHECK_EQ_INT(ftls_snapshot_up_ref(NULL), FTLS_E_INVALID_ARGUMENT);
    CHECK(ftls_snapshot_get0_data(NULL) == NULL);
    CHECK_EQ_INT(ftls_snapshot_generation(NULL), 0);

    /* A real cell with NULL data or NULL out. */
    REQUIRE(ftls_cell_new(NULL, NULL, &cell, err) == FTLS_OK);
    CHECK_EQ_INT(ftls_cell_publish(cell, NULL, NULL, err),
                 FTLS_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(ftls_error_message(err), "data is NULL");
    CHECK_EQ_INT(ftls_cell_get1_snapshot(cell, NULL), FTLS_E_INVALID_ARGUMENT);
    ftls_cell_free(cell);
    ftls_error_free(err);
}

static void test_version_api(void)
{
    CHECK(ftls_version_string() != NULL);
    CHECK(strcmp(ftls_version_string(), FTLS_VERSION_STRING) == 0);
    CHECK_EQ_INT(ftls_version_number(), FTLS_VERSION_NUMBER);
    /* The loaded OpenSSL and the one built against: 3.x or 4.x, and the
     * same major (the test is built with the library's headers). */
    const char *loaded = ftls_version_openssl(),
               *built = ftls_version_openssl_built();
    CHECK(strncmp(loaded, "OpenSSL 3.", 10) == 0 ||
          strncmp(loaded, "OpenSSL 4.", 10) == 0);
    CHECK(strcmp(built, OPENSSL_VERSION_TEXT) == 0);
    CHECK(strncmp(loaded, built, 10) == 0);
}

int main(void)
{
    RUN(test_error_api_nulls);
    RUN(test_log_api_nulls);
    RUN(test_mem_api_nulls);
    RUN(test_snapshot_api_nulls);
    RUN(test_version_api);
    return TEST_SUMMARY();
}
