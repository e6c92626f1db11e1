"""A small BERT-style masked-language model in pure PyTorch, written out to be read.

    grammar = FantasyGrammar()                           # rtt_edu.data: the corpus and its exact optimum
    config = BertConfig.lesson(vocab_size=len(grammar.vocab), max_len=grammar.config.max_len)
    model = BertMLM(config, seed=0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    RollToTrain(model, optimizer, rules="plain", seed=0).train(grammar.mlm_batches(200 * 128, 128, seed=1))
    grammar.contexts.evaluate(model)                     # accuracy 0.708 of the optimum 0.726: ratio 0.975

    out = model(input_ids, attention_mask, labels)       # out.loss, out.logits (B, T, V)
    out = model(input_ids, attention_mask, return_attention=True)
    out.attentions[layer][:, head]                       # (B, T, T): row t = where token t looks

The shape, following BERT (Devlin et al. 2019) with pre-LayerNorm blocks (Xiong et al. 2020,
which train stably without warm-up at this size):

    x_0   = E_tok[ids] + E_pos[0..T-1]
    x_l+1 = x_l + Attn(LN(x_l));  x_l+1 = x_l+1 + MLP(LN(x_l+1))          for each of n_layers blocks
    logits = LN(GELU(W LN(x_N) + b)) E_tok^T + b_out                      (the MLM head, tied to E_tok)

Self-attention of one head, with the padding mask applied to the keys:

    A = softmax(Q K^T / sqrt(d_head) + M),   M[t, u] = -inf where token u is padding
    out = A V

so every row of A sums to 1 and padded tokens receive exactly zero attention.

The loss is cross-entropy over positions whose label is not -100 (HuggingFace's convention).
``forward`` returns a :class:`MaskedLMOutput`, a dict with attribute access, so ``RollToTrain``
(``model(**batch).loss``) and the HuggingFace ``Trainer`` (``outputs["loss"]``) both read it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import nn
from torch.nn import functional as F

from rtt_edu.errors import check_type, require

__all__ = ["BertConfig", "BertMLM", "MaskedLMOutput"]


@dataclass   # not frozen: the HuggingFace Trainer sets config.use_cache on models that have a config
class BertConfig:
    vocab_size: int = 64       # tokens in the vocabulary (rows of E_tok; the MLM head reuses them)
    max_len: int = 16          # longest input row the position embeddings cover
    n_layers: int = 2          # transformer blocks
    n_heads: int = 4           # attention heads per block; d_model must divide evenly among them
    d_model: int = 64          # width of every token vector
    d_ff: int = 256            # hidden width of each block's MLP (BERT uses 4 * d_model)
    dropout: float = 0.0       # dropout on embeddings, attention weights and residual branches
    norm_eps: float = 1e-5     # LayerNorm epsilon
    init_std: float = 0.02     # std of the normal initialisation of weights and embeddings (BERT's)
    pad_id: int = 0            # id of [PAD]; only used to build a mask when attention_mask is None

    @classmethod
    def tiny(cls, **changes) -> BertConfig:
        """The smallest sensible encoder: 1 block, 2 heads, width 32. For tests and benchmarks."""
        return replace(cls(n_layers=1, n_heads=2, d_model=32, d_ff=64), **changes)

    @classmethod
    def lesson(cls, **changes) -> BertConfig:
        """The lesson's encoder: 2 blocks of 4 heads, width 64; learns the grammar on CPU in seconds."""
        return replace(cls(n_layers=2, n_heads=4, d_model=64, d_ff=128), **changes)

    def __post_init__(self):
        for name in ("vocab_size", "max_len", "n_layers", "n_heads", "d_model", "d_ff"):
            value = getattr(self, name)
            check_type(name, value, int, "an integer >= 1")
            require(value >= 1, name, value, "an integer >= 1")
        require(self.d_model % self.n_heads == 0, "d_model", self.d_model, f"a multiple of n_heads={self.n_heads}")
        require(0.0 <= self.dropout < 1.0, "dropout", self.dropout, "a probability in [0, 1)")
        require(self.init_std > 0 and self.norm_eps > 0, "init_std, norm_eps", (self.init_std, self.norm_eps),
                "both > 0")


class MaskedLMOutput(dict):
    """``loss`` (or None), ``logits`` (B, T, V), ``attentions`` (one (B, H, T, T) per layer, or None).

    A dict holding only the entries that are set (HuggingFace ``ModelOutput`` style), read by
    attribute or key.
    """

    def __init__(self, loss=None, logits=None, attentions=None):
        super().__init__((k, v) for k, v in (("loss", loss), ("logits", logits), ("attentions", attentions))
                         if v is not None)

    loss = property(lambda self: self.get("loss"))
    logits = property(lambda self: self.get("logits"))
    attentions = property(lambda self: self.get("attentions"))


def _linear(d_in: int, d_out: int) -> nn.Linear:
    """An uninitialised Linear (no draw from the global RNG); BertMLM initialises it from its generator."""
    return nn.utils.skip_init(nn.Linear, d_in, d_out)


