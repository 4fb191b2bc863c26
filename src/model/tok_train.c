/* model/tok_train: learning a byte-level BPE from a corpus and writing it
 * in Hugging Face's files, for models made from scratch.
 *
 * The data, as tokenizers' BpeTrainer keeps it:
 *   words   each distinct pre-token (its bytes) with its count and its
 *           current symbols (token ids), all symbols in one pool; a merge
 *           rewrites a word's symbols in place (they only get fewer)
 *   pairs   each adjacent (left, right) symbol pair with its count over
 *           the corpus (word counts summed) and the words it occurs in
 *   heap    (count, pair) entries, most frequent first, lower ids first
 *           on ties; an entry whose count is out of date is refreshed
 *           when it comes to the top (lazy), so a merge only touches the
 *           words that hold its pair.
 *
 * Ids: 0..255 the byte tokens in the order of their byte-level
 * characters (GPT-2's and Qwen2's order), then one per learned token,
 * then the special tokens. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* Qwen2's split pattern, as its tokenizer.json writes it. */
static const char QWEN2_PATTERN[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static const char *const k_chatml_specials[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};

/* Qwen2.5's ChatML template without its function-calling branches (our
 * agents' tools are described in the system message and called in
 * text): a system message first (a default one when the chat has none),
 * each turn "<|im_start|>role\ncontent<|im_end|>\n", consecutive tool
 * results in one user turn as <tool_response> blocks - what chat.c's
 * chatml renders. */
static const char CHATML_TEMPLATE[] =
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
    "{%- else %}\n"
    "    {{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}\n"
    "{%- endif %}\n"
    "{%- for message in messages %}\n"
    "    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or "
    "(message.role == \"assistant\") %}\n"
    "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n"
    "    {%- elif message.role == \"tool\" %}\n"
    "        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != \"tool\") %}\n"
    "            {{- '<|im_start|>user' }}\n"
    "        {%- endif %}\n"
    "        {{- '\\n<tool_response>\\n' }}\n"
    "        {{- message.content }}\n"
    "        {{- '\\n</tool_response>' }}\n"
    "        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n"
    "            {{- '<|im_end|>\\n' }}\n"
    "        {%- endif %}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|im_start|>assistant\\n' }}\n"
    "{%- endif %}\n";

typedef struct pair_t {
    int32_t a, b;
    int64_t count;
    uint32_t *where; /* word indices; may repeat or be stale, never miss one */
    uint32_t nw, capw;
    uint32_t touched; /* the merge that last raised its count */
} pair_t;

typedef struct hent {
    int64_t count;
    uint32_t pair;
} hent;

struct tok_trainer {
    size_t target;      /* tokens wanted besides the special tokens */
    int64_t min_freq;
    char **specials;
    size_t nspecials;
    pcre2_code *re;
    pcre2_match_data *md;
    /* words */
    tok_smap words;     /* bytes -> word index */
    int64_t *wcount;
    size_t *woff;
    uint32_t *wlen;
    uint32_t *wstamp;   /* the merge that last rewrote it */
    size_t nwords, capwords;
    int32_t *sym;
    size_t nsym, capsym;
    /* tokens: raw bytes of each id below the special tokens */
    buf_t tbytes;
    uint32_t *toff, *tlen;
    size_t ntok, captok;
    tok_smap tok_by_bytes;
    int32_t byte_id[256];
    /* merges, in order */
    int32_t (*merges)[2];
    size_t nmerges, capmerges;
    /* pairs */
    tok_pmap pair_ix; /* (a, b) -> rank field = index into pairs */
    pair_t *pairs;
    size_t npairs, cappairs;
    uint32_t *raised; /* pairs raised by the current merge */
    size_t nraised, capraised;
    hent *heap;
    size_t nheap, capheap;
    int trained;
};

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return p;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    *cap = c;
    return xrealloc(p, c * size);
}

