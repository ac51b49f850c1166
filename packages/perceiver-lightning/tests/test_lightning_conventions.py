"""Lightning conventions: the wrappers train under a plain ``pl.Trainer().fit()`` with the training
scripts' optimizer and schedule, test and predict, rebuild from their hyperparameters; the scripts
have perceiver-io 0.11's trainer defaults, and validation samples reach every logger."""

from __future__ import annotations

import importlib
import inspect
import io
import logging
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import yaml
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger
from tiny_tasks import SEQ, TASK_IDS, TASKS, VOCAB

import perceiver.lightning
from perceiver.lightning._base import LitModel
from perceiver.lightning.callbacks import FinalStateCheckpoint
from perceiver.lightning.optim import build_lr_scheduler, build_optimizer
from perceiver.scripts.cli import find_last_checkpoint
from perceiver.scripts.lrs import ConstantWithWarmupLR, CosineWithWarmupLR

TASK_BY_NAME = {task.name: task for task in TASKS}


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


def _cli_defaults(script: str, capsys) -> dict:
    """The ``--print_config`` of a training script, parsed."""
    module = importlib.import_module(script)
    with pytest.raises(SystemExit) as exit_info:
        module.main(["fit", "--print_config"])
    assert exit_info.value.code in (0, None)
    return yaml.safe_load(capsys.readouterr().out)


# ---------------------------------------------------------------------------- package structure


def test_every_task_folder_is_a_regular_package_that_exports_its_wrappers():
    root = Path(perceiver.lightning.__file__).parent
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))
    assert folders == ["audio", "multimodal", "text", "vision"]
    exported = set()
    for folder in folders:
        package = importlib.import_module(f"perceiver.lightning.{folder}")
        assert Path(package.__file__).name == "__init__.py"  # not a namespace package
        wrappers = set()
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            wrappers |= {
                name
                for name, obj in vars(module).items()
                if isinstance(obj, type) and issubclass(obj, LitModel) and obj.__module__ == module.__name__
            }
        assert sorted(package.__all__) == sorted(wrappers), folder
        for name in package.__all__:
            assert getattr(package, name).__module__.startswith(f"{package.__name__}.")
        exported |= wrappers
    assert exported == {task.cls.__name__ for task in TASKS}


@pytest.mark.parametrize("name", TASK_IDS)
def test_hyperparameters_are_the_constructor_arguments_and_rebuild_the_wrapper(name):
    task = TASK_BY_NAME[name]
    model = task.model()
    arguments = set(inspect.signature(task.cls.__init__).parameters) - {"self"}
    assert set(model.hparams) <= arguments
    buffer = io.BytesIO()
    torch.save(dict(model.hparams), buffer)
    buffer.seek(0)
    hparams = torch.load(buffer, weights_only=True)  # plain data
    rebuilt = task.cls(**hparams)
    assert rebuilt.config == model.config
    assert rebuilt.hparams == model.hparams


# ---------------------------------------------------------------------------- optimizers


