"""Video + audio + label clips: preprocessing to the model's shapes, the data module, and errors
that name the file and the field. The clips are tiny generated .npz files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch

from perceiver.data.multimodal import ClipPreprocessor, MultimodalDataModule, load_clip

NUM_FRAMES, IMAGE_SHAPE, SAMPLES_PER_FRAME, NUM_CLASSES = 2, (3, 8, 8), 16, 5


def _clip(num_frames: int = 4, size: tuple[int, int] = (8, 8), samples_per_frame: int = 16, label: int = 1):
    """Frame i is filled with value 10 * i (uint8); audio sample j is j / S (so windows are checkable)."""
    h, w = size
    video = np.repeat(np.arange(num_frames, dtype=np.uint8)[:, None, None, None] * 10, h * w * 3).reshape(
        num_frames, h, w, 3
    )
    num_samples = num_frames * samples_per_frame
    audio = np.arange(num_samples, dtype=np.float32) / num_samples
    return {"video": video, "audio": audio, "label": np.int64(label)}


def _write(folder: Path, name: str, **arrays) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.npz"
    np.savez(path, **arrays)
    return path


def _preprocessor() -> ClipPreprocessor:
    return ClipPreprocessor(NUM_FRAMES, IMAGE_SHAPE, SAMPLES_PER_FRAME, NUM_CLASSES)


def test_centre_window_with_aligned_audio():
    item = _preprocessor()(_clip(num_frames=4))
    assert item["image"].shape == (2, 3, 8, 8) and item["image"].dtype == torch.float32
    # frames 1 and 2 of 4 (the centre window), values scaled to [0, 1]
    torch.testing.assert_close(item["image"][:, 0, 0, 0], torch.tensor([10.0, 20.0]) / 255)
    # the audio of the same frames: samples 16..47 of 64
    torch.testing.assert_close(item["audio"], torch.arange(16, 48, dtype=torch.float32) / 64)
    assert item["label"].dtype == torch.int64 and item["label"].item() == 1


def test_random_window_keeps_audio_aligned():
    preprocessor = _preprocessor()
    torch.manual_seed(0)
    starts = set()
    for _ in range(20):
        item = preprocessor(_clip(num_frames=6), random=True)
        start = round(item["image"][0, 0, 0, 0].item() * 255 / 10)
        starts.add(start)
        torch.testing.assert_close(item["image"][1, 0, 0, 0], torch.tensor((start + 1) * 10 / 255))
        expected = torch.arange(start * 16, (start + 2) * 16, dtype=torch.float32) / 96
        torch.testing.assert_close(item["audio"], expected)
    assert len(starts) > 1 and starts <= set(range(5))


def test_frames_are_resized_to_cover_and_cropped():
    clip = _clip(num_frames=2, size=(16, 32))
    clip["video"] = np.random.default_rng(0).integers(0, 256, clip["video"].shape, dtype=np.uint8)
    item = _preprocessor()(clip)  # 16x32 -> 8x16 (covers 8x8, aspect kept) -> centre 8x8
    expected = torch.nn.functional.interpolate(
        torch.from_numpy(clip["video"]).permute(0, 3, 1, 2).float() / 255,
        size=(8, 16),
        mode="bilinear",
        antialias=True,
    )[..., 4:12]
    torch.testing.assert_close(item["image"], expected)
    float_video = dict(clip, video=clip["video"].astype(np.float32) / 255)  # float input in [0, 1]
    torch.testing.assert_close(_preprocessor()(float_video)["image"], item["image"])


def test_audio_forms_and_rates():
    preprocessor = _preprocessor()
    base = _clip(num_frames=2)
    column = preprocessor(dict(base, audio=base["audio"][:, None]))["audio"]
    torch.testing.assert_close(column, torch.from_numpy(base["audio"]))
    pcm = (np.arange(32) * 1000 - 16000).astype(np.int16)
    torch.testing.assert_close(
        preprocessor(dict(base, audio=pcm))["audio"], torch.from_numpy(pcm.astype(np.float32) / 32768)
    )
    # audio at another rate (8 instead of 16 samples per frame) is resampled to 32 samples
    resampled = preprocessor(dict(base, audio=np.linspace(-1, 1, 16, dtype=np.float32)))["audio"]
    assert resampled.shape == (32,) and resampled[0] < resampled[-1]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("video", np.zeros((2, 8, 8), np.uint8), r"'video' must have shape \(frames, height, width, 3\)"),
        ("video", np.zeros((1, 8, 8, 3), np.uint8), r"'video' has 1 frames, fewer than num_frames \(2\)"),
        (
            "video",
            np.full((2, 8, 8, 3), 2.0, np.float32),
            r"float 'video' values must be finite and in \[0, 1\]",
        ),
        ("video", np.zeros((2, 8, 8, 3), np.int32), "'video' must be uint8 or float"),
        ("audio", np.zeros((32, 2), np.float32), r"'audio' must have shape \(samples,\) or \(samples, 1\)"),
        ("audio", np.full(32, np.nan, np.float32), "'audio' has values that are not finite"),
        ("label", np.int64(5), r"'label' \(5\) must lie in \[0, num_classes=5\)"),
        ("label", np.array([1, 2]), "'label' must be one integer"),
    ],
)
def test_bad_fields_are_named(tmp_path, field, value, message):
    path = _write(tmp_path, "bad", **dict(_clip(num_frames=2), **{field: value}))
    with pytest.raises(ValueError, match=f"bad.npz: {message}"):
        _preprocessor()(load_clip(path), source=str(path))


def test_unreadable_files_are_named(tmp_path):
    clip = _clip()
    missing = _write(tmp_path, "missing", video=clip["video"], label=clip["label"])
    with pytest.raises(
        ValueError, match=r"missing.npz: no \['audio'\] array \(the file has \['label', 'video'\]\)"
    ):
        load_clip(missing)
    (tmp_path / "text.npz").write_text("not an npz")
    with pytest.raises(ValueError, match=r"text\.npz: not a readable \.npz file"):
        load_clip(tmp_path / "text.npz")
    np.save(tmp_path / "single.npy", clip["video"])
    with pytest.raises(ValueError, match=r"single.npy: a single array \(.npy\)"):
        load_clip(tmp_path / "single.npy")
    with pytest.raises(ValueError, match=r"image_shape \(\(1, 8, 8\)\) must be \(3, height, width\)"):
        ClipPreprocessor(2, (1, 8, 8), 16, 5)


def test_data_module_batches_and_plain_hparams(tmp_path):
    for i in range(3):
        _write(tmp_path / "train", f"clip{i}", **_clip(num_frames=3 + i, size=(10, 12), label=i))
    _write(tmp_path / "valid", "clip0", **_clip(num_frames=2, label=4))
    data = MultimodalDataModule(
        data_dir=tmp_path,  # a path: stored as a string
        num_frames=NUM_FRAMES,
        image_shape=IMAGE_SHAPE,
        audio_samples_per_frame=SAMPLES_PER_FRAME,
        num_classes=NUM_CLASSES,
        batch_size=3,
        num_workers=0,
    )
    data.setup()
    batch = next(iter(data.train_dataloader()))
    assert batch["image"].shape == (3, 2, 3, 8, 8) and batch["audio"].shape == (3, 32)
    assert sorted(batch["label"].tolist()) == [0, 1, 2]
    valid = next(iter(data.val_dataloader()))
    assert valid["label"].tolist() == [4]
    assert (data.num_frames, data.image_shape, data.audio_samples_per_frame, data.num_classes) == (
        2,
        (3, 8, 8),
        16,
        5,
    )
    buffer = io.BytesIO()
    torch.save({"datamodule_hyper_parameters": dict(data.hparams)}, buffer)
    buffer.seek(0)
    hparams = torch.load(buffer, weights_only=True)["datamodule_hyper_parameters"]
    assert hparams["data_dir"] == str(tmp_path) and hparams["image_shape"] == [3, 8, 8]


def test_data_module_fails_in_setup(tmp_path):
    def data_module():
        return MultimodalDataModule(str(tmp_path), NUM_FRAMES, IMAGE_SHAPE, SAMPLES_PER_FRAME, NUM_CLASSES)

    with pytest.raises(ValueError, match="train: not a directory"):
        data_module().setup()
    (tmp_path / "train").mkdir()
    with pytest.raises(ValueError, match=r"train: no \.npz clips found"):
        data_module().setup()
    _write(tmp_path / "train", "a", **_clip())
    _write(tmp_path / "valid", "a", **dict(_clip(), label=np.int64(9)))
    with pytest.raises(ValueError, match=r"valid/a.npz: 'label' \(9\) must lie in"):
        data_module().setup()
