/* retrain generate: sample from a Hugging Face model directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model/textgen.h"
#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: retrain generate MODEL_DIR --prompt TEXT [--max-new-tokens N]\n"
            "                        [--temperature T] [--top-p P] [--top-k K] [--seed S]\n"
            "                        [--chat] [--system TEXT] [--chat-format NAME]\n"
            "                        [--stop TEXT]... [--bf16]\n"
            "\n"
            "Prints the continuation of TEXT (greedy at temperature 0, the default).\n"
            "  --chat             render TEXT as a user turn in the model's chat format\n"
            "  --system TEXT      with --chat: a system message first\n"
            "  --chat-format F    chatml, llama3 or dialogpt instead of the detected one\n"
            "  --stop TEXT        also stop once the output contains TEXT (repeatable)\n"
            "  --bf16             hold the weights in bfloat16\n");
}

static int parse_num(const char *flag, const char *v, double lo, double hi, double *out)
{
    char *end;
    double x = v ? strtod(v, &end) : 0;
    if (!v || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "retrain generate: %s needs a number from %g to %g, got '%s'\n", flag, lo,
                hi, v ? v : "");
        return -1;
    }
    *out = x;
    return 0;
}

int cmd_generate(int argc, char **argv)
{
    const char *dir = NULL, *prompt = NULL, *system = NULL, *format = NULL;
    int chat = 0, bf16 = 0;
    const char **stops = xcalloc((size_t)argc + 1, sizeof *stops);
    tg_opts o = {.max_new_tokens = 64, .temperature = 0, .top_k = 0, .top_p = 1, .seed = 0};
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double x;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            free(stops);
            return 0;
        } else if (!strcmp(a, "--prompt") && v) {
            prompt = v, i++;
        } else if (!strcmp(a, "--system") && v) {
            system = v, i++;
        } else if (!strcmp(a, "--chat-format") && v) {
            format = v, i++;
        } else if (!strcmp(a, "--stop") && v) {
            stops[o.n_stop_strings++] = v, i++;
        } else if (!strcmp(a, "--chat")) {
            chat = 1;
        } else if (!strcmp(a, "--bf16")) {
            bf16 = 1;
        } else if (!strcmp(a, "--max-new-tokens")) {
            if (parse_num(a, v, 1, 1 << 20, &x) != 0)
                goto out;
            o.max_new_tokens = (int)x, i++;
        } else if (!strcmp(a, "--temperature")) {
            if (parse_num(a, v, 0, 100, &x) != 0)
                goto out;
            o.temperature = (float)x, i++;
        } else if (!strcmp(a, "--top-p")) {
            if (parse_num(a, v, 0, 1, &x) != 0)
                goto out;
            o.top_p = (float)x, i++;
        } else if (!strcmp(a, "--top-k")) {
            if (parse_num(a, v, 0, 1 << 30, &x) != 0)
                goto out;
            o.top_k = (int)x, i++;
        } else if (!strcmp(a, "--seed")) {
            if (parse_num(a, v, 0, 1.8e19, &x) != 0)
                goto out;
            o.seed = (uint64_t)x, i++;
        } else if (a[0] != '-' && !dir) {
            dir = a;
        } else {
            fprintf(stderr, "retrain generate: unknown or incomplete option '%s' (see --help)\n",
                    a);
            goto out;
        }
    }
    if (!dir || !prompt) {
        fprintf(stderr, "retrain generate: needs MODEL_DIR and --prompt TEXT (see --help)\n");
        goto out;
    }
    o.stop_strings = stops;
    err_t e;
    if (hf_model_dir_check(dir, &e) != 0) {
        fprintf(stderr, "retrain generate: %s\n", e.msg);
        goto out;
    }
    tok_t *tok = tok_load(dir, &e);
    if (!tok) {
        fprintf(stderr, "retrain generate: %s\n", e.msg);
        goto out;
    }
    tf_load_opts lo = {.linear_bf16 = bf16};
    tf_model *m = tf_load(dir, &lo, &e);
    if (!m) {
        fprintf(stderr, "retrain generate: %s\n", e.msg);
        tok_free(tok);
        goto out;
    }
    chat_format f = chat_detect(tok);
    if (format && chat_format_parse(format, &f) != 0) {
        fprintf(stderr, "retrain generate: --chat-format must be chatml, llama3 or dialogpt, got "
                        "'%s'\n", format);
        tf_free(m);
        tok_free(tok);
        goto out;
    }
    buf_t text, outb;
    buf_init(&text);
    buf_init(&outb);
    if (chat) {
        chat_msg msgs[2];
        size_t nm = 0;
        if (system)
            msgs[nm++] = (chat_msg){"system", system};
        msgs[nm++] = (chat_msg){"user", prompt};
        chat_render(f, tok, msgs, nm, 1, &text);
    } else {
        buf_puts(&text, prompt);
    }
    if (tg_generate(m, tok, f, text.data, &o, &outb, NULL, &e) != 0) {
        fprintf(stderr, "retrain generate: %s\n", e.msg);
    } else {
        fwrite(outb.data ? outb.data : "", 1, outb.len, stdout);
        fputc('\n', stdout);
        rc = 0;
    }
    buf_free(&text);
    buf_free(&outb);
    tf_free(m);
    tok_free(tok);
out:
    free(stops);
    return rc;
}
