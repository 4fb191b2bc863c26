/* rl/report: the run report as one HTML page (report.h). The plots are SVG
 * written here: a line per metric over the logged steps, axes with ticks at
 * 1, 2 or 5 times a power of ten, a legend when a plot has several lines.
 * Nothing on the page refers to anything outside it. */
#include "report.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- text */

/* Appends s[0..n) with the five HTML specials escaped; ill-formed UTF-8
 * (a run folder's name can be any bytes) becomes U+FFFD first. */
static void html_esc(buf_t *b, const char *s, size_t n)
{
    if (!utf8_valid(s, n)) {
        buf_t t;
        buf_init(&t);
        utf8_append_lossy(&t, s, n);
        html_esc(b, t.data, t.len);
        buf_free(&t);
        return;
    }
    buf_reserve(b, n);
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '&': buf_puts(b, "&amp;"); break;
        case '<': buf_puts(b, "&lt;"); break;
        case '>': buf_puts(b, "&gt;"); break;
        case '"': buf_puts(b, "&quot;"); break;
        case '\'': buf_puts(b, "&#39;"); break;
        case '\0': buf_puts(b, "\xEF\xBF\xBD"); break; /* U+FFFD: HTML has no NUL */
        default: buf_putc(b, s[i]);
        }
    }
}

static void html_str(buf_t *b, const char *s) { html_esc(b, s, strlen(s)); }

/* A value for a table cell: six significant digits, "-" for none. */
static void put_value(buf_t *b, double v)
{
    if (isfinite(v))
        buf_printf(b, "%.6g", v);
    else
        buf_puts(b, "-");
}

/* A JSON value from the configuration, as text. */
static void put_json(buf_t *b, const json_t *v)
{
    if (json_is_string(v)) {
        html_str(b, json_string_value(v));
    } else if (json_is_integer(v)) {
        buf_printf(b, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        put_value(b, json_real_value(v));
    } else {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        html_str(b, s ? s : "null");
        free(s);
    }
}

/* ---- JSON lines */

/* Python's json writes NaN, Infinity and -Infinity, which are not JSON;
 * they become null (a point with no value) before jansson parses the line.
 * Text inside strings is left alone. */
static void nonfinite_to_null(buf_t *out, const char *s, size_t n)
{
    static const char *const words[] = {"-Infinity", "Infinity", "NaN"};
    buf_reset(out);
    buf_reserve(out, n);
    int in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            buf_putc(out, c);
            if (c == '\\' && i + 1 < n)
                buf_putc(out, s[++i]);
            else if (c == '"')
                in_str = 0;
            continue;
        }
        size_t k = 0;
        for (; k < ARRAY_LEN(words); k++)
            if (n - i >= strlen(words[k]) && !memcmp(s + i, words[k], strlen(words[k])))
                break;
        if (k < ARRAY_LEN(words)) {
            buf_puts(out, "null");
            i += strlen(words[k]) - 1;
            continue;
        }
        in_str = c == '"';
        buf_putc(out, c);
    }
}

typedef int (*line_fn)(json_t *obj, const char *path, long lineno, void *ctx, err_t *e);

/* Calls fn for each line's object; blank lines are skipped. Read line by
 * line: episodes.jsonl holds every episode's whole text and can be large. */
static int jsonl_each(const char *path, line_fn fn, void *ctx, err_t *e)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return err_set(e, "%s: cannot open: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long lineno = 0;
    int rc = 0;
    buf_t clean;
    buf_init(&clean);
    while (rc == 0 && (got = getline(&line, &cap, f)) != -1) {
        lineno++;
        size_t len = (size_t)got;
        int ended = len > 0 && line[len - 1] == '\n';
        len -= (size_t)ended;
        if (strspn(line, " \t\r\n") >= len)
            continue;
        nonfinite_to_null(&clean, line, len);
        json_error_t je;
        json_t *j = json_loadb(clean.data, clean.len, JSON_ALLOW_NUL, &je);
        if (!json_is_object(j)) {
            /* the trainer may be writing this line right now */
            if (!ended && !j)
                break;
            rc = err_set(e, "%s:%ld: %s", path, lineno, j ? "not a JSON object" : je.text);
        } else {
            rc = fn(j, path, lineno, ctx, e);
        }
        json_decref(j);
    }
    if (rc == 0 && ferror(f))
        rc = err_set(e, "%s: read failed", path);
    buf_free(&clean);
    free(line);
    fclose(f);
    return rc;
}

