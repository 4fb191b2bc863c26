/* model/tf_save: a model written back as a Hugging Face directory -
 * config.json (the one it was loaded with, dtype float32),
 * model.safetensors with the checkpoint's own tensor names and layouts
 * (fused projections split again, GPT-2's Conv1D weights transposed back),
 * and the tokenizer files beside it. A model made here (no directory)
 * gets a config.json generated from its hf_config. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "safetensors.h"
#include "tf_internal.h"
#include "train.h"

/* Files that travel with a model (those present are copied). */
static const char *const k_side_files[] = {
    "tokenizer.json",          "tokenizer_config.json", "special_tokens_map.json",
    "vocab.json",              "merges.txt",            "generation_config.json",
    "chat_template.jinja",     "added_tokens.json",
};

static int copy_file(const char *from, const char *to, err_t *e)
{
    size_t n;
    char *data = file_read(from, &n, e);
    if (!data)
        return -1;
    int rc = file_write_atomic(to, data, n, e);
    free(data);
    return rc;
}

int tf_copy_tokenizer_files(const char *from, const char *to, err_t *e)
{
    int rc = 0;
    buf_t a, b;
    buf_init(&a);
    buf_init(&b);
    for (size_t i = 0; i < ARRAY_LEN(k_side_files) && rc == 0; i++) {
        buf_reset(&a);
        buf_reset(&b);
        buf_printf(&a, "%s/%s", from, k_side_files[i]);
        buf_printf(&b, "%s/%s", to, k_side_files[i]);
        if (file_exists(a.data))
            rc = copy_file(a.data, b.data, e);
    }
    buf_free(&a);
    buf_free(&b);
    return rc;
}

static int write_config(const tf_model *m, const char *dir, err_t *e)
{
    if (!m->dir) { /* made here: the config comes from its hf_config */
        char *text = hf_config_to_json(&m->cfg, e);
        if (!text)
            return -1;
        buf_t dst;
        buf_init(&dst);
        buf_printf(&dst, "%s/config.json", dir);
        int rc = file_write_atomic(dst.data, text, strlen(text), e);
        buf_free(&dst);
        free(text);
        return rc;
    }
    buf_t src, dst;
    buf_init(&src);
    buf_init(&dst);
    buf_printf(&src, "%s/config.json", m->dir);
    buf_printf(&dst, "%s/config.json", dir);
    json_error_t je;
    json_t *cfg = json_load_file(src.data, 0, &je);
    int rc = 0;
    if (!cfg) {
        rc = err_set(e, "%s:%d: %s", src.data, je.line, je.text);
    } else {
        json_object_set_new(cfg, "torch_dtype", json_string("float32"));
        char *text = json_dumps(cfg, JSON_INDENT(2));
        rc = file_write_atomic(dst.data, text, strlen(text), e);
        free(text);
        json_decref(cfg);
    }
    buf_free(&src);
    buf_free(&dst);
    return rc;
}

int tf_save_hf(const tf_model *m, const char *dir, err_t *e)
{
    if (dir_make(dir, e) != 0 || write_config(m, dir, e) != 0)
        return -1;
    int n = tf_hf_tensors(m, NULL);
    tf_hf_tensor *t = xmalloc(sizeof *t * (size_t)n);
    tf_hf_tensors(m, t);
    st_writer *w = st_writer_new();
    size_t biggest = 0;
    for (int i = 0; i < n; i++) {
        int64_t shape[2] = {t[i].transpose ? t[i].cols : t[i].rows,
                            t[i].transpose ? t[i].rows : t[i].cols};
        st_writer_add(w, t[i].name, ST_F32, shape, t[i].cols ? 2 : 1);
        size_t numel = (size_t)t[i].rows * (t[i].cols ? t[i].cols : 1);
        biggest = numel > biggest ? numel : biggest;
    }
    buf_t path;
    buf_init(&path);
    buf_printf(&path, "%s/model.safetensors", dir);
    float *tmp = xmalloc(sizeof(float) * (biggest ? biggest : 1));
    int rc = st_writer_begin(w, path.data, e);
    for (int i = 0; i < n && rc == 0; i++) {
        size_t rows = (size_t)t[i].rows, cols = t[i].cols ? (size_t)t[i].cols : 1;
        const float *src = t[i].dst;
        if (!src || t[i].transpose) {
            for (size_t r = 0; r < rows; r++)
                for (size_t c = 0; c < cols; c++) {
                    size_t at = r * cols + c;
                    float v = t[i].dst ? t[i].dst[at] : k_bf16_to_f32(t[i].dst16[at]);
                    tmp[t[i].transpose ? c * rows + r : at] = v;
                }
            src = tmp;
        }
        rc = st_writer_data(w, src, sizeof(float) * rows * cols, e);
    }
    if (rc == 0)
        rc = st_writer_finish(w, e);
    else
        st_writer_free(w);
    free(tmp);
    free(t);
    /* the tokenizer's files; none where they are already (a tokenizer
     * trained into the model's own directory) */
    const char *from = m->tok_dir ? m->tok_dir : m->dir;
    char *rfrom = from ? realpath(from, NULL) : NULL, *rdir = realpath(dir, NULL);
    if (rfrom && rdir && !strcmp(rfrom, rdir))
        from = NULL;
    free(rfrom);
    free(rdir);
    if (rc == 0 && from)
        rc = tf_copy_tokenizer_files(from, dir, e);
    buf_free(&path);
    return rc;
}
