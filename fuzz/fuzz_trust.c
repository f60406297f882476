/* libFuzzer target: a trust source (CA bundle file) reloaded from bytes on
 * disk, as an operator's client-CA or upstream-CA file would be: file read,
 * PEM/DER parsing, dedupe, publish, and a store built from what was
 * published. A rejected bundle must leave the previous set published. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/x509.h>

#include <freshtls/freshtls.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_path[64];
static ftls_source *g_src;

static void setup(void)
{
    char dir[] = "/tmp/ftls-fuzz-trust-XXXXXX";
    if (mkdtemp(dir) == NULL)
        abort();
    snprintf(g_path, sizeof(g_path), "%s/bundle.pem", dir);
    FILE *f = fopen(g_path, "w");
    if (f == NULL)
        abort();
    fclose(f);
    if (ftls_source_new_trust(g_path, NULL, &g_src, NULL) != FTLS_OK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_src == NULL)
        setup();
    FILE *f = fopen(g_path, "wb");
    if (f == NULL)
        abort();
    if (size > 0 && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    uint64_t before = ftls_source_generation(g_src);
    ftls_code rc = ftls_source_reload(g_src, NULL);
    if (rc != FTLS_OK && ftls_source_generation(g_src) != before)
        abort(); /* a rejected bundle published something */
    ftls_roots *r = NULL;
    if (ftls_source_get1_roots(g_src, &r, NULL) == FTLS_OK) {
        X509_STORE *st = NULL;
        if (ftls_roots_new_store(r, &st, NULL) == FTLS_OK)
            X509_STORE_free(st);
        ftls_roots_free(r);
    }
    return 0;
}
