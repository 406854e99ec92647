"""Per-frame deformation of the canonical Gaussians: offset heads and the deformation models.

A deformation model maps (per-Gaussian query features, per-frame conditions) to offsets of the
pre-activation Gaussian attributes. `mode` picks the model from `DEFORMERS`; 'attention' is the
spatial-audio cross-attention of GaussianTalker; 'lowrank' (method.md section 6, critique 1) gives each
Gaussian a learnt basis of `rank` offset vectors (a function of its canonical features only, cached
between frames at inference) mixed by a per-frame code of `rank` numbers computed from the same
condition tokens, so the per-frame, per-Gaussian work is one [rank] x [rank, K] product.
Every deformer has `tokens` (the ConditionTokens) and `decode(features, tokens)`, so measurements can
differentiate through the tokens (gtalker.talker.probe).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Callable

import torch
from torch import Tensor, nn

from gtalker.common import InputError
from gtalker.talker.attention import FrameCache, SpatialAudioAttention
from gtalker.talker.tokens import TOKEN_NAMES, ConditionTokens, kaiming_init

# attribute name (config) -> key of CanonicalHead.raw_attributes()
ATTRIBUTES = {
    "xyz": "means",
    "scale": "log_scales",
    "rotation": "quats",
    "opacity": "opacity_logits",
    "sh": "sh",
}
QUERY_KINDS = ("triplane", "posenc", "both")


@dataclass
class DeformConfig:
    """Everything an ablation of the deformation stage switches (the talker config section)."""

    mode: str = "lowrank"
    tokens: tuple[str, ...] = ("audio", "eye", "view", "null")
    d_model: int = 64
    heads: int = 2
    layers: int = 1
    ffn_dim: int = 128
    dropout: float = 0.0
    view_dropout: float = 0.9
    eye_dropout: float = 0.0
    attributes: tuple[str, ...] = ("xyz", "scale", "rotation", "opacity", "sh")
    query: str = "triplane"
    posenc_freqs: int = 6
    head_hidden: int = 64
    audio_channels: int = 0
    feature_dim: int = 0
    rank: int = 8
    mouth_tokens: tuple[str, ...] = ()

    def validate(self) -> None:
        """Raise InputError naming the bad key."""
        if self.mode not in DEFORMERS:
            raise InputError(f"talker.mode: '{self.mode}' unknown; choose one of {sorted(DEFORMERS)}")
        bad = [t for t in self.tokens if t not in TOKEN_NAMES]
        if bad or not self.tokens:
            raise InputError(f"talker.tokens: must be a non-empty subset of {TOKEN_NAMES}, got {list(self.tokens)}")
        bad = [a for a in self.attributes if a not in ATTRIBUTES]
        if bad or not self.attributes:
            raise InputError(f"talker.attributes: must be a non-empty subset of {list(ATTRIBUTES)}, got {list(self.attributes)}")
        if self.query not in QUERY_KINDS:
            raise InputError(f"talker.query: '{self.query}' unknown; choose one of {QUERY_KINDS}")
        if self.mouth_tokens:
            if self.mode != "attention":
                raise InputError("talker.mouth_tokens: only the attention mode routes tokens per Gaussian")
            bad = [t for t in self.mouth_tokens if t not in self.tokens]
            if bad:
                raise InputError(f"talker.mouth_tokens: {bad} not among talker.tokens {list(self.tokens)}")
        if self.rank < 1:
            raise InputError(f"talker.rank: must be >= 1, got {self.rank}")
        if self.d_model % self.heads:
            raise InputError(f"talker.d_model ({self.d_model}) must be divisible by talker.heads ({self.heads})")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DeformConfig":
        """Build from a (talker config) dict, ignoring keys that are not deformation settings."""
        names = {f.name for f in fields(cls)}
        kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in names}
        cfg = cls(**kwargs)
        cfg.validate()
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


def positional_encoding(x: Tensor, n_freqs: int) -> Tensor:
    """[N,3] in about [-1,1] -> [N, 3 + 6 n_freqs] (identity, then sin/cos at 2^k pi)."""
    out = [x]
    for k in range(n_freqs):
        out += [torch.sin(x * (2.0 ** k) * math.pi), torch.cos(x * (2.0 ** k) * math.pi)]
    return torch.cat(out, dim=-1)


class OffsetHead(nn.Module):
    """d -> hidden -> k offsets; the last layer starts at zero so training starts at the canonical head."""

    def __init__(self, d_model: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_model, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))
        kaiming_init(self.net[0])
        nn.init.zeros_(self.net[2].weight)
        nn.init.zeros_(self.net[2].bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class OffsetHeads(nn.Module):
    """One head per deformed attribute; outputs are reshaped to the canonical attribute's shape."""

    def __init__(self, d_model: int, hidden: int, shapes: dict[str, tuple[int, ...]]) -> None:
        super().__init__()
        self.shapes = dict(shapes)
        self.heads = nn.ModuleDict(
            {name: OffsetHead(d_model, hidden, math.prod(shape)) for name, shape in shapes.items()}
        )

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """x [B,N,d] -> {attribute: [B,N,*shape]}."""
        b, n, _ = x.shape
        return {name: head(x).reshape(b, n, *self.shapes[name]) for name, head in self.heads.items()}


