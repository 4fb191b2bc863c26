/* model: config.json and safetensors - real configs parse as transformers
 * reads them, and every kind of bad input is one clear error, never a
 * crash. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/model/hf_config.h"
#include "../../src/model/safetensors.h"
#include "../../src/model/transformer.h"
#include "../test.h"

static int parse(hf_config *c, const char *json, err_t *e)
{
    return hf_config_parse(c, json, strlen(json), "config.json", e);
}

/* ---- config ---- */

TEST(hf_config_dialogpt_medium)
{
    /* microsoft/DialoGPT-medium's config.json */
    const char *j =
        "{\"activation_function\": \"gelu_new\", \"architectures\": [\"GPT2LMHeadModel\"],"
        " \"attn_pdrop\": 0.1, \"bos_token_id\": 50256, \"embd_pdrop\": 0.1, \"eos_token_id\": 50256,"
        " \"initializer_range\": 0.02, \"layer_norm_epsilon\": 1e-05, \"model_type\": \"gpt2\","
        " \"n_ctx\": 1024, \"n_embd\": 1024, \"n_head\": 16, \"n_layer\": 24, \"n_positions\": 1024,"
        " \"resid_pdrop\": 0.1, \"summary_activation\": null, \"summary_first_dropout\": 0.1,"
        " \"summary_proj_to_labels\": true, \"summary_type\": \"cls_index\", \"summary_use_proj\": true,"
        " \"task_specific_params\": {\"conversational\": {\"max_length\": 1000}}, \"vocab_size\": 50257}";
    hf_config c;
    err_t e;
    CHECK_MSG(parse(&c, j, &e) == 0, "%s", e.msg);
    CHECK(c.arch == HF_GPT2 && c.hidden == 1024 && c.n_layer == 24 && c.n_head == 16);
    CHECK(c.n_kv_head == 16 && c.head_dim == 64 && c.intermediate == 4096 && c.max_pos == 1024);
    CHECK(c.vocab_size == 50257 && c.act == HF_ACT_GELU_TANH && c.tie_word_embeddings);
    CHECK(!c.rms_norm && c.learned_pos && c.qkv_bias && c.o_bias && c.mlp_bias && !c.gated_mlp);
    CHECK(c.n_eos == 1 && c.eos_token_ids[0] == 50256 && c.bos_token_id == 50256);
    CHECK(c.norm_eps == 1e-5f);
}

