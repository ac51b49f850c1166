"""Train a Perceiver AR on MIDI events: ``python -m perceiver.scripts.audio.symbolic fit --help``."""

from __future__ import annotations

from perceiver.lightning.audio.symbolic import LitSymbolicAudioModel
from perceiver.scripts.cli import CLI

LINKS = [("data.vocab_size", "model.vocab_size"), ("data.max_seq_len", "model.max_seq_len")]
# perceiver-io 0.11's script defaults (they differ from SymbolicAudioModelConfig's)
DEFAULTS = {
    "model.max_latents": 512,
    "model.num_channels": 512,
    "model.num_heads": 8,
    "model.num_self_attention_layers": 12,
    "model.cross_attention_dropout": 0.5,
    "model.post_attention_dropout": 0.0,
    "model.output_norm": True,
    "model.output_bias": False,
    "model.abs_pos_emb": False,
}


def main(args: list[str] | None = None, run: bool = True) -> CLI:
    return CLI(LitSymbolicAudioModel, links=LINKS, model_defaults=DEFAULTS, args=args, run=run)


if __name__ == "__main__":
    main()
