"""Preprocess a dataset before training (delegates to perceiver-data's ``perceiver.data.preproc``):

python -m perceiver.scripts.text.preproc wikitext --tokenizer=deepmind/language-perceiver --max_seq_len=4096 --task=clm
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    try:
        from perceiver.data import preproc
    except ImportError as e:
        sys.exit(f"preprocessing needs perceiver-data: pip install 'perceiver-lightning[data]' ({e})")
    preproc.main(argv)


if __name__ == "__main__":
    main()
