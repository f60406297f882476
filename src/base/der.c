/* Strict DER walking for certificate metadata. */
#include <string.h>

#include "base/der.h"

enum {
    TAG_BOOLEAN = 0x01,
    TAG_INTEGER = 0x02,
    TAG_BIT_STRING = 0x03,
    TAG_OCTET_STRING = 0x04,
    TAG_OID = 0x06,
    TAG_UTCTIME = 0x17,
    TAG_GENTIME = 0x18,
    TAG_SEQUENCE = 0x30,
    TAG_SET = 0x31,
    TAG_UTF8STRING = 0x0c,
    TAG_PRINTABLESTRING = 0x13,
    TAG_IA5STRING = 0x16,
    TAG_CTX0 = 0xa0,
    TAG_CTX1 = 0x81, /* issuerUniqueID [1] IMPLICIT BIT STRING */
    TAG_CTX2 = 0x82,
    TAG_CTX3 = 0xa3,
};

struct rd {
    const unsigned char *p;
    size_t left;
};

/* Read one TLV with a single-byte tag. Rejects indefinite and non-minimal
 * lengths and lengths beyond the input. */
static int tlv(struct rd *r, unsigned *tag, struct ftls__span *content,
               struct ftls__span *whole)
{
    const unsigned char *start = r->p;
    if (r->left < 2)
        return -1;
    *tag = r->p[0];
    if ((*tag & 0x1f) == 0x1f) /* multi-byte tags never occur here */
        return -1;
    size_t len = r->p[1];
    size_t hdr = 2;
    if (len & 0x80) {
        size_t n = len & 0x7f;
        if (n == 0 || n > 4 || r->left < 2 + n)
            return -1;
        len = 0;
        for (size_t i = 0; i < n; i++)
            len = (len << 8) | r->p[2 + i];
        if (r->p[2] == 0 || len < 0x80) /* non-minimal */
            return -1;
        hdr += n;
    }
    if (len > r->left - hdr)
        return -1;
    content->p = r->p + hdr;
    content->len = len;
    r->p += hdr + len;
    r->left -= hdr + len;
    if (whole != NULL) {
        whole->p = start;
        whole->len = hdr + len;
    }
    return 0;
}

static int expect(struct rd *r, unsigned want, struct ftls__span *content,
                  struct ftls__span *whole)
{
    unsigned tag;
    if (tlv(r, &tag, content, whole) != 0 || tag != want)
        return -1;
    return 0;
}

int64_t ftls__days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned mp = m > 2 ? m - 3 : m + 9; /* March-based month */
    const unsigned doy = (153 * mp + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const unsigned char *p, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    *out = v;
    return 0;
}

int ftls__der_time(unsigned tag, const unsigned char *p, size_t len,
                   int64_t *out)
{
    unsigned y, mo, d, h, mi, s;
    size_t off;
    if (tag == TAG_UTCTIME && len == 13) {
        if (digits(p, 2, &y) != 0)
            return -1;
        y += y < 50 ? 2000 : 1900; /* RFC 5280 4.1.2.5.1 */
        off = 2;
    } else if (tag == TAG_GENTIME && len == 15) {
        if (digits(p, 4, &y) != 0)
            return -1;
        off = 4;
    } else {
        return -1;
    }
    if (p[len - 1] != 'Z' || digits(p + off, 2, &mo) ||
        digits(p + off + 2, 2, &d) || digits(p + off + 4, 2, &h) ||
        digits(p + off + 6, 2, &mi) || digits(p + off + 8, 2, &s))
        return -1;
    static const unsigned char mdays[] = {31, 29, 31, 30, 31, 30,
                                          31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 ||
        s > 59)
        return -1;
    *out = ftls__days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    return 0;
}

static int read_time(struct rd *r, int64_t *out)
{
    unsigned tag;
    struct ftls__span c;
    if (tlv(r, &tag, &c, NULL) != 0)
        return -1;
    return ftls__der_time(tag, c.p, c.len, out);
}

/* Find the SubjectKeyIdentifier in the [3] extensions wrapper. */
static int find_ski(struct ftls__span exts_wrapper, struct ftls__span *ski)
{
    static const unsigned char oid_ski[] = {0x55, 0x1d, 0x0e};
    struct rd w = {exts_wrapper.p, exts_wrapper.len};
    struct ftls__span seq, ext;
    if (expect(&w, TAG_SEQUENCE, &seq, NULL) != 0 || w.left != 0)
        return -1;
    struct rd list = {seq.p, seq.len};
    while (list.left > 0) {
        if (expect(&list, TAG_SEQUENCE, &ext, NULL) != 0)
            return -1;
        struct rd e = {ext.p, ext.len};
        struct ftls__span oid, val, crit;
        unsigned tag;
        if (expect(&e, TAG_OID, &oid, NULL) != 0 || tlv(&e, &tag, &val, NULL))
            return -1;
        if (tag == TAG_BOOLEAN) {
            crit = val;
            if (crit.len != 1 || expect(&e, TAG_OCTET_STRING, &val, NULL))
                return -1;
        } else if (tag != TAG_OCTET_STRING) {
            return -1;
        }
        if (e.left != 0)
            return -1;
        if (oid.len == sizeof(oid_ski) && !memcmp(oid.p, oid_ski, oid.len)) {
            struct rd v = {val.p, val.len};
            if (expect(&v, TAG_OCTET_STRING, ski, NULL) != 0 || v.left != 0)
                return -1;
        }
    }
    return 0;
}

