/* model/tokenizer: encoding and decoding, step for step as Hugging Face's
 * tokenizers does it:
 *
 *   text -> added tokens cut out (leftmost-longest; lstrip/rstrip)
 *        -> each piece between them normalized (NFC ...), then cut at the
 *           added tokens that match normalized text
 *        -> pre-tokenized (Split regex, ByteLevel, Digits) into words
 *        -> each word: BPE over its bytes (the byte-level alphabet is one
 *           symbol per byte), the lowest-ranked pair merged first
 *
 * A word's ids are cached (most words repeat), the merge loop is a binary
 * heap over a linked list of symbols, so a word of n bytes costs
 * O(n log n) however long it is. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tok_internal.h"

/* Words up to this many bytes are cached; the cache is emptied when it
 * holds this many words or ids. */
#define CACHE_MAX_WORD 256
#define CACHE_MAX_WORDS 200000
#define CACHE_MAX_IDS (4u << 20)

typedef struct piece {
    size_t off, len; /* in ctx.work */
} piece;

typedef struct split {
    size_t s, e;
    int match;
} split;

typedef struct merge {
    int32_t rank, pos, id;
} merge;

typedef struct enc_ctx {
    const tok_t *t;
    int special;
    err_t *e;
    buf_t work; /* the normalized text and any text a step makes */
    piece *pa, *pb;
    size_t na, nb, capa, capb;
    split *sp;
    size_t nsp, capsp;
    int32_t *out;
    size_t nout, capout;
    /* BPE scratch, sized to the longest word so far */
    int32_t *sym, *prev, *next;
    uint8_t *alive;
    merge *heap;
    size_t capsym, caph;
    pcre2_match_data *md;
} enc_ctx;

/* Unicode White_Space, which is what Rust's char::is_whitespace tests
 * (the lstrip/rstrip of added tokens). */
