/*
 * synq CLI: output formatting shared by the commands.
 *
 * JSON output must parse for any job body, and bodies are arbitrary bytes,
 * so strings are written byte by byte: valid UTF-8 passes through, control
 * characters are escaped, and a byte that does not start a valid UTF-8
 * sequence is written as \u00XX (its Latin-1 reading). Scalars from the
 * server's YAML become numbers or booleans when they look like one, so
 * `synq --json stats | jq '.["current-jobs-ready"] + 1'` works.
 */
#include <string.h>

#include "cli.h"
#include "utf8.h"

void out_json_str(FILE *f, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned char ch = p[i];
        if (ch == '"' || ch == '\\') {
            fputc('\\', f);
            fputc(ch, f);
            i++;
        } else if (ch == '\n') {
            fputs("\\n", f), i++;
        } else if (ch == '\r') {
            fputs("\\r", f), i++;
        } else if (ch == '\t') {
            fputs("\\t", f), i++;
        } else if (ch < 0x20 || ch == 0x7F) {
            fprintf(f, "\\u%04x", ch), i++;
        } else {
            size_t len = utf8_seq_len(p + i, n - i);
            if (len == 0) {
                fprintf(f, "\\u%04x", ch);
                i++;
            } else {
                fwrite(p + i, 1, len, f);
                i += len;
            }
        }
    }
    fputc('"', f);
}

/* True when v is a JSON-compatible number: -?digits(.digits)?, no leading
 * zeros except "0" itself (so ids like "0755" stay strings). */
static bool is_number(const char *v)
{
    const char *p = v;
    if (*p == '-')
        p++;
    if (*p < '0' || *p > '9')
        return false;
    if (*p == '0' && p[1] >= '0' && p[1] <= '9')
        return false;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == '\0';
}

void out_json_scalar(FILE *f, const char *v)
{
    size_t n = strlen(v);
    if (is_number(v) || strcmp(v, "true") == 0 || strcmp(v, "false") == 0) {
        fputs(v, f);
    } else if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        out_json_str(f, v + 1, n - 2);
    } else {
        out_json_str(f, v, n);
    }
}

void out_json_yaml(FILE *f, const cli_yaml *y)
{
    bool is_list = y->n > 0 && y->items[0].key == NULL;
    fputc(is_list ? '[' : '{', f);
    for (size_t i = 0; i < y->n; i++) {
        if (i)
            fputs(", ", f);
        if (is_list) {
            /* List items are names (tubes), strings even when all digits. */
            out_json_str(f, y->items[i].val, strlen(y->items[i].val));
            continue;
        }
        out_json_str(f, y->items[i].key, strlen(y->items[i].key));
        fputs(": ", f);
        out_json_scalar(f, y->items[i].val);
    }
    fputs(is_list ? "]" : "}", f);
}

void out_job(const cli *c, const cli_job *job)
{
    if (c->json) {
        printf("{\"id\": %llu, \"body\": ", (unsigned long long)job->id);
        out_json_str(stdout, job->body, job->len);
        printf("}\n");
        return;
    }
    if (c->verbose)
        printf("%llu\t", (unsigned long long)job->id);
    fwrite(job->body, 1, job->len, stdout);
    putchar('\n');
}

void out_yaml_doc(FILE *f, const cli_yaml *y, bool json)
{
    if (json) {
        out_json_yaml(f, y);
        fputc('\n', f);
        return;
    }
    for (size_t i = 0; i < y->n; i++)
        fprintf(f, "%s: %s\n", y->items[i].key ? y->items[i].key : "-", y->items[i].val);
}
