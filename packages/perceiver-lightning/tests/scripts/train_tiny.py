"""Train a tiny Perceiver AR with a deterministic data order; the tests run it as a subprocess.

Every optimizer step appends "<step> <loss>" to --loss_file (rank 0), so that runs can be
compared step by step. Checkpoints: ModelCheckpoint(save_last=True, every_n_train_steps), all
kept. --report_file receives JSON (rank 0): the strategy, the modules FSDP wrapped and those it
checkpoints, and the validation samples by step.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
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
            time.sleep(self.delay)


class Reporter(Callback):
    """How the strategy wrapped the model, and the validation samples by step."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.report: dict = {"samples": {}}

    def on_train_start(self, trainer, pl_module) -> None:
        from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import CheckpointWrapper
        from torch.distributed.fsdp import FullyShardedDataParallel

        modules = list(trainer.strategy.model.modules())
        self.report["strategy"] = type(trainer.strategy).__name__
        self.report["fsdp_wrapped"] = sorted(
            type(m.module).__name__ for m in modules if isinstance(m, FullyShardedDataParallel)
        )
        self.report["checkpoint_wrapped"] = sorted(
            type(m._checkpoint_wrapped_module).__name__ for m in modules if isinstance(m, CheckpointWrapper)
        )

    def on_validation_end(self, trainer, pl_module) -> None:
        self.report["samples"][trainer.global_step] = pl_module.last_validation_sample

    def on_fit_end(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            self.path.write_text(json.dumps(self.report))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train_file", required=True)
    parser.add_argument("--valid_file", required=True)
    parser.add_argument("--work_dir", required=True)
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--strategy", default="auto", help="auto, ddp or fsdp (CPUFSDPStrategy on CPU)")
    parser.add_argument("--devices", type=int, default=1)
    parser.add_argument("--max_steps", type=int, default=8)
    parser.add_argument("--every_n", type=int, default=2)
    parser.add_argument("--epoch_steps", type=int, default=2, help="limit_train_batches")
    parser.add_argument("--resume", default=None, help="ckpt_path for trainer.fit ('last' or a file)")
    parser.add_argument("--loss_file", required=True)
    parser.add_argument("--report_file", default=None)
    parser.add_argument("--sample_prompt", default=None, help="validation_sample_prompt")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to sleep after each step")
    parser.add_argument(
        "--activation_checkpointing",
        action="store_true",
        help="the core config's flag; with --strategy=fsdp FSDP's activation_checkpointing_policy instead",
    )
    args = parser.parse_args()

    work_dir = Path(args.work_dir)
    fsdp = args.strategy == "fsdp"
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
        activation_checkpointing=args.activation_checkpointing and not fsdp,
    )
    model = LitModel.create(
        config, validation_sample_prompt=args.sample_prompt, validation_sample_num_tokens=16
    )
    strategy: object = args.strategy
    if fsdp:
        from pytorch_lightning.strategies import FSDPStrategy

        from perceiver.lightning.strategies import CPUFSDPStrategy

        layers = {CrossAttentionLayer, SelfAttentionLayer}
        strategy = (CPUFSDPStrategy if args.accelerator == "cpu" else FSDPStrategy)(
            auto_wrap_policy=layers,
            activation_checkpointing_policy=layers if args.activation_checkpointing else None,
            state_dict_type="full",
        )
    callbacks = [
        ModelCheckpoint(
            dirpath=work_dir / "checkpoints",
            save_last=True,
            save_top_k=-1,
            every_n_train_steps=args.every_n,
        ),
        LossRecorder(Path(args.loss_file), args.delay),
    ]
    if args.report_file:
        callbacks.append(Reporter(Path(args.report_file)))
    trainer = pl.Trainer(
        accelerator=args.accelerator,
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
        callbacks=callbacks,
    )
    trainer.fit(model, datamodule=data, ckpt_path=args.resume)
    if trainer.is_global_zero:
        print(f"done at step {trainer.global_step}", file=sys.stderr)


if __name__ == "__main__":
    main()
