"""Optical flow: shapes, chunked decoding, tiling, training, official size, validation."""

import pytest
import torch
from torch.testing import assert_close

from perceiver.model.vision import (
    OpticalFlow,
    OpticalFlowConfig,
    OpticalFlowDecoderConfig,
    OpticalFlowEncoderConfig,
    end_point_error,
    extract_patches,
)

# parameter count of transformers' PerceiverForOpticalFlow with the official config (5.23, meta)
OFFICIAL_PARAMETERS = 41_057_134
TILE = (4, 6)


def tiny_config(output_chunk_size=None, rescale_factor=100.0) -> OpticalFlowConfig:
    return OpticalFlowConfig(
        encoder=OpticalFlowEncoderConfig(
            image_shape=TILE,
            num_patch_hidden_channels=8,
            num_frequency_bands=4,
            num_cross_attention_heads=1,
            num_self_attention_heads=2,
            num_self_attention_layers_per_block=1,
        ),
        decoder=OpticalFlowDecoderConfig(
            num_cross_attention_heads=1, output_chunk_size=output_chunk_size, rescale_factor=rescale_factor
        ),
        num_latents=4,
        num_latent_channels=16,
    )


def patches(b: int, h: int, w: int) -> torch.Tensor:
    return extract_patches(torch.randn(b, 3, h, w), torch.randn(b, 3, h, w))


def test_forward_shape():
    model = OpticalFlow(tiny_config()).eval()
    flow = model(patches(2, *TILE))
    assert flow.shape == (2, *TILE, 2)


def test_chunked_decoding_equals_unchunked():
    model = OpticalFlow(tiny_config()).eval()
    chunked = OpticalFlow(tiny_config(output_chunk_size=5)).eval()
    chunked.load_state_dict(model.state_dict())
    x = patches(2, *TILE)
    assert_close(chunked(x), model(x), rtol=1e-5, atol=1e-7)


def test_extract_patches_layout():
    frame1, frame2 = torch.randn(1, 3, 5, 7), torch.randn(1, 3, 5, 7)
    x = extract_patches(frame1, frame2)
    assert x.shape == (1, 2, 27, 5, 7)
    # centre pixel of each 3x3 patch is (row 1, col 1): channels 12..14 in (row, col, channel) order
    assert_close(x[:, 0, 12:15], frame1, rtol=0, atol=0)
    assert_close(x[:, 1, 12:15], frame2, rtol=0, atol=0)
    # the top-left neighbour of pixel (2, 3)
    assert_close(x[0, 1, 0:3, 2, 3], frame2[0, :, 1, 2], rtol=0, atol=0)


def test_tiling_equals_untiled_where_tiles_cover_once():
    model = OpticalFlow(tiny_config()).eval()
    x = patches(2, TILE[0], 2 * TILE[1])
    tiled = model.forward_tiled(x, overlap=0)
    with torch.no_grad():
        halves = torch.cat([model(x[..., : TILE[1]]), model(x[..., TILE[1] :])], dim=2)
    assert tiled.shape == (2, TILE[0], 2 * TILE[1], 2)
    assert_close(tiled, halves, rtol=1e-5, atol=1e-7)


