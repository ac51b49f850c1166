"""Optical flow wrapper: parity with transformers' PerceiverForOpticalFlow, conversion errors,
Auto classes, save/load, and the optical-flow pipeline on the Middlebury RubberWhale pair."""

import re

import numpy as np
import pytest
import torch
from transformers import (
    AutoConfig,
    AutoModel,
    PerceiverConfig,
    PerceiverForImageClassificationLearned,
    PerceiverForOpticalFlow,
    pipeline,
)

from perceiver.hf._convert import convert_state_dict
from perceiver.hf.vision.optical_flow import (
    OpticalFlowPerceiver,
    OpticalFlowPerceiverConfig,
    OpticalFlowPipeline,
    _key_table,
    convert_model,
)
from perceiver.model.vision import end_point_error, extract_patches

TINY = dict(
    num_latents=8,
    d_latents=32,
    num_blocks=1,
    num_self_attends_per_block=2,
    num_cross_attention_heads=1,
    num_self_attention_heads=4,
    attention_probs_dropout_prob=0.0,
)
TRAIN_SIZE = (24, 32)


@pytest.fixture(scope="module")
def converted(tmp_path_factory, perturb):
    """(transformers source model, converted save dir) of a tiny random optical-flow Perceiver."""
    torch.manual_seed(0)
    source = perturb(PerceiverForOpticalFlow(PerceiverConfig(**TINY, train_size=list(TRAIN_SIZE))))
    source_dir = tmp_path_factory.mktemp("flow-source")
    save_dir = tmp_path_factory.mktemp("flow-converted")
    source.save_pretrained(source_dir)
    convert_model(save_dir, source_dir, output_chunk_size=100)
    return source, save_dir


@pytest.fixture(scope="module")
def rubberwhale(data_dir):
    root = data_dir / "optical-flow" / "middlebury-rubberwhale"
    frames = [root / "frame10.png", root / "frame11.png"]
    if not all(f.is_file() for f in frames):
        pytest.skip(f"the Middlebury RubberWhale pair is not in {root}")
    return frames


def test_converted_model_matches_transformers(converted):
    source, save_dir = converted
    model = AutoModel.from_pretrained(save_dir).eval()
    assert type(model) is OpticalFlowPerceiver
    x = extract_patches(torch.randn(2, 3, *TRAIN_SIZE), torch.randn(2, 3, *TRAIN_SIZE))
    with torch.no_grad():
        expected = source(inputs=x).logits
        actual = model(inputs=x).logits
    assert actual.shape == (2, *TRAIN_SIZE, 2)
    torch.testing.assert_close(actual, expected, atol=1e-4, rtol=0)


def test_auto_config_save_load_round_trip_and_loss(converted, tmp_path):
    _, save_dir = converted
    config = AutoConfig.from_pretrained(save_dir)
    assert type(config) is OpticalFlowPerceiverConfig
    assert config.backend_config.encoder.image_shape == TRAIN_SIZE
    assert config.backend_config.decoder.output_chunk_size == 100
    model = OpticalFlowPerceiver.from_pretrained(save_dir).eval()
    model.save_pretrained(tmp_path)
    reloaded = OpticalFlowPerceiver.from_pretrained(tmp_path).eval()
    x = extract_patches(torch.randn(1, 3, *TRAIN_SIZE), torch.randn(1, 3, *TRAIN_SIZE))
    labels = torch.randn(1, *TRAIN_SIZE, 2)
    with torch.no_grad():
        out, out2 = model(x, labels=labels), reloaded(x, labels=labels)
    torch.testing.assert_close(out2.logits, out.logits, atol=0, rtol=0)
    torch.testing.assert_close(out.loss, end_point_error(out.logits, labels))


def test_source_of_the_wrong_class_raises(tmp_path):
    source = PerceiverForImageClassificationLearned(
        PerceiverConfig(**TINY, d_model=512, image_size=8, num_labels=3)
    )
    source.save_pretrained(tmp_path / "source")
    with pytest.raises(ValueError, match=r"PerceiverForImageClassificationLearned.*PerceiverForOpticalFlow"):
        convert_model(tmp_path / "out", tmp_path / "source")


def test_state_dict_with_a_missing_key_raises(converted):
    source, save_dir = converted
    model = OpticalFlowPerceiver(AutoConfig.from_pretrained(save_dir))
    state = dict(source.state_dict())
    del state["perceiver.encoder.self_attends.1.mlp.dense2.bias"]
    with pytest.raises(ValueError, match=re.escape("encoder.self_attn_1.1.mlp.3.bias")):
        convert_state_dict(state, _key_table(source.config), model.backend_model.state_dict().keys())


def test_pipeline_on_the_rubberwhale_pair(converted, rubberwhale, tmp_path):
    from PIL import Image

    _, save_dir = converted
    flow_pipeline = pipeline("optical-flow", model=str(save_dir))
    assert isinstance(flow_pipeline, OpticalFlowPipeline)
    # the real pair at an eighth of its size (388 x 584) keeps the tiled run fast on a CPU
    frames = [Image.open(f).convert("RGB") for f in rubberwhale]
    small = [f.resize((f.width // 8, f.height // 8)) for f in frames]
    flow = flow_pipeline(small, overlap=8)  # tiled: larger than the 24 x 32 training size
    assert isinstance(flow, np.ndarray) and flow.dtype == np.float32
    assert flow.shape == (small[0].height, small[0].width, 2)
    assert np.isfinite(flow).all()

    # paths and arrays give the same result as PIL images
    crop = [f.crop((100, 100, 132, 124)) for f in frames]  # exactly the training size: one tile
    flows = flow_pipeline([tuple(crop), (np.asarray(crop[0]), np.asarray(crop[1]))])
    assert len(flows) == 2 and flows[0].shape == (*TRAIN_SIZE, 2)
    np.testing.assert_array_equal(flows[0], flows[1])
    crop_paths = (tmp_path / "crop0.png", tmp_path / "crop1.png")
    for image, path in zip(crop, crop_paths):
        image.save(path)
    np.testing.assert_array_equal(flow_pipeline(crop_paths), flows[0])

    model = flow_pipeline.model
    x = extract_patches(*(torch.from_numpy(np.array(c)).permute(2, 0, 1)[None] / 255.0 * 2 - 1 for c in crop))
    with torch.no_grad():
        expected = model(x.float()).logits[0].numpy()
    np.testing.assert_allclose(flows[0], expected, atol=1e-6)


def test_pipeline_renders_flow_and_rejects_bad_inputs(converted, rubberwhale):
    pytest.importorskip("perceiver.data.vision.optical_flow")
    from PIL import Image

    _, save_dir = converted
    flow_pipeline = pipeline("optical-flow", model=str(save_dir))
    crop = [Image.open(f).convert("RGB").crop((0, 0, 40, 30)) for f in rubberwhale]
    out = flow_pipeline(crop, render=True, overlap=4)
    assert out["flow"].shape == (30, 40, 2)
    assert isinstance(out["image"], Image.Image) and out["image"].size == (40, 30)
    with pytest.raises(ValueError, match="smaller than the model's input size"):
        flow_pipeline([c.crop((0, 0, 10, 10)) for c in crop])
    with pytest.raises(ValueError, match="pair of frames"):
        flow_pipeline(crop[0])
    with pytest.raises(TypeError, match=r"unknown arguments \['overlapp'\]"):
        flow_pipeline(crop, overlapp=4)
    with pytest.raises(TypeError, match=r"micro_batch_size \(tiles are run through the model one at a time"):
        flow_pipeline(crop, micro_batch_size=2)  # a perceiver-io 0.11 argument
