/* freshtls check: validate identity material the way a reload would. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509v3.h>

#include "cli.h"
#include "opt.h"

const struct cli_command cli_cmd_check = {
    "check",
    "validate a certificate, chain and key as a reload would",
    "usage: freshtls check --dir DIR [--cert-name NAME] [--key-name NAME]\n"
    "       freshtls check --cert FILE --key FILE\n"
    "       freshtls check --pem FILE\n"
    "       freshtls check --p12 FILE [--pass-file FILE | --pass-env VAR]\n"
    "   options: [--chain-to CAFILE] [--allow-invalid-time]\n"
    "            [--purpose server|client|any]\n\n"
    "Reads the material exactly as a freshtls source does (for --dir, one\n"
    "consistent Kubernetes generation), runs every check that gates a\n"
    "publish (parsing, key matches leaf, leaf-first order, at most 10\n"
    "distinct certificates after the leaf, validity window, a serverAuth\n"
    "(--purpose) end-entity leaf, no RSA under 2048 bits, an EC curve TLS\n"
    "can sign with, OpenSSL's own acceptance at its default security level,\n"
    "and with --chain-to, verification to that CA file) and prints a report.\n"
    "Exit status 0 only if it would be published.\n",
    cmd_check,
};

static void print_time(const char *label, const ASN1_TIME *t)
{
    struct tm tm;
    char buf[64] = "?";
    if (ASN1_TIME_to_tm(t, &tm))
        strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
    printf("%-12s %s", label, buf);
}

static void print_names(X509 *x)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    printf("%-12s ", "names:");
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_DNS)
            printf("%sDNS:%s", i ? ", " : "",
                   (const char *)ASN1_STRING_get0_data(g->d.dNSName));
        else if (g->type == GEN_IPADD)
            printf("%sIP(%d bytes)", i ? ", " : "",
                   ASN1_STRING_length(g->d.ip));
    }
    printf("%s\n", gens ? "" : "(no subjectAltName)");
    GENERAL_NAMES_free(gens);
}

static void report(const ftls_identity *id)
{
    X509 *leaf = ftls_identity_get0_leaf(id);
    char buf[512];
    X509_NAME_oneline(X509_get_subject_name(leaf), buf, sizeof(buf));
    printf("%-12s %s\n", "subject:", buf);
    X509_NAME_oneline(X509_get_issuer_name(leaf), buf, sizeof(buf));
    printf("%-12s %s\n", "issuer:", buf);
    print_names(leaf);
    print_time("not before:", X509_get0_notBefore(leaf));
    printf("\n");
    print_time("not after:", X509_get0_notAfter(leaf));
    printf(" (%lld days left)\n",
           (long long)((ftls_identity_not_after(id) - (int64_t)time(NULL)) /
                       86400));
    EVP_PKEY *k = ftls_identity_get0_key(id);
    printf("%-12s %s %d bits\n", "key:", EVP_PKEY_get0_type_name(k),
           EVP_PKEY_get_bits(k));
    printf("%-12s %d certificate(s) after the leaf\n",
           "chain:", sk_X509_num(ftls_identity_get0_chain(id)));
    unsigned char fp[32];
    if (ftls_identity_fingerprint(id, fp) == FTLS_OK) {
        printf("%-12s ", "sha256:");
        for (int i = 0; i < 32; i++)
            printf("%s%02X", i ? ":" : "", fp[i]);
        printf("\n");
    }
}

struct check_args {
    const char *dir, *cert, *key, *pem, *p12, *chain_to;
    int purpose; /* index into "server|client|any", -1 when not given */
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

int cmd_check(int argc, char **argv)
{
    struct check_args a;
    memset(&a, 0, sizeof(a));
    int rc = parse(argc, argv, &a);
    if (rc != CLI_OK)
        return rc;
    ftls_error *err = NULL;
    ftls_source *src = NULL;
    ftls_identity *id = NULL;
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
    printf("%-12s %s\n", "source:", ftls_source_describe(src));
    if (ftls_source_reload(src, err) != FTLS_OK) {
        printf("%-12s REJECTED: %s [%s]\n", "result:", ftls_error_message(err),
               ftls_code_name(ftls_error_code(err)));
        goto done;
    }
    if (ftls_source_get1_identity(src, &id, err) != FTLS_OK) {
        cli_report("cannot read identity", err);
        goto done;
    }
    printf("%-12s OK (would be published)\n", "result:");
    report(id);
    rc = CLI_OK;
done:
    ftls_identity_free(id);
    ftls_source_free(src);
    ftls_roots_free(a.o.verify_roots);
    ftls_error_free(err);
    return rc;
}