TEST(hf_config_qwen25_and_llama32)
{
    const char *qwen =
        "{\"architectures\": [\"Qwen2ForCausalLM\"], \"attention_dropout\": 0.0,"
        " \"bos_token_id\": 151643, \"eos_token_id\": 151643, \"hidden_act\": \"silu\","
        " \"hidden_size\": 896, \"initializer_range\": 0.02, \"intermediate_size\": 4864,"
        " \"max_position_embeddings\": 32768, \"max_window_layers\": 24, \"model_type\": \"qwen2\","
        " \"num_attention_heads\": 14, \"num_hidden_layers\": 24, \"num_key_value_heads\": 2,"
        " \"rms_norm_eps\": 1e-06, \"rope_theta\": 1000000.0, \"sliding_window\": 32768,"
        " \"tie_word_embeddings\": true, \"torch_dtype\": \"bfloat16\", \"use_cache\": true,"
        " \"use_sliding_window\": false, \"vocab_size\": 151936}";
    hf_config c;
    err_t e;
    CHECK_MSG(parse(&c, qwen, &e) == 0, "%s", e.msg);
    CHECK(c.arch == HF_QWEN2 && c.hidden == 896 && c.n_head == 14 && c.n_kv_head == 2);
    CHECK(c.head_dim == 64 && c.intermediate == 4864 && c.vocab_size == 151936);
    CHECK(c.qkv_bias && !c.o_bias && !c.mlp_bias && c.gated_mlp && c.rms_norm && !c.qk_norm);
    CHECK(c.tie_word_embeddings && c.rope_theta == 1e6 && c.rope == HF_ROPE_DEFAULT);
    CHECK(c.sliding_window == 0 && strcmp(c.torch_dtype, "bfloat16") == 0);

    const char *llama =
        "{\"architectures\": [\"LlamaForCausalLM\"], \"attention_bias\": false, \"bos_token_id\": 128000,"
        " \"eos_token_id\": [128001, 128008, 128009], \"head_dim\": 64, \"hidden_act\": \"silu\","
        " \"hidden_size\": 2048, \"intermediate_size\": 8192, \"max_position_embeddings\": 131072,"
        " \"mlp_bias\": false, \"model_type\": \"llama\", \"num_attention_heads\": 32,"
        " \"num_hidden_layers\": 16, \"num_key_value_heads\": 8, \"rms_norm_eps\": 1e-05,"
        " \"rope_scaling\": {\"factor\": 32.0, \"high_freq_factor\": 4.0, \"low_freq_factor\": 1.0,"
        " \"original_max_position_embeddings\": 8192, \"rope_type\": \"llama3\"},"
        " \"rope_theta\": 500000.0, \"tie_word_embeddings\": true, \"torch_dtype\": \"bfloat16\","
        " \"vocab_size\": 128256}";
    CHECK_MSG(parse(&c, llama, &e) == 0, "%s", e.msg);
    CHECK(c.arch == HF_LLAMA && c.n_kv_head == 8 && c.head_dim == 64 && c.rope == HF_ROPE_LLAMA3);
    CHECK(c.rope_factor == 32.0f && c.rope_original_max_pos == 8192 && c.rope_theta == 500000.0);
    CHECK(c.n_eos == 3 && c.eos_token_ids[2] == 128009 && c.tie_word_embeddings);
    CHECK(!c.qkv_bias && !c.o_bias);
}

TEST(hf_config_defaults)
{
    hf_config c;
    err_t e;
    /* Qwen3 without head_dim takes Qwen3Config's 128; no kv heads: MHA */
    CHECK_MSG(parse(&c, "{\"model_type\": \"qwen3\", \"vocab_size\": 10, \"hidden_size\": 64,"
                        " \"intermediate_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 4}",
                    &e) == 0,
              "%s", e.msg);
    CHECK(c.arch == HF_QWEN3 && c.head_dim == 128 && c.n_kv_head == 4 && c.qk_norm);
    CHECK(c.tie_word_embeddings == 0 && c.bos_token_id == -1 && c.n_eos == 0);
    /* Mistral: sliding window 4096 unless null */
    CHECK_MSG(parse(&c, "{\"architectures\": [\"MistralForCausalLM\"], \"vocab_size\": 10,"
                        " \"hidden_size\": 64, \"intermediate_size\": 8, \"num_hidden_layers\": 1,"
                        " \"num_attention_heads\": 4, \"num_key_value_heads\": 1, \"sliding_window\": null}",
                    &e) == 0,
              "%s", e.msg);
    CHECK(c.arch == HF_MISTRAL && c.sliding_window == 0 && c.n_kv_head == 1 && !c.qkv_bias);
}

