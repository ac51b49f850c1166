"""Train a Perceiver IO masked language model: ``python -m perceiver.scripts.text.mlm fit --help``."""

from __future__ import annotations

from perceiver.lightning.text.mlm import LitMaskedLanguageModel
from perceiver.scripts.cli import CLI

LINKS = [
    ("data.vocab_size", "model.encoder.init_args.vocab_size"),
    ("data.vocab_size", "model.decoder.init_args.vocab_size"),
    ("data.max_seq_len", "model.encoder.init_args.max_seq_len"),
    ("data.max_seq_len", "model.decoder.init_args.max_seq_len"),
]

# the nested configs are dataclasses that jsonargparse binds as classes: give them a class_path
DEFAULTS = {
    "model.encoder": {"class_path": "perceiver.model.text._encoder.TextEncoderConfig"},
    "model.decoder": {"class_path": "perceiver.model.text.mlm.TextDecoderConfig"},
}


def main(args: list[str] | None = None, run: bool = True) -> CLI:
    return CLI(LitMaskedLanguageModel, links=LINKS, model_defaults=DEFAULTS, args=args, run=run)


if __name__ == "__main__":
    main()
