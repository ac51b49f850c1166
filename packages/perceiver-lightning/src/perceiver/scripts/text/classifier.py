"""Train a Perceiver IO text classifier: ``python -m perceiver.scripts.text.classifier fit --help``."""

from __future__ import annotations

from perceiver.lightning.text.classifier import LitTextClassifier
from perceiver.scripts.cli import CLI

LINKS = [
    ("data.vocab_size", "model.encoder.init_args.vocab_size"),
    ("data.max_seq_len", "model.encoder.init_args.max_seq_len"),
]

# the nested configs are dataclasses that jsonargparse binds as classes: give them a class_path
DEFAULTS = {
    "model.encoder": {"class_path": "perceiver.lightning.text.classifier.TextClassifierEncoderConfig"},
    "model.decoder": {"class_path": "perceiver.model.core.config.ClassificationDecoderConfig"},
}


def main(args: list[str] | None = None, run: bool = True) -> CLI:
    return CLI(LitTextClassifier, links=LINKS, model_defaults=DEFAULTS, args=args, run=run)


if __name__ == "__main__":
    main()