def test_tiling_of_tile_sized_input_equals_forward():
    model = OpticalFlow(tiny_config()).eval()
    x = patches(1, *TILE)
    with torch.no_grad():
        expected = model(x)
    assert_close(model.forward_tiled(x, overlap=2), expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("weighted", [True, False])
def test_tiling_with_overlap_averages(weighted):
    model = OpticalFlow(tiny_config()).eval()
    x = patches(1, 7, 9)
    flow = model.forward_tiled(x, overlap=(2, 3), weighted=weighted)
    assert flow.shape == (1, 7, 9, 2)
    # the top-left corner is covered by the first tile only
    with torch.no_grad():
        first = model(x[..., : TILE[0], : TILE[1]])
    assert_close(flow[:, 0, 0], first[:, 0, 0], rtol=1e-5, atol=1e-7)
    if not weighted:  # a pixel covered by two horizontally adjacent tiles gets their mean
        with torch.no_grad():
            second = model(x[..., : TILE[0], 3 : 3 + TILE[1]])
        assert_close(flow[:, 0, 4], (first[:, 0, 4] + second[:, 0, 1]) / 2, rtol=1e-5, atol=1e-6)


def test_loss_falls_on_overfit_batch():
    model = OpticalFlow(tiny_config(rescale_factor=1.0)).train()
    x = patches(2, *TILE)
    # a global motion per example (the decoder has no query residual: per-pixel noise is hard to fit)
    target = torch.randn(2, 1, 1, 2).expand(2, *TILE, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = end_point_error(model(x), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]


def test_end_point_error():
    pred = torch.zeros(1, 2, 2, 2)
    target = torch.tensor([[[[3.0, 4.0], [0.0, 0.0]], [[0.0, 1.0], [6.0, 8.0]]]])
    assert_close(end_point_error(pred, target), torch.tensor(4.0), rtol=0, atol=1e-6)
    mask = torch.tensor([[[True, True], [False, False]]])
    assert_close(end_point_error(pred, target, mask), torch.tensor(2.5), rtol=0, atol=1e-6)


def test_state_dict_round_trip(tmp_path):
    config = tiny_config()
    model = OpticalFlow(config).eval()
    torch.save(model.state_dict(), tmp_path / "model.pt")
    torch.manual_seed(1)
    restored = OpticalFlow(OpticalFlowConfig.from_json(config.to_json())).eval()
    restored.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    x = patches(1, *TILE)
    assert_close(restored(x), model(x), rtol=0, atol=0)


def test_official_parameter_count():
    with torch.device("meta"):
        model = OpticalFlow(OpticalFlowConfig.optical_flow_perceiver())
    assert sum(p.numel() for p in model.parameters()) == OFFICIAL_PARAMETERS


def test_config_json_round_trip():
    config = OpticalFlowConfig.optical_flow_perceiver(output_chunk_size=4096)
    restored = OpticalFlowConfig.from_json(config.to_json())
    assert restored == config
    assert isinstance(restored.decoder, OpticalFlowDecoderConfig)
    assert restored.encoder.image_shape == (368, 496)


def test_mismatched_frames_raise():
    with pytest.raises(ValueError, match="frame2 has shape"):
        extract_patches(torch.randn(1, 3, 4, 6), torch.randn(1, 3, 4, 5))


@pytest.mark.parametrize("shape", [(1, 2, 27, 4, 5), (1, 3, 27, 4, 6), (1, 2, 9, 4, 6), (2, 27, 4, 6)])
def test_bad_input_shape_raises(shape):
    model = OpticalFlow(tiny_config())
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 2, 27, 4, 6\)"):
        model(torch.randn(*shape))


def test_tiling_bad_input_raises():
    model = OpticalFlow(tiny_config())
    with pytest.raises(ValueError, match="smaller than the tile size"):
        model.forward_tiled(patches(1, 3, 12))
    with pytest.raises(ValueError, match=r"overlap\[1\] must be in \[0, 6\)"):
        model.forward_tiled(patches(1, 4, 12), overlap=(0, 6))


def test_end_point_error_bad_input_raises():
    with pytest.raises(ValueError, match="target has shape"):
        end_point_error(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 3, 2))
    with pytest.raises(ValueError, match="valid_mask must be a bool tensor"):
        end_point_error(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2, 2), torch.ones(1, 2, 2))


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        (
            OpticalFlowEncoderConfig,
            dict(image_shape=(4,)),
            r"image_shape must be 2 values \(int, int\), got \(4,\)",
        ),
        (
            OpticalFlowEncoderConfig,
            dict(num_frequency_bands=-1),
            "num_frequency_bands must be positive, got -1",
        ),
        (OpticalFlowDecoderConfig, dict(rescale_factor=0.0), "rescale_factor must be positive, got 0.0"),
        (OpticalFlowDecoderConfig, dict(output_chunk_size=0), "output_chunk_size must be positive, got 0"),
    ],
)
def test_invalid_config_raises(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)