/* ---- the vocabulary being built */
static int32_t add_token(tok_trainer *tr, const char *bytes, size_t n)
{
    int32_t id = (int32_t)tr->ntok;
    size_t cap = tr->captok;
    tr->toff = grow(tr->toff, &cap, tr->ntok + 1, sizeof *tr->toff);
    cap = tr->captok;
    tr->tlen = grow(tr->tlen, &cap, tr->ntok + 1, sizeof *tr->tlen);
    tr->captok = cap;
    tr->toff[id] = (uint32_t)tr->tbytes.len;
    tr->tlen[id] = (uint32_t)n;
    buf_append(&tr->tbytes, bytes, n);
    tok_smap_put(&tr->tok_by_bytes, bytes, n, id);
    tr->ntok++;
    return id;
}

static int is_chat_special(const char *s)
{
    size_t n = strlen(s);
    return n > 4 && !strncmp(s, "<|", 2) && !strcmp(s + n - 2, "|>") && utf8_valid(s, n);
}

tok_trainer *tok_trainer_new(const tok_train_opts *o, err_t *e)
{
    size_t nsp = ARRAY_LEN(k_chatml_specials) + o->n_extra_specials;
    for (size_t i = 0; i < o->n_extra_specials; i++) {
        const char *s = o->extra_specials[i];
        if (!s || !is_chat_special(s)) {
            err_set(e, "special token '%s' is not of the form <|name|> (tags the model writes as text "
                       "stay ordinary text)", s ? s : "(null)");
            return NULL;
        }
        for (size_t j = 0; j < ARRAY_LEN(k_chatml_specials) + i; j++) {
            const char *t = j < ARRAY_LEN(k_chatml_specials) ? k_chatml_specials[j]
                                                             : o->extra_specials[j - ARRAY_LEN(k_chatml_specials)];
            if (!strcmp(s, t)) {
                err_set(e, "special token '%s' is listed twice", s);
                return NULL;
            }
        }
    }
    if (o->vocab_size < 256 + nsp) {
        err_set(e, "vocabulary size %zu is too small: the 256 byte tokens and %zu special tokens need "
                   "%zu", o->vocab_size, nsp, 256 + nsp);
        return NULL;
    }
    if (o->vocab_size > (1u << 24)) {
        err_set(e, "vocabulary size %zu is too large (at most %u)", o->vocab_size, 1u << 24);
        return NULL;
    }
    pcre2_code *re = tok_compile_regex(QWEN2_PATTERN, strlen(QWEN2_PATTERN), 0, e);
    if (!re)
        return NULL;
    tok_trainer *tr = xcalloc(1, sizeof *tr);
    tr->re = re;
    tr->md = pcre2_match_data_create_from_pattern(re, NULL);
    tr->target = o->vocab_size - nsp;
    tr->min_freq = o->min_frequency > 0 ? o->min_frequency : 2;
    tr->nspecials = nsp;
    tr->specials = xcalloc(nsp, sizeof *tr->specials);
    for (size_t i = 0; i < nsp; i++)
        tr->specials[i] = xstrdup(i < ARRAY_LEN(k_chatml_specials)
                                      ? k_chatml_specials[i]
                                      : o->extra_specials[i - ARRAY_LEN(k_chatml_specials)]);
    tok_smap_init(&tr->words);
    tok_smap_init(&tr->tok_by_bytes);
    buf_init(&tr->tbytes);
    tok_pmap_init(&tr->pair_ix);
    /* the byte tokens, ordered by their byte-level character: the
     * printable bytes stand for themselves and come first, in byte order,
     * then the 68 others (U+0100..) in byte order */
    for (int pass = 0; pass < 2; pass++)
        for (int b = 0; b < 256; b++)
            if ((tok_byte_char((uint8_t)b) < 256) == (pass == 0)) {
                char c = (char)b;
                tr->byte_id[b] = add_token(tr, &c, 1);
            }
    return tr;
}

