/* Root loading against hostile input: each case gives a clear error or
 * problem, good roots beside bad ones survive, and explicit overrides
 * never fall back silently. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fileio.h"
#include "test.h"
#include "testutil.h"

static char *g_dir;
static X509 *g_ca1, *g_ca2;

static char *path(const char *name)
{
    static char buf[8][4096];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 4096, "%s/%s", g_dir, name);
    return p;
}

static void setup(void)
{
    REQUIRE((g_dir = tu_tmpdir()) != NULL);
    EVP_PKEY *k1 = tu_key(), *k2 = tu_key();
    struct tu_cert_opts o1 = {
        .cn = "Test Root One", .ca = 1, .lifetime = 86400L * 3650};
    struct tu_cert_opts o2 = {
        .cn = "Test Root Two", .ca = 1, .lifetime = 86400L * 3650};
    REQUIRE((g_ca1 = tu_cert(&o1, k1, NULL, NULL)) != NULL);
    REQUIRE((g_ca2 = tu_cert(&o2, k2, NULL, NULL)) != NULL);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    REQUIRE(tu_write_certs(path("one.pem"), "w", &g_ca1, 1));
    REQUIRE(tu_write_certs(path("two.pem"), "w", &g_ca2, 1));
}

/* Find a problem whose reason contains `needle`. */
static int has_problem(const ftls_roots *r, const char *needle)
{
    for (size_t i = 0; i < ftls_roots_problem_count(r); i++) {
        const char *p, *why;
        (void)ftls_roots_problem(r, i, &p, &why);
        if (strstr(why, needle) || strstr(p, needle))
            return 1;
    }
    return 0;
}

static ftls_roots *load_files(const char *files, ftls_code want,
                              ftls_error *err)
{
    ftls_roots *r = NULL;
    ftls_code rc = ftls_roots_load_paths(files, NULL, &r, err);
    CHECK_EQ_INT(rc, want);
    if (rc != FTLS_OK)
        CHECK(r == NULL);
    return r;
}

static void test_good_file(void)
{
    ftls_roots *r = load_files(path("one.pem"), FTLS_OK, NULL);
    CHECK_EQ_INT(ftls_roots_count(r), 1);
    CHECK_EQ_INT(ftls_roots_problem_count(r), 0);
    ftls_root_info info;
    CHECK_EQ_INT(ftls_roots_get0_info(r, 0, &info), FTLS_OK);
    CHECK(strcmp(info.location, path("one.pem")) == 0);
    CHECK(X509_NAME_cmp(info.subject, X509_get_subject_name(g_ca1)) == 0);
    CHECK(info.distrust_after == 0);
    ftls_roots_free(r);
}

static void write_str(const char *name, const char *s)
{
    REQUIRE(tu_write_file(path(name), s, strlen(s)));
}

/* Bad blocks are problems; the good root in the same set survives. */
static void test_bad_blocks_are_partial(void)
{
    size_t n = 0;
    char *good = tu_read_file(path("one.pem"), &n);
    REQUIRE(good != NULL);
    /* corrupted base64: a '*' in the middle of the body */
    char *bad = strdup(good);
    bad[40] = '*';
    char *mixed = malloc(n * 4 + 512);
    REQUIRE(mixed != NULL);
    sprintf(mixed,
            "# comment before\n%s%s"
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
            "%.*s",
            good, bad, (int)(n / 2), good); /* truncated tail */
    write_str("mixed.pem", mixed);
    ftls_error *err = NULL;
    REQUIRE(ftls_error_new(&err) == FTLS_OK);
    ftls_roots *r = load_files(path("mixed.pem"), FTLS_OK, err);
    CHECK_EQ_INT(ftls_roots_count(r), 1);
    CHECK_EQ_INT(ftls_roots_problem_count(r), 3);
    CHECK(has_problem(r, "corrupted base64"));
    CHECK(has_problem(r, "'PRIVATE KEY' is not a certificate"));
    CHECK(has_problem(r, "truncated PEM block"));
    CHECK(has_problem(r, "mixed.pem:")); /* path:line */
    ftls_roots_free(r);
    ftls_error_free(err);
    free(good);
    free(bad);
    free(mixed);
}

