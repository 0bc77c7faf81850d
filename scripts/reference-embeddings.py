#!/usr/bin/env python3
"""Computes reference sentence embeddings for the embedder's test fixture.

An implementation independent of the Rust one: BERT's forward pass written out in numpy,
reading the same model files (safetensors weights, tokenizer.json), followed by masked mean
pooling and L2 normalisation, as sentence-transformers defines all-MiniLM-L6-v2.

    pip install numpy tokenizers safetensors
    python3 scripts/reference-embeddings.py models/all-MiniLM-L6-v2 > crates/embedder/tests/fixtures/reference.json
"""
import json
import math
import sys

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

SENTENCES = [
    "My printer shows a paper jam on every page.",
    "The wi-fi router keeps dropping the connection every evening",
    "I was charged twice for my support plan this month!",
    "tv",
    "laptop black screen after update, fan spinning loud, tried holding the power button for 30 seconds "
    "and unplugging the charger but nothing changes; the caps lock light blinks three times",
]
MAX_TOKENS = 256


def layer_norm(x, w, b, eps=1e-12):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def gelu(x):
    # The exact (erf) GELU that BERT uses.
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def embed(weights, ids, heads=12):
    w = lambda name: weights[name].astype(np.float64)
    n = len(ids)
    x = w("embeddings.word_embeddings.weight")[ids]
    x = x + w("embeddings.position_embeddings.weight")[:n]
    x = x + w("embeddings.token_type_embeddings.weight")[np.zeros(n, dtype=int)]
    x = layer_norm(x, w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"))
    hidden = x.shape[1]
    d = hidden // heads
    for layer in range(6):
        p = f"encoder.layer.{layer}."
        q = x @ w(p + "attention.self.query.weight").T + w(p + "attention.self.query.bias")
        k = x @ w(p + "attention.self.key.weight").T + w(p + "attention.self.key.bias")
        v = x @ w(p + "attention.self.value.weight").T + w(p + "attention.self.value.bias")
        q, k, v = (t.reshape(n, heads, d).transpose(1, 0, 2) for t in (q, k, v))
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(d)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores = scores / scores.sum(-1, keepdims=True)
        ctx = (scores @ v).transpose(1, 0, 2).reshape(n, hidden)
        attn = ctx @ w(p + "attention.output.dense.weight").T + w(p + "attention.output.dense.bias")
        x = layer_norm(attn + x, w(p + "attention.output.LayerNorm.weight"), w(p + "attention.output.LayerNorm.bias"))
        h = gelu(x @ w(p + "intermediate.dense.weight").T + w(p + "intermediate.dense.bias"))
        out = h @ w(p + "output.dense.weight").T + w(p + "output.dense.bias")
        x = layer_norm(out + x, w(p + "output.LayerNorm.weight"), w(p + "output.LayerNorm.bias"))
    pooled = x.mean(0)  # every token is real: one sentence, no padding
    return pooled / np.linalg.norm(pooled)


def main():
    model_dir = sys.argv[1]
    weights = load_file(f"{model_dir}/model.safetensors")
    weights = {k.removeprefix("bert."): v for k, v in weights.items()}
    tokenizer = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.no_padding()
    out = []
    for s in SENTENCES:
        ids = tokenizer.encode(s).ids
        out.append({"text": s, "tokens": len(ids), "embedding": [round(float(v), 6) for v in embed(weights, ids)]})
    json.dump({"model": "all-MiniLM-L6-v2", "max_tokens": MAX_TOKENS, "sentences": out}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