void tok_trainer_free(tok_trainer *tr)
{
    if (!tr)
        return;
    for (size_t i = 0; i < tr->nspecials; i++)
        free(tr->specials[i]);
    free(tr->specials);
    pcre2_match_data_free(tr->md);
    pcre2_code_free(tr->re);
    tok_smap_free(&tr->words);
    free(tr->wcount);
    free(tr->woff);
    free(tr->wlen);
    free(tr->wstamp);
    free(tr->sym);
    buf_free(&tr->tbytes);
    free(tr->toff);
    free(tr->tlen);
    tok_smap_free(&tr->tok_by_bytes);
    free(tr->merges);
    tok_pmap_free(&tr->pair_ix);
    for (size_t i = 0; i < tr->npairs; i++)
        free(tr->pairs[i].where);
    free(tr->pairs);
    free(tr->raised);
    free(tr->heap);
    free(tr);
}

/* ---- cutting text: special tokens, then the split regex */

/* The first special token in s[pos..len) (longest on a tie): its start, or
 * len; *which gets its index. next[i] caches where special i occurs next
 * (searched again only once pos has passed it), so a text with many
 * special tokens is scanned once per special token, not once per
 * occurrence. */
static size_t find_special(const tok_trainer *tr, const char *s, size_t len, size_t pos, size_t *next,
                           size_t *which)
{
    size_t best = len, best_len = 0;
    for (size_t i = 0; i < tr->nspecials; i++) {
        size_t n = strlen(tr->specials[i]);
        if (next[i] == SIZE_MAX || next[i] < pos) {
            const char *p = memmem(s + pos, len - pos, tr->specials[i], n);
            next[i] = p ? (size_t)(p - s) : len;
        }
        if (next[i] < len && (next[i] < best || (next[i] == best && n > best_len))) {
            best = next[i];
            best_len = n;
            *which = i;
        }
    }
    return best;
}

typedef int (*word_fn)(tok_trainer *tr, const char *w, size_t n, void *user, err_t *e);

/* The pieces of s (no special tokens in it) as the Split pre-tokenizer
 * with behavior Isolated gives them: each match and each gap between. */
