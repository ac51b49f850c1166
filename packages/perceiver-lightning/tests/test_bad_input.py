"""Bad inputs, corrupt files and faults at perceiver-lightning's public entry points: each gets a
clear error naming the argument, batch or file, or the right result. One test (or parametrized
case) per finding; see docs/reliability.md."""

from __future__ import annotations

import logging
import math
import os
import re
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from lightning_helpers import run_cli
from pytorch_lightning.loggers import TensorBoardLogger
from torch.utils.data import DataLoader, Dataset

from perceiver.lightning.text.classifier import LitTextClassifier, TextClassifierConfig, TextEncoderConfig
from perceiver.lightning.text.clm import CausalLanguageModelConfig, LitCausalLanguageModel
from perceiver.lightning.vision.image_classifier import (
    ClassificationDecoderConfig,
    ImageClassifierConfig,
    ImageEncoderConfig,
    LitImageClassifier,
)
from perceiver.lightning.vision.optical_flow import (
    LitOpticalFlow,
    OpticalFlowConfig,
    OpticalFlowDecoderConfig,
    OpticalFlowEncoderConfig,
    known_flow,
)
from perceiver.model.vision.optical_flow import end_point_error
from perceiver.scripts.cli import find_last_checkpoint
from perceiver.scripts.lrs import ConstantWithWarmupLR, CosineWithWarmupLR

# ---------------------------------------------------------------------------- helpers


class ListDataset(Dataset):
    def __init__(self, items: list) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        return self.items[i]


def _trainer(tmp_path: Path, steps: int = 2, **kwargs) -> pl.Trainer:
    defaults = dict(
        accelerator="cpu",
        max_steps=steps,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=str(tmp_path),
    )
    return pl.Trainer(**{**defaults, **kwargs})


def _with_adam(cls):
    class WithAdam(cls):
        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1e-3)

    return WithAdam


LitCLM = _with_adam(LitCausalLanguageModel)
LitImage = _with_adam(LitImageClassifier)
LitFlow = _with_adam(LitOpticalFlow)
LitText = _with_adam(LitTextClassifier)

CLM_CONFIG = CausalLanguageModelConfig(
    vocab_size=32, max_seq_len=12, max_latents=4, num_channels=16, num_heads=2, num_self_attention_layers=1
)


def _clm_batches(n: int = 4, bad: dict[int, tuple[str, int]] | None = None) -> DataLoader:
    """Causal batches (labels, input_ids, pad_mask) of 2 samples; ``bad[i] = (field, value)`` puts
    ``value`` into sample i's field."""
    gen = torch.Generator().manual_seed(0)
    items = []
    for i in range(2 * n):
        ids = torch.randint(0, 32, (13,), generator=gen)
        item = {
            "labels": ids[1:].clone(),
            "input_ids": ids[:-1].clone(),
            "pad_mask": torch.zeros(12, dtype=torch.bool),
        }
        if bad and i in bad:
            field, value = bad[i]
            item[field][3] = value
        items.append((item["labels"], item["input_ids"], item["pad_mask"]))
    return DataLoader(ListDataset(items), batch_size=2)


@pytest.fixture(scope="module")
def clm_checkpoint(tmp_path_factory) -> Path:
    tmp_path = tmp_path_factory.mktemp("clm")
    torch.manual_seed(0)
    model = LitCLM.create(CLM_CONFIG)
    trainer = _trainer(tmp_path, steps=1)
    trainer.fit(model, _clm_batches(1))
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    return path


