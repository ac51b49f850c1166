"""Train a Perceiver IO masked language model: ``python -m perceiver.scripts.text.mlm fit --help``."""

from __future__ import annotations

from perceiver.lightning.text.mlm import LitMaskedLanguageModel
from perceiver.scripts.cli import CLI

LINKS = [
    ("data.vocab_size", "model.encoder.vocab_size"),
    ("data.vocab_size", "model.decoder.vocab_size"),
    ("data.max_seq_len", "model.encoder.max_seq_len"),
    ("data.max_seq_len", "model.decoder.max_seq_len"),
]


def main(args: list[str] | None = None, run: bool = True) -> CLI:
    return CLI(LitMaskedLanguageModel, links=LINKS, args=args, run=run)


if __name__ == "__main__":
    main()