TEST(hf_config_errors_name_the_key)
{
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"{\"architectures\": [\"BertForMaskedLM\"]}", "architecture \"BertForMaskedLM\" is not supported"},
        {"{\"vocab_size\": 3}", "missing key \"architectures\""},
        {"{\"architectures\": \"LlamaForCausalLM\"}", "\"architectures\" must be a list"},
        {"{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 10, \"hidden_size\": 64,"
         " \"intermediate_size\": 8, \"num_attention_heads\": 4}",
         "missing key \"num_hidden_layers\""},
        {"{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 10, \"hidden_size\": \"64\","
         " \"intermediate_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 4}",
         "\"hidden_size\" must be an integer"},
        {"{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 10, \"hidden_size\": 64,"
         " \"intermediate_size\": 8, \"num_hidden_layers\": 0, \"num_attention_heads\": 4}",
         "\"num_hidden_layers\" must be an integer from 1"},
        {"{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 10, \"hidden_size\": 64,"
         " \"intermediate_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 4,"
         " \"num_key_value_heads\": 3}",
         "not a multiple of num_key_value_heads 3"},
        {"{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 10, \"hidden_size\": 60,"
         " \"intermediate_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 8}",
         "hidden_size 60 is not a multiple of num_attention_heads 8"},
        {"{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 10, \"hidden_size\": 64,"
         " \"intermediate_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 4,"
         " \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}}",
         "rope_scaling type \"yarn\" is not supported"},
        {"{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 10, \"hidden_size\": 64,"
         " \"intermediate_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 4,"
         " \"rope_scaling\": {\"rope_type\": \"llama3\", \"low_freq_factor\": 1,"
         " \"high_freq_factor\": 4, \"original_max_position_embeddings\": 8192}}",
         "missing key \"rope_scaling.factor\""},
        {"{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 10, \"hidden_size\": 64,"
         " \"intermediate_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 4,"
         " \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 1,"
         " \"high_freq_factor\": 4}}",
         "missing key \"rope_scaling.original_max_position_embeddings\""},
        {"{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 10, \"hidden_size\": 64,"
         " \"intermediate_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 4,"
         " \"hidden_act\": \"gelu\"}",
         "hidden_act \"gelu\" is not supported"},
        {"{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 10, \"hidden_size\": 64,"
         " \"intermediate_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 4,"
         " \"eos_token_id\": [1, \"2\"]}",
         "\"eos_token_id\"[1] must be a non-negative integer"},
        {"{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 10, \"hidden_size\": 64,"
         " \"intermediate_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 4,"
         " \"rms_norm_eps\": \"small\"}",
         "\"rms_norm_eps\" must be a number"},
        {"{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 10, \"hidden_size\": 64,"
         " \"intermediate_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 4,"
         " \"tie_word_embeddings\": 1}",
         "\"tie_word_embeddings\" must be true or false"},
        {"{\"architectures\": [\"Qwen2ForCausalLM\"], \"vocab_size\": 10, \"hidden_size\": 64,"
         " \"intermediate_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 4,"
         " \"use_sliding_window\": true}",
         "\"use_sliding_window\": true is not supported"},
        {"{\"architectures\": [\"GPT2LMHeadModel\"], \"vocab_size\": 10, \"n_embd\": 64,"
         " \"n_layer\": 1, \"n_head\": 4}",
         "missing key \"n_positions\""},
        {"{\"architectures\": [\"GPT2LMHeadModel\"], \"vocab_size\": 10, \"n_embd\": 64,"
         " \"n_layer\": 1, \"n_head\": 5, \"n_positions\": 8}",
         "n_embd 64 is not a multiple of n_head 5"},
        {"{\"architectures\": [\"GPT2LMHeadModel\"], \"vocab_size\": 10, \"n_embd\": 64,"
         " \"n_layer\": 1, \"n_head\": 4, \"n_positions\": 8, \"activation_function\": \"relu\"}",
         "activation_function \"relu\" is not supported"},
        {"{\"architectures\": [\"GPT2LMHeadModel\"], \"vocab_size\": 10, \"n_embd\": 64,"
         " \"n_layer\": 1, \"n_head\": 4, \"n_positions\": 8, \"scale_attn_by_inverse_layer_idx\": true}",
         "\"scale_attn_by_inverse_layer_idx\": true is not supported"},
        {"[1, 2]", "not a JSON object"},
        {"{\"architectures\": [\"GPT2LMHeadModel\"],", "config.json:1:"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        hf_config c;
        err_t e = {{0}};
        CHECK_MSG(parse(&c, cases[i].json, &e) != 0, "case %zu parsed", i);
        CHECK_MSG(strstr(e.msg, cases[i].want) && strncmp(e.msg, "config.json", 11) == 0,
                  "case %zu: '%s' lacks '%s'", i, e.msg, cases[i].want);
        CHECK_MSG(!strchr(e.msg, '\n'), "case %zu: more than one line", i);
    }
}

