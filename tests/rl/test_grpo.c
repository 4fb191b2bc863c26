/* rl/grpo against TRL's formulas in PyTorch: tests/ref/make_grpo_fixtures.py
 * wrote advantages for every scale_rewards and, for every loss_type x
 * scale_rewards x (clipping with epsilon_high != epsilon and beta > 0 | on
 * policy), each micro-batch's loss, autograd gradient w.r.t. logp and
 * metrics. Here the same numbers must come out of the engine's callback. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/model/train.h"
#include "../../src/rl/grpo.h"
#include "../test.h"

static json_t *fixture(void)
{
    static json_t *j;
    if (!j) {
        char p[4300];
        snprintf(p, sizeof p, "%s/tests/fixtures/grpo_loss.json", test_root());
        json_error_t je;
        j = json_load_file(p, 0, &je);
        if (!j)
            test_fail(__FILE__, __LINE__, "%s: %s", p, je.text);
    }
    return j;
}

static int close_rel(double got, double want, double tol)
{
    return fabs(got - want) <= tol * fmax(fabs(want), 1e-12) || fabs(got - want) <= 1e-12;
}

/* rows [r0, r0 + B) of a [N][T] JSON matrix into out [B*T] */
static void rows_f(json_t *m, int r0, int B, int T, float *out)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            out[b * T + t] = (float)json_number_value(json_array_get(json_array_get(m, r0 + b), t));
}

TEST(grpo_advantages_match_trl)
{
    json_t *j = fixture();
    CHECK(j);
    int n = (int)json_array_size(json_object_get(j, "rewards"));
    int G = (int)json_integer_value(json_object_get(j, "G"));
    double r[64], a[64];
    for (int i = 0; i < n; i++)
        r[i] = json_number_value(json_array_get(json_object_get(j, "rewards"), i));
    const char *scales[] = {"group", "batch", "none"};
    for (int s = 0; s < 3; s++) {
        grpo_scale sc;
        CHECK(grpo_scale_parse(scales[s], &sc) == 0);
        grpo_adv_stats st;
        err_t e;
        CHECK(grpo_advantages(r, n, G, sc, a, &st, &e) == 0);
        json_t *want = json_object_get(json_object_get(j, "advantages"), scales[s]);
        for (int i = 0; i < n; i++)
            CHECK_MSG(close_rel(a[i], json_number_value(json_array_get(want, i)), 1e-9),
                      "%s adv[%d] = %.17g", scales[s], i, a[i]);
        json_t *ws = json_object_get(json_object_get(j, "adv_stats"), scales[s]);
        CHECK(close_rel(st.reward, json_number_value(json_object_get(ws, "reward")), 1e-12));
        CHECK(close_rel(st.reward_std, json_number_value(json_object_get(ws, "reward_std")), 1e-12));
        CHECK(close_rel(st.frac_reward_zero_std,
                        json_number_value(json_object_get(ws, "frac_reward_zero_std")), 1e-12));
    }
}