static int line_step(json_t *j, const char *path, long lineno, long *step, err_t *e)
{
    json_t *s = json_object_get(j, "step");
    if (!json_is_integer(s))
        return err_set(e, "%s:%ld: no integer \"step\"", path, lineno);
    *step = (long)json_integer_value(s);
    return 0;
}

/* ---- the metrics: one series per name, in the order names first appear */

typedef struct series {
    char *name;
    double *x, *y; /* step, value (NaN: the line had no finite value) */
    size_t n, cap;
} series;

typedef struct run_metrics {
    series *s;
    size_t n, cap;
    long lines, first_step, last_step;
    double last_epoch;
} run_metrics;

static series *metric_get(const run_metrics *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->s[i].name, name))
            return &m->s[i];
    return NULL;
}

static void metric_add(run_metrics *m, const char *name, double x, double y)
{
    series *s = metric_get(m, name);
    if (!s) {
        if (m->n == m->cap) {
            m->cap = m->cap ? 2 * m->cap : 32;
            m->s = xrealloc(m->s, m->cap * sizeof *m->s);
        }
        s = &m->s[m->n++];
        *s = (series){.name = xstrdup(name)};
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->x = xrealloc(s->x, s->cap * sizeof *s->x);
        s->y = xrealloc(s->y, s->cap * sizeof *s->y);
    }
    s->x[s->n] = x;
    s->y[s->n++] = y;
}

static void metrics_free(run_metrics *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->s[i].name);
        free(m->s[i].x);
        free(m->s[i].y);
    }
    free(m->s);
}

static int metrics_line(json_t *j, const char *path, long lineno, void *ctx, err_t *e)
{
    run_metrics *m = ctx;
    long step = 0;
    if (line_step(j, path, lineno, &step, e) != 0)
        return -1;
    if (m->lines++ == 0)
        m->first_step = step;
    m->last_step = step;
    json_t *ep = json_object_get(j, "epoch");
    if (json_is_number(ep))
        m->last_epoch = json_number_value(ep);
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) {
        if (!strcmp(k, "step") || !strcmp(k, "epoch") || !strcmp(k, "timestamp"))
            continue;
        if (json_is_number(v))
            metric_add(m, k, (double)step, json_number_value(v));
        else if (json_is_null(v))
            metric_add(m, k, (double)step, NAN);
    }
    return 0;
}

/* First and last finite values; 0 if there is none. */
static int series_ends(const series *s, size_t *first, size_t *last)
{
    size_t i = 0, k = s->n;
    while (i < s->n && !isfinite(s->y[i]))
        i++;
    while (k > i && !isfinite(s->y[k - 1]))
        k--;
    if (i >= k)
        return 0;
    *first = i;
    *last = k - 1;
    return 1;
}

/* ---- SVG line plots */

enum {
    PLOT_W = 720,     /* the whole figure's width (viewBox units, about pixels) */
    PLOT_H = 230,     /* the axes' box */
    PAD_L = 66,       /* y tick labels */
    PAD_R = 22,
    PAD_T = 34,       /* the title */
    PAD_B = 40,       /* x tick labels and "step" */
    LEGEND_ROW = 18,
    DOTS_MAX = 60     /* series with this many points or fewer also get dots */
};

static const char *const k_colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                       "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};

