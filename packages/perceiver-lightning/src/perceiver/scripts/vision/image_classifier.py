"""Train a Perceiver IO image classifier: ``python -m perceiver.scripts.vision.image_classifier fit --help``."""

from __future__ import annotations

from perceiver.lightning.vision.image_classifier import LitImageClassifier, channels_first
from perceiver.scripts.cli import CLI, data_num_classes, init_args

LINKS = [
    ("data.image_shape", "model.encoder.init_args.image_shape", channels_first),
    ("data.num_classes", "model.decoder.init_args.num_classes", data_num_classes),
]
# perceiver-io 0.11's script defaults
DEFAULTS = {
    "model.num_latents": 512,
    "model.num_latent_channels": 1024,
    "model.encoder": init_args(
        "perceiver.model.vision.image_classifier.ImageEncoderConfig",
        num_frequency_bands=64,
        num_cross_attention_layers=1,
        num_cross_attention_heads=1,
        num_self_attention_heads=8,
        num_self_attention_layers_per_block=6,
        num_self_attention_blocks=8,
        dropout=0.1,
    ),
    "model.decoder": init_args(
        "perceiver.model.core.config.ClassificationDecoderConfig",
        num_output_query_channels=1024,
        num_cross_attention_heads=1,
        dropout=0.1,
    ),
}


def main(args: list[str] | None = None, run: bool = True) -> CLI:
    return CLI(
        LitImageClassifier,
        links=LINKS,
        model_defaults=DEFAULTS,
        lr_scheduler="perceiver.scripts.lrs.ConstantWithWarmupLR",
        args=args,
        run=run,
    )


if __name__ == "__main__":
    main()
