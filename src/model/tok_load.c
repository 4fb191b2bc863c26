/* model/tok_load: reading a model directory's tokenizer - tokenizer.json,
 * or GPT-2's vocab.json + merges.txt - and the special tokens and chat
 * template of tokenizer_config.json / special_tokens_map.json.
 *
 * Anything outside byte-level BPE (Unigram, WordPiece, byte fallback,
 * Metaspace, ...) is refused with "not supported" rather than encoded
 * differently from Hugging Face's tokenizers. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tok_internal.h"

/* Ids beyond this are refused: they would only size tables from a
 * corrupt file. The largest vocabularies we know are ~260k. */
#define TOK_MAX_ID (1 << 24)

/* ---- the byte-level alphabet: printable Latin-1 bytes stand for
 * themselves, the other 68 bytes for U+0100.. in byte order. */
static uint32_t g_byte_char[256];
static int16_t g_char_byte[512];
static pthread_once_t g_alphabet_once = PTHREAD_ONCE_INIT;

static void alphabet_init(void)
{
    for (int i = 0; i < 512; i++)
        g_char_byte[i] = -1;
    uint32_t next = 256;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        g_byte_char[b] = printable ? (uint32_t)b : next++;
        g_char_byte[g_byte_char[b]] = (int16_t)b;
    }
}

uint32_t tok_byte_char(uint8_t b)
{
    pthread_once(&g_alphabet_once, alphabet_init);
    return g_byte_char[b];
}

int tok_char_byte(uint32_t cp)
{
    pthread_once(&g_alphabet_once, alphabet_init);
    return cp < 512 ? g_char_byte[cp] : -1;
}

tok_t *tok_new_empty(const char *name)
{
    pthread_once(&g_alphabet_once, alphabet_init);
    tok_t *t = xcalloc(1, sizeof *t);
    t->name = xstrdup(name);
    buf_init(&t->bytes);
    buf_init(&t->strs);
    tok_smap_init(&t->by_str);
    tok_smap_init(&t->by_bytes);
    tok_pmap_init(&t->merges);
    t->eos = t->bos = t->pad = t->unk = -1;
    t->cache = xcalloc(1, sizeof *t->cache);
    pthread_mutex_init(&t->cache->mu, NULL);
    tok_smap_init(&t->cache->map);
    return t;
}

static void entries_reserve(tok_t *t, int32_t id)
{
    if ((size_t)id < t->nentries)
        return;
    size_t n = (size_t)id + 1;
    if (n > t->capentries) { /* geometric: vocabularies come in any id order */
        size_t cap = t->capentries ? t->capentries : 1024;
        while (cap < n)
            cap *= 2;
        t->entries = xrealloc(t->entries, cap * sizeof *t->entries);
        memset(t->entries + t->capentries, 0, (cap - t->capentries) * sizeof *t->entries);
        t->capentries = cap;
    }
    t->nentries = n;
}

void tok_set_token(tok_t *t, int32_t id, const char *s, size_t len, int added)
{
    entries_reserve(t, id);
    tok_entry *en = &t->entries[id];
    en->present = 1;
    en->added |= (uint8_t)added;
    en->soff = (uint32_t)t->strs.len;
    en->slen = (uint32_t)len;
    buf_append(&t->strs, s, len);
    /* Raw bytes: each character of the byte-level alphabet is one byte; a
     * token with any other character stands for its own UTF-8 (as the
     * ByteLevel decoder treats it). */
    size_t start = t->bytes.len, i = 0;
    int bytelevel = 1;
    while (i < len) {
        uint32_t cp;
        size_t k = utf8_decode(s + i, len - i, &cp);
        int b = tok_char_byte(cp);
        if (b < 0) {
            bytelevel = 0;
            break;
        }
        buf_putc(&t->bytes, (char)b);
        i += k;
    }
    if (!bytelevel) {
        t->bytes.len = start;
        buf_append(&t->bytes, s, len);
    }
    en->off = (uint32_t)start;
    en->len = (uint32_t)(t->bytes.len - start);
    tok_smap_put(&t->by_str, s, len, id);
    if (bytelevel && !added)
        tok_smap_put(&t->by_bytes, t->bytes.data + start, en->len, id);
}

/* Registers an added token (or updates its flags when id already is one). */
static void add_added(tok_t *t, const char *content, size_t len, int32_t id, int special, int lstrip,
                      int rstrip, int single_word, int normalized)
{
    for (size_t i = 0; i < t->nadded; i++) {
        tok_added *a = &t->added[i];
        if (a->id == id && a->len == len && !memcmp(a->content, content, len)) {
            a->special |= (uint8_t)special;
            t->entries[id].special = a->special;
            return;
        }
    }
    t->added = xrealloc(t->added, (t->nadded + 1) * sizeof *t->added);
    tok_added *a = &t->added[t->nadded++];
    a->content = xstrndup(content, len);
    a->len = len;
    a->id = id;
    a->special = (uint8_t)special;
    a->lstrip = (uint8_t)lstrip;
    a->rstrip = (uint8_t)rstrip;
    a->single_word = (uint8_t)single_word;
    a->normalized = (uint8_t)normalized;
    tok_set_token(t, id, content, len, 1);
    t->entries[id].special = (uint8_t)special;
}

