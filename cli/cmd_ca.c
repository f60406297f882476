/* freshtls ca init: create an interception CA. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

const struct cli_command cli_cmd_ca = {
    "ca",
    "create an interception CA for minting leaves",
    "usage: freshtls ca init --out DIR [--days N] [--cn NAME]\n\n"
    "Generates a P-256 CA (self-signed, basicConstraints critical CA:TRUE\n"
    "pathlen:0, keyUsage critical keyCertSign cRLSign, SKI) valid for N days\n"
    "(default 365) and writes DIR/ca.crt (0644) and DIR/ca.key (0600)\n"
    "atomically. DIR is created (0700) if missing; existing files are never\n"
    "overwritten.\n",
    cmd_ca,
};

int cmd_ca(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "init") != 0)
        return cli_usage_error("ca", "the only action is 'init'");
    const char *out = NULL, *cn = NULL;
    long days = 365;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(argv[i], "--cn") && i + 1 < argc) {
            cn = argv[++i];
        } else if (!strcmp(argv[i], "--days") && i + 1 < argc) {
            char *end;
            days = strtol(argv[++i], &end, 10);
            if (*end || days < 1 || days > 36500)
                return cli_usage_error("ca", "--days must be 1..36500");
        } else {
            return cli_usage_error("ca", "bad or incomplete option");
        }
    }
    if (out == NULL)
        return cli_usage_error("ca", "--out DIR is required");
    if (mkdir(out, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "freshtls ca: cannot create %s: %s\n", out, strerror(errno));
        return CLI_FAIL;
    }
    char crt[4200], key[4200];
    snprintf(crt, sizeof(crt), "%s/ca.crt", out);
    snprintf(key, sizeof(key), "%s/ca.key", out);
    ftls_ca_options o = {.common_name = cn, .validity = days * 86400};
    ftls_ca *ca = NULL;
    ftls_error *err = NULL;
    int rc = CLI_FAIL;
    if (ftls_error_new(&err) != FTLS_OK)
        return CLI_FAIL;
    if (ftls_ca_generate(&o, &ca, err) != FTLS_OK ||
        ftls_ca_export(ca, crt, key, err) != FTLS_OK) {
        cli_report("ca init failed", err);
    } else {
        printf("wrote %s and %s\n", crt, key);
        rc = CLI_OK;
    }
    ftls_ca_free(ca);
    ftls_error_free(err);
    return rc;
}
