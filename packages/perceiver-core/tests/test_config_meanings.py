"""One meaning per config field: what ``*_qk_channels=None`` resolves to, that ``freeze`` is
honoured by every model, and that errors on derived sizes name the fields the user set."""

import pytest
import torch

from perceiver.model.core import ClassificationDecoderConfig, PerceiverIOConfig
from perceiver.model.core.config import cross_attention_qk_channels
from perceiver.model.multimodal.autoencoder import MultimodalAutoencoderConfig
from perceiver.model.text.classifier import TextClassifier, TextClassifierConfig
from perceiver.model.text.mlm import (
    MaskedLanguageModel,
    MaskedLanguageModelConfig,
    TextDecoderConfig,
    TextEncoderConfig,
)
from perceiver.model.vision.image_classifier import ImageClassifier, ImageClassifierConfig, ImageEncoderConfig
from perceiver.model.vision.optical_flow import (
    OpticalFlow,
    OpticalFlowConfig,
    OpticalFlowDecoderConfig,
    OpticalFlowEncoderConfig,
)


def text_encoder(**kwargs) -> TextEncoderConfig:
    defaults = dict(
        vocab_size=30,
        max_seq_len=8,
        num_input_channels=12,
        num_cross_attention_heads=2,
        num_self_attention_heads=2,
        num_self_attention_layers_per_block=1,
    )
    return TextEncoderConfig(**(defaults | kwargs))


def mlm(encoder=None, decoder=None, num_latent_channels=16) -> MaskedLanguageModelConfig:
    return MaskedLanguageModelConfig(
        encoder=encoder or text_encoder(),
        decoder=decoder or TextDecoderConfig(vocab_size=30, max_seq_len=8, num_cross_attention_heads=2),
        num_latents=4,
        num_latent_channels=num_latent_channels,
    )


def classifier(encoder=None, decoder=None) -> TextClassifierConfig:
    return TextClassifierConfig(
        encoder=encoder or text_encoder(),
        decoder=decoder
        or ClassificationDecoderConfig(
            num_classes=3, num_output_query_channels=8, num_cross_attention_heads=2
        ),
        num_latents=4,
        num_latent_channels=16,
    )


def image(encoder_kwargs=None, decoder_kwargs=None) -> ImageClassifierConfig:
    enc = dict(
        image_shape=(1, 12, 12),
        num_frequency_bands=4,
        num_cross_attention_heads=1,
        num_self_attention_heads=2,
        num_self_attention_layers_per_block=1,
    )
    dec = dict(num_classes=3, num_output_query_channels=8, num_cross_attention_heads=1)
    return ImageClassifierConfig(
        encoder=ImageEncoderConfig(**(enc | (encoder_kwargs or {}))),
        decoder=ClassificationDecoderConfig(**(dec | (decoder_kwargs or {}))),
        num_latents=4,
        num_latent_channels=16,
    )


def flow(encoder_kwargs=None, decoder_kwargs=None) -> OpticalFlowConfig:
    enc = dict(
        image_shape=(8, 8),
        num_patch_hidden_channels=8,
        num_frequency_bands=2,
        num_cross_attention_heads=1,
        num_self_attention_heads=2,
        num_self_attention_layers_per_block=1,
    )
    return OpticalFlowConfig(
        encoder=OpticalFlowEncoderConfig(**(enc | (encoder_kwargs or {}))),
        decoder=OpticalFlowDecoderConfig(**({"num_cross_attention_heads": 1} | (decoder_kwargs or {}))),
        num_latents=4,
        num_latent_channels=16,
    )


def qk_channels(layer) -> int:
    return layer.cross_attn.attention.q_proj.out_features  # (c_q) -> (qk channels)


def test_the_qk_default_is_a_documented_class_constant_not_a_field():
    assert PerceiverIOConfig.cross_attention_qk_channels_default == "queries"
    assert MaskedLanguageModelConfig.cross_attention_qk_channels_default == "queries"
    assert TextClassifierConfig.cross_attention_qk_channels_default == "queries"
    for cls in (ImageClassifierConfig, OpticalFlowConfig, MultimodalAutoencoderConfig):
        assert cls.cross_attention_qk_channels_default == "keys"
    assert "cross_attention_qk_channels_default" not in mlm().to_dict()
    assert cross_attention_qk_channels(None, "queries", 3, 5) == 3
    assert cross_attention_qk_channels(None, "keys", 3, 5) == 5
    assert cross_attention_qk_channels(4, "keys", 3, 5) == 4
    with pytest.raises(ValueError, match="one of \\('queries', 'keys'\\), got 'kv'"):
        cross_attention_qk_channels(None, "kv", 3, 5)