@pytest.mark.parametrize("name", TASK_IDS)
def test_plain_trainer_fit_trains_with_the_training_scripts_optimizer_and_schedule(name, tmp_path, capsys):
    task = TASK_BY_NAME[name]
    cli = _cli_defaults(task.script, capsys)
    torch.manual_seed(0)
    model = task.model()
    before = {k: v.clone() for k, v in model.backend_model.state_dict().items()}
    trainer = _trainer(tmp_path)
    trainer.fit(model, task.loader(), task.loader(seed=1))
    assert trainer.global_step == 2
    changed = [k for k, v in model.backend_model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed, "no parameter changed in 2 steps"

    (optimizer,) = trainer.optimizers
    expected = build_optimizer(cli["optimizer"], [torch.nn.Parameter(torch.zeros(1))])
    assert type(optimizer) is type(expected) is torch.optim.AdamW
    assert {k: v for k, v in optimizer.defaults.items()} == expected.defaults
    assert optimizer.defaults["lr"] == 1e-3 and optimizer.defaults["weight_decay"] == 0.01

    (config,) = trainer.lr_scheduler_configs
    expected_scheduler = build_lr_scheduler(cli["lr_scheduler"], expected)
    assert type(config.scheduler) is type(expected_scheduler)
    assert config.interval == "step" and config.frequency == 1
    if isinstance(config.scheduler, CosineWithWarmupLR):
        assert config.scheduler.training_steps == 2  # the run's optimizer steps, as in the scripts
    else:
        assert isinstance(config.scheduler, ConstantWithWarmupLR)


def test_optimizer_and_schedule_arguments_and_a_users_configure_optimizers(tmp_path):
    task = TASK_BY_NAME["text.clm"]
    model = task.model(
        optimizer={"class_path": "SGD", "init_args": {"lr": 0.1, "momentum": 0.5}}, lr_scheduler=None
    )
    trainer = _trainer(tmp_path)
    trainer.fit(model, task.loader())
    (optimizer,) = trainer.optimizers
    assert type(optimizer) is torch.optim.SGD and optimizer.defaults["momentum"] == 0.5
    assert optimizer.param_groups[0]["lr"] == 0.1 and not trainer.lr_scheduler_configs

    model = task.model(optimizer="torch.optim.Adam", lr_scheduler="ConstantWithWarmupLR")
    trainer = _trainer(tmp_path)
    trainer.fit(model, task.loader())
    assert type(trainer.optimizers[0]) is torch.optim.Adam
    assert type(trainer.lr_scheduler_configs[0].scheduler) is ConstantWithWarmupLR

    class Custom(task.cls):
        def configure_optimizers(self):
            return torch.optim.RMSprop(self.parameters(), lr=1e-4)

    model = Custom.create(task.config)
    trainer = _trainer(tmp_path)
    trainer.fit(model, task.loader())
    assert type(trainer.optimizers[0]) is torch.optim.RMSprop and not trainer.lr_scheduler_configs


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"optimizer": "Nope"}, r"optimizer='Nope' is not a known class"),
        ({"lr_scheduler": "torch.optim.lr_scheduler.Nope"}, r"lr_scheduler='torch.optim.lr_scheduler.Nope'"),
        ({"optimizer": {"class_path": "SGD", "lr": 0.1}}, r"optimizer has the keys \['lr'\]"),
        ({"optimizer": 3}, r"optimizer must be a class name"),
    ],
)
def test_unknown_optimizer_or_schedule_is_refused_at_construction(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        TASK_BY_NAME["text.clm"].model(**kwargs)


def test_bad_optimizer_arguments_name_the_optimizer(tmp_path):
    model = TASK_BY_NAME["text.clm"].model(optimizer={"class_path": "AdamW", "init_args": {"lr": -1.0}})
    with pytest.raises(ValueError, match=r"optimizer=.*AdamW.*Invalid learning rate"):
        _trainer(tmp_path).fit(model, TASK_BY_NAME["text.clm"].loader())


# ---------------------------------------------------------------------------- the training scripts


def _clm_cli(*args: str, tmp_path: Path, run: bool = False):
    from perceiver.scripts.text.clm import main

    tiny = (
        "--data=tiny_tasks.CausalData",
        "--model.max_latents=4",
        "--model.num_channels=16",
        "--model.num_heads=2",
        "--model.num_self_attention_layers=1",
        "--trainer.accelerator=cpu",
        "--trainer.max_steps=2",
        "--trainer.limit_val_batches=1",
        "--trainer.num_sanity_val_steps=0",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        f"--trainer.default_root_dir={tmp_path / 'logs'}",
    )
    subcommand, *rest = args if args and not args[0].startswith("-") else ("fit", *args)
    return main([subcommand, *tiny, *rest] if run else [*tiny, *rest], run=run)


def test_cli_optimizer_and_schedule_are_the_models_hyperparameters(tmp_path):
    cli = _clm_cli(
        "--optimizer=Adam", "--optimizer.lr=0.01", "--lr_scheduler.warmup_steps=3", tmp_path=tmp_path
    )
    optimizer, scheduler = cli.model.hparams.optimizer, cli.model.hparams.lr_scheduler
    assert optimizer["class_path"] == "torch.optim.Adam"
    assert optimizer["init_args"]["lr"] == 0.01 and optimizer["init_args"]["weight_decay"] == 0.0
    assert scheduler["class_path"] == "perceiver.scripts.lrs.CosineWithWarmupLR"
    assert scheduler["init_args"]["warmup_steps"] == 3
    configured = cli.model.configure_optimizers()
    assert type(configured["optimizer"]) is torch.optim.Adam
    assert configured["lr_scheduler"]["scheduler"].warmup_steps == 3


def test_cli_refuses_the_models_optimizer_options(tmp_path, capsys):
    with pytest.raises(SystemExit):
        _clm_cli("--model.optimizer=SGD", tmp_path=tmp_path)
    assert "--model.optimizer is taken from --optimizer" in capsys.readouterr().err


def test_cli_trainer_defaults_are_perceiver_io_s_and_overridable(tmp_path):
    from perceiver.scripts.text.clm import main

    cli = main(["--data=tiny_tasks.CausalData", "--model.max_latents=4"], run=False)
    trainer = cli.trainer
    assert trainer.default_root_dir.endswith("logs")
    (monitor,) = [c for c in trainer.callbacks if isinstance(c, LearningRateMonitor)]
    assert monitor.logging_interval == "step" and monitor.log_momentum is False
    (checkpoint,) = trainer.checkpoint_callbacks
    assert type(checkpoint) is FinalStateCheckpoint  # last.ckpt: where training stopped
    assert checkpoint.monitor == "val_loss" and checkpoint.mode == "min" and checkpoint.save_last is True
    assert checkpoint.filename == "{epoch:03d}-{val_loss:.3f}"
    assert checkpoint.save_weights_only is False  # complete checkpoints: runs resume

    cli = _clm_cli(
        "--trainer.callbacks=ModelCheckpoint", "--trainer.callbacks.every_n_train_steps=5", tmp_path=tmp_path
    )
    assert not [c for c in cli.trainer.callbacks if isinstance(c, LearningRateMonitor)]
    (checkpoint,) = cli.trainer.checkpoint_callbacks
    assert checkpoint.monitor is None and checkpoint._every_n_train_steps == 5

    cli = _clm_cli("--trainer.logger=false", tmp_path=tmp_path)
    assert not [c for c in cli.trainer.callbacks if isinstance(c, LearningRateMonitor)]
    assert isinstance(cli.trainer.checkpoint_callback, ModelCheckpoint)


def test_cli_fit_then_test_and_predict_subcommands(tmp_path):
    _clm_cli("fit", "--trainer.log_every_n_steps=1", tmp_path=tmp_path, run=True)
    run = tmp_path / "logs" / "lightning_logs" / "version_0"
    last = run / "checkpoints" / "last.ckpt"
    (best,) = (p for p in run.glob("checkpoints/*.ckpt") if p != last)
    assert best.name.startswith("epoch=000-val_loss=")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    scalars = EventAccumulator(str(run)).Reload().Tags()["scalars"]
    assert "lr-AdamW" in scalars, scalars  # LearningRateMonitor

    cli = _clm_cli("test", f"--ckpt_path={best}", tmp_path=tmp_path, run=True)
    assert {"test_loss", "test_ppl", "test_bpb", "test_acc"} <= set(cli.trainer.callback_metrics)

    cli = _clm_cli("predict", f"--ckpt_path={last}", tmp_path=tmp_path, run=True)
    predictions = cli.trainer.predict_loop.predictions
    assert len(predictions) == 2 and tuple(predictions[0].shape) == (2, 4, VOCAB)

    cli = _clm_cli("validate", "--ckpt_path=last", tmp_path=tmp_path, run=True)
    assert "val_loss" in cli.trainer.callback_metrics


class _StartStep(pl.Callback):
    """Records the global step training starts at."""

    def on_train_start(self, trainer, pl_module):
        self.step = trainer.global_step


def test_last_checkpoint_is_where_training_stopped_and_resumes_there(tmp_path):
    # validations at steps 2 and 4, max_steps 5: last.ckpt is step 5, not the last validation's step 4
    args = ("--data.num_batches=10", "--trainer.val_check_interval=2")
    cli = _clm_cli("fit", *args, "--trainer.max_steps=5", tmp_path=tmp_path, run=True)
    assert isinstance(cli.trainer.checkpoint_callback, FinalStateCheckpoint)
    run = tmp_path / "logs" / "lightning_logs" / "version_0"
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 5
    expected = {k: v for k, v in cli.model.state_dict().items()}
    assert last["state_dict"].keys() == expected.keys()
    for name, value in expected.items():
        torch.testing.assert_close(last["state_dict"][name], value, rtol=0, atol=0, msg=name)
    (best,) = (p for p in run.glob("checkpoints/epoch=*.ckpt"))
    assert torch.load(best, weights_only=True)["global_step"] in (2, 4)  # best: still at a validation

    # --ckpt_path=last continues at step 5 (in this process, to see where training starts)
    cli = _clm_cli(*args, "--trainer.max_steps=7", tmp_path=tmp_path)
    start = _StartStep()
    cli.trainer.callbacks.append(start)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=find_last_checkpoint(cli.trainer))
    assert start.step == 5
    resumed = tmp_path / "logs" / "lightning_logs" / "version_1" / "checkpoints" / "last.ckpt"
    assert torch.load(resumed, weights_only=True)["global_step"] == 7


