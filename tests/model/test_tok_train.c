/* Training a byte-level BPE: the files load back in our tokenizer and in
 * Hugging Face's tokenizers (Node binding) and encode as training
 * segmented; the incremental pair counts agree with a full recount per
 * merge; any UTF-8 round-trips; every bad option and input is a one-line
 * error. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/model/chat.h"
#include "../../src/model/tokenizer.h"
#include "../test.h"

#define NODE ".deps/npm/node_modules/.bin/node"
#define HF_TOKENIZERS ".deps/npm/node_modules/tokenizers"

/* ---- a seeded corpus of mixed text: prose, SQL, code, numbers, chat
 * markup, accents, CJK, emoji, odd whitespace */
static const char *const k_words[] = {
    "the", "table", "select", "from", "where", "join", "customer", "orders", "total", "count",
    "name", "données", "naïve", "Straße", "東京", "数据库", "مرحبا", "Ελλάδα", "привет", "🙂",
    "👩‍💻", "🇫🇷", "don't", "we'll", "I'M", "x_1", "price", "2024", "3.14", "<tool>", "</tool>",
    "<sql>", "{\"a\": 1}", "\t", "  ", "\r\n", "é", "e\xcc\x81", "SUM(amount)", "GROUP BY",
};

static char *make_text(rng_t *r, int nwords)
{
    buf_t b;
    buf_init(&b);
    for (int i = 0; i < nwords; i++) {
        uint64_t k = rng_next(r) % (ARRAY_LEN(k_words) + 6);
        if (k < ARRAY_LEN(k_words))
            buf_puts(&b, k_words[k]);
        else if (k == ARRAY_LEN(k_words))
            buf_printf(&b, "%u", (unsigned)(rng_next(r) % 100000));
        else if (k == ARRAY_LEN(k_words) + 1)
            buf_puts(&b, "\n\n");
        else if (k == ARRAY_LEN(k_words) + 2)
            buf_puts(&b, (rng_next(r) & 1) ? "<|im_start|>user\n" : "<|im_end|>\n");
        else
            buf_putc(&b, (char)('a' + rng_next(r) % 26));
        buf_putc(&b, (rng_next(r) % 4) ? ' ' : (rng_next(r) & 1) ? ',' : '.');
    }
    return buf_take(&b);
}

#define NTEXTS 60

typedef struct corpus {
    char *text[NTEXTS];
} corpus;

static void corpus_make(corpus *c, uint64_t seed, int words)
{
    rng_t r;
    rng_seed(&r, seed);
    for (int i = 0; i < NTEXTS; i++)
        c->text[i] = make_text(&r, words);
}

static void corpus_free(corpus *c)
{
    for (int i = 0; i < NTEXTS; i++)
        free(c->text[i]);
}

static tok_trainer *train(const corpus *c, size_t vocab, err_t *e)
{
    tok_train_opts o = {.vocab_size = vocab};
    tok_trainer *tr = tok_trainer_new(&o, e);
    if (!tr)
        return NULL;
    for (int i = 0; i < NTEXTS; i++) {
        char name[32];
        snprintf(name, sizeof name, "text %d", i);
        if (tok_trainer_feed(tr, c->text[i], strlen(c->text[i]), name, e)) {
            tok_trainer_free(tr);
            return NULL;
        }
    }
    if (tok_trainer_train(tr, e)) {
        tok_trainer_free(tr);
        return NULL;
    }
    return tr;
}

static int same_ids(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    return na == nb && (na == 0 || !memcmp(a, b, na * sizeof *a));
}

