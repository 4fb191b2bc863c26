/* retrain report: an HTML page about a training run (src/rl/report.h). */
#include <stdio.h>
#include <string.h>

#include "../rl/report.h"
#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: retrain report RUN_DIR [-o FILE]\n"
               "\n"
               "Writes one self-contained HTML page about a run folder of `retrain train`\n"
               "(RUN_DIR/report.html unless -o names another file): the model, algorithm and\n"
               "key hyperparameters, first and last values of the key metrics, plots over\n"
               "the steps (reward, accuracy, loss, KL, episode length, throughput, ...),\n"
               "the evaluation reports and example episodes. The plots are inline SVG and\n"
               "the page loads nothing from anywhere: it opens offline in any browser.\n"
               "\n"
               "It reads RUN_DIR/logs/metrics.jsonl and, when present,\n"
               "RUN_DIR/resolved_config.json, RUN_DIR/logs/episodes.jsonl and\n"
               "RUN_DIR/eval/step-N/report.json.\n"
               "\n"
               "  -o FILE   where to write the page\n");
}

int cmd_report(int argc, char **argv)
{
    const char *run_dir = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "retrain report: %s needs a file name\n", a);
                return 2;
            }
            out = argv[++i];
            continue;
        }
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "retrain report: unknown option '%s' (see --help)\n", a);
            return 2;
        }
        if (run_dir) {
            fprintf(stderr, "retrain report: unexpected argument '%s' (see --help)\n", a);
            return 2;
        }
        run_dir = a;
    }
    if (!run_dir) {
        fprintf(stderr, "retrain report: needs RUN_DIR (see --help)\n");
        return 2;
    }
    err_t e;
    if (rl_report_write(run_dir, out, &e) != 0) {
        fprintf(stderr, "retrain report: %s\n", e.msg);
        return 2;
    }
    if (out)
        printf("report: %s\n", out);
    else
        printf("report: %s/report.html\n", run_dir);
    return 0;
}
