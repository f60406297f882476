/*
 * Sizes past the old fixed limits: nothing is cut silently. The string
 * helpers report FTLS_E_TOO_LARGE or mark a cut message with "..."; a
 * source watches every one of its paths (not the first 16); a path longer
 * than PATH_MAX is FTLS_E_TOO_LARGE (not "out of memory"); a ..data target
 * longer than 255 bytes is followed whole.
 */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <freshtls/freshtls.h>

#include "base/str.h"
#include "test.h"
#include "testutil.h"

static void test_str_printf_reports_truncation(void)
{
    char b[8];
    CHECK_EQ_INT(ftls__str_printf(b, sizeof(b), "%s", "1234567"), FTLS_OK);
    CHECK(strcmp(b, "1234567") == 0);
    CHECK_EQ_INT(ftls__str_printf(b, sizeof(b), "%s", "12345678"),
                 FTLS_E_TOO_LARGE);
    CHECK_EQ_INT(strlen(b), 7); /* still NUL-terminated */
    CHECK_EQ_INT(ftls__str_printf(b, 0, "x"), FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls__path_join(b, sizeof(b), "/etc", "ab"), FTLS_OK);
    CHECK(strcmp(b, "/etc/ab") == 0);
    CHECK_EQ_INT(ftls__path_join(b, sizeof(b), "/etc", "abc"),
                 FTLS_E_TOO_LARGE);
}

static void test_str_message_marks_cut(void)
{
    char b[10];
    ftls__str_message(b, sizeof(b), "%s", "short");
    CHECK(strcmp(b, "short") == 0);
    ftls__str_message(b, sizeof(b), "%s", "a message far too long");
    CHECK(strcmp(b, "a mess...") == 0);
    char *a = NULL;
    char big[5000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK_EQ_INT(ftls__str_aprintf(&a, "<%s>", big), FTLS_OK);
    CHECK(a != NULL && strlen(a) == sizeof(big) + 1);
    ftls__free(a);
}

static void test_strlist_unique_and_unbounded(void)
{
    struct ftls__strlist l = {0};
    char name[32];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "/p/%d", i % 50);
        CHECK_EQ_INT(ftls__strlist_add(&l, name), FTLS_OK);
    }
    CHECK_EQ_INT(l.n, 50);
    CHECK(strcmp(l.v[49], "/p/49") == 0);
    ftls__strlist_free(&l);
    CHECK(l.n == 0 && l.v == NULL);
}

static void test_error_message_cut_is_marked(void)
{
    char path[3000];
    memset(path, 'd', sizeof(path) - 1);
    path[0] = '/';
    path[sizeof(path) - 1] = '\0';
    ftls_error *err = NULL;
    REQUIRE(ftls_error_new(&err) == FTLS_OK);
    ftls_roots *r = NULL;
    CHECK(ftls_roots_load_paths(path, NULL, &r, err) != FTLS_OK);
    const char *m = ftls_error_message(err);
    size_t n = strlen(m);
    CHECK(n > 3 && strcmp(m + n - 3, "...") == 0);
    ftls_roots_free(r);
    ftls_error_free(err);
}

static void test_path_longer_than_path_max(void)
{
    static char longp[PATH_MAX + 64];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[0] = '/';
    longp[sizeof(longp) - 1] = '\0';
    ftls_source *s = NULL;
    ftls_error *err = NULL;
    REQUIRE(ftls_error_new(&err) == FTLS_OK);
    CHECK_EQ_INT(ftls_source_new_identity_files(longp, "/tmp/k", NULL, &s, err),
                 FTLS_E_TOO_LARGE);
    CHECK(s == NULL);
    CHECK_STR_CONTAINS(ftls_error_message(err), "PATH_MAX");
    ftls_error_free(err);
}

static EVP_PKEY *g_key;

static X509 *self_signed(const char *cn)
{
    struct tu_cert_opts o = {.cn = cn, .ca = 1};
    return tu_cert(&o, g_key, NULL, NULL);
}

struct reloads {
    ftls_source *src;
    uint64_t want;
};

static int reached(void *arg)
{
    const struct reloads *r = arg;
    return ftls_source_generation(r->src) >= r->want;
}

/* 20 CA files, each in its own directory: a change to the last one must
 * reload the source, with inotify and with polling. The old watch spec
 * kept 16 paths and dropped the rest without a word. */