static int is_ws(uint32_t c)
{
    return (c >= 9 && c <= 13) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

/* Rust's char::is_alphanumeric plus '_': the word characters of
 * single_word added tokens. */
static int is_word_char(uint32_t c)
{
    if (c == '_')
        return 1;
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
           (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
}

static int is_numeric(uint32_t c)
{
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO;
}

/* The code point that ends at s[end] (end > 0), and its start. */
static uint32_t prev_char(const char *s, size_t end, size_t *start)
{
    size_t i = end - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
        i--;
    uint32_t cp;
    utf8_decode(s + i, end - i, &cp);
    *start = i;
    return cp;
}

static void out_push(enc_ctx *c, int32_t id)
{
    if (c->nout == c->capout) {
        c->capout = c->capout ? c->capout * 2 : 256;
        c->out = xrealloc(c->out, c->capout * sizeof *c->out);
    }
    c->out[c->nout++] = id;
}

static void pieces_push(piece **p, size_t *n, size_t *cap, size_t off, size_t len)
{
    if (!len)
        return; /* empty pieces vanish, as in tokenizers */
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *p = xrealloc(*p, *cap * sizeof **p);
    }
    (*p)[*n].off = off;
    (*p)[*n].len = len;
    (*n)++;
}

static void split_push(enc_ctx *c, size_t s, size_t e, int match)
{
    if (c->nsp == c->capsp) {
        c->capsp = c->capsp ? c->capsp * 2 : 64;
        c->sp = xrealloc(c->sp, c->capsp * sizeof *c->sp);
    }
    c->sp[c->nsp].s = s;
    c->sp[c->nsp].e = e;
    c->sp[c->nsp].match = match;
    c->nsp++;
}

/* ---- the encode cache */
static int cache_get(const tok_t *t, const char *w, size_t n, enc_ctx *c)
{
    tok_cache *k = t->cache;
    pthread_mutex_lock(&k->mu);
    int32_t i = tok_smap_get(&k->map, w, n);
    if (i >= 0)
        for (uint32_t j = 0; j < k->spans[i].len; j++)
            out_push(c, k->ids[k->spans[i].off + j]);
    pthread_mutex_unlock(&k->mu);
    return i >= 0;
}

static void cache_put(const tok_t *t, const char *w, size_t n, const int32_t *ids, size_t nids)
{
    tok_cache *k = t->cache;
    pthread_mutex_lock(&k->mu);
    if (k->nspans >= CACHE_MAX_WORDS || k->nids + nids > CACHE_MAX_IDS) {
        tok_smap_free(&k->map);
        tok_smap_init(&k->map);
        k->nspans = k->nids = 0;
    }
    if (tok_smap_get(&k->map, w, n) < 0) {
        if (k->nspans == k->capspans) {
            k->capspans = k->capspans ? k->capspans * 2 : 1024;
            k->spans = xrealloc(k->spans, k->capspans * sizeof *k->spans);
        }
        if (k->nids + nids > k->capids) {
            k->capids = k->capids ? k->capids * 2 : 8192;
            while (k->capids < k->nids + nids)
                k->capids *= 2;
            k->ids = xrealloc(k->ids, k->capids * sizeof *k->ids);
        }
        k->spans[k->nspans].off = (uint32_t)k->nids;
        k->spans[k->nspans].len = (uint32_t)nids;
        if (nids)
            memcpy(k->ids + k->nids, ids, nids * sizeof *ids);
        k->nids += nids;
        tok_smap_put(&k->map, w, n, (int32_t)k->nspans++);
    }
    pthread_mutex_unlock(&k->mu);
}

/* ---- BPE: the merge loop of tokenizers' Word::merge_all. A min-heap of
 * candidate merges ordered by (rank, position); an entry whose symbols
 * have changed since it was pushed is stale and skipped. */
static int merge_less(const merge *a, const merge *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(merge *h, size_t *n, merge m)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!merge_less(&m, &h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = m;
}

static merge heap_pop(merge *h, size_t *n)
{
    merge top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const merge *best = &last;
        if (l < *n && merge_less(&h[l], best))
            m = l, best = &h[l];
        if (r < *n && merge_less(&h[r], best))
            m = r;
        if (m == i)
            break;
        h[i] = h[m];
        i = m;
    }
    if (*n)
        h[i] = last;
    return top;
}

static void bpe_scratch(enc_ctx *c, size_t n)
{
    if (n <= c->capsym)
        return;
    c->capsym = n;
    c->sym = xrealloc(c->sym, n * sizeof *c->sym);
    c->prev = xrealloc(c->prev, n * sizeof *c->prev);
    c->next = xrealloc(c->next, n * sizeof *c->next);
    c->alive = xrealloc(c->alive, n);
    /* each merge pushes at most two entries: n - 1 initial + 2 per merge */
    c->caph = 3 * n;
    c->heap = xrealloc(c->heap, c->caph * sizeof *c->heap);
}

static void bpe_word(enc_ctx *c, const char *w, size_t n)
{
    const tok_t *t = c->t;
    if (n == 1 && t->byte_id[(unsigned char)w[0]] >= 0) {
        out_push(c, t->byte_id[(unsigned char)w[0]]);
        return;
    }
    if (t->ignore_merges) { /* a word that is itself a token is not merged */
        int32_t id = tok_smap_get(&t->by_bytes, w, n);
        if (id >= 0) {
            out_push(c, id);
            return;
        }
    }
    int cacheable = n <= CACHE_MAX_WORD;
    if (cacheable && cache_get(t, w, n, c))
        return;
    bpe_scratch(c, n);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_id[(unsigned char)w[i]];
        if (id < 0)
            id = t->unk; /* a byte missing from the vocabulary: unk, or dropped */
        if (id < 0)
            continue;
        c->sym[m] = id;
        c->prev[m] = (int32_t)m - 1;
        c->next[m] = (int32_t)m + 1;
        c->alive[m] = 1;
        m++;
    }
    if (!m)
        return; /* no byte of the word is in the vocabulary */
    c->next[m - 1] = -1;
    size_t nh = 0;
    for (size_t i = 0; i + 1 < m; i++) {
        const tok_pmap_slot *s = tok_pmap_get(&t->merges, c->sym[i], c->sym[i + 1]);
        if (s)
            heap_push(c->heap, &nh, (merge){s->rank, (int32_t)i, s->id});
    }
    while (nh) {
        merge top = heap_pop(c->heap, &nh);
        int32_t pos = top.pos, nx = c->next[pos];
        if (!c->alive[pos] || nx < 0)
            continue;
        const tok_pmap_slot *s = tok_pmap_get(&t->merges, c->sym[pos], c->sym[nx]);
        if (!s || s->id != top.id)
            continue; /* stale */
        c->sym[pos] = top.id;
        c->alive[nx] = 0;
        c->next[pos] = c->next[nx];
        if (c->next[nx] >= 0)
            c->prev[c->next[nx]] = pos;
        int32_t pv = c->prev[pos];
        if (pv >= 0 && (s = tok_pmap_get(&t->merges, c->sym[pv], c->sym[pos])))
            heap_push(c->heap, &nh, (merge){s->rank, pv, s->id});
        nx = c->next[pos];
        if (nx >= 0 && (s = tok_pmap_get(&t->merges, c->sym[pos], c->sym[nx])))
            heap_push(c->heap, &nh, (merge){s->rank, pos, s->id});
    }
    size_t first = c->nout;
    for (int32_t i = 0; i >= 0; i = c->next[i])
        out_push(c, c->sym[i]);
    if (cacheable)
        cache_put(t, w, n, c->out + first, c->nout - first);
}