static int split_words(tok_trainer *tr, const char *s, size_t len, word_fn fn, void *user, err_t *e)
{
    size_t prev = 0, start = 0, last_end = (size_t)-1;
    while (start < len) {
        int rc = pcre2_match(tr->re, (PCRE2_SPTR)s, len, start, PCRE2_NO_UTF_CHECK, tr->md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return err_set(e, "the split pattern failed at byte %zu: %s", start, (char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(tr->md);
        size_t ms = ov[0], me = ov[1];
        uint32_t cp;
        if (ms == me && ms == last_end) { /* no empty match right after a match */
            start = ms + utf8_decode(s + ms, len - ms, &cp);
            continue;
        }
        if (prev != ms && fn(tr, s + prev, ms - prev, user, e))
            return -1;
        if (me > ms && fn(tr, s + ms, me - ms, user, e))
            return -1;
        prev = last_end = me;
        start = me > ms ? me : me + utf8_decode(s + me, len - me, &cp);
    }
    if (prev < len && fn(tr, s + prev, len - prev, user, e))
        return -1;
    return 0;
}

typedef int (*special_fn)(tok_trainer *tr, size_t which, void *user);

/* Walks text: each special token, and the words between them. */
static int walk(tok_trainer *tr, const char *text, size_t len, word_fn wfn, special_fn sfn, void *user,
                err_t *e)
{
    size_t pos = 0, *next = xmalloc(sizeof *next * tr->nspecials);
    for (size_t i = 0; i < tr->nspecials; i++)
        next[i] = SIZE_MAX; /* not searched yet */
    int rc = 0;
    while (pos < len && rc == 0) {
        size_t which = 0, at = find_special(tr, text, len, pos, next, &which);
        if (at > pos && split_words(tr, text + pos, at - pos, wfn, user, e))
            rc = -1;
        else if (at == len)
            break;
        else if (sfn && sfn(tr, which, user))
            rc = -1;
        else
            pos = at + strlen(tr->specials[which]);
    }
    free(next);
    return rc;
}

static int count_word(tok_trainer *tr, const char *w, size_t n, void *user, err_t *e)
{
    (void)user;
    if (n > UINT32_MAX)
        return err_set(e, "a word of %zu bytes is too long", n);
    int32_t ix = tok_smap_get(&tr->words, w, n);
    if (ix >= 0) {
        tr->wcount[ix]++;
        return 0;
    }
    if (tr->nwords >= INT32_MAX)
        return err_set(e, "more than %d distinct words", INT32_MAX);
    size_t i = tr->nwords++, cap = tr->capwords;
    tr->wcount = grow(tr->wcount, &cap, tr->nwords, sizeof *tr->wcount);
    cap = tr->capwords;
    tr->woff = grow(tr->woff, &cap, tr->nwords, sizeof *tr->woff);
    cap = tr->capwords;
    tr->wlen = grow(tr->wlen, &cap, tr->nwords, sizeof *tr->wlen);
    cap = tr->capwords;
    tr->wstamp = grow(tr->wstamp, &cap, tr->nwords, sizeof *tr->wstamp);
    tr->capwords = cap;
    tr->wcount[i] = 1;
    tr->woff[i] = tr->nsym;
    tr->wlen[i] = (uint32_t)n;
    tr->wstamp[i] = 0;
    tr->sym = grow(tr->sym, &tr->capsym, tr->nsym + n, sizeof *tr->sym);
    for (size_t k = 0; k < n; k++)
        tr->sym[tr->nsym++] = tr->byte_id[(unsigned char)w[k]];
    tok_smap_put(&tr->words, w, n, (int32_t)i);
    return 0;
}

int tok_trainer_feed(tok_trainer *tr, const char *text, size_t len, const char *name, err_t *e)
{
    if (tr->trained)
        return err_set(e, "%s: the tokenizer is already trained", name);
    if (!utf8_valid(text, len)) {
        size_t ok = 0;
        while (ok < len) { /* the first byte where valid UTF-8 ends */
            size_t k = 1;
            while (ok + k <= len && k <= 4 && !utf8_valid(text + ok, k))
                k++;
            if (ok + k > len || k > 4)
                break;
            ok += k;
        }
        return err_set(e, "%s: not valid UTF-8 (at byte %zu)", name, ok);
    }
    if (walk(tr, text, len, count_word, NULL, NULL, e)) {
        err_t inner = *e;
        return err_set(e, "%s: %s", name, inner.msg);
    }
    return 0;
}

/* ---- pair statistics */

static int hent_before(const tok_trainer *tr, const hent *x, const hent *y)
{
    if (x->count != y->count)
        return x->count > y->count;
    const pair_t *p = &tr->pairs[x->pair], *q = &tr->pairs[y->pair];
    return p->a != q->a ? p->a < q->a : p->b < q->b;
}

static void heap_push(tok_trainer *tr, int64_t count, uint32_t pair)
{
    tr->heap = grow(tr->heap, &tr->capheap, tr->nheap + 1, sizeof *tr->heap);
    hent h = {count, pair};
    size_t i = tr->nheap++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!hent_before(tr, &h, &tr->heap[up]))
            break;
        tr->heap[i] = tr->heap[up];
        i = up;
    }
    tr->heap[i] = h;
}

static hent heap_pop(tok_trainer *tr)
{
    hent top = tr->heap[0], last = tr->heap[--tr->nheap];
    size_t i = 0, n = tr->nheap;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const hent *best = &last;
        if (l < n && hent_before(tr, &tr->heap[l], best)) {
            m = l;
            best = &tr->heap[l];
        }
        if (r < n && hent_before(tr, &tr->heap[r], best))
            m = r;
        if (m == i)
            break;
        tr->heap[i] = tr->heap[m];
        i = m;
    }
    if (n)
        tr->heap[i] = last;
    return top;
}

