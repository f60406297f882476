/* The proxy's parsers of untrusted input and its policy matcher, case by
 * case (cli/proxy_parse.c, cli/proxy_policy.c). */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "../cli/proxy.h"
#include "../cli/proxy_parse.h"
#include "test.h"

static enum proxy_head_status parse(const char *s, struct proxy_request *r)
{
    return proxy_head_parse(s, strlen(s), r);
}

static void test_head_end(void)
{
    CHECK_EQ_INT(proxy_head_end("CONNECT a:1 HTTP/1.1\r\n\r\n", 24), 24);
    CHECK_EQ_INT(proxy_head_end("CONNECT a:1 HTTP/1.1\n\nTLS", 25), 22);
    CHECK_EQ_INT(proxy_head_end("CONNECT a:1 HTTP/1.1\r\n", 22), 0);
    CHECK_EQ_INT(proxy_head_end("\r\n\r", 3), 0);
    CHECK_EQ_INT(proxy_head_end("", 0), 0);
}

static void test_connect_ok(void)
{
    struct proxy_request r;
    CHECK_EQ_INT(
        parse("CONNECT Example.COM.:443 HTTP/1.1\r\nHost: x\r\n\r\n", &r),
        PH_OK);
    CHECK(strcmp(r.host, "example.com") == 0 && r.port == 443 && !r.is_ip);
    CHECK(strcmp(r.target, "Example.COM.:443") == 0);
    CHECK_EQ_INT(parse("CONNECT [::1]:8443 HTTP/1.0\n\n", &r), PH_OK);
    CHECK(strcmp(r.host, "::1") == 0 && r.is_ip && r.port == 8443);
    /* Every inet_aton spelling is the canonical address. */
    const char *forms[] = {"167837955", "012.1.2.3", "0xa.1.2.3", "10.66051"};
    for (size_t i = 0; i < FTLS_ARRAY_LEN(forms); i++) {
        char line[64];
        snprintf(line, sizeof(line), "CONNECT %s:443 HTTP/1.1\r\n\r\n",
                 forms[i]);
        CHECK_EQ_INT(parse(line, &r), PH_OK);
        CHECK(r.is_ip);
    }
    CHECK_EQ_INT(parse("CONNECT 167838211:443 HTTP/1.1\r\n\r\n", &r), PH_OK);
    CHECK(strcmp(r.host, "10.1.2.3") == 0);
}

static void test_connect_bad(void)
{
    struct proxy_request r;
    const char *bad[] = {
        "CONNECT a.test HTTP/1.1\r\n\r\n",         /* no port */
        "CONNECT a.test:0 HTTP/1.1\r\n\r\n",       /* port 0 */
        "CONNECT a.test:65536 HTTP/1.1\r\n\r\n",   /* port too big */
        "CONNECT a.test:+443 HTTP/1.1\r\n\r\n",    /* sign */
        "CONNECT a.test:44x HTTP/1.1\r\n\r\n",     /* junk */
        "CONNECT ::1:443 HTTP/1.1\r\n\r\n",        /* unbracketed IPv6 */
        "CONNECT [::1:443 HTTP/1.1\r\n\r\n",       /* unclosed bracket */
        "CONNECT a..test:443 HTTP/1.1\r\n\r\n",    /* empty label */
        "CONNECT *.a.test:443 HTTP/1.1\r\n\r\n",   /* wildcard */
        "CONNECT a.test:443 HTTP/2.0\r\n\r\n",     /* version */
        "CONNECT a.test:443 HTTP/1.1 x\r\n\r\n",   /* extra field */
        "CONNECT  a.test:443 HTTP/1.1\r\n\r\n",    /* empty target */
        "CONNECT a.test:443\r\n\r\n",              /* no version */
        "CONNECT a.test\x01:443 HTTP/1.1\r\n\r\n", /* control byte */
        "\x16\x03\x01\x00\xf4\r\n\r\n",            /* a TLS record */
        "",
    };
    for (size_t i = 0; i < FTLS_ARRAY_LEN(bad); i++)
        CHECK_EQ_INT(parse(bad[i], &r), PH_BAD);
    /* A NUL in the request line, even before a well-formed remainder. */
    static const char nul[] = "CONNECT a.test:443\0 HTTP/1.1\r\n\r\n";
    CHECK_EQ_INT(proxy_head_parse(nul, sizeof(nul) - 1, &r), PH_BAD);
    CHECK_EQ_INT(parse("GET http://a/ HTTP/1.1\r\n\r\n", &r), PH_METHOD);
    CHECK(strcmp(r.method, "GET") == 0);
    CHECK_EQ_INT(parse("connect a.test:443 HTTP/1.1\r\n\r\n", &r), PH_METHOD);
}

