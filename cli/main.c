/* freshtls: operator tool. Dispatches to one subcommand per file. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct cli_command *const g_commands[] = {
    &cli_cmd_demo,  &cli_cmd_version, &cli_cmd_selftest, &cli_cmd_roots,
    &cli_cmd_check, &cli_cmd_watch,   &cli_cmd_serve,    &cli_cmd_ca,
    &cli_cmd_mint,  &cli_cmd_exec,    &cli_cmd_proxy,
};
#define N_COMMANDS (sizeof(g_commands) / sizeof(g_commands[0]))

int cli_verbose;

static void print_main_help(FILE *out)
{
    fprintf(out,
            "usage: freshtls [-v|--verbose] [-q|--quiet] <command> [args]\n"
            "       freshtls <command> --help\n\n"
            "Keep TLS trust and identity fresh in long-running OpenSSL 3 "
            "programs.\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-10s %s\n", g_commands[i]->name,
                g_commands[i]->summary);
    fprintf(out,
            "\noptions:\n"
            "  -v, --verbose  log library messages down to debug on stderr\n"
            "  -q, --quiet    log only errors (default: warnings and errors)\n"
            "  -h, --help     show this help\n"
            "  --version      same as 'freshtls version'\n"
            "\nexit status: 0 success, 1 failure, 2 usage error\n");
}

static void log_to_stderr(ftls_log_level level, const char *msg, void *ud)
{
    (void)ud;
    fprintf(stderr, "freshtls: %s: %s\n", ftls_log_level_name(level), msg);
}

void cli_report(const char *what, const ftls_error *err)
{
    fprintf(stderr, "freshtls: %s: %s [%s]\n", what, ftls_error_message(err),
            ftls_code_name(ftls_error_code(err)));
    const char *ossl = ftls_error_openssl(err);
    if (ossl[0] != '\0')
        fprintf(stderr, "freshtls: openssl: %s\n", ossl);
}

int cli_usage_error(const char *cmd, const char *msg)
{
    fprintf(stderr, "freshtls %s: %s\nTry 'freshtls %s --help'.\n", cmd, msg,
            cmd);
    return CLI_USAGE;
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    return 0;
}

void cli_print_help(const struct cli_command *cmd, FILE *out)
{
    fprintf(out, "freshtls %s: %s\n\n%s", cmd->name, cmd->summary, cmd->usage);
}

char *cli_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p != NULL)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

int main(int argc, char **argv)
{
    ftls_log_level level = FTLS_LOG_WARN;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
            level = FTLS_LOG_DEBUG;
            cli_verbose = 1;
        } else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
            level = FTLS_LOG_ERROR;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            print_main_help(stdout);
            return CLI_OK;
        } else if (!strcmp(argv[i], "--version")) {
            return cmd_version(1, argv + i);
        } else {
            fprintf(stderr, "freshtls: unknown option '%s'\n", argv[i]);
            print_main_help(stderr);
            return CLI_USAGE;
        }
    }
    if (i >= argc) {
        print_main_help(stderr);
        return CLI_USAGE;
    }
    if (ftls_log_set_callback(log_to_stderr, NULL, level) != FTLS_OK)
        return CLI_FAIL;
    if (!strcmp(argv[i], "help")) {
        print_main_help(stdout);
        return CLI_OK;
    }
    for (size_t c = 0; c < N_COMMANDS; c++) {
        if (strcmp(argv[i], g_commands[c]->name) != 0)
            continue;
        if (cli_wants_help(argc - i, argv + i)) {
            cli_print_help(g_commands[c], stdout);
            return CLI_OK;
        }
        return g_commands[c]->run(argc - i, argv + i);
    }
    fprintf(stderr, "freshtls: unknown command '%s'\n", argv[i]);
    print_main_help(stderr);
    return CLI_USAGE;
}

ftls_ca_file_options cli_ca_file_options(const struct cli_ca_files *f)
{
    ftls_ca_file_options o = {.passphrase_file = f->pass_file,
                              .passphrase_env = f->pass_env,
                              .insecure_permissions = f->insecure_perms};
    return o;
}

void cli_json_string(FILE *out, const char *s)
{
    if (s == NULL) {
        fputs("null", out);
        return;
    }
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}
