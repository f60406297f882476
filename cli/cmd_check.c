/* freshtls check: validate identity material the way a reload would. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509v3.h>

#include "cli.h"

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
            printf("%sIP(%d bytes)", i ? ", " : "", ASN1_STRING_length(g->d.ip));
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
           (long long)((ftls_identity_not_after(id) - (int64_t)time(NULL)) / 86400));
    EVP_PKEY *k = ftls_identity_get0_key(id);
    printf("%-12s %s %d bits\n", "key:", EVP_PKEY_get0_type_name(k),
           EVP_PKEY_get_bits(k));
    printf("%-12s %d certificate(s) after the leaf\n", "chain:",
           sk_X509_num(ftls_identity_get0_chain(id)));
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
    ftls_identity_options o;
};

static int parse(int argc, char **argv, struct check_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        const char **slot = !strcmp(opt, "--dir")         ? &a->dir
                            : !strcmp(opt, "--cert")      ? &a->cert
                            : !strcmp(opt, "--key")       ? &a->key
                            : !strcmp(opt, "--pem")       ? &a->pem
                            : !strcmp(opt, "--p12")       ? &a->p12
                            : !strcmp(opt, "--chain-to")  ? &a->chain_to
                            : !strcmp(opt, "--cert-name") ? &a->o.cert_name
                            : !strcmp(opt, "--key-name")  ? &a->o.key_name
                            : !strcmp(opt, "--pass-file") ? &a->o.passphrase_file
                            : !strcmp(opt, "--pass-env")  ? &a->o.passphrase_env
                                                          : NULL;
        if (!strcmp(opt, "--allow-invalid-time")) {
            a->o.allow_invalid_time = 1;
            continue;
        }
        if (!strcmp(opt, "--purpose") && val != NULL) {
            if (!strcmp(val, "server"))
                a->o.purpose = FTLS_IDENTITY_SERVER;
            else if (!strcmp(val, "client"))
                a->o.purpose = FTLS_IDENTITY_CLIENT;
            else if (!strcmp(val, "any"))
                a->o.purpose = FTLS_IDENTITY_ANY;
            else
                return cli_usage_error("check", "--purpose takes server, "
                                       "client or any");
            i++;
            continue;
        }
        if (slot == NULL || val == NULL)
            return cli_usage_error("check", "bad or incomplete option");
        *slot = val;
        i++;
    }
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
    if (!cli_verbose && ftls_log_set_callback(NULL, NULL, FTLS_LOG_ERROR) != FTLS_OK)
        goto done;
    if (a.chain_to != NULL &&
        ftls_roots_load_paths(a.chain_to, NULL, &a.o.verify_roots, err) != FTLS_OK) {
        cli_report("cannot load --chain-to", err);
        goto done;
    }
    ftls_code c = a.dir    ? ftls_source_new_identity_dir(a.dir, &a.o, &src, err)
                  : a.pem  ? ftls_source_new_identity_pem(a.pem, &a.o, &src, err)
                  : a.p12  ? ftls_source_new_identity_pkcs12(a.p12, &a.o, &src, err)
                           : ftls_source_new_identity_files(a.cert, a.key, &a.o,
                                                            &src, err);
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
