/*
 * Private-key bytes never reach free() unwiped: not when the read buffer
 * grows because the file grew after its size was taken, and not when the
 * read fails half-way. A free() hook scans every block it is handed for a
 * marker that only the key file contains.
 */
#include <malloc.h>
#include <stdatomic.h>
#include <fcntl.h>

#include <freshtls/freshtls.h>
#include "base/fileio.h"
#include "test.h"
#include "base/testhook.h"
#include "testutil.h"

#define MARK "SECRETKEYMARK"

static atomic_int g_unwiped;

static void scanning_free(void *p)
{
    if (p != NULL) {
        size_t n = malloc_usable_size(p);
        if (memmem(p, n, MARK, sizeof(MARK) - 1) != NULL)
            atomic_fetch_add(&g_unwiped, 1);
    }
    free(p);
}

/* realloc() hands the old block back unwiped when it moves it: do the
 * move here, so the old block is scanned like any other. */
static void *scanning_realloc(void *p, size_t n)
{
    if (p == NULL)
        return malloc(n);
    void *q = malloc(n);
    if (q == NULL)
        return NULL;
    size_t old = malloc_usable_size(p);
    memcpy(q, p, old < n ? old : n);
    scanning_free(p);
    return q;
}

static const char *g_grow_path;
static size_t g_grow_by;

/* After the reader took the file's size: make the file longer. */
static void grow_file(enum ftls__hook_point point, const void *arg)
{
    if (point != FTLS_HOOK_FILE_STATED || g_grow_path == NULL ||
        strcmp(arg, g_grow_path) != 0)
        return;
    FILE *f = fopen(g_grow_path, "a");
    REQUIRE(f != NULL);
    for (size_t i = 0; i < g_grow_by; i += sizeof(MARK) - 1)
        fputs(MARK, f);
    fclose(f);
}

static char *key_file(const char *dir)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/key.pem", dir);
    char body[200];
    snprintf(body, sizeof(body), "-----BEGIN PRIVATE KEY-----\n%s\n", MARK);
    REQUIRE(tu_write_file(path, body, strlen(body)));
    return path;
}

static void read_with_growth(size_t grow_by, size_t cap, ftls_code want)
{
    char *dir = tu_tmpdir();
    g_grow_path = key_file(dir);
    g_grow_by = grow_by;
    atomic_store(&g_unwiped, 0);
    struct ftls__buf b = {0};
    ftls_code rc = ftls__file_read(AT_FDCWD, g_grow_path, cap, &b, NULL);
    CHECK_EQ_INT(rc, want);
    if (rc == FTLS_OK)
        CHECK(b.len > grow_by); /* the whole, grown file */
    ftls__buf_free(&b, 1);
    CHECK_EQ_INT(atomic_load(&g_unwiped), 0);
    g_grow_path = NULL;
    tu_rmrf(dir);
    free(dir);
}

/* The buffer was sized for ~60 bytes and must grow several times. */
static void test_growing_key_file_wiped(void)
{
    read_with_growth(20000, FTLS_FILE_CAP_DEFAULT, FTLS_OK);
}

/* The file grows past the cap mid-read: the partial buffer is wiped. */
static void test_oversized_key_file_wiped(void)
{
    read_with_growth(20000, 4096, FTLS_E_TOO_LARGE);
}

int main(void)
{
    REQUIRE(ftls_mem_set_functions(malloc, scanning_realloc, scanning_free) ==
            FTLS_OK);
    ftls__test_hook_set(grow_file);
    RUN(test_growing_key_file_wiped);
    RUN(test_oversized_key_file_wiped);
    ftls__test_hook_set(NULL);
    return TEST_SUMMARY();
}
