"""Train a Perceiver IO masked language model: ``python -m perceiver.scripts.text.mlm fit --help``."""

from __future__ import annotations

from perceiver.lightning.text.mlm import LitMaskedLanguageModel
from perceiver.scripts.cli import CLI, init_args

LINKS = [
    ("data.vocab_size", "model.encoder.init_args.vocab_size"),
    ("data.vocab_size", "model.decoder.init_args.vocab_size"),
    ("data.max_seq_len", "model.encoder.init_args.max_seq_len"),
    ("data.max_seq_len", "model.decoder.init_args.max_seq_len"),
]

# the architecture of deepmind/language-perceiver, as in perceiver-io 0.11's script (the nested
# configs are dataclasses that jsonargparse binds as classes: they need a class_path)
ENCODER_DEFAULTS = dict(
    num_input_channels=768,
    num_cross_attention_layers=1,
    num_cross_attention_qk_channels=256,
    num_cross_attention_v_channels=1280,
    num_cross_attention_heads=8,
    num_self_attention_qk_channels=256,
    num_self_attention_v_channels=1280,
    num_self_attention_heads=8,
    num_self_attention_layers_per_block=26,
    num_self_attention_blocks=1,
    dropout=0.1,
)
DEFAULTS = {
    "model.num_latents": 256,
    "model.num_latent_channels": 1280,
    "model.encoder": init_args("perceiver.model.text.mlm.TextEncoderConfig", **ENCODER_DEFAULTS),
    "model.decoder": init_args(
        "perceiver.model.text.mlm.TextDecoderConfig",
        num_cross_attention_qk_channels=256,
        num_cross_attention_v_channels=768,
        num_cross_attention_heads=8,
        cross_attention_residual=False,
        dropout=0.1,
    ),
}


def main(args: list[str] | None = None, run: bool = True) -> CLI:
    return CLI(
        LitMaskedLanguageModel,
        links=LINKS,
        model_defaults=DEFAULTS,
        lr_scheduler="perceiver.scripts.lrs.ConstantWithWarmupLR",
        args=args,
        run=run,
    )


if __name__ == "__main__":
    main()
