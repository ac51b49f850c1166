"""Train (fine-tune) the Perceiver IO optical flow model: ``python -m perceiver.scripts.vision.optical_flow fit --help``.

The data module is perceiver-data's ``perceiver.data.vision.OpticalFlowDataModule``
(``--data=OpticalFlowDataModule --data.root=<Middlebury or MPI-Sintel folder>``).
"""

from __future__ import annotations

import contextlib

from perceiver.lightning.vision.optical_flow import LitOpticalFlow
from perceiver.scripts.cli import CLI

# defined here before perceiver-data had it: configs naming this module's class keep working;
# without perceiver-data (the [data] extra) there is none
with contextlib.suppress(ImportError):
    from perceiver.data.vision import OpticalFlowDataModule  # noqa: F401

DEFAULTS = {
    "model.encoder": {"class_path": "perceiver.model.vision.optical_flow.OpticalFlowEncoderConfig"},
    "model.decoder": {"class_path": "perceiver.model.vision.optical_flow.OpticalFlowDecoderConfig"},
}


def main(args: list[str] | None = None, run: bool = True) -> CLI:
    return CLI(LitOpticalFlow, model_defaults=DEFAULTS, args=args, run=run)


if __name__ == "__main__":
    main()
