"""perceiver-io 0.11's FSDP training script of Perceiver AR, replaced by ``perceiver.scripts.text.clm``.

Running it exits with the equivalent command line: the model options that perceiver-io 0.11
nested under ``--model`` (``--model.optimizer``, ``--model.scheduler``, ``--model.max_grad_norm``)
are the CLI's ``--optimizer``, ``--lr_scheduler`` and ``--trainer.gradient_clip_val``; its
strategy ``fsdp_perceiver_ar`` is Lightning's ``fsdp`` (``fsdp_cpu`` without GPUs);
``--model.max_heads_parallel`` is not needed (attention runs through PyTorch's fused kernels).
"""

from __future__ import annotations

import sys

MESSAGE = """perceiver.scripts.text.clm_fsdp (perceiver-io 0.11) is replaced by perceiver.scripts.text.clm:
  python -m perceiver.scripts.text.clm fit --trainer.strategy=fsdp \\
    --optimizer=AdamW --optimizer.lr=3e-4 \\
    --lr_scheduler=CosineWithWarmupLR --lr_scheduler.warmup_steps=1000 --lr_scheduler.min_fraction=0.1 \\
    --trainer.gradient_clip_val=1.0 ...
--model.optimizer* -> --optimizer*, --model.scheduler* -> --lr_scheduler*, --model.max_grad_norm -> \
--trainer.gradient_clip_val, --trainer.strategy=fsdp_perceiver_ar -> fsdp (fsdp_cpu without GPUs); \
--model.max_heads_parallel is not an option (attention uses PyTorch's fused kernels). \
See the migration guide (docs/migrating.md)."""


def main(args: list[str] | None = None) -> None:
    sys.exit(MESSAGE)


if __name__ == "__main__":
    main()