static int cmp_added_order(const void *pa, const void *pb, void *arg)
{
    const tok_t *t = arg;
    const tok_added *a = &t->added[*(const uint32_t *)pa], *b = &t->added[*(const uint32_t *)pb];
    unsigned char fa = a->len ? (unsigned char)a->content[0] : 0;
    unsigned char fb = b->len ? (unsigned char)b->content[0] : 0;
    if (fa != fb)
        return fa < fb ? -1 : 1;
    if (a->len != b->len)
        return a->len > b->len ? -1 : 1; /* longest first: leftmost-longest matching */
    return memcmp(a->content, b->content, a->len);
}

void tok_finish(tok_t *t)
{
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        t->byte_id[b] = tok_smap_get(&t->by_bytes, &c, 1);
    }
    free(t->added_order);
    t->added_order = xmalloc((t->nadded + 1) * sizeof *t->added_order);
    size_t n = 0;
    t->has_normalized_added = 0;
    for (size_t i = 0; i < t->nadded; i++) {
        if (!t->added[i].len)
            continue; /* an empty added token can never match */
        t->added_order[n++] = (uint32_t)i;
        if (t->added[i].normalized && t->nnorms)
            t->has_normalized_added = 1;
    }
    qsort_r(t->added_order, n, sizeof *t->added_order, cmp_added_order, t);
    size_t j = 0;
    for (int b = 0; b <= 256; b++) {
        while (j < n && (unsigned char)t->added[t->added_order[j]].content[0] < b)
            j++;
        t->added_first[b] = (uint32_t)j;
    }
    t->added_first[256] = (uint32_t)n;
}

/* ---- the split regex. Hugging Face compiles patterns with Oniguruma,
 * whose \s is Unicode White_Space; PCRE2's \s (with UCP) lacks U+0085.
 * So \s and \S become explicit classes; the rest of the syntax the
 * tokenizers' patterns use means the same in both. */
#define WS_CLASS "\\t-\\r\\x{85}\\p{Zs}\\x{2028}\\x{2029}"

pcre2_code *tok_compile_regex(const char *pattern, size_t len, int literal, err_t *e)
{
    buf_t p;
    buf_init(&p);
    if (literal) { /* a String pattern: every ASCII punctuation escaped */
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)pattern[i];
            if (c < 0x80 && !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z'))
                buf_putc(&p, '\\');
            buf_putc(&p, (char)c);
        }
    } else {
        int in_class = 0;
        for (size_t i = 0; i < len; i++) {
            char c = pattern[i];
            if (c == '\\' && i + 1 < len) {
                char d = pattern[i + 1];
                if (d == 's')
                    buf_puts(&p, in_class ? WS_CLASS : "[" WS_CLASS "]");
                else if (d == 'S' && !in_class)
                    buf_puts(&p, "[^" WS_CLASS "]");
                else
                    buf_append(&p, pattern + i, 2);
                i++;
                continue;
            }
            if (c == '[' && !in_class) {
                in_class = 1;
                buf_putc(&p, c);
                /* a ']' first in a class is literal */
                if (i + 1 < len && pattern[i + 1] == '^')
                    buf_putc(&p, pattern[++i]);
                if (i + 1 < len && pattern[i + 1] == ']')
                    buf_putc(&p, pattern[++i]);
                continue;
            }
            if (c == ']' && in_class)
                in_class = 0;
            buf_putc(&p, c);
        }
    }
    int errcode;
    PCRE2_SIZE erroff;
    uint32_t opts = PCRE2_UTF | PCRE2_UCP;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)p.data, p.len, opts, &errcode, &erroff, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        err_set(e, "bad split pattern '%.*s': %s", (int)(len > 200 ? 200 : len), pattern, (char *)msg);
    } else {
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* without JIT it still matches, slower */
    }
    buf_free(&p);
    return re;
}

/* GPT-2's pattern, which the ByteLevel pre-tokenizer applies with use_regex. */
static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static void add_pre(tok_t *t, tok_pre p)
{
    t->pres = xrealloc(t->pres, (t->npres + 1) * sizeof *t->pres);
    t->pres[t->npres++] = p;
}

static int add_bytelevel(tok_t *t, int add_prefix_space, int use_regex, err_t *e)
{
    tok_pre p = {.kind = TOK_PRE_BYTELEVEL, .add_prefix_space = add_prefix_space};
    if (use_regex) {
        p.re = tok_compile_regex(GPT2_PATTERN, strlen(GPT2_PATTERN), 0, e);
        if (!p.re)
            return -1;
    }
    add_pre(t, p);
    return 0;
}

