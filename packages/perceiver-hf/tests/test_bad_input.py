"""Catalogue of bad inputs, corrupt files and faults at perceiver-hf's public entry points: each
gets a clear error naming the argument or file, or a correct result where one is well defined."""

import functools
import http.server
import json
import math
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import PerceiverConfig

import perceiver.hf  # noqa: F401
from perceiver.hf._download import cached_download
from perceiver.hf.multimodal.autoencoder import (
    MultimodalAutoencodingPipeline,
    PerceiverMultimodalAutoencoder,
    PerceiverMultimodalAutoencoderConfig,
    convert_config,
)
from perceiver.hf.text import clm
from perceiver.hf.text.clm import PerceiverCausalLanguageModel, PerceiverCausalLanguageModelConfig
from perceiver.hf.tokenizer import load_tokenizer
from perceiver.model.core.validation import ArgumentTypeError
from perceiver.model.text.clm import CausalLanguageModel, CausalLanguageModelConfig

VOCAB = 262
T, S, SPF, K = 2, 8, 16, 7  # multimodal: frames, image size, audio samples per frame, classes


def clm_config(**kwargs) -> CausalLanguageModelConfig:
    return CausalLanguageModelConfig(
        **{
            "vocab_size": VOCAB,
            "max_seq_len": 32,
            "max_latents": 8,
            "num_channels": 32,
            "num_heads": 4,
            "num_self_attention_layers": 1,
            **kwargs,
        }
    )


@functools.cache
def clm_model() -> PerceiverCausalLanguageModel:
    torch.manual_seed(0)
    return PerceiverCausalLanguageModel(PerceiverCausalLanguageModelConfig(clm_config())).eval()


@functools.cache
def multimodal_pipeline() -> MultimodalAutoencodingPipeline:
    torch.manual_seed(0)
    source_config = PerceiverConfig(
        num_latents=8,
        d_latents=32,
        num_blocks=1,
        num_self_attends_per_block=1,
        num_self_attention_heads=4,
        num_cross_attention_heads=1,
        num_labels=K,
        image_size=S,
        num_frames=T,
        audio_samples_per_frame=SPF,
        samples_per_patch=4,
        output_shape=[1, T, S, S],
        output_num_channels=24,
        _label_trainable_num_channels=40,
    )
    config = PerceiverMultimodalAutoencoderConfig(convert_config(source_config))
    return MultimodalAutoencodingPipeline(model=PerceiverMultimodalAutoencoder(config).eval())


def symbolic_audio_prompt(ids):
    from perceiver.hf.audio.pipeline import SymbolicAudioGenerationPipeline

    return SymbolicAudioGenerationPipeline(model=clm_model()).preprocess(ids)


def ids_and_mask():
    ids = torch.randint(6, VOCAB, (2, 10), generator=torch.Generator().manual_seed(0))
    attention_mask = torch.ones_like(ids)
    attention_mask[1, :4] = 0  # left padding
    return ids.masked_fill(attention_mask == 0, 0), attention_mask


def generate(**kwargs):
    ids, attention_mask = ids_and_mask()
    kwargs = {"attention_mask": attention_mask, "max_new_tokens": 3, "pad_token_id": 0, **kwargs}
    return clm_model().generate(ids, **kwargs)


def forward(**kwargs):
    ids, _ = ids_and_mask()
    return clm_model()(ids, **kwargs)


def video(dtype=np.float32) -> np.ndarray:
    return (np.random.default_rng(0).random((T, 3, S, S)) * 255).astype(dtype)


def audio(*shape: int) -> np.ndarray:
    return np.random.default_rng(1).uniform(-1, 1, shape or (T * SPF,)).astype(np.float32)


RIGHT_PADDED = torch.tensor([[1] * 10, [1] * 6 + [0] * 4])
ALL_PADDING = torch.tensor([[1] * 10, [0] * 10])

