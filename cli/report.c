/* Text or JSON reports (see report.h). */
#include "report.h"

#include <stdarg.h>

#include "cli.h"

void report_begin(struct report *r, FILE *out, int json, const char *indent,
                  int width)
{
    r->out = out;
    r->json = json;
    r->fields = 0;
    r->indent = indent ? indent : "";
    r->width = width;
    if (json)
        fputc('{', out);
}

static void key_or_label(struct report *r, const char *key, const char *label)
{
    if (r->json) {
        fputs(r->fields++ ? "," : "", r->out);
        cli_json_string(r->out, key);
        fputc(':', r->out);
    } else {
        fprintf(r->out, "%s%-*s ", r->indent, r->width, label);
    }
}

void report_str(struct report *r, const char *key, const char *label,
                const char *value)
{
    key_or_label(r, key, label);
    if (r->json)
        cli_json_string(r->out, value);
    else
        fprintf(r->out, "%s\n", value ? value : "-");
}

void report_fmt(struct report *r, const char *key, const char *label,
                const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    report_str(r, key, label, buf);
}

void report_num(struct report *r, const char *key, const char *label,
                double value, int decimals, const char *suffix)
{
    key_or_label(r, key, label);
    if (r->json)
        fprintf(r->out, "%.17g", value);
    else
        fprintf(r->out, "%.*f%s\n", decimals, value, suffix ? suffix : "");
}

void report_list(struct report *r, const char *key, const char *label,
                 const char *const *items, size_t n)
{
    key_or_label(r, key, label);
    fputs(r->json ? "[" : "", r->out);
    for (size_t i = 0; i < n; i++) {
        fputs(i ? (r->json ? "," : ", ") : "", r->out);
        if (r->json)
            cli_json_string(r->out, items[i]);
        else
            fputs(items[i], r->out);
    }
    fputs(r->json ? "]" : (n ? "\n" : "(none)\n"), r->out);
}

void report_end(struct report *r)
{
    if (r->json)
        fputs("}\n", r->out);
    fflush(r->out);
}
