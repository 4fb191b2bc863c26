#!/usr/bin/python3
"""Builds the tiny model fixtures of tests/model/test_transformer.c.

    /usr/bin/python3 tests/ref/make_models.py     (Debian's python3-torch)

For each family - GPT-2, Llama (llama3 rope scaling), Qwen2 (q/k/v biases,
tied embeddings), Qwen3 (q/k RMSNorm, head_dim != hidden/heads), Mistral
(GQA, sliding window) - it draws random weights, saves them in Hugging Face
layout (config.json + model.safetensors, or shards with
model.safetensors.index.json), and writes expected.safetensors beside them:

    tokens  I32 [B, T]   a right-padded batch (padding holds junk ids)
    lens    I32 [B]
    logits  F32 [B, T, V]  (rows past lens are 0)
    logprobs F32 [B, T]  log_softmax(logits[b,t])[tokens[b,t+1]], t+1 < lens[b]
    entropy F32 [B, T]   for t < lens[b]
    greedy  I32 [B, 16]  16 greedy tokens after each prompt tokens[b, :lens[b]],
                         decoded alone with a KV cache
    greedy_logprobs F32 [B, 16]
    long_tokens, long_lens, long_logprobs, long_entropy: the same for a batch
                         of 80 and 45 tokens (models with room for them)

The model code below is plain torch written after transformers'
modeling_gpt2.py / modeling_llama.py / modeling_qwen2.py / modeling_qwen3.py /
modeling_mistral.py, step for step (Conv1D layout, rotate_half, repeat_kv,
fp32 rotary frequencies); the outputs are computed in float64 from the
weights as stored (bf16 / f16 files: the rounded weights), so they are the
exact answer that an fp32 engine must approach. Safetensors files are written
by hand (no safetensors package here): 8-byte little-endian header length,
JSON header, little-endian data.
"""
import json
import math
import os
import struct
import sys

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "models")
NEW_TOKENS = 16
LENS = [9, 5, 2]
LONG_LENS = [80, 45]


# ---------------------------------------------------------------- safetensors

def tensor_bytes(t, dtype):
    t = t.detach().contiguous()
    if dtype == "F32":
        return t.to(torch.float32).numpy().astype("<f4").tobytes()
    if dtype == "BF16":
        return t.to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()
    if dtype == "F16":
        return t.to(torch.float16).numpy().astype("<f2").tobytes()
    if dtype == "I32":
        return t.to(torch.int32).numpy().astype("<i4").tobytes()
    raise ValueError(dtype)


def save_safetensors(path, tensors, dtype_of):
    """tensors: name -> tensor, in file order; dtype_of(name) -> "F32" ..."""
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        dt = dtype_of(name)
        b = tensor_bytes(t, dt)
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)  # align the data as the reference writer does
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


def round_to(t, dtype):
    if dtype == "BF16":
        return t.to(torch.bfloat16).to(torch.float32)
    if dtype == "F16":
        return t.to(torch.float16).to(torch.float32)
    return t.to(torch.float32)


# ---------------------------------------------------------------- model code

def layer_norm(x, w, b, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, eps)


def rms_norm(x, w, eps):
    var = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def inv_freq_of(cfg):
    """transformers' _compute_default_rope_parameters / _compute_llama3_parameters, in fp32."""
    dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    base = cfg.get("rope_theta", 10000.0)
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    rs = cfg.get("rope_scaling")
    if rs and rs.get("rope_type", rs.get("type")) == "llama3":
        factor = rs["factor"]
        low_freq_factor = rs["low_freq_factor"]
        high_freq_factor = rs["high_freq_factor"]
        old_context_len = rs["original_max_position_embeddings"]
        low_freq_wavelen = old_context_len / low_freq_factor
        high_freq_wavelen = old_context_len / high_freq_factor
        wavelen = 2 * math.pi / inv_freq
        inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
        smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
        smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
        is_medium_freq = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
        inv_freq = torch.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama)
    return inv_freq


