/* rl/grpo: advantages, TRL's clipped per-token loss and its gradient,
 * the reductions of loss_type, micro-batch metrics, SFT weights. */
#include "grpo.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const k_loss_names[] = {"grpo", "bnpo", "dr_grpo", "dapo"};
static const char *const k_scale_names[] = {"group", "batch", "none"};

int grpo_loss_type_parse(const char *s, grpo_loss_type *out)
{
    for (size_t i = 0; i < ARRAY_LEN(k_loss_names); i++)
        if (s && strcmp(s, k_loss_names[i]) == 0) {
            *out = (grpo_loss_type)i;
            return 0;
        }
    return -1;
}

const char *grpo_loss_type_name(grpo_loss_type t)
{
    return (unsigned)t < ARRAY_LEN(k_loss_names) ? k_loss_names[t] : "?";
}

int grpo_scale_parse(const char *s, grpo_scale *out)
{
    for (size_t i = 0; i < ARRAY_LEN(k_scale_names); i++)
        if (s && strcmp(s, k_scale_names[i]) == 0) {
            *out = (grpo_scale)i;
            return 0;
        }
    return -1;
}

const char *grpo_scale_name(grpo_scale s)
{
    return (unsigned)s < ARRAY_LEN(k_scale_names) ? k_scale_names[s] : "?";
}

/* torch.std: sqrt(sum (x - mean)^2 / (n - 1)); NaN for n < 2 as torch. */
static double std_bessel(const double *x, int n, double *mean_out)
{
    double m = 0;
    for (int i = 0; i < n; i++)
        m += x[i];
    m /= n;
    if (mean_out)
        *mean_out = m;
    if (n < 2)
        return NAN;
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (x[i] - m) * (x[i] - m);
    return sqrt(s / (n - 1));
}

/* torch.isclose(x, 0): |x| <= atol 1e-8 (rtol * 0 adds nothing). */
static int close_to_zero(double x) { return fabs(x) <= 1e-8; }

int grpo_advantages(const double *rewards, int n, int G, grpo_scale scale, double *adv,
                    grpo_adv_stats *stats, err_t *e)
{
    if (G < 2)
        return err_set(e, "num_generations = %d: GRPO needs at least 2 samples per prompt", G);
    if (n < G || n % G != 0)
        return err_set(e, "%d rewards do not split into groups of num_generations = %d", n, G);
    for (int i = 0; i < n; i++)
        if (!isfinite(rewards[i]))
            return err_set(e, "reward %d is %g: rewards must be finite numbers", i, rewards[i]);
    double batch_mean, batch_std = std_bessel(rewards, n, &batch_mean);
    double std_sum = 0, zero = 0;
    for (int g = 0; g < n / G; g++) {
        const double *r = rewards + (size_t)g * G;
        double mean, sd = std_bessel(r, G, &mean);
        /* TRL logs the group std for "group" and "none", the batch std for "batch" */
        double s = scale == GRPO_SCALE_BATCH ? batch_std : sd;
        for (int i = 0; i < G; i++) {
            double a = r[i] - mean;
            if (scale != GRPO_SCALE_NONE)
                a /= s + 1e-4;
            adv[(size_t)g * G + i] = a;
        }
        std_sum += s * G;
        zero += close_to_zero(s) ? G : 0;
    }
    if (stats) {
        stats->reward = batch_mean;
        stats->reward_std = std_sum / n;
        stats->frac_reward_zero_std = zero / n;
    }
    return 0;
}

double grpo_token_loss(const grpo_loss_opts *o, double logp, double old, double ref, double A,
                       double *dlogp, double *kl, int *flags)
{
    double rho = exp(logp - old);
    double lo = 1 - o->epsilon_low, hi = 1 + o->epsilon_high;
    double clipped = rho < lo ? lo : rho > hi ? hi : rho;
    double l1 = rho * A, l2 = clipped * A;
    double loss = -(l1 < l2 ? l1 : l2);
    /* d(-min(l1, l2))/dlogp: dl1/dlogp = rho A; dl2/dlogp = rho A inside
     * [lo, hi] (clamp passes the gradient at its bounds too), 0 outside;
     * torch.minimum splits a tie half and half. */
    double d1 = rho * A, d2 = (rho >= lo && rho <= hi) ? rho * A : 0;
    double g = l1 < l2 ? d1 : l2 < l1 ? d2 : 0.5 * (d1 + d2);
    double d = -g;
    double diff = ref - logp, k3 = exp(diff) - diff - 1;
    if (o->beta != 0) {
        loss += o->beta * k3;
        d += o->beta * (1 - exp(diff)); /* dk3/dlogp = -exp(ref - logp) + 1 */
    }
    if (dlogp)
        *dlogp = d;
    if (kl)
        *kl = k3;
    if (flags)
        *flags = (rho < lo && A < 0 ? GRPO_CLIP_LOW : 0) | (rho > hi && A > 0 ? GRPO_CLIP_HIGH : 0);
    return loss;
}

long grpo_mask_tokens(const uint8_t *mask, int B, int T)
{
    long n = 0;
    for (size_t i = 0; i < (size_t)B * T; i++)
        n += mask[i] != 0;
    return n;
}