/* ---- safetensors: a file image in memory ---- */

/* header text + data bytes -> file image (8-byte length first) */
static uint8_t *image(const char *header, const void *data, size_t ndata, size_t *size)
{
    size_t h = strlen(header);
    uint8_t *p = malloc(8 + h + ndata + 1);
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(p + 8, header, h);
    if (ndata)
        memcpy(p + 8 + h, data, ndata);
    *size = 8 + h + ndata;
    return p;
}

static int parse_image(const char *header, size_t ndata, err_t *e)
{
    static const uint8_t zeros[256];
    size_t n;
    uint8_t *p = image(header, zeros, ndata, &n);
    st_file f;
    int rc = st_parse(&f, p, n, "t.safetensors", e);
    if (rc == 0)
        st_close(&f);
    free(p);
    return rc;
}

TEST(st_parse_good_file)
{
    float data[6] = {1, 2, 3, 4, 5, 6};
    uint16_t bf[2] = {0x3f80, 0xc000}; /* 1.0, -2.0 */
    uint8_t buf[32];
    memcpy(buf, data, 24);
    memcpy(buf + 24, bf, 4);
    size_t n;
    uint8_t *p = image("{\"__metadata__\": {\"format\": \"pt\"},"
                       " \"b\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [24, 28]},"
                       " \"a\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]},"
                       " \"empty\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [28, 28]}}  ",
                       buf, 28, &n);
    st_file f;
    err_t e;
    CHECK_MSG(st_parse(&f, p, n, "t", &e) == 0, "%s", e.msg);
    CHECK(f.n == 3);
    const st_tensor *a = st_find(&f, "a"), *b = st_find(&f, "b");
    CHECK(a && b && !st_find(&f, "c") && !st_find(&f, "__metadata__"));
    CHECK(a->ndim == 2 && a->shape[0] == 2 && a->shape[1] == 3 && a->numel == 6 && a->dtype == ST_F32);
    float out[6];
    CHECK(st_to_f32(a, out, "t", &e) == 0 && out[5] == 6);
    CHECK(st_to_f32(b, out, "t", &e) == 0 && out[0] == 1.0f && out[1] == -2.0f);
    st_close(&f);
    free(p);
    /* the smallest file: an empty header object */
    CHECK(parse_image("{}", 0, &e) == 0);
}

