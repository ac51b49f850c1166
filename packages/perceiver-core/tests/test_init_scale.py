"""Initialization scale: ``init_std`` and why the image classifier scales it to each layer.

With one fixed std s for every linear layer, a query/key logit of the encoder's cross-attention
has a std of about s^2 * c_in: 0.05 for s=0.02 and the 131 channels of an MNIST image with 32
Fourier bands. Attention is then uniform over the pixels, every image gives (almost) the same
latents, and training stalls at chance for hundreds of steps. ``init_scale=None`` (the image
encoder's default) initializes linear weights with std 1/sqrt(fan_in), as DeepMind's Perceiver.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from perceiver.model.core import ClassificationDecoderConfig, EncoderConfig, init_parameters, init_std
from perceiver.model.core.layers import EMBEDDING_INIT_SCALE
from perceiver.model.vision.image_classifier import ImageClassifier, ImageClassifierConfig, ImageEncoderConfig


def test_init_std_scales_to_fan_in_or_uses_the_given_number():
    linear, conv, embedding = nn.Linear(64, 8), nn.Conv2d(4, 8, kernel_size=3), nn.Embedding(10, 16)
    assert init_std(linear, None) == pytest.approx(1 / 8)
    assert init_std(conv, None) == pytest.approx(1 / 6)  # fan-in 4 * 3 * 3
    assert init_std(embedding, None) == EMBEDDING_INIT_SCALE
    assert init_std(linear, 0.1) == init_std(embedding, 0.1) == 0.1


def test_init_parameters_with_none_scales_each_linear_layer():
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(1024, 512), nn.Linear(16, 512))
    init_parameters(module, None)
    torch.testing.assert_close(module[0].weight.std().item(), 1 / 32, rtol=0.02, atol=0.0)
    torch.testing.assert_close(module[1].weight.std().item(), 1 / 4, rtol=0.02, atol=0.0)
    init_parameters(module, 0.02)
    torch.testing.assert_close(module[1].weight.std().item(), 0.02, rtol=0.02, atol=0.0)


def test_image_encoder_defaults_to_fan_in_and_other_encoders_keep_a_number():
    assert ImageEncoderConfig().init_scale is None
    assert ImageEncoderConfig(init_scale=0.1).init_scale == 0.1  # a number is used as before
    assert ImageEncoderConfig.from_json(ImageEncoderConfig().to_json()).init_scale is None
    with pytest.raises(ValueError, match="init_scale"):
        EncoderConfig(init_scale=None)
    with pytest.raises(ValueError, match="init_scale must be non-negative"):
        ImageEncoderConfig(init_scale=-1.0)


def _classifier(init_scale: float | None, size: int = 12, num_classes: int = 4) -> ImageClassifier:
    encoder = ImageEncoderConfig(
        image_shape=(1, size, size),
        num_frequency_bands=8,
        num_cross_attention_heads=1,
        num_self_attention_heads=4,
        num_self_attention_layers_per_block=2,
        init_scale=init_scale,
    )
    decoder = ClassificationDecoderConfig(num_classes=num_classes, num_output_query_channels=64)
    config = ImageClassifierConfig(encoder=encoder, decoder=decoder, num_latents=16, num_latent_channels=64)
    return ImageClassifier(config)


def _quadrant_images(n: int, size: int = 12, generator: torch.Generator | None = None):
    """Dark images with one bright 3x3 square in quadrant ``label``: every class has the same
    pixel statistics, only where the square is tells them apart."""
    labels = torch.randint(0, 4, (n,), generator=generator)
    images = torch.zeros(n, 1, size, size)
    half = size // 2
    for i, label in enumerate(labels.tolist()):
        top = (label // 2) * half + int(torch.randint(0, half - 2, (1,), generator=generator))
        left = (label % 2) * half + int(torch.randint(0, half - 2, (1,), generator=generator))
        images[i, 0, top : top + 3, left : left + 3] = 1.0
    return (images - images.mean()) / images.std(), labels


def _attention_entropy(model: ImageClassifier, images: torch.Tensor) -> float:
    """Entropy of the first cross-attention's weights over the pixels, relative to uniform's."""
    encoder = model.encoder
    layer = encoder.cross_attn_1.cross_attn
    with torch.no_grad():
        q = layer.attention.q_proj(layer.q_norm(encoder.latent_provider()))  # (1, n, d)
        k = layer.attention.k_proj(layer.kv_norm(encoder.input_adapter(images)))  # (b, m, d)
        weights = (q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])).softmax(dim=-1)  # (b, n, m)
    entropy = -(weights * weights.log()).sum(dim=-1).mean()
    return (entropy / math.log(k.shape[1])).item()


def test_cross_attention_is_not_uniform_at_initialization():
    images, _ = _quadrant_images(32, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    fan_in = _attention_entropy(_classifier(None), images)
    torch.manual_seed(0)
    fixed = _attention_entropy(_classifier(0.02), images)
    # a fixed 0.02: uniform attention, the latents see the image's mean only
    assert fixed > 0.999
    assert fan_in < 0.98


def _validation_loss_after_training(init_scale: float | None, steps: int = 60) -> tuple[float, float]:
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    model = _classifier(init_scale)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x_valid, y_valid = _quadrant_images(128, generator=generator)
    with torch.no_grad():
        start = F.cross_entropy(model.eval()(x_valid), y_valid).item()
    model.train()
    for _ in range(steps):
        x, y = _quadrant_images(32, generator=generator)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return start, F.cross_entropy(model.eval()(x_valid), y_valid).item()


def test_default_image_classifier_learns_where_a_fixed_small_init_stalls():
    start, end = _validation_loss_after_training(None)
    assert start == pytest.approx(math.log(4), abs=0.1)
    assert end < 0.6 * start  # fan-in (the default): it learns where the square is
    start, end = _validation_loss_after_training(0.02)
    assert end > 0.95 * start  # a fixed 0.02 (the former default): still at chance after 60 steps