TEST(tok_train_files_load_and_encode_as_training_segmented)
{
    corpus c;
    corpus_make(&c, 1, 400);
    err_t e;
    tok_trainer *tr = train(&c, 600, &e);
    CHECK_MSG(tr, "%s", e.msg);
    CHECK(tok_trainer_vocab_size(tr) == 600);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/tok", test_tmpdir());
    CHECK_MSG(tok_trainer_save(tr, dir, &e) == 0, "%s", e.msg);
    tok_t *t = tok_load(dir, &e);
    CHECK_MSG(t, "%s", e.msg);
    CHECK(tok_vocab_size(t) == 600);
    /* the special tokens sit last; ChatML's roles */
    CHECK(tok_id(t, "<|endoftext|>") == 597);
    CHECK(tok_id(t, "<|im_start|>") == 598);
    CHECK(tok_id(t, "<|im_end|>") == 599);
    CHECK(tok_eos(t) == 599 && tok_bos(t) == 597 && tok_pad(t) == 597);
    CHECK(tok_is_special(t, 598) && !tok_is_special(t, 300));
    CHECK(!tok_adds_bos(t));
    CHECK(chat_detect(t) == CHAT_CHATML);
    /* byte tokens: GPT-2's order, every byte present */
    CHECK(tok_id(t, "!") == 0 && tok_id(t, "\xc4\x80") == 188); /* U+0100 stands for byte 0 */
    for (int b = 0; b < 256; b++) {
        buf_t out;
        buf_init(&out);
        tok_token_bytes(t, b, &out);
        int ok = out.len == 1;
        buf_free(&out);
        CHECK_MSG(ok, "id %d is not a single byte", b);
    }
    for (int i = 0; i < NTEXTS; i++) {
        int32_t *a, *b;
        size_t na, nb;
        CHECK_MSG(tok_trainer_encode(tr, c.text[i], strlen(c.text[i]), &a, &na, &e) == 0, "%s", e.msg);
        CHECK_MSG(tok_encode(t, c.text[i], strlen(c.text[i]), 1, &b, &nb, &e) == 0, "%s", e.msg);
        int ok = same_ids(a, na, b, nb);
        free(a);
        free(b);
        CHECK_MSG(ok, "text %d: tok_encode differs from the training segmentation", i);
    }
    /* the wire-format tags stay ordinary text; merges did compress */
    int32_t *ids;
    size_t n;
    CHECK(tok_encode(t, "<tool>", 6, 1, &ids, &n, &e) == 0);
    for (size_t i = 0; i < n; i++)
        CHECK(!tok_is_special(t, ids[i]));
    free(ids);
    CHECK(tok_encode(t, c.text[0], strlen(c.text[0]), 1, &ids, &n, &e) == 0);
    CHECK_MSG(n * 2 < strlen(c.text[0]), "%zu tokens for %zu bytes", n, strlen(c.text[0]));
    free(ids);
    tok_free(t);
    tok_trainer_free(tr);
    corpus_free(&c);
}

/* ---- a reference trainer: every pair recounted before every merge.
 * Its corpus is words of a three-letter alphabet joined by single
 * spaces, so the pre-tokens are known: "w1", " w2", " w3" ... (long runs
 * of one letter test the overlapping merges: "aaa" -> "aa" "a"). */
typedef struct ref_word {
    int32_t s[16];
    int n;
    long count;
} ref_word;

typedef struct ref_tok {
    char bytes[64];
    int len;
} ref_tok;

static int ref_find_word(ref_word *w, int nw, const char *p, int n)
{
    for (int i = 0; i < nw; i++) {
        int same = w[i].n == n;
        for (int k = 0; same && k < n; k++)
            same = w[i].s[k] == (unsigned char)p[k];
        if (same)
            return i;
    }
    return -1;
}

