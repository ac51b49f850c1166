"""Train a Perceiver IO text classifier: ``python -m perceiver.scripts.text.classifier fit --help``."""

from __future__ import annotations

from perceiver.lightning.text.classifier import LitTextClassifier
from perceiver.scripts.cli import CLI, data_num_classes, init_args
from perceiver.scripts.text.mlm import ENCODER_DEFAULTS

LINKS = [
    ("data.vocab_size", "model.encoder.init_args.vocab_size"),
    ("data.max_seq_len", "model.encoder.init_args.max_seq_len"),
    ("data.num_classes", "model.decoder.init_args.num_classes", data_num_classes),
]

# the masked language model's encoder and perceiver-io 0.11's classification decoder (the nested
# configs are dataclasses that jsonargparse binds as classes: they need a class_path)
DEFAULTS = {
    "model.num_latents": 256,
    "model.num_latent_channels": 1280,
    "model.encoder": init_args(
        "perceiver.lightning.text.classifier.TextClassifierEncoderConfig", **ENCODER_DEFAULTS
    ),
    "model.decoder": init_args(
        "perceiver.model.core.config.ClassificationDecoderConfig",
        num_output_query_channels=768,
        num_cross_attention_heads=1,
        dropout=0.1,
    ),
}


def main(args: list[str] | None = None, run: bool = True) -> CLI:
    return CLI(
        LitTextClassifier,
        links=LINKS,
        model_defaults=DEFAULTS,
        lr_scheduler="perceiver.scripts.lrs.ConstantWithWarmupLR",
        args=args,
        run=run,
    )


if __name__ == "__main__":
    main()
