"""Picture of optical flow in the Middlebury colour coding that the optical-flow pipeline renders.

    python docs/figures/flow_colors.py [DATA_DIR]     # writes docs/figures/flow-colors.png

Needs perceiver-data and pillow (``pip install -e "packages/perceiver-data[vision]"``). DATA_DIR
holds the Middlebury RubberWhale frames and ground-truth flow (``frame10.png``, ``flow10.flo``,
from the Middlebury optical-flow benchmark, Baker et al. 2011); default:
``$PERCEIVER_DATA_DIR/optical-flow/middlebury-rubberwhale``. The flow is coloured by
``perceiver.data.vision.optical_flow.flow_to_color``, the function behind the pipeline's
``render=True``: hue is the direction, saturation the magnitude, black is unknown flow.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from perceiver.data.vision.optical_flow import flow_to_color, read_flo

OUT = Path(__file__).resolve().parent / "flow-colors.png"
MARGIN, CAPTION = 12, 30


def color_key(size: int) -> np.ndarray:
    """The colour coding itself: flow pointing from the centre to each pixel, (size, size, 3)."""
    r = np.linspace(-1.0, 1.0, size)
    u, v = np.meshgrid(r, r)  # u to the right, v down, as image coordinates
    flow = np.stack([u, v], axis=-1)
    key = flow_to_color(flow, max_flow=1.0)
    key[np.hypot(u, v) > 1.0] = 255  # white outside the unit circle
    return key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default_dir = (
        Path(os.environ.get("PERCEIVER_DATA_DIR", "data")) / "optical-flow" / "middlebury-rubberwhale"
    )
    parser.add_argument("data_dir", nargs="?", type=Path, default=default_dir)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    frame_path, flow_path = args.data_dir / "frame10.png", args.data_dir / "flow10.flo"
    for path in (frame_path, flow_path):
        if not path.is_file():
            raise SystemExit(f"{path} does not exist: pass the folder with frame10.png and flow10.flo")

    with Image.open(frame_path) as image:
        frame = image.convert("RGB")
    flow = read_flo(flow_path)  # (h, w, 2); unknown pixels > 1e9 render black
    if flow.shape[:2] != (frame.height, frame.width):
        raise SystemExit(f"{flow_path} has shape {flow.shape[:2]}, the frame {(frame.height, frame.width)}")
    colors = Image.fromarray(flow_to_color(flow))
    key_size = frame.height * 3 // 5
    key = Image.fromarray(color_key(key_size))

    w, h = frame.width, frame.height
    canvas = Image.new("RGB", (3 * MARGIN + 2 * w + MARGIN + key_size, h + 2 * MARGIN + CAPTION), "white")
    canvas.paste(frame, (MARGIN, MARGIN))
    canvas.paste(colors, (2 * MARGIN + w, MARGIN))
    canvas.paste(key, (3 * MARGIN + 2 * w + MARGIN // 2, MARGIN + (h - key_size) // 2))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=15)
    y = MARGIN + h + 6
    draw.text((MARGIN, y), "frame 10 of RubberWhale (Middlebury)", fill="black", font=font)
    draw.text(
        (2 * MARGIN + w, y), "its ground-truth flow to frame 11 (black: unknown)", fill="black", font=font
    )
    draw.text(
        (3 * MARGIN + 2 * w, MARGIN + (h + key_size) // 2 + 6), "direction and size", fill="black", font=font
    )
    # a dithered palette image: the picture stays small enough for the docs (< 300 KB)
    canvas.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.FLOYDSTEINBERG).save(
        args.out, optimize=True
    )
    print(f"{args.out}: {args.out.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
