#!/usr/bin/python3
"""Builds the training fixtures of tests/model/test_train.c from the model
fixtures of make_models.py (run that first).

    /usr/bin/python3 tests/ref/make_train_fixtures.py     (Debian's python3-torch)

For each family directory tests/fixtures/models/NAME it writes train.safetensors:

    tokens I32 [B, T], lens I32 [B]      a right-padded batch (junk in the padding)
    weights F32 [B, T]                   per-token loss weights (some 0)
    loss F64 [1]                         -sum weights * log p(next token)
    grad.<hf name>                       d loss / d tensor, in the file's layout
    full_losses F64 [10]                 10 AdamW steps, every parameter trained
    lora_losses F64 [10]                 10 AdamW steps, LoRA adapters only
    lora.grad.<peft name>                d loss / d adapter tensor at the start
    full_logits F32 [B, T, V]            logits after the 10 full steps

and a PEFT adapter directory NAME/lora_init/ (adapter_config.json,
adapter_model.safetensors: the adapters the LoRA run starts from; B is not
zero so that every gradient is tested).

Each optimizer step accumulates two micro-batches (tokens, then tokens2 with
weights2), clips the global gradient norm to 1.0, and steps torch.optim.AdamW
(lr 5e-3 for full, 2e-2 for LoRA, weight decay 0.1 on matrices only, as
transformers' Trainer groups them) under a linear schedule with 2 warmup
steps of 10 (transformers' get_linear_schedule_with_warmup). The math is
float64 autograd through make_models.Model, so the numbers are the exact
answer an fp32 engine approaches.

check_saved.py (same folder) loads what the engine saved (a Hugging Face
directory, a PEFT adapter) and compares logits: the round trip.
"""
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_models as mm  # noqa: E402

ROOT = mm.ROOT
STEPS = 10
LENS = [11, 6, 3]
LENS2 = [7, 9]


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    base = 8 + n
    for name, d in header.items():
        if name == "__metadata__":
            continue
        b, e = d["data_offsets"]
        raw = bytearray(data[base + b: base + e])
        dt = d["dtype"]
        if dt == "F32":
            t = torch.frombuffer(raw, dtype=torch.float32)
        elif dt == "BF16":
            t = torch.frombuffer(raw, dtype=torch.bfloat16).float()
        elif dt == "F16":
            t = torch.frombuffer(raw, dtype=torch.float16).float()
        elif dt == "F64":
            t = torch.frombuffer(raw, dtype=torch.float64)
        elif dt == "I32":
            t = torch.frombuffer(raw, dtype=torch.int32)
        elif dt == "I64":
            t = torch.frombuffer(raw, dtype=torch.int64)
        else:
            raise ValueError(dt)
        out[name] = t.reshape(d["shape"]).clone()
    return out


def load_model_dir(d):
    """config, HF-named fp32 weights without the model prefix, prefix used."""
    cfg = json.load(open(os.path.join(d, "config.json")))
    W = {}
    idx = os.path.join(d, "model.safetensors.index.json")
    files = sorted(set(json.load(open(idx))["weight_map"].values())) if os.path.exists(idx) else ["model.safetensors"]
    for fn in files:
        W.update(read_safetensors(os.path.join(d, fn)))
    prefix = ""
    for p in ("transformer.", "model."):
        if any(k.startswith(p) for k in W):
            prefix = p
    W = {(k[len(prefix):] if k.startswith(prefix) else k): v.float() for k, v in W.items()}
    return cfg, W, prefix


class TrainModel(mm.Model):
    """make_models.Model over float64 leaf tensors (no copy), plus LoRA."""

    def __init__(self, cfg, W, lora=None):
        super().__init__(cfg, {})
        self.W = W  # name -> float64 tensor requiring grad (or not)
        self.lora = lora or {}  # module path (no prefix) -> (A, B, scale)

    def forward(self, ids, kvalid, past=None):
        if not self.lora:
            return super().forward(ids, kvalid, past)
        # Apply adapters by wrapping the weights: x W^T + s x A^T B^T equals
        # x (W + s B A)^T, which is exact in float64 (dropout is 0 here).
        saved = self.W
        W = dict(saved)
        gpt2 = self.cfg["model_type"] == "gpt2"
        for mod, (A, B, s) in self.lora.items():
            key = mod + ".weight"
            delta = s * (B @ A)  # [out, in]
            W[key] = W[key] + (delta.T if gpt2 else delta)  # Conv1D keeps [in, out]
        self.W = W
        try:
            return super().forward(ids, kvalid, past)
        finally:
            self.W = saved


