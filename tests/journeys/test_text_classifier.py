"""Journey: train a text classifier with the LightningCLI script, convert the checkpoint, and
classify raw text with ``pipeline("text-classification")`` in a fresh process.

- IMDb sentiment (``neg``, ``pos``): the commands and code of docs/journeys/text-classification.md.
- Three classes of a data module of one's own that names them: real texts of the example data
  (Shakespeare, Wikipedia and movie reviews).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from journeys.helpers import run_fresh, run_page_python, train, train_as_page

PAGE = "text-classification.md"

CLASS_NAMES = ["shakespeare", "wikipedia", "review"]
MAX_SEQ_LEN = 64
TEXTS = [
    "To be, or not to be, that is the question",
    "The Homarus gammarus is a species of clawed lobster",
    "This movie was a waste of two hours",
    "x",  # shorter than any training text: padding
]

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
    "--model.decoder.num_output_query_channels=16",
]


def _write_dataset(data_dir: Path, path: Path, offset: int, n: int) -> None:
    shakespeare = [
        line.strip()
        for line in (data_dir / "tinyshakespeare" / "input.txt").read_text().splitlines()
        if len(line.strip()) > 20
    ]
    wikipedia = [
        line.strip()
        for line in (data_dir / "wikitext-2" / "valid.txt").read_text().splitlines()
        if len(line.strip()) > 20 and not line.strip().startswith("=")
    ]
    with open(data_dir / "imdb-sample" / "test.jsonl") as f:
        reviews = [json.loads(line)["text"] for line in f]
    with open(path, "w") as f:
        for i in range(offset, offset + n):
            for label, texts in enumerate((shakespeare, wikipedia, reviews)):
                f.write(json.dumps({"text": texts[i][:200], "label": label}) + "\n")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("text-classifier")
    _write_dataset(data_dir, root / "train.jsonl", 0, 40)
    _write_dataset(data_dir, root / "valid.jsonl", 40, 4)
    ckpt = train(
        "text.classifier",
        [
            "--data=journeys.data.LabeledTextDataModule",
            f"--data.class_names={json.dumps(CLASS_NAMES)}",
            f"--data.train_files={root / 'train.jsonl'}",
            f"--data.valid_files={root / 'valid.jsonl'}",
            f"--data.max_seq_len={MAX_SEQ_LEN}",
            f"--data.dataset_dir={root / 'cache'}",
            *MODEL_ARGS,
        ],
        root,
    )
    return root, ckpt


def _check_against_lightning(root, ckpt, save_dir, class_names, max_seq_len, texts=TEXTS):
    """The pipeline in a fresh process gives the Lightning model's probabilities on the same raw
    texts under the data module's class names, with the training's tokenizer."""
    from perceiver.data.text import TextPreprocessor
    from perceiver.lightning.text.classifier import LitTextClassifier

    outputs = run_fresh(
        f"""
import json
import perceiver.hf
from transformers import AutoConfig, AutoTokenizer, pipeline

classifier = pipeline("text-classification", model={str(save_dir)!r}, top_k=None)
tokenizer = AutoTokenizer.from_pretrained({str(save_dir)!r})
config = AutoConfig.from_pretrained({str(save_dir)!r})
print(json.dumps({{
    "predictions": classifier({texts!r}),
    "id2label": config.id2label,
    "tokenizer": [type(tokenizer).__name__, tokenizer.model_max_length, tokenizer.padding_side],
    "ids": tokenizer("abc")["input_ids"],
}}))
""",
        root,
    )

    # the labels carry the data module's class names
    assert outputs["id2label"] == {str(i): name for i, name in enumerate(class_names)}
    # the saved tokenizer is the training's: no [CLS]/[SEP], model_max_length = max_seq_len
    assert outputs["tokenizer"] == ["PerceiverBytesTokenizer", max_seq_len, "right"]
    assert outputs["ids"] == [ord(c) + 6 for c in "abc"]

    # the Lightning model on the same raw texts, preprocessed as in training
    lit = LitTextClassifier.load_from_checkpoint(ckpt, map_location="cpu").eval()
    preprocessor = TextPreprocessor("deepmind/language-perceiver", max_seq_len, padding_side="right")
    input_ids, pad_mask = preprocessor.preprocess_batch(texts)
    with torch.no_grad():
        expected = lit.backend_model(input_ids, pad_mask=pad_mask).softmax(dim=-1)
    for text, prediction, probs in zip(texts, outputs["predictions"], expected):
        scores = {p["label"]: p["score"] for p in prediction}
        assert set(scores) == set(class_names), text
        actual = torch.tensor([scores[name] for name in class_names])
        torch.testing.assert_close(actual, probs, atol=1e-5, rtol=1e-4)


def test_three_class_text_classifier_journey(trained):
    from perceiver.hf.text.classifier import convert_checkpoint

    root, ckpt = trained
    save_dir = root / "model"
    convert_checkpoint(save_dir=save_dir, ckpt_url=ckpt)
    _check_against_lightning(root, ckpt, save_dir, CLASS_NAMES, MAX_SEQ_LEN)


def test_imdb_text_classifier_journey_of_the_docs(tmp_path, data_dir):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "imdb").symlink_to(data_dir / "imdb-sample")  # the page's data/imdb
    test_args = [
        f"--data.max_seq_len={MAX_SEQ_LEN}",
        "--data.batch_size=8",
        "--data.num_workers=0",
        f"--data.dataset_dir={tmp_path / 'cache'}",
        *MODEL_ARGS,
        "--model.encoder.num_self_attention_layers_per_block=1",
    ]
    ckpt = train_as_page(PAGE, test_args, tmp_path)
    printed = run_page_python(PAGE, tmp_path)[-1]  # the page converts and classifies
    assert "'label': 'pos'" in printed or "'label': 'neg'" in printed
    _check_against_lightning(tmp_path, ckpt, tmp_path / "imdb-classifier", ["neg", "pos"], MAX_SEQ_LEN)