static void test_garbage_empty_der_give_no_roots(void)
{
    ftls_error *err = NULL;
    REQUIRE(ftls_error_new(&err) == FTLS_OK);
    write_str("garbage.pem", "this is not a certificate\n\x01\x02\x03");
    write_str("empty.pem", "");
    const unsigned char *der = NULL;
    unsigned char *buf = NULL;
    int dlen = i2d_X509(g_ca1, &buf);
    der = buf;
    REQUIRE(dlen > 0 && tu_write_file(path("blob.der"), der, (size_t)dlen));
    OPENSSL_free(buf);

    struct {
        const char *file, *msg;
    } cases[] = {
        {"garbage.pem", "no PEM certificate found"},
        {"empty.pem", "empty file"},
        {"blob.der", "looks like DER"},
    };
    for (size_t i = 0; i < FTLS_ARRAY_LEN(cases); i++) {
        ftls_roots *r = load_files(path(cases[i].file), FTLS_E_NO_ROOTS, err);
        CHECK_EQ_INT(ftls_error_code(err), FTLS_E_NO_ROOTS);
        CHECK_STR_CONTAINS(ftls_error_message(err), cases[i].msg);
        CHECK_STR_CONTAINS(ftls_error_message(err), cases[i].file);
        ftls_roots_free(r);
    }
    ftls_error_free(err);
}

