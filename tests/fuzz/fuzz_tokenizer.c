/* libFuzzer target: arbitrary bytes as a tokenizer.json, through the
 * loader (JSON, vocabulary, merges, added tokens, normalizer and
 * pre-tokenizer specs, regex compilation); a tokenizer that loads then
 * encodes and decodes some fixed texts and the input itself.
 * Run with `make fuzz-tokenizer` (FUZZ_SECONDS bounds it). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/model/tokenizer.h"

static void roundtrip(const tok_t *t, const char *s, size_t n)
{
    int32_t *ids;
    size_t nids;
    err_t e;
    for (int special = 0; special <= 1; special++) {
        if (tok_encode(t, s, n, special, &ids, &nids, &e))
            continue;
        buf_t out;
        buf_init(&out);
        tok_decode(t, ids, nids, special, &out);
        for (size_t i = 0; i < nids; i++)
            tok_token_bytes(t, ids[i], &out);
        buf_free(&out);
        free(ids);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const texts[] = {
        "", "the cat sat", "  \t\n\n  x", "café cafe\xcc\x81 12345 \xf0\x9f\x98\x80", "<x> <y><z>word tool",
        "SELECT * FROM t WHERE a = 'it''s';", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    };
    log_set_level(LOG_QUIET);
    err_t e;
    tok_t *t = tok_load_json((const char *)data, size, "fuzz.json", &e);
    if (!t)
        return 0;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        roundtrip(t, texts[i], strlen(texts[i]));
    roundtrip(t, (const char *)data, size < 4096 ? size : 4096);
    int32_t odd[] = {-1, 0, 1, 255, 256, 1 << 20, INT32_MAX};
    buf_t out;
    buf_init(&out);
    tok_decode(t, odd, sizeof odd / sizeof odd[0], 0, &out);
    buf_free(&out);
    (void)tok_vocab_size(t);
    (void)tok_id(t, "a");
    tok_free(t);
    return 0;
}