TEST(st_f16_conversion)
{
    CHECK(st_f16_to_f32(0x3c00) == 1.0f);
    CHECK(st_f16_to_f32(0xc000) == -2.0f);
    CHECK(st_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(st_f16_to_f32(0x0001) == 5.960464477539063e-08f); /* smallest subnormal */
    CHECK(st_f16_to_f32(0x03ff) == 6.097555160522461e-05f); /* largest subnormal */
    CHECK(st_f16_to_f32(0x8000) == 0.0f);
    CHECK(st_f16_to_f32(0x7c00) > 3e38f);
    float nan = st_f16_to_f32(0x7e00);
    CHECK(nan != nan);
}

TEST(st_parse_bad_files)
{
    static const struct {
        const char *header;
        size_t ndata;
        const char *want;
    } cases[] = {
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}", 8, "not valid JSON"},
        {"[1, 2]", 0, "not a JSON object"},
        {"{\"a\": 5}", 0, "tensor 'a': header entry is not a JSON object"},
        {"{\"a\": {\"shape\": [2], \"data_offsets\": [0, 8]}}", 8, "tensor 'a': no dtype"},
        {"{\"a\": {\"dtype\": 3, \"shape\": [2], \"data_offsets\": [0, 8]}}", 8, "dtype is not a string"},
        {"{\"a\": {\"dtype\": \"F17\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8, "unknown dtype 'F17'"},
        {"{\"a\": {\"dtype\": \"F32\", \"data_offsets\": [0, 8]}}", 8, "shape is missing"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", 8, "shape[0] is not a non-negative integer"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2.5], \"data_offsets\": [0, 8]}}", 8, "shape[0]"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 4]}}", 4, "9 dimensions"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904, 4611686018427387904], \"data_offsets\": [0, 8]}}", 8, "shape overflows"},
        {"{\"a\": {\"dtype\": \"F64\", \"shape\": [4611686018427387904], \"data_offsets\": [0, 8]}}", 8, "shape overflows"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2]}}", 8, "data_offsets is not [begin, end]"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0]}}", 8, "data_offsets is not [begin, end]"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, -8]}}", 8, "data_offsets is not [begin, end]"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 0]}}", 8, "end before they begin"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 4, "run past the data (4 bytes)"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8, "needs 12 bytes"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
         " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 12, "overlap"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
         " \"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]}}", 16, "duplicate"},
        {"{\"__metadata__\": {\"format\": 1}}", 0, "__metadata__ value 'format' is not a string"},
        {"{\"__metadata__\": [1]}", 0, "__metadata__ is not a JSON object"},
        {"{\"a\xff\": 1}", 0, "not valid UTF-8"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}\x01", 4, "not valid JSON"},
        {"{", 0, "cannot hold a JSON object"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        err_t e = {{0}};
        CHECK_MSG(parse_image(cases[i].header, cases[i].ndata, &e) != 0, "case %zu parsed", i);
        CHECK_MSG(strstr(e.msg, cases[i].want) && !strncmp(e.msg, "t.safetensors: ", 15),
                  "case %zu: '%s' lacks '%s'", i, e.msg, cases[i].want);
        CHECK_MSG(!strchr(e.msg, '\n'), "case %zu: more than one line", i);
    }
    /* truncated before the length, and a length beyond the file */
    st_file f;
    err_t e;
    uint8_t small[5] = {1, 0, 0, 0, 0};
    CHECK(st_parse(&f, small, sizeof small, "t", &e) != 0);
    CHECK_CONTAINS(e.msg, "truncated: 5 bytes");
    size_t n;
    uint8_t *p = image("{}", NULL, 0, &n);
    p[0] = 200;
    CHECK(st_parse(&f, p, n, "t", &e) != 0);
    CHECK_CONTAINS(e.msg, "header length 200 runs past the end of the file (10 bytes)");
    memset(p, 0xff, 8);
    CHECK(st_parse(&f, p, n, "t", &e) != 0);
    CHECK_CONTAINS(e.msg, "runs past the end of the file");
    free(p);
    /* a weight of an integer dtype cannot become fp32 */
    uint8_t z[8] = {0};
    p = image("{\"w\": {\"dtype\": \"I32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", z, 8, &n);
    CHECK(st_parse(&f, p, n, "t", &e) == 0);
    float out[2];
    CHECK(st_to_f32(st_find(&f, "w"), out, "t", &e) != 0);
    CHECK_CONTAINS(e.msg, "tensor 'w' has dtype I32");
    st_close(&f);
    free(p);
}

TEST(st_open_files)
{
    err_t e;
    st_file f;
    char path[4200];
    snprintf(path, sizeof path, "%s/none.safetensors", test_tmpdir());
    CHECK(st_open(&f, path, &e) != 0);
    CHECK_CONTAINS(e.msg, "none.safetensors: No such file");
    snprintf(path, sizeof path, "%s/empty.safetensors", test_tmpdir());
    CHECK(file_write_atomic(path, "", 0, &e) == 0);
    CHECK(st_open(&f, path, &e) != 0);
    CHECK_CONTAINS(e.msg, "truncated: 0 bytes");
    CHECK(st_open(&f, test_tmpdir(), &e) != 0);
    CHECK_CONTAINS(e.msg, "not a regular file");
}

/* ---- model directories with something wrong ---- */

static const char *fixture(const char *name)
{
    static char p[4200];
    snprintf(p, sizeof p, "%s/tests/fixtures/models/%s", test_root(), name);
    return p;
}