/* ---- JSON helpers: each error names the file and the key path. */
static int get_bool(json_t *obj, const char *key, int dflt, const char *path, const char *where,
                    int *out, err_t *e)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = dflt;
        return 0;
    }
    if (!json_is_boolean(v))
        return err_set(e, "%s: %s.%s is not a boolean", path, where, key);
    *out = json_is_true(v);
    return 0;
}

static const char *type_of(json_t *obj)
{
    json_t *v = json_object_get(obj, "type");
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int load_normalizer(tok_t *t, json_t *n, const char *path, const char *where, err_t *e)
{
    if (!n || json_is_null(n))
        return 0;
    if (!json_is_object(n))
        return err_set(e, "%s: %s is not an object", path, where);
    const char *type = type_of(n);
    if (!type)
        return err_set(e, "%s: %s.type is missing", path, where);
    enum tok_norm k;
    if (!strcmp(type, "Sequence")) {
        json_t *list = json_object_get(n, "normalizers");
        if (!json_is_array(list))
            return err_set(e, "%s: %s.normalizers is not an array", path, where);
        for (size_t i = 0; i < json_array_size(list); i++) {
            char sub[128];
            snprintf(sub, sizeof sub, "%s.normalizers[%zu]", where, i);
            if (load_normalizer(t, json_array_get(list, i), path, sub, e))
                return -1;
        }
        return 0;
    } else if (!strcmp(type, "NFC")) {
        k = TOK_NFC;
    } else if (!strcmp(type, "NFD")) {
        k = TOK_NFD;
    } else if (!strcmp(type, "NFKC")) {
        k = TOK_NFKC;
    } else if (!strcmp(type, "NFKD")) {
        k = TOK_NFKD;
    } else {
        return err_set(e, "%s: %s type '%s' is not supported (NFC, NFD, NFKC, NFKD, Sequence are)",
                       path, where, type);
    }
    t->norms = xrealloc(t->norms, (t->nnorms + 1) * sizeof *t->norms);
    t->norms[t->nnorms++] = k;
    return 0;
}

/* "PATH: WHERE: " before the message already in e. */
static int prefix_error(err_t *e, const char *path, const char *where)
{
    err_t inner = *e;
    return err_set(e, "%s: %s: %s", path, where, inner.msg);
}

static int load_pre(tok_t *t, json_t *p, const char *path, const char *where, err_t *e)
{
    if (!p || json_is_null(p))
        return 0;
    if (!json_is_object(p))
        return err_set(e, "%s: %s is not an object", path, where);
    const char *type = type_of(p);
    if (!type)
        return err_set(e, "%s: %s.type is missing", path, where);
    if (!strcmp(type, "Sequence")) {
        json_t *list = json_object_get(p, "pretokenizers");
        if (!json_is_array(list))
            return err_set(e, "%s: %s.pretokenizers is not an array", path, where);
        for (size_t i = 0; i < json_array_size(list); i++) {
            char sub[128];
            snprintf(sub, sizeof sub, "%s.pretokenizers[%zu]", where, i);
            if (load_pre(t, json_array_get(list, i), path, sub, e))
                return -1;
        }
        return 0;
    }
    if (!strcmp(type, "ByteLevel")) {
        int aps = 0, regex = 0;
        if (get_bool(p, "add_prefix_space", 1, path, where, &aps, e) ||
            get_bool(p, "use_regex", 1, path, where, &regex, e))
            return -1;
        if (add_bytelevel(t, aps, regex, e))
            return prefix_error(e, path, where);
        return 0;
    }
    if (!strcmp(type, "Digits")) {
        tok_pre d = {.kind = TOK_PRE_DIGITS};
        if (get_bool(p, "individual_digits", 0, path, where, &d.individual_digits, e))
            return -1;
        add_pre(t, d);
        return 0;
    }
    if (strcmp(type, "Split"))
        return err_set(e, "%s: %s type '%s' is not supported (Split, ByteLevel, Digits, Sequence are)",
                       path, where, type);
    tok_pre s = {.kind = TOK_PRE_SPLIT};
    json_t *pat = json_object_get(p, "pattern");
    json_t *re = json_object_get(pat, "Regex"), *str = json_object_get(pat, "String");
    json_t *src = json_is_string(re) ? re : str;
    if (!json_is_object(pat) || !json_is_string(src))
        return err_set(e, "%s: %s.pattern is not {\"Regex\": ...} or {\"String\": ...}", path, where);
    static const char *const behaviors[] = {"Removed", "Isolated", "MergedWithPrevious",
                                            "MergedWithNext", "Contiguous"};
    const char *beh = json_string_value(json_object_get(p, "behavior"));
    if (!beh)
        return err_set(e, "%s: %s.behavior is not a string", path, where);
    s.behavior = -1;
    for (size_t i = 0; i < ARRAY_LEN(behaviors); i++)
        if (!strcmp(beh, behaviors[i]))
            s.behavior = (int)i;
    if (s.behavior < 0)
        return err_set(e, "%s: %s.behavior '%s' is not one of Removed, Isolated, "
                          "MergedWithPrevious, MergedWithNext, Contiguous", path, where, beh);
    if (get_bool(p, "invert", 0, path, where, &s.invert, e))
        return -1;
    s.re = tok_compile_regex(json_string_value(src), json_string_length(src), src == str, e);
    if (!s.re)
        return prefix_error(e, path, where);
    add_pre(t, s);
    return 0;
}

/* post_processor: nothing of it changes tok_encode's ids (see
 * tok_adds_bos), but a kind we do not know is refused, not ignored. */
static int load_post(tok_t *t, json_t *p, const char *path, const char *where, err_t *e)
{
    if (!p || json_is_null(p))
        return 0;
    if (!json_is_object(p))
        return err_set(e, "%s: %s is not an object", path, where);
    const char *type = type_of(p);
    if (!type)
        return err_set(e, "%s: %s.type is missing", path, where);
    if (!strcmp(type, "ByteLevel"))
        return 0; /* offsets only */
    if (!strcmp(type, "Sequence")) {
        json_t *list = json_object_get(p, "processors");
        if (!json_is_array(list))
            return err_set(e, "%s: %s.processors is not an array", path, where);
        for (size_t i = 0; i < json_array_size(list); i++) {
            char sub[128];
            snprintf(sub, sizeof sub, "%s.processors[%zu]", where, i);
            if (load_post(t, json_array_get(list, i), path, sub, e))
                return -1;
        }
        return 0;
    }
    if (!strcmp(type, "TemplateProcessing")) {
        /* single: [{"SpecialToken": {"id": "<|begin_of_text|>"}}, {"Sequence": {"id": "A"}}] */
        json_t *single = json_object_get(p, "single");
        json_t *first = json_array_get(single, 0);
        json_t *sp = json_object_get(first, "SpecialToken");
        if (json_is_object(sp) && json_is_string(json_object_get(sp, "id")))
            t->adds_bos = 1; /* resolved against bos_token once the configs are read */
        return 0;
    }
    return err_set(e, "%s: %s type '%s' is not supported (ByteLevel, TemplateProcessing, Sequence are)",
                   path, where, type);
}

static int load_decoder(json_t *d, const char *path, err_t *e)
{
    if (!d || json_is_null(d))
        return 0; /* decoded byte-level all the same */
    const char *type = json_is_object(d) ? type_of(d) : NULL;
    if (!type)
        return err_set(e, "%s: decoder is not an object with a type", path);
    if (strcmp(type, "ByteLevel"))
        return err_set(e, "%s: decoder type '%s' is not supported (ByteLevel is)", path, type);
    return 0;
}

static int get_id(json_t *v, const char *path, const char *where, int32_t *out, err_t *e)
{
    if (!json_is_integer(v))
        return err_set(e, "%s: %s is not an integer", path, where);
    json_int_t id = json_integer_value(v);
    if (id < 0 || id >= TOK_MAX_ID)
        return err_set(e, "%s: %s = %lld is out of range", path, where, (long long)id);
    *out = (int32_t)id;
    return 0;
}

static int load_vocab(tok_t *t, json_t *vocab, const char *path, const char *where, err_t *e)
{
    if (!json_is_object(vocab))
        return err_set(e, "%s: %s is not an object", path, where);
    const char *key;
    json_t *v;
    json_object_foreach(vocab, key, v) {
        int32_t id;
        char sub[160];
        snprintf(sub, sizeof sub, "%s['%.100s']", where, key);
        if (get_id(v, path, sub, &id, e))
            return -1;
        tok_set_token(t, id, key, strlen(key), 0);
    }
    return 0;
}

static int add_merge(tok_t *t, const char *a, size_t alen, const char *b, size_t blen, int32_t rank,
                     const char *path, const char *where, err_t *e)
{
    int32_t ia = tok_smap_get(&t->by_str, a, alen), ib = tok_smap_get(&t->by_str, b, blen);
    if (ia < 0)
        return err_set(e, "%s: %s: token '%.*s' is not in the vocabulary", path, where, (int)alen, a);
    if (ib < 0)
        return err_set(e, "%s: %s: token '%.*s' is not in the vocabulary", path, where, (int)blen, b);
    char stack[256];
    char *ab = alen + blen <= sizeof stack ? stack : xmalloc(alen + blen);
    memcpy(ab, a, alen);
    memcpy(ab + alen, b, blen);
    int32_t id = tok_smap_get(&t->by_str, ab, alen + blen);
    if (id < 0)
        err_set(e, "%s: %s: the merged token '%.*s' is not in the vocabulary", path, where,
                (int)(alen + blen), ab);
    if (ab != stack)
        free(ab);
    if (id < 0)
        return -1;
    tok_pmap_put(&t->merges, ia, ib, rank, id);
    return 0;
}

static int load_merges(tok_t *t, json_t *merges, const char *path, err_t *e)
{
    if (!json_is_array(merges))
        return err_set(e, "%s: model.merges is not an array", path);
    for (size_t i = 0; i < json_array_size(merges); i++) {
        json_t *m = json_array_get(merges, i);
        char where[64];
        snprintf(where, sizeof where, "model.merges[%zu]", i);
        if (json_is_string(m)) { /* "a b" */
            const char *s = json_string_value(m);
            size_t len = json_string_length(m);
            const char *sp = memchr(s, ' ', len);
            if (!sp || memchr(sp + 1, ' ', len - (size_t)(sp + 1 - s)))
                return err_set(e, "%s: %s is not two tokens separated by one space", path, where);
            if (add_merge(t, s, (size_t)(sp - s), sp + 1, len - (size_t)(sp + 1 - s), (int32_t)i, path,
                          where, e))
                return -1;
        } else if (json_is_array(m) && json_array_size(m) == 2 &&
                   json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
            json_t *a = json_array_get(m, 0), *b = json_array_get(m, 1);
            if (add_merge(t, json_string_value(a), json_string_length(a), json_string_value(b),
                          json_string_length(b), (int32_t)i, path, where, e))
                return -1;
        } else {
            return err_set(e, "%s: %s is neither \"a b\" nor [\"a\", \"b\"]", path, where);
        }
    }
    return 0;
}

static int load_added_tokens(tok_t *t, json_t *list, size_t vocab_len, const char *path, err_t *e)
{
    int32_t model_size = (int32_t)vocab_len, next_added = 0;
    if (!list || json_is_null(list))
        return 0;
    if (!json_is_array(list))
        return err_set(e, "%s: added_tokens is not an array", path);
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *a = json_array_get(list, i);
        char where[64];
        snprintf(where, sizeof where, "added_tokens[%zu]", i);
        if (!json_is_object(a))
            return err_set(e, "%s: %s is not an object", path, where);
        int32_t id;
        char idw[80];
        snprintf(idw, sizeof idw, "%s.id", where);
        if (get_id(json_object_get(a, "id"), path, idw, &id, e))
            return -1;
        json_t *c = json_object_get(a, "content");
        if (!json_is_string(c))
            return err_set(e, "%s: %s.content is not a string", path, where);
        int special = 0, lstrip = 0, rstrip = 0, sw = 0, normalized = 0;
        if (get_bool(a, "special", 0, path, where, &special, e) ||
            get_bool(a, "lstrip", 0, path, where, &lstrip, e) ||
            get_bool(a, "rstrip", 0, path, where, &rstrip, e) ||
            get_bool(a, "single_word", 0, path, where, &sw, e) ||
            get_bool(a, "normalized", !special, path, where, &normalized, e))
            return -1;
        /* tokenizers does not take the id from the file: a token of the
         * model's vocabulary keeps its id there, any other one gets the
         * next id after the vocabulary and the added tokens before it
         * (and warns when that differs from the file). So do we. */
        const char *content = json_string_value(c);
        size_t clen = json_string_length(c);
        int32_t vid = tok_smap_get(&t->by_str, content, clen);
        int32_t given = id;
        id = vid >= 0 ? vid : next_added >= model_size ? next_added : model_size;
        if (id != given)
            log_warn("%s: added token '%s' has id %d in the file; it gets %d, as in tokenizers", path,
                     content, given, id);
        if (id + 1 > next_added)
            next_added = id + 1;
        add_added(t, content, clen, id, special, lstrip, rstrip, sw, normalized);
    }
    return 0;
}

