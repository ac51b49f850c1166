"""perceiver-data's options from the training scripts' command line: text and label column names,
class names, and what the checkpointed hyperparameters give back for inference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perceiver.data import inference_spec

TINY_CLASSIFIER = [
    "--model.num_latents=4",
    "--model.num_latent_channels=16",
    "--model.encoder.num_input_channels=16",
    "--model.encoder.num_cross_attention_qk_channels=16",
    "--model.encoder.num_cross_attention_v_channels=16",
    "--model.encoder.num_cross_attention_heads=1",
    "--model.encoder.num_self_attention_qk_channels=16",
    "--model.encoder.num_self_attention_v_channels=16",
    "--model.encoder.num_self_attention_heads=1",
    "--model.encoder.num_self_attention_layers_per_block=1",
    "--model.decoder.num_output_query_channels=16",
]


def _reviews(path: Path, n: int) -> str:
    rows = [{"review": f"review {i}: a {'fine' if i % 2 else 'dull'} film", "stars": i % 2} for i in range(n)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def test_text_and_label_columns_from_the_command_line(tmp_path):
    pytest.importorskip("perceiver.scripts.text.classifier")
    from perceiver.scripts.text.classifier import main

    args = [
        "fit",
        *TINY_CLASSIFIER,
        "--data=TextDataModule",
        "--data.task=clf",
        "--data.tokenizer=deepmind/language-perceiver",
        "--data.max_seq_len=32",
        f"--data.train_files={_reviews(tmp_path / 'train.jsonl', 8)}",
        f"--data.valid_files={_reviews(tmp_path / 'valid.jsonl', 4)}",
        "--data.text_column=review",
        "--data.label_column=stars",
        "--data.class_names=[bad, good]",
        "--data.batch_size=2",
        "--data.num_workers=0",
        f"--data.dataset_dir={tmp_path / 'cache'}",
        "--trainer.max_steps=1",
        "--trainer.limit_val_batches=1",
        "--trainer.accelerator=cpu",
        "--trainer.logger=false",
        "--trainer.enable_checkpointing=false",
        "--trainer.enable_progress_bar=false",
        f"--trainer.default_root_dir={tmp_path}",
    ]
    cli = main(args)
    data = cli.datamodule
    assert (data.text_column, data.label_column, data.num_classes) == ("review", "stars", 2)
    assert cli.trainer.global_step == 1
    spec = inference_spec(dict(data.hparams))
    assert spec.id2label() == {0: "bad", 1: "good"} and spec.max_seq_len == 32
    assert spec.load_tokenizer().padding_side == "right"