static void test_huge_file_capped(void)
{
    /* A sparse 100 MB file: larger than the cap, costs no disk. */
    int fd = open(path("huge.pem"), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(ftruncate(fd, 100L * 1024 * 1024) == 0);
    close(fd);
    ftls_error *err = NULL;
    REQUIRE(ftls_error_new(&err) == FTLS_OK);
    ftls_roots *r = load_files(path("huge.pem"), FTLS_E_TOO_LARGE, err);
    CHECK_STR_CONTAINS(ftls_error_message(err), "limit");
    ftls_roots_free(r);
    /* In a directory the same file is a problem, not a failure. */
    char d[4096];
    snprintf(d, sizeof(d), "%s", path("hugedir"));
    REQUIRE(mkdir(d, 0755) == 0);
    char target[4200];
    snprintf(target, sizeof(target), "%s/huge.pem", d);
    REQUIRE(rename(path("huge.pem"), target) == 0);
    REQUIRE(symlink(path("one.pem"), path("hugedir/one.pem")) == 0);
    r = NULL;
    CHECK_EQ_INT(ftls_roots_load_paths(NULL, d, &r, err), FTLS_OK);
    CHECK_EQ_INT(ftls_roots_count(r), 1);
    CHECK(has_problem(r, "limit"));
    ftls_roots_free(r);
    ftls_error_free(err);
}

/* EACCES cannot be produced by chmod when the tests run as root, so the
 * open is failed through the test hook for one file name. */
static int eacces_open(int dirfd, const char *p, int flags)
{
    if (strstr(p, "secret.pem") != NULL) {
        errno = EACCES;
        return -1;
    }
    return openat(dirfd, p, flags);
}

static void test_directory_dangling_and_eacces(void)
{
    char d[4096];
    snprintf(d, sizeof(d), "%s", path("dir"));
    REQUIRE(mkdir(d, 0755) == 0);
    REQUIRE(symlink("/nonexistent/root.pem", path("dir/dangling.pem")) == 0);
    REQUIRE(symlink(path("one.pem"), path("dir/aaaa.0")) == 0);
    REQUIRE(symlink(path("one.pem"), path("dir/one.pem")) ==
            0); /* same inode */
    REQUIRE(symlink(path("two.pem"), path("dir/secret.pem")) == 0);
    REQUIRE(mkdir(path("dir/subdir"), 0755) == 0);
    REQUIRE(symlink("loop", path("dir/loop")) == 0); /* ELOOP */
    ftls__fileio_set_hooks(eacces_open, NULL);
    ftls_roots *r = NULL;
    ftls_error *err = NULL;
    REQUIRE(ftls_error_new(&err) == FTLS_OK);
    CHECK_EQ_INT(ftls_roots_load_paths(NULL, d, &r, err), FTLS_OK);
    if (r == NULL)
        fprintf(stderr, "load failed: %s\n", ftls_error_message(err));
    ftls__fileio_set_hooks(NULL, NULL);
    CHECK_EQ_INT(ftls_roots_count(r), 1);
    ftls_roots_stats st;
    CHECK_EQ_INT(ftls_roots_get_stats(r, &st), FTLS_OK);
    CHECK_EQ_INT(st.files_read, 1); /* one inode read once */
    CHECK_EQ_INT(ftls_roots_problem_count(r), 1);
    CHECK(has_problem(r, "secret.pem"));
    CHECK(has_problem(r, "Permission denied"));
    ftls_roots_free(r);
    ftls_error_free(err);
}

static void test_dedup_across_file_and_dir(void)
{
    X509 *both[2] = {g_ca1, g_ca2};
    REQUIRE(tu_write_certs(path("bundle.pem"), "w", both, 2));
    char d[4096];
    snprintf(d, sizeof(d), "%s", path("dedup"));
    REQUIRE(mkdir(d, 0755) == 0);
    REQUIRE(tu_write_certs(path("dedup/copy1.pem"), "w", &g_ca1, 1));
    REQUIRE(tu_write_certs(path("dedup/copy2.pem"), "w", &g_ca2, 1));
    ftls_roots *r = NULL;
    CHECK_EQ_INT(ftls_roots_load_paths(path("bundle.pem"), d, &r, NULL),
                 FTLS_OK);
    CHECK_EQ_INT(ftls_roots_count(r), 2);
    ftls_roots_stats st;
    CHECK_EQ_INT(ftls_roots_get_stats(r, &st), FTLS_OK);
    CHECK_EQ_INT(st.certs_seen, 4);
    CHECK_EQ_INT(st.duplicates, 2);
    ftls_roots_free(r);
}

static void test_env_override_strict(void)
{
    ftls_error *err = NULL;
    REQUIRE(ftls_error_new(&err) == FTLS_OK);
    ftls_roots *r = NULL;
    /* Pointing to nothing: an error, never the distro store or fallback. */
    setenv("SSL_CERT_FILE", path("does-not-exist.pem"), 1);
    unsetenv("SSL_CERT_DIR");
    for (int src = FTLS_ROOTS_SYSTEM; src <= FTLS_ROOTS_BOTH; src++) {
        if (src == FTLS_ROOTS_FALLBACK)
            continue;
        CHECK_EQ_INT(ftls_roots_load((ftls_roots_origin)src, &r, err),
                     FTLS_E_NOT_FOUND);
        CHECK(r == NULL);
        CHECK_STR_CONTAINS(ftls_error_message(err), "does-not-exist.pem");
    }
    /* Pointing to garbage. */
    setenv("SSL_CERT_FILE", path("garbage.pem"), 1);
    CHECK_EQ_INT(ftls_roots_load(FTLS_ROOTS_AUTO, &r, err), FTLS_E_NO_ROOTS);
    /* A directory where a file is expected. */
    setenv("SSL_CERT_FILE", g_dir, 1);
    CHECK_EQ_INT(ftls_roots_load(FTLS_ROOTS_SYSTEM, &r, err), FTLS_E_IO);
    CHECK_STR_CONTAINS(ftls_error_message(err), "Is a directory");
    /* A list with an empty entry and a good file. */
    char list[8192];
    snprintf(list, sizeof(list), "::%s:", path("one.pem"));
    setenv("SSL_CERT_FILE", list, 1);
    CHECK_EQ_INT(ftls_roots_load(FTLS_ROOTS_SYSTEM, &r, err), FTLS_OK);
    CHECK_EQ_INT(ftls_roots_count(r), 1);
    ftls_roots_free(r);
    /* SSL_CERT_DIR alone. */
    unsetenv("SSL_CERT_FILE");
    setenv("SSL_CERT_DIR", path("dedup"), 1);
    CHECK_EQ_INT(ftls_roots_load(FTLS_ROOTS_SYSTEM, &r, err), FTLS_OK);
    CHECK_EQ_INT(ftls_roots_count(r), 2);
    ftls_roots_free(r);
    /* both = system + fallback, deduplicated. */
    CHECK_EQ_INT(ftls_roots_load(FTLS_ROOTS_BOTH, &r, err), FTLS_OK);
    CHECK_EQ_INT(ftls_roots_count(r), 2 + 121);
    ftls_roots_free(r);
    unsetenv("SSL_CERT_DIR");
    ftls_error_free(err);
}

/* Transient errors are retried with backoff; the happy path never sleeps. */
static int g_fail_left, g_opens, g_sleeps;
static int flaky_open(int dirfd, const char *p, int flags)
{
    g_opens++;
    if (g_fail_left > 0) {
        g_fail_left--;
        errno = EMFILE;
        return -1;
    }
    return openat(dirfd, p, flags);
}
static void count_sleep(unsigned ms)
{
    (void)ms;
    g_sleeps++;
}

static void test_transient_retry(void)
{
    ftls__fileio_set_hooks(flaky_open, count_sleep);
    ftls_roots *r = NULL;
    g_fail_left = 0, g_opens = 0, g_sleeps = 0;
    CHECK_EQ_INT(ftls_roots_load_paths(path("one.pem"), NULL, &r, NULL),
                 FTLS_OK);
    CHECK_EQ_INT(g_sleeps, 0);
    ftls_roots_free(r);
    g_fail_left = 2, g_opens = 0, g_sleeps = 0;
    CHECK_EQ_INT(ftls_roots_load_paths(path("one.pem"), NULL, &r, NULL),
                 FTLS_OK);
    CHECK_EQ_INT(g_opens, 3);
    CHECK_EQ_INT(g_sleeps, 2);
    ftls_roots_free(r);
    ftls_error *err = NULL;
    REQUIRE(ftls_error_new(&err) == FTLS_OK);
    g_fail_left = 100, g_opens = 0, g_sleeps = 0;
    CHECK_EQ_INT(ftls_roots_load_paths(path("one.pem"), NULL, &r, err),
                 FTLS_E_IO);
    CHECK_STR_CONTAINS(ftls_error_message(err), "after 4 attempts");
    CHECK_EQ_INT(g_opens, 4);
    ftls__fileio_set_hooks(NULL, NULL);
    ftls_error_free(err);
}

static void test_memory_source(void)
{
    size_t n = 0;
    char *pem = tu_read_file(path("bundle.pem"), &n);
    REQUIRE(pem != NULL);
    ftls_roots *r = NULL;
    CHECK_EQ_INT(ftls_roots_load_pem(pem, n, "vault:pki/ca", &r, NULL),
                 FTLS_OK);
    CHECK_EQ_INT(ftls_roots_count(r), 2);
    ftls_root_info info;
    CHECK_EQ_INT(ftls_roots_get0_info(r, 1, &info), FTLS_OK);
    CHECK(strcmp(info.location, "vault:pki/ca") == 0);
    ftls_roots_free(r);
    CHECK_EQ_INT(ftls_roots_load_pem("junk", 4, NULL, &r, NULL),
                 FTLS_E_NO_ROOTS);
    free(pem);
}

static void test_null_args(void)
{
    ftls_roots *r = (ftls_roots *)0x1;
    CHECK_EQ_INT(ftls_roots_load(FTLS_ROOTS_SYSTEM, NULL, NULL),
                 FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_roots_load((ftls_roots_origin)9, &r, NULL),
                 FTLS_E_INVALID_ARGUMENT);
    CHECK(r == NULL);
    CHECK_EQ_INT(ftls_roots_load_paths(NULL, NULL, &r, NULL),
                 FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_roots_load_paths("", "", &r, NULL),
                 FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_roots_load_pem(NULL, 0, NULL, &r, NULL),
                 FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_roots_get1_shared(FTLS_ROOTS_SYSTEM, NULL, NULL),
                 FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_roots_count(NULL), 0);
    CHECK_EQ_INT(ftls_roots_problem_count(NULL), 0);
    CHECK_EQ_INT(ftls_roots_problem(NULL, 0, NULL, NULL),
                 FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_roots_get0_info(NULL, 0, NULL), FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_roots_get_stats(NULL, NULL), FTLS_E_INVALID_ARGUMENT);
    CHECK(ftls_roots_get0_path(NULL, 0) == NULL);
    CHECK_EQ_INT(ftls_roots_up_ref(NULL), FTLS_E_INVALID_ARGUMENT);
    ftls_roots_free(NULL);
    X509_STORE *s = (X509_STORE *)0x1;
    CHECK_EQ_INT(ftls_roots_new_store(NULL, &s, NULL), FTLS_E_INVALID_ARGUMENT);
    CHECK(s == NULL);
    CHECK_EQ_INT(ftls_roots_new_store(NULL, NULL, NULL),
                 FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_roots_x509_distrust_after(NULL), 0);
    CHECK_EQ_INT(ftls_roots_export_pem(NULL, "/tmp/x", 0, 0, NULL, NULL),
                 FTLS_E_INVALID_ARGUMENT);
    ftls_roots_origin src;
    CHECK_EQ_INT(ftls_roots_origin_parse("nope", &src),
                 FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_roots_origin_parse(NULL, &src), FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_roots_origin_parse("both", &src), FTLS_OK);
    CHECK_EQ_INT(src, FTLS_ROOTS_BOTH);
    CHECK(strcmp(ftls_roots_origin_name((ftls_roots_origin)7), "unknown") == 0);
    CHECK_EQ_INT(ftls_roots_watch_start(1, NULL), FTLS_E_INVALID_ARGUMENT);
    ftls_roots_watch_stop(); /* not running: no-op */
}

int main(void)
{
    setup();
    RUN(test_good_file);
    RUN(test_bad_blocks_are_partial);
    RUN(test_garbage_empty_der_give_no_roots);
    RUN(test_huge_file_capped);
    RUN(test_directory_dangling_and_eacces);
    RUN(test_dedup_across_file_and_dir);
    RUN(test_env_override_strict);
    RUN(test_transient_retry);
    RUN(test_memory_source);
    RUN(test_null_args);
    X509_free(g_ca1);
    X509_free(g_ca2);
    tu_rmrf(g_dir);
    free(g_dir);
    return TEST_SUMMARY();
}
