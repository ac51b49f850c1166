"""The image classifier CLI trains exactly as a plain PyTorch loop over the same model and batches.

The CLI adds the data module, the optimizer and schedule from its options, batch checks and the
channels-last to channels-first permutation; none of it may change what is learned. Without
dropout the two runs give the same loss at every step and the same weights at the end.
"""

from __future__ import annotations

import copy
import sys

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from lightning_helpers import require_shared_data

from perceiver.model.vision.image_classifier import ImageClassifier
from perceiver.scripts.lrs import ConstantWithWarmupLR
from perceiver.scripts.vision.image_classifier import main

STEPS = 4


class RecordBatches(pl.Callback):
    def __init__(self) -> None:
        self.batches: list[dict[str, torch.Tensor]] = []
        self.losses: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.batches.append({key: value.clone() for key, value in batch.items()})

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))


@pytest.mark.parametrize("channels_last", [True, False])
def test_cli_training_equals_a_plain_loop(tmp_path, monkeypatch, channels_last):
    mnist = require_shared_data("images", "mnist")
    monkeypatch.setattr(sys, "argv", ["image_classifier"])
    cli = main(
        [
            "--seed_everything=0",
            "--data=MNISTDataModule",
            f"--data.data_dir={mnist}",
            f"--data.channels_last={channels_last}",
            "--data.batch_size=16",
            "--data.num_workers=0",
            "--model.num_latents=8",
            "--model.num_latent_channels=32",
            "--model.encoder.num_frequency_bands=4",
            "--model.encoder.num_cross_attention_heads=1",
            "--model.encoder.num_self_attention_heads=4",
            "--model.encoder.num_self_attention_layers_per_block=1",
            "--model.encoder.dropout=0.0",
            "--model.decoder.num_output_query_channels=32",
            "--model.decoder.num_cross_attention_heads=1",
            "--model.decoder.dropout=0.0",
            "--optimizer=AdamW",
            "--optimizer.lr=3e-3",
            "--optimizer.weight_decay=0.05",
            "--lr_scheduler.warmup_steps=2",
            f"--trainer.max_steps={STEPS}",
            "--trainer.limit_val_batches=0",
            "--trainer.logger=false",
            "--trainer.enable_checkpointing=false",
            "--trainer.callbacks=[]",
            "--trainer.enable_progress_bar=false",
            "--trainer.enable_model_summary=false",
            f"--trainer.default_root_dir={tmp_path}",
        ],
        run=False,
    )
    model, trainer = cli.model, cli.trainer
    start = copy.deepcopy(model.backend_model.state_dict())
    record = RecordBatches()
    trainer.callbacks.append(record)
    trainer.fit(model, cli.datamodule)
    assert len(record.batches) == STEPS

    plain = ImageClassifier(model.backend_model.config)
    plain.load_state_dict(start)
    optimizer = torch.optim.AdamW(plain.parameters(), lr=3e-3, weight_decay=0.05)
    schedule = ConstantWithWarmupLR(optimizer, warmup_steps=2)
    for batch, cli_loss in zip(record.batches, record.losses, strict=True):
        images = batch["image"].permute(0, 3, 1, 2) if channels_last else batch["image"]  # (b, c, h, w)
        loss = F.cross_entropy(plain(images), batch["label"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        torch.testing.assert_close(loss.item(), cli_loss, rtol=1e-5, atol=1e-6)
    for name, value in plain.state_dict().items():
        torch.testing.assert_close(
            value, model.backend_model.state_dict()[name], rtol=1e-5, atol=1e-6, msg=name
        )
