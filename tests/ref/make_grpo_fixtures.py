#!/usr/bin/python3
"""Writes tests/fixtures/grpo_loss.json for tests/rl/test_grpo.c.

    /usr/bin/python3 tests/ref/make_grpo_fixtures.py     (Debian's python3-torch)

The formulas are TRL's GRPOTrainer (huggingface/trl, trl/trainer/grpo_trainer.py,
late 2025): advantages as in _generate_and_score_completions (group mean; std of
the group or of the batch with torch.std, i.e. Bessel-corrected; A / (std + 1e-4)
unless scale_rewards is "none"), the loss and metrics as in _compute_loss
(token-level importance ratio, clipped surrogate with epsilon_low / epsilon_high,
k3 KL to the reference times beta, reductions grpo / bnpo / dr_grpo divided by the
gradient-accumulation steps, dapo divided by num_items_in_batch: the masked tokens
of the whole accumulated batch; kl / entropy / clip_ratio as masked means).
Everything runs in float64; the inputs are float32 values so the C side, which
reads float32 log-probabilities from the engine, sees the same numbers.

Inputs: 3 groups of G = 3 completions (one micro-batch per group, so an
optimizer step accumulates 3 micro-batches), T = 7 positions, random masks (one
row fully masked out, to exercise clamp(min=1)), random log-probabilities, old
log-probabilities near them (ratios inside and outside the clip range) and
reference log-probabilities. Cases: every loss_type x scale_rewards, with
(epsilon 0.2, epsilon_high 0.28, beta 0.04, old log-probabilities given) and
(epsilon = epsilon_high = 0.2, beta 0, old = current detached, ratio 1).
For each micro-batch: the loss, d loss / d logp by autograd, the metrics.
"""
import json
import os

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "grpo_loss.json")

G, NGROUPS, T = 3, 3, 7
N = G * NGROUPS
MAXLEN = T


def f32(x):
    return x.to(torch.float32).to(torch.float64)


def advantages(rewards, scale):
    grouped = rewards.view(-1, G)
    mean = grouped.mean(dim=1).repeat_interleave(G, dim=0)
    adv = rewards - mean
    if scale in ("group", "none"):
        std = grouped.std(dim=1).repeat_interleave(G, dim=0)
    else:
        std = rewards.std().expand_as(rewards)
    is_zero = torch.isclose(std, torch.zeros_like(std))
    if scale != "none":
        adv = adv / (std + 1e-4)
    stats = {"reward": rewards.mean().item(), "reward_std": std.mean().item(),
             "frac_reward_zero_std": is_zero.double().mean().item()}
    return adv, stats


def micro_loss(logp, old, ref, ent, mask, adv, loss_type, eps_lo, eps_hi, beta, accum, num_items):
    if beta != 0.0:
        per_token_kl = torch.exp(ref - logp) - (ref - logp) - 1
    old = logp.detach() if old is None else old
    coef_1 = torch.exp(logp - old)
    coef_2 = torch.clamp(coef_1, 1 - eps_lo, 1 + eps_hi)
    per_token_loss1 = coef_1 * adv.unsqueeze(1)
    per_token_loss2 = coef_2 * adv.unsqueeze(1)
    per_token_loss = -torch.min(per_token_loss1, per_token_loss2)
    if beta != 0.0:
        per_token_loss = per_token_loss + beta * per_token_kl
    if loss_type == "grpo":
        loss = ((per_token_loss * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean() / accum
    elif loss_type == "bnpo":
        loss = (per_token_loss * mask).sum() / mask.sum().clamp(min=1.0) / accum
    elif loss_type == "dr_grpo":
        loss = (per_token_loss * mask).sum() / (per_token_loss.size(0) * MAXLEN) / accum
    elif loss_type == "dapo":
        loss = (per_token_loss * mask).sum() / num_items
    count = mask.sum().clamp(min=1.0)

    def mmean(x):
        return ((x * mask).sum() / count).item()

    kl_all = torch.exp(ref - logp) - (ref - logp) - 1
    low = (coef_1 < 1 - eps_lo) & (adv.unsqueeze(1) < 0)
    high = (coef_1 > 1 + eps_hi) & (adv.unsqueeze(1) > 0)
    metrics = {"kl": mmean(kl_all.detach()), "entropy": mmean(ent), "clip_low": mmean(low.double()),
               "clip_high": mmean(high.double()), "clip_region": mmean((low | high).double())}
    return loss, metrics


def main():
    g = torch.Generator().manual_seed(1234)
    rewards = torch.tensor([1.0, 0.0, 0.5, 0.25, 0.25, 0.25, 0.0, 1.0, 1.0], dtype=torch.float64)
    mask = (torch.rand(N, T, generator=g) < 0.7).double()
    mask[4] = 0.0  # a row with no policy tokens
    mask[0, 0] = 1.0
    logp = f32(-torch.rand(N, T, generator=g, dtype=torch.float64) * 3.0)
    old = f32(logp + torch.randn(N, T, generator=g, dtype=torch.float64) * 0.4)
    ref = f32(logp + torch.randn(N, T, generator=g, dtype=torch.float64) * 0.5)
    ent = f32(torch.rand(N, T, generator=g, dtype=torch.float64) * 4.0)
    num_items = mask.sum().item()

    out = {"G": G, "B": G, "T": T, "max_completion_length": MAXLEN, "accum": NGROUPS,
           "rewards": rewards.tolist(), "mask": mask.tolist(), "logp": logp.tolist(),
           "old_logp": old.tolist(), "ref_logp": ref.tolist(), "entropy": ent.tolist(),
           "batch_tokens": num_items, "advantages": {}, "adv_stats": {}, "cases": []}
    for scale in ("group", "batch", "none"):
        adv, stats = advantages(rewards, scale)
        out["advantages"][scale] = adv.tolist()
        out["adv_stats"][scale] = stats
    for loss_type in ("grpo", "bnpo", "dr_grpo", "dapo"):
        for scale in ("group", "batch", "none"):
            for eps_lo, eps_hi, beta, use_old in ((0.2, 0.28, 0.04, True), (0.2, 0.2, 0.0, False)):
                adv = torch.tensor(out["advantages"][scale], dtype=torch.float64)
                case = {"loss_type": loss_type, "scale_rewards": scale, "epsilon": eps_lo,
                        "epsilon_high": eps_hi, "beta": beta, "use_old": use_old, "micro_batches": []}
                for k in range(NGROUPS):
                    rows = slice(k * G, (k + 1) * G)
                    lp = logp[rows].clone().requires_grad_(True)
                    loss, metrics = micro_loss(lp, old[rows] if use_old else None, ref[rows], ent[rows],
                                               mask[rows], adv[rows], loss_type, eps_lo, eps_hi, beta,
                                               NGROUPS, num_items)
                    loss.backward()
                    metrics["loss"] = loss.item()
                    metrics["grad"] = lp.grad.tolist()
                    case["micro_batches"].append(metrics)
                out["cases"].append(case)
    with open(OUT, "w") as f:
        json.dump(out, f, indent=0)
        f.write("\n")
    print("wrote", OUT, len(out["cases"]), "cases")


if __name__ == "__main__":
    main()
