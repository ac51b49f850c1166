"""Masked language model: train with configs/text/mlm.yaml, convert the checkpoint to a 🤗 model,
fill in masked bytes with ``pipeline("fill-mask")``.

    python examples/text_mlm.py                             # the config as it is
    python examples/text_mlm.py --trainer.max_steps=20      # a short run
"""

from __future__ import annotations

from pathlib import Path

from _train import parse_args, train


def main() -> None:
    args, training_args = parse_args(__doc__.split("\n")[0])
    checkpoint = train("text/mlm", args, training_args)

    from transformers import pipeline

    import perceiver.hf  # noqa: F401  (registers the models with the Auto classes and pipelines)
    from perceiver.hf.text.mlm import convert_checkpoint

    save_dir = Path(args.output_dir) / "text-mlm-model"
    convert_checkpoint(save_dir=save_dir, ckpt_url=checkpoint, tokenizer_name="deepmind/language-perceiver")
    fill_mask = pipeline("fill-mask", model=str(save_dir))
    for prediction in fill_mask("The capital of France is[MASK]aris.", top_k=3):
        print(f"{prediction['score']:.3f} {prediction['sequence']!r}")


if __name__ == "__main__":
    main()