def attention(q, k, v, qpos, kpos, kvalid, window):
    """q [B,H,T,D], k/v [B,KV,S,D]; qpos [B,T], kpos [S], kvalid [B,S] bool.
    repeat_kv, scores scaled by D^-0.5, causal + padding (+ window) mask."""
    B, H, T, D = q.shape
    rep = H // k.shape[1]
    k = k.repeat_interleave(rep, dim=1)
    v = v.repeat_interleave(rep, dim=1)
    att = (q @ k.transpose(-2, -1)) * (D ** -0.5)
    allowed = (kpos[None, None, :] <= qpos[:, :, None]) & kvalid[:, None, :]
    if window:
        allowed = allowed & (qpos[:, :, None] - kpos[None, None, :] < window)
    # transformers fills with the dtype's minimum, not -inf: a padding query
    # with no key in its window then gets finite junk, not NaN (which 0 * NaN
    # would carry into the real rows through the values of the next layer).
    att = att.masked_fill(~allowed[:, None, :, :], torch.finfo(att.dtype).min)
    return torch.softmax(att, dim=-1) @ v


class Model:
    """One forward function for both families, weights by HF name (no prefix)."""

    def __init__(self, cfg, W):
        self.cfg, self.W = cfg, {k: v.to(torch.float64) for k, v in W.items()}
        self.gpt2 = cfg["model_type"] == "gpt2"
        if not self.gpt2:
            self.inv_freq = inv_freq_of(cfg)

    def forward(self, ids, kvalid, past=None):
        """ids [B,T]; kvalid [B, S] (S = past + T); returns logits [B,T,V], cache."""
        c, W = self.cfg, self.W
        B, T = ids.shape
        P = 0 if past is None else past[0][0].shape[2]
        qpos = torch.arange(P, P + T)[None, :].expand(B, T)
        kpos = torch.arange(P + T)
        cache = []
        if self.gpt2:
            C, H = c["n_embd"], c["n_head"]
            D, KV, eps = C // H, H, c["layer_norm_epsilon"]
            x = W["wte.weight"][ids] + W["wpe.weight"][qpos]
            L = c["n_layer"]
        else:
            C, H = c["hidden_size"], c["num_attention_heads"]
            KV = c["num_key_value_heads"]
            D = c.get("head_dim") or C // H
            eps = c["rms_norm_eps"]
            x = W["embed_tokens.weight"][ids]
            L = c["num_hidden_layers"]
            # fp32 angles as transformers' rotary embedding computes them
            ang = (qpos.float()[..., None] * self.inv_freq[None, None, :])
            emb = torch.cat((ang, ang), dim=-1).to(torch.float64)
            cos, sin = emb.cos()[:, None], emb.sin()[:, None]  # [B,1,T,D]
        for i in range(L):
            if self.gpt2:
                p = f"h.{i}."
                h = layer_norm(x, W[p + "ln_1.weight"], W[p + "ln_1.bias"], eps)
                qkv = h @ W[p + "attn.c_attn.weight"] + W[p + "attn.c_attn.bias"]  # Conv1D
                q, k, v = qkv.split(C, dim=2)
            else:
                p = f"layers.{i}."
                h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
                lin = lambda n, t: t @ W[p + n + ".weight"].T + (W[p + n + ".bias"] if p + n + ".bias" in W else 0)
                q, k, v = lin("self_attn.q_proj", h), lin("self_attn.k_proj", h), lin("self_attn.v_proj", h)
            q = q.view(B, T, H, D)
            k = k.view(B, T, KV, D)
            v = v.view(B, T, KV, D)
            if not self.gpt2 and p + "self_attn.q_norm.weight" in W:
                q = rms_norm(q, W[p + "self_attn.q_norm.weight"], eps)
                k = rms_norm(k, W[p + "self_attn.k_norm.weight"], eps)
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
            if not self.gpt2:
                q = q * cos + rotate_half(q) * sin
                k = k * cos + rotate_half(k) * sin
            if past is not None:
                k = torch.cat((past[i][0], k), dim=2)
                v = torch.cat((past[i][1], v), dim=2)
            cache.append((k, v))
            y = attention(q, k, v, qpos, kpos, kvalid, c.get("sliding_window") or 0)
            y = y.transpose(1, 2).reshape(B, T, H * D)
            if self.gpt2:
                x = x + y @ W[p + "attn.c_proj.weight"] + W[p + "attn.c_proj.bias"]
                h = layer_norm(x, W[p + "ln_2.weight"], W[p + "ln_2.bias"], eps)
                a = gelu_new(h @ W[p + "mlp.c_fc.weight"] + W[p + "mlp.c_fc.bias"])
                x = x + a @ W[p + "mlp.c_proj.weight"] + W[p + "mlp.c_proj.bias"]
            else:
                x = x + lin("self_attn.o_proj", y)
                h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
                x = x + lin("mlp.down_proj", torch.nn.functional.silu(lin("mlp.gate_proj", h)) * lin("mlp.up_proj", h))
        if self.gpt2:
            x = layer_norm(x, W["ln_f.weight"], W["ln_f.bias"], eps)
            head = W["wte.weight"]
        else:
            x = rms_norm(x, W["norm.weight"], eps)
            head = W["embed_tokens.weight"] if c.get("tie_word_embeddings") else W["lm_head.weight"]
        return x @ head.T, cache


