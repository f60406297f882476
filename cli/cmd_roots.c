/* freshtls roots list|export|check */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/x509.h>

#include "cli.h"
#include "opt.h"
#include "report.h"

const struct cli_command cli_cmd_roots = {
    "roots",
    "inspect, check and export trust anchors",
    "usage: freshtls roots list   [--source SRC] [--json]\n"
    "       freshtls roots export [--source SRC] [--all] -o FILE|-\n"
    "       freshtls roots check  [--source SRC] [--json]\n\n"
    "SRC is system (default), fallback (the embedded Mozilla bundle), auto\n"
    "(fallback only when the system has no roots) or both (union).\n\n"
    "list    one row per root: not-after, server distrust-after, source and\n"
    "        label or subject. Dates are YYYY-MM-DD (UTC).\n"
    "export  write a PEM bundle atomically, each root preceded by comments\n"
    "        (label, SHA-256, distrust-after). Roots distrusted more than 398\n"
    "        days ago are left out unless --all is given. -o - writes to\n"
    "        standard output.\n"
    "check   print the sources found, counts, duplicates dropped, problems\n"
    "        and load time; exit 1 when no root can be loaded. --json: one\n"
    "        JSON object.\n\n"
    "The system store honours SSL_CERT_FILE and SSL_CERT_DIR.\n",
    cmd_roots,
};

static void date(int64_t t, char out[11])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || !strftime(out, 11, "%Y-%m-%d", &tm))
        strcpy(out, "?");
}