@pytest.mark.parametrize("save_last", [True, "link"])
def test_final_state_checkpoint_in_python(tmp_path, save_last):
    task = TASK_BY_NAME["text.clm"]
    torch.manual_seed(0)
    model = task.model()
    callback = FinalStateCheckpoint(
        dirpath=str(tmp_path / "ckpt"), monitor="val_loss", save_last=save_last, filename="{step}"
    )
    trainer = _trainer(
        tmp_path, steps=3, val_check_interval=2, enable_checkpointing=True, callbacks=[callback]
    )
    trainer.fit(model, task.loader(n=8), task.loader(n=2))
    last = tmp_path / "ckpt" / "last.ckpt"
    assert not last.is_symlink() and torch.load(last, weights_only=True)["global_step"] == 3
    assert torch.load(tmp_path / "ckpt" / "step=2.ckpt", weights_only=True)["global_step"] == 2
    # the state is stored under ModelCheckpoint's key: either class restores it
    assert callback.state_key.startswith("ModelCheckpoint{")
    assert callback.state_key == ModelCheckpoint(monitor="val_loss").state_key


@pytest.mark.parametrize("name", TASK_IDS)
def test_test_and_predict_in_python(name, tmp_path):
    task = TASK_BY_NAME[name]
    torch.manual_seed(0)
    model = task.model()
    trainer = _trainer(tmp_path)
    (metrics,) = trainer.test(model, task.loader(n=2), verbose=False)  # one batch: validation's limit
    assert "test_loss" in metrics and torch.isfinite(torch.tensor(metrics["test_loss"]))
    (validated,) = trainer.validate(model, task.loader(n=2), verbose=False)
    assert validated["val_loss"] == pytest.approx(metrics["test_loss"])  # the same evaluation
    predictions = trainer.predict(model, task.loader(n=2))
    (batch,) = task.loader(n=2)
    model.eval()
    with torch.no_grad():
        expected = model.predict_step(batch, 0)
    torch.testing.assert_close(predictions[0], expected, rtol=0, atol=0)