@pytest.fixture(scope="module")
def corrupt_checkpoints(clm_checkpoint, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("corrupt")
    data = clm_checkpoint.read_bytes()
    files = {
        "empty": b"",
        "truncated": data[: len(data) // 2],
        "header only": data[:64],
        "text": b"not a checkpoint\n",
    }
    paths = {}
    for name, content in files.items():
        path = root / f"{name.replace(' ', '-')}.ckpt"
        path.write_bytes(content)
        paths[name] = path
    return paths


# ---------------------------------------------------------------------------- corrupt checkpoints (16)

CORRUPT = ["empty", "truncated", "header only", "text"]


@pytest.mark.parametrize("kind", CORRUPT)
def test_corrupt_checkpoint_load_from_checkpoint_names_the_file(corrupt_checkpoints, kind):
    path = corrupt_checkpoints[kind]
    expected = "is empty" if kind == "empty" else "corrupt"
    with pytest.raises(ValueError, match=rf"checkpoint (file )?'{re.escape(str(path))}'.*{expected}"):
        LitCausalLanguageModel.load_from_checkpoint(path)


@pytest.mark.parametrize("kind", CORRUPT)
def test_corrupt_checkpoint_as_params_names_the_file(corrupt_checkpoints, kind):
    path = corrupt_checkpoints[kind]
    with pytest.raises(ValueError, match=rf"checkpoint (file )?'{re.escape(str(path))}'"):
        LitCausalLanguageModel.create(CLM_CONFIG, params=str(path))


def test_corrupt_checkpoint_as_encoder_params_names_the_file(corrupt_checkpoints):
    path = corrupt_checkpoints["truncated"]
    config = TextClassifierConfig(
        encoder=TextEncoderConfig(vocab_size=32, max_seq_len=12, num_input_channels=16),
        decoder=ClassificationDecoderConfig(num_classes=2, num_output_query_channels=16),
        num_latents=4,
        num_latent_channels=16,
    )
    with pytest.raises(ValueError, match=rf"checkpoint (file )?'{re.escape(str(path))}'"):
        LitTextClassifier.create(config, encoder_params=str(path))


@pytest.mark.parametrize("kind", ["empty", "truncated"])
def test_corrupt_checkpoint_resume_names_the_file(corrupt_checkpoints, tmp_path, kind):
    path = corrupt_checkpoints[kind]
    with pytest.raises(ValueError, match=rf"checkpoint (file )?'{re.escape(str(path))}'"):
        _trainer(tmp_path).fit(LitCLM.create(CLM_CONFIG), _clm_batches(2), ckpt_path=str(path))


def test_missing_checkpoint_names_the_file(tmp_path):
    path = tmp_path / "missing.ckpt"
    with pytest.raises(FileNotFoundError, match=r"missing\.ckpt"):
        LitCausalLanguageModel.load_from_checkpoint(path)
    with pytest.raises(FileNotFoundError, match=r"missing\.ckpt"):
        LitCausalLanguageModel.create(CLM_CONFIG, params=str(path))


# ---------------------------------------------------------------------------- resume (5)

CLM_CLI_ARGS = (
    "--model.max_latents=8",
    "--model.num_channels=16",
    "--model.num_heads=2",
    "--model.num_self_attention_layers=1",
    "--data=TextDataModule",
    "--data.tokenizer=deepmind/language-perceiver",
    "--data.max_seq_len=32",
    "--data.task=clm",
    "--data.batch_size=4",
    "--data.num_workers=0",
    "--trainer.accelerator=cpu",
    "--trainer.limit_val_batches=1",
    "--trainer.num_sanity_val_steps=0",
    "--trainer.enable_model_summary=false",
    "--trainer.enable_progress_bar=false",
    "--trainer.log_every_n_steps=1",
)


def _data_args(text_files, tmp_path: Path) -> tuple[str, ...]:
    train, valid = text_files
    return (
        f"--data.train_files={train}",
        f"--data.valid_files={valid}",
        f"--data.dataset_dir={tmp_path / 'cache'}",
    )


def test_documented_resume_continues_the_run(text_files, tmp_path):
    """docs/training.md#resume: save_last + every_n_train_steps, then the same command with
    --ckpt_path=last continues where the first run stopped (weights, optimizer, schedule, step),
    also when that is not a multiple of every_n_train_steps."""
    args = (
        "fit",
        *CLM_CLI_ARGS,
        *_data_args(text_files, tmp_path),
        "--trainer.callbacks=FinalStateCheckpoint",
        "--trainer.callbacks.save_last=true",
        "--trainer.callbacks.every_n_train_steps=2",
        "--lr_scheduler.warmup_steps=1",
    )
    run_cli("perceiver.scripts.text.clm", *args, "--trainer.max_steps=3", cwd=tmp_path)
    first = torch.load(tmp_path / "logs/lightning_logs/version_0/checkpoints/last.ckpt", weights_only=True)
    assert first["global_step"] == 3
    result = run_cli(
        "perceiver.scripts.text.clm", *args, "--trainer.max_steps=5", "--ckpt_path=last", cwd=tmp_path
    )
    assert "no last checkpoint" not in result.stderr
    resumed = torch.load(tmp_path / "logs/lightning_logs/version_1/checkpoints/last.ckpt", weights_only=True)
    assert resumed["global_step"] == 5
    (optimizer_state,) = resumed["optimizer_states"]
    assert {float(s["step"]) for s in optimizer_state["state"].values()} == {5.0}  # Adam's step count
    (scheduler,) = resumed["lr_schedulers"]
    assert scheduler["last_epoch"] == 5
    # the second run trained steps 3 and 4 only: its logged training losses start at step 3
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "logs/lightning_logs/version_1")).Reload()
    steps = [e.step for e in events.Scalars("train_loss")]
    assert steps and min(steps) >= 3, steps


