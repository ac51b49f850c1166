"""Causal language model (Perceiver AR): train with configs/text/clm.yaml, convert the checkpoint
to a 🤗 model, continue a prompt with ``pipeline("text-generation")``.

    python examples/text_clm.py                          # the config as it is
    python examples/text_clm.py --trainer.max_steps=20   # a short run
"""

from __future__ import annotations

from pathlib import Path

from _train import parse_args, train


def main() -> None:
    args, training_args = parse_args(__doc__.split("\n")[0])
    checkpoint = train("text/clm", args, training_args)

    from transformers import pipeline

    import perceiver.hf  # noqa: F401  (registers the models with the Auto classes and pipelines)
    from perceiver.hf.text.clm import convert_checkpoint

    save_dir = Path(args.output_dir) / "text-clm-model"
    convert_checkpoint(save_dir=save_dir, ckpt_url=checkpoint, tokenizer_name="deepmind/language-perceiver")
    generator = pipeline("text-generation", model=str(save_dir))
    result = generator("The history of", max_new_tokens=64, do_sample=True, top_k=10, num_latents=1)
    print(result[0]["generated_text"])


if __name__ == "__main__":
    main()
