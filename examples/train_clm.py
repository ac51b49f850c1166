"""Train a small Perceiver AR language model on CPU in a few minutes, then generate text.

    python examples/train_clm.py                 # CPython's documentation topics, offline
    python examples/train_clm.py --wikitext      # WikiText-103 from the 🤗 Hub (needs network)

The corpus is CPython's own documentation topics (``pydoc_data.topics``, shipped with every
Python), written to local text files and served by perceiver-data's ``TextDataModule``, with
the UTF-8 bytes tokenizer ``deepmind/language-perceiver`` (resolved offline). The model is a
``LitCausalLanguageModel`` trained by the Lightning ``Trainer``; TensorBoard logs and
checkpoints go to ``--output_dir``. At the end, text generated from ``--prompt`` is printed.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import TQDMProgressBar
from pytorch_lightning.loggers import TensorBoardLogger

from perceiver.data.text import Task, TextDataModule, WikiTextDataModule
from perceiver.lightning.callbacks import FinalStateCheckpoint
from perceiver.lightning.text.clm import CausalLanguageModelConfig, LitCausalLanguageModel
from perceiver.scripts.lrs import CosineWithWarmupLR


def write_pydoc_corpus(directory: Path) -> tuple[Path, Path]:
    """CPython's documentation topics as train/valid text files (every 10th topic is validation)."""
    from pydoc_data.topics import topics

    directory.mkdir(parents=True, exist_ok=True)
    train, valid = directory / "pydoc-train.txt", directory / "pydoc-valid.txt"
    names = sorted(topics)
    texts = [_prose(topics[n]) for n in names]
    train_text = "\n\n".join(t for i, t in enumerate(texts) if i % 10 != 5)
    valid_text = "\n\n".join(t for i, t in enumerate(texts) if i % 10 == 5)
    for path, text in ((train, train_text), (valid, valid_text)):
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    return train, valid


def _prose(text: str) -> str:
    """Drop the topics' ASCII tables, heading underlines and grammar rules (``::=`` up to the next
    blank line): their long runs of aligning spaces teach a tiny model to print runs of spaces."""
    keep = []
    in_grammar = False
    for line in text.splitlines():
        stripped = line.strip()
        in_grammar = (in_grammar and bool(stripped)) or "::=" in line
        if in_grammar or stripped[:1] in ("|", "+") or (stripped and set(stripped) <= set("*=-+")):
            continue
        keep.append(line)
    return "\n".join(keep)


class LitModel(LitCausalLanguageModel):
    """The wrapper with an optimizer: AdamW and a cosine schedule with warmup."""

    def __init__(self, *args, lr: float = 3e-3, warmup_steps: int = 30, training_steps: int = 400, **kwargs):
        super().__init__(*args, **kwargs)
        self.lr, self.warmup_steps, self.training_steps = lr, warmup_steps, training_steps

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=0.01)
        scheduler = CosineWithWarmupLR(optimizer, self.training_steps, self.warmup_steps, min_fraction=0.1)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output_dir", default=".cache/train_clm", help="data cache, logs and checkpoints")
    parser.add_argument("--wikitext", action="store_true", help="train on WikiText-103 (downloads it)")
    parser.add_argument("--max_steps", type=int, default=1000)
    parser.add_argument("--max_seq_len", type=int, default=128)
    parser.add_argument(
        "--max_latents",
        type=int,
        default=128,
        help="latent positions; as many as --max_seq_len trains every position to start a generation",
    )
    parser.add_argument("--num_channels", type=int, default=128)
    parser.add_argument("--num_layers", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument(
        "--val_every", type=int, default=100, help="validate (and log a sample) every n steps"
    )
    parser.add_argument("--prompt", default='The "for" statement is used to ')
    parser.add_argument("--num_tokens", type=int, default=300, help="tokens to generate at the end")
    parser.add_argument(
        "--temperature", type=float, default=0.6, help="sampling temperature of the generated text"
    )
    parser.add_argument("--top_k", type=int, default=10, help="sample from the k most likely tokens")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    start = time.perf_counter()
    pl.seed_everything(args.seed)
    output_dir = Path(args.output_dir)

    data_kwargs = dict(
        tokenizer="deepmind/language-perceiver",
        max_seq_len=args.max_seq_len,
        task=Task.clm,
        padding_side="left",
        random_train_shift=True,
        batch_size=args.batch_size,
        num_workers=0,
        dataset_dir=str(output_dir / "data"),
    )
    if args.wikitext:
        data = WikiTextDataModule(**data_kwargs)
    else:
        train_file, valid_file = write_pydoc_corpus(output_dir / "corpus")
        data = TextDataModule(train_files=str(train_file), valid_files=str(valid_file), **data_kwargs)

    config = CausalLanguageModelConfig(
        vocab_size=data.vocab_size,
        max_seq_len=data.max_seq_len,
        max_latents=args.max_latents,
        num_channels=args.num_channels,
        num_heads=4,
        num_self_attention_layers=args.num_layers,
        self_attention_widening_factor=4,
        cross_attention_widening_factor=4,
        cross_attention_dropout=0.1,
    )
    lit_model = LitModel.create(
        config,
        lr=args.lr,
        training_steps=args.max_steps,
        validation_sample_prompt=args.prompt,
        validation_sample_num_tokens=64,
    )
    num_params = sum(p.numel() for p in lit_model.parameters())
    print(
        f"Perceiver AR with {num_params / 1e6:.2f}M parameters; corpus: {'WikiText-103' if args.wikitext else 'pydoc topics'}"
    )

    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=args.max_steps,
        val_check_interval=args.val_every,
        check_val_every_n_epoch=None,
        limit_val_batches=4,
        num_sanity_val_steps=0,
        gradient_clip_val=1.0,
        logger=TensorBoardLogger(save_dir=str(output_dir), name="logs"),
        callbacks=[
            FinalStateCheckpoint(save_last=True, every_n_train_steps=args.val_every),
            TQDMProgressBar(refresh_rate=10),  # also readable when the output is not a terminal
        ],
        log_every_n_steps=10,
    )
    trainer.fit(lit_model, datamodule=data)
    train_time = time.perf_counter() - start
    print(
        f"validation loss {trainer.callback_metrics.get('val_loss', float('nan')):.3f}, "
        f"bits per byte {trainer.callback_metrics.get('val_bpb', float('nan')):.3f}"
    )

    # generate from the prompt with the trained core model
    model = lit_model.model.eval()
    prompt_ids = data.tokenizer([args.prompt], add_special_tokens=False, return_tensors="pt")["input_ids"]
    generator = torch.Generator().manual_seed(args.seed)
    generated = model.generate(
        prompt=prompt_ids,
        num_tokens=args.num_tokens,
        num_latents=min(prompt_ids.shape[1], args.max_latents),
        top_k=args.top_k,
        temperature=args.temperature,
        generator=generator,
    )
    text = data.tokenizer.decode(generated[0], skip_special_tokens=True)
    print(f"\ntrained in {train_time:.0f} s; checkpoint: {trainer.checkpoint_callback.last_model_path}")
    print("\n=== generated text ===")
    print(text)
    print("======================")


if __name__ == "__main__":
    main()
