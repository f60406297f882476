/* freshtls selftest: a short end-to-end check of the library in this
 * process, for operators and for `make run`. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "cli.h"

const struct cli_command cli_cmd_selftest = {
    "selftest",
    "check that the library works in this process",
    "usage: freshtls selftest\n\n"
    "Runs quick in-process checks: the OpenSSL loaded at run time is 3.x,\n"
    "OpenSSL's failure reason survives in freshtls' error object, and the\n"
    "snapshot cell hands out and destroys snapshots correctly while reader\n"
    "threads race a publisher. Exits 0 when every check passes.\n",
    cmd_selftest,
};

static int check_openssl_runtime(char *why, size_t n)
{
    if (OpenSSL_version_num() < 0x30000000UL) {
        snprintf(why, n, "OpenSSL %s is older than 3.0",
                 OpenSSL_version(OPENSSL_VERSION));
        return 0;
    }
    return 1;
}

static int check_error_model(char *why, size_t n)
{
    ftls_error *err = NULL;
    if (ftls_error_new(&err) != FTLS_OK) {
        snprintf(why, n, "cannot allocate error object");
        return 0;
    }
    BIO *bio = BIO_new_mem_buf("garbage", 7);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    X509_free(x);
    BIO_free(bio);
    (void)ftls_error_set(err, FTLS_E_PARSE, "selftest");
    int ok =
        ERR_GET_REASON(ftls_error_openssl_code(err)) == PEM_R_NO_START_LINE &&
        strstr(ftls_error_message(err), "no start line") != NULL;
    if (!ok)
        snprintf(why, n, "OpenSSL reason lost: '%s'", ftls_error_message(err));
    ftls_error_free(err);
    return ok;
}

#define ST_READERS 2
#define ST_PUBLISHES 2000
static atomic_int g_destroyed;
static atomic_int g_bad;
static atomic_int g_done;

static void st_free(void *data, void *arg)
{
    (void)arg;
    atomic_fetch_add(&g_destroyed, 1);
    free(data);
}

static void *st_reader(void *arg)
{
    ftls_cell *cell = arg;
    while (!atomic_load(&g_done)) {
        ftls_snapshot *s = NULL;
        if (ftls_cell_get1_snapshot(cell, &s) != FTLS_OK) {
            atomic_fetch_add(&g_bad, 1);
            return NULL;
        }
        const uint64_t *v = ftls_snapshot_get0_data(s);
        if (*v != ftls_snapshot_generation(s))
            atomic_fetch_add(&g_bad, 1);
        ftls_snapshot_free(s);
    }
    return NULL;
}

static int check_snapshot_cell(char *why, size_t n)
{
    ftls_cell *cell = NULL;
    ftls_error *err = NULL;
    pthread_t th[ST_READERS];
    int started = 0, ok = 0;
    if (ftls_error_new(&err) != FTLS_OK ||
        ftls_cell_new(st_free, NULL, &cell, err) != FTLS_OK)
        goto done;
    for (uint64_t g = 1; g <= ST_PUBLISHES; g++) {
        uint64_t *v = malloc(sizeof(*v));
        if (v == NULL)
            goto done;
        *v = g;
        if (ftls_cell_publish(cell, v, NULL, err) != FTLS_OK) {
            free(v);
            goto done;
        }
        if (g == 1)
            for (; started < ST_READERS; started++)
                if (pthread_create(&th[started], NULL, st_reader, cell) != 0)
                    goto done;
    }
    ok = 1;
done:
    atomic_store(&g_done, 1);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    uint64_t last = ftls_cell_generation(cell);
    ftls_cell_free(cell);
    if (ok && (atomic_load(&g_bad) != 0 || last != ST_PUBLISHES ||
               atomic_load(&g_destroyed) != ST_PUBLISHES)) {
        snprintf(why, n, "bad=%d last=%llu destroyed=%d", atomic_load(&g_bad),
                 (unsigned long long)last, atomic_load(&g_destroyed));
        ok = 0;
    } else if (!ok) {
        snprintf(why, n, "setup failed: %s", ftls_error_message(err));
    }
    ftls_error_free(err);
    return ok;
}

int cmd_selftest(int argc, char **argv)
{
    (void)argv;
    if (argc > 1)
        return cli_usage_error("selftest", "takes no arguments");
    static const struct {
        const char *name;
        int (*fn)(char *, size_t);
    } checks[] = {
        {"openssl runtime is 3.x", check_openssl_runtime},
        {"error model keeps OpenSSL's reason", check_error_model},
        {"snapshot cell under 2 readers + publisher", check_snapshot_cell},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        char why[256] = "";
        int ok = checks[i].fn(why, sizeof(why));
        printf("selftest: %-45s %s%s%s\n", checks[i].name, ok ? "ok" : "FAIL",
               ok ? "" : ": ", why);
        failed += !ok;
    }
    printf("selftest: %s\n", failed ? "FAILED" : "all checks passed");
    return failed ? CLI_FAIL : CLI_OK;
}