/* 1, 2 or 5 times a power of ten, so that range / step is about `target` */
static double nice_step(double range, int target)
{
    double raw = range / target;
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

static void put_tick(buf_t *b, double v, double step)
{
    if (fabs(v) < step * 1e-9)
        v = 0; /* not -2.8e-17 */
    if (v == rint(v) && fabs(v) < 1e9)
        buf_printf(b, "%.0f", v);
    else
        buf_printf(b, "%.4g", v);
}

/* Width of a legend entry: a swatch, the label at about 7 units a
 * character, a gap. */
static int legend_w(const char *label) { return 30 + 7 * (int)strlen(label) + 14; }

/* Appends a <figure> with an SVG line plot of the nall series (x: step)
 * that have a finite value, or nothing when none has; returns 1 if it
 * plotted. unit: the y axis spans at least [0, 1] (rates and accuracies).
 * Values too far apart for a double's range (1e308 and -1e308) get no plot. */
static int svg_plot(buf_t *out, const char *title, const series *const *all, int nall, int unit)
{
    const series *s[16];
    int ns = 0;
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < nall && ns < (int)ARRAY_LEN(s); i++) {
        int any = 0;
        for (size_t k = 0; k < all[i]->n; k++) {
            double y = all[i]->y[k];
            if (!isfinite(y))
                continue;
            any = 1;
            x0 = fmin(x0, all[i]->x[k]);
            x1 = fmax(x1, all[i]->x[k]);
            y0 = fmin(y0, y);
            y1 = fmax(y1, y);
        }
        if (any)
            s[ns++] = all[i];
    }
    if (ns == 0 || !isfinite(y1 - y0))
        return 0;
    if (unit) {
        y0 = fmin(y0, 0);
        y1 = fmax(y1, 1);
    }
    if (y1 == y0) {
        double d = y0 != 0 ? fabs(y0) * 0.1 : 1;
        y0 -= d;
        y1 += d;
    }
    double ys = nice_step(y1 - y0, 5);
    y0 = floor(y0 / ys) * ys;
    y1 = ceil(y1 / ys) * ys;
    if (x1 == x0) {
        x0 -= 1;
        x1 += 1;
    }
    double xs = fmax(1, nice_step(x1 - x0, 8)); /* steps are whole numbers */

    /* the legend's rows first: they set the figure's height */
    int rows = 0;
    if (ns > 1) {
        int lx = PAD_L;
        rows = 1;
        for (int i = 0; i < ns; i++) {
            if (lx > PAD_L && lx + legend_w(s[i]->name) > PLOT_W - PAD_R) {
                rows++;
                lx = PAD_L;
            }
            lx += legend_w(s[i]->name);
        }
    }
    int h = PAD_T + PLOT_H + PAD_B + rows * LEGEND_ROW + (rows ? 4 : 0);
    double aw = PLOT_W - PAD_L - PAD_R;
#define PX(x) (PAD_L + ((x) - x0) / (x1 - x0) * aw)
#define PY(y) (PAD_T + (y1 - (y)) / (y1 - y0) * PLOT_H)

    buf_printf(out, "<figure><svg viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\">",
               PLOT_W, h, PLOT_W, h);
    buf_puts(out, "<title>");
    html_str(out, title);
    buf_printf(out, "</title>\n<text class=\"title\" x=\"%d\" y=\"20\" text-anchor=\"middle\">",
               PLOT_W / 2);
    html_str(out, title);
    buf_puts(out, "</text>\n");
    /* grid and tick labels */
    long nyt = lround((y1 - y0) / ys);
    for (long k = 0; k <= nyt; k++) {
        double v = y0 + (double)k * ys, py = PY(v);
        buf_printf(out, "<line class=\"grid\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\"/>", PAD_L,
                   PLOT_W - PAD_R, py, py);
        buf_printf(out, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">", PAD_L - 6, py + 4);
        put_tick(out, v, ys);
        buf_puts(out, "</text>\n");
    }
    for (double v = ceil(x0 / xs) * xs; v <= x1 + xs * 1e-9; v += xs) {
        double px = PX(v);
        buf_printf(out, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\"/>", px, px,
                   PAD_T, PAD_T + PLOT_H);
        buf_printf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", px, PAD_T + PLOT_H + 16);
        put_tick(out, v, xs);
        buf_puts(out, "</text>\n");
    }
    buf_printf(out, "<rect class=\"axis\" x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%d\"/>\n", PAD_L,
               PAD_T, aw, PLOT_H);
    buf_printf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">step</text>\n",
               PAD_L + aw / 2, PAD_T + PLOT_H + 33);
    /* the lines; points without a finite value are left out */
    for (int i = 0; i < ns; i++) {
        const char *color = k_colors[i % ARRAY_LEN(k_colors)];
        size_t finite = 0;
        buf_printf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" points=\"", color);
        for (size_t k = 0; k < s[i]->n; k++) {
            if (!isfinite(s[i]->y[k]))
                continue;
            buf_printf(out, "%s%.1f,%.1f", finite++ ? " " : "", PX(s[i]->x[k]), PY(s[i]->y[k]));
        }
        buf_puts(out, "\"/>\n");
        if (finite <= DOTS_MAX) {
            buf_printf(out, "<g fill=\"%s\">", color);
            for (size_t k = 0; k < s[i]->n; k++)
                if (isfinite(s[i]->y[k]))
                    buf_printf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.6\"/>", PX(s[i]->x[k]),
                               PY(s[i]->y[k]));
            buf_puts(out, "</g>\n");
        }
    }
    /* the legend, in the rows worked out above */
    int lx = PAD_L, ly = PAD_T + PLOT_H + PAD_B + 8;
    for (int i = 0; rows && i < ns; i++) {
        if (lx > PAD_L && lx + legend_w(s[i]->name) > PLOT_W - PAD_R) {
            ly += LEGEND_ROW;
            lx = PAD_L;
        }
        buf_printf(out,
                   "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"/>"
                   "<text x=\"%d\" y=\"%d\">",
                   lx, lx + 22, ly, ly, k_colors[i % ARRAY_LEN(k_colors)], lx + 28, ly + 4);
        html_str(out, s[i]->name);
        buf_puts(out, "</text>\n");
        lx += legend_w(s[i]->name);
    }
