"""Catalogue of bad inputs at perceiver-core's public entry points: each gets a clear error that
names the argument and its value, or a correct result where one is well defined."""

import functools
import math
import sys
from pathlib import Path

import pytest
import torch

from perceiver.model.core import (
    CausalSequenceModel,
    CrossAttentionLayer,
    EncoderConfig,
    FourierPositionEncoding,
    IncrementalDecoder,
    KVCache,
    MultiHeadAttention,
    PerceiverARConfig,
    SelfAttentionBlock,
    TrainablePositionEncoding,
    sample_next_token,
)
from perceiver.model.core.validation import ArgumentTypeError
from perceiver.model.multimodal.autoencoder import MultimodalAutoencoder
from perceiver.model.text.clm import CausalLanguageModel, CausalLanguageModelConfig
from perceiver.model.text.mlm import MaskedLanguageModel
from perceiver.model.vision.image_classifier import ImageClassifier, ImageEncoderConfig
from perceiver.model.vision.optical_flow import OpticalFlow, extract_patches

sys.path.insert(0, str(Path(__file__).parent))
from test_multimodal_autoencoder import make_inputs
from test_multimodal_autoencoder import tiny_config as multimodal_config
from test_text_models import mlm_config
from test_vision_image_classifier import tiny_config as image_config
from test_vision_optical_flow import tiny_config as flow_config

VOCAB = 300


@functools.cache
def clm() -> CausalLanguageModel:
    torch.manual_seed(0)
    config = CausalLanguageModelConfig(
        vocab_size=VOCAB,
        max_seq_len=16,
        max_latents=8,
        num_channels=16,
        num_heads=2,
        num_self_attention_layers=1,
        cross_attention_dropout=0.0,
    )
    return CausalLanguageModel(config).eval()


@functools.cache
def image_model() -> ImageClassifier:
    torch.manual_seed(0)
    return ImageClassifier(image_config("fourier")).eval()


@functools.cache
def flow_model() -> OpticalFlow:
    torch.manual_seed(0)
    return OpticalFlow(flow_config()).eval()


@functools.cache
def multimodal_model() -> MultimodalAutoencoder:
    torch.manual_seed(0)
    return MultimodalAutoencoder(multimodal_config()).eval()


def prompt() -> torch.Tensor:
    return torch.randint(1, VOCAB, (2, 5), generator=torch.Generator().manual_seed(0))


def generate(**kwargs):
    return clm().generate(kwargs.pop("prompt", prompt()), **{"num_tokens": 2, **kwargs})


def image(dtype=torch.float32, batch: int = 2) -> torch.Tensor:
    shape = image_model().config.encoder.image_shape
    return (torch.rand(batch, *shape) * 255).to(dtype)


def attention() -> MultiHeadAttention:
    return MultiHeadAttention(num_heads=2, num_q_input_channels=8, num_kv_input_channels=6)


def decoder_step(tokens: torch.Tensor) -> torch.Tensor:
    decoder = IncrementalDecoder(clm(), num_latents=1, max_new_tokens=4)
    decoder.start(prompt())
    return decoder.step(tokens)


RIGHT_PADDED = torch.tensor([[False, False, False, True, True], [False] * 5])
ALL_PADDING = torch.tensor([[True] * 5, [False] * 5])

