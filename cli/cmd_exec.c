/* freshtls exec: run an unmodified OpenSSL program with fresh identities
 * (the preload shim, shim/preload.c). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "opt.h"

const struct cli_command cli_cmd_exec = {
    "exec",
    "run an unmodified OpenSSL program with hot-reloaded certificates",
    "usage: freshtls exec [--dir DIR | --cert FILE --key FILE]\n"
    "                     [--roots system|FILE] [--client-ca FILE]\n"
    "                     [--log FILE] [--shim PATH] -- PROGRAM [ARGS...]\n\n"
    "Runs PROGRAM with libfreshtls-preload.so loaded (LD_PRELOAD). Every\n"
    "server context that gets a certificate and key is attached to a\n"
    "freshtls identity source and every new handshake serves the newest\n"
    "valid one, without a restart or a signal: the program's own files (the\n"
    "paths it passes to SSL_CTX_use_certificate_chain_file and\n"
    "SSL_CTX_use_PrivateKey_file), or with --dir (tls.crt, tls.key; a\n"
    "Kubernetes secret mount) or --cert/--key the files named here. Trust\n"
    "the same way: the program's verify paths (SSL_CTX_load_verify_*, and\n"
    "SSL_CTX_set_default_verify_paths: the system store, SSL_CERT_FILE and\n"
    "SSL_CERT_DIR honoured) become live, or --roots for client contexts and\n"
    "--client-ca for servers that verify clients. A new\n"
    "generation is validated first; a bad one is never served, the previous\n"
    "one stays and the reason is logged (stderr, or --log FILE; lines start\n"
    "with 'freshtls-preload:'). --shim names the library when it is not\n"
    "next to this tool. Exit status: PROGRAM's (127 when it cannot run).\n",
    cmd_exec,
};

struct exec_args {
    const char *dir, *cert, *key, *log, *shim, *roots, *client_ca;
};

static const struct cli_opt g_exec_opts[] = {
    CLI_STR("--dir", NULL, struct exec_args, dir),
    CLI_STR("--cert", NULL, struct exec_args, cert),
    CLI_STR("--key", NULL, struct exec_args, key),
    CLI_STR("--log", NULL, struct exec_args, log),
    CLI_STR("--shim", NULL, struct exec_args, shim),
    CLI_STR("--roots", NULL, struct exec_args, roots),
    CLI_STR("--client-ca", NULL, struct exec_args, client_ca),
    CLI_END,
};

/* The shim: --shim, $FRESHTLS_PRELOAD, then next to this executable as
 * installed (bin/../lib) or as built (cli/../shim). */
static int find_shim(const char *given, char out[PATH_MAX])
{
    const char *env = getenv("FRESHTLS_PRELOAD");
    const char *pick = given ? given : env;
    if (pick != NULL)
        return realpath(pick, out) != NULL;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return 0;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash == NULL)
        return 0;
    *slash = '\0';
    const char *rel[] = {"../lib/libfreshtls-preload.so",
                         "../lib64/libfreshtls-preload.so",
                         "../shim/libfreshtls-preload.so"};
    for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
        char cand[PATH_MAX + 64];
        snprintf(cand, sizeof(cand), "%s/%s", self, rel[i]);
        if (access(cand, R_OK) == 0 && realpath(cand, out) != NULL)
            return 1;
    }
    return 0;
}

static int set_env(const struct exec_args *a, const char *shim)
{
    char preload[PATH_MAX * 2];
    const char *prev = getenv("LD_PRELOAD");
    snprintf(preload, sizeof(preload), "%s%s%s", shim, prev ? ":" : "",
             prev ? prev : "");
    const char *names[] = {"FRESHTLS_DIR",   "FRESHTLS_CERT",
                           "FRESHTLS_KEY",   "FRESHTLS_LOG",
                           "FRESHTLS_ROOTS", "FRESHTLS_CLIENT_CA"};
    const char *values[] = {a->dir, a->cert,  a->key,
                            a->log, a->roots, a->client_ca};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (values[i] != NULL ? setenv(names[i], values[i], 1) != 0
                              : unsetenv(names[i]) != 0)
            return 0;
    return setenv("FRESHTLS_EXEC", "1", 1) == 0 &&
           setenv("LD_PRELOAD", preload, 1) == 0;
}

int cmd_exec(int argc, char **argv)
{
    struct exec_args a = {0};
    const char *pos[1] = {NULL};
    int npos = 0, first = 1;
    /* Options end at "--"; everything after it is the program. */
    int dd = 0;
    for (int i = 1; i < argc && !dd; i++)
        if (strcmp(argv[i], "--") == 0)
            dd = i;
    if (dd == 0 || dd + 1 >= argc)
        return cli_usage_error("exec", "give -- PROGRAM [ARGS...]");
    if (cli_parse("exec", g_exec_opts, &a, first, dd, argv, pos, 0, &npos) !=
        CLI_OK)
        return CLI_USAGE;
    if ((a.cert == NULL) != (a.key == NULL) || (a.dir && a.cert))
        return cli_usage_error("exec", "give --dir, or --cert with --key");
    char shim[PATH_MAX];
    if (!find_shim(a.shim, shim)) {
        fprintf(stderr,
                "freshtls exec: cannot find libfreshtls-preload.so (give "
                "--shim PATH)\n");
        return CLI_FAIL;
    }
    if (!set_env(&a, shim)) {
        fprintf(stderr, "freshtls exec: cannot set the environment\n");
        return CLI_FAIL;
    }
    execvp(argv[dd + 1], argv + dd + 1);
    fprintf(stderr, "freshtls exec: cannot run %s: %s\n", argv[dd + 1],
            strerror(errno));
    return 127;
}
