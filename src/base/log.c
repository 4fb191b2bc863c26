/* Logging to stderr with levels; stdout is reserved for protocols. */
#include "base.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

static enum log_level g_level = LOG_INFO;
static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;

void log_set_level(enum log_level lvl)
{
    g_level = lvl;
}

enum log_level log_get_level(void)
{
    return g_level;
}

int log_level_parse(const char *s, enum log_level *out)
{
    static const struct {
        const char *name;
        enum log_level lvl;
    } names[] = {
        {"debug", LOG_DEBUG}, {"info", LOG_INFO},     {"warning", LOG_WARN},
        {"warn", LOG_WARN},   {"error", LOG_ERROR},   {"critical", LOG_ERROR},
        {"quiet", LOG_QUIET}, {"notice", LOG_INFO},   {"alert", LOG_ERROR},
        {"emergency", LOG_ERROR},
    };
    for (size_t i = 0; i < ARRAY_LEN(names); i++)
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].lvl;
            return 0;
        }
    return -1;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    static const char *tags[] = {"debug", "info", "warning", "error"};
    if (lvl < g_level || lvl >= LOG_QUIET)
        return;
    buf_t b;
    buf_init(&b);
    buf_printf(&b, "retrain: %s: ", tags[lvl]);
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    buf_putc(&b, '\n');
    pthread_mutex_lock(&g_log_lock);
    fwrite(b.data, 1, b.len, stderr);
    fflush(stderr);
    pthread_mutex_unlock(&g_log_lock);
    buf_free(&b);
}
