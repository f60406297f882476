/* freshtls ca init: create an interception CA. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "opt.h"

const struct cli_command cli_cmd_ca = {
    "ca",
    "create an interception CA for minting leaves",
    "usage: freshtls ca init --out DIR [--days N] [--cn NAME]\n"
    "                        [--ca-pass-file FILE | --ca-pass-env VAR] "
    "[--insecure-ca-perms]\n\n"
    "Generates a P-256 CA (self-signed, basicConstraints critical CA:TRUE\n"
    "pathlen:0, keyUsage critical keyCertSign cRLSign, SKI) valid for N days\n"
    "(default 365) and writes DIR/ca.crt (0644) and DIR/ca.key (0600)\n"
    "atomically. DIR is created (0700) if missing; existing files are never\n"
    "overwritten. An existing DIR must be owned by you (or root) and\n"
    "writable by nobody else, or whoever can write it could swap the CA.\n"
    "With a passphrase the key is written encrypted (PKCS#8, AES-256).\n",
    cmd_ca,
};

struct ca_args {
    const char *out, *cn;
    long days;
    struct cli_ca_files caf;
};

static const struct cli_opt g_ca_opts[] = {
    CLI_STR("--out", NULL, struct ca_args, out),
    CLI_STR("--cn", NULL, struct ca_args, cn),
    CLI_LONG("--days", struct ca_args, days, 1, 36500),
    CLI_CA_FILE_OPTS(struct ca_args, caf),
    CLI_END,
};

int cmd_ca(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "init") != 0)
        return cli_usage_error("ca", "the only action is 'init'");
    struct ca_args a = {.days = 365};
    const char *pos = NULL;
    int npos = 0;
    if (cli_parse("ca", g_ca_opts, &a, 2, argc, argv, &pos, 0, &npos) != CLI_OK)
        return CLI_USAGE;
    const char *out = a.out, *cn = a.cn;
    long days = a.days;
    if (out == NULL)
        return cli_usage_error("ca", "--out DIR is required");
    if (mkdir(out, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "freshtls ca: cannot create %s: %s\n", out,
                strerror(errno));
        return CLI_FAIL;
    }
    char *crt = cli_path(out, "ca.crt"), *key = cli_path(out, "ca.key");
    ftls_ca_options o = {.common_name = cn, .validity = days * 86400};
    ftls_ca *ca = NULL;
    ftls_error *err = NULL;
    int rc = CLI_FAIL;
    if (crt == NULL || key == NULL || ftls_error_new(&err) != FTLS_OK) {
        free(crt);
        free(key);
        return CLI_FAIL;
    }
    ftls_ca_file_options fo = cli_ca_file_options(&a.caf);
    if (ftls_ca_generate(&o, &ca, err) != FTLS_OK ||
        ftls_ca_export_ex(ca, crt, key, &fo, err) != FTLS_OK) {
        cli_report("ca init failed", err);
    } else {
        printf("wrote %s and %s\n", crt, key);
        rc = CLI_OK;
    }
    ftls_ca_free(ca);
    ftls_error_free(err);
    free(crt);
    free(key);
    return rc;
}