@pytest.mark.parametrize(
    ("make", "build", "encoder_qk", "decoder_qk"),
    [
        # "queries": the latents' channels in the encoder, the output queries' in the decoder
        (mlm, MaskedLanguageModel, 16, 12),
        (classifier, TextClassifier, 16, 8),
        # "keys": the adapted input's channels in the encoder, the latents' in the decoder
        (image, ImageClassifier, 1 + 2 * (2 * 4 + 1), 16),
        (flow, OpticalFlow, 8 + 2 * (2 * 2 + 1), 16),
    ],
)
def test_qk_channels_none_resolves_by_the_models_rule(make, build, encoder_qk, decoder_qk):
    config = make()
    model = build(config)
    assert qk_channels(model.encoder.cross_attn_1) == encoder_qk
    assert qk_channels(model.decoder.cross_attn) == decoder_qk
    derived = config.encoder_input_channels()
    assert derived.value == model.encoder.input_adapter.num_input_channels
    queries = config.decoder_query_channels()
    assert queries.value == model.decoder.output_query_provider.num_query_channels


@pytest.mark.parametrize("position_encoding", ["learned", "conv"])
def test_derived_input_channels_equal_the_built_adapters(position_encoding):
    config = image(
        {"position_encoding": position_encoding, "image_shape": (3, 16, 16), "num_conv_channels": 6}
    )
    model = ImageClassifier(config)
    assert config.encoder_input_channels().value == model.encoder.input_adapter.num_input_channels