static int load_model(tok_t *t, json_t *model, const char *path, err_t *e)
{
    if (!json_is_object(model))
        return err_set(e, "%s: model is missing or not an object", path);
    const char *type = type_of(model);
    if (type && strcmp(type, "BPE"))
        return err_set(e, "%s: model type '%s' is not supported (byte-level BPE only)", path, type);
    if (!type && !json_object_get(model, "merges"))
        return err_set(e, "%s: model has no type and no merges: only byte-level BPE is supported", path);
    int byte_fallback = 0;
    if (get_bool(model, "byte_fallback", 0, path, "model", &byte_fallback, e) ||
        get_bool(model, "ignore_merges", 0, path, "model", &t->ignore_merges, e))
        return -1;
    if (byte_fallback)
        return err_set(e, "%s: model.byte_fallback is not supported (SentencePiece-style BPE)", path);
    static const char *const affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (size_t i = 0; i < ARRAY_LEN(affixes); i++) {
        json_t *v = json_object_get(model, affixes[i]);
        if (v && !json_is_null(v) && !(json_is_string(v) && json_string_length(v) == 0))
            return err_set(e, "%s: model.%s is not supported", path, affixes[i]);
    }
    json_t *dropout = json_object_get(model, "dropout");
    if (dropout && !json_is_null(dropout) && !(json_is_number(dropout) && json_number_value(dropout) == 0))
        return err_set(e, "%s: model.dropout is not supported", path);
    if (load_vocab(t, json_object_get(model, "vocab"), path, "model.vocab", e) ||
        load_merges(t, json_object_get(model, "merges"), path, e))
        return -1;
    json_t *unk = json_object_get(model, "unk_token");
    if (json_is_string(unk))
        t->unk = tok_smap_get(&t->by_str, json_string_value(unk), json_string_length(unk));
    return 0;
}

