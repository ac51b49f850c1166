"""🤗 wrappers of the text task models."""