/* Adds delta to the count of (a, b) as word w holds it; a raised pair
 * remembers w and is queued for the heap. */
static void change(tok_trainer *tr, int32_t a, int32_t b, int64_t delta, uint32_t w, uint32_t stamp)
{
    const tok_pmap_slot *s = tok_pmap_get(&tr->pair_ix, a, b);
    uint32_t pi;
    if (s) {
        pi = (uint32_t)s->rank;
    } else {
        pi = (uint32_t)tr->npairs;
        tr->pairs = grow(tr->pairs, &tr->cappairs, tr->npairs + 1, sizeof *tr->pairs);
        tr->pairs[tr->npairs++] = (pair_t){.a = a, .b = b, .touched = UINT32_MAX};
        tok_pmap_put(&tr->pair_ix, a, b, (int32_t)pi, 0);
    }
    pair_t *p = &tr->pairs[pi];
    p->count += delta;
    if (delta <= 0)
        return;
    if (!p->nw || p->where[p->nw - 1] != w) {
        size_t cap = p->capw;
        p->where = grow(p->where, &cap, (size_t)p->nw + 1, sizeof *p->where);
        p->capw = (uint32_t)cap;
        p->where[p->nw++] = w;
    }
    if (p->touched != stamp) {
        p->touched = stamp;
        tr->raised = grow(tr->raised, &tr->capraised, tr->nraised + 1, sizeof *tr->raised);
        tr->raised[tr->nraised++] = pi;
    }
}

/* Rewrites word w with every (a, b), left to right without overlaps, as
 * z, keeping the pair counts true (tokenizers' Word::merge). */
static void merge_word(tok_trainer *tr, uint32_t w, int32_t a, int32_t b, int32_t z, uint32_t stamp)
{
    int32_t *s = tr->sym + tr->woff[w];
    size_t n = tr->wlen[w], i = 0, j = 0;
    int64_t c = tr->wcount[w];
    while (i < n) {
        if (i + 1 < n && s[i] == a && s[i + 1] == b) {
            if (j > 0) { /* s[j - 1] is what precedes, merged already if it was a pair */
                change(tr, s[j - 1], a, -c, w, stamp);
                change(tr, s[j - 1], z, c, w, stamp);
            }
            if (i + 2 < n) {
                change(tr, b, s[i + 2], -c, w, stamp);
                change(tr, z, s[i + 2], c, w, stamp);
            }
            s[j++] = z;
            i += 2;
        } else {
            s[j++] = s[i++];
        }
    }
    tr->wlen[w] = (uint32_t)j;
}

