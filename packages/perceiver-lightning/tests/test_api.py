"""Python API: create -> train -> checkpoint -> load round trip, params loading, krasserm/perceiver-io
0.11's plain PyTorch loop, input checks before training, schedules and atomic checkpoint writes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from perceiver.data.text import Task, TextDataModule
from perceiver.lightning._checkpoint import AtomicCheckpointIO, atomic_torch_save
from perceiver.lightning.text.clm import (
    CausalLanguageModel,
    CausalLanguageModelConfig,
    LitCausalLanguageModel,
)
from perceiver.lightning.text.mlm import (
    LitMaskedLanguageModel,
    MaskedLanguageModelConfig,
    TextDecoderConfig,
    TextEncoderConfig,
)
from perceiver.scripts.lrs import ConstantWithWarmupLR, CosineWithWarmupLR


class LitCLM(LitCausalLanguageModel):
    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)


@pytest.fixture(scope="module")
def clm_data(text_files, tmp_path_factory) -> TextDataModule:
    train, valid = text_files
    return TextDataModule(
        train_files=train,
        valid_files=valid,
        dataset_dir=str(tmp_path_factory.mktemp("cache")),
        max_seq_len=32,
        task=Task.clm,
        batch_size=4,
        num_workers=0,
    )


def _clm_config(data, **kwargs) -> CausalLanguageModelConfig:
    defaults = dict(vocab_size=data.vocab_size, max_seq_len=data.max_seq_len, max_latents=8, num_channels=32)
    return CausalLanguageModelConfig(**{**defaults, "num_heads": 4, "num_self_attention_layers": 1, **kwargs})


def _trainer(tmp_path: Path, steps: int = 2) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu",
        max_steps=steps,
        limit_train_batches=steps,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
    )


@pytest.fixture(scope="module")
def clm_checkpoint(clm_data, tmp_path_factory) -> tuple[Path, LitCLM]:
    tmp_path = tmp_path_factory.mktemp("clm")
    model = LitCLM.create(
        _clm_config(clm_data), validation_sample_prompt="To be", validation_sample_num_tokens=4
    )
    trainer = _trainer(tmp_path)
    trainer.fit(model, datamodule=clm_data)
    assert isinstance(model.last_validation_sample, str) and model.last_validation_sample.startswith("To be")
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    return path, model


def test_create_train_checkpoint_load_round_trip(clm_checkpoint):
    path, trained = clm_checkpoint
    loaded = LitCausalLanguageModel.load_from_checkpoint(path)  # torch.load(weights_only=True) inside
    assert loaded.model is loaded.backend_model
    assert isinstance(loaded.model, CausalLanguageModel)
    assert loaded.config == trained.config
    x = torch.randint(6, 262, (2, 32))
    torch.testing.assert_close(loaded.model.eval()(x), trained.model.eval()(x), rtol=0, atol=0)
    # params= loads the weights of a checkpoint into a new wrapper
    again = LitCausalLanguageModel.create(trained.config, params=str(path))
    torch.testing.assert_close(again.model.eval()(x), trained.model(x), rtol=0, atol=0)


def test_seed_inference_example(clm_checkpoint, clm_data):
    path, _ = clm_checkpoint
    model = LitCausalLanguageModel.load_from_checkpoint(path).model.eval()
    preproc = clm_data.text_preprocessor()
    prompt, pad_mask = preproc.preprocess_batch(["A man was reading a book"])
    generated = model.generate(prompt=prompt, pad_mask=pad_mask, num_tokens=8, num_latents=4, top_k=10)
    assert generated.shape == (1, prompt.shape[1] + 8)
    assert clm_data.tokenizer.decode(generated[0], skip_special_tokens=True).startswith(
        "A man was reading a book"
    )


def test_checkpoint_of_another_task_is_refused(clm_checkpoint):
    path, _ = clm_checkpoint
    with pytest.raises(ValueError, match=r"task 'text\.clm', not of task 'text\.mlm'"):
        LitMaskedLanguageModel.load_from_checkpoint(path)
    config = MaskedLanguageModelConfig(
        encoder=TextEncoderConfig(vocab_size=262, max_seq_len=32, num_input_channels=16),
        decoder=TextDecoderConfig(vocab_size=262, max_seq_len=32),
        num_latents=4,
        num_latent_channels=16,
    )
    with pytest.raises(ValueError, match=r"text\.clm"):
        LitMaskedLanguageModel.create(config, params=str(path))


def test_params_from_a_model_directory_and_missing_hub_support(tmp_path):
    from safetensors.torch import save_file

    config = MaskedLanguageModelConfig(
        encoder=TextEncoderConfig(vocab_size=262, max_seq_len=32, num_input_channels=16),
        decoder=TextDecoderConfig(vocab_size=262, max_seq_len=32),
        num_latents=4,
        num_latent_channels=16,
    )
    source = LitMaskedLanguageModel.create(config)
    state = {f"backend_model.{k}": v.contiguous() for k, v in source.model.state_dict().items()}
    state.pop("backend_model.decoder.output_adapter.embedding.weight", None)  # tied
    save_file(state, str(tmp_path / "model.safetensors"))
    loaded = LitMaskedLanguageModel.create(config, params=str(tmp_path))
    x = torch.randint(6, 262, (1, 32))
    torch.testing.assert_close(loaded.model.eval()(x), source.model.eval()(x))
    with pytest.raises(FileNotFoundError, match="perceiver-hf"):
        LitMaskedLanguageModel.create(config, params="krasserm/perceiver-io-mlm")
    with pytest.raises(TypeError, match="MaskedLanguageModelConfig"):
        LitMaskedLanguageModel.create(CausalLanguageModelConfig())


def test_model_max_seq_len_smaller_than_the_data_fails_before_training(clm_data, tmp_path):
    model = LitCLM.create(_clm_config(clm_data, max_seq_len=16))
    trainer = _trainer(tmp_path)
    with pytest.raises(ValueError, match=r"max_seq_len \(32\) exceeds the model's max_seq_len \(16\)"):
        trainer.fit(model, datamodule=clm_data)
    assert trainer.global_step == 0


def test_plain_pytorch_training_loop(clm_data):
    """krasserm/perceiver-io 0.11's documented training loop without Lightning, against the data module."""
    clm_data.prepare_data()
    clm_data.setup()
    model_config = _clm_config(clm_data)
    model = CausalLanguageModel(config=model_config)
    model.train()
    optim = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _, (labels_ids, input_ids, pad_mask) in zip(range(4), clm_data.train_dataloader()):
        logits = model(input_ids, prefix_len=input_ids.shape[1] - model_config.max_latents, pad_mask=pad_mask)
        loss = F.cross_entropy(logits.permute(0, 2, 1), labels_ids[:, -model_config.max_latents :])
        loss.backward()
        optim.step()
        optim.zero_grad()
        losses.append(loss.item())
    assert all(math.isfinite(x) for x in losses) and losses[-1] < losses[0]