#undef PX
#undef PY
    buf_puts(out, "</svg></figure>\n");
    return 1;
}

/* What is plotted: each plot's metrics, in legend order. */
typedef struct plot_spec {
    const char *title;
    const char *keys[4];
    int reward_fns; /* also every rewards/<name>/mean */
    int unit;
} plot_spec;

static const plot_spec k_plots[] = {
    {"Reward", {"reward", "eval_reward"}, 1, 0},
    {"Accuracy", {"eval_accuracy", "sql_accuracy"}, 0, 1},
    {"Loss", {"loss", "eval_loss"}, 0, 0},
    {"KL divergence to the reference", {"kl"}, 0, 0},
    {"Entropy", {"entropy"}, 0, 0},
    {"Model turns per episode", {"episode_length"}, 0, 0},
    {"Completion length (tokens)", {"completions/mean_length"}, 0, 0},
    {"Tool use and answers (fraction of episodes)", {"tool_usage_rate", "answer_rate"}, 0, 1},
    {"Throughput (tokens/s)", {"time/generation_tokens_per_s", "time/update_tokens_per_s"}, 0, 0},
    {"Time per step (s)",
     {"time/generation_s", "time/tool_calls_s", "time/reward_s", "time/update_s"}, 0, 0},
    {"Gradient norm", {"grad_norm"}, 0, 0},
    {"Learning rate", {"learning_rate"}, 0, 0},
};

static int is_reward_fn(const char *name)
{
    return str_starts(name, "rewards/") && str_ends(name, "/mean") && strlen(name) > 13;
}

/* The plots' metrics, and then the per-function reward means after
 * "reward": the summary table's rows. */
static void summary_keys(const run_metrics *m, strlist_t *keys)
{
    static const char *const base[] = {
        "reward", "eval_reward", "sql_accuracy", "eval_accuracy", "loss", "eval_loss", "kl",
        "entropy", "frac_reward_zero_std", "tool_usage_rate", "answer_rate", "episode_length",
        "completions/mean_length", "grad_norm", "learning_rate", "time/generation_tokens_per_s",
        "time/update_tokens_per_s", "num_tokens"};
    for (size_t i = 0; i < ARRAY_LEN(base); i++) {
        strlist_push(keys, base[i]);
        if (i == 0)
            for (size_t k = 0; k < m->n; k++)
                if (is_reward_fn(m->s[k].name))
                    strlist_push(keys, m->s[k].name);
    }
}

/* ---- the page's sections */

static void row(buf_t *b, const char *name)
{
    buf_puts(b, "<tr><th>");
    html_str(b, name);
    buf_puts(b, "</th><td>");
}

static const json_t *jpath(const json_t *j, const char *a, const char *b)
{
    const json_t *v = json_object_get(j, a);
    return b ? json_object_get(v, b) : v;
}

