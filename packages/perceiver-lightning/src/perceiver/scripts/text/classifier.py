"""Train a Perceiver IO text classifier: ``python -m perceiver.scripts.text.classifier fit --help``."""

from __future__ import annotations

from perceiver.lightning.text.classifier import LitTextClassifier
from perceiver.scripts.cli import CLI

LINKS = [
    ("data.vocab_size", "model.encoder.vocab_size"),
    ("data.max_seq_len", "model.encoder.max_seq_len"),
]


def main(args: list[str] | None = None, run: bool = True) -> CLI:
    return CLI(LitTextClassifier, links=LINKS, args=args, run=run)


if __name__ == "__main__":
    main()
