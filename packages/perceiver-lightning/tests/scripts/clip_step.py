"""Build ``perceiver.scripts.text.clm``'s CLI from the command line given (``run=False``), train
it, and write the norm of the weight update to the JSON file named by the first argument.

With ``--optimizer=SGD --optimizer.lr=1 --trainer.max_steps=1`` the update is minus the
gradient after clipping, so its norm is ``--trainer.gradient_clip_val`` wherever the gradient's
norm exceeds it. The tests run this as a subprocess: FSDP sets up a process group.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from perceiver.scripts.text.clm import main


def run(report: Path, args: list[str]) -> None:
    cli = main(args, run=False)
    model = cli.model
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    cli.trainer.fit(model, datamodule=cli.datamodule)
    after = cli.trainer.strategy.lightning_module_state_dict()  # FSDP: the gathered full state
    if cli.trainer.is_global_zero:
        update = torch.cat([(after[name] - value).flatten() for name, value in before.items()])
        report.write_text(
            json.dumps(
                {
                    "update_norm": update.norm().item(),
                    "strategy": type(cli.trainer.strategy).__name__,
                    "gradient_clip_val": cli.trainer.gradient_clip_val,
                    "global_step": cli.trainer.global_step,
                }
            )
        )


if __name__ == "__main__":
    run(Path(sys.argv[1]), sys.argv[2:])
