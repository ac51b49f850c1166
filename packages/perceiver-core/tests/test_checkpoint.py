"""perceiver.model.core.checkpoint: checkpoints are read without running code.

perceiver-io 0.11 pickled its config dataclasses into Lightning checkpoints; the checkpoints
here are written with stand-in classes that have the same module paths and names (registered
in ``sys.modules`` only while saving), so they pickle exactly as that library's did.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import sys
import types
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from perceiver.model.core.checkpoint import (
    BACKEND_PREFIX,
    LEGACY_CONFIG_CLASSES,
    TASK_KEY,
    check_task,
    is_legacy_checkpoint,
    legacy_model_config,
    legacy_tasks,
    load_checkpoint,
    plain_data,
    read_backend,
)


@contextmanager
def legacy_classes():
    """Dataclasses and the Task enum under perceiver-io 0.11's module paths (for pickling only)."""
    saved = dict(sys.modules)
    classes = {}
    try:
        for path in [*LEGACY_CONFIG_CLASSES, "perceiver.data.text.common.Task"]:
            module_name, name = path.rsplit(".", 1)
            module = sys.modules.get(module_name)
            if module is None or not getattr(module, "_legacy_test_module", False):
                module = types.ModuleType(module_name)
                module._legacy_test_module = True
                sys.modules[module_name] = module
            if name == "Task":
                cls = enum.Enum("Task", {"mlm": 0, "clm": 1, "clf": 2}, module=module_name)
            else:
                cls = dataclasses.make_dataclass(name, [("vocab_size", int, 0), ("params", str | None, None)])
                cls.__module__ = module_name
            setattr(module, name, cls)
            classes[name] = cls
        yield classes
    finally:
        for name in set(sys.modules) - set(saved):
            del sys.modules[name]
        sys.modules.update(saved)


def _legacy_checkpoint(classes) -> dict:
    enc = classes["TextEncoderConfig"](vocab_size=262, params="mlm.ckpt")
    dec = classes["ClassificationDecoderConfig"]()
    dec.num_classes = 3  # dataclass state is the instance __dict__
    return {
        "state_dict": {"model.0.weight": torch.ones(2)},
        "hyper_parameters": {"encoder": enc, "decoder": dec, "num_latents": 8, "num_latent_channels": 16},
        "datamodule_hyper_parameters": {"task": classes["Task"].clf},
        "pytorch-lightning_version": "2.0.1",
    }


def test_legacy_config_classes_become_plain_dicts(tmp_path: Path):
    path = tmp_path / "legacy.ckpt"
    with legacy_classes() as classes:
        torch.save(_legacy_checkpoint(classes), path)
    assert "perceiver.data.text.common" not in sys.modules or not hasattr(
        sys.modules["perceiver.data.text.common"], "_legacy_test_module"
    )
    with pytest.raises(Exception, match=r"GLOBAL perceiver\.model\.text\.common\.backend\.TextEncoderConfig"):
        torch.load(path, weights_only=True)  # torch alone refuses it
    checkpoint = load_checkpoint(path)
    hparams = checkpoint["hyper_parameters"]
    assert type(hparams["encoder"]) is dict and hparams["encoder"] == {
        "vocab_size": 262,
        "params": "mlm.ckpt",
    }
    assert type(hparams["decoder"]) is dict and hparams["decoder"]["num_classes"] == 3
    assert checkpoint["datamodule_hyper_parameters"] == {"task": "clf"}
    torch.testing.assert_close(checkpoint["state_dict"]["model.0.weight"], torch.ones(2), rtol=0, atol=0)
    assert is_legacy_checkpoint(checkpoint)
    assert legacy_tasks(checkpoint) == ("text.classifier",)
    config = legacy_model_config(checkpoint, "text.classifier")
    assert config["num_latents"] == 8 and config["encoder"]["params"] == "mlm.ckpt"
    with pytest.raises(ValueError, match=r"of 'text\.classifier', not of task 'text\.mlm'"):
        legacy_model_config(checkpoint, "text.mlm")


def test_our_checkpoints_load_as_with_weights_only(tmp_path: Path):
    path = tmp_path / "ours.ckpt"
    data = {
        TASK_KEY: "text.clm",
        "state_dict": {"backend_model.w": torch.arange(3.0)},
        "hyper_parameters": {},
    }
    torch.save(data, path)
    checkpoint = load_checkpoint(path)
    assert checkpoint[TASK_KEY] == "text.clm" and not is_legacy_checkpoint(checkpoint)
    torch.testing.assert_close(checkpoint["state_dict"]["backend_model.w"], torch.arange(3.0), rtol=0, atol=0)


