"""Journey: train a multimodal (video, audio, label) Perceiver IO autoencoder on clips with the
LightningCLI script, convert the checkpoint, and reconstruct a raw clip with
``pipeline("multimodal-autoencoding")`` in a fresh process: the commands and code of
docs/journeys/multimodal-autoencoder.md, with a tiny model. The example data holds no video: the
clips are written here (noise frames of another size than the model's, tones of another sample
count), in perceiver-data's clip format."""

from __future__ import annotations

import ast

import numpy as np
import pytest
import torch
from configs_support import write_clips
from journeys.helpers import run_fresh, run_page_python, train_as_page

PAGE = "multimodal-autoencoder.md"

# the page's data settings: 4 frames of 3 x 32 x 32, 64 audio samples per frame, 5 classes
NUM_FRAMES, HEIGHT, WIDTH, SAMPLES_PER_FRAME, NUM_CLASSES = 4, 32, 32, 64, 5

MODEL_ARGS = [
    "--data.batch_size=2",
    "--data.num_workers=0",
    "--model.num_latents=8",
    "--model.num_latent_channels=16",
    "--model.encoder.num_self_attention_heads=2",
    "--model.encoder.num_self_attention_layers_per_block=1",
    "--model.encoder.image_num_frequency_bands=2",
    "--model.encoder.audio_num_frequency_bands=2",
    "--model.decoder.num_output_channels=16",
    "--model.decoder.num_label_query_channels=16",
    "--model.num_image_output_points=64",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("multimodal")
    # 6 frames of 40 x 48 and 1.5 times the audio samples the model takes: cut, resized, resampled
    write_clips(
        root / "data" / "clips",
        num_frames=NUM_FRAMES + 2,
        height=40,
        width=48,
        audio_samples=(NUM_FRAMES + 2) * SAMPLES_PER_FRAME * 3 // 2,
        num_classes=NUM_CLASSES,
    )
    ckpt = train_as_page(PAGE, MODEL_ARGS, root)
    return root, ckpt


def test_multimodal_autoencoder_journey(trained):
    from perceiver.data.multimodal import MultimodalDataModule
    from perceiver.lightning.multimodal.autoencoder import LitMultimodalAutoencoder
    from perceiver.model.core.checkpoint import load_checkpoint

    root, ckpt = trained
    printed = run_page_python(PAGE, root)
    # the page's reconstruction of a raw clip, and the Auto class's output shapes
    pipeline_line, auto_line = printed[1].splitlines()
    assert pipeline_line.startswith(
        f"({NUM_FRAMES}, {HEIGHT}, {WIDTH}, 3) ({NUM_FRAMES * SAMPLES_PER_FRAME},) "
    )
    assert ast.literal_eval(auto_line) == {
        "image": (1, NUM_FRAMES * HEIGHT * WIDTH, 3),
        "audio": (1, NUM_FRAMES * SAMPLES_PER_FRAME),
        "label": (1, NUM_CLASSES),
    }
    save_dir = root / "multimodal-model"
    clip = sorted((root / "data" / "clips" / "valid").glob("*.npz"))[1]

    outputs = run_fresh(
        f"""
import json
import perceiver.hf
from transformers import AutoConfig, pipeline

autoencoder = pipeline("multimodal-autoencoding", model={str(save_dir)!r})
result = autoencoder({str(clip)!r}, num_chunks=2, top_k={NUM_CLASSES})
print(json.dumps({{
    "image": result["image"].tolist(),
    "audio": result["audio"].tolist(),
    "label": result["label"].tolist(),
    "labels": result["labels"],
    "id2label": AutoConfig.from_pretrained({str(save_dir)!r}).id2label,
}}))
""",
        root,
    )
    assert outputs["id2label"] == {str(i): f"LABEL_{i}" for i in range(NUM_CLASSES)}

    # the Lightning model on the same raw clip, prepared by the training data module (its
    # validation clips: the centre window and crop)
    data_hparams = load_checkpoint(ckpt)["datamodule_hyper_parameters"]
    data_args = {k: v for k, v in data_hparams.items() if not k.startswith("_")}
    data = MultimodalDataModule(**(data_args | {"data_dir": str(root / data_args["data_dir"])}))
    data.setup("validate")
    index = data.ds_valid.files.index(clip)
    batch = {k: v[None] for k, v in data.ds_valid[index].items()}  # a batch of one
    lit = LitMultimodalAutoencoder.load_from_checkpoint(ckpt, map_location="cpu").eval()
    with torch.no_grad():
        expected = lit.predict_step(batch, 0)

    # another process computes the same float32 operations (the video in 2 chunks of output
    # queries): agreement to float32 rounding
    tolerance = {"atol": 1e-5, "rtol": 1e-4}
    image = torch.tensor(np.asarray(outputs["image"], dtype=np.float32))  # (t, h, w, c)
    torch.testing.assert_close(image.reshape(1, -1, 3), expected["image"], **tolerance)
    audio = torch.tensor(np.asarray(outputs["audio"], dtype=np.float32))
    torch.testing.assert_close(audio[None], expected["audio"], **tolerance)
    label = torch.tensor(np.asarray(outputs["label"], dtype=np.float32))
    torch.testing.assert_close(label[None], expected["label"], **tolerance)
    best = int(expected["label"][0].argmax())
    assert outputs["labels"][0]["label"] == f"LABEL_{best}"