TEST(tok_train_incremental_counts_equal_a_full_recount)
{
    enum { TEXTS = 12, WORDS = 200, MAXW = 4096, MAXT = 512 };
    static char *texts[TEXTS];
    static ref_word w[MAXW];
    static ref_tok tok[MAXT];
    rng_t r;
    rng_seed(&r, 5);
    int nw = 0;
    for (int i = 0; i < TEXTS; i++) {
        buf_t b;
        buf_init(&b);
        for (int k = 0; k < WORDS; k++) {
            char piece[16];
            int n = 0;
            if (k)
                piece[n++] = ' ';
            int len = 1 + (int)(rng_next(&r) % 9);
            for (int j = 0; j < len; j++)
                piece[n++] = (char)('a' + rng_next(&r) % 3);
            buf_append(&b, piece, (size_t)n);
            int at = ref_find_word(w, nw, piece, n);
            if (at < 0) {
                CHECK(nw < MAXW);
                at = nw++;
                w[at].n = n;
                for (int j = 0; j < n; j++)
                    w[at].s[j] = (unsigned char)piece[j]; /* raw bytes for now */
            }
            w[at].count++;
        }
        texts[i] = buf_take(&b);
    }
    /* byte ids as the trainer numbers them: printable bytes first */
    int byte_id[256], ntok = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int b = 0; b < 256; b++)
            if (((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) == (pass == 0)) {
                byte_id[b] = ntok;
                tok[ntok].bytes[0] = (char)b;
                tok[ntok++].len = 1;
            }
    for (int i = 0; i < nw; i++)
        for (int j = 0; j < w[i].n; j++)
            w[i].s[j] = byte_id[w[i].s[j]];
    const size_t vocab = 400; /* 3 special tokens: 397 tokens */
    while (ntok < (int)vocab - 3) {
        /* recount: the best pair, lower ids first on a tie */
        long best = 0;
        int ba = -1, bb = -1;
        static long cnt[MAXT][MAXT];
        memset(cnt, 0, sizeof cnt);
        for (int i = 0; i < nw; i++)
            for (int j = 0; j + 1 < w[i].n; j++)
                cnt[w[i].s[j]][w[i].s[j + 1]] += w[i].count;
        for (int a = 0; a < ntok; a++)
            for (int b = 0; b < ntok; b++)
                if (cnt[a][b] > best) {
                    best = cnt[a][b];
                    ba = a;
                    bb = b;
                }
        if (best < 2)
            break;
        ref_tok nt;
        nt.len = tok[ba].len + tok[bb].len;
        CHECK(nt.len < 64);
        memcpy(nt.bytes, tok[ba].bytes, (size_t)tok[ba].len);
        memcpy(nt.bytes + tok[ba].len, tok[bb].bytes, (size_t)tok[bb].len);
        int z = -1;
        for (int k = 0; k < ntok && z < 0; k++)
            if (tok[k].len == nt.len && !memcmp(tok[k].bytes, nt.bytes, (size_t)nt.len))
                z = k;
        if (z < 0) {
            CHECK(ntok < MAXT);
            z = ntok;
            tok[ntok++] = nt;
        }
        for (int i = 0; i < nw; i++) {
            int j = 0;
            for (int k = 0; k < w[i].n;) {
                if (k + 1 < w[i].n && w[i].s[k] == ba && w[i].s[k + 1] == bb) {
                    w[i].s[j++] = z;
                    k += 2;
                } else {
                    w[i].s[j++] = w[i].s[k++];
                }
            }
            w[i].n = j;
        }
    }
    CHECK_MSG(ntok > 320, "the reference made only %d merges", ntok - 256);
    err_t e;
    tok_train_opts o = {.vocab_size = vocab};
    tok_trainer *tr = tok_trainer_new(&o, &e);
    CHECK(tr);
    for (int i = 0; i < TEXTS; i++)
        CHECK_MSG(tok_trainer_feed(tr, texts[i], strlen(texts[i]), "text", &e) == 0, "%s", e.msg);
    CHECK(tok_trainer_train(tr, &e) == 0);
    CHECK_MSG(tok_trainer_vocab_size(tr) == (size_t)ntok + 3, "%zu tokens, the recount made %d",
              tok_trainer_vocab_size(tr), ntok + 3);
    for (int i = 0; i < nw; i++) {
        char piece[16];
        /* the word's bytes, from its reference tokens */
        int n = 0;
        for (int j = 0; j < w[i].n; j++) {
            memcpy(piece + n, tok[w[i].s[j]].bytes, (size_t)tok[w[i].s[j]].len);
            n += tok[w[i].s[j]].len;
        }
        int32_t *ids;
        size_t nids;
        CHECK(tok_trainer_encode(tr, piece, (size_t)n, &ids, &nids, &e) == 0);
        int ok = nids == (size_t)w[i].n;
        for (size_t j = 0; ok && j < nids; j++)
            ok = ids[j] == w[i].s[j];
        free(ids);
        CHECK_MSG(ok, "word '%.*s' is segmented otherwise than by the full recount", n, piece);
    }
    tok_trainer_free(tr);
    for (int i = 0; i < TEXTS; i++)
        free(texts[i]);
}

