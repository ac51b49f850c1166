"""The multimodal autoencoder wrapper trains, checkpoints and reloads on tiny random videos."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from perceiver.lightning.multimodal.autoencoder import (
    LitMultimodalAutoencoder,
    MultimodalAutoencoderConfig,
    MultimodalDecoderConfig,
    MultimodalEncoderConfig,
)


class RandomVideos(Dataset):
    def __init__(self, n: int = 8) -> None:
        g = torch.Generator().manual_seed(0)
        self.image = torch.rand(n, 2, 3, 8, 8, generator=g)
        self.audio = torch.rand(n, 2 * 16, generator=g)
        self.label = torch.randint(0, 5, (n,), generator=g)

    def __len__(self) -> int:
        return len(self.label)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": self.image[i], "audio": self.audio[i], "label": self.label[i]}


class RandomVideoData(pl.LightningDataModule):
    num_classes = 5

    def train_dataloader(self) -> DataLoader:
        return DataLoader(RandomVideos(), batch_size=4)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(RandomVideos(4), batch_size=4)


class LitModel(LitMultimodalAutoencoder):
    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)


def test_multimodal_fit_checkpoint_load(tmp_path):
    config = MultimodalAutoencoderConfig(
        encoder=MultimodalEncoderConfig(
            num_frames=2,
            image_shape=(3, 8, 8),
            image_patch_size=4,
            image_num_frequency_bands=2,
            audio_samples_per_frame=16,
            audio_samples_per_patch=8,
            audio_num_frequency_bands=2,
            num_classes=5,
            num_cross_attention_heads=1,
            num_self_attention_heads=2,
            num_self_attention_layers_per_block=1,
        ),
        decoder=MultimodalDecoderConfig(
            num_cross_attention_heads=1, num_label_query_channels=16, num_output_channels=16
        ),
        num_latents=8,
        num_latent_channels=16,
    )
    model = LitModel.create(config, num_image_output_points=32)
    trainer = pl.Trainer(
        accelerator="cpu",
        max_steps=2,
        limit_val_batches=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
    )
    trainer.fit(model, datamodule=RandomVideoData())
    assert torch.isfinite(trainer.callback_metrics["val_loss"])
    path = tmp_path / "mm.ckpt"
    trainer.save_checkpoint(path)
    loaded = LitMultimodalAutoencoder.load_from_checkpoint(path)
    batch = next(iter(RandomVideoData().val_dataloader()))
    inputs = loaded._inputs(batch)
    torch.testing.assert_close(loaded.model.eval()(inputs)["label"], model.model.eval()(inputs)["label"])
