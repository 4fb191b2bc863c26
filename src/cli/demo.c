/* retrain demo: the whole system on a laptop (src/rl/demo.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../rl/demo.h"
#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: retrain demo [--out DIR] [--seed N] [--quick] [--sft-steps N]\n"
            "                    [--grpo-steps N] [--quiet]\n"
            "\n"
            "Shows the whole system working, with nothing to download: it builds a demo\n"
            "SQLite database with 300 training and 60 held-out questions (gold results\n"
            "included), trains a tokenizer and a small Llama from scratch, warm-starts it\n"
            "on 50 tool-using demonstrations, then runs GRPO on the other training\n"
            "questions, which have only their gold results: episodes through the MCP\n"
            "database server, execution-accuracy rewards, checkpoints and metrics. It\n"
            "prints the held-out execution accuracy and tool-use rate after the warm start\n"
            "and after GRPO, and writes a report page. About 9 minutes on 2 cores.\n"
            "\n"
            "In DIR (default retrain-demo): data/, model-init/, sft.json and sft/ (the\n"
            "warm start), grpo.json and grpo/ (the GRPO run; its last checkpoint is the\n"
            "trained model), report.html and summary.json. `retrain train DIR/grpo.json`\n"
            "repeats a stage.\n"
            "\n"
            "  --out DIR         where everything goes (created)\n"
            "  --seed N          data, model and sampling seed (default 1)\n"
            "  --quick           a shortened run (tiny model, few steps): every stage, no gain\n"
            "  --sft-steps N     warm-start steps (default 300)\n"
            "  --grpo-steps N    GRPO steps (default 40)\n"
            "  --quiet           no progress lines\n");
}

int cmd_demo(int argc, char **argv)
{
    rl_demo_opts o = {.out_dir = "retrain-demo", .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--quick")) {
            o.quick = 1;
        } else if (!strcmp(a, "--quiet")) {
            o.quiet = 1;
        } else if (!strcmp(a, "--out") || !strcmp(a, "--seed") || !strcmp(a, "--sft-steps") ||
                   !strcmp(a, "--grpo-steps")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "retrain demo: %s needs a value\n", a);
                return 2;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--out")) {
                o.out_dir = v;
                continue;
            }
            long x;
            if (parse_long(v, &x) != 0 || x < (strcmp(a, "--seed") ? 1 : 0) || x > 1000000) {
                fprintf(stderr, "retrain demo: %s needs an integer %s, got '%s'\n", a,
                        strcmp(a, "--seed") ? "from 1 to 1000000" : "from 0 to 1000000", v);
                return 2;
            }
            if (!strcmp(a, "--seed"))
                o.seed = (uint64_t)x;
            else if (!strcmp(a, "--sft-steps"))
                o.sft_steps = (int)x;
            else
                o.grpo_steps = (int)x;
        } else {
            fprintf(stderr, "retrain demo: unknown argument '%s' (see --help)\n", a);
            return 2;
        }
    }
    log_set_level(LOG_WARN);
    char *self = self_exe_path();
    o.mcp_command = self;
    rl_demo_result r;
    err_t e;
    int rc = rl_demo_run(&o, &r, &e);
    free(self);
    if (rc != 0) {
        fprintf(stderr, "retrain demo: %s\n", e.msg);
        return 2;
    }
    printf("\nheld-out execution accuracy (%d questions the model never trained on):\n"
           "  after the warm start  %5.1f%%   (tool use in %.0f%% of episodes)\n"
           "  after GRPO            %5.1f%%   (tool use in %.0f%% of episodes)\n"
           "trained model: %s\n"
           "report: %s/report.html   summary: %s/summary.json\n"
           "time: %.0f s (data %.0f s, model %.0f s, warm start %.0f s, GRPO %.0f s)\n",
           r.n_eval, 100 * r.acc_warm, 100 * r.tool_warm, 100 * r.acc_grpo, 100 * r.tool_grpo,
           r.final_model, o.out_dir, o.out_dir, r.total_s, r.data_s, r.model_s, r.sft_s,
           r.grpo_s);
    return 0;
}
