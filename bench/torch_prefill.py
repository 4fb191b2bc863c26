# PyTorch peer for the transformer benchmark's forward (prefill) figures:
# the shared peer's GPT-2 124M and Qwen2.5-0.5B-shaped models
# (../shared/peers/torch_bench.py, random init), one forward pass over a
# batch with logits at every position, then the same with per-token
# log-probabilities and entropies computed from those logits.
#   /usr/bin/python3 bench/torch_prefill.py gpt2|qwen     (see bench/README.md for config D)
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "peers"))
import torch  # noqa: E402
from torch_bench import GPT2, Qwen2, nparams, rss_gb  # noqa: E402

what = sys.argv[1]
reps = int(os.environ.get("REPS", 3))
if what == "gpt2":
    m, V, B, T = GPT2().eval(), 50257, 4, 256
    L, C = 12, 768
    n_mm = nparams(m) - m.wpe.weight.numel()
else:
    m, V, B, T = Qwen2().eval(), 151936, 1, 256
    L, C = 24, 896
    n_mm = nparams(m)
fpt = 2 * n_mm + 4 * L * C * T  # forward FLOP per token, as transformer_bench counts it
idx = torch.randint(0, V, (B, T))
tf, tl = [], []
with torch.inference_mode():
    for i in range(reps + 1):
        t0 = time.perf_counter()
        logits = m(idx)
        t1 = time.perf_counter()
        lsm = torch.log_softmax(m(idx), -1)
        lp = lsm[:, :-1].gather(-1, idx[:, 1:, None])
        ent = -(lsm.exp() * lsm).sum(-1)
        t2 = time.perf_counter()
        del logits, lsm, lp, ent
        if i:  # the first is a warm-up
            tf.append(t1 - t0)
            tl.append(t2 - t1)
tf, tl = min(tf), min(tl)
print(f"RESULT torch {what} prefill {B}x{T} threads={torch.get_num_threads()} params={nparams(m)/1e6:.1f}M | "
      f"logits: {tf:.3f} s = {B*T/tf:.1f} tok/s, {fpt*B*T/tf/1e9:.1f} GFLOP/s | "
      f"log-probs + entropy: {tl:.3f} s = {B*T/tl:.1f} tok/s | peak RSS {rss_gb():.2f} GB", flush=True)
