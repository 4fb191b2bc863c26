/* A model from scratch: the initialisation transformers gives a new
 * Llama, config.json generated from the hf_config, the saved directory
 * loading back (same logits here, the same in PyTorch through
 * tests/ref/check_saved.py), `retrain generate` running on it, and
 * `retrain new-model` with its one-line errors. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "../../src/model/safetensors.h"
#include "../../src/model/tokenizer.h"
#include "../../src/model/train.h"
#include "../test.h"

/* A command's stdout and stderr together; its exit status. */
static int run_capture(const char *cmd, buf_t *out)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
        buf_append(out, chunk, n);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A tokenizer trained on a little ChatML text, in DIR/tok. */
static int make_tokenizer(const char *dir, size_t vocab)
{
    static const char *const lines[] = {
        "<|im_start|>user\nhow many customers are there?<|im_end|>\n",
        "<|im_start|>assistant\n<tool>list_tables</tool><|im_end|>\n",
        "SELECT COUNT(*) FROM customers WHERE country = 'France';\n",
        "the customers table holds one row per customer, with their country and city.\n",
    };
    tok_train_opts o = {.vocab_size = vocab};
    err_t e;
    tok_trainer *tr = tok_trainer_new(&o, &e);
    if (!tr)
        return test_fail(__FILE__, __LINE__, "%s", e.msg);
    for (int rep = 0; rep < 20; rep++)
        for (size_t i = 0; i < ARRAY_LEN(lines); i++)
            if (tok_trainer_feed(tr, lines[i], strlen(lines[i]), "line", &e))
                return test_fail(__FILE__, __LINE__, "%s", e.msg);
    int ok = tok_trainer_train(tr, &e) == 0 && tok_trainer_save(tr, dir, &e) == 0;
    tok_trainer_free(tr);
    return ok ? 1 : test_fail(__FILE__, __LINE__, "%s", e.msg);
}

TEST(new_model_initialised_as_transformers_does)
{
    err_t e;
    hf_config c;
    CHECK_MSG(hf_config_llama(&c, 1000, 256, 2, 4, 2, 704, &e) == 0, "%s", e.msg);
    CHECK(c.head_dim == 64 && c.n_kv_head == 2 && !c.tie_word_embeddings && c.bos_token_id == -1);
    tf_model *m = tf_new_random(&c, 42, &e);
    CHECK_MSG(m, "%s", e.msg);
    /* saved and read back by name: weights ~ N(0, 0.02), norms 1 */
    char dir[4200], path[4300];
    snprintf(dir, sizeof dir, "%s/init", test_tmpdir());
    CHECK_MSG(tf_save_hf(m, dir, &e) == 0, "%s", e.msg);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    st_file f;
    CHECK_MSG(st_open(&f, path, &e) == 0, "%s", e.msg);
    int matrices = 0, norms = 0;
    for (size_t i = 0; i < f.n; i++) {
        const st_tensor *t = &f.tensors[i];
        float *v = xmalloc(sizeof(float) * (size_t)t->numel);
        CHECK(st_to_f32(t, v, path, &e) == 0);
        double s = 0, s2 = 0;
        for (int64_t k = 0; k < t->numel; k++) {
            s += v[k];
            s2 += (double)v[k] * v[k];
        }
        double mean = s / (double)t->numel, sd = sqrt(s2 / (double)t->numel - mean * mean);
        free(v);
        if (t->ndim == 2) {
            matrices++;
            CHECK_MSG(fabs(sd - 0.02) < 0.002 && fabs(mean) < 0.002, "%s: mean %g std %g", t->name,
                      mean, sd);
        } else {
            norms++;
            CHECK_MSG(mean == 1 && sd == 0, "%s: a norm weight that is not 1", t->name);
        }
    }
    st_close(&f);
    CHECK(matrices == 1 + 2 * 7 + 1 && norms == 2 * 2 + 1); /* embed, 7 per layer, head; 2 norms per layer, final */
    /* the seed decides; the thread count does not */
    float *a = xmalloc(sizeof(float) * 64);
    tf_model *m2 = tf_new_random(&c, 42, &e);
    int old = par_threads();
    par_set_threads(1);
    tf_model *m1 = tf_new_random(&c, 42, &e);
    par_set_threads(old);
    tf_model *m3 = tf_new_random(&c, 43, &e);
    size_t n = tf_num_params(m);
    int32_t tok[4] = {1, 5, 900, 7};
    int lens[1] = {4};
    float *l1 = xmalloc(sizeof(float) * 4 * 1000), *l2 = xmalloc(sizeof(float) * 4 * 1000),
          *l3 = xmalloc(sizeof(float) * 4 * 1000), *l4 = xmalloc(sizeof(float) * 4 * 1000);
    CHECK(tf_logits(m, tok, lens, 1, 4, l1, &e) == 0 && tf_logits(m2, tok, lens, 1, 4, l2, &e) == 0 &&
          tf_logits(m1, tok, lens, 1, 4, l3, &e) == 0 && tf_logits(m3, tok, lens, 1, 4, l4, &e) == 0);
    CHECK(!memcmp(l1, l2, sizeof(float) * 4000) && !memcmp(l1, l3, sizeof(float) * 4000));
    CHECK(memcmp(l1, l4, sizeof(float) * 4000) != 0);
    CHECK(n == (size_t)1000 * 256 * 2 + 2 * (256 * (256 + 2 * 128) + 256 * 256 + 3 * 256 * 704 + 2 * 256) + 256);
    free(a);
    free(l1);
    free(l2);
    free(l3);
    free(l4);
    tf_free(m1);
    tf_free(m2);
    tf_free(m3);
    tf_free(m);
}