static void watch_many_paths(int force_polling)
{
    enum { N = 20 };
    char *root = tu_tmpdir();
    char list[N * 64] = "", path[256];
    for (int i = 0; i < N; i++) {
        snprintf(path, sizeof(path), "%s/d%02d", root, i);
        REQUIRE(mkdir(path, 0755) == 0);
        snprintf(path, sizeof(path), "%s/d%02d/ca.pem", root, i);
        X509 *c = self_signed("many-paths CA");
        REQUIRE(c != NULL && tu_write_certs(path, "w", &c, 1));
        X509_free(c);
        strcat(list, i ? ":" : "");
        strcat(list, path);
    }
    ftls_source *src = NULL;
    REQUIRE(ftls_source_new_trust(list, NULL, &src, NULL) == FTLS_OK);
    REQUIRE(ftls_source_reload(src, NULL) == FTLS_OK);
    ftls_watcher_options wo = {.debounce_ms = 10,
                               .poll_interval_ms = 50,
                               .force_polling = force_polling};
    ftls_watcher *w = NULL;
    REQUIRE(ftls_watcher_new(&wo, &w, NULL) == FTLS_OK);
    REQUIRE(ftls_watcher_add(w, src, NULL) == FTLS_OK);
    REQUIRE(ftls_watcher_start(w, NULL) == FTLS_OK);
    X509 *c2[2] = {self_signed("many-paths CA"), self_signed("added CA")};
    REQUIRE(c2[0] && c2[1]);
    CHECK(tu_write_certs(path, "w", c2, 2)); /* the 20th file */
    X509_free(c2[0]);
    X509_free(c2[1]);
    struct reloads r = {src, 2};
    CHECK(tu_wait_until(reached, &r, 10.0));
    ftls_watcher_free(w);
    ftls_source_free(src);
    tu_rmrf(root);
    free(root);
}

static void test_watch_past_16_paths_inotify(void)
{
    watch_many_paths(0);
}

static void test_watch_past_16_paths_polling(void)
{
    watch_many_paths(1);
}

/* A ..data symlink whose target is longer than 255 bytes (a relative path
 * of several components): read whole, not cut to a name that does not
 * exist. */
static void test_long_data_target(void)
{
    char *dir = tu_tmpdir();
    char target[400] = "..gen", path[1024];
    while (strlen(target) < 300)
        strcat(target, "/sub-directory-of-the-generation");
    snprintf(path, sizeof(path), "%s/%s", dir, target);
    for (char *p = path + strlen(dir) + 1; *p; p++) /* mkdir -p */
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    REQUIRE(mkdir(path, 0755) == 0);
    struct tu_cert_opts co = {.cn = "long.example", .dns = "long.example"};
    X509 *leaf = tu_cert(&co, g_key, NULL, NULL);
    char f[1200];
    snprintf(f, sizeof(f), "%s/tls.crt", path);
    REQUIRE(leaf && tu_write_certs(f, "w", &leaf, 1));
    snprintf(f, sizeof(f), "%s/tls.key", path);
    REQUIRE(tu_write_key(f, g_key));
    snprintf(f, sizeof(f), "%s/..data", dir);
    REQUIRE(symlink(target, f) == 0);
    snprintf(f, sizeof(f), "%s/tls.crt", dir);
    REQUIRE(symlink("..data/tls.crt", f) == 0);
    snprintf(f, sizeof(f), "%s/tls.key", dir);
    REQUIRE(symlink("..data/tls.key", f) == 0);
    ftls_source *src = NULL;
    ftls_error *err = NULL;
    REQUIRE(ftls_error_new(&err) == FTLS_OK);
    ftls_identity_options io = {.purpose = FTLS_IDENTITY_ANY};
    REQUIRE(ftls_source_new_identity_dir(dir, &io, &src, err) == FTLS_OK);
    ftls_code rc = ftls_source_reload(src, err);
    CHECK_EQ_INT(rc, FTLS_OK);
    if (rc != FTLS_OK)
        fprintf(stderr, "  reload: %s\n", ftls_error_message(err));
    ftls_source_free(src);
    ftls_error_free(err);
    X509_free(leaf);
    tu_rmrf(dir);
    free(dir);
}

int main(void)
{
    g_key = tu_key();
    REQUIRE(g_key != NULL);
    RUN(test_str_printf_reports_truncation);
    RUN(test_str_message_marks_cut);
    RUN(test_strlist_unique_and_unbounded);
    RUN(test_error_message_cut_is_marked);
    RUN(test_path_longer_than_path_max);
    RUN(test_watch_past_16_paths_inotify);
    RUN(test_watch_past_16_paths_polling);
    RUN(test_long_data_target);
    EVP_PKEY_free(g_key);
    return TEST_SUMMARY();
}