static void section_header(buf_t *p, const char *run_dir, const json_t *cfg,
                           const run_metrics *m)
{
    buf_puts(p, "<table class=\"kv\">\n");
    row(p, "run folder");
    html_str(p, run_dir);
    buf_puts(p, "</td></tr>\n");
    if (!cfg) {
        row(p, "configuration");
        buf_puts(p, "no resolved_config.json in the run folder</td></tr>\n");
    }
    const json_t *v = jpath(cfg, "model", "name_or_path");
    if (v) {
        row(p, "model");
        put_json(p, v);
        buf_puts(p, "</td></tr>\n");
    }
    const json_t *peft = jpath(cfg, "model", "peft_config");
    if (json_is_object(peft)) {
        row(p, "LoRA");
        buf_puts(p, "r ");
        put_json(p, json_object_get(peft, "r"));
        buf_puts(p, ", alpha ");
        put_json(p, json_object_get(peft, "lora_alpha"));
        const json_t *tm = json_object_get(peft, "target_modules");
        if (tm) {
            buf_puts(p, ", modules ");
            put_json(p, tm);
        }
        buf_puts(p, "</td></tr>\n");
    }
    if ((v = jpath(cfg, "algorithm", "name"))) {
        row(p, "algorithm");
        put_json(p, v);
        buf_puts(p, "</td></tr>\n");
    }
    row(p, "steps");
    if (m->lines == 0) {
        buf_puts(p, "nothing logged yet");
    } else {
        buf_printf(p, "%ld logged, step %ld to %ld", m->lines, m->first_step, m->last_step);
        const json_t *ms = jpath(jpath(cfg, "algorithm", "hyperparameters"), "max_steps", NULL);
        if (json_is_integer(ms) && json_integer_value(ms) > 0)
            buf_printf(p, " of %lld", (long long)json_integer_value(ms));
        buf_printf(p, " (epoch %.3g)", m->last_epoch);
    }
    buf_puts(p, "</td></tr>\n");
    if ((v = jpath(cfg, "environment", "env_specific_config")) &&
        (v = json_object_get(v, "spider2_data_path")) && !json_is_null(v)) {
        row(p, "tasks");
        put_json(p, v);
        buf_puts(p, "</td></tr>\n");
    }
    static const char *const hp[] = {
        "learning_rate", "lr_scheduler_type", "batch_size", "gradient_accumulation_steps",
        "num_generations", "num_iterations", "max_length", "beta", "epsilon", "epsilon_high",
        "loss_type", "scale_rewards", "temperature", "seed"};
    const json_t *h = jpath(cfg, "algorithm", "hyperparameters");
    for (size_t i = 0; i < ARRAY_LEN(hp); i++) {
        if (!(v = json_object_get(h, hp[i])))
            continue;
        row(p, hp[i]);
        put_json(p, v);
        buf_puts(p, "</td></tr>\n");
    }
    /* the reward functions and their weights */
    static const char *const groups[] = {"rollout_reward_configs", "step_reward_configs"};
    int nr = 0;
    for (size_t g = 0; g < ARRAY_LEN(groups); g++) {
        const char *k;
        json_t *r;
        json_object_foreach((json_t *)jpath(cfg, "reward_setup", groups[g]), k, r) {
            if (nr++ == 0)
                row(p, "rewards");
            else
                buf_puts(p, ", ");
            html_str(p, k);
            if (json_is_number(json_object_get(r, "weight"))) {
                buf_puts(p, " (weight ");
                put_value(p, json_number_value(json_object_get(r, "weight")));
                buf_puts(p, ")");
            }
        }
    }
    if (nr)
        buf_puts(p, "</td></tr>\n");
    buf_puts(p, "</table>\n");
}