TEST(new_model_config_json_is_generated_from_the_config)
{
    err_t e;
    hf_config c, back;
    CHECK(hf_config_llama(&c, 5000, 128, 3, 8, 2, 352, &e) == 0);
    c.bos_token_id = 4997;
    c.eos_token_ids[0] = 4999;
    c.n_eos = 1;
    c.tie_word_embeddings = 1;
    c.max_pos = 1024;
    char *text = hf_config_to_json(&c, &e);
    CHECK_MSG(text, "%s", e.msg);
    CHECK_MSG(hf_config_parse(&back, text, strlen(text), "config.json", &e) == 0, "%s", e.msg);
    json_t *o = json_loads(text, 0, NULL);
    CHECK(o);
    CHECK_STR(json_string_value(json_array_get(json_object_get(o, "architectures"), 0)), "LlamaForCausalLM");
    CHECK_STR(json_string_value(json_object_get(o, "model_type")), "llama");
    CHECK_STR(json_string_value(json_object_get(o, "torch_dtype")), "float32");
    CHECK(json_integer_value(json_object_get(o, "head_dim")) == 16);
    CHECK(json_real_value(json_object_get(o, "rms_norm_eps")) == 1e-6);
    CHECK(json_real_value(json_object_get(o, "initializer_range")) == 0.02);
    CHECK(json_integer_value(json_object_get(o, "bos_token_id")) == 4997);
    CHECK(json_integer_value(json_object_get(o, "eos_token_id")) == 4999);
    CHECK(json_is_true(json_object_get(o, "tie_word_embeddings")));
    json_decref(o);
    free(text);
    /* what the parse gives back is the config itself (its dtype aside) */
    snprintf(c.torch_dtype, sizeof c.torch_dtype, "float32");
    snprintf(back.arch_name, sizeof back.arch_name, "%s", c.arch_name);
    CHECK(back.vocab_size == c.vocab_size && back.hidden == c.hidden && back.n_layer == c.n_layer &&
          back.n_head == c.n_head && back.n_kv_head == c.n_kv_head && back.head_dim == c.head_dim &&
          back.intermediate == c.intermediate && back.max_pos == c.max_pos &&
          back.norm_eps == c.norm_eps && back.rope_theta == c.rope_theta &&
          back.tie_word_embeddings == c.tie_word_embeddings && back.bos_token_id == c.bos_token_id &&
          back.n_eos == 1 && back.eos_token_ids[0] == 4999 && !strcmp(back.torch_dtype, "float32") &&
          back.qkv_bias == 0 && back.mlp_bias == 0 && back.gated_mlp && back.rms_norm);
    /* only Llama is written */
    static const char gpt2[] = "{\"model_type\": \"gpt2\", \"vocab_size\": 10, \"n_embd\": 8, "
                               "\"n_layer\": 1, \"n_head\": 2, \"n_positions\": 16}";
    CHECK(hf_config_parse(&back, gpt2, strlen(gpt2), "g", &e) == 0);
    CHECK(!hf_config_to_json(&back, &e));
    CHECK_STR(e.msg, "writing config.json for gpt2 is not supported (LlamaForCausalLM is)");
}