int tok_trainer_train(tok_trainer *tr, err_t *e)
{
    if (tr->trained)
        return err_set(e, "the tokenizer is already trained");
    tr->trained = 1;
    uint32_t stamp = 1;
    for (size_t w = 0; w < tr->nwords; w++) {
        const int32_t *s = tr->sym + tr->woff[w];
        for (uint32_t i = 0; i + 1 < tr->wlen[w]; i++)
            change(tr, s[i], s[i + 1], tr->wcount[w], (uint32_t)w, stamp);
    }
    for (size_t i = 0; i < tr->nraised; i++)
        heap_push(tr, tr->pairs[tr->raised[i]].count, tr->raised[i]);
    tr->nraised = 0;
    buf_t tokbuf;
    buf_init(&tokbuf);
    while (tr->ntok < tr->target && tr->nheap) {
        hent top = heap_pop(tr);
        int64_t now = tr->pairs[top.pair].count;
        if (now != top.count) {
            /* lowered since it was queued: queue the true count; raised:
             * the raise queued an entry of its own */
            if (now < top.count && now > 0)
                heap_push(tr, now, top.pair);
            continue;
        }
        if (now < tr->min_freq)
            break;
        int32_t a = tr->pairs[top.pair].a, b = tr->pairs[top.pair].b;
        buf_reset(&tokbuf);
        buf_append(&tokbuf, tr->tbytes.data + tr->toff[a], tr->tlen[a]);
        buf_append(&tokbuf, tr->tbytes.data + tr->toff[b], tr->tlen[b]);
        /* two merges can spell the same bytes ("ab"+"c", "a"+"bc"): one token */
        int32_t z = tok_smap_get(&tr->tok_by_bytes, tokbuf.data, tokbuf.len);
        if (z < 0)
            z = add_token(tr, tokbuf.data, tokbuf.len);
        tr->merges = grow(tr->merges, &tr->capmerges, tr->nmerges + 1, sizeof *tr->merges);
        tr->merges[tr->nmerges][0] = a;
        tr->merges[tr->nmerges][1] = b;
        tr->nmerges++;
        stamp++;
        for (uint32_t k = 0; k < tr->pairs[top.pair].nw; k++) {
            uint32_t w = tr->pairs[top.pair].where[k];
            if (tr->wstamp[w] == stamp)
                continue;
            tr->wstamp[w] = stamp;
            merge_word(tr, w, a, b, z, stamp);
        }
        pair_t *p = &tr->pairs[top.pair];
        p->count = 0;
        free(p->where);
        p->where = NULL;
        p->nw = p->capw = 0;
        for (size_t i = 0; i < tr->nraised; i++)
            if (tr->pairs[tr->raised[i]].count > 0)
                heap_push(tr, tr->pairs[tr->raised[i]].count, tr->raised[i]);
        tr->nraised = 0;
    }
    buf_free(&tokbuf);
    return 0;
}

size_t tok_trainer_vocab_size(const tok_trainer *tr)
{
    return tr->ntok + tr->nspecials;
}

/* ---- the segmentation training gave */

typedef struct enc_out {
    int32_t *ids;
    size_t n, cap;
} enc_out;

static int enc_word(tok_trainer *tr, const char *w, size_t n, void *user, err_t *e)
{
    enc_out *o = user;
    int32_t ix = tok_smap_get(&tr->words, w, n);
    if (ix < 0)
        return err_set(e, "the word '%.*s' was not in the training corpus", (int)(n > 60 ? 60 : n), w);
    o->ids = grow(o->ids, &o->cap, o->n + tr->wlen[ix], sizeof *o->ids);
    memcpy(o->ids + o->n, tr->sym + tr->woff[ix], tr->wlen[ix] * sizeof *o->ids);
    o->n += tr->wlen[ix];
    return 0;
}

static int enc_special(tok_trainer *tr, size_t which, void *user)
{
    enc_out *o = user;
    o->ids = grow(o->ids, &o->cap, o->n + 1, sizeof *o->ids);
    o->ids[o->n++] = (int32_t)(tr->ntok + which);
    return 0;
}

int tok_trainer_encode(const tok_trainer *tr, const char *text, size_t len, int32_t **ids,
                       size_t *n, err_t *e)
{
    *ids = NULL;
    *n = 0;
    if (!utf8_valid(text, len))
        return err_set(e, "the text to encode is not valid UTF-8");
    enc_out o = {0};
    /* walk() only reads the trainer (its match data is scratch) */
    if (walk((tok_trainer *)tr, text, len, enc_word, enc_special, &o, e)) {
        free(o.ids);
        return -1;
    }
    *ids = o.ids ? o.ids : xmalloc(sizeof(int32_t));
    *n = o.n;
    return 0;
}

/* ---- the files */

