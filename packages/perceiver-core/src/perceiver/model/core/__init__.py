"""Building blocks of Perceiver, Perceiver IO and Perceiver AR (torch only)."""

from perceiver.model.core.adapter import (
    ClassificationOutputAdapter,
    InputAdapter,
    OutputAdapter,
    PositionQueryProvider,
    QueryProvider,
    RotarySupport,
    TiedTokenOutputAdapter,
    TokenInputAdapter,
    TrainableQueryProvider,
)
from perceiver.model.core.attention import MultiHeadAttention
from perceiver.model.core.cache import KVCache
from perceiver.model.core.config import (
    ClassificationDecoderConfig,
    ConfigBase,
    DecoderConfig,
    EncoderConfig,
    PerceiverARConfig,
    PerceiverIOConfig,
)
from perceiver.model.core.generation import (
    IncrementalDecoder,
    VerifiedDrafts,
    generate,
    sample_next_token,
)
from perceiver.model.core.layers import (
    MLP,
    CrossAttention,
    CrossAttentionLayer,
    SelfAttention,
    SelfAttentionBlock,
    SelfAttentionLayer,
    init_parameters,
    init_std,
)
from perceiver.model.core.masks import (
    attend_mask,
    check_pad_mask,
    check_prompt_padding,
    effective_pad_mask,
    pad_mask_from_attention_mask,
)
from perceiver.model.core.perceiver_ar import CausalSequenceModel, PerceiverAR, PerceiverARCache
from perceiver.model.core.perceiver_io import PerceiverDecoder, PerceiverEncoder, PerceiverIO
from perceiver.model.core.position import (
    FourierPositionEncoding,
    FrequencyPositionEncoding,
    RotaryPositionEmbedding,
    TrainablePositionEncoding,
)
from perceiver.model.core.quantize import Int8Linear, quantize_for_decoding

__all__ = [
    "MLP",
    "CausalSequenceModel",
    "ClassificationDecoderConfig",
    "ClassificationOutputAdapter",
    "ConfigBase",
    "CrossAttention",
    "CrossAttentionLayer",
    "DecoderConfig",
    "EncoderConfig",
    "FourierPositionEncoding",
    "FrequencyPositionEncoding",
    "IncrementalDecoder",
    "InputAdapter",
    "Int8Linear",
    "KVCache",
    "MultiHeadAttention",
    "OutputAdapter",
    "PerceiverAR",
    "PerceiverARCache",
    "PerceiverARConfig",
    "PerceiverDecoder",
    "PerceiverEncoder",
    "PerceiverIO",
    "PerceiverIOConfig",
    "PositionQueryProvider",
    "QueryProvider",
    "RotaryPositionEmbedding",
    "RotarySupport",
    "SelfAttention",
    "SelfAttentionBlock",
    "SelfAttentionLayer",
    "TiedTokenOutputAdapter",
    "TokenInputAdapter",
    "TrainablePositionEncoding",
    "TrainableQueryProvider",
    "VerifiedDrafts",
    "attend_mask",
    "check_pad_mask",
    "check_prompt_padding",
    "effective_pad_mask",
    "generate",
    "init_parameters",
    "init_std",
    "pad_mask_from_attention_mask",
    "quantize_for_decoding",
    "sample_next_token",
]
