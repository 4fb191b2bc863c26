/* Progress bars on stderr: one line redrawn with '\r' on a terminal. */
#include "base.h"

#include <string.h>
#include <unistd.h>

void progress_start(progress_t *p, const char *label, size_t total)
{
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    p->total = total;
    p->t0_ns = time_now_ns();
    p->tty = isatty(STDERR_FILENO);
}

static void draw(progress_t *p, const char *note)
{
    enum { WIDTH = 30 };
    size_t fill = p->total ? p->done * WIDTH / p->total : WIDTH;
    if (fill > WIDTH)
        fill = WIDTH;
    char bar[WIDTH + 1];
    memset(bar, '#', fill);
    memset(bar + fill, '.', WIDTH - fill);
    bar[WIDTH] = 0;
    double s = (double)(time_now_ns() - p->t0_ns) / 1e9;
    /* \033[K clears what a longer earlier note left on the line. */
    fprintf(stderr, "\r%s [%s] %zu/%zu %.1fs %.40s\033[K", p->label, bar, p->done, p->total, s,
            note ? note : "");
    fflush(stderr);
}

void progress_update(progress_t *p, size_t done, const char *note)
{
    p->done = done;
    if (!p->tty)
        return;
    uint64_t now = time_now_ns();
    if (p->drawn_ns && now - p->drawn_ns < 100000000ull && done < p->total)
        return;
    p->drawn_ns = now;
    draw(p, note);
}

void progress_finish(progress_t *p)
{
    double s = (double)(time_now_ns() - p->t0_ns) / 1e9;
    if (p->tty)
        fprintf(stderr, "\r\033[K");
    fprintf(stderr, "%s: %zu/%zu in %.1f s\n", p->label, p->done, p->total, s);
}
