"""Learning curve of the MNIST recipe (``configs/vision/image_classifier.yaml``).

    python -m perceiver.scripts.vision.image_classifier fit --config=configs/vision/image_classifier.yaml
    python docs/figures/mnist_curve.py logs/lightning_logs --machine "2 CPU cores"

Needs matplotlib and tensorboard (``pip install matplotlib tensorboard``). Reads the scalars
``train_loss``, ``val_loss`` and ``val_acc`` of the newest ``version_*`` folder (or of the folder given) and plots
them against the training step and against wall time since the run's first logged scalar; prints
the first step at which validation accuracy reaches ``--target``; writes
``docs/figures/mnist-curve.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from loss_curve import Points, loss_figure, read_scalars  # the script next to this one

OUT = Path(__file__).resolve().parent / "mnist-curve.png"
TAGS = ("train_loss", "val_loss", "val_acc")


def first_step_at(points: Points, target: float) -> tuple[int, float] | None:
    """(step, wall time) of the first point whose value reaches ``target``."""
    return next(((step, t) for t, step, value in points if value >= target), None)


def plot(start: float, scalars: dict[str, Points], out: Path, machine: str, target: float) -> None:
    acc = scalars["val_acc"]
    fig, by_step, by_time = loss_figure(start, scalars, seconds_per_unit=60, machine=machine)
    for axis, x_of in ((by_step, lambda t, s: s), (by_time, lambda t, s: (t - start) / 60)):
        twin = axis.twinx()
        twin.plot(
            [x_of(t, s) for t, s, _ in acc],
            [v for _, _, v in acc],
            "s--",
            color="tab:green",
            label="validation accuracy",
        )
        twin.axhline(target, color="tab:green", lw=0.8, alpha=0.5)
        twin.set_ylim(0.0, 1.0)
        if axis is by_time:
            twin.set_ylabel("validation accuracy")
        else:
            twin.set_yticklabels([])
    by_step.set_ylabel("loss (nats)")
    by_step.set_yscale("log")
    handles = [*by_step.lines[:2], fig.axes[2].lines[0]]
    by_step.legend(handles, [h.get_label() for h in handles], loc="lower left")
    fig.suptitle("Perceiver IO on MNIST (configs/vision/image_classifier.yaml)")
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log_dir", type=Path, help="the run's TensorBoard folder (logs/lightning_logs)")
    parser.add_argument("--machine", default="2 CPU cores", help="where it ran, for the time axis")
    parser.add_argument("--target", type=float, default=0.97, help="the validation accuracy to reach")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    start, scalars = read_scalars(args.log_dir, TAGS)
    reached = first_step_at(scalars["val_acc"], args.target)
    final = scalars["val_acc"][-1]
    print(f"final validation accuracy {final[2]:.4f} at step {final[1]}")
    if reached is None:
        print(f"validation accuracy never reached {args.target}")
    else:
        print(
            f"validation accuracy {args.target} first reached at step {reached[0]}, "
            f"{(reached[1] - start) / 60:.1f} minutes after the first logged step"
        )
    plot(start, scalars, args.out, args.machine, args.target)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
