/* Logging hook: level filtering, removal, no output without a callback. */
#include "../src/internal.h"
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

int main(void)
{
    RUN(test_levels_filter);
    RUN(test_invalid_level);
    RUN(test_level_names);
    RUN(test_long_message_truncated);
    return TEST_SUMMARY();
}