static void section_summary(buf_t *p, const run_metrics *m)
{
    strlist_t keys;
    strlist_init(&keys);
    summary_keys(m, &keys);
    int n = 0;
    for (size_t i = 0; i < keys.len; i++) {
        const series *s = metric_get(m, keys.items[i]);
        size_t a, z;
        if (!s || !series_ends(s, &a, &z))
            continue;
        if (n++ == 0)
            buf_puts(p, "<h2>First and last values</h2>\n<table class=\"num\">\n<tr><th>metric</th>"
                        "<th>first</th><th>at step</th><th>last</th><th>at step</th>"
                        "<th>change</th></tr>\n");
        buf_puts(p, "<tr><th>");
        html_str(p, s->name);
        buf_puts(p, "</th><td>");
        put_value(p, s->y[a]);
        buf_printf(p, "</td><td>%.0f</td><td>", s->x[a]);
        put_value(p, s->y[z]);
        buf_printf(p, "</td><td>%.0f</td><td>", s->x[z]);
        if (z > a)
            buf_printf(p, "%+.6g", s->y[z] - s->y[a]);
        buf_puts(p, "</td></tr>\n");
    }
    if (n)
        buf_puts(p, "</table>\n");
    strlist_free(&keys);
}

static int section_plots(buf_t *p, const run_metrics *m)
{
    int plotted = 0;
    buf_t figs;
    buf_init(&figs);
    for (size_t i = 0; i < ARRAY_LEN(k_plots); i++) {
        const plot_spec *ps = &k_plots[i];
        const series *s[16];
        int ns = 0;
        for (size_t k = 0; k < ARRAY_LEN(ps->keys) && ps->keys[k]; k++) {
            const series *x = metric_get(m, ps->keys[k]);
            if (x)
                s[ns++] = x;
            /* the reward functions' lines come right after the reward's */
            for (size_t r = 0; k == 0 && ps->reward_fns && r < m->n && ns < (int)ARRAY_LEN(s) - 1;
                 r++)
                if (is_reward_fn(m->s[r].name))
                    s[ns++] = &m->s[r];
        }
        plotted += svg_plot(&figs, ps->title, s, ns, ps->unit);
    }
    if (plotted) {
        buf_puts(p, "<h2>Over the steps</h2>\n<div class=\"plots\">\n");
        buf_append(p, figs.data, figs.len);
        buf_puts(p, "</div>\n");
    }
    buf_free(&figs);
    return plotted;
}

/* ---- evaluation reports: RUN/eval/step-N/report.json */

typedef struct eval_row {
    long step;
    json_t *rep;
} eval_row;

static int eval_cmp(const void *a, const void *b)
{
    long x = ((const eval_row *)a)->step, y = ((const eval_row *)b)->step;
    return (x > y) - (x < y);
}

static int section_evals(buf_t *p, const char *run_dir, err_t *e)
{
    buf_t path;
    buf_init(&path);
    buf_printf(&path, "%s/eval", run_dir);
    DIR *d = opendir(path.data);
    if (!d) {
        buf_free(&path);
        return 0; /* no evaluation in this run */
    }
    eval_row *rows = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d))) {
        long step;
        if (!str_starts(de->d_name, "step-") || parse_long(de->d_name + 5, &step) != 0)
            continue;
        buf_reset(&path);
        buf_printf(&path, "%s/eval/%s/report.json", run_dir, de->d_name);
        if (!file_exists(path.data))
            continue; /* an evaluation that did not finish */
        json_error_t je;
        json_t *rep = json_load_file(path.data, 0, &je);
        if (!json_is_object(rep)) {
            rc = rep ? err_set(e, "%s: not a JSON object", path.data)
                     : err_set(e, "%s:%d: %s", path.data, je.line, je.text);
            json_decref(rep);
            break;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            rows = xrealloc(rows, cap * sizeof *rows);
        }
        rows[n++] = (eval_row){step, rep};
    }
    closedir(d);
    buf_free(&path);
    if (rc == 0 && n > 0) {
        qsort(rows, n, sizeof *rows, eval_cmp);
        buf_puts(p, "<h2>Evaluations</h2>\n<table class=\"num\">\n<tr><th>step</th><th>accuracy</th>"
                    "<th>correct</th><th>evaluated</th><th>tool-use rate</th><th>mean turns</th>"
                    "</tr>\n");
        for (size_t i = 0; i < n; i++) {
            const json_t *r = rows[i].rep, *ag = json_object_get(r, "agent");
            const json_t *ev = json_object_get(r, "evaluated");
            if (!ev)
                ev = json_object_get(r, "n");
            const json_t *cells[] = {json_object_get(r, "accuracy"), json_object_get(r, "correct"),
                                     ev, json_object_get(ag, "tool_use_rate"),
                                     json_object_get(ag, "mean_turns")};
            buf_printf(p, "<tr><td>%ld</td>", rows[i].step);
            for (size_t k = 0; k < ARRAY_LEN(cells); k++) {
                buf_puts(p, "<td>");
                put_value(p, json_is_number(cells[k]) ? json_number_value(cells[k]) : NAN);
                buf_puts(p, "</td>");
            }
            buf_puts(p, "</tr>\n");
        }
        buf_puts(p, "</table>\n");
    }
    for (size_t i = 0; i < n; i++)
        json_decref(rows[i].rep);
    free(rows);
    return rc;
}

