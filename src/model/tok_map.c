/* model/tok_map: the tokenizer's two hash maps - bytes to id, and a merge
 * pair to its rank - with open addressing and linear probing. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* FNV-1a, then a final mix so that short keys spread over the low bits
 * the table indexes with. Never 0 (0 marks an empty slot). */
uint64_t tok_hash(const char *k, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)k[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h ? h : 1;
}

void tok_smap_init(tok_smap *m)
{
    memset(m, 0, sizeof *m);
    buf_init(&m->keys);
}

void tok_smap_free(tok_smap *m)
{
    free(m->slots);
    buf_free(&m->keys);
    memset(m, 0, sizeof *m);
}

static void smap_grow(tok_smap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    tok_smap_slot *s = xcalloc(cap, sizeof *s);
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].hash)
            continue;
        size_t j = m->slots[i].hash & (cap - 1);
        while (s[j].hash)
            j = (j + 1) & (cap - 1);
        s[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = s;
    m->cap = cap;
}

void tok_smap_put(tok_smap *m, const char *k, size_t len, int32_t val)
{
    if ((m->n + 1) * 4 > m->cap * 3)
        smap_grow(m);
    uint64_t h = tok_hash(k, len);
    size_t j = h & (m->cap - 1);
    while (m->slots[j].hash) {
        tok_smap_slot *s = &m->slots[j];
        if (s->hash == h && s->len == len && !memcmp(m->keys.data + s->off, k, len)) {
            s->val = val;
            return;
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->slots[j].hash = h;
    m->slots[j].off = (uint32_t)m->keys.len;
    m->slots[j].len = (uint32_t)len;
    m->slots[j].val = val;
    buf_append(&m->keys, k, len);
    m->n++;
}

int32_t tok_smap_get(const tok_smap *m, const char *k, size_t len)
{
    if (!m->cap)
        return -1;
    uint64_t h = tok_hash(k, len);
    size_t j = h & (m->cap - 1);
    while (m->slots[j].hash) {
        const tok_smap_slot *s = &m->slots[j];
        if (s->hash == h && s->len == len && !memcmp(m->keys.data + s->off, k, len))
            return s->val;
        j = (j + 1) & (m->cap - 1);
    }
    return -1;
}

static uint64_t pair_key(int32_t a, int32_t b)
{
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}

static size_t pair_slot(uint64_t key, size_t cap)
{
    uint64_t h = key * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 20) & (cap - 1);
}

void tok_pmap_init(tok_pmap *m)
{
    memset(m, 0, sizeof *m);
}

void tok_pmap_free(tok_pmap *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static void pmap_grow(tok_pmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    tok_pmap_slot *s = xmalloc(cap * sizeof *s);
    for (size_t i = 0; i < cap; i++)
        s[i].key = UINT64_MAX;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].key == UINT64_MAX)
            continue;
        size_t j = pair_slot(m->slots[i].key, cap);
        while (s[j].key != UINT64_MAX)
            j = (j + 1) & (cap - 1);
        s[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = s;
    m->cap = cap;
}

void tok_pmap_put(tok_pmap *m, int32_t a, int32_t b, int32_t rank, int32_t id)
{
    if ((m->n + 1) * 2 > m->cap)
        pmap_grow(m);
    uint64_t key = pair_key(a, b);
    size_t j = pair_slot(key, m->cap);
    while (m->slots[j].key != UINT64_MAX) {
        if (m->slots[j].key == key) { /* a repeated merge: the later rank wins, as in tokenizers */
            m->slots[j].rank = rank;
            m->slots[j].id = id;
            return;
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->slots[j].key = key;
    m->slots[j].rank = rank;
    m->slots[j].id = id;
    m->n++;
}

const tok_pmap_slot *tok_pmap_get(const tok_pmap *m, int32_t a, int32_t b)
{
    if (!m->cap)
        return NULL;
    uint64_t key = pair_key(a, b);
    size_t j = pair_slot(key, m->cap);
    while (m->slots[j].key != UINT64_MAX) {
        if (m->slots[j].key == key)
            return &m->slots[j];
        j = (j + 1) & (m->cap - 1);
    }
    return NULL;
}
