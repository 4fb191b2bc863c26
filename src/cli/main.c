/* retrain: one binary, subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: retrain COMMAND [ARGS]\n"
            "\n"
            "commands:\n"
            "  demo       the whole system on a laptop: data, a model from scratch, warm start,\n"
            "             GRPO through MCP, held-out accuracy and a report (start here)\n"
            "  mcp-db     the MCP database server (DB_URL=...; stdio, or --http 127.0.0.1:8000)\n"
            "  tools      list and call the tools of the MCP servers a config names\n"
            "  tokenize   the token ids of a text under a model's tokenizer\n"
            "  generate   continue a prompt with a Hugging Face model (greedy by default)\n"
            "  train      GRPO training on Spider 2.0 tasks through MCP tools (a config file)\n"
            "  report     an HTML page of a training run: its metrics plotted, evaluations, episodes\n"
            "  eval       run a model on Spider 2.0 tasks as an agent, or score predicted SQL\n"
            "  demo-data  write the demo database, its tasks and gold results\n"
            "  new-model  a small Llama from scratch: a tokenizer trained on text, random weights\n"
            "  version    print the version\n"
            "\n"
            "retrain COMMAND --help tells more.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("retrain %s\n", RETRAIN_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "demo"))
        return cmd_demo(argc - 1, argv + 1);
    if (!strcmp(cmd, "mcp-db"))
        return cmd_mcp_db(argc - 1, argv + 1);
    if (!strcmp(cmd, "tools"))
        return cmd_tools(argc - 1, argv + 1);
    if (!strcmp(cmd, "generate"))
        return cmd_generate(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval"))
        return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "train"))
        return cmd_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "report"))
        return cmd_report(argc - 1, argv + 1);
    if (!strcmp(cmd, "demo-data"))
        return cmd_demo_data(argc - 1, argv + 1);
    if (!strcmp(cmd, "new-model"))
        return cmd_new_model(argc - 1, argv + 1);
    if (!strcmp(cmd, "tokenize"))
        return cmd_tokenize(argc - 1, argv + 1);
    fprintf(stderr, "retrain: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
