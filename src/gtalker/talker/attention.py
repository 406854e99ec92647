"""Spatial-audio cross-attention: every Gaussian's feature queries the per-frame condition tokens.

Post-LayerNorm transformer layers with cross-attention only (no self-attention between Gaussians,
which would be quadratic in their number). The first layer's queries are the same for every frame in
a batch, so they are projected once ([N,d]) and broadcast over the batch; outside training and autograd
that projection is also kept between calls (FrameCache), as the Gaussians' features do not change.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class FrameCache:
    """A frame-independent result f(x) kept between calls while neither x nor the weights change.

    Used only outside training and autograd (else f is simply called); the key is the input tensor
    object (held, so that its identity stays unique) and the version counters of it and of the weights
    (an optimiser step or load_state_dict changes them), so a stale value is never returned.
    `enabled = False` always recomputes.
    """

    def __init__(self) -> None:
        self.enabled = True
        self._input: Tensor | None = None
        self._key: tuple = ()
        self._value: Tensor | None = None

    def get(self, module: nn.Module, x: Tensor, fn) -> Tensor:  # noqa: ANN001 - any callable on x
        """fn(x), from the cache when x and module's weights are unchanged since it was computed."""
        if not self.enabled or module.training or torch.is_grad_enabled():
            return fn(x)
        key = (x._version, *(p._version for p in module.parameters()))
        if self._input is not x or self._key != key or self._value is None:
            self._input, self._value = None, None
            self._value = fn(x)
            self._input, self._key = x, key
        return self._value


class CrossAttentionLayer(nn.Module):
    """x <- LN(x + Drop(MHA(x, tokens))); x <- LN(x + Drop(FFN(x)))."""

    def __init__(self, d_model: int, n_heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by heads ({n_heads})")
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.q = nn.Linear(d_model, d_model)
        self.k = nn.Linear(d_model, d_model)
        self.v = nn.Linear(d_model, d_model)
        self.o = nn.Linear(d_model, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(nn.Linear(d_model, ffn_dim), nn.ReLU(), nn.Linear(ffn_dim, d_model))
        self.norm2 = nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)
        # variance-preserving projections, so the tokens' per-frame variation reaches the Gaussians
        # with the same weight as their query (PyTorch's default Linear init shrinks it ~3x per layer)
        for proj in (self.q, self.k, self.v, self.o):
            nn.init.xavier_uniform_(proj.weight)
            nn.init.zeros_(proj.bias)
        self.query_cache = FrameCache()  # the shared [N,d] queries' projection (first layer)

    def attend(self, x: Tensor, tokens: Tensor, allowed: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x [N,d] (shared) or [B,N,d]; tokens [B,T,d] -> (out [B,N,d], weights [B,N,heads,T]).

        `allowed` [N,T] bool: the tokens each Gaussian may attend to (None: all)."""
        b, t, d = tokens.shape
        h, hd = self.n_heads, self.head_dim
        q = self.query_cache.get(self.q, x, self.q) if x.dim() == 2 else self.q(x)
        k = self.k(tokens).reshape(b, t, h, hd)
        v = self.v(tokens).reshape(b, t, h, hd)
        scale = 1.0 / math.sqrt(hd)
        if q.dim() == 2:
            q = q.reshape(-1, h, hd)
            scores = torch.einsum("nhd,bthd->bnht", q, k) * scale
        else:
            q = q.reshape(b, -1, h, hd)
            scores = torch.einsum("bnhd,bthd->bnht", q, k) * scale
        if allowed is not None:
            scores = scores.masked_fill(~allowed[None, :, None, :], float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        out = torch.einsum("bnht,bthd->bnhd", self.drop(weights), v).reshape(b, -1, d)
        return self.o(out), weights

    def forward(self, x: Tensor, tokens: Tensor, allowed: Tensor | None = None) -> tuple[Tensor, Tensor]:
        attended, weights = self.attend(x, tokens, allowed)
        x = self.norm1(x + self.drop(attended))          # broadcasts a shared [N,d] over the batch
        x = self.norm2(x + self.drop(self.ffn(x)))
        return x, weights


class SpatialAudioAttention(nn.Module):
    """A stack of cross-attention layers; returns the per-Gaussian output and the attention maps."""

    def __init__(self, d_model: int = 64, n_heads: int = 2, ffn_dim: int = 128, layers: int = 1,
                 dropout: float = 0.2) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError("attention needs at least one layer")
        self.layers = nn.ModuleList(
            CrossAttentionLayer(d_model, n_heads, ffn_dim, dropout) for _ in range(layers)
        )

    def forward(self, queries: Tensor, tokens: Tensor, allowed: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """queries [N,d]; tokens [B,T,d]; allowed [N,T] bool or None -> (out [B,N,d], attention [B,N,T] of
        the last layer, head mean)."""
        x = queries
        weights = None
        for layer in self.layers:
            x, weights = layer(x, tokens, allowed)
        assert weights is not None
        if x.dim() == 2:  # cannot happen after one layer, kept for clarity
            x = x.unsqueeze(0).expand(tokens.shape[0], -1, -1)
        return x, weights.mean(dim=2)