def test_ckpt_path_last_finds_the_newest_last_checkpoint_of_earlier_runs(tmp_path):
    trainer = _trainer(tmp_path, logger=TensorBoardLogger(str(tmp_path)), enable_checkpointing=True)
    assert find_last_checkpoint(trainer) is None  # nothing yet: a new run
    paths = []
    for version, mtime in (("version_0", 1_000_000), ("version_1", 3_000_000), ("version_2", 2_000_000)):
        path = tmp_path / "lightning_logs" / version / "checkpoints" / "last.ckpt"
        path.parent.mkdir(parents=True)
        path.write_bytes(b"x")
        os.utime(path, (mtime, mtime))
        paths.append(path)
    assert find_last_checkpoint(trainer) == str(paths[1])


def test_ckpt_path_last_without_last_checkpoint_warns_and_names_the_others(tmp_path, caplog):
    trainer = _trainer(tmp_path, logger=TensorBoardLogger(str(tmp_path)), enable_checkpointing=True)
    other = tmp_path / "lightning_logs" / "version_0" / "checkpoints" / "epoch=0-step=5.ckpt"
    other.parent.mkdir(parents=True)
    other.write_bytes(b"x")
    with caplog.at_level(logging.WARNING, logger="perceiver.scripts.cli"):
        assert find_last_checkpoint(trainer) is None
    assert "save_last=True" in caplog.text and "epoch=0-step=5.ckpt" in caplog.text


# ---------------------------------------------------------------------------- time budgets (15)


def test_time_budget_without_max_steps_trains_with_the_default_schedule(text_files, tmp_path):
    """--trainer.max_time alone: no OverflowError from the step estimate; the cosine schedule
    warms up, then holds the lr (training_steps stays None), with a warning that says so."""
    result = run_cli(
        "perceiver.scripts.text.clm",
        "fit",
        *CLM_CLI_ARGS,
        *_data_args(text_files, tmp_path),
        "--trainer.max_time=00:00:00:06",  # time for 2 steps on a loaded machine too
        "--trainer.limit_train_batches=2",
        "--trainer.limit_val_batches=0",
        "--lr_scheduler.warmup_steps=1",
        "--optimizer.lr=0.002",
        cwd=tmp_path,
    )
    assert "bounded by time only" in result.stderr
    ckpt = tmp_path / "logs/lightning_logs/version_0/checkpoints/last.ckpt"  # no validation: no best
    checkpoint = torch.load(ckpt, weights_only=True)
    assert checkpoint["global_step"] >= 2
    (scheduler,) = checkpoint["lr_schedulers"]
    assert scheduler["training_steps"] is None
    assert scheduler["_last_lr"] == [pytest.approx(0.002)]


# ---------------------------------------------------------------------------- schedules


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"warmup_steps": -1}, r"warmup_steps \(-1\) must be >= 0"),
        ({"warmup_steps": 2.5}, "warmup_steps must be an integer"),
        ({"warmup_steps": True}, "warmup_steps must be an integer"),
        ({"training_steps": 0}, r"training_steps \(0\) must be >= 1"),
        ({"training_steps": float("inf")}, "training_steps must be an integer"),
        ({"num_cycles": float("nan")}, "num_cycles"),
        ({"num_cycles": 0}, "num_cycles"),
        ({"min_fraction": float("nan")}, "min_fraction"),
        ({"min_fraction": 1.5}, "min_fraction"),
    ],
)
def test_cosine_schedule_refuses_bad_values(kwargs, message):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match=message):
        CosineWithWarmupLR(optimizer, **kwargs)


