"""Multimodal autoencoder wrapper: parity with transformers' PerceiverForMultimodalAutoencoding,
conversion errors, Auto classes, save/load and the multimodal-autoencoding pipeline."""

import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from transformers import (
    AutoConfig,
    AutoModel,
    PerceiverConfig,
    PerceiverForMultimodalAutoencoding,
    PerceiverForOpticalFlow,
    pipeline,
)

from perceiver.hf._convert import convert_state_dict
from perceiver.hf.multimodal.autoencoder import (
    MultimodalAutoencodingPipeline,
    PerceiverMultimodalAutoencoder,
    PerceiverMultimodalAutoencoderConfig,
    _key_table,
    convert_model,
)
from perceiver.model.multimodal import reconstruction_loss

T, S, SPF, SPP, K = 2, 8, 16, 4, 7  # frames, image size, audio samples per frame / patch, classes
TINY = dict(
    num_latents=8,
    d_latents=32,
    num_blocks=1,
    num_self_attends_per_block=2,
    num_self_attention_heads=4,
    num_cross_attention_heads=1,
    num_labels=K,
    image_size=S,
    num_frames=T,
    audio_samples_per_frame=SPF,
    samples_per_patch=SPP,
    output_shape=[1, T, S, S],
    output_num_channels=24,
    _label_trainable_num_channels=40,
    attention_probs_dropout_prob=0.0,
)


def _inputs(batch_size=2):
    return {
        "image": torch.randn(batch_size, T, 3, S, S),
        "audio": torch.randn(batch_size, T * SPF, 1),
        "label": torch.zeros(batch_size, K),
    }


@pytest.fixture(scope="module")
def converted(tmp_path_factory, perturb):
    torch.manual_seed(0)
    source = perturb(PerceiverForMultimodalAutoencoding(PerceiverConfig(**TINY)))
    source_dir = tmp_path_factory.mktemp("mm-source")
    save_dir = tmp_path_factory.mktemp("mm-converted")
    source.save_pretrained(source_dir)
    convert_model(save_dir, source_dir, output_chunk_size=5)
    return source, save_dir


