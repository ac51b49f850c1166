"""Adapters between task data and the generic Perceiver encoder and decoder.

An input adapter turns task input into an array (b, m, c_in) the encoder cross-attends to. A
query provider makes the decoder's output queries (b|1, n, c_q). An output adapter turns the
decoder output (b, n, c_q) into task output.
"""

from __future__ import annotations

import torch
from torch import nn

from perceiver.model.core._validation import check_positive_int
from perceiver.model.core.layers import EMBEDDING_INIT_SCALE
from perceiver.model.core.position import TrainablePositionEncoding

__all__ = [
    "ClassificationOutputAdapter",
    "InputAdapter",
    "OutputAdapter",
    "QueryProvider",
    "RotarySupport",
    "TiedTokenOutputAdapter",
    "TokenInputAdapter",
    "TrainableQueryProvider",
]


class InputAdapter(nn.Module):
    """Base class of input adapters; subclasses set ``num_input_channels`` (c_in)."""

    def __init__(self, num_input_channels: int) -> None:
        super().__init__()
        check_positive_int("num_input_channels", num_input_channels)
        self.num_input_channels = num_input_channels


class RotarySupport(InputAdapter):
    """Input adapter of a Perceiver AR: embeds tokens at given positions.

    ``rotated_channels_fraction`` tells the model which part of each attention head's channels
    rotary position embedding rotates: all of them (1.0) or, when the adapter adds absolute
    position embeddings itself, a part; :func:`perceiver.model.core.position.rotary_channels`
    turns it into whole channel pairs.
    """

    def __init__(self, num_input_channels: int, rotated_channels_fraction: float = 1.0) -> None:
        super().__init__(num_input_channels)
        if not 0.0 < rotated_channels_fraction <= 1.0:
            raise ValueError(f"rotated_channels_fraction must be in (0, 1], got {rotated_channels_fraction}")
        self.rotated_channels_fraction = rotated_channels_fraction

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class TokenInputAdapter(RotarySupport):
    """Token embedding with optional learned absolute position embedding.

    With ``abs_pos_emb`` rotary embedding covers half of each head's channels, else all.
    """

    def __init__(self, vocab_size: int, max_seq_len: int, num_input_channels: int, abs_pos_emb: bool = True):
        super().__init__(num_input_channels, rotated_channels_fraction=0.5 if abs_pos_emb else 1.0)
        check_positive_int("vocab_size", vocab_size)
        check_positive_int("max_seq_len", max_seq_len)
        self.vocab_size = vocab_size
        self.max_seq_len = max_seq_len
        self.txt_embedding = nn.Embedding(vocab_size, num_input_channels)
        self.pos_embedding = (
            TrainablePositionEncoding(max_seq_len, num_input_channels) if abs_pos_emb else None
        )

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        emb = self.txt_embedding(x)  # (b, n, c)
        if self.pos_embedding is not None:
            emb = emb + self.pos_embedding(positions)
        return emb


class QueryProvider(nn.Module):
    """Base class of decoder query providers; subclasses set ``num_query_channels``.

    ``forward(x_adapted)`` receives the encoder's adapted input (b, m, c_in), which a provider
    may use (one query per input position) or ignore (learned queries).
    """

    def __init__(self, num_query_channels: int) -> None:
        super().__init__()
        check_positive_int("num_query_channels", num_query_channels)
        self.num_query_channels = num_query_channels

    def forward(self, x_adapted: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError


class TrainableQueryProvider(QueryProvider):
    """Learned queries (1, n, c), broadcast over the batch without copies.

    Also serves as the latent array of the encoder.
    """

    def __init__(self, num_queries: int, num_query_channels: int, init_scale: float | None = 0.02) -> None:
        super().__init__(num_query_channels)
        check_positive_int("num_queries", num_queries)
        self.num_queries = num_queries
        self._queries = nn.Parameter(torch.empty(num_queries, num_query_channels))
        nn.init.normal_(self._queries, std=EMBEDDING_INIT_SCALE if init_scale is None else init_scale)

    def forward(self, x_adapted: torch.Tensor | None = None) -> torch.Tensor:
        return self._queries.unsqueeze(0)  # (1, n, c)


class PositionQueryProvider(QueryProvider):
    """One learned query per input position: (1, m, c) for an adapted input of m positions."""

    def __init__(self, max_seq_len: int, num_query_channels: int) -> None:
        super().__init__(num_query_channels)
        self.position_encoding = TrainablePositionEncoding(max_seq_len, num_query_channels)

    def forward(self, x_adapted: torch.Tensor | None = None) -> torch.Tensor:
        if x_adapted is None:
            raise ValueError("PositionQueryProvider needs the adapted input to know how many queries to make")
        return self.position_encoding(x_adapted.shape[1]).unsqueeze(0)


class OutputAdapter(nn.Module):
    """Base class of output adapters: decoder output (b, n, c_q) -> task output."""


class ClassificationOutputAdapter(OutputAdapter):
    """Linear projection of each output query to class logits.

    With ``num_output_queries == 1`` (the usual classifier) the query axis is dropped:
    (b, 1, c_q) -> (b, num_classes); otherwise (b, n, c_q) -> (b, n, num_classes).
    """

    def __init__(self, num_classes: int, num_output_query_channels: int, num_output_queries: int = 1) -> None:
        super().__init__()
        check_positive_int("num_classes", num_classes)
        check_positive_int("num_output_queries", num_output_queries)
        self.linear = nn.Linear(num_output_query_channels, num_classes)
        self.squeeze = num_output_queries == 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear(x)  # (b, n, num_classes)
        return x.squeeze(1) if self.squeeze else x


class TiedTokenOutputAdapter(OutputAdapter):
    """Logits from the token embedding matrix (weights tied with the input), optional bias."""

    def __init__(self, vocab_size: int, embedding: nn.Embedding, bias: bool = True) -> None:
        super().__init__()
        check_positive_int("vocab_size", vocab_size)
        # a plain attribute, not a submodule: the embedding belongs to the input adapter
        object.__setattr__(self, "_embedding", embedding)
        self.bias = nn.Parameter(torch.zeros(vocab_size)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = x @ self._embedding.weight.T  # (b, n, vocab)
        return logits if self.bias is None else logits + self.bias
