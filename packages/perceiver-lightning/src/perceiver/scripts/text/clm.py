"""Train a Perceiver AR causal language model: ``python -m perceiver.scripts.text.clm fit --help``."""

from __future__ import annotations

from perceiver.lightning.text.clm import LitCausalLanguageModel
from perceiver.scripts.cli import CLI

LINKS = [("data.vocab_size", "model.vocab_size"), ("data.max_seq_len", "model.max_seq_len")]
# perceiver-io 0.11's script defaults
DEFAULTS = {
    "model.max_latents": 512,
    "model.num_channels": 512,
    "model.num_self_attention_layers": 8,
    "model.cross_attention_dropout": 0.5,
    "model.post_attention_dropout": 0.0,
}


def main(args: list[str] | None = None, run: bool = True) -> CLI:
    return CLI(LitCausalLanguageModel, links=LINKS, model_defaults=DEFAULTS, args=args, run=run)


if __name__ == "__main__":
    main()
