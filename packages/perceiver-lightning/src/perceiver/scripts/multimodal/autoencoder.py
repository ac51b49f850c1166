"""Train the multimodal Perceiver IO autoencoder: ``python -m perceiver.scripts.multimodal.autoencoder fit --help``.

perceiver-data has no video + audio + label data module yet: pass your own with
``--data=path.to.YourDataModule`` (batches as described in ``perceiver.lightning.multimodal.autoencoder``).
"""

from __future__ import annotations

from perceiver.lightning.multimodal.autoencoder import LitMultimodalAutoencoder
from perceiver.scripts.cli import CLI

DEFAULTS = {
    "model.encoder": {"class_path": "perceiver.model.multimodal.MultimodalEncoderConfig"},
    "model.decoder": {"class_path": "perceiver.model.multimodal.MultimodalDecoderConfig"},
}


def main(args: list[str] | None = None, run: bool = True) -> CLI:
    return CLI(LitMultimodalAutoencoder, model_defaults=DEFAULTS, args=args, run=run)


if __name__ == "__main__":
    main()