def test_test_and_predict_with_perceiver_data_modules(text_files, tmp_path):
    from perceiver.data.text import Task, TextDataModule

    missing = [
        name
        for name in ("test_dataloader", "predict_dataloader")
        if getattr(TextDataModule, name) is getattr(pl.LightningDataModule, name)
    ]
    if missing:
        pytest.skip(f"perceiver-data's TextDataModule has no {' and '.join(missing)}")
    train, valid = text_files
    data = TextDataModule(
        train_files=train,
        valid_files=valid,
        dataset_dir=str(tmp_path / "cache"),
        max_seq_len=SEQ,
        task=Task.clm,
        batch_size=2,
        num_workers=0,
    )
    task = TASK_BY_NAME["text.clm"]
    from perceiver.lightning.text.clm import CausalLanguageModelConfig, LitCausalLanguageModel

    config = CausalLanguageModelConfig(**{**task.config.to_dict(), "vocab_size": data.vocab_size})
    model = LitCausalLanguageModel.create(config)
    trainer = _trainer(tmp_path, limit_test_batches=2, limit_predict_batches=2)
    (metrics,) = trainer.test(model, datamodule=data, verbose=False)
    assert "test_loss" in metrics
    predictions = trainer.predict(model, datamodule=data)
    assert len(predictions) == 2 and predictions[0].shape[-1] == data.vocab_size


