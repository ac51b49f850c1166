"""Journey: train an optical-flow Perceiver IO on a Middlebury frame pair with the LightningCLI
script, convert the checkpoint, and estimate the flow between the raw frames with
``pipeline("optical-flow")`` in a fresh process: the commands and code of
docs/journeys/optical-flow.md, with a tiny model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from journeys.helpers import run_fresh, run_page_python, train_as_page

PAGE = "optical-flow.md"

IMAGE_SHAPE = "[64,96]"  # the page's (64 x 96 tiles: 56 for a 388 x 584 frame pair)
OVERLAP = 16  # the page's
FRAMES = ("frame10.png", "frame11.png")

MODEL_ARGS = [
    f"--data.crop_shape={IMAGE_SHAPE}",
    f"--model.encoder.image_shape={IMAGE_SHAPE}",
    "--model.encoder.num_patch_hidden_channels=16",
    "--model.encoder.num_frequency_bands=4",
    "--model.encoder.num_self_attention_heads=2",
    "--model.encoder.num_self_attention_layers_per_block=1",
    "--model.num_latents=16",
    "--model.num_latent_channels=32",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("optical-flow")
    (root / "data" / "optical-flow").mkdir(parents=True)
    frames = data_dir / "optical-flow" / "middlebury-rubberwhale"
    (root / "data" / "optical-flow" / "middlebury-rubberwhale").symlink_to(frames)  # the page's folder
    ckpt = train_as_page(PAGE, ["--data.num_workers=0", *MODEL_ARGS], root)
    return root, ckpt, frames


def test_optical_flow_journey(trained):
    from PIL import Image

    from perceiver.data.vision import FramePairDataset, preprocess_frame_pair
    from perceiver.lightning.vision.optical_flow import LitOpticalFlow

    root, ckpt, frames = trained
    printed = run_page_python(PAGE, root)
    pipeline_line, auto_line = printed[1].splitlines()  # the page's predictions
    assert pipeline_line.startswith("(388, 584, 2) EPE ") and auto_line == "(1, 64, 96, 2)"
    assert (root / "flow.png").is_file()
    save_dir = root / "flow-model"

    # raw input: the centre 128 x 192 pixels of the frames as uint8 arrays (9 tiles of the model's
    # size; the page estimated the flow of the whole frames)
    crop = "[130:258, 196:388]"
    outputs = run_fresh(
        f"""
import json
import numpy as np
from PIL import Image
import perceiver.hf
from transformers import pipeline

estimator = pipeline("optical-flow", model={str(save_dir)!r})
pair = tuple(np.asarray(Image.open(path).convert("RGB")){crop} for path in {[str(frames / "frame10.png"), str(frames / "frame11.png")]!r})
np.save("flow.npy", estimator(pair, overlap={OVERLAP}))
np.save("patches.npy", estimator.preprocess(pair)["inputs"].numpy())
print(json.dumps({{"flow": "flow.npy", "patches": "patches.npy"}}))
""",
        root,
    )

    # the pipeline prepares the raw frames exactly as the training data module does: its frame
    # pairs are preprocess_frame_pair's
    paths = [frames / name for name in FRAMES]
    training_item = FramePairDataset.middlebury(frames)[0]["patches"]  # (2, 27, 388, 584)
    torch.testing.assert_close(training_item, preprocess_frame_pair(*paths), atol=0.0, rtol=0.0)
    pair = [np.asarray(Image.open(path).convert("RGB"))[130:258, 196:388] for path in paths]
    training_pair = preprocess_frame_pair(*pair)  # (2, 27, 128, 192)
    torch.testing.assert_close(
        torch.from_numpy(np.load(root / outputs["patches"]))[0], training_pair, atol=0.0, rtol=0.0
    )

    # the Lightning model on the same raw frames, preprocessed as in training, in tiles of its size
    lit = LitOpticalFlow.load_from_checkpoint(ckpt, map_location="cpu").eval()
    with torch.no_grad():
        expected = lit.backend_model.forward_tiled(training_pair[None], overlap=OVERLAP)[0]  # (h, w, 2)
    flow = torch.from_numpy(np.load(root / outputs["flow"]))
    assert flow.shape == (128, 192, 2)
    # another process computes the same float32 operations: agreement to float32 rounding
    torch.testing.assert_close(flow, expected, atol=1e-5, rtol=1e-4)
