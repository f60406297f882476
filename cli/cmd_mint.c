/* freshtls mint HOST --ca DIR: mint one leaf and print it. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "cli.h"

const struct cli_command cli_cmd_mint = {
    "mint",
    "mint a leaf certificate for a host name with a CA",
    "usage: freshtls mint [--] HOST --ca DIR [--key-out FILE] [--days N] [--allow-ip]\n\n"
    "Mints a leaf for HOST signed by DIR/ca.crt + DIR/ca.key (as made by\n"
    "'freshtls ca init'): a fresh P-256 key, a random 128-bit serial, SAN\n"
    "dNSName, CN when HOST fits in 64 characters, AKI = the CA's SKI, SKI,\n"
    "CA:FALSE, keyUsage digitalSignature, extendedKeyUsage serverAuth, valid\n"
    "from 5 minutes ago for N days (default: 1 hour; at most 180 days).\n"
    "Prints the leaf and the CA certificate as PEM on stdout. --key-out\n"
    "writes the private key (0600, never overwriting). Host names are\n"
    "normalized; IP literals need --allow-ip; wildcards and malformed names\n"
    "are refused (exit 1).\n",
    cmd_mint,
};

int cmd_mint(int argc, char **argv)
{
    const char *host = NULL, *dir = NULL, *key_out = NULL;
    ftls_mint_options mo = {0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--ca") && i + 1 < argc) {
            dir = argv[++i];
        } else if (!strcmp(argv[i], "--key-out") && i + 1 < argc) {
            key_out = argv[++i];
        } else if (!strcmp(argv[i], "--allow-ip")) {
            mo.allow_ip = 1;
        } else if (!strcmp(argv[i], "--days") && i + 1 < argc) {
            char *end;
            long d = strtol(argv[++i], &end, 10);
            if (*end || d < 1 || d > 180)
                return cli_usage_error("mint", "--days must be 1..180");
            mo.lifetime = d * 86400;
        } else if (!strcmp(argv[i], "--") && i + 1 < argc && host == NULL) {
            host = argv[++i]; /* a name that starts with '-' */
        } else if (argv[i][0] != '-' && host == NULL) {
            host = argv[i];
        } else {
            return cli_usage_error("mint", "bad or incomplete option");
        }
    }
    if (host == NULL || dir == NULL)
        return cli_usage_error("mint", "HOST and --ca DIR are required");
    char crt[4200], key[4200];
    snprintf(crt, sizeof(crt), "%s/ca.crt", dir);
    snprintf(key, sizeof(key), "%s/ca.key", dir);
    ftls_error *err = NULL;
    ftls_ca *ca = NULL;
    ftls_leaf *leaf = NULL;
    BIO *kb = NULL;
    int rc = CLI_FAIL;
    if (ftls_error_new(&err) != FTLS_OK)
        return CLI_FAIL;
    if (ftls_ca_load(crt, key, &ca, err) != FTLS_OK) {
        cli_report("cannot load the CA", err);
        goto done;
    }
    if (ftls_leaf_mint(ca, host, &mo, 0, &leaf, err) != FTLS_OK) {
        cli_report("cannot mint", err);
        goto done;
    }
    if (key_out != NULL) {
        char *data = NULL;
        long n;
        kb = BIO_new(BIO_s_mem());
        if (kb == NULL ||
            !PEM_write_bio_PrivateKey(kb, ftls_leaf_get0_key(leaf), NULL, NULL, 0,
                                      NULL, NULL) ||
            (n = BIO_get_mem_data(kb, &data)) <= 0) {
            fprintf(stderr, "freshtls mint: cannot encode the key\n");
            goto done;
        }
        FILE *f = NULL;
        /* O_EXCL semantics: never overwrite an existing key file. */
        int fd = open(key_out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || (f = fdopen(fd, "w")) == NULL ||
            fwrite(data, 1, (size_t)n, f) != (size_t)n || fclose(f) != 0) {
            fprintf(stderr, "freshtls mint: cannot write %s: %s\n", key_out,
                    strerror(errno));
            if (fd >= 0 && f == NULL)
                close(fd);
            goto done;
        }
    }
    if (!PEM_write_X509(stdout, ftls_leaf_get0_cert(leaf)) ||
        !PEM_write_X509(stdout, ftls_ca_get0_cert(ca)))
        goto done;
    rc = CLI_OK;
done:
    if (kb != NULL) {
        char *data = NULL;
        long n = BIO_get_mem_data(kb, &data);
        if (n > 0)
            OPENSSL_cleanse(data, (size_t)n);
        BIO_free(kb);
    }
    ftls_leaf_free(leaf);
    ftls_ca_free(ca);
    ftls_error_free(err);
    return rc;
}