def test_class_label_names_of_the_data_are_in_the_checkpoint(tmp_path):
    """A classifier trained on a 🤗 dataset with a ClassLabel column: the checkpoint's data module
    hyperparameters hold the label names (what checkpoint conversion turns into id2label)."""
    datasets = pytest.importorskip("datasets")
    from perceiver.data.text import TextDataModule
    from perceiver.lightning.text.classifier import LitTextClassifier, TextClassifierConfig

    names = ["negative", "neutral", "positive"]
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names)}
    )
    rows = {"text": [f"review number {i}" for i in range(12)], "label": [i % 3 for i in range(12)]}
    data = TextDataModule(
        tokenizer="deepmind/language-perceiver", task="clf", max_seq_len=SEQ, valid_fraction=0.25,
        train_files=datasets.Dataset.from_dict(rows, features=features), dataset_dir=str(tmp_path / "cache"),
        batch_size=3, num_workers=0,
    )  # fmt: skip
    assert data.num_classes == 3
    base = TASK_BY_NAME["text.classifier"].config.to_dict()
    base["encoder"]["vocab_size"] = data.vocab_size
    base["decoder"]["num_classes"] = data.num_classes
    model = LitTextClassifier.create(TextClassifierConfig.from_dict(base))
    callback = FinalStateCheckpoint(dirpath=str(tmp_path / "ckpt"), save_last=True)
    trainer = _trainer(tmp_path, steps=1, enable_checkpointing=True, callbacks=[callback])
    trainer.fit(model, datamodule=data)
    checkpoint = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    assert checkpoint["datamodule_hyper_parameters"]["class_names"] == names


def test_classifier_script_takes_its_classes_from_a_class_label_column(tmp_path):
    """``--data=TextDataModule`` of Parquet files whose label column is a ClassLabel: the classifier
    gets the ClassLabel's number of classes, the data module its names; without names or a
    ClassLabel the error says how to give them."""
    datasets = pytest.importorskip("datasets")
    from perceiver.scripts.text.classifier import main

    names = ["negative", "neutral", "positive"]
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names)}
    )
    rows = {"text": [f"review number {i}" for i in range(12)], "label": [i % 3 for i in range(12)]}
    datasets.Dataset.from_dict(rows, features=features).to_parquet(str(tmp_path / "train.parquet"))
    args = [
        "--data=TextDataModule", "--data.task=clf", "--data.tokenizer=deepmind/language-perceiver",
        "--data.max_seq_len=12", f"--data.dataset_dir={tmp_path / 'cache'}", "--model.num_latents=4",
        "--model.num_latent_channels=16", "--model.encoder.num_input_channels=16",
        "--model.encoder.num_cross_attention_heads=1", "--model.encoder.num_self_attention_heads=2",
        "--model.decoder.num_output_query_channels=16", f"--trainer.default_root_dir={tmp_path / 'logs'}",
    ]  # fmt: skip
    cli = main([*args, f"--data.train_files={tmp_path / 'train.parquet'}"], run=False)
    assert cli.datamodule.class_names == tuple(names)
    assert cli.model.backend_model.config.decoder.num_classes == 3

    datasets.Dataset.from_dict({"text": rows["text"], "label": rows["label"]}).to_parquet(
        str(tmp_path / "plain.parquet")
    )
    with pytest.raises(ValueError, match=r"--data.class_names=\[\.\.\.\]\) or give data whose label column"):
        main([*args, f"--data.train_files={tmp_path / 'plain.parquet'}"], run=False)


