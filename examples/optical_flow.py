"""Optical flow: train on the Middlebury RubberWhale pair with configs/vision/optical_flow.yaml,
convert the checkpoint to a 🤗 model, estimate and render the flow of a frame pair with
``pipeline("optical-flow")``.

    python examples/optical_flow.py                          # the config as it is
    python examples/optical_flow.py --trainer.max_steps=20   # a short run
"""

from __future__ import annotations

from pathlib import Path

from _train import parse_args, train


def main() -> None:
    args, training_args = parse_args(__doc__.split("\n")[0])
    checkpoint = train("vision/optical_flow", args, training_args)

    import numpy as np
    from PIL import Image
    from transformers import pipeline

    import perceiver.hf  # noqa: F401  (registers the models with the Auto classes and pipelines)
    from perceiver.hf.vision.optical_flow import convert_checkpoint

    save_dir = Path(args.output_dir) / "optical-flow-model"
    convert_checkpoint(save_dir=save_dir, ckpt_url=checkpoint)
    frames = Path(args.data_dir) / "optical-flow" / "middlebury-rubberwhale"
    frame1, frame2 = (
        np.asarray(Image.open(path).convert("RGB")) for path in sorted(frames.glob("frame1*.png"))
    )
    estimate = pipeline("optical-flow", model=str(save_dir))
    result = estimate([(frame1, frame2)], render=True)[0]
    print(
        "flow", result["flow"].shape, "mean magnitude", float(np.linalg.norm(result["flow"], axis=-1).mean())
    )
    result["image"].save(Path(args.output_dir) / "optical-flow.png")
    print("rendered flow written to", Path(args.output_dir) / "optical-flow.png")


if __name__ == "__main__":
    main()
