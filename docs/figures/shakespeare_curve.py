"""Learning curve of the Tiny Shakespeare recipe (``configs/text/shakespeare.yaml``).

    python -m perceiver.scripts.text.clm fit --config=configs/text/shakespeare.yaml \
      --trainer.logger=TensorBoardLogger --trainer.logger.save_dir=logs
    python docs/figures/shakespeare_curve.py logs/lightning_logs --machine "2 CPU cores"

Needs matplotlib and tensorboard (``pip install matplotlib tensorboard``). Reads the scalars
``train_loss`` and ``val_loss`` of the newest ``version_*`` folder (or of the folder given) and
plots them against the training step and against wall time since the run's first logged scalar;
prints the final validation loss (nats per byte), the wall time it took and the first validation
at or below ``--target``; writes ``docs/figures/shakespeare-curve.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from loss_curve import Points, loss_figure, read_scalars  # the script next to this one

OUT = Path(__file__).resolve().parent / "shakespeare-curve.png"
TAGS = ("train_loss", "val_loss")
ANCHOR = 1.88  # nanoGPT's character-level Tiny Shakespeare model on a CPU, after about 3 minutes


def first_at_or_below(points: Points, target: float) -> tuple[float, int, float] | None:
    """The first (wall time, step, value) whose value is at or below ``target``."""
    return next((point for point in points if point[2] <= target), None)


def plot(start: float, scalars: dict[str, Points], out: Path, machine: str, target: float) -> None:
    fig, by_step, by_time = loss_figure(start, scalars, seconds_per_unit=1, machine=machine)
    for axis in (by_step, by_time):
        axis.axhline(ANCHOR, color="tab:gray", lw=0.8, ls="--", label=f"nanoGPT on a CPU ({ANCHOR})")
        axis.axhline(target, color="tab:green", lw=0.8, ls=":", label=f"target ({target})")
    by_step.set_ylabel("cross-entropy (nats per byte)")
    by_step.set_ylim(1.3, 3.5)
    by_step.legend(loc="upper right")
    fig.suptitle("Perceiver AR on Tiny Shakespeare, UTF-8 bytes (configs/text/shakespeare.yaml)", fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log_dir", type=Path, help="the run's TensorBoard folder (logs/lightning_logs)")
    parser.add_argument("--machine", default="2 CPU cores", help="where it ran, for the time axis")
    parser.add_argument("--target", type=float, default=1.80, help="the validation loss to reach")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    start, scalars = read_scalars(args.log_dir, TAGS)
    val = scalars["val_loss"]
    end = max(t for points in scalars.values() for t, _, _ in points)
    print(
        f"final validation loss {val[-1][2]:.4f} nats/byte at step {val[-1][1]}, "
        f"{val[-1][0] - start:.0f} s after the first logged step ({end - start:.0f} s to the last scalar)"
    )
    reached = first_at_or_below(val, args.target)
    if reached is None:
        print(f"validation loss never reached {args.target}")
    else:
        print(f"validation loss {args.target} first reached at step {reached[1]}, {reached[0] - start:.0f} s")
    plot(start, scalars, args.out, args.machine, args.target)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