TEST(grpo_loss_and_gradient_match_trl)
{
    json_t *j = fixture();
    CHECK(j);
    int B = (int)json_integer_value(json_object_get(j, "B"));
    int T = (int)json_integer_value(json_object_get(j, "T"));
    int accum = (int)json_integer_value(json_object_get(j, "accum"));
    long batch_tokens = (long)json_number_value(json_object_get(j, "batch_tokens"));
    float logp[64], old[64], ref[64], ent[64], maskf[64], grad[64];
    uint8_t mask[64];
    json_t *cases = json_object_get(j, "cases");
    CHECK(json_array_size(cases) == 24);
    for (size_t c = 0; c < json_array_size(cases); c++) {
        json_t *cs = json_array_get(cases, c);
        const char *lt = json_string_value(json_object_get(cs, "loss_type"));
        const char *sc = json_string_value(json_object_get(cs, "scale_rewards"));
        grpo_loss_opts o = {0};
        CHECK(grpo_loss_type_parse(lt, &o.type) == 0);
        o.epsilon_low = json_number_value(json_object_get(cs, "epsilon"));
        o.epsilon_high = json_number_value(json_object_get(cs, "epsilon_high"));
        o.beta = json_number_value(json_object_get(cs, "beta"));
        o.max_completion_length = (int)json_integer_value(json_object_get(j, "max_completion_length"));
        o.accum = accum;
        o.batch_tokens = batch_tokens;
        int use_old = json_is_true(json_object_get(cs, "use_old"));
        json_t *adv_all = json_object_get(json_object_get(j, "advantages"), sc);
        json_t *mbs = json_object_get(cs, "micro_batches");
        for (int k = 0; k < accum; k++) {
            json_t *mb = json_array_get(mbs, k);
            rows_f(json_object_get(j, "logp"), k * B, B, T, logp);
            rows_f(json_object_get(j, "old_logp"), k * B, B, T, old);
            rows_f(json_object_get(j, "ref_logp"), k * B, B, T, ref);
            rows_f(json_object_get(j, "entropy"), k * B, B, T, ent);
            rows_f(json_object_get(j, "mask"), k * B, B, T, maskf);
            for (int i = 0; i < B * T; i++)
                mask[i] = maskf[i] != 0;
            double adv[8];
            for (int b = 0; b < B; b++)
                adv[b] = json_number_value(json_array_get(adv_all, k * B + b));
            grpo_mb mbc = {.o = &o, .B = B, .T = T, .mask = mask, .old_logp = use_old ? old : NULL,
                         .ref_logp = ref, .adv = adv};
            err_t e;
            CHECK_MSG(grpo_mb_eval(&mbc, logp, ent, grad, &e) == 0, "%s", e.msg);
            CHECK_MSG(close_rel(mbc.m.loss, json_number_value(json_object_get(mb, "loss")), 1e-6),
                      "case %zu (%s %s) mb %d: loss %.10g want %.10g", c, lt, sc, k, mbc.m.loss,
                      json_number_value(json_object_get(mb, "loss")));
            float want[64];
            rows_f(json_object_get(mb, "grad"), 0, B, T, want);
            double gmax = 0;
            for (int i = 0; i < B * T; i++)
                gmax = fmax(gmax, fabs(want[i]));
            for (int i = 0; i < B * T; i++)
                CHECK_MSG(fabs(grad[i] - want[i]) <= 1e-6 * fmax(fabs(want[i]), 1e-3 * gmax),
                          "case %zu (%s %s beta %g) mb %d: grad[%d] %.9g want %.9g", c, lt, sc,
                          o.beta, k, i, grad[i], want[i]);
            const char *names[] = {"kl", "entropy", "clip_low", "clip_high", "clip_region"};
            double got[] = {mbc.m.kl, mbc.m.entropy, mbc.m.clip_low, mbc.m.clip_high, mbc.m.clip_region};
            for (int q = 0; q < 5; q++)
                CHECK_MSG(close_rel(got[q], json_number_value(json_object_get(mb, names[q])), 1e-6),
                          "case %zu mb %d: %s %.10g want %.10g", c, k, names[q], got[q],
                          json_number_value(json_object_get(mb, names[q])));
        }
    }
}

/* The fixture's clipping case must really clip (else the test proves less
 * than it claims). */
TEST(grpo_fixture_exercises_clipping)
{
    json_t *j = fixture();
    CHECK(j);
    json_t *cs = json_array_get(json_object_get(j, "cases"), 0);
    CHECK(json_is_true(json_object_get(cs, "use_old")));
    double low = 0, high = 0;
    for (int k = 0; k < 3; k++) {
        json_t *mb = json_array_get(json_object_get(cs, "micro_batches"), k);
        low += json_number_value(json_object_get(mb, "clip_low"));
        high += json_number_value(json_object_get(mb, "clip_high"));
    }
    CHECK(low > 0 && high > 0);
}

