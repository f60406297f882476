/*
 * A minimal, strict DER reader for the few certificate fields the root
 * index needs without a full d2i_X509 (which costs ~100 us on OpenSSL 3.0).
 * It is used only to index and describe certificates; verification always
 * parses the certificate fully with OpenSSL.
 */
#ifndef FTLS_DER_H
#define FTLS_DER_H

#include <stddef.h>
#include <stdint.h>

struct ftls__span {
    const unsigned char *p;
    size_t len;
};

struct ftls__cert_fields {
    struct ftls__span subject; /* whole Name TLV */
    struct ftls__span issuer;  /* whole Name TLV */
    struct ftls__span serial;  /* INTEGER content */
    struct ftls__span ski;     /* keyIdentifier bytes; len 0 when absent */
    int64_t not_before;        /* seconds since the epoch, UTC */
    int64_t not_after;
};

/* Parse a DER certificate. Returns 0 on success, -1 when the input is not
 * a well-formed certificate (*why then names the problem). */
int ftls__der_cert_fields(const unsigned char *der, size_t len,
                          struct ftls__cert_fields *out, const char **why);

/* 1 when the Name TLV p[0..len) is one OpenSSL certainly parses (so the
 * root index may defer d2i_X509_NAME): DER lengths, non-empty RDNs of
 * well-formed OIDs with non-empty PrintableString, IA5String or strictly
 * valid UTF8String values, nothing after. 0 for anything else, which the
 * caller then hands to OpenSSL at once (a subset of what OpenSSL accepts:
 * never a superset). */
int ftls__der_name_plain(const unsigned char *p, size_t len);

/* Seconds since the epoch of a UTCTime/GeneralizedTime TLV content;
 * -1 on malformed input. tag is 0x17 or 0x18. */
int ftls__der_time(unsigned tag, const unsigned char *p, size_t len,
                   int64_t *out);

/* Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t ftls__days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