TEST(new_model_bad_shapes_are_one_line_errors)
{
    err_t e;
    hf_config c;
    CHECK(hf_config_llama(&c, 1000, 250, 2, 3, 0, 64, &e) == -1);
    CHECK_STR(e.msg, "new model: hidden_size 250 is not a multiple of num_attention_heads 3 and there is no head_dim");
    CHECK(hf_config_llama(&c, 1000, 256, 2, 4, 3, 64, &e) == -1);
    CHECK_STR(e.msg, "new model: num_attention_heads 4 is not a multiple of num_key_value_heads 3");
    CHECK(hf_config_llama(&c, 1000, 96, 2, 32, 0, 64, &e) == -1);
    CHECK_STR(e.msg, "new model: head_dim 3 must be even for rotary embeddings");
    CHECK(hf_config_llama(&c, 1000, 0, 2, 4, 0, 64, &e) == -1);
    CHECK_STR(e.msg, "new model: \"hidden_size\" must be an integer from 1 to 16777216");
    /* a tokenizer larger than the model's vocabulary */
    char tok[4200];
    snprintf(tok, sizeof tok, "%s/tok-big", test_tmpdir());
    CHECK(make_tokenizer(tok, 300));
    CHECK(hf_config_llama(&c, 100, 64, 1, 2, 0, 64, &e) == 0);
    tf_model *m = tf_new_random(&c, 1, &e);
    CHECK(m);
    CHECK(tf_set_tokenizer_dir(m, tok, &e) == -1);
    CHECK_CONTAINS(e.msg, "tok-big: the tokenizer has");
    CHECK_CONTAINS(e.msg, "tokens; the model's vocabulary holds 100");
    snprintf(tok, sizeof tok, "%s/nosuch", test_tmpdir());
    CHECK(tf_set_tokenizer_dir(m, tok, &e) == -1);
    CHECK_CONTAINS(e.msg, "nosuch: no such directory");
    tf_free(m);
}

/* tokens, lens and the engine's logits, for tests/ref/check_saved.py */
static int write_expected(const char *path, const int32_t *tokens, const int *lens, int B, int T,
                          const float *lg, int V)
{
    st_writer *w = st_writer_new();
    int64_t st[2] = {B, T}, sl[1] = {B}, sg[3] = {B, T, V};
    st_writer_add(w, "tokens", ST_I32, st, 2);
    st_writer_add(w, "lens", ST_I32, sl, 1);
    st_writer_add(w, "logits", ST_F32, sg, 3);
    err_t e;
    if (st_writer_begin(w, path, &e) || st_writer_data(w, tokens, 4 * (size_t)B * T, &e) ||
        st_writer_data(w, lens, 4 * (size_t)B, &e) || st_writer_data(w, lg, 4 * (size_t)B * T * V, &e)) {
        st_writer_free(w);
        return test_fail(__FILE__, __LINE__, "%s", e.msg);
    }
    return st_writer_finish(w, &e) == 0 ? 1 : test_fail(__FILE__, __LINE__, "%s", e.msg);
}