/* ---- Hugging Face's tokenizers reads the file and encodes alike */

static const char *const k_probe[] = {
    "",
    "select name from customer where total > 100;",
    "Hello world! It's 2024, we'll see.",
    "<|im_start|>user\nhow many orders?<|im_end|>\n<|im_start|>assistant\n",
    "<tool>list_tables</tool> and <sql>SELECT 1</sql>",
    "  leading and trailing spaces   ",
    "tabs\tand\r\nwindows\nlines\n\n\n",
    "données naïve Straße 東京 数据库 مرحبا Ελλάδα привет",
    "emoji 🙂👩‍💻🇫🇷 and 🦀 never seen in training",
    "e\xcc\x81 vs \xc3\xa9 (not normalized)",
    "numbers 1234567890 3.14159 -42",
    "<|im_end|><|im_end|><|endoftext|>",
    "unseen words: zyxwvut qqqq xylophone",
    "\x01\x02\x7f control bytes",
    "{\"a\": [1, 2, {\"b\": null}]}",
    "SUM(amount) GROUP BY name ORDER BY 2 DESC",
};

static int node_available(char *node, size_t n)
{
    char probe[4200];
    snprintf(node, n, "%s/" NODE, test_root());
    snprintf(probe, sizeof probe, "%s/" HF_TOKENIZERS "/package.json", test_root());
    return file_exists(node) && file_exists(probe);
}

TEST(tok_train_hugging_face_tokenizers_encodes_the_file_alike)
{
    char node[4200];
    if (!node_available(node, sizeof node)) {
        test_skip("Node 22 or the tokenizers package is absent from .deps (scripts/install-deps "
                  "installs them); the file was not checked against Hugging Face's tokenizers");
        return;
    }
    corpus c;
    corpus_make(&c, 3, 400);
    err_t e;
    tok_trainer *tr = train(&c, 800, &e);
    CHECK_MSG(tr, "%s", e.msg);
    char dir[4200], spath[4300], opath[4300], cmd[32000];
    snprintf(dir, sizeof dir, "%s/hf", test_tmpdir());
    CHECK_MSG(tok_trainer_save(tr, dir, &e) == 0, "%s", e.msg);
    tok_t *t = tok_load(dir, &e);
    CHECK_MSG(t, "%s", e.msg);
    /* the probes and the first corpus texts */
    json_t *arr = json_array();
    for (size_t i = 0; i < ARRAY_LEN(k_probe); i++)
        json_array_append_new(arr, json_string(k_probe[i]));
    for (int i = 0; i < 10; i++)
        json_array_append_new(arr, json_string(c.text[i]));
    snprintf(spath, sizeof spath, "%s/strings.json", test_tmpdir());
    snprintf(opath, sizeof opath, "%s/hf_ids.jsonl", test_tmpdir());
    CHECK(json_dump_file(arr, spath, 0) == 0);
    snprintf(cmd, sizeof cmd, "%s %s/tests/ref/hf_encode.js %s/tokenizer.json %s %s 2>%s.err", node,
             test_root(), dir, spath, opath, opath);
    CHECK_MSG(system(cmd) == 0, "%s failed (see %s.err)", cmd, opath);
    size_t len;
    char *out = file_read(opath, &len, &e);
    CHECK(out);
    char *line = out;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        char *nl = strchr(line, '\n');
        CHECK(nl);
        *nl = 0;
        json_error_t je;
        json_t *row = json_loads(line, 0, &je);
        CHECK_MSG(row, "line %zu: %s", i + 1, je.text);
        const char *s = json_string_value(json_array_get(arr, i));
        size_t slen = json_string_length(json_array_get(arr, i));
        json_t *want = json_object_get(row, "ids");
        int32_t *ids;
        size_t n;
        CHECK(tok_encode(t, s, slen, 1, &ids, &n, &e) == 0);
        int ok = n == json_array_size(want);
        for (size_t k = 0; ok && k < n; k++)
            ok = ids[k] == json_integer_value(json_array_get(want, k));
        buf_t dec;
        buf_init(&dec);
        tok_decode(t, ids, n, 0, &dec);
        const char *hf_dec = json_string_value(json_object_get(row, "decoded"));
        int dec_ok = hf_dec && !strcmp(hf_dec, dec.data ? dec.data : "") && dec.len == slen &&
                     !memcmp(dec.data ? dec.data : "", s, slen);
        buf_free(&dec);
        free(ids);
        json_decref(row);
        CHECK_MSG(ok, "string %zu ('%.60s'): Hugging Face's tokenizers gives other ids", i, s);
        CHECK_MSG(dec_ok, "string %zu ('%.60s'): decoding does not give the string back", i, s);
        line = nl + 1;
    }
    free(out);
    json_decref(arr);
    tok_free(t);
    tok_trainer_free(tr);
    corpus_free(&c);
}

