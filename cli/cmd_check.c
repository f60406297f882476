/* freshtls check: validate identity material the way a reload would. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include "cli.h"
#include "opt.h"
#include "report.h"

const struct cli_command cli_cmd_check = {
    "check",
    "validate a certificate, chain and key as a reload would",
    "usage: freshtls check --dir DIR [--cert-name NAME] [--key-name NAME]\n"
    "       freshtls check --cert FILE --key FILE\n"
    "       freshtls check --pem FILE\n"
    "       freshtls check --p12 FILE [--pass-file FILE | --pass-env VAR]\n"
    "   options: [--chain-to CAFILE] [--allow-invalid-time]\n"
    "            [--purpose server|client|any] [--json]\n\n"
    "Reads the material exactly as a freshtls source does (for --dir, one\n"
    "consistent Kubernetes generation), runs every check that gates a\n"
    "publish (parsing, key matches leaf, leaf-first order, at most 10\n"
    "distinct certificates after the leaf, validity window, a serverAuth\n"
    "(--purpose) end-entity leaf, no RSA under 2048 bits, an EC curve TLS\n"
    "can sign with, OpenSSL's own acceptance at its default security level,\n"
    "and with --chain-to, verification to that CA file) and prints a report.\n"
    "Exit status 0 only if it would be published. --json prints the report\n"
    "as one JSON object (result \"ok\" or \"rejected\" with error and code).\n",
    cmd_check,
};

static void time_text(const ASN1_TIME *t, char *buf, size_t n)
{
    struct tm tm;
    if (!ASN1_TIME_to_tm(t, &tm) ||
        !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, n, "?");
}

/* "DNS:name" and "IP:address" for each subjectAltName entry. */
static size_t san_list(X509 *x, char items[][300], size_t max)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    size_t n = 0;
    for (int i = 0; i < sk_GENERAL_NAME_num(gens) && n < max; i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        char addr[INET6_ADDRSTRLEN] = "?";
        if (g->type == GEN_DNS) {
            snprintf(items[n++], 300, "DNS:%.*s",
                     ASN1_STRING_length(g->d.dNSName),
                     (const char *)ASN1_STRING_get0_data(g->d.dNSName));
        } else if (g->type == GEN_IPADD) {
            int len = ASN1_STRING_length(g->d.ip);
            if (len == 4 || len == 16)
                inet_ntop(len == 4 ? AF_INET : AF_INET6,
                          ASN1_STRING_get0_data(g->d.ip), addr, sizeof(addr));
            snprintf(items[n++], 300, "IP:%s", addr);
        }
    }
    GENERAL_NAMES_free(gens);
    return n;
}

static void report_identity(struct report *r, const ftls_identity *id)
{
    X509 *leaf = ftls_identity_get0_leaf(id);
    char buf[512], items[32][300];
    const char *names[32];
    X509_NAME_oneline(X509_get_subject_name(leaf), buf, sizeof(buf));
    report_str(r, "subject", "subject:", buf);
    X509_NAME_oneline(X509_get_issuer_name(leaf), buf, sizeof(buf));
    report_str(r, "issuer", "issuer:", buf);
    size_t n = san_list(leaf, items, 32);
    for (size_t i = 0; i < n; i++)
        names[i] = items[i];
    report_list(r, "names", "names:", names, n);
    time_text(X509_get0_notBefore(leaf), buf, sizeof(buf));
    report_str(r, "not_before", "not before:", buf);
    time_text(X509_get0_notAfter(leaf), buf, sizeof(buf));
    report_str(r, "not_after", "not after:", buf);
    report_num(
        r, "days_left", "days left:",
        (double)((ftls_identity_not_after(id) - (int64_t)time(NULL)) / 86400),
        0, NULL);
    EVP_PKEY *k = ftls_identity_get0_key(id);
    if (r->json) {
        report_str(r, "key_type", NULL, EVP_PKEY_get0_type_name(k));
        report_num(r, "key_bits", NULL, EVP_PKEY_get_bits(k), 0, NULL);
    } else {
        report_fmt(r, "key", "key:", "%s %d bits", EVP_PKEY_get0_type_name(k),
                   EVP_PKEY_get_bits(k));
    }
    report_num(r, "chain", "chain:", sk_X509_num(ftls_identity_get0_chain(id)),
               0, " certificate(s) after the leaf");
    unsigned char fp[32];
    if (ftls_identity_fingerprint(id, fp) == FTLS_OK) {
        char hex[32 * 3] = "";
        for (size_t i = 0; i < 32; i++)
            snprintf(hex + 3 * i, sizeof(hex) - 3 * i, "%02X%s", fp[i],
                     i < 31 ? ":" : "");
        report_str(r, "sha256", "sha256:", hex);
    }
}