class AttentionDeformer(nn.Module):
    """Spatial-audio attention: Gaussian features query the condition tokens; heads give offsets."""

    def __init__(self, cfg: DeformConfig, attr_shapes: dict[str, tuple[int, ...]]) -> None:
        super().__init__()
        self.cfg = cfg
        self.tokens = ConditionTokens(cfg.tokens, cfg.d_model, cfg.audio_channels,
                                      {"view": cfg.view_dropout, "eye": cfg.eye_dropout})
        self.query_proj = nn.Sequential(nn.Linear(cfg.feature_dim, cfg.d_model), nn.LayerNorm(cfg.d_model))
        self.attention = SpatialAudioAttention(cfg.d_model, cfg.heads, cfg.ffn_dim, cfg.layers, cfg.dropout)
        self.heads = OffsetHeads(cfg.d_model, cfg.head_hidden, attr_shapes)
        # `mouth_tokens` (the disentangling variant): the mouth Gaussians (buffer `mouth`, set from the
        # training cameras and lip boxes by `set_mouth`) attend only to these tokens, so eye and view
        # cannot move them
        self.register_buffer("route", torch.tensor([t in cfg.mouth_tokens for t in cfg.tokens]), persistent=False)
        self.register_buffer("mouth", torch.zeros(0, dtype=torch.bool))
        self.query_cache = FrameCache()  # query_proj(features): frame-independent (see FrameCache)

    @property
    def cache_queries(self) -> bool:
        """Keep the frame-independent query projections between calls outside training (default on)."""
        return self.query_cache.enabled

    @cache_queries.setter
    def cache_queries(self, on: bool) -> None:
        self.query_cache.enabled = bool(on)
        for layer in self.attention.layers:
            layer.query_cache.enabled = bool(on)

    def set_mouth(self, mouth: Tensor) -> None:
        """Mark the mouth Gaussians [N] bool (used only with `mouth_tokens`)."""
        self.mouth = mouth.to(self.route.device).bool().clone()

    def allowed(self, n: int) -> Tensor | None:
        """[N,T] bool: tokens each Gaussian may attend to, or None when all may be."""
        if not self.cfg.mouth_tokens:
            return None
        if self.mouth.shape[0] != n:
            raise ValueError(f"talker.mouth_tokens: mouth mask has {self.mouth.shape[0]} entries for {n} "
                             "Gaussians; set_mouth was not called on this canonical head")
        return ~self.mouth[:, None] | self.route[None, :]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        key = prefix + "mouth"
        if key not in state_dict:                # a model saved before mouth_tokens existed: no mask
            state_dict[key] = torch.zeros(0, dtype=torch.bool)
        self.mouth = torch.zeros_like(state_dict[key])   # the mask's length is the model's Gaussian count
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, features: Tensor, audio: Tensor, blink: Tensor, viewmat: Tensor
                ) -> tuple[dict[str, Tensor], Tensor | None]:
        """features [N,F]; audio [B,8,16,C]; blink [B]; viewmat [B,4,4] -> (offsets, attention [B,N,T])."""
        return self.decode(features, self.tokens(audio, blink, viewmat))

    def decode(self, features: Tensor, tokens: Tensor) -> tuple[dict[str, Tensor], Tensor]:
        """features [N,F]; tokens [B,T,d] -> (offsets, attention [B,N,T])."""
        queries = self.query_cache.get(self.query_proj, features, self.query_proj)
        out, attn = self.attention(queries, tokens, self.allowed(features.shape[0]))
        return self.heads(out), attn


