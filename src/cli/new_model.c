/* retrain new-model: a small Llama made from scratch - a byte-level BPE
 * tokenizer trained on corpus files, and randomly initialised weights -
 * written as a Hugging Face model directory. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../model/tokenizer.h"
#include "../model/train.h"
#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: retrain new-model OUTDIR --corpus FILE... --vocab N\n"
            "                         [--layers L] [--hidden C] [--heads H] [--kv-heads K]\n"
            "                         [--ffn F] [--max-pos P] [--seed S] [--untied]\n"
            "\n"
            "Trains a byte-level BPE tokenizer of N tokens (256 bytes, the learned\n"
            "merges, and ChatML's <|endoftext|> <|im_start|> <|im_end|>) on the corpus\n"
            "files (UTF-8 text) and writes OUTDIR: tokenizer.json, tokenizer_config.json,\n"
            "special_tokens_map.json, config.json (LlamaForCausalLM) and model.safetensors\n"
            "with weights drawn as transformers initialises a new Llama.\n"
            "  --corpus FILE...   one or more files (the option may repeat)\n"
            "  --vocab N          tokens in all (fewer if the corpus runs out of pairs)\n"
            "  --layers L         decoder layers (4)\n"
            "  --hidden C         hidden size (256)\n"
            "  --heads H          attention heads (4); head size C / H\n"
            "  --kv-heads K       key/value heads (H); H must be a multiple of K\n"
            "  --ffn F            MLP width (8 C / 3 rounded up to a multiple of 64)\n"
            "  --max-pos P        max_position_embeddings (2048)\n"
            "  --seed S           initialisation seed (0)\n"
            "  --untied           an LM head of its own (default: tied to the embeddings)\n");
}

static int parse_pos(const char *flag, const char *v, long max, long *out)
{
    long x;
    if (!v || parse_long(v, &x) != 0 || x < 1 || x > max) {
        fprintf(stderr, "retrain new-model: %s needs an integer from 1 to %ld, got '%s'\n", flag, max,
                v ? v : "");
        return -1;
    }
    *out = x;
    return 0;
}

/* 1 if path is a directory with something in it. */
static int dir_nonempty(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return 0;
    struct dirent *de;
    int any = 0;
    while (!any && (de = readdir(d)) != NULL)
        any = strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    return any;
}

int cmd_new_model(int argc, char **argv)
{
    const char *out = NULL;
    const char **corpus = xcalloc((size_t)argc + 1, sizeof *corpus);
    size_t ncorpus = 0;
    long vocab = 0, layers = 4, hidden = 256, heads = 4, kv = 0, ffn = 0, max_pos = 2048, seed = 0;
    int untied = 0, rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long *num = NULL, max = 1 << 24;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            rc = 0;
            goto out;
        } else if (!strcmp(a, "--corpus")) {
            /* every following argument that is not an option */
            int any = 0;
            while (i + 1 < argc && argv[i + 1][0] != '-') {
                corpus[ncorpus++] = argv[++i];
                any = 1;
            }
            if (!any) {
                fprintf(stderr, "retrain new-model: --corpus needs at least one file\n");
                goto out;
            }
            continue;
        } else if (!strcmp(a, "--untied")) {
            untied = 1;
            continue;
        } else if (!strcmp(a, "--vocab")) {
            num = &vocab;
        } else if (!strcmp(a, "--layers")) {
            num = &layers, max = 1024;
        } else if (!strcmp(a, "--hidden")) {
            num = &hidden, max = 65536;
        } else if (!strcmp(a, "--heads")) {
            num = &heads, max = 1024;
        } else if (!strcmp(a, "--kv-heads")) {
            num = &kv, max = 1024;
        } else if (!strcmp(a, "--ffn")) {
            num = &ffn, max = 1 << 20;
        } else if (!strcmp(a, "--max-pos")) {
            num = &max_pos, max = 1 << 20;
        } else if (!strcmp(a, "--seed")) {
            if (!v || parse_long(v, &seed) != 0 || seed < 0) {
                fprintf(stderr, "retrain new-model: --seed needs an integer >= 0, got '%s'\n", v ? v : "");
                goto out;
            }
            i++;
            continue;
        } else if (a[0] != '-' && !out) {
            out = a;
            continue;
        } else {
            fprintf(stderr, "retrain new-model: unknown or incomplete option '%s' (see --help)\n", a);
            goto out;
        }
        if (parse_pos(a, v, max, num) != 0)
            goto out;
        i++;
    }
    if (!out || !ncorpus || !vocab) {
        fprintf(stderr, "retrain new-model: needs OUTDIR, --corpus FILE... and --vocab N (see --help)\n");
        goto out;
    }
    err_t e;
    struct stat st;
    if (stat(out, &st) == 0 && (!S_ISDIR(st.st_mode) || dir_nonempty(out))) {
        fprintf(stderr, "retrain new-model: %s: %s\n", out,
                S_ISDIR(st.st_mode) ? "exists and is not empty (give a new directory)"
                                    : "exists and is not a directory");
        goto out;
    }
    tf_create_opts co = {.corpus = corpus, .n_corpus = ncorpus, .vocab = (int)vocab,
                         .layers = (int)layers, .hidden = (int)hidden, .heads = (int)heads,
                         .kv_heads = (int)kv, .ffn = (int)ffn, .max_pos = (int)max_pos,
                         .untied = untied, .seed = (uint64_t)seed};
    tf_create_info info;
    if (tf_create_model(out, &co, &info, &e) != 0) {
        fprintf(stderr, "retrain new-model: %s\n", e.msg);
        goto out;
    }
    const hf_config *cfg = &info.cfg;
    printf("%s: LlamaForCausalLM, %d layers, hidden %d, %d heads (%d key/value), ffn %d, "
           "vocabulary %d%s, %.2fM parameters%s; tokenizer trained on %zu file%s (%.1f MB) in %.1f s\n",
           out, cfg->n_layer, cfg->hidden, cfg->n_head, cfg->n_kv_head, cfg->intermediate,
           cfg->vocab_size, cfg->vocab_size < vocab ? " (the corpus ran out of pairs to merge)" : "",
           (double)info.params / 1e6, untied ? "" : ", tied head", ncorpus, ncorpus == 1 ? "" : "s",
           (double)info.corpus_bytes / 1e6, info.tokenizer_s);
    rc = 0;
out:
    free(corpus);
    return rc;
}