@pytest.mark.parametrize("subsampled", [False, True])
def test_converted_model_matches_transformers(converted, subsampled):
    source, save_dir = converted
    model = AutoModel.from_pretrained(save_dir).eval()
    assert type(model) is PerceiverMultimodalAutoencoder
    inputs = _inputs()
    if subsampled:
        points = source_points = {"image": torch.arange(10, 60), "audio": torch.arange(3, 7), "label": None}
    else:  # transformers fails to decode all points without being given them
        points, source_points = (
            None,
            {"image": torch.arange(T * S * S), "audio": torch.arange(T * SPF // SPP)},
        )
    with torch.no_grad():
        expected = source(inputs=inputs, subsampled_output_points=source_points).logits
        actual = model(inputs, subsampled_output_points=points).logits
    num_image = 50 if subsampled else T * S * S
    num_audio = 4 * SPP if subsampled else T * SPF
    assert actual["image"].shape == (2, num_image, 3)
    assert actual["audio"].shape == (2, num_audio)
    assert actual["label"].shape == (2, K)
    for modality in ("image", "audio", "label"):
        torch.testing.assert_close(actual[modality], expected[modality], atol=1e-4, rtol=0)


def test_auto_config_save_load_round_trip_and_loss(converted, tmp_path):
    _, save_dir = converted
    config = AutoConfig.from_pretrained(save_dir)
    assert type(config) is PerceiverMultimodalAutoencoderConfig
    assert config.backend_config.encoder.num_classes == K
    model = PerceiverMultimodalAutoencoder.from_pretrained(save_dir).eval()
    model.save_pretrained(tmp_path)
    reloaded = PerceiverMultimodalAutoencoder.from_pretrained(tmp_path).eval()
    inputs = _inputs(1)
    targets = {**inputs, "label": torch.nn.functional.one_hot(torch.tensor([3]), K).float()}
    with torch.no_grad():
        out, out2 = model(inputs, labels=targets), reloaded(inputs, labels=targets)
    for modality in ("image", "audio", "label"):
        torch.testing.assert_close(out2.logits[modality], out.logits[modality], atol=0, rtol=0)
    torch.testing.assert_close(out.loss, reconstruction_loss(out.logits, targets))


def test_source_of_the_wrong_class_raises(tmp_path):
    source = PerceiverForOpticalFlow(
        PerceiverConfig(
            num_latents=4,
            d_latents=16,
            num_cross_attention_heads=1,
            num_self_attention_heads=2,
            train_size=[4, 4],
        )
    )
    source.save_pretrained(tmp_path / "source")
    with pytest.raises(ValueError, match=r"PerceiverForOpticalFlow.*PerceiverForMultimodalAutoencoding"):
        convert_model(tmp_path / "out", tmp_path / "source")


def test_state_dict_with_a_missing_key_raises(converted):
    source, save_dir = converted
    model = PerceiverMultimodalAutoencoder(AutoConfig.from_pretrained(save_dir))
    state = dict(source.state_dict())
    del state["perceiver.input_preprocessor.mask.audio"]
    with pytest.raises(ValueError, match=re.escape("encoder.input_adapter.mask_token.audio")):
        convert_state_dict(state, _key_table(source.config), model.backend_model.state_dict().keys())


def test_pipeline_reconstructs_in_chunks(converted):
    _, save_dir = converted
    autoencoder = pipeline("multimodal-autoencoding", model=str(save_dir))
    assert isinstance(autoencoder, MultimodalAutoencodingPipeline)
    inputs = _inputs(1)
    video, audio = inputs["image"][0].numpy(), inputs["audio"][0, :, 0].numpy()
    out = autoencoder({"image": video, "audio": audio}, num_chunks=4, top_k=3)
    with pytest.raises(TypeError, match=r"unknown arguments \['num_chunk'\]"):
        autoencoder({"image": video, "audio": audio}, num_chunk=4)
    assert out["image"].shape == (T, S, S, 3) and out["image"].dtype == np.float32
    assert out["audio"].shape == (T * SPF,)
    assert out["label"].shape == (K,)
    assert len(out["labels"]) == 3 and out["labels"][0]["score"] >= out["labels"][1]["score"]

    # chunked decoding equals one full decode
    model = autoencoder.model
    with torch.no_grad():
        full = model(inputs).logits
    np.testing.assert_allclose(out["image"], full["image"][0].reshape(T, S, S, 3).numpy(), atol=1e-5)
    np.testing.assert_allclose(out["audio"], full["audio"][0].numpy(), atol=1e-5)
    np.testing.assert_allclose(out["label"], full["label"][0].numpy(), atol=1e-5)

    batch = autoencoder([{"image": video, "audio": audio}] * 2, num_chunks=1)
    assert len(batch) == 2
    np.testing.assert_allclose(batch[0]["image"], out["image"], atol=1e-5)
    with pytest.raises(ValueError, match="num_chunks"):
        autoencoder({"image": video, "audio": audio}, num_chunks=10_000)


def test_training_checkpoint_converts_with_a_label_name_per_class(converted, tmp_path):
    from perceiver.hf.multimodal.autoencoder import PerceiverMultimodalAutoencoder, convert_checkpoint

    model = PerceiverMultimodalAutoencoder.from_pretrained(converted[1])
    backend = model.backend_model
    torch.save(
        {
            "perceiver_task": "multimodal.autoencoder",
            "hyper_parameters": model.config.backend_config.to_dict(),
            "state_dict": {f"backend_model.{k}": v for k, v in backend.state_dict().items()},
        },
        tmp_path / "last.ckpt",
    )
    result = convert_checkpoint(tmp_path / "model", tmp_path / "last.ckpt")
    assert result.config.id2label == {i: f"LABEL_{i}" for i in range(K)}
    for name, value in result.backend_model.state_dict().items():
        torch.testing.assert_close(value, backend.state_dict()[name], atol=0, rtol=0)


def test_pipeline_prepares_a_raw_clip_without_lightning_and_datasets(converted, tmp_path):
    """The clip preprocessing the pipeline uses (perceiver-data) imports neither Lightning nor
    datasets: where they cannot be imported, a raw clip gives the same output as here."""
    _, save_dir = converted
    rng = np.random.default_rng(1)
    clip = {
        "video": rng.integers(0, 256, (T + 1, 10, 12, 3), dtype=np.uint8),
        "audio": rng.uniform(-1, 1, (2 * (T + 1) * SPF,)).astype(np.float32),
        "label": np.int64(2),
    }
    np.savez(tmp_path / "clip.npz", **clip)
    code = "\n".join(
        [
            "import sys",
            "blocked = ('pytorch_lightning', 'lightning', 'datasets')",
            "sys.modules.update(dict.fromkeys(blocked))  # a None entry makes the import fail",
            "import numpy as np",
            "from transformers import pipeline",
            "import perceiver.hf",
            f"out = pipeline('multimodal-autoencoding', model={str(save_dir)!r})({str(tmp_path / 'clip.npz')!r})",
            f"np.savez({str(tmp_path / 'out.npz')!r}, **out)",
            "loaded = sorted(name for name in blocked if sys.modules.get(name) is not None)",
            "assert not loaded, loaded",
        ]
    )
    subprocess.run([sys.executable, "-c", code], check=True)

    expected = pipeline("multimodal-autoencoding", model=str(save_dir))(str(tmp_path / "clip.npz"))
    with np.load(tmp_path / "out.npz") as out:
        for name in ("image", "audio", "label"):
            np.testing.assert_allclose(out[name], expected[name], atol=1e-6, rtol=0)


def test_pipeline_prepares_a_raw_clip_as_the_training_data_module(converted, tmp_path):
    """A .npz clip (uint8 frames of another size, int16 audio of another rate) is prepared with
    perceiver-data's clip preprocessing and the model's settings, as its validation clips are."""
    from perceiver.data.multimodal import ClipPreprocessor

    _, save_dir = converted
    autoencoder = pipeline("multimodal-autoencoding", model=str(save_dir))
    rng = np.random.default_rng(0)
    clip = {
        "video": rng.integers(0, 256, (T + 2, 11, 13, 3), dtype=np.uint8),
        "audio": rng.integers(-20000, 20000, (3 * (T + 2) * SPF, 1), dtype=np.int16),
        "label": np.int64(3),
    }
    np.savez(tmp_path / "clip.npz", **clip)
    out = autoencoder(str(tmp_path / "clip.npz"))

    prepared = ClipPreprocessor(T, (3, S, S), SPF, K)(clip, random=False)
    inputs = {
        "image": prepared["image"][None],
        "audio": prepared["audio"][None],
        "label": torch.nn.functional.one_hot(prepared["label"], K).float()[None],
    }
    with torch.no_grad():
        expected = autoencoder.model(inputs).logits
    np.testing.assert_allclose(out["image"], expected["image"][0].reshape(T, S, S, 3).numpy(), atol=1e-5)
    np.testing.assert_allclose(out["audio"], expected["audio"][0].numpy(), atol=1e-5)
    np.testing.assert_allclose(out["label"], expected["label"][0].numpy(), atol=1e-5)

    # the clip's arrays without a label: a zero label input
    unlabelled = autoencoder({"video": clip["video"], "audio": clip["audio"]})
    with torch.no_grad():
        zero_label = autoencoder.model(inputs | {"label": torch.zeros(1, K)}).logits
    np.testing.assert_allclose(unlabelled["audio"], zero_label["audio"][0].numpy(), atol=1e-5)

    with pytest.raises(ValueError, match=r"clip\.npz: 'video' has 1 frames, fewer than num_frames \(2\)"):
        np.savez(tmp_path / "clip.npz", **(clip | {"video": clip["video"][:1]}))
        autoencoder(str(tmp_path / "clip.npz"))
    with pytest.raises(ValueError, match=r"got the keys \['fps'\] too"):
        autoencoder(clip | {"fps": 25})