# ---------------------------------------------------------------- weights

def make_weights(cfg, gen):
    """HF-named fp32 weights (no prefix), drawn so that logits spread out."""
    def n(*shape, std=1.0):
        return torch.randn(*shape, generator=gen) * std

    W = {}
    if cfg["model_type"] == "gpt2":
        C, V, L, F = cfg["n_embd"], cfg["vocab_size"], cfg["n_layer"], 4 * cfg["n_embd"]
        W["wte.weight"] = n(V, C, std=0.7)
        W["wpe.weight"] = n(cfg["n_positions"], C, std=0.3)
        for i in range(L):
            p = f"h.{i}."
            W[p + "ln_1.weight"] = 1 + n(C, std=0.1)
            W[p + "ln_1.bias"] = n(C, std=0.1)
            W[p + "attn.c_attn.weight"] = n(C, 3 * C, std=C ** -0.5)  # Conv1D [in, out]
            W[p + "attn.c_attn.bias"] = n(3 * C, std=0.1)
            W[p + "attn.c_proj.weight"] = n(C, C, std=C ** -0.5)
            W[p + "attn.c_proj.bias"] = n(C, std=0.1)
            W[p + "ln_2.weight"] = 1 + n(C, std=0.1)
            W[p + "ln_2.bias"] = n(C, std=0.1)
            W[p + "mlp.c_fc.weight"] = n(C, F, std=C ** -0.5)
            W[p + "mlp.c_fc.bias"] = n(F, std=0.1)
            W[p + "mlp.c_proj.weight"] = n(F, C, std=F ** -0.5)
            W[p + "mlp.c_proj.bias"] = n(C, std=0.1)
        W["ln_f.weight"] = 1 + n(C, std=0.1)
        W["ln_f.bias"] = n(C, std=0.1)
        return W
    C, V, L, F = cfg["hidden_size"], cfg["vocab_size"], cfg["num_hidden_layers"], cfg["intermediate_size"]
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = cfg.get("head_dim") or C // H
    qkv_bias = cfg["model_type"] == "qwen2" or cfg.get("attention_bias", False)
    W["embed_tokens.weight"] = n(V, C, std=0.7)
    for i in range(L):
        p = f"layers.{i}."
        W[p + "input_layernorm.weight"] = 1 + n(C, std=0.1)
        for nm, rows in (("q_proj", H * D), ("k_proj", KV * D), ("v_proj", KV * D)):
            W[p + f"self_attn.{nm}.weight"] = n(rows, C, std=C ** -0.5)
            if qkv_bias:
                W[p + f"self_attn.{nm}.bias"] = n(rows, std=0.1)
        if cfg["model_type"] == "qwen3":
            W[p + "self_attn.q_norm.weight"] = 1 + n(D, std=0.1)
            W[p + "self_attn.k_norm.weight"] = 1 + n(D, std=0.1)
        W[p + "self_attn.o_proj.weight"] = n(C, H * D, std=(H * D) ** -0.5)
        W[p + "post_attention_layernorm.weight"] = 1 + n(C, std=0.1)
        W[p + "mlp.gate_proj.weight"] = n(F, C, std=C ** -0.5)
        W[p + "mlp.up_proj.weight"] = n(F, C, std=C ** -0.5)
        W[p + "mlp.down_proj.weight"] = n(C, F, std=F ** -0.5)
    W["norm.weight"] = 1 + n(C, std=0.1)
    if not cfg.get("tie_word_embeddings"):
        W["lm_head.weight"] = n(V, C, std=2 * C ** -0.5)
    return W


