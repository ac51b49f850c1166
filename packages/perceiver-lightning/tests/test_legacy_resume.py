"""Resuming a krasserm/perceiver-io 0.11 training run (``ckpt_path=<its .ckpt>``): its optimizer state
is carried over where its parameters map one-to-one onto ours, otherwise resuming is refused with an
error naming the file and pointing to ``params=``.

The checkpoints in tests/data/legacy were written by perceiver-io 0.11's own code after one SGD step
with momentum (tests/scripts/make_legacy_checkpoints.py), so they hold its optimizer state.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from test_legacy_checkpoints import DATA, TOL, WRAPPERS, _outputs
from torch.utils.data import DataLoader

from perceiver.model.core.checkpoint import legacy_backend, load_checkpoint
from perceiver.model.core.legacy import legacy_state_dict

SGD = {"class_path": "SGD", "init_args": {"lr": 1e-2, "momentum": 0.9}}
ONE_TO_ONE = ["text.classifier", "text.mlm", "vision.image_classifier"]


def _batches(task: str, config) -> DataLoader:
    gen = torch.Generator().manual_seed(0)
    if task == "vision.image_classifier":
        batch = {
            "image": torch.rand(2, *config.encoder.image_shape, generator=gen),
            "label": torch.tensor([1, 2]),
        }
    else:
        vocab, n = config.encoder.vocab_size if hasattr(config, "encoder") else config.vocab_size, 24
        ids = torch.randint(3, vocab, (2, n), generator=gen)
        if task == "text.classifier":
            labels = torch.tensor([0, 2])
        elif task == "text.mlm":
            labels = torch.where(torch.rand(2, n, generator=gen) < 0.3, ids, torch.full_like(ids, -100))
        else:
            labels = torch.roll(ids, -1, dims=1)
        batch = (labels, ids, torch.zeros(2, n, dtype=torch.bool))
    return DataLoader([batch], batch_size=None)


class CaptureRestored(pl.Callback):
    """The optimizer state and weights as restored, before the first resumed step."""

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        (optimizer,) = trainer.optimizers
        self.momentum = {
            name: optimizer.state[p]["momentum_buffer"].clone()
            for name, p in pl_module.backend_model.named_parameters()
            if p in optimizer.state
        }
        self.step = trainer.global_step
        self.weights = {k: v.clone() for k, v in pl_module.backend_model.state_dict().items()}


def _trainer(tmp_path: Path, steps: int, **kwargs) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu",
        max_steps=steps,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
        **kwargs,
    )


def _model(task: str, **kwargs):
    config, _ = legacy_backend(load_checkpoint(DATA / f"{task}.ckpt"), task)
    return WRAPPERS[task].create(config, **kwargs), config


def _expected_momentum(task: str) -> dict[str, torch.Tensor]:
    """Our parameter name -> perceiver-io's momentum buffer, from its key tables and parameter order
    (its state dict's order without the buffers it saved)."""
    checkpoint = load_checkpoint(DATA / f"{task}.ckpt")
    ours = dict(WRAPPERS[task].create(legacy_backend(checkpoint, task)[0]).backend_model.named_parameters())
    names = []
    for key, value in checkpoint["state_dict"].items():
        (converted,) = legacy_state_dict(task, {key.removeprefix("model."): value}).keys() or [None]
        if converted in ours:
            names.append(converted)
    assert len(names) == len(ours)
    (optimizer,) = checkpoint["optimizer_states"]
    return {name: optimizer["state"][i]["momentum_buffer"] for i, name in enumerate(names)}


@pytest.mark.parametrize("task", ONE_TO_ONE)
def test_resuming_a_perceiver_io_run_carries_its_optimizer_state_over(task: str, tmp_path: Path):
    checkpoint = load_checkpoint(DATA / f"{task}.ckpt")
    assert checkpoint["global_step"] == 1
    model, config = _model(task, optimizer=SGD, lr_scheduler=None)
    capture = CaptureRestored()
    trainer = _trainer(tmp_path, steps=2, callbacks=[capture])
    trainer.fit(model, _batches(task, config), ckpt_path=str(DATA / f"{task}.ckpt"))

    assert capture.step == 1 and trainer.global_step == 2  # continued at its step
    expected = _expected_momentum(task)
    assert set(capture.momentum) == set(expected)
    for name, buffer in expected.items():
        torch.testing.assert_close(capture.momentum[name], buffer, rtol=0, atol=0, msg=name)
    _, state = legacy_backend(checkpoint, task)
    for name, value in state.items():
        torch.testing.assert_close(capture.weights[name], value, rtol=0, atol=0, msg=name)
    (group,) = trainer.optimizers[0].param_groups
    assert group["momentum"] == 0.9 and group["lr"] == 1e-2


@pytest.mark.parametrize("task", ["text.clm", "audio.symbolic"])
def test_resuming_a_perceiver_ar_run_is_refused_naming_the_file_and_params(task: str, tmp_path: Path):
    """perceiver-io's Perceiver AR has no biases where ours has (zero) biases: not one-to-one."""
    model, config = _model(task, optimizer=SGD, lr_scheduler=None)
    path = str(DATA / f"{task}.ckpt")
    with pytest.raises(
        ValueError, match=rf"cannot resume .*{re.escape(path)}.*no counterpart.*params={re.escape(path)}"
    ):
        _trainer(tmp_path, steps=2).fit(model, _batches(task, config), ckpt_path=path)


def test_resuming_a_weights_only_checkpoint_is_refused(tmp_path: Path):
    """perceiver-io's trainer.yaml saved weights only: nothing to resume from but the weights."""
    checkpoint = load_checkpoint(DATA / "text.mlm.ckpt")
    del checkpoint["optimizer_states"], checkpoint["lr_schedulers"]
    path = tmp_path / "epoch=009-val_loss=0.215.ckpt"
    torch.save(checkpoint, path)
    model, config = _model("text.mlm", optimizer=SGD, lr_scheduler=None)
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}.*no optimizer state.*--model\.params="):
        _trainer(tmp_path, steps=2).fit(model, _batches("text.mlm", config), ckpt_path=str(path))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"lr_scheduler": None},
            r"hyperparameters \['dampening', 'momentum', 'nesterov'\].*AdamW.*--optimizer",
        ),
        ({"optimizer": SGD}, r"no learning rate schedule, this one has one.*lr_scheduler=None"),
    ],
)
def test_resuming_with_another_optimizer_or_schedule_is_refused(kwargs, message, tmp_path: Path):
    model, config = _model("text.classifier", **kwargs)
    with pytest.raises(ValueError, match=message):
        _trainer(tmp_path, steps=2).fit(
            model, _batches("text.classifier", config), ckpt_path=str(DATA / "text.classifier.ckpt")
        )


@pytest.mark.parametrize("task", sorted(WRAPPERS))
def test_validating_a_perceiver_io_checkpoint_loads_its_weights(task: str, tmp_path: Path):
    model, config = _model(task)  # the default optimizer: evaluation needs the weights only
    _trainer(tmp_path, steps=1, limit_test_batches=1).test(
        model, _batches(task, config), ckpt_path=str(DATA / f"{task}.ckpt"), verbose=False
    )
    output, expected = _outputs(task, model.backend_model)
    torch.testing.assert_close(output, expected, **TOL)
