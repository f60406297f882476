/* The DER walker agrees with OpenSSL on real certificates and fails
 * cleanly (never crashes, never over-reads) on every truncation and on
 * bit flips. ASan checks the bounds. */
#include <openssl/asn1.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "base/der.h"
#include "roots/fallback_data.h"
#include "test.h"

static int64_t asn1_to_epoch(const ASN1_TIME *t)
{
    struct tm tm;
    if (!ASN1_TIME_to_tm(t, &tm))
        return -1;
    return ftls__days_from_civil(tm.tm_year + 1900, (unsigned)tm.tm_mon + 1,
                                 (unsigned)tm.tm_mday) *
               86400 +
           tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
}

/* The fields the walker found equal OpenSSL's view of the same bytes. */
static void check_fields_match(const struct ftls__cert_fields *f, X509 *x)
{
    const unsigned char *sp = f->subject.p;
    X509_NAME *sub = d2i_X509_NAME(NULL, &sp, (long)f->subject.len);
    CHECK(sub != NULL && X509_NAME_cmp(sub, X509_get_subject_name(x)) == 0);
    X509_NAME_free(sub);
    const unsigned char *ip = f->issuer.p;
    X509_NAME *iss = d2i_X509_NAME(NULL, &ip, (long)f->issuer.len);
    CHECK(iss != NULL && X509_NAME_cmp(iss, X509_get_issuer_name(x)) == 0);
    X509_NAME_free(iss);
    CHECK_EQ_INT(f->not_before, asn1_to_epoch(X509_get0_notBefore(x)));
    CHECK_EQ_INT(f->not_after, asn1_to_epoch(X509_get0_notAfter(x)));
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(x);
    if (ski != NULL) {
        CHECK_EQ_INT(f->ski.len, ASN1_STRING_length(ski));
        CHECK(memcmp(f->ski.p, ASN1_STRING_get0_data(ski), f->ski.len) == 0);
    } else {
        CHECK_EQ_INT(f->ski.len, 0);
    }
}

static void check_against_openssl(const unsigned char *der, size_t len)
{
    struct ftls__cert_fields f;
    const char *why = NULL;
    CHECK_EQ_INT(ftls__der_cert_fields(der, len, &f, &why), 0);
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    REQUIRE(x != NULL);
    check_fields_match(&f, x);
    X509_free(x);
}

static void test_fallback_roots_agree_with_openssl(void)
{
    for (unsigned i = 0; i < ftls__fallback_count; i++)
        check_against_openssl(ftls__fallback_roots[i].der,
                              ftls__fallback_roots[i].der_len);
}

static void test_every_truncation_fails_cleanly(void)
{
    const struct ftls__fallback_root *r = &ftls__fallback_roots[0];
    for (size_t n = 0; n < r->der_len; n++) {
        unsigned char *copy = malloc(n ? n : 1); /* exact size: ASan bounds */
        REQUIRE(copy != NULL);
        memcpy(copy, r->der, n);
        struct ftls__cert_fields f;
        const char *why = NULL;
        CHECK_EQ_INT(ftls__der_cert_fields(copy, n, &f, &why), -1);
        CHECK(why != NULL);
        free(copy);
    }
}

static void test_trailing_garbage_rejected(void)
{
    const struct ftls__fallback_root *r = &ftls__fallback_roots[1];
    unsigned char *copy = malloc(r->der_len + 1);
    REQUIRE(copy != NULL);
    memcpy(copy, r->der, r->der_len);
    copy[r->der_len] = 0;
    struct ftls__cert_fields f;
    const char *why = NULL;
    CHECK_EQ_INT(ftls__der_cert_fields(copy, r->der_len + 1, &f, &why), -1);
    CHECK_STR_CONTAINS(why, "trailing");
    free(copy);
}

static int span_inside(struct ftls__span sp, const unsigned char *buf,
                       size_t len)
{
    return sp.p >= buf && sp.len <= len && (size_t)(sp.p - buf) <= len - sp.len;
}

/* Every single-bit flip in the header region either is refused with a
 * reason, or yields fields that lie inside the buffer and, when OpenSSL
 * parses the same bytes, equal OpenSSL's. Both outcomes must occur. */
static void test_bit_flips_refused_or_agree(void)
{
    const struct ftls__fallback_root *r = &ftls__fallback_roots[2];
    unsigned char *copy = malloc(r->der_len);
    REQUIRE(copy != NULL);
    size_t limit = r->der_len < 400 ? r->der_len : 400; /* header region */
    int refused = 0, accepted = 0, compared = 0;
    for (size_t i = 0; i < limit; i++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, r->der, r->der_len);
            copy[i] ^= (unsigned char)(1u << bit);
            struct ftls__cert_fields f;
            const char *why = NULL;
            if (ftls__der_cert_fields(copy, r->der_len, &f, &why) != 0) {
                CHECK(why != NULL);
                refused++;
                continue;
            }
            accepted++;
            CHECK(span_inside(f.subject, copy, r->der_len));
            CHECK(span_inside(f.issuer, copy, r->der_len));
            CHECK(span_inside(f.serial, copy, r->der_len));
            CHECK(f.ski.len == 0 || span_inside(f.ski, copy, r->der_len));
            const unsigned char *p = copy;
            X509 *x = d2i_X509(NULL, &p, (long)r->der_len);
            if (x != NULL && p == copy + r->der_len &&
                asn1_to_epoch(X509_get0_notBefore(x)) >= 0 &&
                asn1_to_epoch(X509_get0_notAfter(x)) >= 0) {
                check_fields_match(&f, x);
                compared++;
            }
            X509_free(x);
        }
    printf("# bit flips: %d refused, %d accepted (%d compared with OpenSSL)\n",
           refused, accepted, compared);
    CHECK(refused > 0 && accepted > 0 && compared > 0);
    free(copy);
}