class Payload:
    def __reduce__(self):
        return (os.getcwd, ())


@dataclasses.dataclass
class UnknownConfig:
    x: int = 1


@pytest.mark.parametrize(
    ("payload", "global_name"),
    [(Payload(), "posix.getcwd" if os.name == "posix" else "nt.getcwd"), (UnknownConfig(), "UnknownConfig")],
)
def test_other_globals_are_refused_naming_file_and_global(tmp_path: Path, payload, global_name: str):
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"x": payload}}, path)
    with pytest.raises(ValueError, match=rf"evil\.ckpt.*{global_name}"):
        load_checkpoint(path)


def test_bad_files_raise_naming_the_file(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"missing\.ckpt"):
        load_checkpoint(tmp_path / "missing.ckpt")
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.ckpt.*is empty"):
        load_checkpoint(empty)
    truncated = tmp_path / "truncated.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1000)}}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:2000])
    with pytest.raises(ValueError, match=r"truncated\.ckpt.*truncated, corrupt"):
        load_checkpoint(truncated)
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint" * 10)
    with pytest.raises(ValueError, match=r"garbage\.ckpt.*(corrupt|not a checkpoint)"):
        load_checkpoint(garbage)
    tensor = tmp_path / "tensor.pt"
    torch.save(torch.zeros(2), tensor)
    with pytest.raises(ValueError, match=r"tensor\.pt.*holds a Tensor"):
        load_checkpoint(tensor)


def _ours(config, **extra) -> dict:
    from perceiver.model.text.clm import CausalLanguageModel

    model = CausalLanguageModel(config)
    return {
        TASK_KEY: "text.clm",
        "state_dict": {BACKEND_PREFIX + k: v for k, v in model.state_dict().items()},
        "hyper_parameters": plain_data({**config.to_dict(), "params": None}),
        **extra,
    }, model


def test_read_backend_returns_the_core_config_and_state_of_a_task(tmp_path: Path):
    from perceiver.model.text.clm import CausalLanguageModelConfig

    config = CausalLanguageModelConfig(
        vocab_size=11, max_seq_len=8, max_latents=4, num_channels=8, num_heads=2
    )
    data, model = _ours(config)
    data["state_dict"]["val_acc.tp"] = torch.zeros(1)  # not the core model's: left out
    path = tmp_path / "clm.ckpt"
    torch.save(data, path)
    read_config, state = read_backend(
        load_checkpoint(path), "text.clm", CausalLanguageModelConfig, "clm.ckpt"
    )
    assert read_config == config
    assert state.keys() == model.state_dict().keys()
    with pytest.raises(
        ValueError, match=r"clm\.ckpt is a checkpoint of task 'text\.clm', not of task 'text\.mlm'"
    ):
        read_backend(data, "text.mlm", CausalLanguageModelConfig, "clm.ckpt")
    with pytest.raises(ValueError, match=r"x\.ckpt: invalid hyper_parameters: .*num_heads must be an int"):
        read_backend(
            {**data, "hyper_parameters": {"num_heads": "2"}}, "text.clm", CausalLanguageModelConfig, "x.ckpt"
        )
    with pytest.raises(ValueError, match=r"x\.ckpt is not a Lightning checkpoint \(no 'state_dict'\)"):
        read_backend({TASK_KEY: "text.clm"}, "text.clm", CausalLanguageModelConfig, "x.ckpt")
    assert read_backend({"state_dict": {}}, "text.clm", CausalLanguageModelConfig, "x.ckpt")[0] is None


def test_check_task_warns_without_a_tag(caplog):
    with caplog.at_level("WARNING"):
        check_task({}, "text.clm", "old.ckpt")
    assert "old.ckpt has no task tag" in caplog.text
    check_task({TASK_KEY: "text.clm"}, "text.clm", "ok.ckpt")


def test_plain_data_is_what_weights_only_loading_reads(tmp_path: Path):
    import enum

    from perceiver.model.text.clm import CausalLanguageModelConfig

    class Kind(enum.Enum):
        a = "a"

    value = {"config": CausalLanguageModelConfig(), "path": Path("x/y"), "kind": Kind.a, "shape": (1, 2)}
    plain = plain_data(value)
    assert plain["config"] == CausalLanguageModelConfig().to_dict()
    assert plain["path"] == os.fspath(Path("x/y")) and plain["kind"] == "a" and plain["shape"] == [1, 2]
    torch.save(plain, tmp_path / "p.pt")
    assert torch.load(tmp_path / "p.pt", weights_only=True) == plain