# ---------------------------------------------------------------------------- validation samples


@pytest.fixture(scope="module")
def clm_text_data(text_files, tmp_path_factory):
    from perceiver.data.text import Task, TextDataModule

    train, valid = text_files
    return TextDataModule(
        train_files=train,
        valid_files=valid,
        dataset_dir=str(tmp_path_factory.mktemp("cache")),
        tokenizer="deepmind/language-perceiver",
        max_seq_len=32,
        task=Task.clm,
        batch_size=2,
        num_workers=0,
    )


@pytest.mark.parametrize("logger", ["csv", "none"])
def test_text_sample_is_written_to_the_log_directory_and_logged(clm_text_data, tmp_path, caplog, logger):
    from perceiver.lightning.text.clm import CausalLanguageModelConfig, LitCausalLanguageModel

    config = CausalLanguageModelConfig(
        vocab_size=clm_text_data.vocab_size, max_seq_len=32, max_latents=8, num_channels=16, num_heads=2,
        num_self_attention_layers=1,
    )  # fmt: skip
    model = LitCausalLanguageModel.create(
        config, validation_sample_prompt="The ", validation_sample_num_tokens=6
    )
    csv = CSVLogger(str(tmp_path), name="run")
    trainer = _trainer(tmp_path, logger=csv if logger == "csv" else False, limit_train_batches=2)
    with caplog.at_level(logging.INFO, logger="perceiver.lightning.text.clm"):
        trainer.fit(model, datamodule=clm_text_data)
    folder = Path(csv.log_dir) if logger == "csv" else tmp_path
    sample = folder / "samples" / "step-2.txt"
    assert sample.read_text(encoding="utf-8") == model.last_validation_sample + "\n"
    assert model.last_validation_sample.startswith("The ")
    assert f"validation sample at step 2 ({sample})" in caplog.text
    assert model.last_validation_sample in caplog.text


# ---------------------------------------------------------------------------- without perceiver-data

HIDE_PERCEIVER_DATA = """
import importlib.abc, sys

class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "perceiver.data" or name.startswith("perceiver.data."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, Hide())
from perceiver.scripts.text.clm import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize("form", [["--data=TextDataModule"], ["--data", "WikiTextDataModule"]])
def test_data_module_name_without_perceiver_data_says_what_to_install(tmp_path, form):
    result = subprocess.run(
        [sys.executable, "-c", HIDE_PERCEIVER_DATA, "fit", *form, "--trainer.max_steps=1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert 'pip install "perceiver-lightning[data]"' in result.stderr
    assert form[-1].removeprefix("--data=") in result.stderr


@pytest.mark.parametrize(
    "config, before_subcommand",
    [
        ({"data": {"class_path": "TextDataModule", "init_args": {"max_seq_len": 16}}}, False),
        ({"fit": {"data": "perceiver.data.text.WikiTextDataModule"}}, True),
    ],
)
def test_data_module_in_a_config_file_without_perceiver_data_says_what_to_install(
    tmp_path, config, before_subcommand
):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    args = ["--config=config.yaml", "fit"] if before_subcommand else ["fit", "--config", "config.yaml"]
    result = subprocess.run(
        [sys.executable, "-c", HIDE_PERCEIVER_DATA, *args, "--trainer.max_steps=1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert 'pip install "perceiver-lightning[data]"' in result.stderr
    assert "DataModule in config.yaml names a data module of perceiver-data" in result.stderr


def test_own_data_module_needs_no_perceiver_data(tmp_path):
    code = HIDE_PERCEIVER_DATA.replace("main(sys.argv[1:])", "main(sys.argv[1:], run=False)")
    tests = str(Path(__file__).parent)
    result = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {tests!r})\n{code}", "--data=tiny_tasks.CausalData",
         "--model.max_latents=4"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