/* ---- the chat template renders as chat.c renders ChatML */

TEST(tok_train_chat_template_renders_as_chat_c)
{
    char node[4200], probe[4300];
    snprintf(probe, sizeof probe, "%s/.deps/npm/node_modules/@huggingface/jinja/package.json", test_root());
    if (!node_available(node, sizeof node) || !file_exists(probe)) {
        test_skip("Node 22 or @huggingface/jinja is absent from .deps (scripts/install-deps installs "
                  "them); the chat template was not rendered by Jinja");
        return;
    }
    err_t e;
    tok_train_opts o = {.vocab_size = 300};
    tok_trainer *tr = tok_trainer_new(&o, &e);
    CHECK(tr && tok_trainer_train(tr, &e) == 0);
    char dir[4200], cpath[4300], opath[4300], cfg[4300], cmd[32000];
    snprintf(dir, sizeof dir, "%s/chat", test_tmpdir());
    CHECK(tok_trainer_save(tr, dir, &e) == 0);
    tok_trainer_free(tr);
    tok_t *t = tok_load(dir, &e);
    CHECK_MSG(t, "%s", e.msg);
    static const chat_msg chats[][6] = {
        {{"user", "hi"}},
        {{"system", "You explore databases."}, {"user", "How many tables?"}},
        {{"system", "S"}, {"user", "q"}, {"assistant", "<tool>list_tables</tool>"}, {"tool", "a, b"},
         {"tool", "c"}, {"user", "and now?"}},
        {{"user", "q"}, {"assistant", "x"}, {"system", "late system"}, {"tool", "only one"}},
    };
    static const size_t lens[] = {1, 2, 6, 4};
    json_t *arr = json_array();
    for (size_t i = 0; i < ARRAY_LEN(chats); i++) {
        json_t *msgs = json_array();
        for (size_t k = 0; k < lens[i]; k++)
            json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", chats[i][k].role, "content",
                                                  chats[i][k].content));
        json_array_append_new(arr, msgs);
    }
    snprintf(cpath, sizeof cpath, "%s/chats.json", test_tmpdir());
    snprintf(opath, sizeof opath, "%s/rendered.json", test_tmpdir());
    snprintf(cfg, sizeof cfg, "%s/tokenizer_config.json", dir);
    CHECK(json_dump_file(arr, cpath, 0) == 0);
    json_decref(arr);
    snprintf(cmd, sizeof cmd, "%s %s/tests/ref/render_chat.js %s %s %s 2>%s.err", node, test_root(), cfg,
             cpath, opath, opath);
    CHECK_MSG(system(cmd) == 0, "%s failed (see %s.err)", cmd, opath);
    json_t *got = json_load_file(opath, 0, NULL);
    CHECK(got);
    for (size_t i = 0; i < ARRAY_LEN(chats); i++)
        for (int gen = 0; gen < 2; gen++) {
            buf_t b;
            buf_init(&b);
            chat_render(CHAT_CHATML, t, chats[i], lens[i], gen, &b);
            const char *want = json_string_value(json_array_get(json_array_get(got, i), (size_t)gen));
            int ok = want && !strcmp(want, b.data);
            if (!ok)
                test_fail(__FILE__, __LINE__, "chat %zu (generation prompt %d): chat.c renders\n%s\n--- "
                          "the template renders\n%s", i, gen, b.data, want ? want : "(null)");
            buf_free(&b);
            if (!ok) {
                json_decref(got);
                tok_free(t);
                return;
            }
        }
    json_decref(got);
    tok_free(t);
}

