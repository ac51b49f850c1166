"""Lightning wrappers of the text models: masked language model, text classifier, causal language model."""

from perceiver.lightning.text.classifier import LitTextClassifier
from perceiver.lightning.text.clm import LitCausalLanguageModel
from perceiver.lightning.text.mlm import LitMaskedLanguageModel

__all__ = ["LitCausalLanguageModel", "LitMaskedLanguageModel", "LitTextClassifier"]