class SelfAttention(nn.Module):
    """Multi-head self-attention, written out so its weights A can be returned and drawn."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.n_heads = config.n_heads
        self.qkv = _linear(config.d_model, 3 * config.d_model)
        self.proj = _linear(config.d_model, config.d_model)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x, pad):                     # x (B, T, C); pad (B, 1, 1, T) True at padding keys
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2) for t in (q, k, v))  # (B, H, T, d)
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])                                        # (B, H, T, T)
        scores = scores.masked_fill(pad, float("-inf"))
        att = scores.softmax(dim=-1)               # each row sums to 1; padding columns are exactly 0
        y = (self.drop(att) @ v).transpose(1, 2).reshape(B, T, C)
        return self.proj(y), att


class Block(nn.Module):
    """Pre-LN transformer block: x + Attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.d_model, eps=config.norm_eps)
        self.attn = SelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.d_model, eps=config.norm_eps)
        self.mlp = nn.Sequential(_linear(config.d_model, config.d_ff), nn.GELU(),
                                 _linear(config.d_ff, config.d_model))
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x, pad):
        y, att = self.attn(self.ln_1(x), pad)
        x = x + self.drop(y)
        x = x + self.drop(self.mlp(self.ln_2(x)))
        return x, att


class BertMLM(nn.Module):
    """A BERT-style encoder with a masked-language-model head tied to the token embeddings.

    Parameters are initialised from ``generator`` (a seeded ``torch.Generator``) or ``seed``
    (an int, shorthand for ``torch.Generator().manual_seed(seed)``); exactly one is required,
    and the global RNG is never touched. Same seed, same weights.
    """

    def __init__(self, config: BertConfig, generator: torch.Generator | None = None, seed: int | None = None):
        super().__init__()
        check_type("config", config, BertConfig, "a BertConfig")
        require((generator is None) != (seed is None), "generator, seed", (generator, seed),
                "exactly one of a seeded torch.Generator or an int seed")
        if seed is not None:
            check_type("seed", seed, int, "an integer")
            generator = torch.Generator().manual_seed(seed)
        check_type("generator", generator, torch.Generator, "a seeded torch.Generator")
        self.config = config
        self.tok_emb = nn.Parameter(torch.empty(config.vocab_size, config.d_model))   # E_tok (V, C)
        self.pos_emb = nn.Parameter(torch.empty(config.max_len, config.d_model))      # E_pos (T_max, C)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(config.d_model, eps=config.norm_eps)
        self.head_transform = _linear(config.d_model, config.d_model)
        self.head_ln = nn.LayerNorm(config.d_model, eps=config.norm_eps)
        self.head_bias = nn.Parameter(torch.empty(config.vocab_size))                 # b_out (V,)
        self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator) -> None:
        """Weights and embeddings ~ N(0, init_std^2) drawn from ``generator``; biases 0; LayerNorms 1, 0."""
        norms = [m for m in self.modules() if isinstance(m, nn.LayerNorm)]
        for norm in norms:
            norm.reset_parameters()
        skip = {id(p) for norm in norms for p in norm.parameters()}
        for p in self.parameters():               # a fixed order, so the same seed gives the same weights
            if id(p) in skip:
                continue
            if p.ndim == 1:                       # biases
                p.zero_()
            else:
                p.copy_(torch.randn(p.shape, generator=generator) * self.config.init_std)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, return_attention: bool = False) -> MaskedLMOutput:
        """``input_ids`` (B, T); ``attention_mask`` (B, T), 1 = token, 0 = padding (None: padding = pad_id);
        ``labels`` (B, T) with -100 where there is no target."""
        require(input_ids.ndim == 2 and input_ids.shape[1] <= self.config.max_len, "input_ids.shape",
                tuple(input_ids.shape), f"(batch, T) with T <= max_len={self.config.max_len}")
        T = input_ids.shape[1]
        if attention_mask is None:
            attention_mask = input_ids != self.config.pad_id
        pad = (attention_mask == 0)[:, None, None, :]                                 # (B, 1, 1, T)
        x = self.drop(F.embedding(input_ids, self.tok_emb) + self.pos_emb[:T])        # (B, T, C)
        attentions = []
        for block in self.blocks:
            x, att = block(x, pad)
            attentions.append(att)
        h = self.head_ln(F.gelu(self.head_transform(self.ln_f(x))))
        logits = h @ self.tok_emb.T + self.head_bias                                  # (B, T, V)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
        return MaskedLMOutput(loss, logits, tuple(attentions) if return_attention else None)

    @torch.no_grad()
    def attention_map(self, input_ids: torch.Tensor, layer: int, head: int,
                      attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attention weights of one head, (T, T) for one sentence (T,) or (B, T, T) for a batch.

        Row t is the distribution of where token t reads from; it sums to 1.
        """
        for name, value, top in (("layer", layer, self.config.n_layers), ("head", head, self.config.n_heads)):
            check_type(name, value, int, f"an integer in [0, {top})")
            require(0 <= value < top, name, value, f"an integer in [0, {top})")
        single = input_ids.ndim == 1
        if single:
            input_ids = input_ids[None]
            attention_mask = None if attention_mask is None else attention_mask[None]
        was_training = self.training
        self.eval()
        att = self(input_ids, attention_mask, return_attention=True).attentions[layer][:, head]
        self.train(was_training)
        return att[0] if single else att
