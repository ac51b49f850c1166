"""Symbolic audio model (Perceiver AR on MIDI events): train on piano MIDI files with
configs/audio/symbolic.yaml, convert the checkpoint to a 🤗 model, continue a MIDI prompt with
``pipeline("symbolic-audio-generation")``.

    python examples/audio_symbolic.py                          # the config as it is
    python examples/audio_symbolic.py --trainer.max_steps=20   # a short run
"""

from __future__ import annotations

from pathlib import Path

from _train import parse_args, train


def main() -> None:
    args, training_args = parse_args(__doc__.split("\n")[0])
    checkpoint = train("audio/symbolic", args, training_args)

    from transformers import pipeline

    import perceiver.hf  # noqa: F401  (registers the models with the Auto classes and pipelines)
    from perceiver.hf.audio.symbolic import convert_checkpoint

    save_dir = Path(args.output_dir) / "symbolic-audio-model"
    convert_checkpoint(save_dir=save_dir, ckpt_url=checkpoint)
    generate = pipeline("symbolic-audio-generation", model=str(save_dir))
    prompt = Path(args.data_dir) / "midi" / "misc" / "krasserm_audio_prompt_1.mid"
    output_path = Path(args.output_dir) / "continuation.mid"
    result = generate(
        str(prompt),
        max_new_tokens=64,
        max_prompt_length=64,
        do_sample=True,
        top_k=15,
        output_path=output_path,
    )
    print(f"{len(result['midi'].instruments[0].notes)} notes written to {output_path}")


if __name__ == "__main__":
    main()
