"""Attention and learned tensors (class token, positional embedding)."""
