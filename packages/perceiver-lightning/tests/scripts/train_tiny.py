"""Train a tiny Perceiver AR with a deterministic data order; the tests run it as a subprocess.

Every optimizer step appends "<step> <loss>" to --loss_file (rank 0), so that runs can be
compared step by step. Checkpoints: ModelCheckpoint(save_last=True, every_n_train_steps).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, ModelCheckpoint

from perceiver.data.text import Task, TextDataModule
from perceiver.lightning.text.clm import CausalLanguageModelConfig, LitCausalLanguageModel
from perceiver.model.core import CrossAttentionLayer, SelfAttentionLayer


class LitModel(LitCausalLanguageModel):
    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=1e-3)


class LossRecorder(Callback):
    def __init__(self, path: Path, delay: float) -> None:
        self.path, self.delay = path, delay

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        loss = trainer.strategy.reduce(loss.detach(), reduce_op="mean")
        if trainer.is_global_zero:
            with open(self.path, "a") as f:
                f.write(f"{trainer.global_step} {loss.item():.8f}\n")
        if self.delay:
            import time

            time.sleep(self.delay)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train_file", required=True)
    parser.add_argument("--valid_file", required=True)
    parser.add_argument("--work_dir", required=True)
    parser.add_argument("--strategy", default="auto")
    parser.add_argument("--devices", type=int, default=1)
    parser.add_argument("--max_steps", type=int, default=8)
    parser.add_argument("--every_n", type=int, default=2)
    parser.add_argument("--epoch_steps", type=int, default=2, help="limit_train_batches")
    parser.add_argument("--resume", default=None, help="ckpt_path for trainer.fit ('last' or a file)")
    parser.add_argument("--loss_file", required=True)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to sleep after each step")
    parser.add_argument("--activation_checkpointing", action="store_true")
    args = parser.parse_args()

    work_dir = Path(args.work_dir)
    pl.seed_everything(0)
    data = TextDataModule(
        train_files=args.train_file,
        valid_files=args.valid_file,
        dataset_dir=str(work_dir / "cache"),
        max_seq_len=32,
        task=Task.clm,
        batch_size=4,
        num_workers=0,
        shuffle=False,  # deterministic data order
    )
    config = CausalLanguageModelConfig(
        vocab_size=data.vocab_size,
        max_seq_len=data.max_seq_len,
        max_latents=8,
        num_channels=32,
        num_heads=4,
        num_self_attention_layers=2,
        cross_attention_dropout=0.0,
        activation_checkpointing=args.activation_checkpointing,
    )
    model = LitModel.create(config)
    strategy: object = args.strategy
    if args.strategy == "fsdp":
        from pytorch_lightning.strategies import FSDPStrategy

        layers = {CrossAttentionLayer, SelfAttentionLayer}
        strategy = FSDPStrategy(auto_wrap_policy=layers, state_dict_type="full")
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=args.devices,
        strategy=strategy,
        max_steps=args.max_steps,
        limit_train_batches=args.epoch_steps,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(work_dir),
        callbacks=[
            ModelCheckpoint(
                dirpath=work_dir / "checkpoints", save_last=True, every_n_train_steps=args.every_n
            ),
            LossRecorder(Path(args.loss_file), args.delay),
        ],
    )
    trainer.fit(model, datamodule=data, ckpt_path=args.resume)
    if trainer.is_global_zero:
        print(f"done at step {trainer.global_step}", file=sys.stderr)


if __name__ == "__main__":
    main()
