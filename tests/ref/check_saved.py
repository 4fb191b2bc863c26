#!/usr/bin/python3
"""Loads what the engine saved and checks its logits in PyTorch.

    /usr/bin/python3 tests/ref/check_saved.py MODEL_DIR [ADAPTER_DIR] EXPECTED.safetensors

MODEL_DIR is a Hugging Face directory written by tf_save_hf; ADAPTER_DIR a
PEFT adapter written by tf_lora_save (its adapter_config.json and
adapter_model.safetensors, applied with PEFT's math: W + lora_alpha / r * B A).
EXPECTED holds tokens I32 [B, T], lens I32 [B] and logits F32 [B, T, V] as the
engine computed them. Exit status 0 when float64 PyTorch agrees to 1e-4
(relative), else 1 with the difference.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_train_fixtures as tfx  # noqa: E402


def main():
    args = sys.argv[1:]
    if len(args) not in (2, 3):
        raise SystemExit(__doc__)
    model_dir, expected = args[0], args[-1]
    cfg, W, prefix = tfx.load_model_dir(model_dir)
    lora = {}
    if len(args) == 3:
        ad = args[1]
        acfg = json.load(open(os.path.join(ad, "adapter_config.json")))
        scale = acfg["lora_alpha"] / acfg["r"]
        T = tfx.read_safetensors(os.path.join(ad, "adapter_model.safetensors"))
        canon = "transformer." if cfg["model_type"] == "gpt2" else "model."
        for k, A in T.items():
            if ".lora_A." not in k:
                continue
            mod = k[len("base_model.model."):k.index(".lora_A.")]
            B = T[k.replace(".lora_A.", ".lora_B.")]
            path = mod[len(canon):]
            lora[path] = (A.double(), B.double(), scale)
    model = tfx.TrainModel(cfg, {k: v.double() for k, v in W.items()}, lora)
    X = tfx.read_safetensors(expected)
    tokens, lens, want = X["tokens"].long(), X["lens"].tolist(), X["logits"].double()
    kvalid = torch.arange(tokens.shape[1])[None, :] < torch.tensor(lens)[:, None]
    with torch.no_grad():
        got, _ = model.forward(tokens, kvalid)
    for b, n in enumerate(lens):
        got[b, n:] = 0
    err = float((got - want).norm() / want.norm())
    print(f"relative difference {err:.2e}")
    sys.exit(0 if err < 1e-4 else 1)


if __name__ == "__main__":
    main()
