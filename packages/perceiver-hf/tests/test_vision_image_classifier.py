"""Image classifier wrapper: parity with transformers' three official variants, conversion errors,
Auto classes, save/load and the image-classification pipeline."""

import re

import pytest
import torch
from transformers import (
    AutoConfig,
    AutoModelForImageClassification,
    PerceiverConfig,
    PerceiverForImageClassificationConvProcessing,
    PerceiverForImageClassificationFourier,
    PerceiverForImageClassificationLearned,
    PerceiverForOpticalFlow,
    pipeline,
)

from perceiver.hf._convert import convert_state_dict
from perceiver.hf.vision.image_classifier import (
    PerceiverImageClassifier,
    PerceiverImageClassifierConfig,
    _key_table,
    convert_model,
)

TINY = dict(
    num_latents=8,
    d_latents=32,
    num_blocks=2,
    num_self_attends_per_block=2,
    num_cross_attention_heads=1,
    num_self_attention_heads=4,
    num_labels=5,
    attention_probs_dropout_prob=0.0,
)
# kind: (source class, extra config, image size)
VARIANTS = {
    "fourier": (PerceiverForImageClassificationFourier, dict(d_model=261), (24, 20)),
    "learned": (PerceiverForImageClassificationLearned, dict(d_model=512, image_size=16), (16, 16)),
    "conv": (PerceiverForImageClassificationConvProcessing, dict(d_model=322), (40, 36)),
}
LABELS = {i: f"class-{i}" for i in range(5)}


def _source(kind, perturb):
    cls, extra, _ = VARIANTS[kind]
    return perturb(cls(PerceiverConfig(**TINY, **extra, id2label=LABELS)))


@pytest.fixture(scope="module")
def converted(tmp_path_factory, perturb):
    """kind -> (transformers source model, our converted save dir), converted once per module."""
    result = {}
    for kind, (_, _, size) in VARIANTS.items():
        torch.manual_seed(0)
        source = _source(kind, perturb)
        source_dir = tmp_path_factory.mktemp(f"source-{kind}")
        save_dir = tmp_path_factory.mktemp(f"converted-{kind}")
        source.save_pretrained(source_dir)
        convert_model(save_dir, source_dir, image_size=None if kind == "learned" else size)
        result[kind] = (source, save_dir)
    return result


@pytest.mark.parametrize("kind", list(VARIANTS))
def test_converted_model_matches_transformers(converted, kind):
    source, save_dir = converted[kind]
    model = AutoModelForImageClassification.from_pretrained(save_dir).eval()
    assert type(model) is PerceiverImageClassifier
    x = torch.randn(2, 3, *VARIANTS[kind][2])
    with torch.no_grad():
        expected = source(inputs=x).logits
        actual = model(pixel_values=x).logits
    assert actual.shape == (2, 5)
    torch.testing.assert_close(actual, expected, atol=1e-4, rtol=0)


def test_auto_classes_resolve_and_labels_are_carried_over(converted):
    _, save_dir = converted["fourier"]
    config = AutoConfig.from_pretrained(save_dir)
    assert type(config) is PerceiverImageClassifierConfig
    assert config.model_type != "perceiver"
    assert config.id2label == LABELS
    assert config.label2id == {v: k for k, v in LABELS.items()}
    assert config.backend_config.encoder.image_shape == (3, 24, 20)


def test_save_load_round_trip_and_loss(converted, tmp_path):
    _, save_dir = converted["conv"]
    model = PerceiverImageClassifier.from_pretrained(save_dir).eval()
    model.save_pretrained(tmp_path)
    reloaded = PerceiverImageClassifier.from_pretrained(tmp_path).eval()
    x, labels = torch.randn(3, 3, 40, 36), torch.tensor([0, 4, 2])
    with torch.no_grad():
        out, out2 = model(x, labels=labels), reloaded(x, labels=labels)
    torch.testing.assert_close(out2.logits, out.logits, atol=0, rtol=0)
    torch.testing.assert_close(out.loss, torch.nn.functional.cross_entropy(out.logits, labels))


