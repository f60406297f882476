/* The option-table parser (opt.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "opt.h"

static const struct cli_opt *find(const struct cli_opt *t, const char *arg)
{
    for (; t->name != NULL; t++)
        if (strcmp(arg, t->name) == 0 ||
            (t->alias && strcmp(arg, t->alias) == 0))
            return t;
    return NULL;
}

/* Index of `val` in "a|b|c", or -1. */
static int choice_index(const char *choices, const char *val)
{
    size_t n = strlen(val);
    int idx = 0;
    for (const char *p = choices; *p; idx++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, val, n) == 0)
            return idx;
        p += len + (bar != NULL);
    }
    return -1;
}

static int bad(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int bad(const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return cli_usage_error(cmd, msg);
}

/* Store the value of option `o`. */
static int store(const char *cmd, const struct cli_opt *o, const char *val,
                 char *base)
{
    if (o->kind == CLI_OPT_STRING) {
        *(const char **)(base + o->offset) = val;
        return CLI_OK;
    }
    if (o->kind == CLI_OPT_LIST) {
        struct cli_list *l = (struct cli_list *)(base + o->offset);
        struct cli_list_item *v = realloc(l->v, (l->n + 1) * sizeof(*v));
        if (v == NULL)
            return bad(cmd, "out of memory at %s", o->name);
        v[l->n].tag = (int)o->min;
        v[l->n++].value = val;
        l->v = v;
        return CLI_OK;
    }
    if (o->kind == CLI_OPT_ENUM) {
        int idx = choice_index(o->choices, val);
        if (idx < 0)
            return bad(cmd, "%s takes one of %s", o->name, o->choices);
        *(int *)(base + o->offset) = idx;
        return CLI_OK;
    }
    char *end = NULL;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (errno != 0 || end == val || *end != '\0' || v < o->min || v > o->max) {
        return bad(cmd, "%s takes a number in %ld..%ld", o->name, o->min,
                   o->max);
    }
    *(long *)(base + o->offset) = v;
    return CLI_OK;
}

int cli_parse(const char *cmd, const struct cli_opt *table, void *out,
              int first, int argc, char **argv, const char **pos, int maxpos,
              int *npos)
{
    int only_pos = 0;
    *npos = 0;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (only_pos || a[0] != '-' || a[1] == '\0') {
            if (*npos >= maxpos)
                return bad(cmd, "unexpected argument '%s'", a);
            pos[(*npos)++] = a;
            continue;
        }
        const struct cli_opt *o = find(table, a);
        if (o == NULL)
            return bad(cmd, "unknown option '%s'", a);
        if (o->kind == CLI_OPT_FLAG) {
            *(int *)((char *)out + o->offset) = 1;
            continue;
        }
        if (i + 1 >= argc)
            return bad(cmd, "%s needs a value", o->name);
        if (store(cmd, o, argv[++i], out) != CLI_OK)
            return CLI_USAGE;
    }
    return CLI_OK;
}