/* ---- any UTF-8 round-trips; invalid UTF-8 is refused, not mangled */

static void random_utf8(rng_t *r, buf_t *b)
{
    static const uint32_t ranges[][2] = {{0x01, 0x7f}, {0x80, 0x7ff}, {0x800, 0xd7ff},
                                         {0xe000, 0xfffd}, {0x10000, 0x10ffff}, {0x1f300, 0x1faff}};
    int n = 1 + (int)(rng_next(r) % 40);
    for (int i = 0; i < n; i++) {
        const uint32_t *rg = ranges[rng_next(r) % ARRAY_LEN(ranges)];
        uint32_t cp = rg[0] + (uint32_t)(rng_next(r) % (rg[1] - rg[0] + 1));
        char u[4];
        int k;
        if (cp < 0x80) {
            u[0] = (char)cp;
            k = 1;
        } else if (cp < 0x800) {
            u[0] = (char)(0xC0 | (cp >> 6));
            u[1] = (char)(0x80 | (cp & 0x3F));
            k = 2;
        } else if (cp < 0x10000) {
            u[0] = (char)(0xE0 | (cp >> 12));
            u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
            u[2] = (char)(0x80 | (cp & 0x3F));
            k = 3;
        } else {
            u[0] = (char)(0xF0 | (cp >> 18));
            u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
            u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
            u[3] = (char)(0x80 | (cp & 0x3F));
            k = 4;
        }
        buf_append(b, u, (size_t)k);
    }
}

TEST(tok_train_any_utf8_round_trips)
{
    corpus c;
    corpus_make(&c, 4, 300);
    err_t e;
    tok_trainer *tr = train(&c, 500, &e);
    CHECK_MSG(tr, "%s", e.msg);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/rt", test_tmpdir());
    CHECK(tok_trainer_save(tr, dir, &e) == 0);
    tok_t *t = tok_load(dir, &e);
    CHECK_MSG(t, "%s", e.msg);
    rng_t r;
    rng_seed(&r, 9);
    buf_t s, dec, raw;
    buf_init(&s);
    buf_init(&dec);
    buf_init(&raw);
    for (int it = 0; it < 2000; it++) {
        buf_reset(&s);
        random_utf8(&r, &s);
        if (it % 3 == 0) { /* a corpus text from a character boundary on */
            const char *tail = c.text[it % NTEXTS] + (it % 50);
            while (((unsigned char)*tail & 0xC0) == 0x80)
                tail++;
            buf_puts(&s, tail);
        }
        int32_t *ids;
        size_t n;
        CHECK_MSG(tok_encode(t, s.data, s.len, 0, &ids, &n, &e) == 0, "%s", e.msg);
        buf_reset(&dec);
        buf_reset(&raw);
        tok_decode(t, ids, n, 0, &dec);
        for (size_t i = 0; i < n; i++)
            tok_token_bytes(t, ids[i], &raw);
        free(ids);
        CHECK_MSG(dec.len == s.len && !memcmp(dec.data, s.data, s.len), "decode(encode(x)) != x at %d", it);
        CHECK(raw.len == s.len && !memcmp(raw.data, s.data, s.len));
    }
    /* a token cut inside a character decodes to U+FFFD; its bytes stay exact */
    int32_t *ids;
    size_t n;
    CHECK(tok_encode(t, "\xf0\x9f\xa6\x80", 4, 0, &ids, &n, &e) == 0); /* an emoji training never saw */
    CHECK(n >= 2);
    buf_reset(&dec);
    tok_decode(t, ids, 1, 0, &dec);
    CHECK_STR(dec.data, "\xef\xbf\xbd");
    buf_reset(&raw);
    tok_token_bytes(t, ids[0], &raw);
    CHECK(raw.len < 4 && !memcmp(raw.data, "\xf0\x9f\xa6\x80", raw.len));
    free(ids);
    /* invalid UTF-8 is an error, never silently replaced */
    CHECK(tok_encode(t, "ab\xff", 3, 0, &ids, &n, &e) == -1);
    CHECK_CONTAINS(e.msg, "not valid UTF-8");
    buf_free(&s);
    buf_free(&dec);
    buf_free(&raw);
    tok_free(t);
    tok_trainer_free(tr);
    corpus_free(&c);
}