def test_image_classification_pipeline_on_a_photo(converted, data_dir):
    from PIL import Image

    photo = data_dir / "images" / "photos" / "chelsea.png"
    if not photo.is_file():
        pytest.skip(f"{photo} not found")
    _, save_dir = converted["fourier"]
    classifier = pipeline("image-classification", model=str(save_dir))
    assert type(classifier.model) is PerceiverImageClassifier
    processor = classifier.image_processor
    assert (processor.size["height"], processor.size["width"]) == (24, 20)
    assert processor.crop_size == {"height": 256, "width": 256}
    assert list(processor.image_mean) == pytest.approx([0.485, 0.456, 0.406])
    predictions = classifier(Image.open(photo), top_k=3)
    assert len(predictions) == 3
    assert {p["label"] for p in predictions} <= set(LABELS.values())
    assert sum(p["score"] for p in predictions) <= 1.0 + 1e-6
    assert classifier(str(photo), top_k=1)[0]["label"] == predictions[0]["label"]


def test_source_of_the_wrong_class_raises(converted, tmp_path):
    source, _ = converted["fourier"]
    source_dir = tmp_path / "source"
    source.save_pretrained(source_dir)
    with pytest.raises(
        ValueError, match=r"PerceiverForImageClassificationFourier.*PerceiverForImageClassificationLearned"
    ):
        convert_model(tmp_path / "out", source_dir, kind="learned")
    flow = PerceiverForOpticalFlow(PerceiverConfig(**{**TINY, "train_size": [4, 4]}))
    flow.save_pretrained(tmp_path / "flow")
    with pytest.raises(ValueError, match="PerceiverForOpticalFlow"):
        convert_model(tmp_path / "out", tmp_path / "flow")


def test_state_dict_with_a_missing_key_raises(converted):
    source, _ = converted["learned"]
    model = PerceiverImageClassifier(
        PerceiverImageClassifierConfig(AutoConfig.from_pretrained(converted["learned"][1]).backend_config)
    )
    state = dict(source.state_dict())
    missing = "perceiver.input_preprocessor.positions_projection.weight"
    del state[missing]
    with pytest.raises(ValueError, match=re.escape("encoder.input_adapter.position_projection.weight")):
        convert_state_dict(
            state, _key_table(source.config, "learned"), model.backend_model.state_dict().keys()
        )


@pytest.mark.parametrize("kind", ["fourier", "conv"])
@pytest.mark.parametrize("size", [(32, 32), (20, 20), (28, 36)])
def test_fourier_and_conv_variants_take_every_input_size_as_transformers_does(converted, kind, size):
    # transformers computes the Fourier positions of these variants from the input's size
    source, save_dir = converted[kind]
    model = AutoModelForImageClassification.from_pretrained(save_dir).eval()
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        expected = source(inputs=x).logits
        actual = model(pixel_values=x).logits
    torch.testing.assert_close(actual, expected, atol=1e-4, rtol=0)


def test_learned_variant_takes_its_image_size_only(converted):
    _, save_dir = converted["learned"]
    model = AutoModelForImageClassification.from_pretrained(save_dir).eval()
    with pytest.raises(
        ValueError, match=re.escape("x must have shape (batch, 3, 16, 16), got (1, 3, 20, 20)")
    ):
        model(pixel_values=torch.randn(1, 3, 20, 20))


@pytest.mark.parametrize("kind", ["fourier", "conv"])
def test_other_channel_counts_and_too_small_images_are_refused(converted, kind):
    _, save_dir = converted[kind]
    model = AutoModelForImageClassification.from_pretrained(save_dir).eval()
    with pytest.raises(
        ValueError, match=re.escape("x must have shape (batch, 3, height, width), got (1, 1, 32, 32)")
    ):
        model(pixel_values=torch.randn(1, 1, 32, 32))
    if kind == "conv":
        with pytest.raises(ValueError, match="too small for the conv stem"):
            model(pixel_values=torch.randn(1, 3, 2, 2))
