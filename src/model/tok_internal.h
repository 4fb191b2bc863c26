/* model/tok_internal: what the tokenizer's files share - its hash maps,
 * the loaded pipeline (normalizers, pre-tokenizers, the BPE model, the
 * added tokens) and the tok_t struct. Not a public API. */
#ifndef RETRAIN_MODEL_TOK_INTERNAL_H
#define RETRAIN_MODEL_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>

#include "tokenizer.h"

/* ---- bytes -> int32 hash map (open addressing, keys copied into one
 * arena). Used for token string -> id and raw token bytes -> id. */
typedef struct tok_smap_slot {
    uint64_t hash; /* 0 = empty */
    uint32_t off, len;
    int32_t val;
} tok_smap_slot;

typedef struct tok_smap {
    tok_smap_slot *slots;
    size_t cap, n; /* cap is a power of two */
    buf_t keys;
} tok_smap;

void tok_smap_init(tok_smap *m);
void tok_smap_free(tok_smap *m);
/* Inserts or overwrites. */
void tok_smap_put(tok_smap *m, const char *k, size_t len, int32_t val);
/* -1 where absent. */
int32_t tok_smap_get(const tok_smap *m, const char *k, size_t len);
uint64_t tok_hash(const char *k, size_t len);

/* ---- merge pair (left id, right id) -> (rank, merged id). */
typedef struct tok_pmap_slot {
    uint64_t key; /* UINT64_MAX = empty */
    int32_t rank, id;
} tok_pmap_slot;

typedef struct tok_pmap {
    tok_pmap_slot *slots;
    size_t cap, n;
} tok_pmap;

void tok_pmap_init(tok_pmap *m);
void tok_pmap_free(tok_pmap *m);
void tok_pmap_put(tok_pmap *m, int32_t a, int32_t b, int32_t rank, int32_t id);
/* The slot for (a, b), or NULL. */
const tok_pmap_slot *tok_pmap_get(const tok_pmap *m, int32_t a, int32_t b);

/* ---- the encode cache: pre-token bytes -> its ids. Shared by every
 * caller of one tokenizer, so it has a lock; bounded, emptied when full. */
typedef struct tok_cache {
    pthread_mutex_t mu;
    tok_smap map; /* key -> index into spans */
    struct {
        uint32_t off, len;
    } *spans;
    size_t nspans, capspans;
    int32_t *ids;
    size_t nids, capids;
} tok_cache;

/* ---- one entry per id. */
typedef struct tok_entry {
    uint32_t off, len;   /* raw bytes in t->bytes (what the id decodes to) */
    uint32_t soff, slen; /* the token as written in the vocabulary */
    uint8_t present, special, added;
} tok_entry;

typedef struct tok_added {
    char *content;
    size_t len;
    int32_t id;
    uint8_t special, lstrip, rstrip, single_word, normalized;
} tok_added;

enum tok_norm { TOK_NFC, TOK_NFD, TOK_NFKC, TOK_NFKD };

enum tok_pre_kind { TOK_PRE_SPLIT, TOK_PRE_BYTELEVEL, TOK_PRE_DIGITS };

enum tok_split_behavior {
    TOK_SPLIT_REMOVED,
    TOK_SPLIT_ISOLATED,
    TOK_SPLIT_MERGED_PREV,
    TOK_SPLIT_MERGED_NEXT,
    TOK_SPLIT_CONTIGUOUS
};

typedef struct tok_pre {
    enum tok_pre_kind kind;
    pcre2_code *re;          /* Split, ByteLevel with use_regex */
    int behavior, invert;    /* Split */
    int add_prefix_space;    /* ByteLevel */
    int individual_digits;   /* Digits */
} tok_pre;

struct tok {
    char *name; /* the file errors name */
    tok_entry *entries;
    size_t nentries, capentries; /* max id + 1; allocated */
    buf_t bytes, strs;
    tok_smap by_str;   /* vocabulary string or added content -> id */
    tok_smap by_bytes; /* raw bytes of byte-level vocabulary tokens -> id */
    tok_pmap merges;
    int32_t byte_id[256]; /* the id of each single byte, -1 if absent */
    int ignore_merges;
    tok_added *added;
    size_t nadded;
    /* added tokens by first byte, longest first: indices into added */
    uint32_t *added_order;
    uint32_t added_first[257];
    int has_normalized_added;
    enum tok_norm *norms;
    size_t nnorms;
    tok_pre *pres;
    size_t npres;
    int32_t eos, bos, pad, unk;
    int adds_bos;
    char *chat_template;
    tok_cache *cache;
};

/* The byte-level alphabet (GPT-2's bytes_to_unicode): the code point
 * standing for each byte, and back (-1 for a code point outside it). */
uint32_t tok_byte_char(uint8_t b);
int tok_char_byte(uint32_t cp);

/* Loading steps shared by the two file forms (tok_load.c). */
tok_t *tok_new_empty(const char *name);
/* Sets id's vocabulary string; computes its raw bytes. */
void tok_set_token(tok_t *t, int32_t id, const char *s, size_t len, int added);
/* Builds the byte ids and the added-token index; call when all tokens are in. */
void tok_finish(tok_t *t);
/* Compiles a split pattern, Oniguruma's \s translated for PCRE2. */
pcre2_code *tok_compile_regex(const char *pattern, size_t len, int literal, err_t *e);

#endif
