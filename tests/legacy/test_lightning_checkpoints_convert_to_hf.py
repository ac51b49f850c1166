"""perceiver-hf's convert_checkpoint accepts krasserm/perceiver-io 0.11's Lightning checkpoints
(identical outputs).

The checkpoints and reference outputs were written by perceiver-io 0.11's own code; they are
perceiver-lightning's test fixtures (packages/perceiver-lightning/tests/data/legacy, made by
packages/perceiver-lightning/tests/scripts/make_legacy_checkpoints.py), which this test shares
across the packages instead of keeping a second copy.
"""

from pathlib import Path

import pytest
import torch

import perceiver.hf  # noqa: F401
from perceiver.hf.audio import symbolic
from perceiver.hf.text import classifier, clm, mlm
from perceiver.hf.vision import PerceiverImageClassifierProcessor, image_classifier

DATA = Path(__file__).resolve().parents[2] / "packages" / "perceiver-lightning" / "tests" / "data" / "legacy"
CONVERTERS = {
    "text.mlm": lambda save_dir, ckpt: mlm.convert_checkpoint(save_dir, ckpt, tokenizer_name=None),
    "text.classifier": lambda save_dir, ckpt: classifier.convert_checkpoint(
        save_dir, ckpt, tokenizer_name=None
    ),
    "text.clm": lambda save_dir, ckpt: clm.convert_checkpoint(save_dir, ckpt, tokenizer_name=None),
    "audio.symbolic": lambda save_dir, ckpt: symbolic.convert_checkpoint(save_dir, ckpt),
    # the checkpoint records no data module whose image preprocessing is known: the processor is given
    "vision.image_classifier": lambda save_dir, ckpt: image_classifier.convert_checkpoint(
        save_dir, ckpt, image_processor=PerceiverImageClassifierProcessor(num_channels=1, image_size=(8, 8))
    ),
}


@pytest.mark.parametrize("task", sorted(CONVERTERS))
def test_legacy_lightning_checkpoint_converts_with_identical_outputs(task, tmp_path):
    model = CONVERTERS[task](tmp_path / "model", DATA / f"{task}.ckpt")
    reloaded = type(model).from_pretrained(tmp_path / "model").backend_model.eval()
    reference = torch.load(DATA / f"{task}.reference.pt", weights_only=True)
    x, pad_mask = reference["input"], reference.get("pad_mask")
    with torch.no_grad():
        if task in ("text.clm", "audio.symbolic"):
            output = reloaded(x, prefix_len=x.shape[1] - reloaded.max_latents, pad_mask=pad_mask)
        elif task == "vision.image_classifier":
            output = reloaded(x.permute(0, 3, 1, 2))
        else:
            output = reloaded(x, pad_mask=pad_mask)
    torch.testing.assert_close(output, reference["output"], rtol=1e-5, atol=1e-5)


def test_legacy_checkpoint_of_another_task_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"text\.mlm\.ckpt.*not of task 'text\.classifier'"):
        classifier.convert_checkpoint(tmp_path / "model", DATA / "text.mlm.ckpt", tokenizer_name=None)
