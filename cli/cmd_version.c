/* freshtls version */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const struct cli_command cli_cmd_version = {
    "version",
    "print the freshtls and OpenSSL versions in use",
    "usage: freshtls version\n\n"
    "Prints the version of libfreshtls that is loaded, the version of the\n"
    "OpenSSL library actually loaded at run time, and the OpenSSL version\n"
    "freshtls was built against (with a warning when their majors differ).\n",
    cmd_version,
};

int cmd_version(int argc, char **argv)
{
    (void)argv;
    if (argc > 1)
        return cli_usage_error("version", "takes no arguments");
    const char *loaded = ftls_version_openssl(),
               *built = ftls_version_openssl_built();
    printf("freshtls %s\n", ftls_version_string());
    printf("OpenSSL  %s (loaded)\n", loaded);
    printf("built against %s\n", built);
    /* "OpenSSL 3.5.9 ..." vs "OpenSSL 3.0.17 ...": compare the majors. */
    const char *lv = strchr(loaded, ' '), *bv = strchr(built, ' ');
    if (lv && bv && atoi(lv + 1) != atoi(bv + 1))
        printf("warning: the loaded OpenSSL is not the major version freshtls "
               "was built for\n");
    if (ftls_version_number() != FTLS_VERSION_NUMBER)
        printf("warning: built with freshtls headers %s\n",
               FTLS_VERSION_STRING);
    return CLI_OK;
}
