"""Architecture figures of Perceiver IO and Perceiver AR as SVG, with the standard library only.

    python docs/figures/architecture.py          # writes docs/figures/perceiver-io.svg, perceiver-ar.svg

The figures follow perceiver-core's implementation (``perceiver.model.core.perceiver_io`` and
``perceiver.model.core.perceiver_ar``): block names, argument names and shapes are the code's.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from xml.sax.saxutils import escape

OUT_DIR = Path(__file__).resolve().parent

FONT = "font-family='Helvetica, Arial, sans-serif'"
INK = "#222"
MUTED = "#666"
# fills by role: data, learned arrays, attention, other modules
DATA, LEARNED, ATTENTION, MODULE = "#f4f4f4", "#fde9c9", "#d7e8fb", "#e3f3df"


class Svg:
    """A small SVG canvas: boxes with centred multi-line text, arrows, labels."""

    def __init__(self, width: int, height: int, title: str) -> None:
        self.width, self.height = width, height
        self.items = [f"<title>{escape(title)}</title>"]

    def box(
        self, x: float, y: float, w: float, h: float, lines: list[str], fill: str, dashed: bool = False
    ) -> None:
        dash = " stroke-dasharray='5 3'" if dashed else ""
        self.items.append(
            f"<rect x='{x}' y='{y}' width='{w}' height='{h}' rx='6' fill='{fill}' stroke='{INK}'{dash}/>"
        )
        top = y + h / 2 - 8 * (len(lines) - 1)
        for i, line in enumerate(lines):
            first = i == 0
            self.text(
                x + w / 2, top + 16 * i + 5, line, size=14 if first else 12, bold=first, muted=not first
            )

    def group(self, x: float, y: float, w: float, h: float, label: str) -> None:
        """A dashed frame around several boxes, labelled at its bottom left."""
        self.items.append(
            f"<rect x='{x}' y='{y}' width='{w}' height='{h}' rx='10' fill='none' stroke='{MUTED}' "
            "stroke-dasharray='6 4'/>"
        )
        self.text(x + 10, y + h - 8, label, size=13, anchor="start", muted=True, italic=True)

    def arrow(
        self, points: list[tuple[float, float]], label: str = "", dashed: bool = False, at: int = 0
    ) -> None:
        """A polyline with an arrow head at its last point; ``label`` sits above segment ``at``."""
        dash = " stroke-dasharray='5 3'" if dashed else ""
        path = " ".join(f"{x},{y}" for x, y in points)
        self.items.append(
            f"<polyline points='{path}' fill='none' stroke='{INK}' stroke-width='1.5'{dash} marker-end='url(#head)'/>"
        )
        if label:
            (x0, y0), (x1, y1) = points[at], points[at + 1]
            if y0 == y1:  # horizontal: above the middle
                self.text((x0 + x1) / 2, y0 - 7, label, size=12, muted=True)
            else:  # vertical: right of the middle
                self.text(x0 + 6, (y0 + y1) / 2 + 4, label, size=12, anchor="start", muted=True)

    def text(
        self,
        x: float,
        y: float,
        s: str,
        size: int = 12,
        anchor: str = "middle",
        bold: bool = False,
        muted: bool = False,
        italic: bool = False,
    ) -> None:
        style = (" font-weight='bold'" if bold else "") + (" font-style='italic'" if italic else "")
        self.items.append(
            f"<text x='{x}' y='{y}' font-size='{size}' text-anchor='{anchor}' fill='{MUTED if muted else INK}'"
            f"{style}>{escape(s)}</text>"
        )

    def cell(self, x: float, y: float, size: float, fill: str) -> None:
        self.items.append(
            f"<rect x='{x}' y='{y}' width='{size}' height='{size}' fill='{fill}' stroke='#fff' stroke-width='1'/>"
        )

    def render(self) -> str:
        head = (
            "<defs><marker id='head' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='7' markerHeight='7' "
            f"orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' fill='{INK}'/></marker></defs>"
        )
        return (
            f"<svg xmlns='http://www.w3.org/2000/svg' width='{self.width}' height='{self.height}' "
            f"viewBox='0 0 {self.width} {self.height}' {FONT}>\n"
            f"<rect width='100%' height='100%' fill='#fff'/>\n{head}\n" + "\n".join(self.items) + "\n</svg>\n"
        )


def perceiver_io() -> str:
    """PerceiverIO = PerceiverEncoder + PerceiverDecoder."""
    s = Svg(1080, 400, "Perceiver IO in perceiver-core")
    y, h = 200, 64  # main row
    mid = y + h / 2
    s.group(103, 50, 570, 335, "PerceiverEncoder")
    s.group(792, 50, 156, 335, "PerceiverDecoder")

    s.text(60, mid - 24, "task input", size=13, bold=True)
    s.text(60, mid - 9, "(tokens, image, …)", size=11, muted=True)
    s.arrow([(10, mid), (115, mid)])
    s.box(115, y, 130, h, ["input adapter", "InputAdapter"], MODULE)
    s.arrow([(245, mid), (350, mid)])
    s.text(310, mid + 18, "(b, m, c_in)", size=11, muted=True)
    s.text(342, mid - 7, "K, V", size=12, anchor="end", muted=True)
    s.box(350, y, 130, h, ["cross-attention", "latents → input"], ATTENTION)
    s.text(415, y + h + 18, "pad_mask hides padded inputs", size=11, muted=True)
    s.box(350, 70, 130, h, ["latent array", "learned", "(n_lat, c_lat)"], LEARNED)
    s.arrow([(415, 70 + h), (415, y)], "Q")
    s.arrow([(480, mid), (510, mid)])
    s.box(510, y, 150, h, ["self-attention", "× layers_per_block"], ATTENTION)
    # repeated blocks (the original Perceiver): a cross-attention starts the first repeats
    s.arrow([(585, y), (585, 165), (445, 165), (445, y)], dashed=True)
    s.text(660, 158, "× num_self_attention_blocks", size=11, anchor="end", muted=True)
    s.text(
        388, 330, "a cross-attention starts the first num_cross_attention_layers repeats", size=11, muted=True
    )
    s.text(388, 346, "(Perceiver IO, the default: one cross-attention, one block)", size=11, muted=True)

    s.arrow([(660, mid), (805, mid)])
    s.text(730, mid + 18, "(b, n_lat, c_lat)", size=11, muted=True)
    s.text(790, mid - 7, "K, V", size=12, anchor="end", muted=True)
    s.box(805, y, 130, h, ["cross-attention", "queries → latents"], ATTENTION)
    s.box(805, 70, 130, h, ["output queries", "QueryProvider", "(b|1, n, c_q)"], LEARNED)
    s.arrow([(855, 70 + h), (855, y)], "Q")
    # the query provider sees the adapted input (e.g. one query per input position)
    s.arrow([(265, mid), (265, 34), (905, 34), (905, 70)], dashed=True)
    s.text(585, 28, "adapted input (a query provider may use it)", size=11, muted=True)

    s.arrow([(870, y + h), (870, 290)])
    s.box(805, 290, 130, 56, ["output adapter", "OutputAdapter"], MODULE)
    s.arrow([(935, 318), (985, 318)])
    s.text(1030, 322, "task output", size=13, bold=True)
    return s.render()


def perceiver_ar() -> str:
    """CausalSequenceModel = TokenInputAdapter + PerceiverAR + tied output projection."""
    s = Svg(1100, 470, "Perceiver AR in perceiver-core")
    left, width = 30, 360
    centre = left + width / 2

    # tokens: prefix and latent positions
    num_prefix, num_latents = 8, 4
    cell, ty = 30, 410
    for i in range(num_prefix + num_latents):
        fill = "#cfcfcf" if i < num_prefix else "#f7b267"
        s.items.append(
            f"<rect x='{left + i * cell}' y='{ty}' width='{cell - 4}' height='{cell - 4}' rx='3' "
            f"fill='{fill}' stroke='{INK}' stroke-width='0.6'/>"
        )
    s.text(left - 8, ty + 18, "x", size=13, anchor="end", bold=True)
    s.text(left + num_prefix * cell / 2, ty + 46, "prefix (prefix_len tokens)", size=12, muted=True)
    s.text(
        left + num_prefix * cell, ty + 46, "latents (the last l tokens)", size=12, anchor="start", muted=True
    )

    s.box(
        left, 290, width, 60, ["token embedding", "TokenInputAdapter (+ learned absolute positions)"], MODULE
    )
    s.arrow([(centre, ty - 2), (centre, 350)])
    s.text(
        centre + 8,
        385,
        "training: prefix dropout keeps a random (1 - cross_attention_dropout) of the prefix",
        size=11,
        anchor="start",
        muted=True,
    )

    s.box(
        left,
        150,
        width,
        70,
        [
            "causal cross-attention",
            "queries: latents; keys, values: prefix + latents",
            "rotary position embedding on q and k",
        ],
        ATTENTION,
    )
    s.arrow([(110, 290), (110, 220)], "K, V (b, n, c)")
    s.arrow([(310, 290), (310, 220)], "Q (b, l, c)")

    # the cross-attention mask: l query rows, n key columns; latent i sees keys up to prefix_len + i
    mx, my, mc = 440, 180, 16
    s.text(mx, 150, "cross-attention mask, aligned bottom right", size=12, anchor="start", bold=True)
    s.text(mx, 166, "rows: latent queries; columns: keys; blue: attends", size=11, anchor="start", muted=True)
    for r in range(num_latents):
        for c in range(num_prefix + num_latents):
            s.cell(mx + c * mc, my + r * mc, mc, "#4a7fc1" if c <= num_prefix + r else "#e8e8e8")
    s.text(
        mx + (num_prefix + num_latents) * mc + 10,
        my + num_latents * mc - 4,
        "latent t sees tokens ≤ t",
        size=11,
        anchor="start",
        muted=True,
    )
    s.arrow([(left + width, 200), (mx - 8, 200)], dashed=True)

    s.box(
        left,
        30,
        width,
        64,
        [
            "causal self-attention",
            "over the latents, × num_self_attention_layers",
            "rotary in the first num_self_attention_rotary_layers",
        ],
        ATTENTION,
    )
    s.arrow([(centre, 150), (centre, 94)], "(b, l, c)")
    s.text(mx, 86, "is_causal: latent t sees latents ≤ t", size=11, anchor="start", muted=True)
    s.text(
        mx,
        102,
        "abs_pos_emb=True: rotary on half of each head's channels",
        size=11,
        anchor="start",
        muted=True,
    )

    s.box(
        790,
        30,
        300,
        64,
        [
            "tied output projection",
            "LayerNorm if output_norm, then",
            "embedding weightᵀ (+ bias if output_bias)",
        ],
        MODULE,
    )
    s.arrow([(left + width, 62), (790, 62)], "(b, l, c)")
    s.arrow([(890, 94), (890, 124)])
    s.text(890, 140, "logits (b, l, vocab):", size=12, muted=True)
    s.text(890, 156, "the next token at each latent", size=12, muted=True)
    s.arrow([(left + width, 320), (1060, 320), (1060, 94)], "the same embedding weights", dashed=True)
    return s.render()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out_dir", type=Path, default=OUT_DIR)
    args = parser.parse_args()
    for name, svg in (("perceiver-io.svg", perceiver_io()), ("perceiver-ar.svg", perceiver_ar())):
        path = args.out_dir / name
        path.write_text(svg, encoding="utf-8")
        print(path)


if __name__ == "__main__":
    main()
