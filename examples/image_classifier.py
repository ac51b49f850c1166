"""Image classifier: train an MNIST digit classifier with configs/vision/image_classifier.yaml,
convert the checkpoint to a 🤗 model (with its image processor), classify digits with
``pipeline("image-classification")``.

    python examples/image_classifier.py                          # the config as it is
    python examples/image_classifier.py --trainer.max_steps=20   # a short run
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
from _train import parse_args, train


def mnist_test_digits(data_dir: Path, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` images (count, 28, 28) uint8 and labels of the MNIST test set (IDX files)."""
    mnist = data_dir / "images" / "mnist"
    with gzip.open(mnist / "t10k-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(mnist / "t10k-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    return images[:count], labels[:count]


def main() -> None:
    args, training_args = parse_args(__doc__.split("\n")[0])
    checkpoint = train("vision/image_classifier", args, training_args)

    from PIL import Image
    from transformers import pipeline

    import perceiver.hf  # noqa: F401  (registers the models with the Auto classes and pipelines)
    from perceiver.hf.vision.image_classifier import convert_checkpoint

    save_dir = Path(args.output_dir) / "image-classifier-model"
    convert_checkpoint(save_dir=save_dir, ckpt_url=checkpoint)
    classifier = pipeline("image-classification", model=str(save_dir))
    images, labels = mnist_test_digits(Path(args.data_dir), 4)
    predictions = classifier([Image.fromarray(image, mode="L") for image in images], top_k=1)
    for label, prediction in zip(labels, predictions):
        print(f"digit {label}: predicted {prediction[0]['label']} ({prediction[0]['score']:.3f})")


if __name__ == "__main__":
    main()