/* The byte-level spelling of id's bytes. */
static void token_string(const tok_trainer *tr, int32_t id, buf_t *out)
{
    buf_reset(out);
    for (uint32_t i = 0; i < tr->tlen[id]; i++) {
        char u[4];
        uint32_t cp = tok_byte_char((uint8_t)tr->tbytes.data[tr->toff[id] + i]);
        /* code points below 0x800: one or two UTF-8 bytes */
        if (cp < 0x80) {
            u[0] = (char)cp;
            buf_append(out, u, 1);
        } else {
            u[0] = (char)(0xC0 | (cp >> 6));
            u[1] = (char)(0x80 | (cp & 0x3F));
            buf_append(out, u, 2);
        }
    }
}

static json_t *bytelevel(const char *type)
{
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "add_prefix_space", json_false());
    json_object_set_new(o, "trim_offsets", json_false());
    json_object_set_new(o, "use_regex", json_false());
    return o;
}

/* An added token's entry; id < 0 leaves the id out (tokenizer_config's
 * added_tokens_decoder keys it instead). */
static json_t *added_token(const char *content, int32_t id)
{
    json_t *o = json_object();
    if (id >= 0)
        json_object_set_new(o, "id", json_integer(id));
    json_object_set_new(o, "content", json_string(content));
    json_object_set_new(o, "single_word", json_false());
    json_object_set_new(o, "lstrip", json_false());
    json_object_set_new(o, "rstrip", json_false());
    json_object_set_new(o, "normalized", json_false());
    json_object_set_new(o, "special", json_true());
    return o;
}

static json_t *tokenizer_json(const tok_trainer *tr)
{
    json_t *root = json_object();
    json_object_set_new(root, "version", json_string("1.0"));
    json_object_set_new(root, "truncation", json_null());
    json_object_set_new(root, "padding", json_null());
    json_t *added = json_array();
    for (size_t i = 0; i < tr->nspecials; i++)
        json_array_append_new(added, added_token(tr->specials[i], (int32_t)(tr->ntok + i)));
    json_object_set_new(root, "added_tokens", added);
    json_object_set_new(root, "normalizer", json_null());
    json_t *split = json_object();
    json_object_set_new(split, "type", json_string("Split"));
    json_t *pat = json_object();
    json_object_set_new(pat, "Regex", json_string(QWEN2_PATTERN));
    json_object_set_new(split, "pattern", pat);
    json_object_set_new(split, "behavior", json_string("Isolated"));
    json_object_set_new(split, "invert", json_false());
    json_t *seq = json_object();
    json_object_set_new(seq, "type", json_string("Sequence"));
    json_t *list = json_array();
    json_array_append_new(list, split);
    json_array_append_new(list, bytelevel("ByteLevel"));
    json_object_set_new(seq, "pretokenizers", list);
    json_object_set_new(root, "pre_tokenizer", seq);
    json_object_set_new(root, "post_processor", bytelevel("ByteLevel"));
    json_object_set_new(root, "decoder", bytelevel("ByteLevel"));
    json_t *model = json_object();
    json_object_set_new(model, "type", json_string("BPE"));
    json_object_set_new(model, "dropout", json_null());
    json_object_set_new(model, "unk_token", json_null());
    json_object_set_new(model, "continuing_subword_prefix", json_string(""));
    json_object_set_new(model, "end_of_word_suffix", json_string(""));
    json_object_set_new(model, "fuse_unk", json_false());
    json_object_set_new(model, "byte_fallback", json_false());
    json_object_set_new(model, "ignore_merges", json_false());
    json_t *vocab = json_object();
    buf_t s, s2;
    buf_init(&s);
    buf_init(&s2);
    for (size_t id = 0; id < tr->ntok; id++) {
        token_string(tr, (int32_t)id, &s);
        json_object_setn_new(vocab, s.data, s.len, json_integer((json_int_t)id));
    }
    json_object_set_new(model, "vocab", vocab);
    json_t *merges = json_array();
    for (size_t i = 0; i < tr->nmerges; i++) {
        token_string(tr, tr->merges[i][0], &s);
        token_string(tr, tr->merges[i][1], &s2);
        json_t *pr = json_array();
        json_array_append_new(pr, json_stringn(s.data, s.len));
        json_array_append_new(pr, json_stringn(s2.data, s2.len));
        json_array_append_new(merges, pr);
    }
    json_object_set_new(model, "merges", merges);
    json_object_set_new(root, "model", model);
    buf_free(&s);
    buf_free(&s2);
    return root;
}

