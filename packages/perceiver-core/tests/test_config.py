"""Config dataclasses validate at construction and round-trip through JSON."""

import pytest

from perceiver.model.core import (
    ClassificationDecoderConfig,
    EncoderConfig,
    PerceiverARConfig,
    PerceiverIOConfig,
)


def test_perceiver_io_config_round_trips_through_json_with_nested_types():
    config = PerceiverIOConfig(
        encoder=EncoderConfig(num_self_attention_layers_per_block=3, dropout=0.1),
        decoder=ClassificationDecoderConfig(num_classes=7),
        num_latents=32,
        num_latent_channels=64,
    )

    class ClassifierConfig(PerceiverIOConfig[EncoderConfig, ClassificationDecoderConfig]):
        pass

    restored = ClassifierConfig.from_json(config.to_json())
    assert isinstance(restored.decoder, ClassificationDecoderConfig)
    assert restored.to_dict() == config.to_dict()
    assert PerceiverARConfig.from_dict(PerceiverARConfig(num_heads=4).to_dict()) == PerceiverARConfig(
        num_heads=4
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: EncoderConfig(num_cross_attention_heads=0),
            "num_cross_attention_heads must be positive, got 0",
        ),
        (
            lambda: EncoderConfig(num_self_attention_heads=3, num_self_attention_qk_channels=64),
            r"num_self_attention_heads \(3\) must divide num_self_attention_qk_channels \(64\)",
        ),
        (lambda: EncoderConfig(dropout=-0.1), r"dropout must be in \[0, 1\), got -0.1"),
        (lambda: ClassificationDecoderConfig(num_classes=-2), "num_classes must be positive, got -2"),
        (
            lambda: PerceiverARConfig(num_self_attention_layers=0),
            "num_self_attention_layers must be positive",
        ),
        (
            lambda: PerceiverIOConfig(
                EncoderConfig(num_self_attention_heads=6), ClassificationDecoderConfig(), 8, 512
            ),
            r"encoder\.num_self_attention_heads \(6\) must divide the self-attention qk channels, which "
            r"encoder\.num_self_attention_qk_channels=None sets to the latent channels: "
            r"num_latent_channels \(512\) = 512",
        ),
        (
            lambda: PerceiverIOConfig(EncoderConfig(), ClassificationDecoderConfig(), 0, 64),
            "num_latents must be positive, got 0",
        ),
    ],
)
def test_invalid_values_raise_naming_field_and_value(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_unknown_fields_are_rejected():
    with pytest.raises(ValueError, match=r"unknown fields for EncoderConfig: \['num_layers'\]"):
        EncoderConfig.from_dict({"num_layers": 3})


def test_tuple_fields_survive_json_and_lists_stay_lists():
    from dataclasses import dataclass

    from perceiver.model.core import ConfigBase

    @dataclass
    class Shapes(ConfigBase):
        image_shape: tuple[int, int, int] = (3, 8, 8)
        max_resolution: tuple[int, int] | None = None
        sizes: list[tuple[int, int]] | None = None

    config = Shapes(max_resolution=(4, 4), sizes=[(1, 2)])
    restored = Shapes.from_json(config.to_json())
    assert restored.image_shape == (3, 8, 8) and restored.max_resolution == (4, 4)
    assert isinstance(restored.sizes, list)
