"""Journey: train a Perceiver AR causal language model on Tiny Shakespeare with the LightningCLI
script, convert the checkpoint, and continue raw prompts with ``pipeline("text-generation")`` and
batched greedy ``generate()`` in a fresh process: the commands and code of docs/journeys/causal-language-model.md, with a tiny model."""

from __future__ import annotations

import pytest
import torch
from journeys.helpers import run_fresh, run_page_python, train_as_page

PAGE = "causal-language-model.md"

MAX_SEQ_LEN = 32
NEW_TOKENS = 8
PROMPTS = ["ROMEO: I will", "First Citizen:\nWe are", "To"]

MODEL_ARGS = [
    "--model.max_latents=8",
    "--model.num_channels=16",
    "--model.num_heads=2",
    "--model.num_self_attention_layers=1",
    "--model.cross_attention_dropout=0.0",
    "--optimizer.lr=0.005",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("clm")
    text = (data_dir / "tinyshakespeare" / "input.txt").read_text()
    (root / "data").mkdir()
    (root / "data" / "train.txt").write_text(text[:40_000])
    (root / "data" / "valid.txt").write_text(text[40_000:44_000])
    ckpt = train_as_page(
        PAGE,
        [
            f"--data.max_seq_len={MAX_SEQ_LEN}",
            f"--data.dataset_dir={root / 'cache'}",
            "--data.batch_size=16",
            "--data.num_workers=0",
            *MODEL_ARGS,
        ],
        root,
        max_steps=10,
    )
    return root, ckpt


def test_causal_language_model_journey(trained):
    from transformers import PerceiverTokenizer

    from perceiver.lightning.text.clm import LitCausalLanguageModel
    from perceiver.model.core import generate

    root, ckpt = trained
    printed = run_page_python(PAGE, root)  # the page converts and predicts
    assert printed[-1].strip()
    save_dir = root / "shakespeare-clm"

    outputs = run_fresh(
        f"""
import json
import perceiver.hf
from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

prompts = {PROMPTS!r}
generator = pipeline("text-generation", model={str(save_dir)!r})
piped = [
    generator(p, max_new_tokens={NEW_TOKENS}, do_sample=False, return_full_text=False)[0]["generated_text"]
    for p in prompts
]
tokenizer = AutoTokenizer.from_pretrained({str(save_dir)!r})
model = AutoModelForCausalLM.from_pretrained({str(save_dir)!r}).eval()
alone = []
for p in prompts:
    inputs = tokenizer(p, return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens={NEW_TOKENS}, do_sample=False)
    alone.append(out[0, inputs["input_ids"].shape[1]:].tolist())
batch = tokenizer(prompts, padding=True, return_tensors="pt")
out = model.generate(**batch, max_new_tokens={NEW_TOKENS}, do_sample=False)
batched = out[:, batch["input_ids"].shape[1]:].tolist()
print(json.dumps({{
    "piped": piped,
    "alone": alone,
    "batched": batched,
    "prompt_ids": [tokenizer(p)["input_ids"] for p in prompts],
    "padding": batch["attention_mask"].tolist(),
    "truncated": len(tokenizer("x" * 100, truncation=True)["input_ids"]),
    "tokenizer": [type(tokenizer).__name__, tokenizer.model_max_length, tokenizer.padding_side],
}}))
""",
        root,
    )

    # the saved tokenizer is the training's: no [CLS]/[SEP], left padding, max_seq_len tokens
    assert outputs["tokenizer"] == ["PerceiverBytesTokenizer", MAX_SEQ_LEN, "left"]
    assert outputs["truncated"] == MAX_SEQ_LEN
    assert outputs["padding"][2][0] == 0, "the shortest prompt is padded on the left"
    training_tokenizer = PerceiverTokenizer()
    assert outputs["prompt_ids"] == [
        training_tokenizer(p, add_special_tokens=False)["input_ids"] for p in PROMPTS
    ]

    # the Lightning model continues the raw prompts (tokenized as in training) with the same tokens
    lit = LitCausalLanguageModel.load_from_checkpoint(ckpt, map_location="cpu").eval()
    expected = []
    for ids in outputs["prompt_ids"]:
        with torch.no_grad():
            out = generate(lit.backend_model, torch.tensor([ids]), num_tokens=NEW_TOKENS, eos_token_id=None)
        expected.append(out[0, len(ids) :].tolist())
    assert outputs["alone"] == expected
    # a batched greedy generate() gives each prompt the continuation it gets alone
    assert outputs["batched"] == expected
    # and the pipeline's text is that continuation
    assert outputs["piped"] == [training_tokenizer.decode(ids) for ids in expected]
