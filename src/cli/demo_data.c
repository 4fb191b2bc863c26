/* retrain demo-data: the demo database and its tasks (src/env/demo.h). */
#include <stdio.h>
#include <string.h>

#include "../env/demo.h"
#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: retrain demo-data OUTDIR [--seed N] [--train N] [--eval N] [--sft N]\n"
               "\n"
               "Writes a demo SQLite database and Spider 2.0-Lite tasks with gold results,\n"
               "the same bytes for the same seed:\n"
               "  OUTDIR/demo.sqlite                 the database (\"demo\" in the tasks)\n"
               "  OUTDIR/train.jsonl, eval.jsonl     the tasks; evaluation questions use held-out\n"
               "                                     phrasings and value combinations\n"
               "  OUTDIR/gold/spider2lite_eval.jsonl, gold/exec_result/<id>.csv,\n"
               "  OUTDIR/gold/sql/train/<id>.sql, gold/sql/eval/<id>.sql   gold data\n"
               "  OUTDIR/sft.jsonl                   tool-using demonstrations of training tasks\n"
               "\n"
               "  --seed N    random seed (default 1)\n"
               "  --train N   training questions (default 300)\n"
               "  --eval N    evaluation questions (default 60)\n"
               "  --sft N     demonstrations (default 50, at most --train)\n");
}

int cmd_demo_data(int argc, char **argv)
{
    demo_opts o;
    demo_opts_default(&o);
    const char *outdir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (a[0] != '-' || !a[1]) {
            if (outdir) {
                fprintf(stderr, "retrain demo-data: unexpected argument '%s' (see --help)\n", a);
                return 2;
            }
            outdir = a;
            continue;
        }
        if (strcmp(a, "--seed") && strcmp(a, "--train") && strcmp(a, "--eval") &&
            strcmp(a, "--sft")) {
            fprintf(stderr, "retrain demo-data: unknown option '%s' (see --help)\n", a);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "retrain demo-data: %s needs a value\n", a);
            return 2;
        }
        const char *v = argv[++i];
        long x;
        if (parse_long(v, &x) != 0 || x < 0 || (strcmp(a, "--seed") && x > 100000)) {
            fprintf(stderr, "retrain demo-data: %s needs an integer %s, got '%s'\n", a,
                    strcmp(a, "--seed") ? "from 0 to 100000" : ">= 0", v);
            return 2;
        }
        if (!strcmp(a, "--seed"))
            o.seed = (uint64_t)x;
        else if (!strcmp(a, "--train"))
            o.n_train = (int)x;
        else if (!strcmp(a, "--eval"))
            o.n_eval = (int)x;
        else
            o.n_sft = (int)x;
    }
    if (!outdir) {
        fprintf(stderr, "retrain demo-data: needs OUTDIR (see --help)\n");
        return 2;
    }
    demo_summary s;
    err_t e;
    if (demo_write(outdir, &o, &s, &e) != 0) {
        fprintf(stderr, "retrain demo-data: %s\n", e.msg);
        return 1;
    }
    printf("demo-data: %s/demo.sqlite (6 tables, %ld rows), %zu training and %zu evaluation "
           "tasks, %zu demonstrations, seed %llu, in %.2f s\n",
           outdir, s.total_rows, s.n_train, s.n_eval, s.n_sft, (unsigned long long)o.seed,
           s.seconds);
    return 0;
}
