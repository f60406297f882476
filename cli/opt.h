/*
 * One option table per command instead of hand-written strcmp chains.
 * A command describes its options once (name, kind, where the value goes,
 * bounds); cli_parse() fills a struct from argv and rejects anything else
 * with a usage error that names the offending argument.
 */
#ifndef FTLS_CLI_OPT_H
#define FTLS_CLI_OPT_H

#include <stddef.h>

enum cli_opt_kind {
    CLI_OPT_FLAG,   /* no value: sets an int to 1 */
    CLI_OPT_STRING, /* one value: a const char * */
    CLI_OPT_LONG,   /* one value: a decimal long within [min, max] */
    CLI_OPT_ENUM,   /* one value: one of `choices` ("a|b|c"); an int index */
    CLI_OPT_LIST    /* repeatable: appended, with its tag, to a cli_list */
};

/* What CLI_OPT_LIST options collect, in command-line order. Options that
 * share one list keep their relative order (tag tells them apart). Free
 * `v` with free(); the strings are argv's. */
struct cli_list_item {
    int tag;
    const char *value;
};
struct cli_list {
    struct cli_list_item *v;
    size_t n;
};

struct cli_opt {
    const char *name;  /* "--ca" */
    const char *alias; /* short form ("-o") or NULL */
    enum cli_opt_kind kind;
    size_t offset;       /* where the value goes in the command's struct */
    long min, max;       /* CLI_OPT_LONG bounds */
    const char *choices; /* CLI_OPT_ENUM: "server|client|any" */
};

#define CLI_FLAG(n, a, type, field)                                            \
    {                                                                          \
        n, a, CLI_OPT_FLAG, offsetof(type, field), 0, 0, NULL                  \
    }
#define CLI_STR(n, a, type, field)                                             \
    {                                                                          \
        n, a, CLI_OPT_STRING, offsetof(type, field), 0, 0, NULL                \
    }
#define CLI_LONG(n, type, field, lo, hi)                                       \
    {                                                                          \
        n, NULL, CLI_OPT_LONG, offsetof(type, field), lo, hi, NULL             \
    }
#define CLI_ENUM(n, type, field, ch)                                           \
    {                                                                          \
        n, NULL, CLI_OPT_ENUM, offsetof(type, field), 0, 0, ch                 \
    }
#define CLI_LIST(n, type, field, tag)                                          \
    {                                                                          \
        n, NULL, CLI_OPT_LIST, offsetof(type, field), tag, 0, NULL             \
    }
#define CLI_END                                                                \
    {                                                                          \
        NULL, NULL, CLI_OPT_FLAG, 0, 0, 0, NULL                                \
    }

/*
 * Parse argv[first..argc) against `table` into `out`. Arguments that are
 * not options are positional: up to `maxpos` of them go to pos[] (count in
 * *npos); "--" makes every later argument positional. Returns CLI_OK, or
 * CLI_USAGE after printing which argument was wrong and why.
 */
int cli_parse(const char *cmd, const struct cli_opt *table, void *out,
              int first, int argc, char **argv, const char **pos, int maxpos,
              int *npos);

#endif
