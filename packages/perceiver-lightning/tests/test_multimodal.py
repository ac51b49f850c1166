"""The multimodal autoencoder wrapper trains, checkpoints and reloads on tiny random videos, and
its CLI trains on perceiver-data's .npz clips."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from lightning_helpers import TRAINER_ARGS, run_checkpoints, run_cli
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


def _write_clips(root: Path) -> None:
    """Tiny clips in perceiver-data's format: 3 frames of 10x12 (resized and cropped to 8x8)."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 4), ("valid", 2)):
        (root / split).mkdir(parents=True)
        for i in range(n):
            np.savez(
                root / split / f"clip{i}.npz",
                video=rng.integers(0, 256, (3, 10, 12, 3), dtype=np.uint8),
                audio=rng.uniform(-1, 1, (3 * 16, 1)).astype(np.float32),
                label=np.int64(i % 5),
            )


def test_cli_print_config_then_fit_on_npz_clips(tmp_path, monkeypatch, capsys):
    """--print_config writes a config that `fit --config` trains from; the data module's shapes
    set the model's encoder (linked), and the checkpoint loads with weights_only=True."""
    pytest.importorskip("perceiver.data.multimodal", reason="perceiver-data is not installed")
    _write_clips(tmp_path / "clips")
    args = [
        "--data=MultimodalDataModule",
        "--data.data_dir=clips",
        "--data.num_frames=2",
        "--data.image_shape=[3,8,8]",
        "--data.audio_samples_per_frame=16",
        "--data.num_classes=5",
        "--data.batch_size=2",
        "--data.num_workers=0",
        "--model.encoder.image_patch_size=4",
        "--model.encoder.image_num_frequency_bands=2",
        "--model.encoder.audio_samples_per_patch=8",
        "--model.encoder.audio_num_frequency_bands=2",
        "--model.encoder.num_cross_attention_heads=1",
        "--model.encoder.num_self_attention_heads=2",
        "--model.encoder.num_self_attention_layers_per_block=1",
        "--model.decoder.num_cross_attention_heads=1",
        "--model.decoder.num_label_query_channels=16",
        "--model.decoder.num_output_channels=16",
        "--model.num_latents=8",
        "--model.num_latent_channels=16",
        "--model.num_image_output_points=32",
    ]
    from perceiver.scripts.multimodal.autoencoder import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["autoencoder"])
    with pytest.raises(SystemExit) as exit_info:  # in this process: saves a start of Python
        main(["fit", *args, "--print_config"])
    assert not exit_info.value.code
    config = capsys.readouterr().out
    assert "class_path: perceiver.data.multimodal.MultimodalDataModule" in config
    (tmp_path / "config.yaml").write_text(config)
    run_cli(
        "perceiver.scripts.multimodal.autoencoder", "fit", "--config=config.yaml", *TRAINER_ARGS, cwd=tmp_path
    )

    # last.ckpt holds the state where training stopped: step 3 (max_steps), after the last validation
    # at the end of epoch 0 (2 batches), step 2
    _, path = run_checkpoints(tmp_path / "logs" / "lightning_logs" / "version_0")
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["perceiver_task"] == "multimodal.autoencoder" and checkpoint["global_step"] == 3
    encoder = checkpoint["hyper_parameters"]["encoder"]
    assert (encoder["num_frames"], encoder["image_shape"], encoder["audio_samples_per_frame"]) == (
        2,
        [3, 8, 8],
        16,
    )
    assert encoder["num_classes"] == 5
    assert checkpoint["datamodule_hyper_parameters"]["data_dir"] == "clips"