struct check_args {
    const char *dir, *cert, *key, *pem, *p12, *chain_to;
    int purpose; /* index into "server|client|any", -1 when not given */
    int json;
    ftls_identity_options o;
};

static const struct cli_opt g_check_opts[] = {
    CLI_STR("--dir", NULL, struct check_args, dir),
    CLI_STR("--cert", NULL, struct check_args, cert),
    CLI_STR("--key", NULL, struct check_args, key),
    CLI_STR("--pem", NULL, struct check_args, pem),
    CLI_STR("--p12", NULL, struct check_args, p12),
    CLI_STR("--chain-to", NULL, struct check_args, chain_to),
    CLI_STR("--cert-name", NULL, struct check_args, o.cert_name),
    CLI_STR("--key-name", NULL, struct check_args, o.key_name),
    CLI_STR("--pass-file", NULL, struct check_args, o.passphrase_file),
    CLI_STR("--pass-env", NULL, struct check_args, o.passphrase_env),
    CLI_FLAG("--allow-invalid-time", NULL, struct check_args,
             o.allow_invalid_time),
    CLI_ENUM("--purpose", struct check_args, purpose, "server|client|any"),
    CLI_FLAG("--json", NULL, struct check_args, json),
    CLI_END,
};

static int parse(int argc, char **argv, struct check_args *a)
{
    const char *pos = NULL;
    int npos = 0;
    a->purpose = -1;
    if (cli_parse("check", g_check_opts, a, 1, argc, argv, &pos, 0, &npos) !=
        CLI_OK)
        return CLI_USAGE;
    static const int purposes[] = {FTLS_IDENTITY_SERVER, FTLS_IDENTITY_CLIENT,
                                   FTLS_IDENTITY_ANY};
    if (a->purpose >= 0)
        a->o.purpose = purposes[a->purpose];
    int kinds = !!a->dir + !!a->pem + !!a->p12 + !!(a->cert || a->key);
    if (kinds != 1 || (!!a->cert != !!a->key))
        return cli_usage_error("check", "give exactly one of --dir, "
                                        "--cert/--key, --pem, --p12");
    return CLI_OK;
}

/* Load once as a reload would and report; CLI_OK if it would publish. */
static int run_check(ftls_source *src, int json, ftls_error *err)
{
    ftls_identity *id = NULL;
    struct report r;
    report_begin(&r, stdout, json, NULL, 12);
    report_str(&r, "source", "source:", ftls_source_describe(src));
    if (ftls_source_reload(src, err) != FTLS_OK ||
        ftls_source_get1_identity(src, &id, err) != FTLS_OK) {
        const char *code = ftls_code_name(ftls_error_code(err));
        if (json) {
            report_str(&r, "result", NULL, "rejected");
            report_str(&r, "error", NULL, ftls_error_message(err));
            report_str(&r, "code", NULL, code);
        } else {
            report_fmt(&r, "result", "result:", "REJECTED: %s [%s]",
                       ftls_error_message(err), code);
        }
        report_end(&r);
        return CLI_FAIL;
    }
    report_str(&r, "result",
               "result:", json ? "ok" : "OK (would be published)");
    report_identity(&r, id);
    report_end(&r);
    ftls_identity_free(id);
    return CLI_OK;
}

int cmd_check(int argc, char **argv)
{
    struct check_args a;
    memset(&a, 0, sizeof(a));
    int rc = parse(argc, argv, &a);
    if (rc != CLI_OK)
        return rc;
    ftls_error *err = NULL;
    ftls_source *src = NULL;
    rc = CLI_FAIL;
    if (ftls_error_new(&err) != FTLS_OK)
        return CLI_FAIL;
    /* The report below says everything the library would log. */
    if (!cli_verbose &&
        ftls_log_set_callback(NULL, NULL, FTLS_LOG_ERROR) != FTLS_OK)
        goto done;
    if (a.chain_to != NULL &&
        ftls_roots_load_paths(a.chain_to, NULL, &a.o.verify_roots, err) !=
            FTLS_OK) {
        cli_report("cannot load --chain-to", err);
        goto done;
    }
    ftls_code c =
        a.dir   ? ftls_source_new_identity_dir(a.dir, &a.o, &src, err)
        : a.pem ? ftls_source_new_identity_pem(a.pem, &a.o, &src, err)
        : a.p12
            ? ftls_source_new_identity_pkcs12(a.p12, &a.o, &src, err)
            : ftls_source_new_identity_files(a.cert, a.key, &a.o, &src, err);
    if (c != FTLS_OK) {
        cli_report("cannot create source", err);
        goto done;
    }
    rc = run_check(src, a.json, err);
done:
    ftls_source_free(src);
    ftls_roots_free(a.o.verify_roots);
    ftls_error_free(err);
    return rc;
}
