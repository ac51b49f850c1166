"""Write the perceiver-io 0.11 Lightning checkpoints in ``tests/data/legacy`` with that library's own code.

Not run by the tests: it produced the fixtures they read. For each task that perceiver-io 0.11
trains with Lightning, it builds that library's ``Lit*`` wrapper of a tiny model (as its
LightningCLI does: config dataclasses for the Perceiver IO encoder and decoder), trains one
step with ``pytorch_lightning.Trainer`` next to a data module whose hyperparameters hold its
``Task`` enum, saves the checkpoint with ``Trainer.save_checkpoint`` and stores the core model's
outputs on a fixed input (``<task>.reference.pt``: ``input``, ``pad_mask``, ``output``).

Run it outside the repository, in a scratch virtual environment, on perceiver-io 0.11's source::

    git -C <perceiver-io clone> archive v0.11.1 perceiver | tar -x -C /tmp/perceiver-io
    uv venv /tmp/venv && VIRTUAL_ENV=/tmp/venv uv pip install torch pytorch-lightning==2.6.6 \\
        torchmetrics==0.10.3 einops==0.4.1 "transformers<5"
    /tmp/venv/bin/python make_legacy_checkpoints.py /tmp/perceiver-io tests/data/legacy

fairscale (activation checkpointing), datasets (data loading) and pretty_midi (MIDI files) are not
needed for this and are replaced by empty modules.
"""

from __future__ import annotations

import importlib.machinery
import sys
import tempfile
import types
from pathlib import Path


def _stub(name: str, **attrs) -> None:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    module.__dict__.update(attrs)

    def getattr_(attr: str):  # any other public name: an inert class
        if attr.startswith("__"):
            raise AttributeError(attr)
        return type(attr, (), {})

    module.__getattr__ = getattr_
    sys.modules[name] = module