TEST(tok_train_is_deterministic_and_fast)
{
    /* about 2 MB of text */
    corpus c;
    corpus_make(&c, 6, 6000);
    size_t total = 0;
    for (int i = 0; i < NTEXTS; i++)
        total += strlen(c.text[i]);
    char *files[2];
    for (int k = 0; k < 2; k++) {
        uint64_t t0 = time_now_ns();
        err_t e;
        tok_train_opts o = {.vocab_size = 4000};
        tok_trainer *tr = tok_trainer_new(&o, &e);
        CHECK(tr);
        for (int rep = 0; rep < 5; rep++) /* the corpus five times: ~10 MB fed */
            for (int i = 0; i < NTEXTS; i++)
                CHECK(tok_trainer_feed(tr, c.text[i], strlen(c.text[i]), "t", &e) == 0);
        CHECK(tok_trainer_train(tr, &e) == 0);
        double secs = (double)(time_now_ns() - t0) / 1e9;
        CHECK_MSG(secs < 30, "training on %zu MB took %.1f s", 5 * total >> 20, secs);
        if (k == 0)
            printf("  trained on %.1f MB in %.2f s\n", 5.0 * (double)total / 1e6, secs);
        char dir[4200], path[4300];
        snprintf(dir, sizeof dir, "%s/det%d", test_tmpdir(), k);
        CHECK(tok_trainer_save(tr, dir, &e) == 0);
        snprintf(path, sizeof path, "%s/tokenizer.json", dir);
        size_t len;
        files[k] = file_read(path, &len, &e);
        CHECK(files[k]);
        tok_trainer_free(tr);
    }
    CHECK_MSG(!strcmp(files[0], files[1]), "two trainings on one corpus wrote different files");
    free(files[0]);
    free(files[1]);
    corpus_free(&c);
}

TEST(tok_train_text_dense_with_special_tokens_is_one_pass)
{
    /* 200,000 special tokens in one 4 MB text: each is found once, not
     * searched for again from every occurrence of another */
    buf_t b;
    buf_init(&b);
    for (int i = 0; i < 100000; i++)
        buf_printf(&b, "<|im_start|>user\nq%d<|im_end|>\n", i % 1000);
    err_t e;
    tok_train_opts o = {.vocab_size = 400};
    tok_trainer *tr = tok_trainer_new(&o, &e);
    CHECK(tr);
    uint64_t t0 = time_now_ns();
    CHECK(tok_trainer_feed(tr, b.data, b.len, "chat", &e) == 0);
    CHECK(tok_trainer_train(tr, &e) == 0);
    double secs = (double)(time_now_ns() - t0) / 1e9;
    CHECK_MSG(secs < 10, "%.1f s", secs);
    int32_t *ids;
    size_t n;
    CHECK_MSG(tok_trainer_encode(tr, b.data, 30, &ids, &n, &e) == 0, "%s", e.msg); /* the first turn */
    CHECK(n >= 3 && ids[0] == (int32_t)tok_trainer_vocab_size(tr) - 2); /* <|im_start|> */
    free(ids);
    buf_free(&b);
    tok_trainer_free(tr);
}

