"""The core demo: train a tiny Perceiver AR on bytes of text, on the CPU, with perceiver-core alone.

The corpus is CPython's own documentation topics (``pydoc_data``), so it runs offline.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from perceiver.model.core import CausalSequenceModel


def corpus() -> bytes:
    from pydoc_data.topics import topics

    return "\n\n".join(topics[k] for k in sorted(topics)).encode("utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--latents", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    torch.manual_seed(0)
    data = torch.tensor(list(corpus()), dtype=torch.long)
    split = int(0.95 * len(data))
    train, valid = data[:split], data[split:]
    model = CausalSequenceModel(
        vocab_size=256,
        max_seq_len=args.seq_len,
        max_latents=args.latents,
        num_channels=128,
        num_heads=4,
        num_self_attention_layers=3,
        cross_attention_dropout=0.3,
    )
    optim = torch.optim.AdamW(model.parameters(), lr=2e-3)
    print(
        f"Perceiver AR with {sum(p.numel() for p in model.parameters()):,} parameters, {len(train):,} bytes"
    )

    def batch(source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        start = torch.randint(0, len(source) - args.seq_len - 1, (args.batch_size,))
        window = torch.stack([source[s : s + args.seq_len + 1] for s in start.tolist()])
        return window[:, :-1], window[:, 1:]

    prefix_len = args.seq_len - args.latents
    t0 = time.perf_counter()
    for step in range(1, args.steps + 1):
        model.train()
        x, y = batch(train)
        logits = model(x, prefix_len=prefix_len)  # (b, latents, vocab)
        loss = F.cross_entropy(logits.transpose(1, 2), y[:, prefix_len:])
        loss.backward()
        optim.step()
        optim.zero_grad()
        if step % 25 == 0 or step == 1:
            model.eval()
            with torch.no_grad():
                x, y = batch(valid)
                val = F.cross_entropy(model(x, prefix_len=prefix_len).transpose(1, 2), y[:, prefix_len:])
            print(
                f"step {step:4d}  train loss {loss.item():.3f}  valid loss {val.item():.3f}  ({time.perf_counter() - t0:.0f}s)"
            )


if __name__ == "__main__":
    main()
