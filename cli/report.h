/* A command's report, as aligned text for people or one JSON object for
 * programs (--json): the command states each field once. */
#ifndef FTLS_CLI_REPORT_H
#define FTLS_CLI_REPORT_H

#include <stddef.h>
#include <stdio.h>

struct report {
    FILE *out;
    int json, fields, width;
    const char *indent;
};

/* Text fields are "<indent><label padded to width> <value>". */
void report_begin(struct report *r, FILE *out, int json, const char *indent,
                  int width);
void report_str(struct report *r, const char *key, const char *label,
                const char *value);
__attribute__((format(printf, 4, 5))) void report_fmt(struct report *r,
                                                      const char *key,
                                                      const char *label,
                                                      const char *fmt, ...);
/* A number: JSON as is; text with `decimals` digits and `suffix`. */
void report_num(struct report *r, const char *key, const char *label,
                double value, int decimals, const char *suffix);
/* A list: JSON array; text: comma-separated on one line. */
void report_list(struct report *r, const char *key, const char *label,
                 const char *const *items, size_t n);
/* Ends the JSON object (and its line); text: nothing. */
void report_end(struct report *r);

#endif