@pytest.mark.parametrize(
    ("make", "build"), [(mlm, MaskedLanguageModel), (classifier, TextClassifier), (image, ImageClassifier)]
)
@pytest.mark.parametrize(("encoder_frozen", "decoder_frozen"), [(True, False), (False, True)])
def test_freeze_is_honoured_by_every_model(make, build, encoder_frozen, decoder_frozen):
    config = make()
    config.encoder.freeze, config.decoder.freeze = encoder_frozen, decoder_frozen
    model = build(config)
    encoder_trainable = {n for n, p in model.encoder.named_parameters() if p.requires_grad}
    decoder_trainable = {n for n, p in model.decoder.named_parameters() if p.requires_grad}
    assert (not encoder_trainable) == encoder_frozen
    assert (not decoder_trainable) == decoder_frozen


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: image({"num_frequency_bands": 8, "num_cross_attention_heads": 8}),
            r"encoder\.num_cross_attention_heads \(8\) must divide the cross-attention qk channels, which "
            r"encoder\.num_cross_attention_qk_channels=None sets to the key/value input channels: "
            r"encoder\.image_shape\[0\] \(1\) \+ 2 x \(2 x encoder\.num_frequency_bands \(8\) \+ 1\) = 35; "
            r"set encoder\.num_cross_attention_qk_channels to a multiple of 8, or change "
            r"encoder\.image_shape\[0\], encoder\.num_frequency_bands, encoder\.num_cross_attention_heads",
        ),
        (
            lambda: image(
                {
                    "position_encoding": "learned",
                    "num_conv_channels": 5,
                    "num_position_channels": 6,
                    "num_cross_attention_heads": 2,
                }
            ),
            r"encoder\.num_cross_attention_heads \(2\).*encoder\.num_conv_channels \(5\) \+ "
            r"encoder\.num_position_channels \(6\) = 11",
        ),
        (
            lambda: image(
                {"position_encoding": "conv", "num_conv_channels": 5, "num_cross_attention_heads": 2}
            ),
            r"encoder\.num_cross_attention_heads \(2\).*encoder\.num_conv_channels \(5\) \+ "
            r"2 x \(2 x encoder\.num_frequency_bands \(4\) \+ 1\) = 23",
        ),
        (
            lambda: image(decoder_kwargs={"num_cross_attention_heads": 3}),
            r"decoder\.num_cross_attention_heads \(3\) must divide .* decoder\.num_cross_attention_qk_channels=None "
            r"sets to the key/value input channels: num_latent_channels \(16\) = 16",
        ),
        (
            lambda: flow({"num_frequency_bands": 3, "num_cross_attention_heads": 4}),
            r"encoder\.num_cross_attention_heads \(4\).*encoder\.num_patch_hidden_channels \(8\) \+ "
            r"2 x \(2 x encoder\.num_frequency_bands \(3\) \+ 1\) = 22",
        ),
        (
            lambda: mlm(encoder=text_encoder(num_self_attention_heads=1), num_latent_channels=15),
            r"encoder\.num_cross_attention_heads \(2\) must divide the cross-attention qk channels, which "
            r"encoder\.num_cross_attention_qk_channels=None sets to the query channels: num_latent_channels \(15\)",
        ),
        (
            lambda: mlm(decoder=TextDecoderConfig(vocab_size=30, max_seq_len=8, num_cross_attention_heads=5)),
            r"decoder\.num_cross_attention_heads \(5\) .* query channels: encoder\.num_input_channels \(12\) = 12",
        ),
        (
            lambda: classifier(
                decoder=ClassificationDecoderConfig(num_output_query_channels=9, num_cross_attention_heads=2)
            ),
            r"decoder\.num_cross_attention_heads \(2\) .* decoder\.num_output_query_channels \(9\) = 9",
        ),
        (
            lambda: mlm(encoder=text_encoder(num_self_attention_heads=3)),
            r"encoder\.num_self_attention_heads \(3\) must divide the self-attention qk channels, which "
            r"encoder\.num_self_attention_qk_channels=None sets to the latent channels",
        ),
    ],
)
def test_errors_on_derived_sizes_name_the_fields_the_user_set(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_explicit_qk_channels_lift_the_derived_constraint():
    config = image(
        {"num_frequency_bands": 8, "num_cross_attention_heads": 8, "num_cross_attention_qk_channels": 64}
    )
    model = ImageClassifier(config)
    assert qk_channels(model.encoder.cross_attn_1) == 64
    with torch.no_grad():
        assert model(torch.randn(2, 1, 12, 12)).shape == (2, 3)


def _config_classes():
    from perceiver.model.audio.symbolic import SymbolicAudioModelConfig
    from perceiver.model.core import DecoderConfig, EncoderConfig, PerceiverARConfig
    from perceiver.model.multimodal.autoencoder import MultimodalDecoderConfig, MultimodalEncoderConfig
    from perceiver.model.text.clm import CausalLanguageModelConfig

    return [
        EncoderConfig,
        DecoderConfig,
        ClassificationDecoderConfig,
        PerceiverIOConfig,
        PerceiverARConfig,
        TextEncoderConfig,
        TextDecoderConfig,
        MaskedLanguageModelConfig,
        TextClassifierConfig,
        CausalLanguageModelConfig,
        SymbolicAudioModelConfig,
        ImageEncoderConfig,
        ImageClassifierConfig,
        OpticalFlowEncoderConfig,
        OpticalFlowDecoderConfig,
        OpticalFlowConfig,
        MultimodalEncoderConfig,
        MultimodalDecoderConfig,
        MultimodalAutoencoderConfig,
    ]


@pytest.mark.parametrize("cls", _config_classes(), ids=lambda c: c.__name__)
def test_every_config_field_is_documented_once_in_its_dataclass(cls):
    import dataclasses

    from perceiver.model.core.config import field_docs

    docs = field_docs(cls)
    missing = [f.name for f in dataclasses.fields(cls) if not docs.get(f.name)]
    assert not missing, f"{cls.__name__} fields without a description: {missing}"
    # each field is described by the class that declares it, not again by its subclasses
    for klass in cls.__mro__[1:]:
        if dataclasses.is_dataclass(klass) and klass.__dict__.get("__doc__"):
            own = field_docs(type("Probe", (), {"__doc__": cls.__dict__.get("__doc__")}))
            inherited = {f.name for f in dataclasses.fields(klass)} & set(field_docs(klass))
            assert not (set(own) & inherited), f"{cls.__name__} describes {set(own) & inherited} again"


def test_field_docs_reads_google_style_args_sections():
    from perceiver.model.core.config import field_docs

    class Doc:
        """Summary.

        Args:
            alpha: first line
                continued.
            beta (int): typed.

        Returns:
            nothing: not an argument.
        """

    assert field_docs(Doc) == {"alpha": "first line continued.", "beta": "typed."}
