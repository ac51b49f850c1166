"""Multimodal autoencoder (video, audio and label): train on clips with
configs/multimodal/autoencoder.yaml, convert the checkpoint to a 🤗 model, reconstruct a clip and
classify it with ``pipeline("multimodal-autoencoding")``.

    python examples/multimodal_autoencoder.py                          # the config as it is
    python examples/multimodal_autoencoder.py --trainer.max_steps=20   # a short run

The example data holds no video clips, so the example writes a few small ones first, in
perceiver-data's clip format (``train/`` and ``valid/`` folders of ``.npz`` files with ``video``
(frames, height, width, 3) uint8, ``audio`` (samples, 1) float in [-1, 1] and an integer
``label``): frames of the MPI-Sintel sequence of the example data, and tones whose pitch is the
label. To train on clips of your own, add ``--data.data_dir=<folder>`` (and their shapes:
``--data.num_frames``, ``--data.image_shape``, ...).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _train import parse_args, train

NUM_FRAMES, AUDIO_SAMPLES_PER_FRAME, NUM_CLASSES = 4, 64, 5  # as in the config


def write_clips(root: Path, data_dir: Path) -> None:
    from PIL import Image

    frames = sorted((data_dir / "optical-flow" / "sintel-raft-demo").glob("*.png"))
    video = np.stack([np.asarray(Image.open(path).convert("RGB").resize((64, 28))) for path in frames])
    t = np.arange(NUM_FRAMES * AUDIO_SAMPLES_PER_FRAME, dtype=np.float32) / AUDIO_SAMPLES_PER_FRAME
    for split, count in (("train", 8), ("valid", 2)):
        (root / split).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            label = i % NUM_CLASSES
            audio = 0.5 * np.sin(2 * np.pi * (label + 1) * t / 4)
            clip = np.roll(video, shift=4 * i, axis=2)[:NUM_FRAMES]
            np.savez(root / split / f"clip{i}.npz", video=clip, audio=audio[:, None], label=np.int64(label))


def main() -> None:
    args, training_args = parse_args(__doc__.split("\n")[0])
    clips = Path(args.output_dir).resolve() / "clips"
    write_clips(clips, Path(args.data_dir))
    checkpoint = train("multimodal/autoencoder", args, [f"--data.data_dir={clips}", *training_args])

    from transformers import pipeline

    import perceiver.hf  # noqa: F401  (registers the models with the Auto classes and pipelines)
    from perceiver.data.multimodal import ClipPreprocessor, load_clip
    from perceiver.hf.multimodal.autoencoder import convert_checkpoint

    save_dir = Path(args.output_dir) / "multimodal-autoencoder-model"
    model = convert_checkpoint(save_dir=save_dir, ckpt_url=checkpoint)
    # the preprocessing of training: the clip's centre frames, cropped and scaled to [0, 1]
    image_shape = tuple(model.config.backend_config.encoder.image_shape)
    preprocess = ClipPreprocessor(NUM_FRAMES, image_shape, AUDIO_SAMPLES_PER_FRAME, NUM_CLASSES)
    clip = preprocess(load_clip(clips / "valid" / "clip0.npz"))
    autoencoder = pipeline("multimodal-autoencoding", model=str(save_dir))
    result = autoencoder(
        {"image": clip["image"].numpy(), "audio": clip["audio"].numpy()}, num_chunks=4, top_k=2
    )
    error = float(np.abs(result["image"] - clip["image"].permute(0, 2, 3, 1).numpy()).mean())
    print(f"video reconstruction error {error:.3f}, audio {result['audio'].shape}, labels {result['labels']}")


if __name__ == "__main__":
    main()
