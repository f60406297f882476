/* Shared declarations of the freshtls command-line tool. */
#ifndef FTLS_CLI_H
#define FTLS_CLI_H

#include <stdio.h>

#include <freshtls/freshtls.h>

/* Documented exit codes. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

struct cli_command {
    const char *name;
    const char *summary;
    const char *usage; /* full --help text, without the first line */
    int (*run)(int argc, char **argv);
};

/* Set by -v: commands that print their own report may still log. */
extern int cli_verbose;

/* Print "freshtls: <msg>" and the error's details to stderr. */
void cli_report(const char *what, const ftls_error *err);
/* Print "freshtls <cmd>: <msg>" and a hint to stderr; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *msg);
/* 1 if argv[i] is -h or --help for any i >= 1. */
int cli_wants_help(int argc, char **argv);
void cli_print_help(const struct cli_command *cmd, FILE *out);
/* "dir/name" in a new allocation (free()); NULL when out of memory. */
char *cli_path(const char *dir, const char *name);

/* The CA-file options shared by `ca init`, `mint` and `serve --mint-ca`:
 * --ca-pass-file FILE, --ca-pass-env VAR, --insecure-ca-perms. */
struct cli_ca_files {
    const char *pass_file, *pass_env;
    int insecure_perms;
};
#define CLI_CA_FILE_OPTS(type, field)                                          \
    CLI_STR("--ca-pass-file", NULL, type, field.pass_file),                    \
        CLI_STR("--ca-pass-env", NULL, type, field.pass_env),                  \
        CLI_FLAG("--insecure-ca-perms", NULL, type, field.insecure_perms)
#define CLI_CA_FILE_HELP                                                       \
    "\n"                                                                       \
    "The CA key is never prompted for: an encrypted key needs\n"               \
    "--ca-pass-file FILE or --ca-pass-env VAR. The key must be owned by the\n" \
    "user running freshtls, mode 0600, in a directory nobody else can\n"       \
    "write; --insecure-ca-perms skips these checks.\n"
ftls_ca_file_options cli_ca_file_options(const struct cli_ca_files *f);

/* `s` as a JSON string (quoted; ", \ and control bytes escaped; bytes
 * over 0x7f as \u00XX, so the output is ASCII). NULL prints null. */
void cli_json_string(FILE *out, const char *s);

int cmd_version(int argc, char **argv);
int cmd_selftest(int argc, char **argv);
int cmd_roots(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_ca(int argc, char **argv);
int cmd_mint(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_proxy(int argc, char **argv);

extern const struct cli_command cli_cmd_version;
extern const struct cli_command cli_cmd_selftest;
extern const struct cli_command cli_cmd_roots;
extern const struct cli_command cli_cmd_check;
extern const struct cli_command cli_cmd_watch;
extern const struct cli_command cli_cmd_serve;
extern const struct cli_command cli_cmd_demo;
extern const struct cli_command cli_cmd_ca;
extern const struct cli_command cli_cmd_mint;
extern const struct cli_command cli_cmd_exec;
extern const struct cli_command cli_cmd_proxy;

#endif
