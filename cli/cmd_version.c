/* freshtls version */
#include "cli.h"

const struct cli_command cli_cmd_version = {
    "version",
    "print the freshtls and OpenSSL versions in use",
    "usage: freshtls version\n\n"
    "Prints the version of libfreshtls that is loaded and the version of the\n"
    "OpenSSL library actually loaded at run time (which may differ from the\n"
    "headers freshtls was built against).\n",
    cmd_version,
};

int cmd_version(int argc, char **argv)
{
    (void)argv;
    if (argc > 1)
        return cli_usage_error("version", "takes no arguments");
    printf("freshtls %s\n", ftls_version_string());
    printf("OpenSSL  %s\n", ftls_version_openssl());
    if (ftls_version_number() != FTLS_VERSION_NUMBER)
        printf("warning: built with freshtls headers %s\n",
               FTLS_VERSION_STRING);
    return CLI_OK;
}
