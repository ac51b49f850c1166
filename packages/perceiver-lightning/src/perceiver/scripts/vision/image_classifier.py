"""Train a Perceiver IO image classifier: ``python -m perceiver.scripts.vision.image_classifier fit --help``."""

from __future__ import annotations

from perceiver.lightning.vision.image_classifier import LitImageClassifier, channels_first
from perceiver.scripts.cli import CLI

LINKS = [("data.image_shape", "model.encoder.init_args.image_shape", channels_first)]
DEFAULTS = {
    "model.encoder": {"class_path": "perceiver.model.vision.image_classifier.ImageEncoderConfig"},
    "model.decoder": {"class_path": "perceiver.model.core.config.ClassificationDecoderConfig"},
}


def main(args: list[str] | None = None, run: bool = True) -> CLI:
    return CLI(LitImageClassifier, links=LINKS, model_defaults=DEFAULTS, args=args, run=run)


if __name__ == "__main__":
    main()