TEST(grpo_token_loss_gradient_is_finite_difference)
{
    grpo_loss_opts o = {.type = GRPO_LOSS_DAPO, .epsilon_low = 0.2, .epsilon_high = 0.28,
                        .beta = 0.1, .accum = 1, .batch_tokens = 1};
    const double pts[][3] = {{-1.0, -1.1, -0.5}, {-2.0, -1.5, -2.2}, {-0.3, -0.9, -0.1}};
    const double As[] = {1.3, -0.7};
    for (size_t p = 0; p < ARRAY_LEN(pts); p++)
        for (size_t a = 0; a < 2; a++) {
            double d, h = 1e-6;
            grpo_token_loss(&o, pts[p][0], pts[p][1], pts[p][2], As[a], &d, NULL, NULL);
            double lp = grpo_token_loss(&o, pts[p][0] + h, pts[p][1], pts[p][2], As[a], NULL, NULL, NULL);
            double lm = grpo_token_loss(&o, pts[p][0] - h, pts[p][1], pts[p][2], As[a], NULL, NULL, NULL);
            CHECK_MSG(fabs((lp - lm) / (2 * h) - d) < 1e-6, "point %zu A %g: %g vs %g", p, As[a],
                      (lp - lm) / (2 * h), d);
        }
}

TEST(grpo_bad_input)
{
    err_t e;
    double r[4] = {1, 0, 1, 0}, a[4];
    CHECK(grpo_advantages(r, 4, 1, GRPO_SCALE_GROUP, a, NULL, &e) == -1);
    CHECK_CONTAINS(e.msg, "num_generations = 1");
    CHECK(grpo_advantages(r, 4, 3, GRPO_SCALE_GROUP, a, NULL, &e) == -1);
    CHECK_CONTAINS(e.msg, "4 rewards do not split into groups of num_generations = 3");
    r[2] = NAN;
    CHECK(grpo_advantages(r, 4, 2, GRPO_SCALE_GROUP, a, NULL, &e) == -1);
    CHECK_CONTAINS(e.msg, "reward 2 is nan");
    grpo_loss_type lt;
    grpo_scale sc;
    CHECK(grpo_loss_type_parse("ppo", &lt) == -1);
    CHECK(grpo_scale_parse("Group", &sc) == -1);
    uint8_t mask[4] = {1, 1, 0, 1};
    double adv[2] = {1, -1};
    grpo_loss_opts o = {.type = GRPO_LOSS_DAPO, .epsilon_low = 0.2, .epsilon_high = 0.2, .beta = 0.04,
                        .accum = 1, .batch_tokens = 3};
    grpo_mb c = {.o = &o, .B = 2, .T = 2, .mask = mask, .adv = adv};
    CHECK(grpo_mb_begin(&c, &e) == -1);
    CHECK_CONTAINS(e.msg, "beta = 0.04 needs the reference log-probabilities");
    o.beta = 0;
    o.batch_tokens = 2;
    CHECK(grpo_mb_begin(&c, &e) == -1);
    CHECK_CONTAINS(e.msg, "batch_tokens = 2 is less than this micro-batch's 3");
    o.batch_tokens = 3;
    o.accum = 0;
    CHECK(grpo_mb_begin(&c, &e) == -1);
    CHECK_CONTAINS(e.msg, "accum = 0");
    o.accum = 1;
    o.type = GRPO_LOSS_DR_GRPO;
    CHECK(grpo_mb_begin(&c, &e) == -1);
    CHECK_CONTAINS(e.msg, "max_completion_length");
}

TEST(grpo_episode_row_shifts_the_mask)
{
    int32_t toks[5] = {10, 11, 12, 13, 14};
    uint8_t fm[5] = {0, 0, 1, 1, 0};
    float lp[5] = {0, 0, -0.5f, -0.25f, 0};
    ep_episode ep = {0};
    ep.tokens = toks;
    ep.from_model = fm;
    ep.logprobs = lp;
    ep.n_tokens = 5;
    int32_t row[7];
    uint8_t mask[7];
    float old[7];
    err_t e;
    CHECK(grpo_episode_row(&ep, 7, row, mask, old, &e) == 5);
    const uint8_t wm[7] = {0, 1, 1, 0, 0, 0, 0};
    CHECK(memcmp(mask, wm, 7) == 0);
    CHECK(row[4] == 14 && row[5] == 0);
    CHECK(old[1] == -0.5f && old[2] == -0.25f && old[3] == 0);
    CHECK(grpo_episode_row(&ep, 4, row, mask, NULL, &e) == -1);
    CHECK_STR(e.msg, "episode 0.0 has 5 tokens: a row holds 1..4");
    ep.n_tokens = 0;
    CHECK(grpo_episode_row(&ep, 4, row, mask, NULL, &e) == -1);
}