# (case, call, exception, message)
CASES = [
    # forward(): nothing a caller passes is ignored
    ("forward misspelt argument", lambda: forward(attention_masks=torch.ones(2, 10)), TypeError,
     r"PerceiverCausalLanguageModel.forward got unexpected keyword arguments \['attention_masks'\]"),
    ("forward output_attentions", lambda: forward(output_attentions=True), ValueError,
     r"PerceiverCausalLanguageModel does not return attentions: output_attentions=True"),
    # generate()
    ("generate right padding", lambda: generate(attention_mask=RIGHT_PADDED), ValueError,
     r"attention_mask has padding after a token in prompt 1 \(right padding\).*pad prompts on the left"),
    ("generate right padding uncached", lambda: generate(attention_mask=RIGHT_PADDED, use_cache=False),
     ValueError, r"attention_mask has padding after a token in prompt 1"),
    ("generate all padding", lambda: generate(attention_mask=ALL_PADDING), ValueError,
     r"attention_mask marks every token of prompt 1 as padding"),
    ("generate inf temperature", lambda: generate(do_sample=True, temperature=math.inf), ValueError,
     r"temperature must be finite, got inf"),
    ("generate nan temperature", lambda: generate(do_sample=True, temperature=math.nan), ValueError,
     r"temperature must be finite, got nan"),
    ("generate float max_new_tokens", lambda: generate(max_new_tokens=2.5), ArgumentTypeError,
     r"max_new_tokens must be an int, got 2.5"),
    ("generate eos outside vocabulary", lambda: generate(eos_token_id=1000), ValueError,
     rf"eos_token_id \(1000\) is outside the vocabulary \[0, {VOCAB}\)"),
    ("generate pad outside vocabulary", lambda: generate(pad_token_id=1000), ValueError,
     rf"pad_token_id \(1000\) is outside the vocabulary \[0, {VOCAB}\)"),
    ("generate zero num_latents", lambda: generate(num_latents=0), ValueError,
     r"num_latents must be at least 1, got 0"),
    ("generate float num_latents", lambda: generate(num_latents=1.5), ArgumentTypeError,
     r"num_latents must be an int, got 1.5"),
    ("generate empty batch", lambda: clm_model().generate(torch.zeros(0, 4, dtype=torch.long), max_new_tokens=2,
     pad_token_id=0), ValueError, r"prompt holds no sequences"),
    ("generate prompt outside vocabulary", lambda: clm_model().generate(torch.full((1, 4), VOCAB),
     max_new_tokens=2, pad_token_id=0), ValueError, rf"token id {VOCAB}, outside the vocabulary"),
    # forward()
    ("forward zero num_latents", lambda: forward(num_latents=0), ValueError, r"num_latents must be at least 1, got 0"),
    ("forward float num_latents", lambda: forward(num_latents=2.5), ArgumentTypeError,
     r"num_latents must be an int, got 2.5"),
    ("forward labels shape", lambda: forward(labels=torch.zeros(2, 5, dtype=torch.long)), ValueError,
     r"labels has shape \(2, 5\), expected \(2, 10\)"),
    ("forward labels outside vocabulary", lambda: forward(labels=torch.full((2, 10), 1000)), ValueError,
     rf"labels holds 1000, outside the classes \[0, {VOCAB}\) \(or -100 = ignore\)"),
    ("forward float labels", lambda: forward(labels=torch.zeros(2, 10)), ValueError,
     r"labels must hold integer class indices, got dtype torch.float32"),
    ("forward empty batch", lambda: clm_model()(torch.zeros(0, 4, dtype=torch.long)), ValueError,
     r"input_ids holds no sequences"),
    # multimodal pipeline
    ("multimodal uint8 video", lambda: multimodal_pipeline()({"image": video(np.uint8), "audio": audio()}),
     ValueError, r"inputs\['image'\] must hold float pixels .* got dtype uint8; scale raw uint8 frames"),
    ("multimodal int16 audio",
     lambda: multimodal_pipeline()({"image": video(), "audio": (audio() * 32767).astype(np.int16)}),
     ValueError, r"inputs\['audio'\] must hold float samples in \[-1, 1\], got dtype int16"),
    ("multimodal channel-first audio", lambda: multimodal_pipeline()({"image": video(), "audio": audio(2, T * SPF)}),
     ValueError, rf"inputs\['audio'\] must have shape \({T * SPF},\) or \({T * SPF}, channels\), sample-major, "
     rf"got \(2, {T * SPF}\)"),
    ("multimodal float num_chunks", lambda: multimodal_pipeline()({"image": video(), "audio": audio()}, num_chunks=1.5),
     ArgumentTypeError, r"num_chunks must be an int, got 1.5"),
    # loading
    ("tokenizer name None", lambda: load_tokenizer(None), TypeError,
     r"name_or_path must be a Hub id or a local directory, got None"),
    ("checkpoint url None", lambda: clm.convert_checkpoint("out", None, tokenizer_name=None), TypeError,
     r"ckpt_url must be a path or an http\(s\) URL, got None"),
    ("checkpoint url scheme", lambda: clm.convert_checkpoint("out", "ftp://host/last.ckpt", tokenizer_name=None),
     ValueError, r"ckpt_url ftp://host/last.ckpt is neither a local path nor an http\(s\) URL"),
    ("checkpoint is a directory", lambda: clm.convert_checkpoint("out", Path(__file__).parent, tokenizer_name=None),
     IsADirectoryError, r"checkpoint .*tests is a directory, not a checkpoint file"),
    ("audio prompt float ids", lambda: symbolic_audio_prompt([1, 2.5]), ValueError,
     r"a MIDI prompt given as event ids must hold ints, got 2.5"),
    ("multimodal zero top_k", lambda: multimodal_pipeline()({"image": video(), "audio": audio()}, top_k=0),
     ValueError, r"top_k must be at least 1, got 0"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_a_named_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_stereo_audio_is_averaged_to_mono():
    pipe = multimodal_pipeline()
    left, right = audio(), audio()[::-1].copy()
    stereo = pipe({"image": video(), "audio": np.stack([left, right], axis=1)})
    mono = pipe({"image": video(), "audio": (left + right) / 2})
    np.testing.assert_allclose(stereo["audio"], mono["audio"], rtol=0, atol=0)
    np.testing.assert_allclose(stereo["image"], mono["image"], rtol=0, atol=0)
    single = pipe({"image": video(), "audio": left[:, None]})
    np.testing.assert_allclose(
        single["audio"], pipe({"image": video(), "audio": left})["audio"], rtol=0, atol=0
    )


def test_uint8_pixel_values_are_refused_by_the_image_classifier():
    from perceiver.hf.vision.image_classifier import PerceiverImageClassifier, PerceiverImageClassifierConfig
    from perceiver.model.core import ClassificationDecoderConfig
    from perceiver.model.vision.image_classifier import ImageClassifierConfig, ImageEncoderConfig

    config = ImageClassifierConfig(
        encoder=ImageEncoderConfig(
            image_shape=(3, 8, 8),
            num_frequency_bands=4,
            num_cross_attention_heads=1,
            num_self_attention_heads=2,
            num_self_attention_layers_per_block=1,
        ),
        decoder=ClassificationDecoderConfig(
            num_classes=3, num_output_query_channels=16, num_cross_attention_heads=1
        ),
        num_latents=4,
        num_latent_channels=16,
    )
    model = PerceiverImageClassifier(PerceiverImageClassifierConfig(config)).eval()
    with pytest.raises(
        ValueError, match=r"pixel_values|x must be a floating-point tensor of normalized pixels"
    ):
        model(torch.randint(0, 255, (1, 3, 8, 8), dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"labels holds 3, outside the classes \[0, 3\)"):
        model(torch.rand(1, 3, 8, 8), labels=torch.tensor([3]))


# ---- configs from files -------------------------------------------------------------------------


def test_a_config_json_with_a_wrong_type_names_the_field(tmp_path):
    PerceiverCausalLanguageModelConfig(clm_config()).save_pretrained(tmp_path)
    data = json.loads((tmp_path / "config.json").read_text())
    data["backend_config"]["num_heads"] = "4"
    (tmp_path / "config.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"CausalLanguageModelConfig.num_heads must be an int, got '4'"):
        PerceiverCausalLanguageModelConfig.from_pretrained(tmp_path)


# ---- checkpoints: corrupt files and the URL cache ---------------------------------------------


def write_checkpoint(path: Path, seed: int, **hparams) -> CausalLanguageModel:
    torch.manual_seed(seed)
    config = clm_config()
    backend = CausalLanguageModel(config).eval()
    torch.save(
        {
            "perceiver_task": "text.clm",
            "hyper_parameters": config.to_dict() | hparams,
            "state_dict": {f"backend_model.{k}": v for k, v in backend.state_dict().items()},
        },
        path,
    )
    return backend


def test_a_checkpoint_with_a_wrong_hyperparameter_type_names_file_and_field(tmp_path):
    write_checkpoint(tmp_path / "last.ckpt", 0, num_heads="4")
    with pytest.raises(
        ValueError, match=r"last.ckpt: invalid hyper_parameters: .*num_heads must be an int, got '4'"
    ):
        clm.convert_checkpoint(tmp_path / "out", tmp_path / "last.ckpt", tokenizer_name=None)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (lambda data: b"", r"checkpoint .*broken\.ckpt'? is empty \(0 bytes\)"),
        (
            lambda data: data[: len(data) // 2],
            r"checkpoint .*broken\.ckpt'? \(\d+ bytes\) cannot be read: it is truncated",
        ),
        (lambda data: data[:40], r"checkpoint .*broken\.ckpt'? \(40 bytes\) cannot be read"),
        (lambda data: b"not a checkpoint at all", r"broken\.ckpt'? \(23 bytes\) cannot be read"),
    ],
    ids=["zero bytes", "truncated", "truncated header", "not a checkpoint"],
)
def test_corrupt_checkpoint_files_are_named(tmp_path, content, message):
    write_checkpoint(tmp_path / "last.ckpt", 0)
    (tmp_path / "broken.ckpt").write_bytes(content((tmp_path / "last.ckpt").read_bytes()))
    with pytest.raises(ValueError, match=message):
        clm.convert_checkpoint(tmp_path / "out", tmp_path / "broken.ckpt", tokenizer_name=None)


class _Server:
    """A local HTTP server over a folder; ``short`` paths announce more bytes than they send."""

    def __init__(self, root: Path) -> None:
        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path.startswith("/short/"):
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(b"x" * 10)
                    return
                super().do_GET()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path):
    (tmp_path / "www").mkdir()
    server = _Server(tmp_path / "www")
    yield server
    server.close()


@pytest.fixture
def hub_dir(tmp_path):
    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield tmp_path / "hub"
    torch.hub.set_dir(previous)


def converted_logits(save_dir: Path, url: str) -> torch.Tensor:
    model = clm.convert_checkpoint(save_dir, url, tokenizer_name=None)
    return model(torch.arange(1, 21)[None], prefix_len=12).logits


def backend_logits(backend: CausalLanguageModel) -> torch.Tensor:
    return backend(torch.arange(1, 21)[None], prefix_len=12)


def test_urls_with_the_same_file_name_get_their_own_weights(tmp_path, server, hub_dir):
    www = tmp_path / "www"
    for name in ("a", "b"):
        (www / name).mkdir()
    backend_a = write_checkpoint(www / "a" / "last.ckpt", 1)
    backend_b = write_checkpoint(www / "b" / "last.ckpt", 2)
    with torch.no_grad():
        logits_a = converted_logits(tmp_path / "out-a", server.url("a/last.ckpt"))
        logits_b = converted_logits(tmp_path / "out-b", server.url("b/last.ckpt"))
        torch.testing.assert_close(logits_a, backend_logits(backend_a), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(logits_b, backend_logits(backend_b), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(logits_a, logits_b)


def test_a_changed_or_damaged_download_is_fetched_again_and_a_cached_one_serves_offline(
    tmp_path, server, hub_dir
):
    www = tmp_path / "www"
    url = server.url("last.ckpt")
    write_checkpoint(www / "last.ckpt", 1)
    first = cached_download(url)
    # same size, new content and modification time: the server's Last-Modified changes
    changed = write_checkpoint(www / "last.ckpt", 2)
    os.utime(www / "last.ckpt", (1_000_000_000, 1_000_000_000))
    with torch.no_grad():
        torch.testing.assert_close(
            converted_logits(tmp_path / "out", url), backend_logits(changed), rtol=1e-5, atol=1e-5
        )
    # a damaged cached file (same size) fails its hash and is downloaded again
    data = bytearray(first.read_bytes())
    data[100] ^= 0xFF
    first.write_bytes(bytes(data))
    assert cached_download(url).read_bytes() == (www / "last.ckpt").read_bytes()
    # with the server gone, the validated cached copy is used
    server.close()
    assert cached_download(url).read_bytes() == (www / "last.ckpt").read_bytes()


def test_an_incomplete_download_is_an_error_naming_the_url_and_leaves_nothing_behind(server, hub_dir):
    url = server.url("short/last.ckpt")
    with pytest.raises(
        OSError, match=r"download of http://127\.0\.0\.1:\d+/short/last\.ckpt (is incomplete|failed)"
    ):
        cached_download(url)
    assert not [p for p in hub_dir.rglob("*") if p.is_file()]