static json_t *parse_json(const char *text, size_t len, size_t flags, const char *path, err_t *e)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, flags, &jerr);
    if (!root) {
        err_set(e, "%s: line %d column %d: %s", path, jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        err_set(e, "%s: not a JSON object", path);
        return NULL;
    }
    return root;
}

static int load_tokenizer_json(tok_t *t, const char *text, size_t len, const char *path, err_t *e)
{
    json_t *root = parse_json(text, len, 0, path, e);
    if (!root)
        return -1;
    int rc = -1;
    /* The model first: added tokens may overwrite vocabulary entries. */
    if (load_model(t, json_object_get(root, "model"), path, e) ||
        load_added_tokens(t, json_object_get(root, "added_tokens"),
                          json_object_size(json_object_get(json_object_get(root, "model"), "vocab")), path, e) ||
        load_normalizer(t, json_object_get(root, "normalizer"), path, "normalizer", e) ||
        load_pre(t, json_object_get(root, "pre_tokenizer"), path, "pre_tokenizer", e) ||
        load_post(t, json_object_get(root, "post_processor"), path, "post_processor", e) ||
        load_decoder(json_object_get(root, "decoder"), path, e))
        goto out;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* GPT-2's own files: vocab.json and merges.txt ("#version" line, then one
 * "a b" per line). The pipeline is GPT-2's: ByteLevel with its regex. */