static char *read_all(const char *path, size_t *n)
{
    err_t e;
    return file_read(path, n, &e);
}

static void write_all(const char *path, const void *p, size_t n)
{
    err_t e;
    if (file_write_atomic(path, p, n, &e) != 0)
        test_fail(__FILE__, __LINE__, "%s", e.msg);
}

static void copy_file(const char *from, const char *to)
{
    size_t n;
    char *p = read_all(from, &n);
    if (p)
        write_all(to, p, n);
    free(p);
}

/* A fresh directory holding a copy of a fixture model. */
static const char *copy_model(const char *name, const char *as)
{
    static char d[4200];
    char src[4400], dst[4400];
    snprintf(d, sizeof d, "%s/%s", test_tmpdir(), as);
    mkdir(d, 0755);
    static const char *files[] = {"config.json", "model.safetensors", "model.safetensors.index.json",
                                  "model-00001-of-00002.safetensors",
                                  "model-00002-of-00002.safetensors"};
    for (size_t i = 0; i < ARRAY_LEN(files); i++) {
        snprintf(src, sizeof src, "%s/%s", fixture(name), files[i]);
        snprintf(dst, sizeof dst, "%s/%s", d, files[i]);
        unlink(dst);
        if (file_exists(src))
            copy_file(src, dst);
    }
    return d;
}

/* Rewrites the JSON header of a safetensors file through fn, keeping its
 * data bytes. */
static void edit_header(const char *path, void (*fn)(json_t *hdr))
{
    size_t n;
    char *p = read_all(path, &n);
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--)
        h = h << 8 | (uint8_t)p[i];
    json_t *hdr = json_loadb(p + 8, h, 0, NULL);
    fn(hdr);
    char *text = json_dumps(hdr, JSON_COMPACT);
    size_t tl = strlen(text);
    char *out = malloc(8 + tl + (n - 8 - h));
    for (int i = 0; i < 8; i++)
        out[i] = (char)((uint64_t)tl >> (8 * i));
    memcpy(out + 8, text, tl);
    memcpy(out + 8 + tl, p + 8 + h, n - 8 - h);
    write_all(path, out, 8 + tl + (n - 8 - h));
    free(out);
    free(text);
    json_decref(hdr);
    free(p);
}

static void drop_ln_f(json_t *h)
{
    json_object_del(h, "transformer.ln_f.bias");
}

static void reshape_c_proj(json_t *h)
{
    /* [32, 32] -> [16, 64]: the same bytes, the wrong shape */
    json_t *t = json_object_get(h, "transformer.h.1.attn.c_proj.weight");
    json_object_set_new(t, "shape", json_pack("[ii]", 16, 64));
}

static void int_dtype(json_t *h)
{
    json_object_set_new(json_object_get(h, "transformer.wpe.weight"), "dtype", json_string("I32"));
}

static void strip_prefix(json_t *h)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(h, k, v) {
        json_object_set(out, str_starts(k, "transformer.") ? k + 12 : k, v);
    }
    json_object_clear(h);
    json_object_update(h, out);
    json_decref(out);
}

static tf_model *load_err(const char *dir, err_t *e)
{
    memset(e, 0, sizeof *e);
    return tf_load(dir, NULL, e);
}