# (case, call, exception, message)
CASES = [
    # configs: one type check in ConfigBase, for every field of every config
    ("config str int", lambda: PerceiverARConfig(num_heads="8"), ArgumentTypeError,
     r"PerceiverARConfig.num_heads must be an int, got '8' \(str\)"),
    ("config float int", lambda: CausalLanguageModelConfig(vocab_size=262.0), ArgumentTypeError,
     r"vocab_size must be an int, got 262.0"),
    ("config inf float", lambda: EncoderConfig(init_scale=math.inf), ValueError,
     r"EncoderConfig.init_scale must be a finite number, got inf"),
    ("config nan float", lambda: CausalLanguageModelConfig(init_scale=math.nan), ValueError,
     r"init_scale must be a finite number, got nan"),
    ("config str bool", lambda: CausalLanguageModelConfig(output_norm="false"), ArgumentTypeError,
     r"output_norm must be True or False, got 'false'"),
    ("config int bool", lambda: EncoderConfig(freeze=1), ArgumentTypeError, r"freeze must be True or False, got 1"),
    ("config None int", lambda: CausalLanguageModelConfig(max_seq_len=None), ArgumentTypeError,
     r"max_seq_len must be an int, got None"),
    ("config tuple length", lambda: ImageEncoderConfig(image_shape=(3, 16)), ArgumentTypeError,
     r"image_shape must be 3 values \(int, int, int\)"),
    ("config literal", lambda: ImageEncoderConfig(position_encoding="sine"), ArgumentTypeError,
     r"position_encoding must be one of 'fourier', 'learned', 'conv', got 'sine'"),
    ("config from_json", lambda: PerceiverARConfig.from_json('{"num_heads": "8"}'), ArgumentTypeError,
     r"num_heads must be an int, got '8'"),
    ("config nested dict", lambda: mlm_config().from_dict({**mlm_config().to_dict(), "encoder": {"dropout": "0.1"}}),
     ArgumentTypeError, r"TextEncoderConfig.dropout must be a finite number, got '0.1'"),
    # generate: arguments
    ("generate float num_tokens", lambda: generate(num_tokens=2.5), ArgumentTypeError,
     r"num_tokens must be an int, got 2.5"),
    ("generate bool num_tokens", lambda: generate(num_tokens=True), ArgumentTypeError,
     r"num_tokens must be an int, got True"),
    ("generate float top_k", lambda: generate(top_k=2.5), ArgumentTypeError, r"top_k must be an int, got 2.5"),
    ("generate nan temperature", lambda: generate(temperature=math.nan), ValueError,
     r"temperature must be finite, got nan"),
    ("generate inf temperature", lambda: generate(temperature=math.inf), ValueError,
     r"temperature must be finite, got inf"),
    ("generate nan top_p", lambda: generate(top_p=math.nan), ValueError, r"top_p must be finite, got nan"),
    ("generate eos outside vocabulary", lambda: generate(eos_token_id=VOCAB), ValueError,
     rf"eos_token_id \({VOCAB}\) is outside the vocabulary \[0, {VOCAB}\)"),
    ("generate pad outside vocabulary", lambda: generate(pad_token_id=-1), ValueError,
     rf"pad_token_id \(-1\) is outside the vocabulary \[0, {VOCAB}\)"),
    ("generate float num_latents", lambda: generate(num_latents=2.0), ArgumentTypeError,
     r"num_latents must be an int, got 2.0"),
    ("generate str do_sample", lambda: generate(do_sample="yes"), ArgumentTypeError,
     r"do_sample must be True or False, got 'yes'"),
    ("generate bad streamer", lambda: generate(streamer=3), ArgumentTypeError,
     r"streamer must have put/end methods or be callable, got int"),
    # generate: prompts
    ("generate empty batch", lambda: generate(prompt=prompt()[:0]), ValueError,
     r"prompt holds no sequences \(shape \(0, 5\)\)"),
    ("generate float prompt", lambda: generate(prompt=prompt().float()), ValueError,
     r"prompt must hold integer token ids, got dtype torch.float32"),
    ("generate right padding", lambda: generate(pad_mask=RIGHT_PADDED), ValueError,
     r"pad_mask has padding after a token in prompt 0 \(right padding\).*pad prompts on the left"),
    ("generate all padding", lambda: generate(pad_mask=ALL_PADDING), ValueError,
     r"pad_mask marks every token of prompt 0 as padding"),
    ("generate list prompt", lambda: generate(prompt=[[1, 2]]), ArgumentTypeError,
     r"prompt must be a tensor of token ids, got list"),
    # sampling, decoder, cache
    ("sample nan temperature", lambda: sample_next_token(torch.randn(2, 5), True, temperature=math.nan),
     ValueError, r"temperature must be finite, got nan"),
    ("sample zero top_k", lambda: sample_next_token(torch.randn(2, 5), True, top_k=0), ValueError,
     r"top_k must be at least 1, got 0"),
    ("decoder float num_latents", lambda: IncrementalDecoder(clm(), 1.5, 3), ArgumentTypeError,
     r"num_latents must be an int, got 1.5"),
    ("decoder negative max_new_tokens", lambda: IncrementalDecoder(clm(), 1, -1), ValueError,
     r"max_new_tokens must be at least 0, got -1"),
    ("decoder step before start", lambda: IncrementalDecoder(clm(), 1, 3).step(torch.tensor([1, 2])),
     RuntimeError, r"call start\(prompt\) before step\(\)"),
    ("decoder step wrong batch", lambda: decoder_step(torch.tensor([1])), ValueError,
     r"tokens must have shape \(2,\), one per sequence, got \(1,\)"),
    ("decoder step float tokens", lambda: decoder_step(torch.tensor([1.0, 2.0])), ValueError,
     r"tokens must hold integer token ids, got dtype torch.float32"),
    ("cache float capacity", lambda: KVCache(2.5), ArgumentTypeError, r"capacity must be an int, got 2.5"),
    ("cache nan capacity", lambda: KVCache(math.nan), ArgumentTypeError, r"capacity must be an int, got nan"),
    # building blocks
    ("attention float num_heads", lambda: MultiHeadAttention(num_heads=2.0, num_q_input_channels=8,
     num_kv_input_channels=8), ArgumentTypeError, r"num_heads must be an int, got 2.0"),
    ("attention query channels", lambda: attention()(torch.randn(2, 3, 7), torch.randn(2, 4, 6)), ValueError,
     r"x_q must have shape \(batch, positions, 8\), got \(2, 3, 7\)"),
    ("attention key channels", lambda: attention()(torch.randn(2, 3, 8), torch.randn(2, 4, 5)), ValueError,
     r"x_kv must have shape \(batch, positions, 6\), got \(2, 4, 5\)"),
    ("attention batch sizes", lambda: attention()(torch.randn(2, 3, 8), torch.randn(3, 4, 6)), ValueError,
     r"x_q's batch size \(2\) must be 1 or x_kv's \(3\)"),
    ("attention pad_mask shape", lambda: attention()(torch.randn(2, 3, 8), torch.randn(2, 4, 6),
     torch.zeros(2, 3, dtype=torch.bool)), ValueError, r"pad_mask has shape \(2, 3\), expected \(2, 4\)"),
    ("attention int pad_mask", lambda: attention()(torch.randn(2, 3, 8), torch.randn(2, 4, 6),
     torch.zeros(2, 4, dtype=torch.long)), ValueError, r"pad_mask must be a bool tensor \(True = padding\)"),
    ("cross-attention layer channels", lambda: CrossAttentionLayer(num_heads=2, num_q_input_channels=8,
     num_kv_input_channels=6)(torch.randn(2, 3, 8), torch.randn(2, 4, 5)), ValueError, r"x_kv must have shape"),
    ("self-attention block channels", lambda: SelfAttentionBlock(num_layers=1, num_heads=2, num_channels=8)(
     torch.randn(2, 3, 7)), ValueError, r"x_q must have shape \(batch, positions, 8\)"),
    ("fourier float input_shape", lambda: FourierPositionEncoding((4.0, 4), 2), ArgumentTypeError,
     r"input_shape\[0\] must be an int, got 4.0"),
    ("fourier float batch_size", lambda: FourierPositionEncoding((4, 4), 2)(2.5), ArgumentTypeError,
     r"batch_size must be an int, got 2.5"),
    ("trainable positions negative", lambda: TrainablePositionEncoding(4, 8)(-1), ValueError,
     r"positions must be at least 0, got -1"),
    ("cache key shape", lambda: KVCache(4).append(torch.randn(2, 2, 3), torch.randn(2, 2, 3)), ValueError,
     r"k and v must have shape \(batch, heads, keys, channels\)"),
    # model forwards
    ("clm empty batch", lambda: clm()(prompt()[:0], prefix_len=1), ValueError,
     r"input_ids holds no sequences \(shape \(0, 5\)\)"),
    ("clm float prefix_len", lambda: clm()(prompt(), prefix_len=1.0), ArgumentTypeError,
     r"prefix_len must be an int, got 1.0"),
    ("block init_scale inf", lambda: CausalSequenceModel(vocab_size=8, max_seq_len=4, max_latents=2,
     num_channels=8, num_heads=2, init_scale=math.inf), ValueError, r"init_scale must be finite, got inf"),
    ("mlm empty sequence", lambda: MaskedLanguageModel(mlm_config())(torch.zeros(2, 0, dtype=torch.long)),
     ValueError, r"input_ids holds no tokens \(shape \(2, 0\)\)"),
    ("image uint8 pixels", lambda: image_model()(image(torch.uint8)), ValueError,
     r"x must be a floating-point tensor of normalized pixels \(preprocess raw images with the image processor"),
    ("image empty batch", lambda: image_model()(image(batch=0)), ValueError, r"x holds no samples"),
    ("flow uint8 patches", lambda: flow_model()(torch.zeros(1, 2, 27, 4, 6, dtype=torch.uint8)), ValueError,
     r"x must be a floating-point tensor of frame-pair patches"),
    ("flow uint8 frames", lambda: extract_patches(*torch.zeros(2, 1, 3, 4, 6, dtype=torch.uint8)), ValueError,
     r"frame1 must be a floating-point tensor of normalized pixels"),
    ("flow float kernel_size", lambda: extract_patches(*torch.zeros(2, 1, 3, 4, 6), kernel_size=3.0),
     ArgumentTypeError, r"kernel_size must be an int, got 3.0"),
    ("flow float overlap", lambda: flow_model().forward_tiled(torch.zeros(1, 2, 27, 6, 8), overlap=1.5),
     ArgumentTypeError, r"overlap must be an int, got 1.5"),
    ("multimodal uint8 video", lambda: multimodal_model()({**make_inputs(), "image": make_inputs()["image"].byte()}),
     ValueError, r"inputs\['image'\] must be a floating-point tensor of normalized video frames"),
    ("multimodal int16 audio",
     lambda: multimodal_model()({**make_inputs(), "audio": (make_inputs()["audio"] * 1000).short()}),
     ValueError, r"inputs\['audio'\] must be a floating-point tensor of audio samples in \[-1, 1\]"),
    ("multimodal not a dict", lambda: multimodal_model()(make_inputs()["image"]), ArgumentTypeError,
     r"inputs must be a dict with keys \['audio', 'image', 'label'\], got Tensor"),
    ("multimodal empty batch", lambda: multimodal_model()({k: v[:0] for k, v in make_inputs().items()}),
     ValueError, r"inputs\['image'\] holds no samples"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "error", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_a_named_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_type_errors_are_value_errors_too():
    # invalid config values raise ValueError (DESIGN); wrong types are also TypeErrors
    with pytest.raises(ValueError):
        PerceiverARConfig(num_heads="8")
    with pytest.raises(TypeError):
        PerceiverARConfig(num_heads="8")


def test_config_values_are_normalized_to_their_field_types():
    config = ImageEncoderConfig(image_shape=[3, 16, 12], init_scale=1, max_resolution=[16, 12])
    assert config.image_shape == (3, 16, 12) and isinstance(config.image_shape, tuple)
    assert config.max_resolution == (16, 12)
    assert type(config.init_scale) is float and config.init_scale == 1.0


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int8, torch.int32])
def test_narrow_integer_token_ids_generate_as_int64_ids(dtype):
    ids = torch.randint(1, 120, (2, 5), generator=torch.Generator().manual_seed(1))
    expected = clm().generate(ids, num_tokens=4)
    out = clm().generate(ids.to(dtype), num_tokens=4)
    assert torch.equal(out.long(), expected)
    # generated ids above the prompt dtype's range are kept (no uint8 wrap-around)
    assert out.dtype in (torch.int64, torch.int32)


def test_narrow_integer_token_ids_give_the_same_logits():
    ids = torch.randint(1, 120, (2, 5), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(clm()(ids.to(torch.uint8), prefix_len=1), clm()(ids, prefix_len=1),
                                   rtol=0, atol=0)  # fmt: skip


def test_float64_images_are_cast_to_the_model_dtype():
    x = image() / 255
    with torch.no_grad():
        torch.testing.assert_close(image_model()(x.double()), image_model()(x), rtol=1e-6, atol=1e-6)


def test_left_padded_prompts_still_generate():
    left = torch.tensor([[True, True, False, False, False], [False] * 5])
    out = generate(pad_mask=left)
    assert out.shape == (2, 7)
