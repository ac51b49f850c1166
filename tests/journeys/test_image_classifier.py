"""Journey: train a 10-class MNIST classifier (1 channel) with the LightningCLI script, convert the
checkpoint, and classify raw MNIST images with ``pipeline("image-classification")`` in a fresh
process: the commands and code of docs/journeys/image-classification.md, with a tiny model."""

from __future__ import annotations

import pytest
import torch
from journeys.helpers import run_fresh, run_page_python, train_as_page

PAGE = "image-classification.md"

MODEL_ARGS = [
    "--model.num_latents=8",
    "--model.num_latent_channels=16",
    "--model.encoder.num_frequency_bands=4",
    "--model.encoder.num_self_attention_layers_per_block=1",
    "--model.encoder.num_self_attention_blocks=1",
    "--model.encoder.num_self_attention_heads=2",
    "--model.encoder.num_cross_attention_heads=1",
    "--model.decoder.num_output_query_channels=16",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("image-classifier")
    (root / "data").mkdir()
    (root / "data" / "mnist").symlink_to(data_dir / "images" / "mnist")  # the page's data/mnist
    test_args = ["--data.valid_size=100", "--data.batch_size=16", "--data.num_workers=0", *MODEL_ARGS]
    ckpt = train_as_page(PAGE, test_args, root)
    return root, ckpt


def test_image_classifier_journey(trained, data_dir):
    from perceiver.data.vision.mnist import ArrayImageDataset, read_idx
    from perceiver.lightning.vision.image_classifier import LitImageClassifier

    root, ckpt = trained
    predictions = run_page_python(PAGE, root)[-1].splitlines()  # the page converts and classifies
    assert len(predictions) == 4 and all(line.startswith("[{'label': '") for line in predictions)
    save_dir = root / "mnist-classifier"

    images = read_idx(data_dir / "images" / "mnist" / "t10k-images-idx3-ubyte.gz")[:6]  # raw uint8
    labels = read_idx(data_dir / "images" / "mnist" / "t10k-labels-idx1-ubyte.gz")[:6]
    outputs = run_fresh(
        f"""
import json
import gzip
import numpy as np
from PIL import Image
import perceiver.hf
from transformers import AutoConfig, AutoImageProcessor, pipeline

with gzip.open({str(data_dir / "images" / "mnist" / "t10k-images-idx3-ubyte.gz")!r}) as f:
    images = np.frombuffer(f.read()[16:], dtype=np.uint8).reshape(-1, 28, 28)[:6]
classifier = pipeline("image-classification", model={str(save_dir)!r}, top_k=10)
processor = AutoImageProcessor.from_pretrained({str(save_dir)!r})
print(json.dumps({{
    "predictions": classifier([Image.fromarray(image) for image in images]),
    "id2label": AutoConfig.from_pretrained({str(save_dir)!r}).id2label,
    "processor": processor.to_dict(),
}}))
""",
        root,
    )

    assert outputs["id2label"] == {str(i): str(i) for i in range(10)}
    processor = outputs["processor"]
    assert processor["num_channels"] == 1 and processor["image_size"] == [28, 28]
    assert processor["image_mean"] == pytest.approx([0.1307]) and processor["image_std"] == pytest.approx(
        [0.3081]
    )

    # the Lightning model on the same raw images, preprocessed as in training (channels last)
    lit = LitImageClassifier.load_from_checkpoint(ckpt, map_location="cpu").eval()
    dataset = ArrayImageDataset(images, labels)
    x = torch.stack([dataset[i]["image"] for i in range(len(images))]).permute(0, 3, 1, 2)  # (b, 1, 28, 28)
    with torch.no_grad():
        expected = lit.backend_model(x).softmax(dim=-1)
    for prediction, probs in zip(outputs["predictions"], expected):
        scores = {p["label"]: p["score"] for p in prediction}
        actual = torch.tensor([scores[str(digit)] for digit in range(10)])
        torch.testing.assert_close(actual, probs, atol=1e-5, rtol=1e-4)
