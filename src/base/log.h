/* SPDX-License-Identifier: Apache-2.0 */
/* Logging. Thread-safe; one line per call. Leaf modules do not log: they
 * return errors and the session/listener layer logs with context. */
#ifndef MOAT_LOG_H
#define MOAT_LOG_H

#include <stdio.h>

typedef enum moat_log_level {
    MOAT_LOG_DEBUG = 0,
    MOAT_LOG_INFO,
    MOAT_LOG_NOTICE,
    MOAT_LOG_WARNING,
    MOAT_LOG_ERROR,
    MOAT_LOG_NONE
} moat_log_level;

/* Parse "debug|info|notice|warning|error|none"; returns -1 when unknown. */
int moat_log_level_parse(const char *s);
const char *moat_log_level_name(moat_log_level l);
void moat_log_set_level(moat_log_level l);
/* Log to this file as well as (or instead of) stderr. path NULL: stderr only. */
int moat_log_open(const char *path, int also_stderr);
void moat_log_close(void);
int moat_log_enabled(moat_log_level l);
void moat_log(moat_log_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_DEBUG(...)                                                                             \
    do {                                                                                           \
        if (moat_log_enabled(MOAT_LOG_DEBUG))                                                      \
            moat_log(MOAT_LOG_DEBUG, __VA_ARGS__);                                                 \
    } while (0)
#define LOG_INFO(...) moat_log(MOAT_LOG_INFO, __VA_ARGS__)
#define LOG_NOTICE(...) moat_log(MOAT_LOG_NOTICE, __VA_ARGS__)
#define LOG_WARN(...) moat_log(MOAT_LOG_WARNING, __VA_ARGS__)
#define LOG_ERROR(...) moat_log(MOAT_LOG_ERROR, __VA_ARGS__)

#endif
