"""Clip files (Kinetics style video + audio + label) and their preprocessing for the multimodal
Perceiver IO autoencoder.

This module imports numpy and torch only (no Lightning, no datasets), so that the 🤗
multimodal-autoencoding pipeline prepares raw clips as the training data module does.

A clip is one ``.npz`` file (``numpy.savez``) with three arrays:

- ``video``: (T, H, W, 3) RGB frames, uint8 (0-255) or float in [0, 1];
- ``audio``: (S,) or (S, 1) mono samples, float in [-1, 1] or int16;
- ``label``: an int class id (a 0-d or one-element array).

:class:`ClipPreprocessor` turns it into the model's input: ``num_frames`` consecutive frames (a
random window in training, the centre one otherwise), resized to cover (h, w) with their aspect
ratio kept and cropped to (h, w) (random or centre), channels first; the audio of the same time
span, linearly resampled to ``num_frames * audio_samples_per_frame`` samples when its rate differs.
Shapes: t frames, c = 3 channels, h, w height and width, s audio samples.
"""

from __future__ import annotations

import numbers
import os
import zipfile

import numpy as np
import torch
import torch.nn.functional as F

from perceiver.model.core.validation import check_int

__all__ = ["CLIP_FIELDS", "ClipPreprocessor", "load_clip"]

CLIP_FIELDS = ("video", "audio", "label")


def load_clip(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The ``video``, ``audio`` and ``label`` arrays of a clip file; a ValueError names the file and field."""
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: not a readable .npz file ({e})") from e
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: a single array (.npy), not an .npz file with {list(CLIP_FIELDS)}")
    with npz:
        missing = [name for name in CLIP_FIELDS if name not in npz.files]
        if missing:
            raise ValueError(f"{path}: no {missing} array (the file has {sorted(npz.files)})")
        clip = {}
        for name in CLIP_FIELDS:
            try:
                clip[name] = npz[name]
            except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
                raise ValueError(f"{path}: {name!r} cannot be read ({e})") from e
    return clip


class ClipPreprocessor:
    """A clip's arrays -> ``{"image": (t, 3, h, w) float32 in [0, 1], "audio": (s,) float32, "label": int64}``.

    Args:
        num_frames: frames per example (the model's ``encoder.num_frames``).
        image_shape: (c, h, w) of each frame, c = 3 (the model's ``encoder.image_shape``).
        audio_samples_per_frame: audio samples per frame (the model's ``encoder.audio_samples_per_frame``).
        num_classes: labels must lie in [0, num_classes).
    """

    def __init__(
        self,
        num_frames: int,
        image_shape: tuple[int, int, int],
        audio_samples_per_frame: int,
        num_classes: int,
    ):
        if (
            isinstance(image_shape, str)
            or len(image_shape) != 3
            or image_shape[0] != 3
            or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 for v in image_shape)
        ):
            raise ValueError(f"image_shape ({image_shape!r}) must be (3, height, width): RGB frames")
        for name, value in (
            ("num_frames", num_frames),
            ("audio_samples_per_frame", audio_samples_per_frame),
            ("num_classes", num_classes),
        ):
            check_int(name, value, 1)
        self.num_frames = num_frames
        self.image_shape = tuple(image_shape)
        self.audio_samples_per_frame = audio_samples_per_frame
        self.num_classes = num_classes

    def __call__(
        self, clip: dict[str, np.ndarray], random: bool = False, source: str = "clip"
    ) -> dict[str, torch.Tensor]:
        """``random``: a random window and crop (training), else the centre ones. ``source`` names the clip in errors."""
        video, audio, label = self._checked(clip, source)
        num_frames, num_video_frames = self.num_frames, video.shape[0]
        if random:
            start = int(torch.randint(0, num_video_frames - num_frames + 1, ()))
        else:
            start = (num_video_frames - num_frames) // 2
        return {
            "image": self._frames(video[start : start + num_frames], random),
            "audio": self._audio(audio, start, num_video_frames),
            "label": torch.tensor(label, dtype=torch.int64),
        }

    def _checked(self, clip: dict[str, np.ndarray], source: str) -> tuple[np.ndarray, np.ndarray, int]:
        video, audio, label = (np.asarray(clip[name]) for name in CLIP_FIELDS)
        if video.ndim != 4 or video.shape[-1] != 3 or min(video.shape) < 1:
            raise ValueError(
                f"{source}: 'video' must have shape (frames, height, width, 3), got {video.shape}"
            )
        if video.dtype != np.uint8:
            if not np.issubdtype(video.dtype, np.floating):
                raise ValueError(f"{source}: 'video' must be uint8 or float, got {video.dtype}")
            if not np.isfinite(video).all() or video.min() < 0.0 or video.max() > 1.0:
                raise ValueError(f"{source}: float 'video' values must be finite and in [0, 1]")
        if video.shape[0] < self.num_frames:
            raise ValueError(
                f"{source}: 'video' has {video.shape[0]} frames, fewer than num_frames ({self.num_frames})"
            )
        if audio.ndim == 2 and audio.shape[1] == 1:
            audio = audio[:, 0]
        if audio.ndim != 1 or audio.shape[0] < 1:
            raise ValueError(
                f"{source}: 'audio' must have shape (samples,) or (samples, 1), got {audio.shape}"
            )
        if audio.dtype == np.int16:
            audio = audio.astype(np.float32) / 32768.0
        elif not np.issubdtype(audio.dtype, np.floating):
            raise ValueError(f"{source}: 'audio' must be float or int16, got {audio.dtype}")
        elif not np.isfinite(audio).all():
            raise ValueError(f"{source}: 'audio' has values that are not finite")
        elif np.abs(audio).max() > 1.0:
            raise ValueError(
                f"{source}: float 'audio' must lie in [-1, 1], got peak {float(np.abs(audio).max())} "
                "(store integer PCM samples as int16)"
            )
        if label.size != 1 or not np.issubdtype(label.dtype, np.integer):
            raise ValueError(
                f"{source}: 'label' must be one integer, got {label.dtype} of shape {label.shape}"
            )
        label = int(label.reshape(()))
        if not 0 <= label < self.num_classes:
            raise ValueError(f"{source}: 'label' ({label}) must lie in [0, num_classes={self.num_classes})")
        return video, audio, label

    def _frames(self, frames: np.ndarray, random: bool) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)  # (t, 3, H, W)
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        _, h, w = self.image_shape
        height, width = x.shape[-2:]
        scale = max(h / height, w / width)
        size = (max(h, round(height * scale)), max(w, round(width * scale)))
        if size != (height, width):
            x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
            x = x.clamp(0.0, 1.0)
        if random:
            top = int(torch.randint(0, size[0] - h + 1, ()))
            left = int(torch.randint(0, size[1] - w + 1, ()))
        else:
            top, left = (size[0] - h) // 2, (size[1] - w) // 2
        return x[..., top : top + h, left : left + w].contiguous()  # (t, 3, h, w)

    def _audio(self, audio: np.ndarray, start: int, num_video_frames: int) -> torch.Tensor:
        """The samples of frames [start, start + num_frames), resampled to num_frames * audio_samples_per_frame."""
        per_frame = audio.shape[0] / num_video_frames
        first = round(start * per_frame)
        last = max(first + 1, round((start + self.num_frames) * per_frame))
        x = torch.from_numpy(np.ascontiguousarray(audio[first:last], dtype=np.float32))  # (s_clip,)
        num_samples = self.num_frames * self.audio_samples_per_frame
        if x.shape[0] != num_samples:
            x = F.interpolate(x[None, None], size=num_samples, mode="linear", align_corners=False)[0, 0]
        return x  # (s,)