TEST(new_model_saved_loads_back_and_pytorch_agrees)
{
    int torch = system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0;
    char tokdir[4200];
    snprintf(tokdir, sizeof tokdir, "%s/tok", test_tmpdir());
    CHECK(make_tokenizer(tokdir, 400));
    err_t e;
    tok_t *tok = tok_load(tokdir, &e);
    CHECK_MSG(tok, "%s", e.msg);
    int V = (int)tok_vocab_size(tok);
    for (int tied = 0; tied < 2; tied++) {
        hf_config c;
        CHECK(hf_config_llama(&c, V, 256, 4, 4, 2, 704, &e) == 0);
        c.tie_word_embeddings = tied;
        c.bos_token_id = tok_bos(tok);
        c.eos_token_ids[0] = tok_eos(tok);
        c.n_eos = 1;
        tf_model *m = tf_new_random(&c, 7, &e);
        CHECK_MSG(m, "%s", e.msg);
        CHECK_MSG(tf_set_tokenizer_dir(m, tokdir, &e) == 0, "%s", e.msg);
        char out[4300], path[4400];
        snprintf(out, sizeof out, "%s/model-%d", test_tmpdir(), tied);
        CHECK_MSG(tf_save_hf(m, out, &e) == 0, "%s", e.msg);
        static const char *const files[] = {"config.json", "model.safetensors", "tokenizer.json",
                                            "tokenizer_config.json", "special_tokens_map.json"};
        for (size_t i = 0; i < ARRAY_LEN(files); i++) {
            snprintf(path, sizeof path, "%s/%s", out, files[i]);
            CHECK_MSG(file_exists(path), "%s is missing", path);
        }
        /* tokens from the tokenizer itself, two rows of different lengths */
        const char *text = "<|im_start|>user\nhow many customers?<|im_end|>\n<|im_start|>assistant\n";
        int32_t *ids;
        size_t n;
        CHECK(tok_encode(tok, text, strlen(text), 1, &ids, &n, &e) == 0);
        int T = (int)n, B = 2, lens[2] = {T, T / 2};
        int32_t *tokens = xmalloc(sizeof(int32_t) * (size_t)B * T);
        memcpy(tokens, ids, sizeof(int32_t) * n);
        memcpy(tokens + T, ids, sizeof(int32_t) * n);
        free(ids);
        size_t nl = (size_t)B * T * V;
        float *want = xmalloc(sizeof(float) * nl), *got = xmalloc(sizeof(float) * nl);
        CHECK(tf_logits(m, tokens, lens, B, T, want, &e) == 0);
        tf_model *m2 = tf_load(out, NULL, &e);
        CHECK_MSG(m2, "%s", e.msg);
        CHECK(tf_num_params(m2) == tf_num_params(m) && tf_config(m2)->tie_word_embeddings == tied);
        CHECK(tf_logits(m2, tokens, lens, B, T, got, &e) == 0);
        CHECK_MSG(!memcmp(want, got, sizeof(float) * nl), "the saved model computes other logits");
        tok_t *t2 = tok_load(out, &e);
        CHECK_MSG(t2, "%s", e.msg);
        CHECK(tok_vocab_size(t2) == (size_t)V && tok_eos(t2) == tok_eos(tok));
        tok_free(t2);
        if (torch) {
            char exp[4400], cmd[16000];
            snprintf(exp, sizeof exp, "%s/expected-%d.safetensors", test_tmpdir(), tied);
            CHECK(write_expected(exp, tokens, lens, B, T, want, V));
            snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/ref/check_saved.py %s %s >%s.log 2>&1",
                     test_root(), out, exp, exp);
            CHECK_MSG(system(cmd) == 0, "PyTorch disagrees with the saved model (see %s.log)", exp);
        }
        /* retrain generate runs on it (what it says is random) */
        if (tied) {
            char cmd[16000];
            buf_t o;
            buf_init(&o);
            snprintf(cmd, sizeof cmd, "'%s' generate '%s' --chat --prompt hi --max-new-tokens 8 2>&1",
                     test_retrain_bin(), out);
            int rc = run_capture(cmd, &o);
            CHECK_MSG(rc == 0, "retrain generate failed: %s", o.data ? o.data : "");
            buf_free(&o);
        }
        free(tokens);
        free(want);
        free(got);
        tf_free(m2);
        tf_free(m);
    }
    tok_free(tok);
    if (!torch)
        test_skip("the saved model loads back here; the PyTorch half needs python3-torch");
}