static void test_sni_alpn(void)
{
    char out[256];
    static const unsigned char ok[] = "\x00\x09\x00\x00\x06"
                                      "a.test";
    CHECK_EQ_INT(proxy_sni_parse(ok, 11, out, sizeof(out)), 1);
    CHECK(strcmp(out, "a.test") == 0);
    static const unsigned char len_lie[] = "\x00\x0a\x00\x00\x06"
                                           "a.test";
    CHECK_EQ_INT(proxy_sni_parse(len_lie, 11, out, sizeof(out)), -1);
    static const unsigned char name_lie[] = "\x00\x09\x00\x00\x07"
                                            "a.test";
    CHECK_EQ_INT(proxy_sni_parse(name_lie, 11, out, sizeof(out)), -1);
    static const unsigned char ctl[] = "\x00\x09\x00\x00\x06"
                                       "a\ntest";
    CHECK_EQ_INT(proxy_sni_parse(ctl, 11, out, sizeof(out)), -1);
    static const unsigned char other[] = "\x00\x04\x05\x00\x01x";
    CHECK_EQ_INT(proxy_sni_parse(other, 6, out, sizeof(out)), 0);
    static const unsigned char tail[] = "\x00\x05\x05\x00\x01xy";
    CHECK_EQ_INT(proxy_sni_parse(tail, 7, out, sizeof(out)), -1);
    CHECK_EQ_INT(proxy_sni_parse(ok, 1, out, sizeof(out)), -1);
    static const unsigned char alpn[] = "\x00\x0c\x02h2\x08http/1.1";
    CHECK(proxy_alpn_valid(alpn, 14));
    CHECK(!proxy_alpn_valid(alpn, 13));
    static const unsigned char empty_name[] = "\x00\x03\x00\x01x";
    CHECK(!proxy_alpn_valid(empty_name, 5));
    static const unsigned char overrun[] = "\x00\x03\x05h2x";
    CHECK(!proxy_alpn_valid(overrun, 5));
    CHECK(!proxy_alpn_valid((const unsigned char *)"\x00\x00", 2));
}

static struct sockaddr_in v4(const char *a)
{
    struct sockaddr_in s = {.sin_family = AF_INET};
    inet_pton(AF_INET, a, &s.sin_addr);
    return s;
}

static void test_policy(void)
{
    struct proxy_rules r = {.fallback = PA_INTERCEPT};
    char why[200];
    const char *rule = NULL;
    CHECK(proxy_rules_add(&r, PA_TUNNEL, "*.Pinned.example", why, sizeof(why)));
    CHECK(proxy_rules_add(&r, PA_DENY, "10.0.0.0/8", why, sizeof(why)));
    CHECK(proxy_rules_add(&r, PA_DENY, "*", why, sizeof(why)));
    CHECK(!proxy_rules_add(&r, PA_DENY, "10.0.0.0/33", why, sizeof(why)));
    CHECK(!proxy_rules_add(&r, PA_DENY, "a b", why, sizeof(why)));
    CHECK(!proxy_rules_add(&r, PA_DENY, "", why, sizeof(why)));
    CHECK_EQ_INT(proxy_rules_match(&r, "x.pinned.example", 0, &rule),
                 PA_TUNNEL);
    CHECK(rule && strcmp(rule, "*.pinned.example") == 0);
    CHECK_EQ_INT(proxy_rules_match(&r, "10.200.0.1", 1, &rule), PA_DENY);
    CHECK_EQ_INT(proxy_rules_match(&r, "::ffff:10.0.0.1", 1, &rule), PA_DENY);
    CHECK(strcmp(rule, "10.0.0.0/8") == 0);
    CHECK_EQ_INT(proxy_rules_match(&r, "other.example", 0, &rule), PA_DENY);
    CHECK(strcmp(rule, "*") == 0);
    struct sockaddr_in in = v4("10.9.9.9"), out = v4("192.0.2.1");
    CHECK(proxy_rules_denies_addr(&r, (struct sockaddr *)&in));
    CHECK(!proxy_rules_denies_addr(&r, (struct sockaddr *)&out));
    proxy_rules_clear(&r);
    r.fallback = PA_DENY;
    CHECK(proxy_rules_add(&r, PA_INTERCEPT, "192.0.2.0/25", why, sizeof(why)));
    CHECK_EQ_INT(proxy_rules_match(&r, "192.0.2.127", 1, &rule), PA_INTERCEPT);
    CHECK_EQ_INT(proxy_rules_match(&r, "192.0.2.128", 1, &rule), PA_DENY);
    CHECK(rule == NULL);
    proxy_rules_clear(&r);
}

int main(void)
{
    RUN(test_head_end);
    RUN(test_connect_ok);
    RUN(test_connect_bad);
    RUN(test_sni_alpn);
    RUN(test_policy);
    return TEST_SUMMARY();
}