static int load_classic(tok_t *t, const char *vpath, const char *mpath, err_t *e)
{
    size_t len;
    char *text = file_read(vpath, &len, e);
    if (!text)
        return -1;
    json_t *root = parse_json(text, len, 0, vpath, e);
    free(text);
    if (!root)
        return -1;
    int rc = load_vocab(t, root, vpath, "vocabulary", e);
    json_decref(root);
    if (rc)
        return -1;
    text = file_read(mpath, &len, e);
    if (!text)
        return -1;
    int32_t rank = 0;
    size_t lineno = 0;
    for (char *p = text, *end = text + len; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *eol = nl ? nl : end;
        lineno++;
        size_t n = (size_t)(eol - p);
        if (n && p[n - 1] == '\r')
            n--;
        if (n && !(lineno == 1 && n >= 8 && !memcmp(p, "#version", 8))) {
            char *sp = memchr(p, ' ', n);
            char where[64];
            snprintf(where, sizeof where, "line %zu", lineno);
            if (!sp || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - p))) {
                free(text);
                return err_set(e, "%s: %s is not two tokens separated by one space", mpath, where);
            }
            if (add_merge(t, p, (size_t)(sp - p), sp + 1, n - (size_t)(sp + 1 - p), rank++, mpath, where,
                          e)) {
                free(text);
                return -1;
            }
        }
        p = nl ? nl + 1 : end;
    }
    free(text);
    if (!utf8_valid(t->strs.data ? t->strs.data : "", t->strs.len))
        return err_set(e, "%s: not valid UTF-8", mpath);
    return add_bytelevel(t, 0, 1, e);
}

/* ---- tokenizer_config.json and special_tokens_map.json. */
typedef struct special_names {
    char *bos, *eos, *pad, *unk;
    const char *bos_file, *eos_file, *pad_file, *unk_file;
} special_names;

/* A special token's name: "text", {"content": "text", ...} or null. */
static int token_name(json_t *v, const char *path, const char *key, char **out, const char **file,
                      err_t *e)
{
    if (!v)
        return 0;
    if (json_is_null(v)) {
        free(*out);
        *out = NULL;
        *file = path;
        return 0;
    }
    if (json_is_object(v))
        v = json_object_get(v, "content");
    if (!json_is_string(v))
        return err_set(e, "%s: %s is neither a string nor {\"content\": string}", path, key);
    free(*out);
    *out = xstrdup(json_string_value(v));
    *file = path;
    return 0;
}

