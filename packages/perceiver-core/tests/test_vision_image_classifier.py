"""Image classifier: shapes, training, state dict round trip, official sizes, validation."""

import dataclasses

import pytest
import torch
from torch.testing import assert_close

from perceiver.model.core import ClassificationDecoderConfig
from perceiver.model.vision import ImageClassifier, ImageClassifierConfig, ImageEncoderConfig
from perceiver.model.vision._image_adapters import conv_stem_output_shape

# parameter counts of transformers' PerceiverForImageClassification{Fourier,Learned,ConvProcessing}
# built from the official configs (transformers 5.23, meta device)
OFFICIAL_PARAMETERS = {"fourier": 48_440_627, "learned": 62_255_848, "conv": 48_646_522}

KINDS = ["fourier", "learned", "conv"]
IMAGE_SHAPE = (3, 16, 12)


def tiny_config(kind: str, num_classes: int = 5) -> ImageClassifierConfig:
    return ImageClassifierConfig(
        encoder=ImageEncoderConfig(
            image_shape=IMAGE_SHAPE,
            position_encoding=kind,
            num_frequency_bands=4,
            num_conv_channels=8,
            num_position_channels=8,
            num_cross_attention_heads=1,
            num_self_attention_heads=2,
            num_self_attention_layers_per_block=1,
            num_self_attention_blocks=2,
        ),
        decoder=ClassificationDecoderConfig(
            num_cross_attention_heads=1, num_output_query_channels=16, num_classes=num_classes
        ),
        num_latents=4,
        num_latent_channels=16,
    )


@pytest.mark.parametrize("kind", KINDS)
def test_forward_shape(kind):
    model = ImageClassifier(tiny_config(kind)).eval()
    logits = model(torch.randn(3, *IMAGE_SHAPE))
    assert logits.shape == (3, 5)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("kind", KINDS)
def test_loss_falls_on_overfit_batch(kind):
    model = ImageClassifier(tiny_config(kind)).train()
    # per-image colors: information that survives the near-uniform attention of a fresh model
    x = 2 * torch.randn(4, IMAGE_SHAPE[0], 1, 1) + 0.1 * torch.randn(4, *IMAGE_SHAPE)
    y = torch.tensor([0, 1, 2, 3])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]


@pytest.mark.parametrize("kind", KINDS)
def test_state_dict_round_trip(kind, tmp_path):
    config = tiny_config(kind)
    model = ImageClassifier(config).eval()
    torch.save(model.state_dict(), tmp_path / "model.pt")
    torch.manual_seed(1)
    restored = ImageClassifier(ImageClassifierConfig.from_json(config.to_json())).eval()
    restored.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    x = torch.randn(2, *IMAGE_SHAPE)
    assert_close(restored(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_official_parameter_count(kind):
    config = getattr(ImageClassifierConfig, f"vision_perceiver_{kind}")()
    with torch.device("meta"):
        model = ImageClassifier(config)
    assert sum(p.numel() for p in model.parameters()) == OFFICIAL_PARAMETERS[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_config_json_round_trip(kind):
    config = getattr(ImageClassifierConfig, f"vision_perceiver_{kind}")()
    restored = ImageClassifierConfig.from_json(config.to_json())
    assert restored == config
    assert isinstance(restored.encoder, ImageEncoderConfig)
    assert isinstance(restored.encoder.image_shape, tuple)


@pytest.mark.parametrize(
    "shape",
    [(2, 3, 16, 16), (2, 16, 12, 3), (3, 16, 12), (2, 1, 16, 12)],
    ids=["wrong-size", "channels-last", "no-batch", "wrong-channels"],
)
def test_bad_image_shape_raises(shape):
    # the learned position encoding has one embedding per pixel of image_shape
    model = ImageClassifier(tiny_config("learned"))
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 3, 16, 12\)"):
        model(torch.randn(*shape))


@pytest.mark.parametrize("kind", ["fourier", "conv"])
@pytest.mark.parametrize(
    "shape",
    [(2, 16, 12, 3), (3, 16, 12), (2, 1, 16, 12)],
    ids=["channels-last", "no-batch", "wrong-channels"],
)
def test_bad_image_channels_raise(kind, shape):
    model = ImageClassifier(tiny_config(kind))
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 3, height, width\)"):
        model(torch.randn(*shape))


@pytest.mark.parametrize("kind", ["fourier", "conv"])
def test_fourier_and_conv_variants_take_other_sizes(kind):
    # the Fourier features of another grid: those the model would precompute for it
    model = ImageClassifier(tiny_config(kind)).eval()
    x = torch.randn(2, 3, 20, 24)
    config = tiny_config(kind)
    # the same frequencies: those of the configured image_shape (the default max_resolution)
    max_resolution = IMAGE_SHAPE[1:] if kind == "fourier" else conv_stem_output_shape(*IMAGE_SHAPE[1:])
    other = dataclasses.replace(config.encoder, image_shape=(3, 20, 24), max_resolution=max_resolution)
    resized = ImageClassifier(dataclasses.replace(config, encoder=other)).eval()
    resized.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(model(x), resized(x), atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(position_encoding="sinusoid"), "position_encoding must be one of"),
        (dict(image_shape=(3, 16)), r"image_shape must be 3 values \(int, int, int\), got \(3, 16\)"),
        (dict(image_shape=(3, 0, 16)), "image_shape must be three positive sizes"),
        (dict(num_frequency_bands=0), "num_frequency_bands must be positive, got 0"),
        (dict(max_resolution=(224,)), r"max_resolution must be 2 values \(int, int\) or None, got \(224,\)"),
        (dict(position_encoding="conv", image_shape=(3, 4, 4)), "too small for the conv stem"),
        (dict(num_cross_attention_heads=0), "num_cross_attention_heads must be positive, got 0"),
        (
            dict(image_shape=(28, 28, 1)),
            r"image_shape \(28, 28, 1\) looks channels-last .* image_shape=\(1, 28, 28\)",
        ),
        (
            dict(image_shape=(224, 224, 3)),
            r"image_shape \(224, 224, 3\) looks channels-last .* image_shape=\(3, 224, 224\)",
        ),
    ],
)
def test_invalid_encoder_config_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ImageEncoderConfig(**kwargs)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 224, 224), (4, 8, 3), (3, 16, 1), (16, 4, 4), (8, 3, 1)])
def test_channels_first_image_shapes_are_accepted(shape):
    """Only a shape that cannot sensibly be (channels, height, width) is refused as channels-last:
    it ends in 1, 3 or 4 channels and has more than 4 rows and columns before them."""
    assert ImageEncoderConfig(image_shape=shape).image_shape == shape


def test_learned_positions_are_trained():
    model = ImageClassifier(tiny_config("learned"))
    model(torch.randn(2, *IMAGE_SHAPE)).sum().backward()
    grad = model.encoder.input_adapter.position_encoding.position_embedding.grad
    assert grad is not None and grad.abs().sum() > 0