/* ---- bad options and input: one clear line each */

TEST(tok_train_bad_options_and_input)
{
    err_t e;
    tok_train_opts o = {.vocab_size = 258};
    CHECK(!tok_trainer_new(&o, &e));
    CHECK_STR(e.msg, "vocabulary size 258 is too small: the 256 byte tokens and 3 special tokens need 259");
    const char *tags[] = {"<tool>"};
    o = (tok_train_opts){.vocab_size = 1000, .extra_specials = tags, .n_extra_specials = 1};
    CHECK(!tok_trainer_new(&o, &e));
    CHECK_CONTAINS(e.msg, "special token '<tool>' is not of the form <|name|>");
    const char *dup[] = {"<|im_end|>"};
    o.extra_specials = dup;
    CHECK(!tok_trainer_new(&o, &e));
    CHECK_STR(e.msg, "special token '<|im_end|>' is listed twice");
    const char *two[] = {"<|tool|>", "<|tool|>"};
    o.extra_specials = two;
    o.n_extra_specials = 2;
    CHECK(!tok_trainer_new(&o, &e));
    CHECK_STR(e.msg, "special token '<|tool|>' is listed twice");
    o.n_extra_specials = 1; /* one extra special: it is special, and last */
    o.vocab_size = 300;
    tok_trainer *tr = tok_trainer_new(&o, &e);
    CHECK(tr);
    CHECK(tok_trainer_save(tr, test_tmpdir(), &e) == -1);
    CHECK_CONTAINS(e.msg, "the tokenizer is not trained yet");
    CHECK(tok_trainer_feed(tr, "ok\xc3(", 4, "corpus.txt", &e) == -1);
    CHECK_STR(e.msg, "corpus.txt: not valid UTF-8 (at byte 2)");
    const char *txt = "aa aa aa <|tool|> bb";
    CHECK(tok_trainer_feed(tr, txt, strlen(txt), "corpus.txt", &e) == 0);
    CHECK(tok_trainer_train(tr, &e) == 0);
    CHECK(tok_trainer_train(tr, &e) == -1);
    CHECK_STR(e.msg, "the tokenizer is already trained");
    CHECK(tok_trainer_feed(tr, "x", 1, "more.txt", &e) == -1);
    CHECK_STR(e.msg, "more.txt: the tokenizer is already trained");
    int32_t *ids;
    size_t n;
    CHECK(tok_trainer_encode(tr, "zz", 2, &ids, &n, &e) == -1);
    CHECK_STR(e.msg, "the word 'zz' was not in the training corpus");
    /* a small corpus stops early: no pair left twice */
    CHECK(tok_trainer_vocab_size(tr) < 300);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/extra", test_tmpdir());
    CHECK(tok_trainer_save(tr, dir, &e) == 0);
    tok_t *t = tok_load(dir, &e);
    CHECK_MSG(t, "%s", e.msg);
    int32_t tool = tok_id(t, "<|tool|>");
    CHECK(tool == (int32_t)tok_vocab_size(t) - 1 && tok_is_special(t, tool));
    CHECK(tok_encode(t, txt, strlen(txt), 1, &ids, &n, &e) == 0);
    int32_t *want;
    size_t nw;
    CHECK(tok_trainer_encode(tr, txt, strlen(txt), &want, &nw, &e) == 0);
    CHECK(same_ids(ids, n, want, nw));
    free(ids);
    free(want);
    tok_free(t);
    tok_trainer_free(tr);
    /* the directory cannot be made */
    o = (tok_train_opts){.vocab_size = 300};
    tr = tok_trainer_new(&o, &e);
    CHECK(tok_trainer_train(tr, &e) == 0);
    snprintf(dir, sizeof dir, "%s/extra/tokenizer.json/sub", test_tmpdir());
    CHECK(tok_trainer_save(tr, dir, &e) == -1);
    CHECK_CONTAINS(e.msg, "tokenizer.json");
    tok_trainer_free(tr);
}
