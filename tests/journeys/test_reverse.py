"""The reverse journey: an official transformers Perceiver (built small from its config, with
random weights) converted to this library, fine-tuned with the LightningCLI script from its 🤗
directory (``--model.params``) and converted back to a 🤗 model: the outputs match the fine-tuned
Lightning model's."""

from __future__ import annotations

import json

import torch
from journeys.helpers import run_fresh, train

MAX_SEQ_LEN = 32
LINKED = {"vocab_size", "max_seq_len"}  # set from the data module by the script


def _model_args(backend_config) -> list[str]:
    """Command-line options that build ``backend_config`` (the data module sets the linked sizes)."""
    config = backend_config.to_dict()
    args = []
    for part in ("encoder", "decoder"):
        args += [
            f"--model.{part}.{name}={json.dumps(value)}"
            for name, value in config.pop(part).items()
            if name not in LINKED
        ]
    return args + [f"--model.{name}={json.dumps(value)}" for name, value in config.items()]


def test_official_model_fine_tuned_with_lightning_and_converted_back(tmp_path, data_dir):
    from transformers import PerceiverConfig, PerceiverForMaskedLM

    from perceiver.hf.text import mlm
    from perceiver.lightning.text.mlm import LitMaskedLanguageModel

    torch.manual_seed(0)
    official = PerceiverConfig(
        vocab_size=262,
        max_position_embeddings=MAX_SEQ_LEN,
        num_latents=8,
        d_latents=32,
        d_model=24,
        num_self_attends_per_block=1,
        num_self_attention_heads=2,
        num_cross_attention_heads=2,
        qk_channels=16,
        v_channels=32,
    )
    PerceiverForMaskedLM(official).save_pretrained(tmp_path / "official")
    converted = mlm.convert_model(save_dir=tmp_path / "converted", source_repo_id=tmp_path / "official")

    text = (data_dir / "wikitext-2" / "valid.txt").read_text()
    (tmp_path / "train.txt").write_text(text[:20_000])
    (tmp_path / "valid.txt").write_text(text[20_000:24_000])
    ckpt = train(
        "text.mlm",
        [
            "--data=TextDataModule",
            "--data.task=mlm",
            f"--data.train_files={tmp_path / 'train.txt'}",
            f"--data.valid_files={tmp_path / 'valid.txt'}",
            f"--data.max_seq_len={MAX_SEQ_LEN}",
            f"--data.dataset_dir={tmp_path / 'cache'}",
            "--data.batch_size=8",
            "--data.num_workers=0",
            f"--model.params={tmp_path / 'converted'}",
            *_model_args(converted.config.backend_config),
        ],
        tmp_path,
    )

    lit = LitMaskedLanguageModel.load_from_checkpoint(ckpt, map_location="cpu").eval()
    # fine-tuning started from the official weights and changed them
    start = converted.backend_model.state_dict()
    tuned = lit.backend_model.state_dict()
    assert start.keys() == tuned.keys()
    assert any(not torch.equal(start[k], tuned[k]) for k in start)

    mlm.convert_checkpoint(save_dir=tmp_path / "fine-tuned", ckpt_url=ckpt)
    texts = ["The lobster lives in the [MASK]ea", "A [MASK]ame"]
    outputs = run_fresh(
        f"""
import json
import torch
import perceiver.hf
from transformers import AutoModelForMaskedLM, AutoTokenizer

model = AutoModelForMaskedLM.from_pretrained({str(tmp_path / "fine-tuned")!r}).eval()
tokenizer = AutoTokenizer.from_pretrained({str(tmp_path / "fine-tuned")!r})
inputs = tokenizer({texts!r}, padding=True, return_tensors="pt")
with torch.no_grad():
    logits = model(**inputs).logits
print(json.dumps({{"ids": inputs["input_ids"].tolist(), "mask": inputs["attention_mask"].tolist(),
                  "logits": logits.tolist()}}))
""",
        tmp_path,
    )
    ids, mask = torch.tensor(outputs["ids"]), torch.tensor(outputs["mask"])
    with torch.no_grad():
        expected = lit.backend_model(ids, pad_mask=mask == 0)
    valid = mask.bool()
    torch.testing.assert_close(torch.tensor(outputs["logits"])[valid], expected[valid], atol=1e-5, rtol=1e-4)