/* ---- example episodes: RUN/logs/episodes.jsonl */

enum { EP_TEXT_MAX = 256 * 1024 }; /* bytes of one episode's text shown */

typedef struct ep_pick {
    json_t *first;       /* the first episode of the first step */
    json_t *best, *worst; /* of the last step */
    long first_step, last_step;
    double best_r, worst_r;
} ep_pick;

static double ep_reward(const json_t *j)
{
    const json_t *r = json_object_get(j, "reward");
    return json_is_number(r) ? json_number_value(r) : NAN;
}

static int episode_line(json_t *j, const char *path, long lineno, void *ctx, err_t *e)
{
    ep_pick *p = ctx;
    long step = 0;
    if (line_step(j, path, lineno, &step, e) != 0)
        return -1;
    double r = ep_reward(j);
    if (!p->first) {
        p->first = json_incref(j);
        p->first_step = step;
    }
    if (!p->best || step > p->last_step) {
        json_decref(p->best);
        json_decref(p->worst);
        p->best = json_incref(j);
        p->worst = json_incref(j);
        p->last_step = step;
        p->best_r = p->worst_r = r;
    } else if (step == p->last_step && !isnan(r)) {
        if (isnan(p->best_r) || r > p->best_r) {
            json_decref(p->best);
            p->best = json_incref(j);
            p->best_r = r;
        }
        if (isnan(p->worst_r) || r < p->worst_r) {
            json_decref(p->worst);
            p->worst = json_incref(j);
            p->worst_r = r;
        }
    }
    return 0;
}

static void put_episode(buf_t *p, const char *label, const json_t *j)
{
    buf_puts(p, "<details><summary><b>");
    html_str(p, label);
    buf_printf(p, "</b>: step %lld", (long long)json_integer_value(json_object_get(j, "step")));
    const json_t *task = json_object_get(j, "task");
    if (json_is_string(task)) {
        buf_puts(p, ", task ");
        html_str(p, json_string_value(task));
    }
    buf_puts(p, ", reward ");
    put_value(p, ep_reward(j));
    buf_puts(p, "</summary>\n");
    const json_t *q = json_object_get(j, "question");
    if (json_is_string(q)) {
        buf_puts(p, "<p class=\"q\">");
        html_str(p, json_string_value(q));
        buf_puts(p, "</p>\n");
    }
    const json_t *t = json_object_get(j, "text");
    const char *text = json_is_string(t) ? json_string_value(t) : "(no text)";
    size_t n = json_is_string(t) ? json_string_length(t) : strlen(text), shown = n;
    if (shown > EP_TEXT_MAX) {
        shown = EP_TEXT_MAX;
        while (shown > 0 && ((unsigned char)text[shown] & 0xC0) == 0x80)
            shown--; /* not inside a UTF-8 sequence */
    }
    buf_puts(p, "<pre>");
    html_esc(p, text, shown);
    if (shown < n)
        buf_printf(p, "\n... (%zu more bytes not shown)", n - shown);
    buf_puts(p, "</pre></details>\n");
}