static void test_times(void)
{
    int64_t t = 0;
    CHECK_EQ_INT(
        ftls__der_time(0x17, (const unsigned char *)"241130235959Z", 13, &t),
        0);
    CHECK_EQ_INT(t, 1733011199);
    CHECK_EQ_INT(
        ftls__der_time(0x18, (const unsigned char *)"20500101000000Z", 15, &t),
        0);
    CHECK_EQ_INT(t, 2524608000LL);
    CHECK_EQ_INT(
        ftls__der_time(0x17, (const unsigned char *)"491231235959Z", 13, &t),
        0);
    CHECK_EQ_INT(t, 2524607999LL); /* UTCTime 49 = 2049 */
    CHECK_EQ_INT(
        ftls__der_time(0x17, (const unsigned char *)"500101000000Z", 13, &t),
        0);
    CHECK_EQ_INT(t, -631152000LL); /* UTCTime 50 = 1950 */
    CHECK_EQ_INT(
        ftls__der_time(0x17, (const unsigned char *)"241332235959Z", 13, &t),
        -1);
    CHECK_EQ_INT(
        ftls__der_time(0x17, (const unsigned char *)"2411302359590", 13, &t),
        -1);
    CHECK_EQ_INT(
        ftls__der_time(0x17, (const unsigned char *)"24113023595Z", 12, &t),
        -1);
    CHECK_EQ_INT(
        ftls__der_time(0x18, (const unsigned char *)"2024x130235959Z", 15, &t),
        -1);
}

/* What ftls__der_name_plain() vouches for, OpenSSL parses: on every real
 * root's subject and on every bit flip of a sample of them. */
static void test_name_plain_is_a_subset_of_openssl(void)
{
    size_t plain = 0, vouched = 0, flips = 0;
    for (unsigned i = 0; i < ftls__fallback_count; i++) {
        struct ftls__cert_fields f;
        const char *why = NULL;
        REQUIRE(ftls__der_cert_fields(ftls__fallback_roots[i].der,
                                      ftls__fallback_roots[i].der_len, &f,
                                      &why) == 0);
        plain += (size_t)ftls__der_name_plain(f.subject.p, f.subject.len);
        if (i % 8 != 0)
            continue;
        unsigned char *copy = malloc(f.subject.len); /* exact: ASan bounds */
        REQUIRE(copy != NULL);
        for (size_t bit = 0; bit < f.subject.len * 8; bit++, flips++) {
            memcpy(copy, f.subject.p, f.subject.len);
            copy[bit / 8] ^= (unsigned char)(1u << (bit % 8));
            if (!ftls__der_name_plain(copy, f.subject.len))
                continue;
            vouched++;
            const unsigned char *p = copy;
            X509_NAME *n = d2i_X509_NAME(NULL, &p, (long)f.subject.len);
            CHECK(n != NULL && p == copy + f.subject.len);
            X509_NAME_free(n);
        }
        free(copy);
    }
    /* Most real roots take the fast path; flips both pass and fail. */
    CHECK(plain * 10 >= (size_t)ftls__fallback_count * 9);
    CHECK(vouched > 0 && vouched < flips);
}

/* Names the walker does not vouch for (OpenSSL then decides at load). */
static void test_name_plain_refusals(void)
{
    static const unsigned char ok[] = {0x30, 0x0d, 0x31, 0x0b, 0x30,
                                       0x09, 0x06, 0x03, 0x55, 0x04,
                                       0x03, 0x0c, 0x02, 0x68, 0x69};
    CHECK(ftls__der_name_plain(ok, sizeof(ok)));
    unsigned char v[sizeof(ok)];
    struct {
        size_t at;
        unsigned char byte;
    } bad[] = {
        {13, 0xff}, /* invalid UTF-8 */
        {13, 0xc0}, /* overlong / truncated sequence */
        {11, 0x1e}, /* BMPString: left to OpenSSL */
        {11, 0x04}, /* OCTET STRING value */
        {8, 0x80},  /* OID subidentifier with a leading 0x80 */
        {2, 0x30},  /* RDN not a SET */
        {1, 0x0e},  /* Name length past the end */
    };
    for (size_t i = 0; i < FTLS_ARRAY_LEN(bad); i++) {
        memcpy(v, ok, sizeof(ok));
        v[bad[i].at] = bad[i].byte;
        CHECK(!ftls__der_name_plain(v, sizeof(v)));
    }
    static const unsigned char empty_rdn[] = {0x30, 0x02, 0x31, 0x00};
    CHECK(!ftls__der_name_plain(empty_rdn, sizeof(empty_rdn)));
    static const unsigned char surrogate[] = {
        0x30, 0x0e, 0x31, 0x0c, 0x30, 0x0a, 0x06, 0x03,
        0x55, 0x04, 0x03, 0x0c, 0x03, 0xed, 0xa0, 0x80};
    CHECK(!ftls__der_name_plain(surrogate, sizeof(surrogate)));
    CHECK(!ftls__der_name_plain(ok, sizeof(ok) - 1));
}

int main(void)
{
    RUN(test_fallback_roots_agree_with_openssl);
    RUN(test_every_truncation_fails_cleanly);
    RUN(test_trailing_garbage_rejected);
    RUN(test_bit_flips_refused_or_agree);
    RUN(test_times);
    RUN(test_name_plain_is_a_subset_of_openssl);
    RUN(test_name_plain_refusals);
    return TEST_SUMMARY();
}
