"""Loss curve of the quick-start training run (``examples/train_clm.py``, run by ``nox -s main``).

    nox -s main -- --output_dir .cache/train_clm     # train; TensorBoard logs in .cache/train_clm/logs
    python docs/figures/loss_curve.py .cache/train_clm/logs --machine "2 shared CPU cores"

Needs matplotlib and tensorboard (``pip install matplotlib tensorboard``). Reads the scalars
``train_loss`` and ``val_loss`` of the newest ``version_*`` folder and plots them against the
training step and against wall time since the first logged step; writes
``docs/figures/loss-curve.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

OUT = Path(__file__).resolve().parent / "loss-curve.png"
TAGS = ("train_loss", "val_loss")
Points = list[tuple[float, int, float]]  # (wall time, step, value) of one scalar


def read_scalars(log_dir: Path, tags: tuple[str, ...] = TAGS) -> tuple[float, dict[str, Points]]:
    """The first wall time the newest TensorBoard run under ``log_dir`` logged, and (wall time,
    step, value) of each of its ``tags``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    runs = sorted(log_dir.glob("version_*"), key=lambda p: int(p.name.split("_")[-1]))
    run = runs[-1] if runs else log_dir
    if not any(run.glob("events.out.tfevents.*")):
        raise SystemExit(f"no TensorBoard event files in {run}")
    events = EventAccumulator(str(run), size_guidance={"scalars": 0})  # 0: keep every point
    events.Reload()
    found = events.Tags()["scalars"]
    missing = [tag for tag in tags if tag not in found]
    if missing:
        raise SystemExit(f"{run} has no scalars {missing} (it has {sorted(found)})")
    start = min(events.Scalars(tag)[0].wall_time for tag in found)  # the first logged step
    return start, {tag: [(e.wall_time, e.step, e.value) for e in events.Scalars(tag)] for tag in tags}


def draw_losses(
    by_step, by_time, start: float, train: Points, val: Points, *, seconds_per_unit: float, machine: str
) -> None:
    """Training loss (a thin line) and validation loss (dots) on two matplotlib axes: against
    the step and against the wall time since ``start`` (in units of ``seconds_per_unit`` seconds:
    60 for minutes)."""
    unit = "minutes" if seconds_per_unit == 60 else "seconds"
    for axis, x_of, label in (
        (by_step, lambda t, s: s, "training step"),
        (by_time, lambda t, s: (t - start) / seconds_per_unit, f"wall time ({unit}, {machine})"),
    ):
        axis.plot(
            [x_of(t, s) for t, s, _ in train],
            [v for _, _, v in train],
            color="tab:blue",
            alpha=0.45,
            lw=1,
            label="training loss",
        )
        axis.plot(
            [x_of(t, s) for t, s, _ in val],
            [v for _, _, v in val],
            "o-",
            color="tab:orange",
            label="validation loss",
        )
        axis.set_xlabel(label)
        axis.grid(alpha=0.3)


def loss_figure(start: float, scalars: dict[str, Points], *, seconds_per_unit: float, machine: str):
    """A figure of two axes, against the step and against the wall time, with the training and
    validation losses drawn (:func:`draw_losses`); returns ``(figure, by_step, by_time)``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_step, by_time) = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    draw_losses(
        by_step,
        by_time,
        start,
        scalars["train_loss"],
        scalars["val_loss"],
        seconds_per_unit=seconds_per_unit,
        machine=machine,
    )
    return fig, by_step, by_time


def plot(scalars: dict[str, Points], out: Path, machine: str, max_steps: int | None) -> None:
    import matplotlib.pyplot as plt

    start = min(t for points in scalars.values() for t, _, _ in points)
    fig, by_step, _ = loss_figure(start, scalars, seconds_per_unit=60, machine=machine)
    by_step.set_ylabel("cross-entropy (nats per byte)")
    if max_steps:
        by_step.set_xlim(0, max_steps)
    by_step.legend()
    done = 1 + max(s for points in scalars.values() for _, s, _ in points)  # steps count from 0
    steps = f"{done} of {max_steps} steps" if max_steps and done < max_steps else f"{done} steps"
    fig.suptitle(f"Perceiver AR on CPython's documentation topics, UTF-8 bytes ({steps})", fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("log_dir", type=Path, help="the run's TensorBoard folder (OUTPUT_DIR/logs)")
    parser.add_argument(
        "--machine", default="2 shared CPU cores", help="where the run was made, for the axis label"
    )
    parser.add_argument(
        "--max_steps", type=int, default=1000, help="the run's --max_steps (default: the script's)"
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    _, scalars = read_scalars(args.log_dir)
    plot(scalars, args.out, args.machine, args.max_steps)
    val = scalars["val_loss"]
    print(
        f"{args.out}: {len(scalars['train_loss'])} training and {len(val)} validation points; last {val[-1][2]:.3f} at step {val[-1][1]}"
        if val
        else args.out
    )


if __name__ == "__main__":
    main()