def test_learning_rate_schedules():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    cosine = CosineWithWarmupLR(optimizer, training_steps=10, warmup_steps=2)
    lrs = []
    for _ in range(10):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        cosine.step()
    assert lrs[0] == pytest.approx(0.5) and lrs[1] == pytest.approx(1.0) and lrs[2] == pytest.approx(1.0)
    assert lrs[6] == pytest.approx(0.5 * (1 + math.cos(math.pi * 4 / 8)))
    optimizer = torch.optim.SGD([param], lr=1.0)
    constant = ConstantWithWarmupLR(optimizer, warmup_steps=4)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.25)
    for _ in range(5):
        optimizer.step()
        constant.step()
    assert optimizer.param_groups[0]["lr"] == 1.0
    with pytest.raises(ValueError, match="warmup_steps"):
        ConstantWithWarmupLR(optimizer, warmup_steps=-1)


def test_checkpoint_writes_are_atomic(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    atomic_torch_save({"step": 1}, path)
    AtomicCheckpointIO().save_checkpoint({"step": 2}, path)
    assert torch.load(path, weights_only=True) == {"step": 2}

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", crash)  # the write fails before the rename
    with pytest.raises(OSError, match="disk full"):
        atomic_torch_save({"step": 3}, path)
    assert torch.load(path, weights_only=True) == {"step": 2}  # the old checkpoint is intact
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temp file left behind


def test_a_batch_without_padding_reaches_the_model_without_its_pad_mask(monkeypatch):
    """The text wrappers pass pad_mask=None for a batch without padding, so that on CUDA
    attention runs unmasked or with SDPA's causal masking (flash attention)."""
    clm = LitCausalLanguageModel.create(
        CausalLanguageModelConfig(vocab_size=262, max_seq_len=16, max_latents=4, num_channels=16, num_heads=2)
    )
    mlm = LitMaskedLanguageModel.create(
        MaskedLanguageModelConfig(
            encoder=TextEncoderConfig(vocab_size=262, max_seq_len=16, num_input_channels=16),
            decoder=TextDecoderConfig(vocab_size=262, max_seq_len=16),
            num_latents=4,
            num_latent_channels=16,
        )
    )
    labels, ids = torch.randint(0, 262, (2, 16)), torch.randint(6, 262, (2, 16))
    no_padding = torch.zeros(2, 16, dtype=torch.bool)
    padded = no_padding.clone()
    padded[0, :3] = True
    for lit in (clm.eval(), mlm.eval()):
        seen = []
        forward = lit.backend_model.forward

        def spy(*args, pad_mask=None, forward=forward, seen=seen, **kwargs):
            seen.append(pad_mask)
            return forward(*args, pad_mask=pad_mask, **kwargs)

        expected = lit.step((labels, ids, no_padding))[-1]  # before the spy: the mask as given
        monkeypatch.setattr(lit.backend_model, "forward", spy)
        torch.testing.assert_close(lit.step((labels, ids, no_padding))[-1], expected)
        lit.step((labels, ids, padded))
        assert seen[0] is None and seen[1] is padded