TEST(grpo_sft_weights_mean_over_assistant_tokens)
{
    uint8_t mask[6] = {0, 1, 1, 0, 1, 0};
    float w[6];
    CHECK(grpo_sft_weights(mask, 2, 3, 2, w) == 3);
    CHECK(w[0] == 0 && fabsf(w[1] - 1.0f / 6) < 1e-7f && w[3] == 0 && fabsf(w[4] - 1.0f / 6) < 1e-7f);
}

/* Through the engine: with the current policy as the old one (ratio 1)
 * and beta 0, TRL's gradient is -A coef per policy token, so tf_train_fb
 * with grpo_loss_cb must give the parameter gradients of
 * tf_train_weighted with weights A coef on those tokens. This checks the
 * callback's (b, t) indexing and masking against the engine. */
TEST(grpo_engine_callback_matches_weighted_loss)
{
    char dir[4300];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/models/chat", test_root());
    err_t e;
    tf_model *m = tf_load(dir, NULL, &e);
    CHECK_MSG(m, "%s", e.msg);
    enum { B = 3, T = 9 };
    int32_t tok[B * T];
    int lens[B] = {9, 6, 4};
    uint8_t mask[B * T] = {0};
    for (int i = 0; i < B * T; i++) {
        tok[i] = (i * 37 + 11) % 250;
        mask[i] = (i % T) >= 2 && (i % T) < lens[i / T] - 1 && (i % 5) != 0;
    }
    double adv[B] = {1.25, -0.5, 0.75};
    float ent[B * T], lp[B * T];
    const char *names[] = {"model.layers.0.mlp.up_proj.weight", "model.embed_tokens.weight"};
    size_t sizes[] = {64 * 32, 259 * 32};
    for (int lt = 0; lt < 4; lt++) {
        grpo_loss_opts o = {.type = (grpo_loss_type)lt, .epsilon_low = 0.2, .epsilon_high = 0.28,
                            .max_completion_length = T, .accum = 2,
                            .batch_tokens = 2 * grpo_mask_tokens(mask, B, T)};
        grpo_mb c = {.o = &o, .B = B, .T = T, .mask = mask, .adv = adv};
        tf_trainer *t1 = tf_trainer_new(m, NULL, &e), *t2 = tf_trainer_new(m, NULL, &e);
        CHECK(t1 && t2);
        CHECK(grpo_mb_begin(&c, &e) == 0);
        float w[B * T];
        for (int i = 0; i < B * T; i++)
            w[i] = mask[i] ? (float)(adv[i / T] * c.coef[i / T]) : 0.0f;
        CHECK_MSG(tf_train_fb(t1, tok, lens, B, T, NULL, grpo_loss_cb, &c, lp, ent, &e) == 0, "%s",
                  e.msg);
        grpo_mb_end(&c);
        CHECK(c.m.tokens == grpo_mask_tokens(mask, B, T) && c.m.entropy > 0);
        double loss;
        CHECK(tf_train_weighted(t2, tok, lens, B, T, NULL, w, &loss, &e) == 0);
        for (int k = 0; k < 2; k++) {
            float *g1 = xmalloc(sizeof(float) * sizes[k]), *g2 = xmalloc(sizeof(float) * sizes[k]);
            CHECK_MSG(tf_trainer_grad(t1, names[k], g1, sizes[k], &e) == 0, "%s", e.msg);
            CHECK(tf_trainer_grad(t2, names[k], g2, sizes[k], &e) == 0);
            double d = 0, s = 0;
            for (size_t i = 0; i < sizes[k]; i++) {
                d += ((double)g1[i] - g2[i]) * ((double)g1[i] - g2[i]);
                s += (double)g2[i] * g2[i];
            }
            free(g1);
            free(g2);
            CHECK_MSG(s > 0 && sqrt(d / s) < 1e-5, "%s %s: relative difference %g",
                      grpo_loss_type_name(o.type), names[k], sqrt(d / s));
        }
        tf_trainer_free(t1);
        tf_trainer_free(t2);
    }
    tf_free(m);
}
