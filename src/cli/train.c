/* retrain train CONFIG.json [--resume DIR] [--dry-run] [--quiet]: GRPO
 * training (rl/train.h). */
#include <stdio.h>
#include <string.h>

#include "../rl/train.h"
#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: retrain train CONFIG.json [--resume DIR] [--dry-run] [--quiet]\n"
               "\n"
               "GRPO training as the configuration says (see the README): the model explores\n"
               "each task's database through MCP tools, its SQL is executed and scored, and\n"
               "the policy is updated on exactly the tokens it produced.\n"
               "  --resume DIR   continue from checkpoint-N (or the latest one in a run folder)\n"
               "  --dry-run      check the config, the model, the data and the MCP servers,\n"
               "                 print the resolved configuration as JSON, and stop\n"
               "  --quiet        no progress line\n");
}

int cmd_train(int argc, char **argv)
{
    const char *path = NULL;
    rl_train_opts o = {0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--dry-run")) {
            o.dry_run = 1;
        } else if (!strcmp(argv[i], "--quiet")) {
            o.quiet = 1;
        } else if (!strcmp(argv[i], "--resume")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "retrain train: --resume needs a directory\n");
                return 2;
            }
            o.resume = argv[++i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "retrain train: unknown option %s\n", argv[i]);
            return 2;
        } else if (!path) {
            path = argv[i];
        } else {
            fprintf(stderr, "retrain train: one configuration file, not '%s' too\n", argv[i]);
            return 2;
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    o.config_path = path;
    cfg_config cfg;
    err_t e;
    if (cfg_load(&cfg, path, &e) != 0) {
        fprintf(stderr, "retrain train: %s\n", e.msg);
        return 2;
    }
    log_set_level(cfg.log_level);
    char *self = self_exe_path();
    o.mcp_command = self;
    int rc = rl_train(&cfg, &o, &e);
    free(self);
    cfg_free(&cfg);
    if (rc != 0) {
        fprintf(stderr, "retrain train: %s\n", e.msg);
        return 2;
    }
    return 0;
}
