import io
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from perceiver.data.vision import (
    FramePairDataset,
    ImageNetDataModule,
    ImagePreprocessor,
    MNISTDataModule,
    OpticalFlowDataModule,
    extract_patches,
    flow_to_color,
    read_flo,
    read_idx,
    save_flow_image,
    write_flo,
)

pytest.importorskip("PIL")


def test_mnist_idx_files(data_dir):
    labels = read_idx(data_dir / "images/mnist/t10k-labels-idx1-ubyte.gz")
    images = read_idx(data_dir / "images/mnist/t10k-images-idx3-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_mnist_data_module_on_local_idx(data_dir):
    dm = MNISTDataModule(data_dir=str(data_dir / "images/mnist"), batch_size=16, num_workers=0, shuffle=False)
    dm.setup()
    assert len(dm.ds_train) == 9000 and len(dm.ds_valid) == 1000
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (16, 28, 28, 1) and batch["image"].dtype == torch.float32
    assert batch["label"].dtype == torch.long
    raw = read_idx(data_dir / "images/mnist/t10k-images-idx3-ubyte.gz")[0]
    torch.testing.assert_close(
        batch["image"][0, :, :, 0], (torch.from_numpy(raw).float() / 255 - 0.1307) / 0.3081
    )


def test_bad_idx_file(tmp_path):
    bad = tmp_path / "bad-images-idx3-ubyte"
    bad.write_bytes(b"\x00\x00\x08\x03" + (2).to_bytes(4, "big") * 3 + b"\x00" * 5)
    with pytest.raises(ValueError, match="bad-images-idx3-ubyte: IDX header declares"):
        read_idx(bad)


def test_image_preprocessor_resize_crop_normalize(data_dir):
    from PIL import Image

    path = data_dir / "images/photos/chelsea.png"
    x = ImagePreprocessor(size=256, crop_size=224)(path)
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32
    image = Image.open(path).convert("RGB")  # 451 x 300 -> 385 x 256
    resized = np.asarray(image.resize((385, 256), Image.BILINEAR), dtype=np.float32) / 255
    crop = resized[16:240, 80:304]
    expected = (crop - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    torch.testing.assert_close(x.permute(1, 2, 0), torch.from_numpy(expected).float(), atol=1e-5, rtol=0)
    assert ImagePreprocessor(crop_size=32, channels_last=True)(path).shape == (32, 32, 3)


def test_image_folder_and_undecodable_image(data_dir, tmp_path):
    photos = data_dir / "images/photos"
    for split in ("train", "val"):
        for cls, name in (("cat", "chelsea.png"), ("cup", "coffee.png"), ("rocket", "rocket.jpg")):
            (tmp_path / split / cls).mkdir(parents=True)
            shutil.copy(photos / name, tmp_path / split / cls / name)
    dm = ImageNetDataModule(str(tmp_path), image_size=64, batch_size=3, num_workers=0, shuffle=False)
    dm.setup()
    assert dm.num_classes == 3
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (3, 3, 64, 64) and batch["label"].tolist() == [0, 1, 2]
    (tmp_path / "train" / "cat" / "broken.png").write_bytes(b"\x89PNG not really")
    dm.setup()
    broken = next(i for i, p in enumerate(dm.ds_train.paths) if p.name == "broken.png")
    with pytest.raises(ValueError, match=r"broken\.png: cannot decode image"):
        dm.ds_train[broken]


def test_flo_round_trip_on_real_ground_truth(data_dir, tmp_path):
    path = data_dir / "optical-flow/middlebury-rubberwhale/flow10.flo"
    flow = read_flo(path)
    assert flow.shape == (388, 584, 2) and flow.dtype == np.float32
    valid = (np.abs(flow) < 1e9).all(-1)
    assert valid.mean() == pytest.approx(0.984, abs=0.001)
    assert flow[valid, 0].min() == pytest.approx(-4.58, abs=0.01) and flow[valid, 1].max() == pytest.approx(
        2.92, abs=0.01
    )
    write_flo(tmp_path / "copy.flo", flow)
    assert (tmp_path / "copy.flo").read_bytes() == path.read_bytes()
    (tmp_path / "bad.flo").write_bytes(b"NOPE" + bytes(8))
    with pytest.raises(ValueError, match=r"bad\.flo: not a \.flo file"):
        read_flo(tmp_path / "bad.flo")


def test_patches_match_transformers_space_to_depth_and_unfold():
    from transformers.models.perceiver.modeling_perceiver import space_to_depth

    torch.manual_seed(0)
    frames = torch.randn(2, 3, 5, 7)
    patches = extract_patches(frames)
    assert patches.shape == (2, 27, 5, 7)
    # each interior pixel: transformers' space_to_depth of its 3x3 neighbourhood, features (kh, kw, c)
    for i, j in [(1, 1), (2, 3), (3, 5)]:
        block = frames[:, :, i - 1 : i + 2, j - 1 : j + 2]
        expected = space_to_depth(block[None], temporal_block_size=1, spatial_block_size=3)[0, :, 0, 0, :]
        torch.testing.assert_close(patches[:, :, i, j], expected, rtol=0, atol=0)
    # "chw" order is F.unfold's
    unfolded = F.unfold(frames, 3, padding=1).view(2, 27, 5, 7)
    torch.testing.assert_close(extract_patches(frames, channel_order="chw"), unfolded, rtol=0, atol=0)
    # zero padding at the border: the top-left pixel's top-left neighbour is 0
    assert (patches[:, 0:3, 0, 0] == 0).all()


def test_middlebury_and_sintel_frame_pairs(data_dir, tmp_path):
    middlebury = FramePairDataset.middlebury(data_dir / "optical-flow/middlebury-rubberwhale")
    assert len(middlebury) == 1
    item = middlebury[0]
    assert item["patches"].shape == (2, 27, 388, 584)
    assert item["patches"].min() >= -1 and item["patches"].max() <= 1
    assert item["flow"].shape == (388, 584, 2) and item["valid"].float().mean() > 0.98
    # the centre feature (kh=1, kw=1) of each pixel is the pixel itself
    from PIL import Image

    frame = np.array(Image.open(data_dir / "optical-flow/middlebury-rubberwhale/frame10.png").convert("RGB"))
    centre = item["patches"][0, 12:15].permute(1, 2, 0)
    torch.testing.assert_close(centre, torch.from_numpy(frame).float() / 255 * 2 - 1)

    sintel = FramePairDataset.sintel(data_dir / "optical-flow/sintel-raft-demo")
    assert next((a.name, b.name, f) for a, b, f in sintel.pairs) == ("frame_0016.png", "frame_0017.png", None)
    assert len(sintel) == 3 and sintel[2]["patches"].shape == (2, 27, 436, 1024)


def test_optical_flow_data_module_on_middlebury(data_dir):
    """Batches are LitOpticalFlow's input; hyperparameters load with torch.load(weights_only=True)."""
    root = data_dir / "optical-flow/middlebury-rubberwhale"
    data = OpticalFlowDataModule(root=str(root), batch_size=1, num_workers=0)
    data.setup()
    batch = next(iter(data.train_dataloader()))
    assert set(batch) == {"patches", "flow", "valid"}
    assert batch["patches"].shape == (1, 2, 27, 388, 584) and batch["patches"].dtype == torch.float32
    assert batch["flow"].shape == (1, 388, 584, 2) and batch["flow"].dtype == torch.float32
    assert batch["valid"].shape == (1, 388, 584) and batch["valid"].dtype == torch.bool
    torch.testing.assert_close(batch["flow"][0], torch.from_numpy(read_flo(root / "flow10.flo")))
    valid = next(iter(data.val_dataloader()))
    torch.testing.assert_close(valid["patches"], batch["patches"])

    cropped = OpticalFlowDataModule(root=root, crop_shape=(64, 96))  # a path and a tuple: stored plain
    cropped.setup()
    item, centre = cropped.ds_valid[0], data.ds_valid[0]
    top, left = (388 - 64) // 2, (584 - 96) // 2
    torch.testing.assert_close(item["patches"], centre["patches"][..., top : top + 64, left : left + 96])
    torch.testing.assert_close(item["flow"], centre["flow"][top : top + 64, left : left + 96])
    assert cropped.ds_train[0]["patches"].shape == (2, 27, 64, 96)
    buffer = io.BytesIO()
    torch.save({"datamodule_hyper_parameters": dict(cropped.hparams)}, buffer)
    buffer.seek(0)
    hparams = torch.load(buffer, weights_only=True)["datamodule_hyper_parameters"]
    assert hparams["root"] == str(root) and hparams["crop_shape"] == [64, 96]


def test_optical_flow_data_module_batches_sequences_of_different_sizes(data_dir, tmp_path):
    """Middlebury's benchmark layout with two sequences of different sizes: crop_shape batches them."""
    from PIL import Image

    source = data_dir / "optical-flow/middlebury-rubberwhale"
    for name, (h, w) in (("RubberWhale", (388, 584)), ("Small", (120, 160))):
        frames, flows = tmp_path / "other-data" / name, tmp_path / "other-gt-flow" / name
        frames.mkdir(parents=True)
        flows.mkdir(parents=True)
        for frame in ("frame10.png", "frame11.png"):
            Image.open(source / frame).crop((0, 0, w, h)).save(frames / frame)
        write_flo(flows / "flow10.flo", read_flo(source / "flow10.flo")[:h, :w])

    with pytest.raises(ValueError, match=r"different sizes \(388x584 .*120x160 .*set crop_shape"):
        OpticalFlowDataModule(root=str(tmp_path), batch_size=2).setup()
    data = OpticalFlowDataModule(root=str(tmp_path), crop_shape=(64, 96), batch_size=2)
    data.setup()
    batch = next(iter(data.train_dataloader()))
    assert batch["patches"].shape == (2, 2, 27, 64, 96) and batch["flow"].shape == (2, 64, 96, 2)

    data = OpticalFlowDataModule(root=str(tmp_path), crop_shape=(128, 96))
    data.setup()
    message = r"Small/frame10.png: frames of 120x160 are smaller than crop_shape 128x96"
    with pytest.raises(ValueError, match=message):
        [item["flow"] for item in data.ds_valid]


def test_optical_flow_data_module_needs_ground_truth(data_dir, tmp_path):
    sintel = data_dir / "optical-flow/sintel-raft-demo"  # frames only
    with pytest.raises(ValueError, match="sintel-raft-demo: no frame pairs with ground-truth flow"):
        OpticalFlowDataModule(root=str(sintel), layout="sintel").setup()
    with pytest.raises(ValueError, match="not a directory"):
        OpticalFlowDataModule(root=str(tmp_path / "missing")).setup()
    with pytest.raises(ValueError, match="layout"):
        OpticalFlowDataModule(root=str(tmp_path), layout="kitti")


def test_flow_color_rendering(data_dir, tmp_path):
    from PIL import Image

    flow = read_flo(data_dir / "optical-flow/middlebury-rubberwhale/flow10.flo")
    color = flow_to_color(flow)
    assert color.shape == (388, 584, 3) and color.dtype == np.uint8
    unknown = (np.abs(flow) > 1e9).any(-1)
    assert (color[unknown] == 0).all() and (color[~unknown].sum(-1) > 0).all()
    # Middlebury convention: right (+u) red, left (-u) cyan, down (+v) yellow-orange, up (-v) blue-violet
    axes = flow_to_color(np.array([[[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]]], dtype=np.float32))
    right, left, down, up = axes[0].tolist()
    assert right[0] == 255 and right[1] == 0
    assert left == [0, 209, 255]
    assert down[0] == 255 and down[1] > 150 and down[2] == 0
    assert up[1] == 0 and up[2] == 255
    save_flow_image(tmp_path / "flow.png", flow)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "flow.png")), color)