/* ---- pre-tokenizers. Each turns the pieces in pa into pb, then the two
 * swap. */

/* The matches of re in s[0..len) and the gaps between them, covering all
 * of s, as tokenizers' Pattern::find_matches lists them. */
static int regex_splits(enc_ctx *c, pcre2_code *re, const char *s, size_t len)
{
    c->nsp = 0;
    if (!len) {
        split_push(c, 0, 0, 0);
        return 0;
    }
    size_t prev = 0, start = 0, last_end = (size_t)-1;
    while (start <= len) {
        int rc = pcre2_match(re, (PCRE2_SPTR)s, len, start, PCRE2_NO_UTF_CHECK, c->md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return err_set(c->e, "%s: the split pattern failed at byte %zu: %s", c->t->name, start,
                           (char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
        size_t ms = ov[0], me = ov[1];
        if (ms == me && ms == last_end) {
            /* no empty match right after a match (onig's find_iter) */
            if (ms >= len)
                break;
            uint32_t cp;
            start = ms + utf8_decode(s + ms, len - ms, &cp);
            continue;
        }
        if (prev != ms)
            split_push(c, prev, ms, 0);
        split_push(c, ms, me, 1);
        prev = last_end = me;
        start = me;
        if (ms == me) {
            if (me >= len)
                break;
            uint32_t cp;
            start = me + utf8_decode(s + me, len - me, &cp);
        }
    }
    if (prev != len)
        split_push(c, prev, len, 0);
    return 0;
}

/* Each numeric character is a match of its own (a char-predicate pattern). */
static void digit_splits(enc_ctx *c, const char *s, size_t len)
{
    c->nsp = 0;
    size_t last = 0, i = 0;
    while (i < len) {
        uint32_t cp;
        size_t k = utf8_decode(s + i, len - i, &cp);
        if (is_numeric(cp)) {
            if (last < i)
                split_push(c, last, i, 0);
            split_push(c, i, i + k, 1);
            last = i + k;
        }
        i += k;
    }
    if (last < len)
        split_push(c, last, len, 0);
}

/* SplitDelimiterBehavior applied to c->sp; the pieces go to pb. */
static void apply_behavior(enc_ctx *c, size_t base, int behavior, int invert)
{
    split *m = c->sp;
    size_t n = c->nsp, k = 0;
    if (invert)
        for (size_t i = 0; i < n; i++)
            m[i].match = !m[i].match;
    /* fold in place into m[0..k): entries kept are those not removed */
    int previous = 0;
    switch (behavior) {
    case TOK_SPLIT_ISOLATED:
        k = n;
        for (size_t i = 0; i < n; i++)
            m[i].match = 0;
        break;
    case TOK_SPLIT_REMOVED:
        for (size_t i = 0; i < n; i++)
            if (!m[i].match)
                m[k++] = m[i];
        break;
    case TOK_SPLIT_CONTIGUOUS:
        for (size_t i = 0; i < n; i++) {
            int im = m[i].match;
            if (im == previous && k)
                m[k - 1].e = m[i].e;
            else
                m[k++] = m[i];
            previous = im;
        }
        break;
    case TOK_SPLIT_MERGED_PREV:
        for (size_t i = 0; i < n; i++) {
            int im = m[i].match;
            if (im && !previous && k)
                m[k - 1].e = m[i].e;
            else
                m[k++] = m[i];
            previous = im;
        }
        break;
    case TOK_SPLIT_MERGED_NEXT: { /* the same fold from the right */
        size_t w = n;
        for (size_t i = n; i-- > 0;) {
            int im = m[i].match;
            if (im && !previous && w < n)
                m[w].s = m[i].s;
            else
                m[--w] = m[i];
            previous = im;
        }
        memmove(m, m + w, (n - w) * sizeof *m);
        k = n - w;
        break;
    }
    }
    for (size_t i = 0; i < k; i++)
        pieces_push(&c->pb, &c->nb, &c->capb, base + m[i].s, m[i].e - m[i].s);
}

static int pre_tokenize(enc_ctx *c)
{
    const tok_t *t = c->t;
    for (size_t p = 0; p < t->npres; p++) {
        const tok_pre *pre = &t->pres[p];
        c->nb = 0;
        for (size_t i = 0; i < c->na; i++) {
            size_t off = c->pa[i].off, len = c->pa[i].len;
            if (pre->kind == TOK_PRE_BYTELEVEL) {
                if (pre->add_prefix_space && c->work.data[off] != ' ') {
                    size_t noff = c->work.len;
                    buf_reserve(&c->work, len + 1); /* the copy reads from work itself */
                    buf_putc(&c->work, ' ');
                    buf_append(&c->work, c->work.data + off, len);
                    off = noff;
                    len++;
                }
                if (!pre->re) {
                    pieces_push(&c->pb, &c->nb, &c->capb, off, len);
                    continue;
                }
                if (regex_splits(c, pre->re, c->work.data + off, len))
                    return -1;
                apply_behavior(c, off, TOK_SPLIT_ISOLATED, 0);
            } else if (pre->kind == TOK_PRE_SPLIT) {
                if (regex_splits(c, pre->re, c->work.data + off, len))
                    return -1;
                apply_behavior(c, off, pre->behavior, pre->invert);
            } else {
                digit_splits(c, c->work.data + off, len);
                apply_behavior(c, off, pre->individual_digits ? TOK_SPLIT_ISOLATED : TOK_SPLIT_CONTIGUOUS,
                               0);
            }
        }
        piece *tp = c->pa;
        c->pa = c->pb;
        c->pb = tp;
        size_t tcap = c->capa;
        c->capa = c->capb;
        c->capb = tcap;
        c->na = c->nb;
    }
    return 0;
}

/* A stretch of normalized text without added tokens: pre-tokenize, BPE. */
static int encode_words(enc_ctx *c, const char *s, size_t len)
{
    if (!len)
        return 0;
    buf_reset(&c->work);
    buf_append(&c->work, s, len);
    c->na = 0;
    pieces_push(&c->pa, &c->na, &c->capa, 0, len);
    if (pre_tokenize(c))
        return -1;
    for (size_t i = 0; i < c->na; i++)
        bpe_word(c, c->work.data + c->pa[i].off, c->pa[i].len);
    return 0;
}

/* ---- added tokens. Finds the leftmost-longest added token in s at or
 * after pos (normalized: which kind; special tokens only with
 * c->special). Returns its index, or -1; *ms, *me is the stretch it takes
 * with lstrip/rstrip, never before floor. */
static int find_added(enc_ctx *c, const char *s, size_t len, size_t pos, size_t floor, int normalized,
                      size_t *ms, size_t *me)
{
    const tok_t *t = c->t;
    while (pos < len) {
        unsigned char b = (unsigned char)s[pos];
        uint32_t lo = t->added_first[b], hi = t->added_first[b + 1];
        int found = -1;
        for (uint32_t j = lo; j < hi; j++) {
            const tok_added *a = &t->added[t->added_order[j]];
            if (normalized >= 0 && a->normalized != normalized)
                continue;
            if (a->special && !c->special)
                continue;
            if (a->len <= len - pos && !memcmp(s + pos, a->content, a->len)) {
                found = (int)t->added_order[j];
                break;
            }
        }
        if (found < 0) {
            pos++;
            continue;
        }
        const tok_added *a = &t->added[found];
        size_t start = pos, end = pos + a->len;
        if (a->single_word) {
            size_t k;
            uint32_t cp;
            int before = start > 0 && is_word_char(prev_char(s, start, &k));
            int after = end < len && (utf8_decode(s + end, len - end, &cp), is_word_char(cp));
            if (before || after) {
                pos = end; /* tokenizers moves on past a refused match */
                continue;
            }
        }
        if (a->lstrip) {
            size_t k;
            while (start > floor && is_ws(prev_char(s, start, &k)))
                start = k;
        }
        if (a->rstrip) {
            while (end < len) {
                uint32_t cp;
                size_t k = utf8_decode(s + end, len - end, &cp);
                if (!is_ws(cp))
                    break;
                end += k;
            }
        }
        *ms = start;
        *me = end;
        return found;
    }
    return -1;
}

/* Cuts added tokens (of one kind, or all with normalized = -1) out of s;
 * the text between them goes on to next(). */
static int cut_added(enc_ctx *c, const char *s, size_t len, int normalized,
                     int (*next)(enc_ctx *, const char *, size_t))
{
    size_t seg = 0, ms, me;
    int i;
    while (seg < len && (i = find_added(c, s, len, seg, seg, normalized, &ms, &me)) >= 0) {
        if (ms > seg && next(c, s + seg, ms - seg))
            return -1;
        out_push(c, c->t->added[i].id);
        seg = me;
    }
    if (seg < len)
        return next(c, s + seg, len - seg);
    return 0;
}

static int cut_normalized_added(enc_ctx *c, const char *s, size_t len)
{
    return cut_added(c, s, len, 1, encode_words);
}

static int normalize_then_encode(enc_ctx *c, const char *s, size_t len)
{
    const tok_t *t = c->t;
    if (!t->nnorms)
        return encode_words(c, s, len);
    int ascii = 1;
    for (size_t i = 0; i < len && ascii; i++)
        ascii = (unsigned char)s[i] < 0x80;
    if (ascii) /* ASCII is stable under every normalization form */
        return t->has_normalized_added ? cut_normalized_added(c, s, len) : encode_words(c, s, len);
    utf8proc_uint8_t *cur = NULL;
    size_t curlen = len;
    for (size_t k = 0; k < t->nnorms; k++) {
        static const utf8proc_option_t opts[] = {
            [TOK_NFC] = UTF8PROC_STABLE | UTF8PROC_COMPOSE,
            [TOK_NFD] = UTF8PROC_STABLE | UTF8PROC_DECOMPOSE,
            [TOK_NFKC] = UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT,
            [TOK_NFKD] = UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT,
        };
        utf8proc_uint8_t *dst = NULL;
        const utf8proc_uint8_t *src = cur ? cur : (const utf8proc_uint8_t *)s;
        utf8proc_ssize_t r = utf8proc_map(src, (utf8proc_ssize_t)curlen, &dst, opts[t->norms[k]]);
        free(cur);
        if (r < 0) {
            free(dst);
            return err_set(c->e, "%s: normalizing the text failed: %s", t->name, utf8proc_errmsg(r));
        }
        cur = dst;
        curlen = (size_t)r;
    }
    int rc = t->has_normalized_added ? cut_normalized_added(c, (const char *)cur, curlen)
                                     : encode_words(c, (const char *)cur, curlen);
    free(cur);
    return rc;
}

int tok_encode(const tok_t *t, const char *text, size_t len, int special, int32_t **ids, size_t *n,
               err_t *e)
{
    *ids = NULL;
    *n = 0;
    if (!utf8_valid(text, len))
        return err_set(e, "%s: the text to encode is not valid UTF-8", t->name);
    enc_ctx c = {.t = t, .special = special, .e = e};
    buf_init(&c.work);
    for (size_t i = 0; i < t->npres && !c.md; i++)
        if (t->pres[i].re)
            c.md = pcre2_match_data_create_from_pattern(t->pres[i].re, NULL);
    /* With a normalizer, the added tokens that match raw text come out
     * first and the normalized ones after normalizing; without, all at once. */
    int rc = cut_added(&c, text, len, t->nnorms ? 0 : -1, normalize_then_encode);
    buf_free(&c.work);
    free(c.pa);
    free(c.pb);
    free(c.sp);
    free(c.sym);
    free(c.prev);
    free(c.next);
    free(c.alive);
    free(c.heap);
    if (c.md)
        pcre2_match_data_free(c.md);
    if (rc) {
        free(c.out);
        return -1;
    }
    *ids = c.out ? c.out : xmalloc(sizeof(int32_t));
    *n = c.nout;
    return 0;
}

/* ---- decoding */

/* Appends s with each maximal ill-formed subsequence replaced by one
 * U+FFFD (Unicode's "maximal subpart" practice: what Rust's
 * String::from_utf8_lossy, and so the ByteLevel decoder, does). */
static void append_lossy(buf_t *out, const unsigned char *s, size_t n)
{
    size_t i = 0, start = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF)
            need = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0)
                lo = 0xA0;
            if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0)
                lo = 0x90;
            if (c == 0xF4)
                hi = 0x8F;
        } else {
            need = 0;
        }
        size_t k = 1;
        if (need) {
            /* the second byte has the lead's own range, the rest 80..BF */
            while (k <= need && i + k < n && s[i + k] >= (k == 1 ? lo : 0x80) &&
                   s[i + k] <= (k == 1 ? hi : 0xBF))
                k++;
            if (k == need + 1) {
                i += k;
                continue;
            }
        }
        buf_append(out, s + start, i - start);
        buf_puts(out, "\xEF\xBF\xBD");
        i += k;
        start = i;
    }
    buf_append(out, s + start, n - start);
}

