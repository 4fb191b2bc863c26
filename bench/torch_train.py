# PyTorch peer for bench/train_bench.c: the shared peer's GPT-2 124M and
# Qwen2.5-0.5B-shaped models (../shared/peers/torch_bench.py, random init),
# forward+backward with cross-entropy against random targets and an AdamW
# step, full fine-tuning or LoRA (r, alpha 2r, on every Linear of the blocks:
# PEFT's "all-linear"; base weights frozen), 2 threads.
#   /usr/bin/python3 bench/torch_train.py gpt2|qwen [--lora R] [--tokens T] [--steps N]
# (bench/train_run runs it as ../shared/docs/performance.md's config D)
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "peers"))
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch_bench import GPT2, Qwen2, nparams, rss_gb  # noqa: E402


class LoRALinear(nn.Module):
    """PEFT's LoRA Linear: y = base(x) + (alpha / r) * B(A(x)), A kaiming-uniform, B zeros."""

    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.A = nn.Parameter(torch.empty(r, base.in_features))
        self.B = nn.Parameter(torch.zeros(base.out_features, r))
        nn.init.kaiming_uniform_(self.A, a=5 ** 0.5)
        self.s = alpha / r

    def forward(self, x):
        return self.base(x) + self.s * (x @ self.A.t()) @ self.B.t()


def add_lora(model, r):
    for mod in list(model.modules()):
        for name, child in list(mod.named_children()):
            if isinstance(child, nn.Linear):
                setattr(mod, name, LoRALinear(child, r, 2 * r))
    for n, p in model.named_parameters():
        if not (n.endswith(".A") or n.endswith(".B")):
            p.requires_grad_(False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["gpt2", "qwen"])
    ap.add_argument("--lora", type=int, default=0)
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--steps", type=int, default=3)
    a = ap.parse_args()
    if a.what == "gpt2":
        m, V, B, L, C = GPT2(), 50257, 4, 12, 768
        n_mm = nparams(m) - m.wpe.weight.numel()
    else:
        m, V, B, L, C = Qwen2(), 151936, 1, 24, 896
        n_mm = nparams(m)
    T = a.tokens
    if a.lora:
        add_lora(m, a.lora)
    fpt = (4 if a.lora else 6) * n_mm + 12 * L * C * T
    train = [p for p in m.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(train, lr=1e-4, weight_decay=0.0)
    idx = torch.randint(0, V, (B, T))
    tgt = torch.randint(0, V, (B, T))
    fb, op = [], []
    for i in range(a.steps + 1):
        t0 = time.perf_counter()
        logits = m(idx)
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), tgt.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t1 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(train, 1.0)
        opt.step()
        t2 = time.perf_counter()
        del logits
        print(f"  step {i}: fwd+bwd {1e3*(t1-t0):.0f} ms  adamw {1e3*(t2-t1):.0f} ms  loss {loss.item():.3f}", flush=True)
        if i:
            fb.append(t1 - t0)
            op.append(t2 - t1)
    f, o = sorted(fb)[len(fb) // 2], sorted(op)[len(op) // 2]
    tok = B * T
    print(f"RESULT torch {a.what}{' lora' if a.lora else ''} B={B} T={T} threads={torch.get_num_threads()} "
          f"training {sum(p.numel() for p in train)/1e6:.2f}M | fwd+bwd {f*1e3:.0f} ms = {tok/f:.1f} tok/s, "
          f"{fpt*tok/f/1e9:.1f} GFLOP/s | adamw {o*1e3:.0f} ms | fwd+bwd+adamw {tok/(f+o):.1f} tok/s | "
          f"peak RSS {rss_gb():.2f} GB", flush=True)


if __name__ == "__main__":
    main()