int ftls__der_cert_fields(const unsigned char *der, size_t len,
                          struct ftls__cert_fields *out, const char **why)
{
    struct rd r = {der, len};
    struct ftls__span cert, tbs, c, validity;
    unsigned tag;
    memset(out, 0, sizeof(*out));
    *why = "not a DER certificate";
    if (der == NULL || expect(&r, TAG_SEQUENCE, &cert, NULL) != 0)
        return -1;
    if (r.left != 0) {
        *why = "trailing data after certificate";
        return -1;
    }
    struct rd cr = {cert.p, cert.len};
    *why = "malformed TBSCertificate";
    if (expect(&cr, TAG_SEQUENCE, &tbs, NULL) != 0)
        return -1;
    struct rd t = {tbs.p, tbs.len};
    if (tlv(&t, &tag, &c, NULL) != 0)
        return -1;
    if (tag == TAG_CTX0 && tlv(&t, &tag, &c, NULL) != 0) /* version */
        return -1;
    if (tag != TAG_INTEGER || c.len == 0)
        return -1;
    out->serial = c;
    if (expect(&t, TAG_SEQUENCE, &c, NULL) != 0 ||         /* signature */
        expect(&t, TAG_SEQUENCE, &c, &out->issuer) != 0 || /* issuer */
        expect(&t, TAG_SEQUENCE, &validity, NULL) != 0)
        return -1;
    struct rd v = {validity.p, validity.len};
    *why = "malformed validity";
    if (read_time(&v, &out->not_before) || read_time(&v, &out->not_after) ||
        v.left != 0)
        return -1;
    *why = "malformed subject or key";
    if (expect(&t, TAG_SEQUENCE, &c, &out->subject) != 0 ||
        expect(&t, TAG_SEQUENCE, &c, NULL) != 0) /* subjectPublicKeyInfo */
        return -1;
    *why = "malformed extensions";
    while (t.left > 0) {
        if (tlv(&t, &tag, &c, NULL) != 0)
            return -1;
        if (tag == TAG_CTX3) {
            if (find_ski(c, &out->ski) != 0 || t.left != 0)
                return -1;
        } else if (tag != TAG_CTX1 && tag != TAG_CTX2) {
            return -1;
        }
    }
    *why = "malformed signature";
    if (expect(&cr, TAG_SEQUENCE, &c, NULL) != 0 ||
        expect(&cr, TAG_BIT_STRING, &c, NULL) != 0 || cr.left != 0)
        return -1;
    *why = NULL;
    return 0;
}

/* Subidentifiers in minimal base-128 (no leading 0x80), the last one
 * complete. */
static int oid_ok(const unsigned char *p, size_t n)
{
    if (n == 0 || (p[n - 1] & 0x80))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] == 0x80 && (i == 0 || !(p[i - 1] & 0x80)))
            return 0;
    return 1;
}

/* RFC 3629 UTF-8: no overlong forms, no surrogates, at most U+10FFFF. */
static int utf8_ok(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = p[i], need, min;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0)
            need = 1, min = 0x80, c &= 0x1f;
        else if ((c & 0xf0) == 0xe0)
            need = 2, min = 0x800, c &= 0x0f;
        else if ((c & 0xf8) == 0xf0)
            need = 3, min = 0x10000, c &= 0x07;
        else
            return 0;
        if (n - i <= need) /* the sequence runs past the end */
            return 0;
        for (unsigned k = 1; k <= need; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return 0;
            c = (c << 6) | (p[i + k] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return 0;
        i += 1 + need;
    }
    return 1;
}

static int atv_plain(struct ftls__span atv)
{
    struct rd r = {atv.p, atv.len};
    struct ftls__span oid, val;
    unsigned tag;
    if (expect(&r, TAG_OID, &oid, NULL) != 0 || !oid_ok(oid.p, oid.len) ||
        tlv(&r, &tag, &val, NULL) != 0 || r.left != 0 || val.len == 0)
        return 0;
    return tag == TAG_PRINTABLESTRING || tag == TAG_IA5STRING ||
           (tag == TAG_UTF8STRING && utf8_ok(val.p, val.len));
}

int ftls__der_name_plain(const unsigned char *p, size_t len)
{
    struct rd r = {p, len};
    struct ftls__span name, rdn, atv;
    if (expect(&r, TAG_SEQUENCE, &name, NULL) != 0 || r.left != 0)
        return 0;
    struct rd names = {name.p, name.len};
    while (names.left > 0) {
        if (expect(&names, TAG_SET, &rdn, NULL) != 0 || rdn.len == 0)
            return 0;
        struct rd set = {rdn.p, rdn.len};
        while (set.left > 0)
            if (expect(&set, TAG_SEQUENCE, &atv, NULL) != 0 || !atv_plain(atv))
                return 0;
    }
    return 1;
}