static int load_named_specials(tok_t *t, json_t *root, const char *path, special_names *names,
                               err_t *e)
{
    if (token_name(json_object_get(root, "bos_token"), path, "bos_token", &names->bos,
                   &names->bos_file, e) ||
        token_name(json_object_get(root, "eos_token"), path, "eos_token", &names->eos,
                   &names->eos_file, e) ||
        token_name(json_object_get(root, "pad_token"), path, "pad_token", &names->pad,
                   &names->pad_file, e) ||
        token_name(json_object_get(root, "unk_token"), path, "unk_token", &names->unk,
                   &names->unk_file, e))
        return -1;
    json_t *extra = json_object_get(root, "additional_special_tokens");
    if (extra && !json_is_array(extra))
        return err_set(e, "%s: additional_special_tokens is not an array", path);
    for (size_t i = 0; i < json_array_size(extra); i++) {
        char *name = NULL;
        const char *file;
        char key[64];
        snprintf(key, sizeof key, "additional_special_tokens[%zu]", i);
        if (token_name(json_array_get(extra, i), path, key, &name, &file, e))
            return -1;
        if (!name)
            continue;
        int32_t id = tok_smap_get(&t->by_str, name, strlen(name));
        if (id < 0) {
            err_set(e, "%s: %s '%s' is not in the vocabulary", path, key, name);
            free(name);
            return -1;
        }
        add_added(t, name, strlen(name), id, 1, 0, 0, 0, 0);
        free(name);
    }
    return 0;
}

static int load_config(tok_t *t, json_t *root, const char *path, special_names *names, err_t *e)
{
    json_t *dec = json_object_get(root, "added_tokens_decoder");
    if (dec && !json_is_object(dec))
        return err_set(e, "%s: added_tokens_decoder is not an object", path);
    const char *key;
    json_t *v;
    json_object_foreach(dec, key, v) {
        long id;
        if (parse_long(key, &id) || id < 0 || id >= TOK_MAX_ID)
            return err_set(e, "%s: added_tokens_decoder key '%.40s' is not a token id", path, key);
        json_t *c = json_object_get(v, "content");
        if (!json_is_object(v) || !json_is_string(c))
            return err_set(e, "%s: added_tokens_decoder['%s'].content is not a string", path, key);
        char where[96];
        snprintf(where, sizeof where, "added_tokens_decoder['%s']", key);
        int special = 0, lstrip = 0, rstrip = 0, sw = 0, normalized = 0;
        if (get_bool(v, "special", 0, path, where, &special, e) ||
            get_bool(v, "lstrip", 0, path, where, &lstrip, e) ||
            get_bool(v, "rstrip", 0, path, where, &rstrip, e) ||
            get_bool(v, "single_word", 0, path, where, &sw, e) ||
            get_bool(v, "normalized", !special, path, where, &normalized, e))
            return -1;
        add_added(t, json_string_value(c), json_string_length(c), (int32_t)id, special, lstrip, rstrip,
                  sw, normalized);
    }
    if (load_named_specials(t, root, path, names, e))
        return -1;
    json_t *tpl = json_object_get(root, "chat_template");
    if (json_is_string(tpl)) {
        free(t->chat_template);
        t->chat_template = xstrdup(json_string_value(tpl));
    } else if (json_is_array(tpl)) { /* [{"name": "default", "template": ...}, ...] */
        json_t *pick = NULL;
        for (size_t i = 0; i < json_array_size(tpl); i++) {
            json_t *it = json_array_get(tpl, i);
            const char *name = json_string_value(json_object_get(it, "name"));
            if (!pick || (name && !strcmp(name, "default")))
                pick = it;
        }
        json_t *text = json_object_get(pick, "template");
        if (!json_is_string(text))
            return err_set(e, "%s: chat_template is a list without a template string", path);
        free(t->chat_template);
        t->chat_template = xstrdup(json_string_value(text));
    } else if (tpl && !json_is_null(tpl)) {
        return err_set(e, "%s: chat_template is neither a string nor a list", path);
    }
    return 0;
}

/* Reads DIR/NAME when it exists: 1 and the parsed object, 0 when it is
 * absent, -1 on error. */
static int read_json_file(const char *dir, const char *name, size_t flags, json_t **out, char *path,
                          size_t pathsz, err_t *e)
{
    snprintf(path, pathsz, "%s/%s", dir, name);
    *out = NULL;
    if (!file_exists(path))
        return 0;
    size_t len;
    char *text = file_read(path, &len, e);
    if (!text)
        return -1;
    *out = parse_json(text, len, flags, path, e);
    free(text);
    return *out ? 1 : -1;
}

static int resolve_special(tok_t *t, const char *name, const char *file, const char *key, int32_t *id,
                           err_t *e)
{
    if (!name)
        return 0;
    *id = tok_smap_get(&t->by_str, name, strlen(name));
    if (*id < 0)
        return err_set(e, "%s: %s '%s' is not in the vocabulary", file, key, name);
    /* transformers registers every named special token as a special added token */
    add_added(t, name, strlen(name), *id, 1, 0, 0, 0, 0);
    return 0;
}