/* ---- the command */

static int new_model(const char *args, buf_t *out)
{
    char cmd[16000];
    snprintf(cmd, sizeof cmd, "'%s' new-model %s 2>&1", test_retrain_bin(), args);
    buf_reset(out);
    return run_capture(cmd, out);
}

/* One line, ending in a newline, saying want. */
static int one_line(const buf_t *b, const char *want)
{
    const char *s = b->data ? b->data : "";
    if (!strstr(s, want) || strchr(s, '\n') != s + b->len - 1 || strncmp(s, "retrain new-model: ", 19))
        return test_fail(__FILE__, __LINE__, "not one line with '%s':\n%s", want, s);
    return 1;
}

TEST(new_model_cli_writes_a_model_directory)
{
    char corpus[1024], corpus2[1024], dir[1024], args[12000], path[4300];
    snprintf(corpus, sizeof corpus, "%.900s/a.txt", test_tmpdir());
    snprintf(corpus2, sizeof corpus2, "%.900s/b.txt", test_tmpdir());
    buf_t text;
    buf_init(&text);
    for (int i = 0; i < 200; i++)
        buf_printf(&text, "<|im_start|>user\nquestion %d about the orders table<|im_end|>\n", i);
    err_t e;
    CHECK(file_write_atomic(corpus, text.data, text.len, &e) == 0);
    CHECK(file_write_atomic(corpus2, "SELECT * FROM orders;\n", 22, &e) == 0);
    buf_free(&text);
    snprintf(dir, sizeof dir, "%.900s/cli-model", test_tmpdir());
    buf_t out;
    buf_init(&out);
    snprintf(args, sizeof args, "'%s' --corpus '%s' '%s' --vocab 320 --layers 2 --hidden 64 --heads 4 "
             "--kv-heads 2 --ffn 128 --seed 3", dir, corpus, corpus2);
    CHECK_MSG(new_model(args, &out) == 0, "%s", out.data);
    CHECK_CONTAINS(out.data, "LlamaForCausalLM, 2 layers, hidden 64, 4 heads (2 key/value), ffn 128");
    CHECK_CONTAINS(out.data, "tied head; tokenizer trained on 2 files");
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_t *cfg = json_load_file(path, 0, NULL);
    CHECK(cfg);
    tok_t *t = tok_load(dir, &e);
    CHECK_MSG(t, "%s", e.msg);
    CHECK(json_integer_value(json_object_get(cfg, "vocab_size")) == (json_int_t)tok_vocab_size(t));
    CHECK(json_integer_value(json_object_get(cfg, "eos_token_id")) == tok_eos(t));
    CHECK(json_integer_value(json_object_get(cfg, "bos_token_id")) == tok_bos(t));
    CHECK(json_integer_value(json_object_get(cfg, "num_key_value_heads")) == 2);
    json_decref(cfg);
    tok_free(t);
    tf_model *m = tf_load(dir, NULL, &e);
    CHECK_MSG(m, "%s", e.msg);
    tf_free(m);
    /* the same seed writes the same weights */
    char dir2[1024];
    snprintf(dir2, sizeof dir2, "%.900s/cli-model-2", test_tmpdir());
    snprintf(args, sizeof args, "'%s' --corpus '%s' '%s' --vocab 320 --layers 2 --hidden 64 --heads 4 "
             "--kv-heads 2 --ffn 128 --seed 3", dir2, corpus, corpus2);
    CHECK(new_model(args, &out) == 0);
    size_t n1, n2;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    char *w1 = file_read(path, &n1, &e);
    snprintf(path, sizeof path, "%s/model.safetensors", dir2);
    char *w2 = file_read(path, &n2, &e);
    CHECK(w1 && w2 && n1 == n2 && !memcmp(w1, w2, n1));
    free(w1);
    free(w2);

    /* errors: one line each, nothing written */
    char fresh[4300];
    snprintf(fresh, sizeof fresh, "%s/never", test_tmpdir());
    snprintf(args, sizeof args, "'%s' --corpus '%s/missing.txt' --vocab 500", fresh, test_tmpdir());
    CHECK(new_model(args, &out) == 2);
    CHECK(one_line(&out, "missing.txt"));
    snprintf(args, sizeof args, "'%s' --corpus '%s' --vocab 200", fresh, corpus);
    CHECK(new_model(args, &out) == 2);
    CHECK(one_line(&out, "--vocab: vocabulary size 200 is too small: the 256 byte tokens and 3 special "
                         "tokens need 259"));
    snprintf(args, sizeof args, "'%s' --corpus '%s' --vocab 500 --hidden 250 --heads 3", fresh, corpus);
    CHECK(new_model(args, &out) == 2);
    CHECK(one_line(&out, "hidden_size 250 is not a multiple of num_attention_heads 3"));
    snprintf(args, sizeof args, "'%s' --corpus '%s' --vocab 500 --heads 4 --kv-heads 3", fresh, corpus);
    CHECK(new_model(args, &out) == 2);
    CHECK(one_line(&out, "num_attention_heads 4 is not a multiple of num_key_value_heads 3"));
    snprintf(args, sizeof args, "'%s' --corpus '%s' --vocab 500 --layers 0", fresh, corpus);
    CHECK(new_model(args, &out) == 2);
    CHECK(one_line(&out, "--layers needs an integer from 1 to 1024, got '0'"));
    snprintf(args, sizeof args, "'%s' --corpus '%s' --vocab 500 --seed -1", fresh, corpus);
    CHECK(new_model(args, &out) == 2);
    CHECK(one_line(&out, "--seed needs an integer >= 0, got '-1'"));
    snprintf(args, sizeof args, "'%s' --corpus '%s' --vocab 500x", fresh, corpus);
    CHECK(new_model(args, &out) == 2);
    CHECK(one_line(&out, "--vocab needs an integer from 1 to 16777216, got '500x'"));
    snprintf(args, sizeof args, "'%s' --corpus --vocab 500", fresh);
    CHECK(new_model(args, &out) == 2);
    CHECK(one_line(&out, "--corpus needs at least one file"));
    snprintf(args, sizeof args, "'%s' --vocab 500", fresh);
    CHECK(new_model(args, &out) == 2);
    CHECK(one_line(&out, "needs OUTDIR, --corpus FILE... and --vocab N"));
    snprintf(args, sizeof args, "'%s' --corpus '%s' --vocab 500 --wide", fresh, corpus);
    CHECK(new_model(args, &out) == 2);
    CHECK(one_line(&out, "unknown or incomplete option '--wide'"));
    CHECK(!file_exists(fresh));
    /* invalid UTF-8 in a corpus file: where */
    char bad[4300];
    snprintf(bad, sizeof bad, "%s/bad.txt", test_tmpdir());
    CHECK(file_write_atomic(bad, "good\nbad \xff\n", 10, &e) == 0);
    snprintf(args, sizeof args, "'%s' --corpus '%s' --vocab 500", fresh, bad);
    CHECK(new_model(args, &out) == 2);
    CHECK(one_line(&out, "bad.txt: not valid UTF-8 (at byte 9)"));
    CHECK(!file_exists(fresh));
    /* an existing model is never overwritten */
    snprintf(args, sizeof args, "'%s' --corpus '%s' --vocab 500", dir, corpus);
    CHECK(new_model(args, &out) == 2);
    CHECK(one_line(&out, "cli-model: exists and is not empty (give a new directory)"));
    buf_free(&out);
}