class LowRankDeformer(nn.Module):
    """Per-Gaussian offset bases mixed by a per-frame code: offsets[b,n] = sum_r code[b,r] basis[n,r].

    basis [rank,N,K] = MLP(canonical features), frame-independent, cached while not training. The code
    [B,rank] comes from `rank` learnt queries attending over the condition tokens (single head); each
    query's token weights, mixed by the share of that basis vector in a Gaussian's offsets, give the
    per-Gaussian attention map [B,N,T] (same meaning as the attention mode's: weights over tokens).
    """

    def __init__(self, cfg: DeformConfig, attr_shapes: dict[str, tuple[int, ...]]) -> None:
        super().__init__()
        self.cfg = cfg
        self.rank = cfg.rank
        self.shapes = dict(attr_shapes)
        self.tokens = ConditionTokens(cfg.tokens, cfg.d_model, cfg.audio_channels,
                                      {"view": cfg.view_dropout, "eye": cfg.eye_dropout})
        self.query_proj = nn.Sequential(nn.Linear(cfg.feature_dim, cfg.d_model), nn.LayerNorm(cfg.d_model))
        k_total = sum(math.prod(s) for s in attr_shapes.values())
        self.basis_net = OffsetHead(cfg.d_model, cfg.head_hidden, cfg.rank * k_total)
        self.code_queries = nn.Parameter(torch.randn(cfg.rank, cfg.d_model) / math.sqrt(cfg.d_model))
        self.key = nn.Linear(cfg.d_model, cfg.d_model)
        self.value = nn.Linear(cfg.d_model, cfg.d_model)
        self.code_out = nn.Parameter(torch.randn(cfg.rank, cfg.d_model) / math.sqrt(cfg.d_model))
        self.code_bias = nn.Parameter(torch.zeros(cfg.rank))
        for proj in (self.key, self.value):
            nn.init.xavier_uniform_(proj.weight)
            nn.init.zeros_(proj.bias)
        self._basis: tuple[Tensor, Tensor, Tensor] | None = None  # (features, basis, share)

    def train(self, mode: bool = True) -> "LowRankDeformer":
        self._basis = None  # parameters may change while training
        return super().train(mode)

    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> "LowRankDeformer":
        self._basis = None
        return super()._apply(fn, *args, **kwargs)

    def basis(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """[N,F] -> (basis [rank,N,K] (contiguous: the per-frame mix is one matrix product), share
        [N,rank] of each basis vector in a Gaussian's offsets); cached for the same features tensor
        outside training and autograd."""
        cacheable = not self.training and not torch.is_grad_enabled()
        if cacheable and self._basis is not None and self._basis[0] is features:
            return self._basis[1], self._basis[2]
        per_gaussian = self.basis_net(self.query_proj(features)).reshape(features.shape[0], self.rank, -1)
        out = per_gaussian.transpose(0, 1).contiguous()
        norms = per_gaussian.detach().norm(dim=-1) + 1e-12             # untrained (zero) bases: equal shares
        share = norms / norms.sum(-1, keepdim=True)
        if cacheable:
            self._basis = (features, out, share)
        return out, share

    def code(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """tokens [B,T,d] -> (code [B,rank], token weights [B,rank,T])."""
        keys, values = self.key(tokens), self.value(tokens)
        scores = torch.einsum("rd,btd->brt", self.code_queries, keys) / math.sqrt(keys.shape[-1])
        weights = torch.softmax(scores, dim=-1)
        pooled = torch.einsum("brt,btd->brd", weights, values)
        return torch.einsum("brd,rd->br", pooled, self.code_out) + self.code_bias, weights

    def forward(self, features: Tensor, audio: Tensor, blink: Tensor, viewmat: Tensor
                ) -> tuple[dict[str, Tensor], Tensor]:
        """features [N,F]; audio [B,8,16,C]; blink [B]; viewmat [B,4,4] -> (offsets, attention [B,N,T])."""
        return self.decode(features, self.tokens(audio, blink, viewmat))

    def mixed(self, features: Tensor, code: Tensor) -> Tensor:
        """Offsets [B,N,K] = sum_r code[b,r] basis[r,n], without forming the basis: its last layer is linear,
        so the code mixes that layer's weights per frame ([B,K,hidden]) and every Gaussian's hidden
        features go through the mixed layer (half the multiplications of the basis, no [rank,N,K] tensor)."""
        net = self.basis_net.net
        hidden = net[1](net[0](self.query_proj(features)))               # [N,H]
        r = self.rank
        weight = net[2].weight.reshape(r, -1, hidden.shape[1])            # [r,K,H]
        mixed_w = torch.einsum("br,rkh->bkh", code, weight)              # [B,K,H]
        mixed_b = code @ net[2].bias.reshape(r, -1)                      # [B,K]
        return torch.matmul(hidden, mixed_w.transpose(1, 2)) + mixed_b[:, None, :]

    def decode(self, features: Tensor, tokens: Tensor) -> tuple[dict[str, Tensor], Tensor | None]:
        """features [N,F]; tokens [B,T,d] -> (offsets, attention [B,N,T]; None while training, which
        does not use it and then skips the basis that its shares need)."""
        code, weights = self.code(tokens)                              # [B,r], [B,r,T]
        n = features.shape[0]
        if self.training:
            flat, attn = self.mixed(features, code), None
        else:                                                          # kept between calls when rendering
            basis, share = self.basis(features)                        # [r,N,K], [N,r]
            r, _, k = basis.shape
            flat = (code @ basis.reshape(r, n * k)).reshape(-1, n, k)  # [B,N,K]
            attn = torch.einsum("nr,brt->bnt", share, weights)
        b = code.shape[0]
        # split, not one slice per attribute: its backward is one concatenation, not a zero-filled
        # [B,N,K] gradient per attribute summed
        parts = flat.split([math.prod(shape) for shape in self.shapes.values()], dim=-1)
        offsets = {name: part.reshape(b, n, *shape) for (name, shape), part in zip(self.shapes.items(), parts)}
        return offsets, attn


DEFORMERS: dict[str, Callable[[DeformConfig, dict[str, tuple[int, ...]]], nn.Module]] = {
    "attention": AttentionDeformer,
    "lowrank": LowRankDeformer,
}


class DeformationModel(nn.Module):
    """Query features of the canonical Gaussians + the chosen deformer -> offsets of raw attributes.

    `center`/`extent` normalise canonical positions for the positional encoding and scale the
    position offsets, so the network works in units of the head's size.
    """

    def __init__(self, cfg: DeformConfig, attr_shapes: dict[str, tuple[int, ...]],
                 center: Tensor, extent: float) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        wanted = {ATTRIBUTES[a]: attr_shapes[ATTRIBUTES[a]] for a in cfg.attributes}
        self.deformer = DEFORMERS[cfg.mode](cfg, wanted)
        self.register_buffer("center", center.detach().float().clone())
        self.register_buffer("extent", torch.tensor(float(extent)))

    def query_features(self, triplane_features: Tensor | None, means: Tensor) -> Tensor:
        """Per-Gaussian query [N,F] from the tri-plane features and/or an encoding of the position."""
        parts = []
        if self.cfg.query in ("triplane", "both"):
            if triplane_features is None:
                raise InputError("talker.query uses the tri-plane but the canonical head has none; "
                                 "set talker.query: posenc for this variant")
            parts.append(triplane_features)
        if self.cfg.query in ("posenc", "both"):
            parts.append(positional_encoding((means - self.center) / self.extent, self.cfg.posenc_freqs))
        return torch.cat(parts, dim=-1)

    def forward(self, features: Tensor, audio: Tensor, blink: Tensor, viewmat: Tensor
                ) -> tuple[dict[str, Tensor], Tensor | None]:
        offsets, attn = self.deformer(features, audio, blink, viewmat)
        if "means" in offsets:
            offsets["means"] = offsets["means"] * self.extent
        return offsets, attn


def feature_dim(query: str, triplane_dim: int, posenc_freqs: int) -> int:
    """Width of the query features for a query kind."""
    dim = 0
    if query in ("triplane", "both"):
        dim += triplane_dim
    if query in ("posenc", "both"):
        dim += 3 + 6 * posenc_freqs
    return dim