static void special_names_free(special_names *n)
{
    free(n->bos);
    free(n->eos);
    free(n->pad);
    free(n->unk);
}

static int load_configs(tok_t *t, const char *dir, int classic, err_t *e)
{
    special_names names = {0};
    /* three buffers that live until the names are resolved: the errors
     * name the file a special token came from */
    char added_path[4096], cfg_path[4096], map_path[4096];
    json_t *root;
    int rc = -1, r;
    if (classic) { /* GPT2Tokenizer's defaults; the config files may override them */
        static const char EOT[] = "<|endoftext|>";
        if (tok_smap_get(&t->by_str, EOT, strlen(EOT)) >= 0) {
            names.bos = xstrdup(EOT);
            names.eos = xstrdup(EOT);
            names.unk = xstrdup(EOT);
            names.bos_file = names.eos_file = names.unk_file = t->name;
        }
        r = read_json_file(dir, "added_tokens.json", 0, &root, added_path, sizeof added_path, e);
        if (r < 0)
            goto out;
        const char *key;
        json_t *v;
        json_object_foreach(root, key, v) {
            int32_t id;
            char where[160];
            snprintf(where, sizeof where, "['%.100s']", key);
            if (get_id(v, added_path, where, &id, e)) {
                json_decref(root);
                goto out;
            }
            add_added(t, key, strlen(key), id, 0, 0, 0, 0, 1);
        }
        json_decref(root);
    }
    /* numbers there (model_max_length can be 1e30) are never ids */
    r = read_json_file(dir, "tokenizer_config.json", JSON_DECODE_INT_AS_REAL, &root, cfg_path, sizeof cfg_path, e);
    if (r < 0)
        goto out;
    if (r > 0) {
        r = load_config(t, root, cfg_path, &names, e);
        json_decref(root);
        if (r)
            goto out;
    }
    /* special_tokens_map.json wins over tokenizer_config.json, as in transformers */
    r = read_json_file(dir, "special_tokens_map.json", JSON_DECODE_INT_AS_REAL, &root, map_path, sizeof map_path, e);
    if (r < 0)
        goto out;
    if (r > 0) {
        r = load_named_specials(t, root, map_path, &names, e);
        json_decref(root);
        if (r)
            goto out;
    }
    if (resolve_special(t, names.bos, names.bos_file, "bos_token", &t->bos, e) ||
        resolve_special(t, names.eos, names.eos_file, "eos_token", &t->eos, e) ||
        resolve_special(t, names.pad, names.pad_file, "pad_token", &t->pad, e) ||
        resolve_special(t, names.unk, names.unk_file, "unk_token", &t->unk, e))
        goto out;
    if (!t->chat_template) { /* newer transformers save the template beside the config */
        char path[4096];
        snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
        if (file_exists(path)) {
            size_t len;
            t->chat_template = file_read(path, &len, e);
            if (!t->chat_template)
                goto out;
        }
    }
    rc = 0;
out:
    special_names_free(&names);
    return rc;
}

tok_t *tok_load_json(const char *json, size_t len, const char *name, err_t *e)
{
    tok_t *t = tok_new_empty(name);
    if (load_tokenizer_json(t, json, len, name, e)) {
        tok_free(t);
        return NULL;
    }
    t->adds_bos = 0; /* no bos_token without a config */
    tok_finish(t);
    return t;
}

tok_t *tok_load(const char *dir, err_t *e)
{
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        err_set(e, "%s: no such directory", dir);
        return NULL;
    }
    char path[4096], vpath[4096], mpath[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    snprintf(vpath, sizeof vpath, "%s/vocab.json", dir);
    snprintf(mpath, sizeof mpath, "%s/merges.txt", dir);
    int classic = 0;
    tok_t *t;
    if (file_exists(path)) {
        t = tok_new_empty(path);
        size_t len;
        char *text = file_read(path, &len, e);
        if (!text || load_tokenizer_json(t, text, len, path, e)) {
            free(text);
            tok_free(t);
            return NULL;
        }
        free(text);
    } else if (file_exists(vpath) && file_exists(mpath)) {
        classic = 1;
        t = tok_new_empty(vpath);
        if (load_classic(t, vpath, mpath, e)) {
            tok_free(t);
            return NULL;
        }
    } else {
        err_set(e, "%s: no tokenizer.json, nor vocab.json and merges.txt", dir);
        return NULL;
    }
    int template_bos = t->adds_bos;
    if (load_configs(t, dir, classic, e)) {
        tok_free(t);
        return NULL;
    }
    t->adds_bos = template_bos && t->bos >= 0;
    tok_finish(t);
    return t;
}