static int valid_id(const tok_t *t, int32_t id)
{
    return id >= 0 && (size_t)id < t->nentries && t->entries[id].present;
}

void tok_decode(const tok_t *t, const int32_t *ids, size_t n, int skip_special, buf_t *out)
{
    buf_t raw;
    buf_init(&raw);
    for (size_t i = 0; i < n; i++) {
        if (!valid_id(t, ids[i]))
            continue; /* unknown ids decode to nothing, as in tokenizers */
        const tok_entry *en = &t->entries[ids[i]];
        if (skip_special && en->special)
            continue;
        buf_append(&raw, t->bytes.data + en->off, en->len);
    }
    append_lossy(out, (const unsigned char *)(raw.data ? raw.data : ""), raw.len);
    buf_free(&raw);
}

void tok_token_bytes(const tok_t *t, int32_t id, buf_t *out)
{
    if (valid_id(t, id))
        buf_append(out, t->bytes.data + t->entries[id].off, t->entries[id].len);
}

size_t tok_vocab_size(const tok_t *t)
{
    return t->nentries;
}

int32_t tok_id(const tok_t *t, const char *token)
{
    return tok_smap_get(&t->by_str, token, strlen(token));
}

int tok_is_special(const tok_t *t, int32_t id)
{
    return valid_id(t, id) && t->entries[id].special;
}