def batch_loss(model, tokens, lens, weights):
    B, T = tokens.shape
    kvalid = torch.arange(T)[None, :] < torch.tensor(lens)[:, None]
    logits, _ = model.forward(tokens, kvalid)
    lsm = torch.log_softmax(logits, -1)
    loss = torch.zeros((), dtype=torch.float64)
    for b, n in enumerate(lens):
        for t in range(n - 1):
            loss = loss - weights[b, t].double() * lsm[b, t, tokens[b, t + 1]]
    return loss, logits


def make_batch(V, lens, gen):
    T = max(lens)
    tokens = torch.randint(0, V, (len(lens), T), generator=gen)
    weights = torch.rand(len(lens), T, generator=gen).float()
    for b, n in enumerate(lens):
        tokens[b, n:] = V - 1 - b
        weights[b, n - 1:] = 0
        weights[b, 1] = 0  # a masked position inside the sequence
    weights = weights / 10.0
    return tokens, weights


def linear_warmup(step, warmup=2, total=STEPS):
    if step < warmup:
        return step / warmup
    return max(0.0, (total - step) / (total - warmup))


def train(cfg, W0, batches, lora_init=None, lr=5e-3):
    """10 steps; returns losses and the final model."""
    if lora_init is None:
        params = {k: v.double().clone().requires_grad_(True) for k, v in W0.items()}
        model = TrainModel(cfg, params)
        decay = [p for k, p in params.items() if p.dim() == 2]
        nodecay = [p for k, p in params.items() if p.dim() < 2]
    else:
        params = {k: v.double() for k, v in W0.items()}
        lora = {m: (A.double().clone().requires_grad_(True), B.double().clone().requires_grad_(True), s)
                for m, (A, B, s) in lora_init.items()}
        model = TrainModel(cfg, params, lora)
        decay = [t for (A, B, _) in lora.values() for t in (A, B)]
        nodecay = []
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": nodecay, "weight_decay": 0.0}], lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, linear_warmup)
    losses = []
    all_params = decay + nodecay
    for _ in range(STEPS):
        total = 0.0
        for tokens, lens, weights in batches:
            loss, _ = batch_loss(model, tokens, lens, weights)
            loss.backward()
            total += float(loss)
        losses.append(total)
        torch.nn.utils.clip_grad_norm_(all_params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
    return losses, model


def lora_targets(cfg):
    if cfg["model_type"] == "gpt2":
        return ["c_attn", "c_proj"], ["attn.c_attn", "attn.c_proj", "mlp.c_proj"]
    return ["q_proj", "v_proj", "down_proj"], ["self_attn.q_proj", "self_attn.v_proj", "mlp.down_proj"]


def build(name):
    d = os.path.join(ROOT, name)
    cfg, W, prefix = load_model_dir(d)
    V = cfg["vocab_size"]
    gen = torch.Generator().manual_seed(100 + sum(map(ord, name)))
    tokens, weights = make_batch(V, LENS, gen)
    tokens2, weights2 = make_batch(V, LENS2, gen)

    # ---- loss and every gradient
    params = {k: v.double().clone().requires_grad_(True) for k, v in W.items()}
    model = TrainModel(cfg, params)
    loss, _ = batch_loss(model, tokens, LENS, weights)
    loss.backward()
    out = {"tokens": tokens, "lens": torch.tensor(LENS), "weights": weights,
           "tokens2": tokens2, "lens2": torch.tensor(LENS2), "weights2": weights2,
           "loss": torch.tensor([float(loss)], dtype=torch.float64)}
    for k, p in params.items():
        full = (prefix + k) if k != "lm_head.weight" else k
        out["grad." + full] = p.grad.float()

    batches = [(tokens, LENS, weights), (tokens2, LENS2, weights2)]
    # ---- 10 full steps
    full_losses, fm = train(cfg, W, batches)
    with torch.no_grad():
        _, logits = batch_loss(fm, tokens, LENS, weights)
        for b, n in enumerate(LENS):
            logits[b, n:] = 0  # padding rows: the engine leaves them 0
    out["full_losses"] = torch.tensor(full_losses, dtype=torch.float64)
    out["full_logits"] = logits.float()

    # ---- LoRA: r 4, alpha 8, adapters drawn here and written as PEFT's files
    short, mods = lora_targets(cfg)
    # PEFT names follow the *ForCausalLM module tree, whatever the file's prefix
    canon = "transformer." if cfg["model_type"] == "gpt2" else "model."
    r, alpha = 4, 8.0
    L = cfg.get("n_layer") or cfg["num_hidden_layers"]
    lora_init, tensors = {}, {}
    for i in range(L):
        for m in mods:
            path = (f"h.{i}." if cfg["model_type"] == "gpt2" else f"layers.{i}.") + m
            w = W[path + ".weight"]
            n_in, n_out = (w.shape[0], w.shape[1]) if cfg["model_type"] == "gpt2" else (w.shape[1], w.shape[0])
            A = (torch.rand(r, n_in, generator=gen) * 2 - 1) / n_in ** 0.5
            B = torch.randn(n_out, r, generator=gen) * 0.1
            lora_init[path] = (A, B, alpha / r)
            tensors[f"base_model.model.{canon}{path}.lora_A.weight"] = A
            tensors[f"base_model.model.{canon}{path}.lora_B.weight"] = B
    ld = os.path.join(d, "lora_init")
    os.makedirs(ld, exist_ok=True)
    mm.save_safetensors(os.path.join(ld, "adapter_model.safetensors"), tensors, lambda _: "F32")
    with open(os.path.join(ld, "adapter_config.json"), "w") as f:
        json.dump({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": r, "lora_alpha": alpha,
                   "lora_dropout": 0.0, "target_modules": short, "bias": "none",
                   "fan_in_fan_out": cfg["model_type"] == "gpt2"}, f, indent=2)
        f.write("\n")
    # gradients of the adapters at the start
    lo = {m: (A.double().clone().requires_grad_(True), B.double().clone().requires_grad_(True), s)
          for m, (A, B, s) in lora_init.items()}
    lmodel = TrainModel(cfg, {k: v.double() for k, v in W.items()}, lo)
    loss, _ = batch_loss(lmodel, tokens, LENS, weights)
    loss.backward()
    out["lora_loss"] = torch.tensor([float(loss)], dtype=torch.float64)
    for m, (A, B, _) in lo.items():
        out[f"lora.grad.base_model.model.{canon}{m}.lora_A.weight"] = A.grad.float()
        out[f"lora.grad.base_model.model.{canon}{m}.lora_B.weight"] = B.grad.float()
    lora_losses, _ = train(cfg, W, batches, lora_init, lr=2e-2)
    out["lora_losses"] = torch.tensor(lora_losses, dtype=torch.float64)

    def dt(k):
        if k.startswith(("tokens", "lens")):
            return "I32"
        if k in ("loss", "lora_loss", "full_losses", "lora_losses"):
            return "F64"
        return "F32"
    save_f64(os.path.join(d, "train.safetensors"), out, dt)
    print(f"{name}: loss {float(out['loss'][0]):.6f}, full {full_losses[0]:.4f} -> {full_losses[-1]:.4f}, "
          f"lora {lora_losses[0]:.4f} -> {lora_losses[-1]:.4f}")


def save_f64(path, tensors, dtype_of):
    """make_models.save_safetensors plus F64."""
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        d = dtype_of(name)
        if d == "F64":
            b = t.detach().to(torch.float64).contiguous().numpy().astype("<f8").tobytes()
        else:
            b = mm.tensor_bytes(t, d)
        header[name] = {"dtype": d, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


def main():
    names = sys.argv[1:] or ["gpt2", "llama", "qwen2", "qwen3", "mistral"]
    for n in names:
        build(n)


if __name__ == "__main__":
    main()
