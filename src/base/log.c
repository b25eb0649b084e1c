/* SPDX-License-Identifier: Apache-2.0 */
#include "base/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static const char *const level_names[] = {"debug", "info", "notice", "warning", "error", "none"};
static moat_log_level g_level = MOAT_LOG_INFO;
static FILE *g_file;
static int g_stderr = 1;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

int moat_log_level_parse(const char *s)
{
    for (int i = 0; i <= MOAT_LOG_NONE; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    if (strcmp(s, "warn") == 0)
        return MOAT_LOG_WARNING;
    return -1;
}

const char *moat_log_level_name(moat_log_level l)
{
    return level_names[l <= MOAT_LOG_NONE ? l : MOAT_LOG_NONE];
}

void moat_log_set_level(moat_log_level l)
{
    g_level = l;
}

int moat_log_enabled(moat_log_level l)
{
    return l >= g_level && l < MOAT_LOG_NONE;
}

int moat_log_open(const char *path, int also_stderr)
{
    pthread_mutex_lock(&g_lock);
    if (g_file)
        fclose(g_file);
    g_file = NULL;
    g_stderr = also_stderr;
    if (path) {
        g_file = fopen(path, "a");
        if (!g_file) {
            g_stderr = 1;
            pthread_mutex_unlock(&g_lock);
            return -1;
        }
        setvbuf(g_file, NULL, _IOLBF, 0);
    }
    pthread_mutex_unlock(&g_lock);
    return 0;
}

void moat_log_close(void)
{
    moat_log_open(NULL, 1);
}

void moat_log(moat_log_level l, const char *fmt, ...)
{
    if (!moat_log_enabled(l))
        return;
    char line[2048];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    int n = (int)strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += snprintf(line + n, sizeof line - (size_t)n, ".%03dZ [%s] ", (int)(tv.tv_usec / 1000),
                  level_names[l]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    int body = n;
    n += m;
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    /* One call, one line: a newline or other control byte from a client
     * (a client id, a certificate field) must not forge or split entries. */
    for (int i = body; i < n; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            line[i] = line[i] == '\n' ? ' ' : '?';
    line[n++] = '\n';
    pthread_mutex_lock(&g_lock);
    if (g_stderr || !g_file)
        fwrite(line, 1, (size_t)n, stderr);
    if (g_file)
        fwrite(line, 1, (size_t)n, g_file);
    pthread_mutex_unlock(&g_lock);
}