int grpo_mb_begin(grpo_mb *c, err_t *e)
{
    const grpo_loss_opts *o = c->o;
    c->coef = NULL;
    memset(&c->m, 0, sizeof c->m);
    c->kl_sum = c->ent_sum = c->low_sum = c->high_sum = c->region_sum = 0;
    if (c->B < 1 || c->T < 1 || !c->mask || !c->adv)
        return err_set(e, "grpo: a micro-batch needs B, T >= 1, a mask and advantages");
    if (o->accum < 1)
        return err_set(e, "grpo: accum = %d: must be at least 1", o->accum);
    if (!(o->epsilon_low >= 0 && o->epsilon_high >= 0))
        return err_set(e, "grpo: epsilon must be >= 0");
    if (o->beta != 0 && !c->ref_logp)
        return err_set(e, "grpo: beta = %g needs the reference log-probabilities", o->beta);
    if (o->type == GRPO_LOSS_DR_GRPO && o->max_completion_length < 1)
        return err_set(e, "grpo: dr_grpo needs max_completion_length >= 1");
    long tokens = grpo_mask_tokens(c->mask, c->B, c->T);
    if (o->type == GRPO_LOSS_DAPO && o->batch_tokens < tokens)
        return err_set(e, "grpo: dapo's batch_tokens = %ld is less than this micro-batch's %ld "
                          "tokens (it counts every micro-batch of the step)",
                       o->batch_tokens, tokens);
    c->m.tokens = tokens;
    c->coef = xmalloc(sizeof(double) * (size_t)c->B);
    for (int b = 0; b < c->B; b++) {
        double k;
        switch (o->type) {
        case GRPO_LOSS_GRPO: {
            long nb = grpo_mask_tokens(c->mask + (size_t)b * c->T, 1, c->T);
            k = 1.0 / ((double)(nb > 1 ? nb : 1) * c->B * o->accum);
            break;
        }
        case GRPO_LOSS_BNPO:
            k = 1.0 / ((double)(tokens > 1 ? tokens : 1) * o->accum);
            break;
        case GRPO_LOSS_DR_GRPO:
            k = 1.0 / ((double)c->B * o->max_completion_length * o->accum);
            break;
        default:
            k = 1.0 / (double)(o->batch_tokens > 1 ? o->batch_tokens : 1);
            break;
        }
        c->coef[b] = k;
    }
    return 0;
}

void grpo_loss_cb(void *user, int n, const int *bs, const int *ts, const float *logp,
                  const float *ent, float *dlogp, float *dent)
{
    grpo_mb *c = user;
    for (int i = 0; i < n; i++) {
        size_t at = (size_t)bs[i] * c->T + ts[i];
        dlogp[i] = 0;
        if (dent)
            dent[i] = 0;
        if (!c->mask[at])
            continue;
        double lp = logp[i];
        double old = c->old_logp ? c->old_logp[at] : lp;
        double ref = c->ref_logp ? c->ref_logp[at] : lp;
        double d, kl;
        int fl;
        double l = grpo_token_loss(c->o, lp, old, ref, c->adv[bs[i]], &d, &kl, &fl);
        double k = c->coef[bs[i]];
        c->m.loss += k * l;
        dlogp[i] = (float)(k * d);
        c->kl_sum += kl;
        c->ent_sum += ent ? ent[i] : 0;
        c->low_sum += (fl & GRPO_CLIP_LOW) != 0;
        c->high_sum += (fl & GRPO_CLIP_HIGH) != 0;
        c->region_sum += fl != 0;
    }
}

void grpo_mb_end(grpo_mb *c)
{
    /* TRL: masked sums over completion_mask.sum().clamp(min=1) */
    double n = c->m.tokens > 1 ? (double)c->m.tokens : 1.0;
    c->m.kl = c->kl_sum / n;
    c->m.entropy = c->ent_sum / n;
    c->m.clip_low = c->low_sum / n;
    c->m.clip_high = c->high_sum / n;
    c->m.clip_region = c->region_sum / n;
    free(c->coef);
    c->coef = NULL;
}

int grpo_mb_eval(grpo_mb *c, const float *logp, const float *ent, float *dlogp, err_t *e)
{
    if (grpo_mb_begin(c, e) != 0)
        return -1;
    size_t N = (size_t)c->B * c->T;
    int *bs = xmalloc(sizeof(int) * N), *ts = xmalloc(sizeof(int) * N);
    float *d = xmalloc(sizeof(float) * N), *de = xmalloc(sizeof(float) * N);
    for (size_t i = 0; i < N; i++) {
        bs[i] = (int)(i / (size_t)c->T);
        ts[i] = (int)(i % (size_t)c->T);
    }
    grpo_loss_cb(c, (int)N, bs, ts, logp, ent, d, de);
    if (dlogp)
        memcpy(dlogp, d, sizeof(float) * N);
    free(bs);
    free(ts);
    free(d);
    free(de);
    grpo_mb_end(c);
    return 0;
}

int grpo_episode_row(const ep_episode *ep, int T, int32_t *tokens, uint8_t *mask, float *old_logp,
                     err_t *e)
{
    int n = ep->n_tokens;
    if (n < 1 || n > T)
        return err_set(e, "episode %d.%d has %d tokens: a row holds 1..%d", ep->task, ep->sample, n, T);
    for (int t = 0; t < T; t++) {
        int in = t < n;
        int next = t + 1 < n;
        tokens[t] = in ? ep->tokens[t] : 0;
        mask[t] = next ? ep->from_model[t + 1] : 0;
        if (old_logp)
            old_logp[t] = next && ep->from_model[t + 1] ? ep->logprobs[t + 1] : 0.0f;
    }
    return n;
}

long grpo_sft_weights(const uint8_t *mask, int B, int T, int accum, float *w)
{
    long n = grpo_mask_tokens(mask, B, T);
    double k = 1.0 / ((double)(n > 1 ? n : 1) * (accum > 1 ? accum : 1));
    for (size_t i = 0; i < (size_t)B * T; i++)
        w[i] = mask[i] ? (float)k : 0.0f;
    return n;
}