/* Label, or the subject on one line. Returned string is malloc'd. */
static char *display_name(const ftls_root_info *info)
{
    if (info->label != NULL)
        return strdup(info->label);
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL, *s = NULL;
    if (b != NULL &&
        X509_NAME_print_ex(b, info->subject, 0,
                           XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        long n = BIO_get_mem_data(b, &data);
        if (n >= 0 && (s = malloc((size_t)n + 1)) != NULL) {
            memcpy(s, data, (size_t)n);
            s[n] = '\0';
        }
    }
    BIO_free(b);
    return s;
}

static void json_string(const char *s)
{
    putchar('"');
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static int list_roots(ftls_roots *roots, int json)
{
    size_t n = ftls_roots_count(roots);
    if (json)
        printf("[");
    else
        printf("%-10s  %-10s  %-40s  %s\n", "NOT-AFTER", "DISTRUST", "SOURCE",
               "NAME");
    for (size_t i = 0; i < n; i++) {
        ftls_root_info info;
        if (ftls_roots_get0_info(roots, i, &info) != FTLS_OK)
            return CLI_FAIL;
        char na[11], da[11] = "-";
        date(info.not_after, na);
        if (info.distrust_after)
            date(info.distrust_after, da);
        char *name = display_name(&info);
        if (json) {
            printf("%s\n  {\"name\": ", i ? "," : "");
            json_string(name);
            printf(", \"not_after\": \"%s\", \"distrust_after\": ", na);
            if (info.distrust_after)
                printf("\"%s\"", da);
            else
                printf("null");
            printf(", \"source\": ");
            json_string(info.location);
            printf(", \"sha256\": \"");
            for (int k = 0; k < 32; k++)
                printf("%02x", info.sha256[k]);
            printf("\"}");
        } else {
            printf("%-10s  %-10s  %-40s  %s\n", na, da,
                   info.location ? info.location : "-", name ? name : "?");
        }
        free(name);
    }
    if (json)
        printf("%s]\n", n ? "\n" : "");
    return CLI_OK;
}

static int check_roots(ftls_roots *roots, int json)
{
    ftls_roots_stats st;
    if (ftls_roots_get_stats(roots, &st) != FTLS_OK)
        return CLI_FAIL;
    struct report r;
    const char *paths[64];
    size_t np = 0, distrusted = 0;
    for (; np < 64 && ftls_roots_get0_path(roots, np) != NULL; np++)
        paths[np] = ftls_roots_get0_path(roots, np);
    for (size_t i = 0; i < ftls_roots_count(roots); i++) {
        ftls_root_info info;
        if (ftls_roots_get0_info(roots, i, &info) == FTLS_OK &&
            info.distrust_after)
            distrusted++;
    }
    report_begin(&r, stdout, json, NULL, 19);
    report_list(&r, "sources", "sources:", paths, np);
    report_num(&r, "files_read", "files read:", (double)st.files_read, 0, NULL);
    report_num(&r, "certificates_seen",
               "certificates seen:", (double)st.certs_seen, 0, NULL);
    report_num(&r, "duplicates_dropped",
               "duplicates dropped:", (double)st.duplicates, 0, NULL);
    report_num(&r, "roots", "roots:", (double)ftls_roots_count(roots), 0, NULL);
    report_num(&r, "with_distrust_after",
               "with distrust-after:", (double)distrusted, 0, NULL);
    report_num(&r, "load_ms", "load time:", (double)st.load_ns / 1e6, 2, " ms");
    size_t nprob = ftls_roots_problem_count(roots);
    char lines[32][600];
    const char *problems[32];
    size_t shown = nprob < 32 ? nprob : 32;
    for (size_t i = 0; i < shown; i++) {
        const char *path, *reason;
        ftls_code code = ftls_roots_problem(roots, i, &path, &reason);
        snprintf(lines[i], sizeof(lines[i]), "%s: %s [%s]", path, reason,
                 ftls_code_name(code));
        problems[i] = lines[i];
    }
    report_num(&r, "problem_count", "problems:", (double)nprob, 0, NULL);
    report_list(&r, "problems", "problem list:", problems, shown);
    report_end(&r);
    return ftls_roots_count(roots) > 0 ? CLI_OK : CLI_FAIL;
}

struct roots_args {
    int origin, json, all;
    const char *out;
};

/* The choices are in ftls_roots_origin order. */
#define ORIGIN_OPT                                                             \
    CLI_ENUM("--source", struct roots_args, origin, "system|fallback|auto|both")
static const struct cli_opt g_list_opts[] = {
    ORIGIN_OPT, CLI_FLAG("--json", NULL, struct roots_args, json), CLI_END};
static const struct cli_opt g_export_opts[] = {
    ORIGIN_OPT, CLI_FLAG("--all", NULL, struct roots_args, all),
    CLI_STR("--out", "-o", struct roots_args, out), CLI_END};
static const struct cli_opt g_check_opts[] = {
    ORIGIN_OPT, CLI_FLAG("--json", NULL, struct roots_args, json), CLI_END};

/* -o FILE (atomically), or -o - (standard output; the count on stderr). */
static int export_roots(const ftls_roots *roots, const char *out, int all,
                        ftls_error *err)
{
    size_t n = 0;
    unsigned flags = all ? FTLS_EXPORT_KEEP_ALL_DISTRUSTED : 0;
    int to_stdout = strcmp(out, "-") == 0;
    BIO *b = to_stdout ? BIO_new_fp(stdout, BIO_NOCLOSE) : NULL;
    ftls_code rc =
        to_stdout ? (b ? ftls_roots_export_pem_bio(roots, b, flags, 0, &n, err)
                       : FTLS_E_NOMEM)
                  : ftls_roots_export_pem(roots, out, flags, 0, &n, err);
    BIO_free(b);
    if (rc != FTLS_OK) {
        cli_report("export failed", err);
        return CLI_FAIL;
    }
    fprintf(to_stdout ? stderr : stdout, "wrote %zu roots to %s\n", n,
            to_stdout ? "standard output" : out);
    return CLI_OK;
}

int cmd_roots(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("roots", "missing action (list, export, check)");
    const char *action = argv[1];
    struct roots_args a = {0};
    const char *pos = NULL;
    int npos = 0;
    const struct cli_opt *table = !strcmp(action, "list")     ? g_list_opts
                                  : !strcmp(action, "export") ? g_export_opts
                                                              : g_check_opts;
    if (cli_parse("roots", table, &a, 2, argc, argv, &pos, 0, &npos) != CLI_OK)
        return CLI_USAGE;
    ftls_roots_origin src =
        (ftls_roots_origin)a.origin; /* "system|fallback|auto|both" */
    const char *out = a.out;
    int json = a.json, all = a.all;
    if (strcmp(action, "list") && strcmp(action, "export") &&
        strcmp(action, "check"))
        return cli_usage_error("roots", "unknown action");
    if (!strcmp(action, "export") && out == NULL)
        return cli_usage_error("roots", "export needs -o FILE");

    ftls_error *err = NULL;
    ftls_roots *roots = NULL;
    if (ftls_error_new(&err) != FTLS_OK)
        return CLI_FAIL;
    int rc = CLI_FAIL;
    if (ftls_roots_load(src, &roots, err) != FTLS_OK) {
        cli_report("cannot load roots", err);
        goto done;
    }
    if (!strcmp(action, "list")) {
        rc = list_roots(roots, json);
    } else if (!strcmp(action, "check")) {
        rc = check_roots(roots, json);
    } else {
        rc = export_roots(roots, out, all, err);
    }
done:
    ftls_roots_free(roots);
    ftls_error_free(err);
    return rc;
}
