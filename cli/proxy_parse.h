/* Parsers of the bytes a proxy client sends: the CONNECT request head and
 * the ClientHello's SNI and ALPN extensions. Pure functions over buffers
 * (fuzz/fuzz_proxy.c, tests/test_proxy_parse.c). */
#ifndef FTLS_CLI_PROXY_PARSE_H
#define FTLS_CLI_PROXY_PARSE_H

#include <stddef.h>

/* Where a request head ends in buf[0..n) (just past its blank line,
 * CRLF or bare LF), or 0 when it has not ended yet. */
size_t proxy_head_end(const char *buf, size_t n);

struct proxy_request {
    char method[17];  /* as sent, cut at 16 bytes (for messages) */
    char target[300]; /* the CONNECT target as sent: host:port */
    char host[256];   /* normalized: lowercase, no root dot; IPs canonical */
    int port, is_ip;
};

enum proxy_head_status {
    PH_OK = 0,
    PH_BAD = 400,   /* malformed request line or target */
    PH_METHOD = 405 /* well-formed, but not CONNECT */
};

/* Parse the head buf[0..len) (one that proxy_head_end() found complete).
 * The request line must be "TOKEN SP TARGET SP HTTP/1.x" with no control
 * bytes; a CONNECT target is host:port in authority form (IPv6 in
 * brackets, port 1..65535, the host a name ftls_leaf_normalize_name()
 * accepts or an IP literal in any inet_aton spelling). */
enum proxy_head_status proxy_head_parse(const char *buf, size_t len,
                                        struct proxy_request *out);

/* Drop a trailing root dot ("example.com." -> "example.com"; "." stays):
 * the form policy and upstream verification see. */
void proxy_host_drop_root_dot(char *name);

/* The host name of a server_name extension body (RFC 6066) into out:
 * 1 found, 0 no host_name entry, -1 malformed or not printable ASCII. */
int proxy_sni_parse(const unsigned char *p, size_t len, char *out, size_t n);

/* 1 when p[0..len) is a well-formed ALPN extension body (a 2-byte length,
 * then non-empty length-prefixed names filling it exactly). */
int proxy_alpn_valid(const unsigned char *p, size_t len);

#endif
