"""Text classifier: train a sentiment classifier on IMDb reviews with configs/text/classifier.yaml,
convert the checkpoint to a 🤗 model, classify reviews with ``pipeline("text-classification")``.

    python examples/text_classifier.py                          # the config as it is
    python examples/text_classifier.py --trainer.max_steps=20   # a short run
"""

from __future__ import annotations

from pathlib import Path

from _train import parse_args, train

REVIEWS = [
    "A wonderful film: the cast is superb and the story moved me to tears.",
    "Dull, far too long and badly acted. I want my two hours back.",
]


def main() -> None:
    args, training_args = parse_args(__doc__.split("\n")[0])
    checkpoint = train("text/classifier", args, training_args)

    from transformers import pipeline

    import perceiver.hf  # noqa: F401  (registers the models with the Auto classes and pipelines)
    from perceiver.hf.text.classifier import convert_checkpoint

    save_dir = Path(args.output_dir) / "text-classifier-model"
    convert_checkpoint(save_dir=save_dir, ckpt_url=checkpoint, tokenizer_name="deepmind/language-perceiver")
    classifier = pipeline("text-classification", model=str(save_dir))
    for review, prediction in zip(REVIEWS, classifier(REVIEWS, truncation=True)):
        print(f"{prediction['label']} ({prediction['score']:.3f}): {review}")


if __name__ == "__main__":
    main()
