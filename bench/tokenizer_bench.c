/* Encoding speed of retrain's tokenizer: one large text encoded in one
 * call per model, the best of several runs (the first run also fills the
 * word cache, so it is reported alone too).
 *
 *   bench-tokenizer --text FILE [--runs N] NAME=MODEL_DIR...
 *
 * Prints per model: load time, tokens, the first run's and the best run's
 * MB/s (MB = 10^6 bytes of UTF-8 input). bench/tokenizer runs it beside
 * the npm tokenizers on the same text. */
#include <stdlib.h>
#include <string.h>

#include "../src/model/tokenizer.h"

int main(int argc, char **argv)
{
    const char *text_path = NULL;
    int runs = 5;
    int first_model = argc;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--text") && i + 1 < argc) {
            text_path = argv[++i];
        } else if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
            runs = atoi(argv[++i]);
        } else {
            first_model = i;
            break;
        }
    }
    if (!text_path || first_model >= argc || runs < 1) {
        fprintf(stderr, "usage: bench-tokenizer --text FILE [--runs N] NAME=MODEL_DIR...\n");
        return 2;
    }
    err_t e;
    size_t len;
    char *text = file_read(text_path, &len, &e);
    if (!text) {
        fprintf(stderr, "bench-tokenizer: %s\n", e.msg);
        return 2;
    }
    printf("%-28s %10s %10s %12s %12s\n", "encoder", "load ms", "tokens", "first MB/s", "best MB/s");
    for (int m = first_model; m < argc; m++) {
        char *eq = strchr(argv[m], '=');
        if (!eq) {
            fprintf(stderr, "bench-tokenizer: '%s' is not NAME=MODEL_DIR\n", argv[m]);
            return 2;
        }
        *eq = 0;
        uint64_t t0 = time_now_ns();
        tok_t *t = tok_load(eq + 1, &e);
        if (!t) {
            fprintf(stderr, "bench-tokenizer: %s\n", e.msg);
            return 2;
        }
        double load_ms = (double)(time_now_ns() - t0) / 1e6;
        double first = 0, best = 0;
        size_t ntok = 0;
        for (int r = 0; r < runs; r++) {
            int32_t *ids;
            uint64_t s = time_now_ns();
            if (tok_encode(t, text, len, 1, &ids, &ntok, &e)) {
                fprintf(stderr, "bench-tokenizer: %s\n", e.msg);
                return 2;
            }
            double mbs = (double)len / 1e6 / ((double)(time_now_ns() - s) / 1e9);
            free(ids);
            if (r == 0)
                first = mbs;
            if (mbs > best)
                best = mbs;
        }
        char name[64];
        snprintf(name, sizeof name, "retrain %s", argv[m]);
        printf("%-28s %10.0f %10zu %12.2f %12.2f\n", name, load_ms, ntok, first, best);
        fflush(stdout);
        tok_free(t);
    }
    free(text);
    return 0;
}
