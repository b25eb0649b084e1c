/* SPDX-License-Identifier: Apache-2.0 */
/* Time, the latency histogram, /proc readers and a small JSON writer. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "gen.h"

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void sleep_ns(uint64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull),
                          .tv_nsec = (long)(ns % 1000000000ull)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- histogram: values below 64 have their own bucket; above, 32 buckets
 * per power of two. */

static unsigned hist_index(uint64_t v)
{
    if (v < 64)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* 6..63 */
    unsigned sub = (unsigned)(v >> (e - 5)) & 31u;
    return 64u + (e - 6u) * 32u + sub;
}

static uint64_t hist_value(unsigned i)
{
    if (i < 64)
        return i;
    unsigned e = (i - 64u) / 32u + 6u, sub = (i - 64u) % 32u;
    uint64_t lo = (uint64_t)(32u + sub) << (e - 5u);
    uint64_t width = 1ull << (e - 5u);
    return lo + width / 2; /* the middle of the bucket */
}

void hist_add(hist *h, uint64_t v)
{
    h->b[hist_index(v)]++;
    h->n++;
    h->sum += v;
    if (v > h->max)
        h->max = v;
}

void hist_merge(hist *dst, const hist *src)
{
    for (unsigned i = 0; i < HIST_N; i++)
        dst->b[i] += src->b[i];
    dst->n += src->n;
    dst->sum += src->sum;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t hist_pct(const hist *h, double pct)
{
    if (h->n == 0)
        return 0;
    uint64_t rank = (uint64_t)ceil(pct / 100.0 * (double)h->n);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_N; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t v = hist_value(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

/* ---- /proc ------------------------------------------------------------- */

void proc_read(pid_t pid, proc_sample *out)
{
    memset(out, 0, sizeof *out);
    if (pid <= 0)
        return;
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* The command name is in parentheses and may hold spaces: fields are
     * counted from the last ')'. utime and stime are fields 14 and 15. */
    char *p = strrchr(buf, ')');
    if (!p)
        return;
    p++;
    unsigned long long ut = 0, st = 0;
    int field = 2;
    char *save = NULL;
    for (char *tok = strtok_r(p, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        field++;
        if (field == 14)
            ut = strtoull(tok, NULL, 10);
        else if (field == 15) {
            st = strtoull(tok, NULL, 10);
            break;
        }
    }
    long hz = sysconf(_SC_CLK_TCK);
    out->cpu_s = (double)(ut + st) / (double)(hz > 0 ? hz : 100);

    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        unsigned long long v;
        if (sscanf(line, "VmRSS: %llu", &v) == 1)
            out->rss_kb = v;
        else if (sscanf(line, "VmHWM: %llu", &v) == 1)
            out->hwm_kb = v;
        else if (sscanf(line, "Threads: %llu", &v) == 1)
            out->threads = v;
    }
    fclose(f);
    out->ok = true;
}

double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* ---- JSON -------------------------------------------------------------- */

static void json_put(json *j, const char *s, size_t n)
{
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 1024;
        while (cap < j->len + n + 1)
            cap *= 2;
        char *p = realloc(j->p, cap);
        if (!p) {
            perror("realloc");
            exit(2);
        }
        j->p = p;
        j->cap = cap;
    }
    memcpy(j->p + j->len, s, n);
    j->len += n;
    j->p[j->len] = 0;
}

static void json_quoted(json *j, const char *s)
{
    json_put(j, "\"", 1);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            char e[2] = {'\\', (char)ch};
            json_put(j, e, 2);
        } else if (ch < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", ch);
            json_put(j, e, 6);
        } else {
            json_put(j, (const char *)&ch, 1);
        }
    }
    json_put(j, "\"", 1);
}

static void json_key(json *j, const char *key)
{
    if (!j->first)
        json_put(j, ",", 1);
    j->first = false;
    json_quoted(j, key);
    json_put(j, ":", 1);
}

void json_begin(json *j)
{
    memset(j, 0, sizeof *j);
    j->first = true;
    json_put(j, "{", 1);
}

void json_str(json *j, const char *key, const char *val)
{
    json_key(j, key);
    if (val)
        json_quoted(j, val);
    else
        json_put(j, "null", 4);
}

void json_num(json *j, const char *key, double val)
{
    char b[64];
    json_key(j, key);
    if (!isfinite(val))
        snprintf(b, sizeof b, "null");
    else
        snprintf(b, sizeof b, "%.6g", val);
    json_put(j, b, strlen(b));
}

void json_int(json *j, const char *key, int64_t val)
{
    char b[32];
    json_key(j, key);
    snprintf(b, sizeof b, "%lld", (long long)val);
    json_put(j, b, strlen(b));
}

void json_bool(json *j, const char *key, bool val)
{
    json_key(j, key);
    json_put(j, val ? "true" : "false", val ? 4 : 5);
}

void json_raw(json *j, const char *key, const char *raw)
{
    json_key(j, key);
    json_put(j, raw, strlen(raw));
}

void json_end(json *j, FILE *f)
{
    json_put(j, "}", 1);
    fprintf(f, "%s\n", j->p);
    fflush(f);
    free(j->p);
    memset(j, 0, sizeof *j);
}
