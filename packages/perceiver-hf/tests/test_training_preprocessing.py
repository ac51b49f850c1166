"""A converted checkpoint carries what training used: class names, the tokenizer (special tokens,
padding side, model_max_length) and the image processor (channels, size, mean/std)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoConfig, AutoImageProcessor, AutoTokenizer, pipeline

import perceiver.hf  # noqa: F401
from perceiver.hf.text import classifier, clm
from perceiver.hf.tokenizer import PerceiverBytesTokenizer
from perceiver.hf.vision import image_classifier
from perceiver.hf.vision.image_processor import PerceiverImageClassifierProcessor, training_image_processor
from perceiver.model.core import ClassificationDecoderConfig
from perceiver.model.text.classifier import TextClassifier, TextClassifierConfig
from perceiver.model.text.clm import CausalLanguageModel, CausalLanguageModelConfig
from perceiver.model.text.mlm import TextEncoderConfig
from perceiver.model.vision.image_classifier import ImageClassifier, ImageClassifierConfig, ImageEncoderConfig

MNIST = {"_class_path": "perceiver.data.vision.MNISTDataModule", "normalize": True, "channels_last": True}


def _text_classifier(num_classes=3, max_seq_len=24):
    config = TextClassifierConfig(
        encoder=TextEncoderConfig(
            vocab_size=262,
            max_seq_len=max_seq_len,
            num_input_channels=16,
            num_cross_attention_heads=2,
            num_self_attention_heads=2,
            num_self_attention_layers_per_block=1,
        ),
        decoder=ClassificationDecoderConfig(
            num_classes=num_classes, num_output_query_channels=16, num_cross_attention_heads=1
        ),
        num_latents=4,
        num_latent_channels=16,
    )
    return config, TextClassifier(config).eval()


def _mnist_classifier():
    config = ImageClassifierConfig(
        encoder=ImageEncoderConfig(
            image_shape=(1, 28, 28),
            num_frequency_bands=3,
            num_cross_attention_heads=1,
            num_self_attention_heads=2,
            num_self_attention_layers_per_block=1,
        ),
        decoder=ClassificationDecoderConfig(num_classes=10, num_output_query_channels=8),
        num_latents=4,
        num_latent_channels=8,
    )
    return config, ImageClassifier(config).eval()


def _checkpoint(tmp_path, task, config, backend, data_hparams):
    torch.save(
        {
            "perceiver_task": task,
            "hyper_parameters": config.to_dict(),
            "state_dict": {f"backend_model.{k}": v for k, v in backend.state_dict().items()},
            **({} if data_hparams is None else {"datamodule_hyper_parameters": data_hparams}),
        },
        tmp_path / "last.ckpt",
    )
    return tmp_path / "last.ckpt"


@pytest.mark.parametrize(
    "data_hparams, names",
    [
        ({"class_names": ["a", "b", "c"], "tokenizer": "deepmind/language-perceiver"}, ["a", "b", "c"]),
        (None, ["LABEL_0", "LABEL_1", "LABEL_2"]),
    ],
)
def test_text_classifier_labels_and_tokenizer(tmp_path, data_hparams, names):
    config, backend = _text_classifier()
    ckpt = _checkpoint(tmp_path, "text.classifier", config, backend, data_hparams)
    classifier.convert_checkpoint(tmp_path / "model", ckpt)
    hf_config = AutoConfig.from_pretrained(tmp_path / "model")
    assert hf_config.num_labels == 3
    assert hf_config.id2label == dict(enumerate(names))
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "model")
    assert type(tokenizer) is PerceiverBytesTokenizer
    assert (tokenizer.model_max_length, tokenizer.padding_side) == (24, "right")
    assert tokenizer("ab")["input_ids"] == [ord("a") + 6, ord("b") + 6]  # no [CLS], [SEP]

    # the pipeline's labels and probabilities are the model's on the raw text, tokenized as in training
    scores = pipeline("text-classification", model=str(tmp_path / "model"), top_k=None)(["hello world"])[0]
    with torch.no_grad():
        probs = backend(torch.tensor([[ord(c) + 6 for c in "hello world"]])).softmax(-1)[0]
    found = {s["label"]: s["score"] for s in scores}
    torch.testing.assert_close(torch.tensor([found[n] for n in names]), probs, atol=1e-6, rtol=1e-5)


def test_class_names_argument_and_mismatch(tmp_path):
    config, backend = _text_classifier()
    ckpt = _checkpoint(tmp_path, "text.classifier", config, backend, {"class_names": ["a", "b"]})
    with pytest.raises(ValueError, match=r"class_names has 2 names, but the model has 3 classes"):
        classifier.convert_checkpoint(tmp_path / "model", ckpt)
    classifier.convert_checkpoint(tmp_path / "model", ckpt, class_names=["x", "y", "z"])
    assert AutoConfig.from_pretrained(tmp_path / "model").id2label == {0: "x", 1: "y", 2: "z"}
    with pytest.raises(ValueError, match=r"repeats names \['x'\]"):
        classifier.convert_checkpoint(tmp_path / "model", ckpt, class_names=["x", "x", "z"])


def test_class_label_names_of_the_training_data_become_id2label(tmp_path):
    """A data module of a 🤗 dataset whose label column is a ClassLabel records its names, and the
    converted checkpoint's id2label carries them (as the pipeline's labels)."""
    datasets = pytest.importorskip("datasets")
    from perceiver.data.text import TextDataModule

    names = ["negative", "neutral", "positive"]
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names)}
    )
    rows = {"text": [f"review {i}" for i in range(9)], "label": [i % 3 for i in range(9)]}
    data = TextDataModule(
        tokenizer="deepmind/language-perceiver",
        task="clf",
        max_seq_len=24,
        train_files=datasets.Dataset.from_dict(rows, features=features),
        dataset_dir=str(tmp_path / "cache"),
    )
    config, backend = _text_classifier(num_classes=data.num_classes)
    # Lightning stores the data module's hyperparameters with the checkpoint
    ckpt = _checkpoint(tmp_path, "text.classifier", config, backend, dict(data.hparams))
    classifier.convert_checkpoint(tmp_path / "model", ckpt)
    hf_config = AutoConfig.from_pretrained(tmp_path / "model")
    assert hf_config.id2label == dict(enumerate(names))
    assert hf_config.label2id == {name: i for i, name in enumerate(names)}
    scores = pipeline("text-classification", model=str(tmp_path / "model"), top_k=None)(["review 3"])[0]
    assert {s["label"] for s in scores} == set(names)


def test_imdb_class_names_come_from_its_data_module(tmp_path):
    config, backend = _text_classifier(num_classes=2)
    data = {"_class_path": "perceiver.data.text.ImdbDataModule", "tokenizer": "deepmind/language-perceiver"}
    classifier.convert_checkpoint(
        tmp_path / "model", _checkpoint(tmp_path, "text.classifier", config, backend, data)
    )
    assert AutoConfig.from_pretrained(tmp_path / "model").id2label == {0: "neg", 1: "pos"}


def test_a_class_path_outside_perceiver_data_is_not_imported(tmp_path):
    config, backend = _text_classifier(num_classes=2)
    data = {"_class_path": "os.system"}
    classifier.convert_checkpoint(
        tmp_path / "model", _checkpoint(tmp_path, "text.classifier", config, backend, data)
    )
    assert AutoConfig.from_pretrained(tmp_path / "model").id2label == {0: "LABEL_0", 1: "LABEL_1"}


@pytest.mark.parametrize("padding_side, expected", [(None, "left"), ("right", "right")])
def test_causal_lm_tokenizer_pads_as_in_training(tmp_path, padding_side, expected):
    config = CausalLanguageModelConfig(
        vocab_size=262,
        max_seq_len=16,
        max_latents=4,
        num_channels=16,
        num_heads=2,
        num_self_attention_layers=1,
    )
    backend = CausalLanguageModel(config)
    data = {
        "tokenizer": "deepmind/language-perceiver",
        "padding_side": padding_side,
        "add_special_tokens": False,
    }
    clm.convert_checkpoint(tmp_path / "model", _checkpoint(tmp_path, "text.clm", config, backend, data))
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "model")
    assert (tokenizer.model_max_length, tokenizer.padding_side, tokenizer.truncation_side) == (
        16,
        expected,
        "left",
    )
    assert tokenizer("x" * 40, truncation=True)["input_ids"] == [ord("x") + 6] * 16
    assert tokenizer(["ab", "a"], padding=True)["attention_mask"][1] == (
        [0, 1] if expected == "left" else [1, 0]
    )


def test_special_tokens_are_kept_where_training_added_them(tmp_path):
    config, backend = _text_classifier()
    data = {"tokenizer": "deepmind/language-perceiver", "add_special_tokens": True}
    classifier.convert_checkpoint(
        tmp_path / "model", _checkpoint(tmp_path, "text.classifier", config, backend, data)
    )
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "model")
    assert tokenizer("a")["input_ids"] == [tokenizer.cls_token_id, ord("a") + 6, tokenizer.sep_token_id]


def test_bytes_tokenizer_refuses_a_non_bool():
    with pytest.raises(TypeError, match="add_cls_sep"):
        PerceiverBytesTokenizer(add_cls_sep="no")


def test_mnist_checkpoint_saves_a_one_channel_processor_and_digit_labels(tmp_path):
    config, backend = _mnist_classifier()
    image_classifier.convert_checkpoint(
        tmp_path / "model", _checkpoint(tmp_path, "vision.image_classifier", config, backend, MNIST)
    )
    processor = AutoImageProcessor.from_pretrained(tmp_path / "model")
    assert type(processor) is PerceiverImageClassifierProcessor
    assert (processor.num_channels, processor.image_size) == (1, [28, 28])
    assert AutoConfig.from_pretrained(tmp_path / "model").id2label == {i: str(i) for i in range(10)}

    # the processor is the training's preprocessing: MNIST's data module on the same raw images
    from perceiver.data.vision.mnist import ArrayImageDataset

    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    dataset = ArrayImageDataset(images, np.zeros(3, dtype=np.int64))
    expected = torch.stack([dataset[i]["image"] for i in range(3)]).permute(0, 3, 1, 2)
    rgb = [Image.fromarray(image).convert("RGB") for image in images]  # what pipelines hand over
    torch.testing.assert_close(
        processor(rgb, return_tensors="pt")["pixel_values"], expected, atol=1e-6, rtol=0
    )
    scores = pipeline("image-classification", model=str(tmp_path / "model"), top_k=10)(rgb)
    with torch.no_grad():
        probs = backend(expected).softmax(-1)
    for found, p in zip(scores, probs):
        by_label = {s["label"]: s["score"] for s in found}
        torch.testing.assert_close(
            torch.tensor([by_label[str(d)] for d in range(10)]), p, atol=1e-6, rtol=1e-5
        )


def test_image_processor_refuses_wrong_sizes_and_unknown_arguments():
    processor = training_image_processor((1, 28, 28), MNIST, "ckpt")
    with pytest.raises(ValueError, match=r"the model takes 28x28 images, this one is 32x30"):
        processor(np.zeros((32, 30), dtype=np.uint8))
    with pytest.raises(TypeError, match="unexpected arguments"):
        processor(np.zeros((28, 28), dtype=np.uint8), do_resize=True)
    with pytest.raises(TypeError, match="unexpected arguments"):
        PerceiverImageClassifierProcessor(num_channel=1)
    with pytest.raises(ValueError, match=r"image_shape \(3, 28, 28\)"):
        training_image_processor((3, 28, 28), MNIST, "ckpt")


def test_image_processor_of_an_unknown_data_module_is_required(tmp_path):
    config, backend = _mnist_classifier()
    ckpt = _checkpoint(tmp_path, "vision.image_classifier", config, backend, {"_class_path": "my.Data"})
    with pytest.raises(ValueError, match=r"data module my.Data, whose image preprocessing is not known"):
        image_classifier.convert_checkpoint(tmp_path / "model", ckpt)
    processor = PerceiverImageClassifierProcessor(num_channels=1, image_size=(28, 28))
    image_classifier.convert_checkpoint(tmp_path / "model", ckpt, image_processor=processor)
    assert json.loads((tmp_path / "model" / "preprocessor_config.json").read_text())["image_mean"] is None


def test_imagenet_processor_resizes_crops_and_normalizes_as_training():
    from perceiver.data.vision.imagenet import ImageNetDataModule

    hparams = {
        "_class_path": "perceiver.data.vision.ImageNetDataModule",
        "image_size": 32,
        "crop_fraction": 0.875,
    }
    processor = training_image_processor((3, 32, 32), hparams, "ckpt")
    image = np.random.default_rng(1).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    expected = ImageNetDataModule(data_dir=".", image_size=32).image_preprocessor()(image)
    torch.testing.assert_close(
        processor(Image.fromarray(image))["pixel_values"][0], expected, atol=1e-6, rtol=0
    )


def test_a_tokenizers_backed_tokenizer_is_saved_without_special_tokens(tmp_path):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    from perceiver.hf.tokenizer import training_tokenizer

    vocab = {"[PAD]": 0, "[CLS]": 1, "[UNK]": 2, "a": 3, "b": 4}
    backend = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = Whitespace()
    backend.post_processor = TemplateProcessing(single="[CLS] $A", special_tokens=[("[CLS]", 1)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="[PAD]", cls_token="[CLS]", unk_token="[UNK]"
    )
    assert fast("a b")["input_ids"] == [1, 3, 4]
    fast.save_pretrained(tmp_path / "trained-with")

    tokenizer = training_tokenizer(str(tmp_path / "trained-with"), {}, max_seq_len=16, causal=True)
    tokenizer.save_pretrained(tmp_path / "saved")
    reloaded = AutoTokenizer.from_pretrained(tmp_path / "saved")
    assert reloaded("a b")["input_ids"] == [3, 4]
    assert (reloaded.model_max_length, reloaded.padding_side, reloaded.truncation_side) == (
        16,
        "left",
        "left",
    )
