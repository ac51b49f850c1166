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
from perceiver.model.core.attention import MultiHeadAttention, attend_mask
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
    check_prompt_padding,
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
)
from perceiver.model.core.perceiver_ar import CausalSequenceModel, PerceiverAR, PerceiverARCache
from perceiver.model.core.perceiver_io import PerceiverDecoder, PerceiverEncoder, PerceiverIO
from perceiver.model.core.position import (
    FourierPositionEncoding,
    FrequencyPositionEncoding,
    RotaryPositionEmbedding,
    TrainablePositionEncoding,
)

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
    "attend_mask",
    "check_prompt_padding",
    "generate",
    "init_parameters",
    "sample_next_token",
]