def main(source: str, out: str) -> None:
    sys.path.insert(0, source)
    _stub("fairscale")
    _stub("fairscale.nn", checkpoint_wrapper=lambda module, **kwargs: module)
    _stub("datasets")
    _stub("datasets.distributed")
    _stub("pretty_midi")

    import pytorch_lightning as pl
    import torch
    from torch.utils.data import DataLoader

    from perceiver.data.text.common import Task
    from perceiver.model.audio.symbolic import LitSymbolicAudioModel
    from perceiver.model.core import ClassificationDecoderConfig
    from perceiver.model.text.classifier import LitTextClassifier
    from perceiver.model.text.clm import LitCausalLanguageModel
    from perceiver.model.text.common import TextEncoderConfig
    from perceiver.model.text.mlm import LitMaskedLanguageModel, TextDecoderConfig
    from perceiver.model.vision.image_classifier import ImageEncoderConfig, LitImageClassifier

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    b, n = 2, 24

    class Data(pl.LightningDataModule):
        def __init__(self, batches: list, task: Task | None = None, max_seq_len: int = n):
            super().__init__()
            self.save_hyperparameters(ignore="batches")
            self.batches = batches

        def train_dataloader(self):
            return DataLoader(self.batches, batch_size=None)

    def with_optimizer(cls):
        """The CLI adds the optimizer in perceiver-io 0.11; MLM's setup needs its text data module."""

        class Trained(cls):
            def configure_optimizers(self):
                return torch.optim.SGD(self.parameters(), lr=1e-2, momentum=0.9)

            def setup(self, stage=None):
                pass

        Trained.__name__ = cls.__name__
        return Trained

    def encoder_kwargs(**kwargs):
        return dict(
            num_cross_attention_heads=2,
            num_cross_attention_qk_channels=16,
            num_cross_attention_v_channels=24,
            num_self_attention_heads=2,
            num_self_attention_qk_channels=16,
            num_self_attention_v_channels=24,
            num_self_attention_layers_per_block=2,
            num_self_attention_blocks=2,
            cross_attention_widening_factor=2,
            self_attention_widening_factor=2,
            **kwargs,
        )

    def text_batch(generator, vocab_size: int, labels: torch.Tensor | None = None):
        x = torch.randint(3, vocab_size, (b, n), generator=generator)
        pad_mask = torch.zeros(b, n, dtype=torch.bool)
        pad_mask[1, -5:] = True  # the second sequence is right-padded
        x[pad_mask] = 0
        return (x.clone() if labels is None else labels), x, pad_mask

    def causal_batch(generator, vocab_size: int):
        x = torch.randint(3, vocab_size, (b, n), generator=generator)
        pad_mask = torch.zeros(b, n, dtype=torch.bool)
        pad_mask[1, :5] = True  # the second sequence is left-padded
        x[pad_mask] = 0
        labels = torch.roll(x, -1, dims=1)
        return labels, x, pad_mask

    generator = torch.Generator().manual_seed(0)
    cases = {}

    torch.manual_seed(1)
    text_encoder = TextEncoderConfig(vocab_size=262, max_seq_len=n, num_input_channels=24, **encoder_kwargs())
    model = with_optimizer(LitMaskedLanguageModel)(
        encoder=text_encoder,
        decoder=TextDecoderConfig(
            vocab_size=262,
            max_seq_len=32,
            num_cross_attention_heads=2,
            num_cross_attention_qk_channels=16,
            cross_attention_residual=False,
        ),
        num_latents=8,
        num_latent_channels=24,
    )
    batch = text_batch(generator, 262)
    cases["text.mlm"] = (model, Data([batch], task=Task.mlm), batch[1:], lambda m, x, p: m(x, pad_mask=p))

    torch.manual_seed(2)
    model = with_optimizer(LitTextClassifier)(
        encoder=TextEncoderConfig(vocab_size=262, max_seq_len=n, num_input_channels=24, **encoder_kwargs()),
        decoder=ClassificationDecoderConfig(
            num_classes=3, num_output_query_channels=16, num_cross_attention_heads=2
        ),
        num_latents=8,
        num_latent_channels=24,
    )
    batch = text_batch(generator, 262, labels=torch.tensor([0, 2]))
    cases["text.classifier"] = (
        model,
        Data([batch], task=Task.clf),
        batch[1:],
        lambda m, x, p: m(x, pad_mask=p),
    )

    for task, cls, vocab_size, seed in (
        ("text.clm", LitCausalLanguageModel, 262, 3),
        ("audio.symbolic", LitSymbolicAudioModel, 389, 4),
    ):
        torch.manual_seed(seed)
        model = with_optimizer(cls)(
            vocab_size=vocab_size,
            max_seq_len=n,
            max_latents=8,
            num_channels=32,
            num_heads=4,
            num_self_attention_layers=2,
            num_self_attention_rotary_layers=1,
            cross_attention_dropout=0.0,
        )
        batch = causal_batch(generator, vocab_size)
        cases[task] = (
            model,
            Data([batch], task=Task.clm if task == "text.clm" else None),
            batch[1:],
            lambda m, x, p: m(x, prefix_len=n - 8, pad_mask=p).logits,
        )

    torch.manual_seed(5)
    model = with_optimizer(LitImageClassifier)(
        encoder=ImageEncoderConfig(image_shape=(8, 8, 1), num_frequency_bands=4, **encoder_kwargs()),
        decoder=ClassificationDecoderConfig(
            num_classes=10, num_output_query_channels=16, num_cross_attention_heads=2
        ),
        num_latents=8,
        num_latent_channels=24,
    )
    images = torch.rand(b, 8, 8, 1, generator=generator)  # channels last, as in perceiver-io 0.11
    batch = {"image": images, "label": torch.tensor([3, 7])}
    cases["vision.image_classifier"] = (model, Data([batch]), (images, None), lambda m, x, p: m(x))

    with tempfile.TemporaryDirectory() as tmp:
        for task, (model, data, (x, pad_mask), forward) in cases.items():
            trainer = pl.Trainer(
                accelerator="cpu",
                max_steps=1,
                limit_val_batches=0,
                logger=False,
                enable_progress_bar=False,
                enable_model_summary=False,
                default_root_dir=tmp,
            )
            trainer.fit(model, datamodule=data)
            trainer.save_checkpoint(out_dir / f"{task}.ckpt")
            model.eval()
            with torch.no_grad():
                output = forward(model.model, x, pad_mask)
            reference = {"input": x, "output": output}
            if pad_mask is not None:
                reference["pad_mask"] = pad_mask
            torch.save(reference, out_dir / f"{task}.reference.pt")
            print(task, tuple(output.shape), sum(p.numel() for p in model.model.parameters()), "parameters")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
