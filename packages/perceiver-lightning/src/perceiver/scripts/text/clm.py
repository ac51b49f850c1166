"""Train a Perceiver AR causal language model: ``python -m perceiver.scripts.text.clm fit --help``."""

from __future__ import annotations

from perceiver.lightning.text.clm import LitCausalLanguageModel
from perceiver.scripts.cli import CLI

LINKS = [("data.vocab_size", "model.vocab_size"), ("data.max_seq_len", "model.max_seq_len")]


def main(args: list[str] | None = None, run: bool = True) -> CLI:
    return CLI(LitCausalLanguageModel, links=LINKS, args=args, run=run)


if __name__ == "__main__":
    main()
