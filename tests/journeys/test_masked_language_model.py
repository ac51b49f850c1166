"""Journey: train a Perceiver IO masked language model on WikiText-2 with the LightningCLI script,
convert the checkpoint, and fill masks in raw text with ``pipeline("fill-mask")`` in a fresh
process: the commands and code of docs/journeys/masked-language-model.md, with a tiny model."""

from __future__ import annotations

import pytest
import torch
from journeys.helpers import run_fresh, run_page_python, train_as_page

PAGE = "masked-language-model.md"

MAX_SEQ_LEN = 64
TEXTS = ["The lobster lives in the [MASK]ea", "It was [MASK] great success"]

MODEL_ARGS = [
    "--model.num_latents=4",
    "--model.num_latent_channels=16",
    "--model.encoder.num_input_channels=16",
    "--model.encoder.num_cross_attention_qk_channels=8",
    "--model.encoder.num_cross_attention_v_channels=16",
    "--model.encoder.num_cross_attention_heads=2",
    "--model.encoder.num_self_attention_qk_channels=8",
    "--model.encoder.num_self_attention_v_channels=16",
    "--model.encoder.num_self_attention_heads=2",
    "--model.encoder.num_self_attention_layers_per_block=1",
    "--model.decoder.num_cross_attention_qk_channels=8",
    "--model.decoder.num_cross_attention_v_channels=16",
    "--model.decoder.num_cross_attention_heads=2",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("mlm")
    text = (data_dir / "wikitext-2" / "valid.txt").read_text()
    (root / "data").mkdir()
    (root / "data" / "train.txt").write_text(text[:40_000])
    (root / "data" / "valid.txt").write_text(text[40_000:44_000])
    ckpt = train_as_page(
        PAGE,
        [
            f"--data.max_seq_len={MAX_SEQ_LEN}",
            f"--data.dataset_dir={root / 'cache'}",
            "--data.batch_size=8",
            "--data.num_workers=0",
            *MODEL_ARGS,
        ],
        root,
    )
    return root, ckpt


def test_masked_language_model_journey(trained):
    from perceiver.data.text import TextPreprocessor
    from perceiver.lightning.text.mlm import LitMaskedLanguageModel

    root, ckpt = trained
    printed = run_page_python(PAGE, root)  # the page converts and predicts
    assert printed[-1].strip()
    save_dir = root / "wikitext-mlm"

    outputs = run_fresh(
        f"""
import json
import perceiver.hf
from transformers import AutoTokenizer, pipeline

fill = pipeline("fill-mask", model={str(save_dir)!r}, top_k=5)
tokenizer = AutoTokenizer.from_pretrained({str(save_dir)!r})
print(json.dumps({{
    "predictions": [fill(text) for text in {TEXTS!r}],
    "tokenizer": [type(tokenizer).__name__, tokenizer.model_max_length, tokenizer.padding_side],
}}))
""",
        root,
    )
    assert outputs["tokenizer"] == ["PerceiverBytesTokenizer", MAX_SEQ_LEN, "right"]

    # the Lightning model's five most likely tokens at the mask of the same raw texts
    lit = LitMaskedLanguageModel.load_from_checkpoint(ckpt, map_location="cpu").eval()
    preprocessor = TextPreprocessor("deepmind/language-perceiver", MAX_SEQ_LEN)
    for text, prediction in zip(TEXTS, outputs["predictions"]):
        input_ids, pad_mask = preprocessor.preprocess_batch([text])
        position = (input_ids[0] == preprocessor.tokenizer.mask_token_id).nonzero().item()
        with torch.no_grad():
            probs = lit.backend_model(input_ids, pad_mask=pad_mask)[0, position].softmax(dim=-1)
        top = probs.topk(5)
        assert [p["token"] for p in prediction] == top.indices.tolist(), text
        torch.testing.assert_close(
            torch.tensor([p["score"] for p in prediction]), top.values, atol=1e-5, rtol=1e-4
        )
