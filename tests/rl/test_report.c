/* rl/report through the CLI: `retrain report` on a run folder made here
 * (metrics with evaluation lines, a null and a Python NaN, the resolved
 * configuration, episodes whose text holds markup, an evaluation report),
 * and its one-line errors. tests/report/check_report.sh opens such a page
 * in a headless browser. */
#include <stdlib.h>
#include <string.h>

#include "../../src/base/base.h"
#include "../support/proc.h"
#include "../test.h"

static int put(const char *dir, const char *name, const char *text)
{
    buf_t path;
    buf_init(&path);
    buf_printf(&path, "%s/%s", dir, name);
    err_t e;
    int rc = file_write_atomic(path.data, text, strlen(text), &e);
    buf_free(&path);
    return rc;
}

/* A run of six logged steps; evaluations at steps 3 and 6. "entropy" has
 * no value anywhere, so it gets no plot. Plots: reward (and the
 * execution_accuracy line), accuracy, loss, KL, turns, throughput. */
enum { FAKE_PLOTS = 6 };

static int make_run(const char *run)
{
    char sub[4400];
    err_t e;
    snprintf(sub, sizeof sub, "%s/logs", run);
    if (dir_make(sub, &e) != 0)
        return -1;
    snprintf(sub, sizeof sub, "%s/eval/step-3", run);
    if (dir_make(sub, &e) != 0)
        return -1;
    buf_t m;
    buf_init(&m);
    for (int s = 1; s <= 6; s++) {
        buf_printf(&m,
                   "{\"step\": %d, \"epoch\": %.2f, \"timestamp\": 1.5, \"loss\": %g, "
                   "\"reward\": %g, \"rewards/execution_accuracy/mean\": %g, \"kl\": %s, "
                   "\"entropy\": null, \"episode_length\": %g, "
                   "\"time/generation_tokens_per_s\": %d, \"time/update_tokens_per_s\": %d, "
                   "\"note\": \"text is not plotted\"",
                   s, s / 6.0, 1.0 / s, 0.1 * s, 0.08 * s, s == 4 ? "NaN" : s == 5 ? "null" : "0.01",
                   2.0 + s / 10.0, 900 + s, 3000 + s);
        if (s % 3 == 0)
            buf_printf(&m, ", \"eval_accuracy\": %g", 0.1 * s);
        buf_puts(&m, "}\n");
    }
    const char *cfg =
        "{\"model\": {\"name_or_path\": \"models/m<b>\", \"peft_config\": {\"r\": 4, "
        "\"lora_alpha\": 8}}, \"algorithm\": {\"name\": \"grpo\", \"hyperparameters\": "
        "{\"learning_rate\": 1e-05, \"batch_size\": 4, \"num_generations\": 2, \"max_steps\": 6}}, "
        "\"reward_setup\": {\"rollout_reward_configs\": {\"execution_accuracy\": {\"weight\": 1.0}}}}";
    const char *eps =
        "{\"step\": 1, \"task\": \"t-first\", \"question\": \"q1\", \"reward\": 0.5, \"text\": \"first\"}\n"
        "{\"step\": 1, \"task\": \"t-other\", \"question\": \"q1\", \"reward\": 0.9, \"text\": \"x\"}\n"
        "{\"step\": 6, \"task\": \"t-low\", \"question\": \"a < b?\", \"reward\": 0, "
        "\"text\": \"user: <script>alert(1)</script> & more\"}\n"
        "{\"step\": 6, \"task\": \"t-high\", \"question\": \"q6\", \"reward\": 1, \"text\": \"best\"}\n"
        "{\"step\": 6, \"task\": \"t-mid\", \"question\": \"q6\", \"reward\": 0.5, \"text\": \"mid\"}\n";
    const char *rep = "{\"accuracy\": 0.25, \"correct\": 1, \"evaluated\": 4, "
                      "\"agent\": {\"tool_use_rate\": 0.75, \"mean_turns\": 2.5}}";
    int rc = put(run, "logs/metrics.jsonl", m.data) || put(run, "resolved_config.json", cfg) ||
             put(run, "logs/episodes.jsonl", eps) || put(run, "eval/step-3/report.json", rep);
    buf_free(&m);
    return rc ? -1 : 0;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* The number of points of the first line of the plot titled `title`. */
static int points_of(const char *html, const char *title)
{
    char t[256];
    snprintf(t, sizeof t, "<title>%s</title>", title);
    const char *p = strstr(html, t);
    p = p ? strstr(p, "points=\"") : NULL;
    if (!p)
        return -1;
    p += 8;
    int n = 1;
    for (; *p && *p != '"'; p++)
        n += *p == ' ';
    return n;
}

TEST(report_plots_tables_and_escaped_episodes)
{
    char run[4400], html_path[4500];
    snprintf(run, sizeof run, "%s/run", test_tmpdir());
    CHECK(make_run(run) == 0);
    char *args[] = {"report", run, NULL};
    char *out = NULL, *err = NULL;
    int rc = retrain_run(NULL, args, &out, &err, 30000);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, err);
    snprintf(html_path, sizeof html_path, "%s/report.html", run);
    CHECK_CONTAINS(out, html_path);
    free(out);
    free(err);
    err_t e;
    size_t n;
    char *html = file_read(html_path, &n, &e);
    CHECK_MSG(html, "%s", e.msg);
    CHECK(str_starts(html, "<!DOCTYPE html>"));
    CHECK_MSG(count(html, "<svg") == FAKE_PLOTS && count(html, "</svg>") == FAKE_PLOTS,
              "%zu plots", count(html, "<svg"));
    CHECK(!strstr(html, "<title>Entropy</title>")); /* no data, no plot */
    CHECK_CONTAINS(html, "<title>Reward</title>");
    CHECK_CONTAINS(html, ">rewards/execution_accuracy/mean</text>"); /* the legend */
    /* the NaN (step 4) and the null (step 5) are left out of the KL line */
    CHECK_MSG(points_of(html, "KL divergence to the reference") == 4, "%d KL points",
              points_of(html, "KL divergence to the reference"));
    CHECK(points_of(html, "Loss") == 6);
    /* header, summary, evaluation table */
    CHECK_CONTAINS(html, "models/m&lt;b&gt;");
    CHECK_CONTAINS(html, "<td>grpo</td>");
    CHECK_CONTAINS(html, "6 logged, step 1 to 6 of 6");
    CHECK_CONTAINS(html, "execution_accuracy (weight 1)");
    CHECK_CONTAINS(html, "<th>eval_accuracy</th><td>0.3</td><td>3</td><td>0.6</td><td>6</td>");
    CHECK_CONTAINS(html, "<tr><td>3</td><td>0.25</td><td>1</td><td>4</td><td>0.75</td><td>2.5</td>");
    /* episodes: one of the first step, the best and worst of the last */
    CHECK_CONTAINS(html, "task t-first");
    CHECK_CONTAINS(html, "task t-high");
    CHECK_CONTAINS(html, "task t-low");
    CHECK(!strstr(html, "t-mid") && !strstr(html, "t-other"));
    CHECK_CONTAINS(html, "user: &lt;script&gt;alert(1)&lt;/script&gt; &amp; more");
    CHECK_CONTAINS(html, "a &lt; b?");
    CHECK(count(html, "<details>") == 3);
    /* nothing that runs, nothing from elsewhere */
    CHECK(!strstr(html, "<script"));
    CHECK(!strstr(html, "http://") && !strstr(html, "https://"));
    CHECK(!strstr(html, " src=") && !strstr(html, " href=") && !strstr(html, "url("));
    free(html);

    /* -o: another file; a run without the optional files */
    snprintf(html_path, sizeof html_path, "%s/elsewhere.html", test_tmpdir());
    char *args_o[] = {"report", run, "-o", html_path, NULL};
    rc = retrain_run(NULL, args_o, &out, &err, 30000);
    CHECK_MSG(rc == 0 && file_exists(html_path), "exit %d: %s", rc, err);
    free(out);
    free(err);
    char p[4500];
    snprintf(p, sizeof p, "%s/logs/episodes.jsonl", run);
    CHECK(remove(p) == 0);
    snprintf(p, sizeof p, "%s/resolved_config.json", run);
    CHECK(remove(p) == 0);
    rc = retrain_run(NULL, args, &out, &err, 30000);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, err);
    free(out);
    free(err);
    snprintf(p, sizeof p, "%s/report.html", run);
    html = file_read(p, &n, &e);
    CHECK(html && count(html, "<svg") == FAKE_PLOTS && !strstr(html, "<details>"));
    CHECK_CONTAINS(html, "no resolved_config.json");
    free(html);
}

