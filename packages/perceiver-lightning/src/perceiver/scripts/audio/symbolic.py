"""Train a Perceiver AR on MIDI events: ``python -m perceiver.scripts.audio.symbolic fit --help``."""

from __future__ import annotations

from perceiver.lightning.audio.symbolic import LitSymbolicAudioModel
from perceiver.scripts.cli import CLI

LINKS = [("data.vocab_size", "model.vocab_size"), ("data.max_seq_len", "model.max_seq_len")]


def main(args: list[str] | None = None, run: bool = True) -> CLI:
    return CLI(LitSymbolicAudioModel, links=LINKS, args=args, run=run)


if __name__ == "__main__":
    main()
