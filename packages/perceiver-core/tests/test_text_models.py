"""Text task models: shapes, training, state round trip, presets and bad input."""

import io

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from perceiver.model.audio.symbolic import SymbolicAudioModel, SymbolicAudioModelConfig
from perceiver.model.core import ClassificationDecoderConfig
from perceiver.model.text.classifier import TextClassifier, TextClassifierConfig
from perceiver.model.text.clm import CausalLanguageModel, CausalLanguageModelConfig
from perceiver.model.text.mlm import (
    MaskedLanguageModel,
    MaskedLanguageModelConfig,
    TextDecoderConfig,
    TextEncoderConfig,
)

VOCAB = 40


def encoder_config(**kwargs) -> TextEncoderConfig:
    defaults = dict(
        vocab_size=VOCAB,
        max_seq_len=16,
        num_input_channels=24,
        num_cross_attention_heads=2,
        num_self_attention_heads=2,
        num_self_attention_layers_per_block=2,
    )
    return TextEncoderConfig(**(defaults | kwargs))


def mlm_config() -> MaskedLanguageModelConfig:
    return MaskedLanguageModelConfig(
        encoder=encoder_config(),
        decoder=TextDecoderConfig(vocab_size=VOCAB, max_seq_len=16, num_cross_attention_heads=2),
        num_latents=4,
        num_latent_channels=32,
    )


def clf_config() -> TextClassifierConfig:
    return TextClassifierConfig(
        encoder=encoder_config(),
        decoder=ClassificationDecoderConfig(
            num_classes=3, num_output_query_channels=16, num_cross_attention_heads=2
        ),
        num_latents=4,
        num_latent_channels=32,
    )


def clm_config(**kwargs) -> CausalLanguageModelConfig:
    defaults = dict(
        vocab_size=VOCAB,
        max_seq_len=24,
        max_latents=8,
        num_channels=32,
        num_heads=4,
        num_self_attention_layers=2,
        cross_attention_dropout=0.0,
    )
    return CausalLanguageModelConfig(**(defaults | kwargs))


def overfit(model, step_loss, steps=40, lr=3e-3) -> tuple[float, float]:
    optim = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        loss = step_loss()
        losses.append(loss.item())
        loss.backward()
        optim.step()
        optim.zero_grad()
    return losses[0], losses[-1]


def test_masked_language_model_decodes_only_the_input_positions_and_learns():
    model = MaskedLanguageModel(mlm_config())
    x = torch.randint(0, VOCAB, (4, 11))
    assert model(x).shape == (4, 11, VOCAB)
    first, last = overfit(model, lambda: F.cross_entropy(model(x).transpose(1, 2), x), steps=80, lr=1e-2)
    assert last < 0.5 * first


def test_text_classifier_learns_and_takes_encoder_weights_from_an_mlm():
    model = TextClassifier(clf_config())
    x, y = torch.randint(0, VOCAB, (6, 12)), torch.tensor([0, 1, 2, 0, 1, 2])
    assert model(x).shape == (6, 3)
    first, last = overfit(model, lambda: F.cross_entropy(model(x), y))
    assert last < 0.5 * first

    mlm = MaskedLanguageModel(mlm_config())
    model.load_encoder_from(mlm)
    assert_close(model.encoder.encode(model.encoder.input_adapter(x)), mlm.encoder(x))


def test_causal_language_model_trains_as_in_the_seed_loop():
    config = clm_config()
    model = CausalLanguageModel(config)
    window = torch.randint(0, VOCAB, (4, 21))
    labels_ids, input_ids = window[:, 1:], window[:, :-1]

    def loss():
        logits = model(input_ids, prefix_len=input_ids.shape[1] - config.max_latents)
        return F.cross_entropy(logits.permute(0, 2, 1), labels_ids[:, -config.max_latents :])

    first, last = overfit(model, loss, steps=60)
    assert last < 0.5 * first
    assert model(input_ids).shape == (4, 8, VOCAB)  # prefix_len defaults to n - max_latents


@pytest.mark.parametrize(
    "make",
    [
        lambda: MaskedLanguageModel(mlm_config()),
        lambda: TextClassifier(clf_config()),
        lambda: CausalLanguageModel(clm_config()),
        lambda: SymbolicAudioModel(SymbolicAudioModelConfig(max_seq_len=32, max_latents=8, num_channels=32)),
    ],
)
def test_state_dict_round_trip_gives_identical_outputs(make):
    model = make().eval()
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    restored = make().eval()
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    vocab = getattr(model.config, "vocab_size", VOCAB) if hasattr(model.config, "vocab_size") else VOCAB
    x = torch.randint(0, min(vocab, VOCAB), (2, 12))
    args = (x,) if isinstance(model, (MaskedLanguageModel, TextClassifier)) else (x, 4)
    assert_close(restored(*args), model(*args))


def test_full_size_presets_have_the_official_parameter_counts():
    with torch.device("meta"):
        mlm = MaskedLanguageModel(MaskedLanguageModelConfig.language_perceiver())
    assert sum(p.numel() for p in mlm.parameters()) == 201_108_230  # deepmind/language-perceiver


def test_configs_round_trip_and_validate():
    for config in (mlm_config(), clf_config()):
        assert type(config).from_json(config.to_json()) == config
    assert CausalLanguageModelConfig.from_dict(clm_config().to_dict()) == clm_config()
    with pytest.raises(ValueError, match=r"encoder.vocab_size \(40\) must equal decoder.vocab_size \(41\)"):
        MaskedLanguageModelConfig(encoder_config(), TextDecoderConfig(vocab_size=41), 4, 32)
    with pytest.raises(ValueError, match=r"num_heads \(3\) must divide num_channels \(32\)"):
        clm_config(num_heads=3)
    with pytest.raises(ValueError, match="max_seq_len must be positive, got 0"):
        encoder_config(max_seq_len=0)


def test_bad_text_input_is_named():
    model = MaskedLanguageModel(mlm_config())
    with pytest.raises(ValueError, match=r"sequence length 17 exceeds max_seq_len \(16\)"):
        model(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(ValueError, match=f"token id {VOCAB + 5}"):
        model(torch.tensor([[1, VOCAB + 5]]))
    with pytest.raises(ValueError, match="input_ids must have shape"):
        model(torch.zeros(3, dtype=torch.long))