/* exit status 2 and one line on stderr that contains want */
static int one_line_error(char *const *args, const char *want, char *why, size_t whyn)
{
    char *out = NULL, *err = NULL;
    int rc = retrain_run(NULL, args, &out, &err, 30000);
    int ok = rc == 2 && err && strstr(err, want) && strchr(err, '\n') == err + strlen(err) - 1;
    snprintf(why, whyn, "exit %d, stderr: %s", rc, err ? err : "(none)");
    free(out);
    free(err);
    return ok;
}

TEST(report_errors_are_one_line)
{
    char run[4400], want[4500], why[8192];
    char *none[] = {"report", NULL};
    CHECK_MSG(one_line_error(none, "needs RUN_DIR", why, sizeof why), "%s", why);
    snprintf(run, sizeof run, "%s/nowhere", test_tmpdir());
    char *args[] = {"report", run, NULL};
    snprintf(want, sizeof want, "%s: no such folder", run);
    CHECK_MSG(one_line_error(args, want, why, sizeof why), "%s", why);
    /* a folder that is not a run folder */
    err_t e;
    CHECK(dir_make(run, &e) == 0);
    snprintf(want, sizeof want, "%s: no logs/metrics.jsonl: is it a retrain run folder?", run);
    CHECK_MSG(one_line_error(args, want, why, sizeof why), "%s", why);
    /* a malformed metrics line: file and line */
    CHECK(make_run(run) == 0);
    const char *bad = "{\"step\": 1, \"loss\": 1}\n{\"step\": 2, \"loss\": 0.5}\n{\"step\": 3, \"loss\": \n"
                      "{\"step\": 4, \"loss\": 0.2}\n";
    CHECK(put(run, "logs/metrics.jsonl", bad) == 0);
    snprintf(want, sizeof want, "%s/logs/metrics.jsonl:3: ", run);
    CHECK_MSG(one_line_error(args, want, why, sizeof why), "%s", why);
    CHECK(put(run, "logs/metrics.jsonl", "{\"step\": 1}\n[1, 2]\n") == 0);
    snprintf(want, sizeof want, "%s/logs/metrics.jsonl:2: not a JSON object", run);
    CHECK_MSG(one_line_error(args, want, why, sizeof why), "%s", why);
    CHECK(put(run, "logs/metrics.jsonl", "{\"loss\": 1}\n") == 0);
    snprintf(want, sizeof want, "%s/logs/metrics.jsonl:1: no integer \"step\"", run);
    CHECK_MSG(one_line_error(args, want, why, sizeof why), "%s", why);
    /* a last line still being written is skipped; Python's NaN and Infinity are no value */
    CHECK(put(run, "logs/metrics.jsonl",
              "{\"step\": 1, \"loss\": NaN, \"kl\": -Infinity, \"note\": \"NaN\"}\n"
              "{\"step\": 2, \"loss\": 0.5, \"kl\": Infinity}\n{\"step\": 3, \"lo") == 0);
    char *out = NULL, *err = NULL;
    int rc = retrain_run(NULL, args, &out, &err, 30000);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, err);
    free(out);
    free(err);
    char p[4500];
    size_t n;
    snprintf(p, sizeof p, "%s/report.html", run);
    char *html = file_read(p, &n, &e);
    CHECK(html && count(html, "<svg") == 1 && points_of(html, "Loss") == 1);
    CHECK_CONTAINS(html, "2 logged, step 1 to 2");
    free(html);
    /* a malformed episodes line and evaluation report name their file */
    CHECK(make_run(run) == 0);
    CHECK(put(run, "logs/episodes.jsonl", "{\"step\": 1, \"text\": \"a\"}\n{\"step\": 1, text}\n") == 0);
    snprintf(want, sizeof want, "%s/logs/episodes.jsonl:2: ", run);
    CHECK_MSG(one_line_error(args, want, why, sizeof why), "%s", why);
    CHECK(make_run(run) == 0);
    CHECK(put(run, "eval/step-3/report.json", "{\"accuracy\": }") == 0);
    snprintf(want, sizeof want, "%s/eval/step-3/report.json:1: ", run);
    CHECK_MSG(one_line_error(args, want, why, sizeof why), "%s", why);
    /* the page cannot be written */
    CHECK(make_run(run) == 0);
    snprintf(p, sizeof p, "%s/no/such/dir/r.html", test_tmpdir());
    char *args_o[] = {"report", run, "-o", p, NULL};
    CHECK_MSG(one_line_error(args_o, "no/such/dir/r.html", why, sizeof why), "%s", why);
}