@pytest.mark.parametrize("warmup_steps", [-3, 1.5, None])
def test_constant_schedule_refuses_bad_warmup(warmup_steps):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match="warmup_steps"):
        ConstantWithWarmupLR(optimizer, warmup_steps=warmup_steps)


def test_cosine_schedule_with_warmup_beyond_training_steps_warns(caplog):
    """A short trial run of a configuration with a long warmup: allowed, with a warning."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with caplog.at_level(logging.WARNING, logger="perceiver.scripts.lrs"):
        schedule = CosineWithWarmupLR(optimizer, training_steps=2, warmup_steps=4)
    assert "warmup_steps (4) exceeds training_steps (2)" in caplog.text
    lrs = []
    for _ in range(2):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert lrs == pytest.approx([0.25, 0.5])


def test_cosine_schedule_with_warmup_equal_to_training_steps_is_accepted():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = CosineWithWarmupLR(optimizer, training_steps=4, warmup_steps=4)
    lrs = []
    for _ in range(6):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert lrs == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 0.0])  # decay starts after warmup


# ---------------------------------------------------------------------------- optical flow ground truth (3)

FLOW_CONFIG = OpticalFlowConfig(
    encoder=OpticalFlowEncoderConfig(
        image_shape=(8, 12),
        num_patch_hidden_channels=8,
        num_frequency_bands=2,
        num_cross_attention_heads=1,
        num_self_attention_heads=2,
        num_self_attention_layers_per_block=1,
    ),
    decoder=OpticalFlowDecoderConfig(num_cross_attention_heads=1),
    num_latents=4,
    num_latent_channels=16,
)


def _flow_items(n: int, unknown: str = "some") -> list[dict]:
    gen = torch.Generator().manual_seed(1)
    items = []
    for i in range(n):
        flow = torch.randn(8, 12, 2, generator=gen)
        if unknown == "some":
            flow[0, :3, 0] = float("nan")
            flow[1, :2, 1] = float("inf")
            flow[2, :4] = 1e10  # the .flo "unknown" value
        elif unknown == "all":
            flow[...] = float("nan")
        valid = torch.ones(8, 12, dtype=torch.bool)
        valid[7, i % 12] = False
        items.append({"patches": torch.randn(2, 27, 8, 12, generator=gen), "flow": flow, "valid": valid})
    return items


def test_unknown_flow_pixels_are_excluded_from_the_loss():
    torch.manual_seed(0)
    model = LitOpticalFlow.create(FLOW_CONFIG)
    batch = torch.utils.data.default_collate(_flow_items(2))
    pred = model.backend_model(batch["patches"])
    flow, valid = known_flow(batch["flow"], batch["valid"])
    assert int(valid.sum()) == 2 * (8 * 12 - 3 - 2 - 4 - 1)
    loss = end_point_error(pred, flow, valid)
    # reference: the mean EPE over the pixels with known ground truth, picked by hand
    keep = batch["valid"].clone()
    keep[:, 0, :3] = keep[:, 1, :2] = keep[:, 2, :4] = False
    reference = torch.linalg.vector_norm(pred[keep] - batch["flow"][keep], dim=-1).mean()
    torch.testing.assert_close(loss, reference, rtol=1e-6, atol=1e-6)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_all_unknown_flow_gives_a_zero_loss_and_zero_gradients():
    torch.manual_seed(0)
    model = LitOpticalFlow.create(FLOW_CONFIG)
    batch = torch.utils.data.default_collate(_flow_items(2, unknown="all"))
    flow, valid = known_flow(batch["flow"], batch["valid"])
    loss = end_point_error(model.backend_model(batch["patches"]), flow, valid)
    assert loss.item() == 0.0
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all((g == 0).all() for g in grads)


def test_training_on_flow_with_unknown_pixels_keeps_the_weights_finite(tmp_path):
    torch.manual_seed(0)
    model = LitFlow.create(FLOW_CONFIG)
    loader = DataLoader(ListDataset(_flow_items(8)), batch_size=2)
    trainer = _trainer(tmp_path, steps=4, limit_val_batches=2)
    trainer.fit(model, loader, loader)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert math.isfinite(trainer.callback_metrics["val_epe"].item())


def test_validation_epe_is_the_mean_over_valid_pixels(tmp_path):
    torch.manual_seed(0)
    model = LitFlow.create(FLOW_CONFIG)
    items = _flow_items(3)
    items[2]["valid"][:6] = False  # the batches have different numbers of valid pixels
    loader = DataLoader(ListDataset(items), batch_size=2)
    (metrics,) = _trainer(tmp_path, limit_val_batches=1.0).validate(model, loader, verbose=False)
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for batch in loader:
            flow, valid = known_flow(batch["flow"], batch["valid"])
            epe = torch.linalg.vector_norm(model.backend_model(batch["patches"]) - flow, dim=-1)
            total += float(epe[valid].sum())
            count += int(valid.sum())
    assert metrics["val_epe"] == pytest.approx(total / count, rel=1e-5)


def test_nan_in_flow_frames_is_refused_naming_the_batch(tmp_path):
    items = _flow_items(4, unknown="none")
    items[3]["patches"][0, 5, 2, 2] = float("nan")
    loader = DataLoader(ListDataset(items), batch_size=2)
    with pytest.raises(ValueError, match=r"training batch 1 of epoch 0.*batch\['patches'\].*samples \[1\]"):
        _trainer(tmp_path).fit(LitFlow.create(FLOW_CONFIG), loader)


# ---------------------------------------------------------------------------- images: NaN inputs (9), labels (7)

IMAGE_CONFIG = ImageClassifierConfig(
    encoder=ImageEncoderConfig(
        image_shape=(1, 16, 16),
        position_encoding="conv",
        num_conv_channels=8,
        num_frequency_bands=2,
        num_cross_attention_heads=1,
        num_self_attention_heads=2,
        num_self_attention_layers_per_block=1,
    ),
    decoder=ClassificationDecoderConfig(
        num_classes=3, num_output_query_channels=16, num_cross_attention_heads=1
    ),
    num_latents=4,
    num_latent_channels=16,
)


def _image_loader(n: int = 6, image=None, label=None) -> DataLoader:
    """Batches of 2 images; ``image`` / ``label`` = (sample index, value) to plant a bad value."""
    gen = torch.Generator().manual_seed(2)
    items = []
    for i in range(n):
        item = {"image": torch.randn(1, 16, 16, generator=gen), "label": torch.tensor(i % 3)}
        if image is not None and image[0] == i:
            item["image"][0, 4, 4] = image[1]
        if label is not None and label[0] == i:
            item["label"] = torch.tensor(label[1])
        items.append(item)
    return DataLoader(ListDataset(items), batch_size=2)


def _batch_norm(model) -> torch.nn.BatchNorm2d:
    (bn,) = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    return bn


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_image_is_refused_before_it_reaches_batch_norm(tmp_path, value):
    torch.manual_seed(0)
    model = LitImage.create(IMAGE_CONFIG)
    with pytest.raises(
        ValueError,
        match=r"training batch 1 of epoch 0 \(global step 1\): batch\['image'\] holds 1 non-finite",
    ):
        _trainer(tmp_path, steps=3).fit(model, _image_loader(image=(3, value)))
    bn = _batch_norm(model)
    assert int(bn.num_batches_tracked) == 1  # the first batch was used, the bad one never ran
    assert torch.isfinite(bn.running_mean).all() and torch.isfinite(bn.running_var).all()
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_non_finite_validation_image_is_refused(tmp_path):
    loader = _image_loader(image=(0, float("nan")))
    with pytest.raises(ValueError, match=r"validation batch at global step 0: batch\['image'\]"):
        _trainer(tmp_path).validate(LitImage.create(IMAGE_CONFIG), loader, verbose=False)


@pytest.mark.parametrize(
    ("label", "message"),
    [
        (3, r"class index 3, outside \[0, 3\)"),
        (-1, r"class index -1, outside \[0, 3\)"),
        (1.7, "must be integer class indices.*torch.float32"),
        (True, "must be integer class indices.*torch.bool"),
    ],
)
def test_image_labels_are_checked_against_num_classes(tmp_path, label, message):
    loader = _image_loader(label=(2, label))
    if isinstance(label, float | bool):  # a whole batch of the bad dtype (default_collate needs one dtype)
        loader = DataLoader(
            ListDataset([{**item, "label": torch.tensor(label)} for item in loader.dataset.items]),
            batch_size=2,
        )
    with pytest.raises(ValueError, match=message):
        _trainer(tmp_path).fit(LitImage.create(IMAGE_CONFIG), loader)


def test_image_data_module_with_other_num_classes_is_refused():
    class Data(pl.LightningDataModule):
        image_shape = (16, 16, 1)
        num_classes = 10

    with pytest.raises(
        ValueError, match=r"the data has 10 classes but the model's decoder\.num_classes is 3"
    ):
        LitImageClassifier.create(IMAGE_CONFIG).check_data(Data())


def test_text_classifier_labels_and_token_ids_are_checked(tmp_path):
    config = TextClassifierConfig(
        encoder=TextEncoderConfig(vocab_size=32, max_seq_len=12, num_input_channels=16),
        decoder=ClassificationDecoderConfig(num_classes=2, num_output_query_channels=16),
        num_latents=4,
        num_latent_channels=16,
    )
    ids = torch.randint(0, 32, (4, 12))
    pad = torch.zeros(4, 12, dtype=torch.bool)
    labels = torch.tensor([0, 1, 2, 1])
    loader = DataLoader(ListDataset([(labels[i], ids[i], pad[i]) for i in range(4)]), batch_size=4)
    with pytest.raises(ValueError, match=r"training batch 0 of epoch 0.*class index 2, outside \[0, 2\)"):
        _trainer(tmp_path).fit(LitText.create(config), loader)
    ids[1, 5] = 40
    loader = DataLoader(ListDataset([(labels[i] % 2, ids[i], pad[i]) for i in range(4)]), batch_size=4)
    with pytest.raises(ValueError, match=r"input_ids holds the token id 40, outside \[0, 32\)"):
        _trainer(tmp_path).fit(LitText.create(config), loader)


# ---------------------------------------------------------------------------- token ids of causal models


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("input_ids", 32, r"input_ids holds the token id 32, outside \[0, 32\)"),
        ("input_ids", -5, r"input_ids holds the token id -5"),
        ("labels", 99, r"labels holds the token id 99, outside \[0, 32\) \(or -100, ignored\)"),
    ],
)
def test_causal_token_ids_outside_the_vocabulary_are_refused(tmp_path, field, value, message):
    loader = _clm_batches(3, bad={3: (field, value)})
    with pytest.raises(ValueError, match=rf"training batch 1 of epoch 0.*{message}"):
        _trainer(tmp_path, steps=3).fit(LitCLM.create(CLM_CONFIG), loader)


def test_causal_labels_may_hold_the_ignore_index(tmp_path):
    loader = _clm_batches(2, bad={1: ("labels", -100)})
    model = LitCLM.create(CLM_CONFIG)
    _trainer(tmp_path).fit(model, loader)
    assert all(torch.isfinite(p).all() for p in model.parameters())


# ---------------------------------------------------------------------------- constructors, params=, checkpoints


def test_load_from_checkpoint_does_not_need_the_params_file_again(clm_checkpoint, tmp_path):
    params = tmp_path / "initial.ckpt"
    params.write_bytes(clm_checkpoint.read_bytes())
    model = LitCLM.create(CLM_CONFIG, params=str(params))
    trainer = _trainer(tmp_path, steps=1)
    trainer.fit(model, _clm_batches(1))
    trainer.save_checkpoint(tmp_path / "trained.ckpt")
    params.unlink()  # the initial weights are gone: the checkpoint holds the weights
    loaded = LitCausalLanguageModel.load_from_checkpoint(tmp_path / "trained.ckpt")
    for name, value in model.backend_model.state_dict().items():
        torch.testing.assert_close(loaded.backend_model.state_dict()[name], value, rtol=0, atol=0)


@pytest.mark.parametrize("content", [torch.zeros(3), [1, 2]])
def test_checkpoint_that_is_not_a_dict_is_refused(tmp_path, content):
    path = tmp_path / "other.ckpt"
    torch.save(content, path)
    with pytest.raises(ValueError, match=r"other\.ckpt' holds a (Tensor|list), not a checkpoint dict"):
        LitCausalLanguageModel.load_from_checkpoint(path)
    with pytest.raises(ValueError, match=r"other\.ckpt' holds a (Tensor|list), not a checkpoint dict"):
        LitCausalLanguageModel.create(CLM_CONFIG, params=str(path))


def test_params_of_another_type_is_refused():
    with pytest.raises(TypeError, match=r"params must be a path.*got int: 5"):
        LitCausalLanguageModel.create(CLM_CONFIG, params=5)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"validation_sample_num_tokens": 0},
            ValueError,
            "validation_sample_num_tokens must be an integer >= 1",
        ),
        ({"validation_sample_num_tokens": 2.5}, ValueError, "validation_sample_num_tokens"),
        ({"validation_sample_top_k": 0}, ValueError, "validation_sample_top_k must be an integer >= 1"),
        ({"validation_sample_prompt": 5}, TypeError, "validation_sample_prompt must be a str"),
    ],
)
def test_bad_validation_sample_arguments_are_refused_at_construction(kwargs, error, message):
    with pytest.raises(error, match=message):
        LitCausalLanguageModel.create(CLM_CONFIG, **kwargs)


def test_missing_midi_prompt_is_refused_before_training(tmp_path):
    from perceiver.lightning.audio.symbolic import LitSymbolicAudioModel, SymbolicAudioModelConfig

    config = SymbolicAudioModelConfig(
        vocab_size=32,
        max_seq_len=12,
        max_latents=4,
        num_channels=16,
        num_heads=2,
        num_self_attention_layers=1,
    )
    model = _with_adam(LitSymbolicAudioModel).create(
        config, validation_sample_prompt=str(tmp_path / "none.mid")
    )
    with pytest.raises(FileNotFoundError, match=r"validation_sample_prompt=.*none\.mid' is not a MIDI file"):
        _trainer(tmp_path).fit(model, _clm_batches(2))


def _text_classifier_config(num_input_channels: int = 16) -> TextClassifierConfig:
    return TextClassifierConfig(
        encoder=TextEncoderConfig(vocab_size=32, max_seq_len=12, num_input_channels=num_input_channels),
        decoder=ClassificationDecoderConfig(num_classes=2, num_output_query_channels=16),
        num_latents=4,
        num_latent_channels=16,
    )


@pytest.fixture(scope="module")
def mlm_checkpoint(tmp_path_factory) -> Path:
    from perceiver.lightning.text.mlm import (
        LitMaskedLanguageModel,
        MaskedLanguageModelConfig,
        TextDecoderConfig,
    )

    config = MaskedLanguageModelConfig(
        encoder=TextEncoderConfig(vocab_size=32, max_seq_len=12, num_input_channels=16),
        decoder=TextDecoderConfig(vocab_size=32, max_seq_len=12),
        num_latents=4,
        num_latent_channels=16,
    )
    model = LitMaskedLanguageModel.create(config)
    path = tmp_path_factory.mktemp("mlm") / "mlm.ckpt"
    torch.save(
        {
            "state_dict": model.state_dict(),
            "hyper_parameters": dict(model.hparams),
            "perceiver_task": "text.mlm",
            "pytorch-lightning_version": pl.__version__,
        },
        path,
    )
    return path


def test_encoder_params_of_another_encoder_config_names_the_file(mlm_checkpoint):
    LitTextClassifier.create(_text_classifier_config(), encoder_params=str(mlm_checkpoint))  # fits
    with pytest.raises(
        ValueError,
        match=r"encoder params '.*mlm\.ckpt' holds weights of another architecture.*num_input_channels",
    ):
        LitTextClassifier.create(
            _text_classifier_config(num_input_channels=8), encoder_params=str(mlm_checkpoint)
        )


def test_raw_uint8_images_are_refused_and_float64_images_are_used(tmp_path):
    items = [{"image": torch.randint(0, 256, (1, 16, 16), dtype=torch.uint8), "label": torch.tensor(0)}] * 2
    with pytest.raises(ValueError, match=r"batch\['image'\] is a torch.uint8 tensor.*normalized float"):
        _trainer(tmp_path).fit(LitImage.create(IMAGE_CONFIG), DataLoader(ListDataset(items), batch_size=2))
    torch.manual_seed(0)
    model = LitImage.create(IMAGE_CONFIG).eval()
    images = torch.randn(2, 1, 16, 16, dtype=torch.float64)
    logits, _, _ = model.step({"image": images, "label": torch.tensor([0, 1])})
    torch.testing.assert_close(logits, model.backend_model(images.float()), rtol=0, atol=0)


MULTIMODAL_BAD_ARGS = [
    ({"num_image_output_points": 0}, "num_image_output_points must be an integer >= 1"),
    ({"num_image_output_points": -3}, "num_image_output_points must be an integer >= 1"),
    ({"loss_weights": {"imag": 1.0}}, "loss_weights has the key 'imag'"),
    ({"loss_weights": {"image": float("nan")}}, r"loss_weights\['image'\] must be a finite number >= 0"),
    ({"loss_weights": {"audio": -1.0}}, r"loss_weights\['audio'\] must be a finite number >= 0"),
]


@pytest.mark.parametrize(("kwargs", "message"), MULTIMODAL_BAD_ARGS)
def test_multimodal_training_arguments_are_checked(kwargs, message):
    from perceiver.lightning.multimodal.autoencoder import (
        LitMultimodalAutoencoder,
        MultimodalAutoencoderConfig,
        MultimodalDecoderConfig,
        MultimodalEncoderConfig,
    )

    config = MultimodalAutoencoderConfig(
        encoder=MultimodalEncoderConfig(
            num_frames=2,
            image_shape=(3, 8, 8),
            image_patch_size=4,
            image_num_frequency_bands=2,
            audio_samples_per_frame=16,
            audio_samples_per_patch=16,
            audio_num_frequency_bands=2,
            num_classes=3,
            num_cross_attention_heads=1,
            num_self_attention_heads=2,
            num_self_attention_layers_per_block=1,
        ),
        decoder=MultimodalDecoderConfig(
            num_cross_attention_heads=1, num_label_query_channels=16, num_output_channels=16
        ),
        num_latents=4,
        num_latent_channels=16,
    )
    with pytest.raises(ValueError, match=message):
        LitMultimodalAutoencoder.create(config, **kwargs)


def test_params_of_another_model_config_names_the_file(clm_checkpoint):
    other = CausalLanguageModelConfig(**{**CLM_CONFIG.to_dict(), "num_channels": 8})
    with pytest.raises(
        ValueError,
        match=r"params='.*model\.ckpt' holds weights of another architecture than this CausalLanguageModel",
    ):
        LitCausalLanguageModel.create(other, params=str(clm_checkpoint))


@pytest.mark.parametrize("content", [b"", b"\x10\x00\x00\x00\x00\x00\x00\x00{"])
def test_corrupt_safetensors_params_directory_names_the_file(tmp_path, content):
    (tmp_path / "model.safetensors").write_bytes(content)
    with pytest.raises(ValueError, match=r"model\.safetensors' is not a readable safetensors file"):
        LitCausalLanguageModel.create(CLM_CONFIG, params=str(tmp_path))


@pytest.mark.parametrize(
    ("key", "shape", "message"),
    [
        ("flow", (2, 8, 12), r"batch\['flow'\] \(b, H, W, 2\), got \(2, 2, 27, 8, 12\) and \(2, 8, 12\)"),
        ("valid", (2, 8, 11), r"batch\['valid'\] must have shape \(2, 8, 12\), got \(2, 8, 11\)"),
    ],
)
def test_optical_flow_batch_shapes_are_checked(tmp_path, key, shape, message):
    items = _flow_items(4, unknown="none")
    for item in items:
        item[key] = torch.zeros(shape[1:], dtype=item[key].dtype)
    with pytest.raises(ValueError, match=rf"training batch 0 of epoch 0.*{message}"):
        _trainer(tmp_path).fit(LitFlow.create(FLOW_CONFIG), DataLoader(ListDataset(items), batch_size=2))


def test_batches_are_checked_after_a_data_module_batch_hook_without_warning(tmp_path):
    """The checks run after the on_before_batch_transfer hook of a data module (which Lightning
    prefers over the model's), and the model does not override that hook (no Lightning warning)."""

    class Data(pl.LightningDataModule):
        def train_dataloader(self):
            return _image_loader()

        def on_before_batch_transfer(self, batch, dataloader_idx):
            batch["image"][1, 0, 0, 0] = float("nan")  # a transform that goes wrong
            return batch

    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match=r"training batch 0 of epoch 0.*batch\['image'\].*samples \[1\]"):
            _trainer(tmp_path).fit(LitImage.create(IMAGE_CONFIG), datamodule=Data())
    assert not [w for w in caught if "on_before_batch_transfer" in str(w.message)]