/* {"content": ..., "lstrip": false, ...} as special_tokens_map.json writes a token */
static json_t *token_ref(const char *content)
{
    json_t *o = json_object();
    json_object_set_new(o, "content", json_string(content));
    json_object_set_new(o, "lstrip", json_false());
    json_object_set_new(o, "normalized", json_false());
    json_object_set_new(o, "rstrip", json_false());
    json_object_set_new(o, "single_word", json_false());
    return o;
}

static json_t *tokenizer_config(const tok_trainer *tr)
{
    json_t *root = json_object();
    json_object_set_new(root, "add_bos_token", json_false());
    json_object_set_new(root, "add_prefix_space", json_false());
    json_t *dec = json_object();
    for (size_t i = 0; i < tr->nspecials; i++) {
        char key[32];
        snprintf(key, sizeof key, "%zu", tr->ntok + i);
        json_object_set_new(dec, key, added_token(tr->specials[i], -1));
    }
    json_object_set_new(root, "added_tokens_decoder", dec);
    json_t *extra = json_array();
    for (size_t i = 1; i < tr->nspecials; i++)
        json_array_append_new(extra, json_string(tr->specials[i]));
    json_object_set_new(root, "additional_special_tokens", extra);
    json_object_set_new(root, "bos_token", json_string("<|endoftext|>"));
    json_object_set_new(root, "chat_template", json_string(CHATML_TEMPLATE));
    json_object_set_new(root, "clean_up_tokenization_spaces", json_false());
    json_object_set_new(root, "eos_token", json_string("<|im_end|>"));
    json_object_set_new(root, "errors", json_string("replace"));
    json_object_set_new(root, "model_max_length", json_integer(32768));
    json_object_set_new(root, "pad_token", json_string("<|endoftext|>"));
    json_object_set_new(root, "split_special_tokens", json_false());
    json_object_set_new(root, "tokenizer_class", json_string("PreTrainedTokenizerFast"));
    json_object_set_new(root, "unk_token", json_null());
    return root;
}

static json_t *special_tokens_map(const tok_trainer *tr)
{
    json_t *root = json_object();
    json_t *extra = json_array();
    for (size_t i = 1; i < tr->nspecials; i++)
        json_array_append_new(extra, json_string(tr->specials[i]));
    json_object_set_new(root, "additional_special_tokens", extra);
    json_object_set_new(root, "bos_token", token_ref("<|endoftext|>"));
    json_object_set_new(root, "eos_token", token_ref("<|im_end|>"));
    json_object_set_new(root, "pad_token", token_ref("<|endoftext|>"));
    return root;
}

static int write_json(const char *dir, const char *name, json_t *root, err_t *e)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *text = json_dumps(root, JSON_INDENT(2));
    json_decref(root);
    if (!text)
        return err_set(e, "%s: could not render the JSON", path);
    size_t n = strlen(text);
    int rc = file_write_atomic(path, text, n, e);
    free(text);
    return rc;
}

int tok_trainer_save(const tok_trainer *tr, const char *dir, err_t *e)
{
    if (!tr->trained)
        return err_set(e, "%s: the tokenizer is not trained yet", dir);
    if (dir_make(dir, e) != 0)
        return -1;
    if (write_json(dir, "tokenizer.json", tokenizer_json(tr), e) ||
        write_json(dir, "tokenizer_config.json", tokenizer_config(tr), e) ||
        write_json(dir, "special_tokens_map.json", special_tokens_map(tr), e))
        return -1;
    return 0;
}