int32_t tok_eos(const tok_t *t)
{
    return t->eos;
}

int32_t tok_bos(const tok_t *t)
{
    return t->bos;
}

int32_t tok_pad(const tok_t *t)
{
    return t->pad;
}

int tok_adds_bos(const tok_t *t)
{
    return t->adds_bos;
}

const char *tok_chat_template(const tok_t *t)
{
    return t->chat_template;
}

void tok_free(tok_t *t)
{
    if (!t)
        return;
    free(t->name);
    free(t->entries);
    buf_free(&t->bytes);
    buf_free(&t->strs);
    tok_smap_free(&t->by_str);
    tok_smap_free(&t->by_bytes);
    tok_pmap_free(&t->merges);
    for (size_t i = 0; i < t->nadded; i++)
        free(t->added[i].content);
    free(t->added);
    free(t->added_order);
    free(t->norms);
    for (size_t i = 0; i < t->npres; i++)
        if (t->pres[i].re)
            pcre2_code_free(t->pres[i].re);
    free(t->pres);
    free(t->chat_template);
    if (t->cache) {
        pthread_mutex_destroy(&t->cache->mu);
        tok_smap_free(&t->cache->map);
        free(t->cache->spans);
        free(t->cache->ids);
        free(t->cache);
    }
    free(t);
}
