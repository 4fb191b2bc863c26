/* retrain tokenize: the token ids of a text under a model's tokenizer, as
 * one JSON array line (for checking against Hugging Face's tokenizers). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model/tokenizer.h"
#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: retrain tokenize [--plain] MODEL_DIR TEXT\n"
            "\n"
            "Prints the token ids of TEXT (\"-\": standard input) as one JSON array line.\n"
            "MODEL_DIR holds tokenizer.json, or GPT-2's vocab.json and merges.txt, and\n"
            "optionally tokenizer_config.json / special_tokens_map.json.\n"
            "\n"
            "options:\n"
            "  --plain   special tokens written in TEXT are ordinary text\n");
}

int cmd_tokenize(int argc, char **argv)
{
    int special = 1, i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--plain")) {
            special = 0;
            continue;
        }
        fprintf(stderr, "retrain tokenize: unknown option '%s'\n", argv[i]);
        return 2;
    }
    if (argc - i != 2) {
        usage(stderr);
        return 2;
    }
    err_t e;
    char *text = NULL;
    size_t len = 0;
    if (!strcmp(argv[i + 1], "-")) {
        text = file_read("/dev/stdin", &len, &e);
        if (!text) {
            fprintf(stderr, "retrain tokenize: %s\n", e.msg);
            return 2;
        }
    } else {
        text = xstrdup(argv[i + 1]);
        len = strlen(text);
    }
    tok_t *t = tok_load(argv[i], &e);
    int32_t *ids = NULL;
    size_t n = 0;
    if (!t || tok_encode(t, text, len, special, &ids, &n, &e)) {
        fprintf(stderr, "retrain tokenize: %s\n", e.msg);
        tok_free(t);
        free(text);
        return 2;
    }
    buf_t out;
    buf_init(&out);
    buf_putc(&out, '[');
    for (size_t k = 0; k < n; k++)
        buf_printf(&out, k ? ",%d" : "%d", ids[k]);
    buf_puts(&out, "]\n");
    fwrite(out.data, 1, out.len, stdout);
    buf_free(&out);
    free(ids);
    tok_free(t);
    free(text);
    return fflush(stdout) ? 2 : 0;
}