TEST(tf_load_bad_models)
{
    err_t e;
    char p[4400];
    const char *d = copy_model("gpt2", "missing");
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    edit_header(p, drop_ln_f);
    CHECK(!load_err(d, &e));
    CHECK_CONTAINS(e.msg, "tensor 'transformer.ln_f.bias' is missing");

    d = copy_model("gpt2", "shape");
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    edit_header(p, reshape_c_proj);
    CHECK(!load_err(d, &e));
    CHECK_CONTAINS(e.msg, "tensor 'transformer.h.1.attn.c_proj.weight' has shape [16, 64]; the "
                          "config needs [32, 32]");

    d = copy_model("gpt2", "dtype");
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    edit_header(p, int_dtype);
    CHECK(!load_err(d, &e));
    CHECK_CONTAINS(e.msg, "tensor 'transformer.wpe.weight' has dtype I32");

    /* truncated: the data ends early */
    d = copy_model("gpt2", "truncated");
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    size_t n;
    char *img = read_all(p, &n);
    write_all(p, img, n / 2);
    free(img);
    CHECK(!load_err(d, &e));
    CHECK_CONTAINS(e.msg, "run past the data");

    /* no weights at all; no config */
    d = copy_model("gpt2", "noweights");
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    unlink(p);
    CHECK(!load_err(d, &e));
    CHECK_CONTAINS(e.msg, "no model.safetensors or model.safetensors.index.json");
    snprintf(p, sizeof p, "%s/config.json", d);
    unlink(p);
    CHECK(!load_err(d, &e));
    CHECK_CONTAINS(e.msg, "config.json: No such file");

    /* the config disagrees with the weights */
    d = copy_model("gpt2", "wrongconfig");
    snprintf(p, sizeof p, "%s/config.json", d);
    img = read_all(p, &n);
    char *at = strstr(img, "\"n_layer\": 2");
    CHECK(at);
    at[11] = '3';
    write_all(p, img, n);
    free(img);
    CHECK(!load_err(d, &e));
    CHECK_CONTAINS(e.msg, "tensor 'transformer.h.2.ln_1.weight' is missing");
}

TEST(tf_load_bad_shards)
{
    err_t e;
    char p[4400];
    const char *d = copy_model("llama", "shard_missing");
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", d);
    unlink(p);
    CHECK(!load_err(d, &e));
    CHECK_CONTAINS(e.msg, "model-00002-of-00002.safetensors: No such file");

    d = copy_model("llama", "shard_escape");
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", d);
    const char *esc = "{\"weight_map\": {\"model.norm.weight\": \"../gpt2/model.safetensors\"}}";
    write_all(p, esc, strlen(esc));
    CHECK(!load_err(d, &e));
    CHECK_CONTAINS(e.msg, "is not a file name in");

    d = copy_model("llama", "shard_wrong");
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", d);
    const char *idx = "{\"weight_map\": {\"model.norm.weight\": \"model-00001-of-00002.safetensors\","
                      " \"lm_head.weight\": \"model-00002-of-00002.safetensors\"}}";
    write_all(p, idx, strlen(idx));
    CHECK(!load_err(d, &e));
    CHECK_CONTAINS(e.msg, "tensor 'model.norm.weight' is listed in");

    write_all(p, "{\"weight_map\": 3}", 17);
    CHECK(!load_err(d, &e));
    CHECK_CONTAINS(e.msg, "no \"weight_map\" object");
    write_all(p, "{\"weight_map\": {}}", 18);
    CHECK(!load_err(d, &e));
    CHECK_CONTAINS(e.msg, "weight_map is empty");
    write_all(p, "{\"weight_map\": ", 15);
    CHECK(!load_err(d, &e));
    CHECK_CONTAINS(e.msg, "model.safetensors.index.json:1:");
}

TEST(tf_load_without_prefix)
{
    /* GPT-2 as GPT2Model saves it: h.0..., wte.weight - the same model */
    err_t e;
    char p[4400];
    const char *d = copy_model("gpt2", "bare");
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    edit_header(p, strip_prefix);
    tf_model *a = tf_load(d, NULL, &e);
    CHECK_MSG(a, "%s", e.msg);
    tf_model *b = tf_load(fixture("gpt2"), NULL, &e);
    CHECK_MSG(b, "%s", e.msg);
    int32_t tok[4] = {1, 2, 3, 4};
    int len = 4;
    float la[160], lb[160];
    CHECK(tf_last_logits(a, tok, &len, 1, 4, la, &e) == 0);
    CHECK(tf_last_logits(b, tok, &len, 1, 4, lb, &e) == 0);
    CHECK(memcmp(la, lb, sizeof la) == 0);
    tf_free(a);
    tf_free(b);
}
