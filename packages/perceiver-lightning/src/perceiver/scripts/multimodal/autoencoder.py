"""Train the multimodal Perceiver IO autoencoder: ``python -m perceiver.scripts.multimodal.autoencoder fit --help``.

The data module is perceiver-data's ``perceiver.data.multimodal.MultimodalDataModule``
(``--data=MultimodalDataModule --data.data_dir=<folder with train/ and valid/ .npz clips>``). Its
``num_frames``, ``image_shape``, ``audio_samples_per_frame`` and ``num_classes`` set the model's
encoder (``--data.num_frames=16`` ..., not ``--model.encoder.num_frames``). Another data module
works if it has these four attributes and yields the batches described in
``perceiver.lightning.multimodal.autoencoder``.
"""

from __future__ import annotations

from perceiver.lightning.multimodal.autoencoder import LitMultimodalAutoencoder
from perceiver.scripts.cli import CLI

LINKS = [
    (f"data.{name}", f"model.encoder.init_args.{name}")
    for name in ("num_frames", "image_shape", "audio_samples_per_frame", "num_classes")
]
DEFAULTS = {
    "model.encoder": {"class_path": "perceiver.model.multimodal.MultimodalEncoderConfig"},
    "model.decoder": {"class_path": "perceiver.model.multimodal.MultimodalDecoderConfig"},
}


def main(args: list[str] | None = None, run: bool = True) -> CLI:
    return CLI(LitMultimodalAutoencoder, links=LINKS, model_defaults=DEFAULTS, args=args, run=run)


if __name__ == "__main__":
    main()
