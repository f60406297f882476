/* freshtls mint HOST --ca DIR: mint one leaf and print it. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "cli.h"
#include "opt.h"

const struct cli_command cli_cmd_mint = {
    "mint",
    "mint a leaf certificate for a host name with a CA",
    "usage: freshtls mint [--] HOST --ca DIR [--key-out FILE] [--days N] "
    "[--allow-ip]\n"
    "                     [--ca-pass-file FILE | --ca-pass-env VAR] "
    "[--insecure-ca-perms]\n\n"
    "Mints a leaf for HOST signed by DIR/ca.crt + DIR/ca.key (as made by\n"
    "'freshtls ca init'): a fresh P-256 key, a random 128-bit serial, SAN\n"
    "dNSName, CN when HOST fits in 64 characters, AKI = the CA's SKI, SKI,\n"
    "CA:FALSE, keyUsage digitalSignature, extendedKeyUsage serverAuth, valid\n"
    "from 5 minutes ago for N days (default: 1 hour; at most 180 days).\n"
    "Prints the leaf and the CA certificate as PEM on stdout. --key-out\n"
    "writes the private key (0600, never overwriting). Host names are\n"
    "normalized; IP literals need --allow-ip; wildcards and malformed names\n"
    "are refused (exit 1). A leaf never outlives its CA: its lifetime ends\n"
    "at the CA's notAfter at the latest (a note says so).\n" CLI_CA_FILE_HELP,
    cmd_mint,
};

struct mint_args {
    const char *ca, *key_out;
    long days;
    int allow_ip;
    struct cli_ca_files caf;
};

static const struct cli_opt g_mint_opts[] = {
    CLI_STR("--ca", NULL, struct mint_args, ca),
    CLI_STR("--key-out", NULL, struct mint_args, key_out),
    CLI_LONG("--days", struct mint_args, days, 1, 180),
    CLI_FLAG("--allow-ip", NULL, struct mint_args, allow_ip),
    CLI_CA_FILE_OPTS(struct mint_args, caf),
    CLI_END,
};

/* Write the leaf's key to a new 0600 file (never overwriting one); the
 * PEM buffer is wiped whatever happens. */
static int write_key(const char *path, EVP_PKEY *pkey)
{
    char *data = NULL;
    long n = 0;
    int ok = 0;
    BIO *kb = BIO_new(BIO_s_mem());
    if (kb == NULL ||
        !PEM_write_bio_PrivateKey(kb, pkey, NULL, NULL, 0, NULL, NULL) ||
        (n = BIO_get_mem_data(kb, &data)) <= 0) {
        fprintf(stderr, "freshtls mint: cannot encode the key\n");
        goto done;
    }
    FILE *f = NULL;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || (f = fdopen(fd, "w")) == NULL ||
        fwrite(data, 1, (size_t)n, f) != (size_t)n || fclose(f) != 0) {
        fprintf(stderr, "freshtls mint: cannot write %s: %s\n", path,
                strerror(errno));
        if (fd >= 0 && f == NULL)
            close(fd);
        goto done;
    }
    ok = 1;
done:
    if (kb != NULL && (n = BIO_get_mem_data(kb, &data)) > 0)
        OPENSSL_cleanse(data, (size_t)n);
    BIO_free(kb);
    return ok;
}

int cmd_mint(int argc, char **argv)
{
    struct mint_args a = {0};
    const char *host = NULL;
    int npos = 0;
    if (cli_parse("mint", g_mint_opts, &a, 1, argc, argv, &host, 1, &npos) !=
        CLI_OK)
        return CLI_USAGE;
    if (host == NULL || a.ca == NULL)
        return cli_usage_error("mint", "HOST and --ca DIR are required");
    ftls_mint_options mo = {.allow_ip = a.allow_ip, .lifetime = a.days * 86400};
    char *crt = cli_path(a.ca, "ca.crt"), *key = cli_path(a.ca, "ca.key");
    ftls_error *err = NULL;
    ftls_ca *ca = NULL;
    ftls_leaf *leaf = NULL;
    int rc = CLI_FAIL;
    if (crt == NULL || key == NULL || ftls_error_new(&err) != FTLS_OK)
        goto done;
    ftls_ca_file_options fo = cli_ca_file_options(&a.caf);
    if (ftls_ca_load_ex(crt, key, &fo, &ca, err) != FTLS_OK) {
        cli_report("cannot load the CA", err);
        goto done;
    }
    int64_t now = (int64_t)time(NULL);
    if (ftls_leaf_mint(ca, host, &mo, now, &leaf, err) != FTLS_OK) {
        cli_report("cannot mint", err);
        goto done;
    }
    if (a.days > 0 && ftls_leaf_not_after(leaf) < now + a.days * 86400)
        fprintf(stderr,
                "freshtls mint: note: the leaf ends with its CA, %.1f days "
                "from now (asked for %ld)\n",
                (double)(ftls_leaf_not_after(leaf) - now) / 86400.0, a.days);
    if (a.key_out != NULL && !write_key(a.key_out, ftls_leaf_get0_key(leaf)))
        goto done;
    if (PEM_write_X509(stdout, ftls_leaf_get0_cert(leaf)) &&
        PEM_write_X509(stdout, ftls_ca_get0_cert(ca)))
        rc = CLI_OK;
done:
    free(crt);
    free(key);
    ftls_leaf_free(leaf);
    ftls_ca_free(ca);
    ftls_error_free(err);
    return rc;
}
