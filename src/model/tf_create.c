/* tf_create_model: a small Llama from scratch (train.h). */
#include <stdlib.h>
#include <string.h>

#include "hf_config.h"
#include "tokenizer.h"
#include "train.h"

int tf_create_model(const char *out, const tf_create_opts *o, tf_create_info *info, err_t *e)
{
    int ffn = o->ffn ? o->ffn : (8 * o->hidden / 3 + 63) / 64 * 64;
    /* the shapes first: a mistake there should not wait for training */
    hf_config cfg;
    if (hf_config_llama(&cfg, o->vocab, o->hidden, o->layers, o->heads, o->kv_heads, ffn, e))
        return -1;
    tok_train_opts to = {.vocab_size = (size_t)o->vocab};
    err_t te;
    tok_trainer *tr = tok_trainer_new(&to, &te);
    if (!tr)
        return err_set(e, "--vocab: %s", te.msg);
    uint64_t t0 = time_now_ns();
    size_t bytes = 0;
    int rc = 0;
    for (size_t i = 0; i < o->n_corpus && rc == 0; i++) {
        size_t len;
        char *text = file_read(o->corpus[i], &len, e);
        rc = !text || tok_trainer_feed(tr, text, len, o->corpus[i], e) ? -1 : 0;
        bytes += len;
        free(text);
    }
    if (rc == 0 && (tok_trainer_train(tr, e) || tok_trainer_save(tr, out, e)))
        rc = -1;
    tok_trainer_free(tr);
    double secs = (double)(time_now_ns() - t0) / 1e9;
    tok_t *tok = rc == 0 ? tok_load(out, e) : NULL;
    if (rc == 0 && !tok)
        rc = -1;
    tf_model *m = NULL;
    if (rc == 0) {
        cfg.vocab_size = (int)tok_vocab_size(tok);
        cfg.bos_token_id = tok_bos(tok);
        cfg.eos_token_ids[0] = tok_eos(tok);
        cfg.n_eos = 1;
        cfg.max_pos = o->max_pos ? o->max_pos : 2048;
        cfg.tie_word_embeddings = !o->untied;
        m = tf_new_random(&cfg, o->seed, e);
        rc = m && tf_save_hf(m, out, e) == 0 ? 0 : -1;
    }
    if (rc == 0 && info) {
        info->cfg = cfg;
        info->params = tf_num_params(m);
        info->corpus_bytes = bytes;
        info->tokenizer_s = secs;
    }
    tok_free(tok);
    tf_free(m);
    return rc;
}