# ---------------------------------------------------------------- expected outputs

def greedy(model, prompt, steps):
    """Greedy decoding of one sequence with a KV cache; also checked against
    recomputing the whole sequence at every step."""
    ids = torch.tensor([prompt])
    logits, cache = model.forward(ids, torch.ones(1, len(prompt), dtype=torch.bool))
    toks, lps, margins = [], [], []
    last = logits[0, -1]
    for _ in range(steps):
        top = torch.topk(last, 2).values
        margins.append(float(top[0] - top[1]))
        t = int(torch.argmax(last))
        toks.append(t)
        lps.append(float(torch.log_softmax(last, -1)[t]))
        S = len(prompt) + len(toks)
        logits, cache = model.forward(torch.tensor([[t]]), torch.ones(1, S, dtype=torch.bool), cache)
        last = logits[0, -1]
    full, _ = model.forward(torch.tensor([prompt + toks[:-1]]), torch.ones(1, len(prompt) + steps - 1, dtype=torch.bool))
    assert [int(a) for a in full[0, len(prompt) - 1:].argmax(-1)] == toks, "cache and recompute disagree"
    return toks, lps, min(margins)


def build(name, cfg, dtype="F32", prefix="", shards=1, seed=0):
    V = cfg["vocab_size"]
    for attempt in range(50):
        gen = torch.Generator().manual_seed(seed * 1000 + attempt)
        W = {k: round_to(v, dtype) for k, v in make_weights(cfg, gen).items()}
        model = Model(cfg, W)
        B, T = len(LENS), max(LENS)
        tokens = torch.randint(0, V, (B, T), generator=gen)
        for b, n in enumerate(LENS):
            tokens[b, n:] = V - 1 - b  # junk in the padding: must not matter
        kvalid = torch.arange(T)[None, :] < torch.tensor(LENS)[:, None]
        with torch.no_grad():
            logits, _ = model.forward(tokens, kvalid)
            lsm = torch.log_softmax(logits, -1)
            logprobs = torch.zeros(B, T, dtype=torch.float64)
            entropy = torch.zeros(B, T, dtype=torch.float64)
            for b, n in enumerate(LENS):
                logits[b, n:] = 0
                for t in range(n):
                    entropy[b, t] = -(lsm[b, t].exp() * lsm[b, t]).sum()
                    if t + 1 < n:
                        logprobs[b, t] = lsm[b, t, tokens[b, t + 1]]
            g, glp, margin = [], [], float("inf")
            for b, n in enumerate(LENS):
                toks, lps, mg = greedy(model, tokens[b, :n].tolist(), NEW_TOKENS)
                g.append(toks)
                glp.append(lps)
                margin = min(margin, mg)
        if margin > 2e-3:  # fp32 noise must not flip a greedy choice
            break
        print(f"{name}: greedy margin {margin:.2e} too small, redrawing", file=sys.stderr)
    else:
        raise SystemExit(f"{name}: no draw with clear greedy choices")

    d = os.path.join(ROOT, name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    named = {prefix + k if k != "lm_head.weight" else k: v for k, v in W.items()}
    if shards == 1:
        save_safetensors(os.path.join(d, "model.safetensors"), named, lambda _: dtype)
    else:
        names = list(named)
        per = (len(names) + shards - 1) // shards
        weight_map = {}
        for s in range(shards):
            fn = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            part = {k: named[k] for k in names[s * per:(s + 1) * per]}
            save_safetensors(os.path.join(d, fn), part, lambda _: dtype)
            weight_map.update({k: fn for k in part})
        total = sum(v.numel() for v in named.values()) * (2 if dtype != "F32" else 4)
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
            f.write("\n")
    exp = {
        "tokens": tokens, "lens": torch.tensor(LENS), "logits": logits.float(),
        "logprobs": logprobs.float(), "entropy": entropy.float(),
        "greedy": torch.tensor(g), "greedy_logprobs": torch.tensor(glp).float(),
    }
    if cfg.get("max_position_embeddings", 0) >= max(LONG_LENS):
        # Longer than one block of queries in the engine's attention: only
        # log-probabilities and entropies, which every logit feeds.
        T = max(LONG_LENS)
        lt = torch.randint(0, V, (len(LONG_LENS), T), generator=gen)
        kvalid = torch.arange(T)[None, :] < torch.tensor(LONG_LENS)[:, None]
        lsm = torch.log_softmax(model.forward(lt, kvalid)[0], -1)
        llp = torch.zeros(len(LONG_LENS), T, dtype=torch.float64)
        lent = torch.zeros(len(LONG_LENS), T, dtype=torch.float64)
        for b, n in enumerate(LONG_LENS):
            for t in range(n):
                lent[b, t] = -(lsm[b, t].exp() * lsm[b, t]).sum()
                if t + 1 < n:
                    llp[b, t] = lsm[b, t, lt[b, t + 1]]
        exp.update({"long_tokens": lt, "long_lens": torch.tensor(LONG_LENS),
                    "long_logprobs": llp.float(), "long_entropy": lent.float()})
    save_safetensors(os.path.join(d, "expected.safetensors"), exp,
                     lambda k: "I32" if k in ("tokens", "lens", "greedy", "long_tokens", "long_lens") else "F32")
    print(f"{name}: {sum(v.numel() for v in W.values())} parameters, {dtype}, greedy margin {margin:.3f}")
    return model


# ---- a model with a real tokenizer, for `retrain generate` ----

def byte_to_unicode():
    """GPT-2's map from bytes to the printable characters byte-level BPE
    vocabularies spell them with."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) + \
        list(range(ord("\u00ae"), ord("\u00ff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def encode_bytes(text):
    """Ids under the chat model's tokenizer: one token per byte (no merges),
    the special tokens as themselves."""
    ids, i = [], 0
    while i < len(text):
        for k, sp in enumerate(SPECIALS):
            if text.startswith(sp, i):
                ids.append(256 + k)
                i += len(sp)
                break
        else:
            ids.extend(text[i].encode("utf-8"))
            i += 1
    return ids


def build_chat():
    """A Qwen2-style model over a byte-level BPE tokenizer of 256 byte
    tokens and three special ones, with the continuations `retrain
    generate` must print, plain and as a ChatML chat."""
    cfg = {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 259,
        "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 512,
        "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "hidden_act": "silu",
        "rope_scaling": None, "use_sliding_window": False, "sliding_window": 4096,
        "tie_word_embeddings": True, "bos_token_id": 256, "eos_token_id": 258,
        "torch_dtype": "float32",
    }
    d = os.path.join(ROOT, "chat")
    b2u = byte_to_unicode()
    cases = [("plain", "SELECT name FROM", 24),
             ("chat", "<|im_start|>user\nList the tables.<|im_end|>\n<|im_start|>assistant\n", 24)]
    for seed in range(6, 60):
        model = build("chat", cfg, prefix="model.", seed=seed)
        out, ok = {}, True
        for key, text, steps in cases:
            prompt = encode_bytes(text)
            toks, _, margin = greedy(model, prompt, steps)
            # a clear greedy choice at every step, and a varied continuation
            ok = ok and margin > 2e-3 and len(set(toks)) >= 5
            if 258 in toks:  # generation ends with the turn's end
                toks = toks[:toks.index(258) + 1]
            body = bytes(t for t in toks if t < 256).decode("utf-8", errors="replace")
            out[key] = {"prompt_text": text, "new_ids": toks, "text": body}
        if ok:
            break
    vocab = {b2u[b]: b for b in range(256)}
    added = [{"id": 256 + k, "content": sp, "single_word": False, "lstrip": False,
              "rstrip": False, "normalized": False, "special": True} for k, sp in enumerate(SPECIALS)]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                  "use_regex": False}
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_SPLIT}, "behavior": "Isolated",
             "invert": False}, byte_level]},
        "post_processor": byte_level, "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": "", "end_of_word_suffix": "", "fuse_unk": False,
                  "byte_fallback": False, "ignore_merges": False, "vocab": vocab, "merges": []},
    }
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        json.dump(tokenizer, f, ensure_ascii=False)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "bos_token": None,
                   "chat_template": "{% for message in messages %}{{'<|im_start|>' + message['role'] "
                                    "+ '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
                                    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
                                    "{% endif %}"}, f, indent=2)
    with open(os.path.join(d, "expected_generate.json"), "w") as f:
        json.dump(out, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"chat: {out['plain']['text']!r} / {out['chat']['text']!r}")


QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def main():
    torch.set_grad_enabled(False)
    build("gpt2", {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": 160,
        "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 32, "n_ctx": 32, "n_inner": None,
        "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new", "bos_token_id": 159,
        "eos_token_id": 159, "tie_word_embeddings": True, "torch_dtype": "float32",
    }, prefix="transformer.", seed=1)
    build("llama", {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 192,
        "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 256,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
        "attention_bias": False, "mlp_bias": False, "tie_word_embeddings": False,
        "bos_token_id": 0, "eos_token_id": [1, 2], "torch_dtype": "float32",
    }, prefix="model.", shards=2, seed=2)
    build("qwen2", {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 150,
        "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 512,
        "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "hidden_act": "silu",
        "rope_scaling": None, "use_sliding_window": False, "sliding_window": 4096,
        "tie_word_embeddings": True, "bos_token_id": 148, "eos_token_id": 149,
        "torch_dtype": "bfloat16",
    }, dtype="BF16", prefix="model.", seed=3)
    build("qwen3", {
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "vocab_size": 140,
        "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
        "max_position_embeddings": 512, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
        "hidden_act": "silu", "attention_bias": False, "use_sliding_window": False,
        "tie_word_embeddings": True, "bos_token_id": 138, "eos_token_id": 139,
        "torch_dtype": "float16",
    }, dtype="F16", prefix="", seed=4)  # saved as the bare Qwen3Model: no "model." prefix
    build("mistral", {
        "architectures": ["MistralForCausalLM"], "model_type": "mistral", "vocab_size": 128,
        "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 1, "max_position_embeddings": 1024,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
        "sliding_window": 5, "tie_word_embeddings": False, "bos_token_id": 1,
        "eos_token_id": 2, "torch_dtype": "float32",
    }, prefix="model.", seed=5)
    build_chat()


if __name__ == "__main__":
    main()
