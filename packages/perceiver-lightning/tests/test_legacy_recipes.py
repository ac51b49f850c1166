"""krasserm/perceiver-io 0.11's Python training recipes (its examples/training/*/train*.py).

Each test writes the recipe's lines as 0.11 users wrote them, against the fixtures that
perceiver-io 0.11 itself wrote (tests/data/legacy, see test_legacy_checkpoints.py): what they
set is honoured, with 0.11's outputs, or refused with an error that says what to write instead.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from perceiver.data.vision import MNISTDataModule
from perceiver.lightning.text.classifier import LitTextClassifier
from perceiver.lightning.text.mlm import LitMaskedLanguageModel
from perceiver.lightning.vision.image_classifier import (
    ClassificationDecoderConfig,
    ImageClassifierConfig,
    ImageEncoderConfig,
    LitImageClassifier,
)
from perceiver.model.core.checkpoint import legacy_backend, load_checkpoint

DATA = Path(__file__).parent / "data" / "legacy"
MLM_CKPT = str(DATA / "text.mlm.ckpt")
CLF_CKPT = str(DATA / "text.classifier.ckpt")


def _legacy_config(task: str):
    return legacy_backend(load_checkpoint(DATA / f"{task}.ckpt"), task)


def _classifier_recipe_config():
    """txt_clf/train_dec.py: the masked LM's config with its decoder replaced by a classifier's."""
    config, _ = _legacy_config("text.mlm")
    config.encoder.params = MLM_CKPT
    config.encoder.freeze = True
    config.encoder.dropout = 0.0
    config.decoder = ClassificationDecoderConfig(
        num_output_query_channels=config.encoder.num_input_channels,
        num_cross_attention_heads=1,
        num_classes=2,
        dropout=0.1,
    )
    return config


def test_encoder_params_set_on_a_masked_lm_config_with_a_classification_decoder():
    """config.encoder.params = <mlm.ckpt> loads the masked LM's encoder: its outputs are the masked LM's."""
    model = LitTextClassifier.create(_classifier_recipe_config())
    assert model.hparams.encoder_params == MLM_CKPT and model.hparams.encoder["freeze"] is True
    assert not any(p.requires_grad for p in model.backend_model.encoder.parameters())
    assert all(p.requires_grad for p in model.backend_model.decoder.parameters())

    mlm = LitMaskedLanguageModel.load_from_checkpoint(MLM_CKPT).backend_model.eval()
    reference = torch.load(DATA / "text.mlm.reference.pt", weights_only=True)
    x, pad_mask = reference["input"], reference.get("pad_mask")
    encoder = model.backend_model.eval().encoder
    with torch.no_grad():
        torch.testing.assert_close(encoder(x, pad_mask), mlm.encoder(x, pad_mask), rtol=0, atol=0)
        # and the masked LM's encoder is perceiver-io 0.11's: its logits through our MLM decoder
        torch.testing.assert_close(mlm(x, pad_mask=pad_mask), reference["output"], rtol=1e-5, atol=1e-5)

    # without the attribute, the encoder starts from random weights: the test above can fail
    config = _classifier_recipe_config()
    del config.encoder.params
    torch.manual_seed(0)
    fresh = LitTextClassifier.create(config).backend_model.eval().encoder
    with torch.no_grad():
        assert not torch.allclose(fresh(x, pad_mask), mlm.encoder(x, pad_mask), atol=1e-3)


def test_params_set_on_the_config_load_the_whole_classifier():
    """txt_clf/train_all.py: config.params = <classifier.ckpt> (perceiver-io 0.11 ignored it)."""
    config, _ = _legacy_config("text.classifier")
    config.params = CLF_CKPT
    torch.manual_seed(0)
    model = LitTextClassifier.create(config).backend_model.eval()
    reference = torch.load(DATA / "text.classifier.reference.pt", weights_only=True)
    with torch.no_grad():
        output = model(reference["input"], pad_mask=reference.get("pad_mask"))
    torch.testing.assert_close(output, reference["output"], rtol=1e-5, atol=1e-5)


def test_weights_named_twice_must_agree():
    config, _ = _legacy_config("text.classifier")
    config.params = CLF_CKPT
    LitTextClassifier.create(config, params=CLF_CKPT)  # the same weights: fine
    with pytest.raises(
        ValueError, match=r"params='other\.ckpt' and the config's attribute .* different weights"
    ):
        LitTextClassifier.create(config, params="other.ckpt")
    recipe = _classifier_recipe_config()
    with pytest.raises(ValueError, match=r"encoder_params='other\.ckpt' .* different weights"):
        LitTextClassifier.create(recipe, encoder_params="other.ckpt")


def test_an_attribute_that_is_no_config_field_is_refused():
    config = _classifier_recipe_config()
    config.encoder.param = MLM_CKPT  # a typo of params: never silently ignored
    with pytest.raises(ValueError, match=r"config\.encoder\.param is no config field and would be ignored"):
        LitTextClassifier.create(config)
    config, _ = _legacy_config("text.clm")
    config.encoder_params = MLM_CKPT
    from perceiver.lightning.text.clm import LitCausalLanguageModel

    with pytest.raises(ValueError, match=r"config\.encoder_params is no config field"):
        LitCausalLanguageModel.create(config)


def test_masked_lm_config_with_its_own_decoder_says_what_to_build():
    config, _ = _legacy_config("text.mlm")
    with pytest.raises(
        TypeError,
        match=r"MaskedLanguageModelConfig with a TextDecoderConfig decoder.*ClassificationDecoderConfig",
    ):
        LitTextClassifier.create(config)


def _mnist_encoder(image_shape) -> ImageEncoderConfig:
    """img_clf/train.py's encoder."""
    return ImageEncoderConfig(
        image_shape=image_shape,
        num_frequency_bands=32,
        num_cross_attention_layers=2,
        num_cross_attention_heads=1,
        num_self_attention_blocks=3,
        num_self_attention_layers_per_block=3,
        first_cross_attention_layer_shared=False,
        first_self_attention_block_shared=False,
        dropout=0.1,
        init_scale=0.1,
    )


def test_mnist_recipe_image_shape_layout():
    """img_clf/train.py passed MNISTDataModule's channels-last image_shape to the encoder config,
    whose layout is now (channels, height, width): refused, naming the shape to use."""
    data = MNISTDataModule(batch_size=128)
    assert data.image_shape == (28, 28, 1)
    with pytest.raises(
        ValueError, match=r"image_shape \(28, 28, 1\) looks channels-last.*image_shape=\(1, 28, 28\)"
    ):
        _mnist_encoder(data.image_shape)

    channels_first = MNISTDataModule(batch_size=128, channels_last=False).image_shape
    config = ImageClassifierConfig(
        encoder=_mnist_encoder(channels_first),
        decoder=ClassificationDecoderConfig(
            num_output_query_channels=128, num_cross_attention_heads=1, num_classes=data.num_classes
        ),
        num_latents=32,
        num_latent_channels=128,
    )
    model = LitImageClassifier.create(config)
    model.check_data(data)  # channels-last batches are permuted for the model
    model.check_data(MNISTDataModule(channels_last=False))

    other = SimpleNamespace(image_shape=(32, 32, 3), num_classes=10)
    with pytest.raises(ValueError) as error:
        model.check_data(other)
    assert str(error.value) == (
        "the data's image_shape (32, 32, 3) (channels-first (3, 32, 32)) does not fit the model's "
        "encoder.image_shape (1, 28, 28) (channels, height, width)"
    )