static int section_episodes(buf_t *p, const char *run_dir, err_t *e)
{
    buf_t path;
    buf_init(&path);
    buf_printf(&path, "%s/logs/episodes.jsonl", run_dir);
    if (!file_exists(path.data)) {
        buf_free(&path);
        return 0;
    }
    ep_pick pk = {.best_r = NAN, .worst_r = NAN};
    int rc = jsonl_each(path.data, episode_line, &pk, e);
    buf_free(&path);
    if (rc == 0 && pk.first) {
        buf_puts(p, "<h2>Example episodes</h2>\n");
        if (pk.first_step != pk.last_step)
            put_episode(p, "first step", pk.first);
        put_episode(p, pk.best == pk.worst ? "last step" : "last step, best reward", pk.best);
        if (pk.worst != pk.best)
            put_episode(p, "last step, worst reward", pk.worst);
    }
    json_decref(pk.first);
    json_decref(pk.best);
    json_decref(pk.worst);
    return rc;
}

/* ---- the page */

static const char k_style[] =
    "body{font:14px/1.45 system-ui,sans-serif;color:#222;background:#fff;max-width:1240px;"
    "margin:20px auto;padding:0 16px}\n"
    "h1{font-size:22px;margin:0 0 12px}\n"
    "h2{font-size:17px;margin:28px 0 10px;padding-bottom:4px;border-bottom:1px solid #ddd}\n"
    "table{border-collapse:collapse}\n"
    "th,td{padding:3px 12px 3px 0;border-bottom:1px solid #eee;text-align:left;"
    "vertical-align:top}\n"
    "table.num td,table.num th{text-align:right;font-variant-numeric:tabular-nums}\n"
    "table.num th:first-child{text-align:left}\n"
    ".plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:14px 22px}\n"
    "figure{margin:0}\n"
    "svg{width:100%;height:auto;display:block}\n"
    "svg text{font-size:12px;fill:#333;font-family:sans-serif}\n"
    "svg .title{font-size:14px;font-weight:600}\n"
    "svg .grid{stroke:#e8e8e8}\n"
    "svg .axis{stroke:#999;fill:none}\n"
    "details{margin:6px 0;padding:4px 8px;border:1px solid #ddd;border-radius:4px}\n"
    "summary{cursor:pointer}\n"
    "p.q{margin:6px 0;font-style:italic}\n"
    "pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f6f6;padding:8px;"
    "max-height:640px;overflow:auto;font:12px/1.4 monospace}\n";

int rl_report_write(const char *run_dir, const char *out_path, err_t *e)
{
    struct stat st;
    if (stat(run_dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return err_set(e, "%s: no such folder", run_dir);
    buf_t path, page;
    buf_init(&path);
    buf_init(&page);
    run_metrics m = {0};
    json_t *cfg = NULL;
    int rc = 0;
    buf_printf(&path, "%s/logs/metrics.jsonl", run_dir);
    if (!file_exists(path.data))
        rc = err_set(e, "%s: no logs/metrics.jsonl: is it a retrain run folder?", run_dir);
    if (rc == 0)
        rc = jsonl_each(path.data, metrics_line, &m, e);
    buf_reset(&path);
    buf_printf(&path, "%s/resolved_config.json", run_dir);
    if (rc == 0 && file_exists(path.data)) {
        json_error_t je;
        cfg = json_load_file(path.data, 0, &je);
        if (!json_is_object(cfg))
            rc = cfg ? err_set(e, "%s: not a JSON object", path.data)
                     : err_set(e, "%s:%d: %s", path.data, je.line, je.text);
    }
    if (rc == 0) {
        buf_puts(&page, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                        "<title>retrain report: ");
        html_str(&page, run_dir);
        buf_printf(&page, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>Training report</h1>\n",
                   k_style);
        section_header(&page, run_dir, cfg, &m);
        section_summary(&page, &m);
        if (!section_plots(&page, &m))
            buf_puts(&page, "<p>No metric has a value to plot yet.</p>\n");
        rc = section_evals(&page, run_dir, e);
    }
    if (rc == 0)
        rc = section_episodes(&page, run_dir, e);
    if (rc == 0) {
        buf_puts(&page, "</body>\n</html>\n");
        buf_reset(&path);
        if (out_path)
            buf_puts(&path, out_path);
        else
            buf_printf(&path, "%s/report.html", run_dir);
        rc = file_write_atomic(path.data, page.data, page.len, e);
    }
    json_decref(cfg);
    metrics_free(&m);
    buf_free(&path);
    buf_free(&page);
    return rc;
}
