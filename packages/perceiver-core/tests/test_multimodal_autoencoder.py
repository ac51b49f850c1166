"""Multimodal autoencoder: shapes, subsampled decoding, training, official size, validation."""

import pytest
import torch
from torch.testing import assert_close

from perceiver.model.multimodal import (
    MultimodalAutoencoder,
    MultimodalAutoencoderConfig,
    MultimodalDecoderConfig,
    MultimodalEncoderConfig,
    reconstruction_loss,
)

# parameter count of transformers' PerceiverForMultimodalAutoencoding, official config (5.23, meta)
OFFICIAL_PARAMETERS = 19_858_855
T, S, SPF, SPP, K = 2, 8, 16, 4, 5


def tiny_config(output_chunk_size=None, label_mask_prob=1.0) -> MultimodalAutoencoderConfig:
    return MultimodalAutoencoderConfig(
        encoder=MultimodalEncoderConfig(
            num_frames=T,
            image_shape=(3, S, S),
            image_patch_size=4,
            image_num_frequency_bands=2,
            audio_samples_per_frame=SPF,
            audio_samples_per_patch=SPP,
            audio_num_frequency_bands=3,
            num_classes=K,
            mask_probs={"audio": 0.0, "image": 0.0, "label": label_mask_prob},
            num_cross_attention_heads=1,
            num_self_attention_heads=2,
            num_self_attention_layers_per_block=1,
        ),
        decoder=MultimodalDecoderConfig(
            num_cross_attention_heads=1,
            num_label_query_channels=8,
            num_output_channels=16,
            output_chunk_size=output_chunk_size,
        ),
        num_latents=4,
        num_latent_channels=16,
    )


def make_inputs(b: int = 2) -> dict[str, torch.Tensor]:
    label = torch.nn.functional.one_hot(torch.arange(b) % K, K).float()
    return {"image": torch.randn(b, T, 3, S, S), "audio": torch.randn(b, T * SPF, 1), "label": label}


def test_forward_shapes_full_and_subsampled():
    model = MultimodalAutoencoder(tiny_config()).eval()
    inputs = make_inputs()
    out = model(inputs)
    assert out["image"].shape == (2, T * S * S, 3)
    assert out["audio"].shape == (2, T * SPF)
    assert out["label"].shape == (2, K)
    sub = {"image": torch.arange(5, 25), "audio": torch.tensor([1, 3]), "label": None}
    out = model(inputs, subsampled_output_points=sub)
    assert out["image"].shape == (2, 20, 3)
    assert out["audio"].shape == (2, 2 * SPP)


def test_subsampled_chunks_equal_full_decoding():
    model = MultimodalAutoencoder(tiny_config()).eval()
    chunked = MultimodalAutoencoder(tiny_config(output_chunk_size=7)).eval()
    chunked.load_state_dict(model.state_dict())
    inputs = make_inputs()
    with torch.no_grad():
        full = model(inputs)
        n = T * S * S
        parts = [
            chunked(inputs, {"image": torch.arange(i, min(i + 48, n)), "audio": torch.arange(2)})["image"]
            for i in range(0, n, 48)
        ]
    assert_close(torch.cat(parts, dim=1), full["image"], rtol=1e-5, atol=1e-6)


def test_loss_falls_on_overfit_batch():
    model = MultimodalAutoencoder(tiny_config(label_mask_prob=0.0)).train()
    inputs = make_inputs()
    sub = {"image": torch.arange(0, T * S * S, 3), "audio": None}
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = reconstruction_loss(model(inputs, sub), inputs, sub)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


def test_label_is_masked_by_default():
    model = MultimodalAutoencoder(tiny_config()).eval()
    inputs = make_inputs()
    other = dict(inputs, label=torch.roll(inputs["label"], 1, dims=1))
    assert_close(model(inputs)["label"], model(other)["label"], rtol=0, atol=0)


def test_state_dict_round_trip(tmp_path):
    config = tiny_config()
    model = MultimodalAutoencoder(config).eval()
    torch.save(model.state_dict(), tmp_path / "model.pt")
    torch.manual_seed(1)
    restored = MultimodalAutoencoder(MultimodalAutoencoderConfig.from_json(config.to_json())).eval()
    restored.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    inputs = make_inputs()
    for key, value in model(inputs).items():
        assert_close(restored(inputs)[key], value, rtol=0, atol=0)


def test_official_parameter_count():
    with torch.device("meta"):
        model = MultimodalAutoencoder(MultimodalAutoencoderConfig.multimodal_perceiver())
    assert sum(p.numel() for p in model.parameters()) == OFFICIAL_PARAMETERS


def test_config_json_round_trip():
    config = MultimodalAutoencoderConfig.multimodal_perceiver()
    restored = MultimodalAutoencoderConfig.from_json(config.to_json())
    assert restored == config
    assert isinstance(restored.encoder, MultimodalEncoderConfig)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(image=torch.randn(2, T, 3, S, S + 1)), r"inputs\['image'\] must have shape"),
        (dict(audio=torch.randn(2, T * SPF + 1)), r"inputs\['audio'\] must have shape"),
        (dict(label=torch.zeros(2, K + 1)), r"inputs\['label'\] must have shape"),
    ],
)
def test_bad_inputs_raise(change, message):
    model = MultimodalAutoencoder(tiny_config())
    with pytest.raises(ValueError, match=message):
        model(make_inputs() | change)


def test_bad_subsampled_points_raise():
    model = MultimodalAutoencoder(tiny_config())
    with pytest.raises(ValueError, match=r"subsampled_output_points\['image'\] holds indices outside"):
        model(make_inputs(), {"image": torch.tensor([T * S * S])})
    with pytest.raises(ValueError, match="inputs is missing modalities"):
        model({"image": torch.randn(2, T, 3, S, S)})


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        (MultimodalEncoderConfig, dict(image_patch_size=3), r"image_patch_size \(3\) must divide"),
        (
            MultimodalEncoderConfig,
            dict(audio_samples_per_patch=7),
            r"audio_samples_per_patch \(7\) must divide",
        ),
        (MultimodalEncoderConfig, dict(mask_probs={"video": 0.5}), "mask_probs must map"),
        (MultimodalEncoderConfig, dict(num_classes=0), "num_classes must be positive, got 0"),
        (MultimodalDecoderConfig, dict(num_output_channels=0), "num_output_channels must be positive, got 0"),
    ],
)
def test_invalid_config_raises(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)
