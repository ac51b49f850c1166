"""perceiver-io 0.11's FSDP training script of Perceiver AR, replaced by ``perceiver.scripts.text.clm``.

Running it exits with the equivalent command line: the model options that perceiver-io 0.11
nested under ``--model`` (``--model.optimizer``, ``--model.scheduler``, ``--model.max_grad_norm``)
are the CLI's ``--optimizer``, ``--lr_scheduler`` and ``--trainer.gradient_clip_val`` (clipping
by norm works under FSDP: the wrappers clip with FSDP's own ``clip_grad_norm_``); its strategy
``fsdp_perceiver_ar`` (one FSDP unit and activation checkpointing per attention layer) is
Lightning's ``FSDPStrategy`` with both policies set to our attention layers
(``CPUFSDPStrategy`` without GPUs); ``--model.max_heads_parallel`` is not needed (attention runs
through PyTorch's fused kernels).
"""

from __future__ import annotations

import sys

LAYERS = "[perceiver.model.core.CrossAttentionLayer, perceiver.model.core.SelfAttentionLayer]"

# what replaces the options of perceiver-io 0.11's examples/training/clm/train_fsdp.sh (the
# tests build the CLI from them)
OPTIONS = (
    "--trainer.strategy=FSDPStrategy",
    f"--trainer.strategy.auto_wrap_policy={LAYERS}",
    f"--trainer.strategy.activation_checkpointing_policy={LAYERS}",
    "--optimizer=AdamW",
    "--optimizer.lr=3e-4",
    "--lr_scheduler=CosineWithWarmupLR",
    "--lr_scheduler.warmup_steps=1000",
    "--lr_scheduler.min_fraction=0.1",
    "--trainer.gradient_clip_val=1.0",
)


def _quoted(option: str) -> str:
    return f'"{option}"' if " " in option else option


MESSAGE = (
    "perceiver.scripts.text.clm_fsdp (perceiver-io 0.11) is replaced by perceiver.scripts.text.clm:\n"
    "  python -m perceiver.scripts.text.clm fit "
    + " \\\n    ".join(_quoted(option) for option in OPTIONS)
    + " ...\n"
    "--model.optimizer* -> --optimizer*, --model.scheduler* -> --lr_scheduler*, --model.max_grad_norm -> "
    "--trainer.gradient_clip_val, --trainer.strategy=fsdp_perceiver_ar -> FSDPStrategy with the "
    "auto_wrap_policy and activation_checkpointing_policy above (perceiver.lightning.strategies."
    "CPUFSDPStrategy without GPUs); --model.max_heads_parallel is not an option (attention uses "
    "PyTorch's fused kernels). See the migration guide (docs/migrating.md)."
)


def main(args: list[str] | None = None) -> None:
    sys.exit(MESSAGE)


if __name__ == "__main__":
    main()
