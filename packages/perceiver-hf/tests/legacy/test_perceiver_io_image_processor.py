"""krasserm/perceiver-io 0.11's MNIST classifier directory, with the image processor it saved
(``PerceiverImageClassifierInputProcessor``: single channel, channels last, mean/std 0.5), works
with ``pipeline("image-classification")`` and gives the classes of perceiver-io's outputs."""

from pathlib import Path

import torch
from PIL import Image
from safetensors.torch import load_file
from transformers import AutoImageProcessor, pipeline

import perceiver.hf  # noqa: F401
from perceiver.hf.vision import PerceiverImageClassifierInputProcessor

FIXTURE = Path(__file__).parent / "fixtures" / "vision.image_classifier.mnist"


def test_processor_loads_by_its_perceiver_io_name_and_returns_channels_first():
    processor = AutoImageProcessor.from_pretrained(FIXTURE)
    assert type(processor) is PerceiverImageClassifierInputProcessor
    assert processor.single_channel and processor.channels_last
    images = load_file(FIXTURE / "expected.safetensors")["images"]
    pixels = processor(
        [Image.fromarray(image.numpy()).convert("RGB") for image in images], return_tensors="pt"
    )
    expected = (images.float() / 255.0 - 0.5) / 0.5
    torch.testing.assert_close(pixels["pixel_values"], expected[:, None], atol=1e-6, rtol=0)


def test_image_classification_pipeline_gives_perceiver_io_classes():
    expected = load_file(FIXTURE / "expected.safetensors")
    classifier = pipeline("image-classification", model=str(FIXTURE), top_k=10)
    results = classifier([Image.fromarray(image.numpy()) for image in expected["images"]])
    probs = expected["logits"].softmax(dim=-1)
    for result, p in zip(results, probs):
        assert result[0]["label"] == int(p.argmax())  # perceiver-io saved the digits as int labels
        scores = {r["label"]: r["score"] for r in result}
        torch.testing.assert_close(torch.tensor([scores[d] for d in range(10)]), p, atol=1e-4, rtol=1e-4)
