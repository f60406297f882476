/* Logging hook: level filtering, removal, no output without a callback. */
#include "base/internal.h"
#include "test.h"

struct capture {
    int count;
    ftls_log_level last_level;
    char last[256];
};

static void on_log(ftls_log_level level, const char *msg, void *ud)
{
    struct capture *c = ud;
    c->count++;
    c->last_level = level;
    snprintf(c->last, sizeof(c->last), "%s", msg);
}

static void test_levels_filter(void)
{
    struct capture c = {0};
    REQUIRE(ftls_log_set_callback(on_log, &c, FTLS_LOG_WARN) == FTLS_OK);
    ftls__log(FTLS_LOG_ERROR, "reload failed: %s", "tls.key");
    CHECK_EQ_INT(c.count, 1);
    CHECK_EQ_INT(c.last_level, FTLS_LOG_ERROR);
    CHECK(strcmp(c.last, "reload failed: tls.key") == 0);
    ftls__log(FTLS_LOG_WARN, "w");
    CHECK_EQ_INT(c.count, 2);
    ftls__log(FTLS_LOG_INFO, "dropped");
    ftls__log(FTLS_LOG_DEBUG, "dropped");
    CHECK_EQ_INT(c.count, 2);
    CHECK(ftls__log_enabled(FTLS_LOG_WARN));
    CHECK(!ftls__log_enabled(FTLS_LOG_INFO));
    REQUIRE(ftls_log_set_callback(NULL, NULL, FTLS_LOG_DEBUG) == FTLS_OK);
    ftls__log(FTLS_LOG_ERROR, "nobody listens");
    CHECK_EQ_INT(c.count, 2);
    CHECK(!ftls__log_enabled(FTLS_LOG_ERROR));
}

static void test_invalid_level(void)
{
    struct capture c = {0};
    CHECK_EQ_INT(ftls_log_set_callback(on_log, &c, (ftls_log_level)9),
                 FTLS_E_INVALID_ARGUMENT);
    CHECK_EQ_INT(ftls_log_set_callback(on_log, &c, (ftls_log_level)-1),
                 FTLS_E_INVALID_ARGUMENT);
    ftls__log(FTLS_LOG_ERROR, "x");
    CHECK_EQ_INT(c.count, 0);
}

static void test_level_names(void)
{
    CHECK(strcmp(ftls_log_level_name(FTLS_LOG_ERROR), "error") == 0);
    CHECK(strcmp(ftls_log_level_name(FTLS_LOG_DEBUG), "debug") == 0);
    CHECK(strcmp(ftls_log_level_name((ftls_log_level)42), "unknown") == 0);
}

static void test_long_message_truncated(void)
{
    struct capture c = {0};
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    REQUIRE(ftls_log_set_callback(on_log, &c, FTLS_LOG_DEBUG) == FTLS_OK);
    ftls__log(FTLS_LOG_INFO, "%s", big);
    CHECK_EQ_INT(c.count, 1);
    CHECK(ftls_log_set_callback(NULL, NULL, FTLS_LOG_ERROR) == FTLS_OK);
}

static char g_seen[2048];
static void keep(ftls_log_level l, const char *m, void *ud)
{
    (void)l, (void)ud;
    snprintf(g_seen, sizeof(g_seen), "%s", m);
}

/* Bytes from peers and file names cannot forge log lines or drive a
 * terminal: every non-printable byte arrives as \xNN, in log lines and in
 * error messages alike; escaping twice changes nothing. */
static void test_untrusted_bytes_escaped(void)
{
    REQUIRE(ftls_log_set_callback(keep, NULL, FTLS_LOG_DEBUG) == FTLS_OK);
    ftls__log(FTLS_LOG_WARN, "name '%s'",
              "a\nINFO loaded generation 9\x1b[2J\xc3\xa9");
    CHECK_STR_CONTAINS(
        g_seen, "name 'a\\x0aINFO loaded generation 9\\x1b[2J\\xc3\\xa9'");
    for (const char *p = g_seen; *p; p++)
        CHECK(*p >= 0x20 && *p < 0x7f);
    char again[2048];
    snprintf(again, sizeof(again), "%s", g_seen);
    ftls__escape(again, sizeof(again));
    CHECK(strcmp(again, g_seen) == 0);
    ftls_error *err = NULL;
    REQUIRE(ftls_error_new(&err) == FTLS_OK);
    CHECK(ftls__err(err, FTLS_E_PARSE, "%s: bad", "dir\r\nforged") ==
          FTLS_E_PARSE);
    CHECK_STR_CONTAINS(ftls_error_message(err), "dir\\x0d\\x0aforged: bad");
    ftls_error_free(err);
    char small[6] = "ab\ncd"; /* an escape is never split by truncation */
    CHECK_EQ_INT(ftls__escape(small, sizeof(small)), 2);
    CHECK(strcmp(small, "ab") == 0);
    char fits[8] = "ab\ncdef";
    CHECK_EQ_INT(ftls__escape(fits, sizeof(fits)), 7);
    CHECK(strcmp(fits, "ab\\x0ac") == 0);
    REQUIRE(ftls_log_set_callback(NULL, NULL, FTLS_LOG_ERROR) == FTLS_OK);
}

int main(void)
{
    RUN(test_levels_filter);
    RUN(test_invalid_level);
    RUN(test_level_names);
    RUN(test_long_message_truncated);
    RUN(test_untrusted_bytes_escaped);
    return TEST_SUMMARY();
}
