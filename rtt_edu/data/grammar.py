"""A small probabilistic grammar of fantasy sentences, and its exact masked-token optimum.

    grammar = FantasyGrammar()
    grammar.sample(1, rng=random.Random(0))    # [('the', 'cleric', 'seeks', 'a', 'relic', 'in', 'the', 'temple')]
    batches = grammar.mlm_batches(25600, batch_size=128, seed=1)   # dicts: input_ids, attention_mask, labels
    grammar.contexts.optimal_accuracy          # Fraction(15614239, 21504000) = 0.72611: the Bayes optimum
    grammar.contexts.evaluate(model)           # the model's exact expected accuracy, loss, and their optimum

The grammar is a probabilistic context-free grammar (PCFG) without recursion, so its language
is finite (a few thousand sentences) and every sentence's probability can be listed exactly:

    P(s) = sum over derivations d of s of  prod over rules A -> rhs used in d of p(A -> rhs)

**Masking regime** (the one the optimum refers to): a sentence s of L words is drawn from the
grammar, written ``[CLS] w1 .. wL [SEP] [PAD] ..``; exactly one word position i is chosen
uniformly from 1..L and replaced by ``[MASK]``. The context c is the whole masked row (so the
length is visible). The joint probability of a context and the hidden word is

    P(c, w) = P(s) / L          (s = c with w put back at i)

and the best any predictor can do, picking argmax_w P(w | c) for every c, is right with
probability

    acc* = sum over c of max_w P(c, w)                   (computed with exact fractions)

Its expected cross-entropy floor is H(W | C) = -sum P(c, w) log P(w | c). ``mlm_batches`` and
``mask_tokens`` produce training data in exactly this regime (always ``[MASK]``, never BERT's
80/10/10 replacement), so a model's MLM loss estimates the quantity the floor bounds.
"""
from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from itertools import product

import torch

from rtt_edu.errors import RollToTrainError, RollToTrainTypeError, bad_value, check_type, require

__all__ = ["GrammarConfig", "FantasyGrammar", "Vocab", "MaskedContexts", "mask_tokens",
           "FANTASY_RULES", "SPECIAL_TOKENS", "PAD_ID", "CLS_ID", "SEP_ID", "MASK_ID", "IGNORE_INDEX"]

SPECIAL_TOKENS = ("[PAD]", "[CLS]", "[SEP]", "[MASK]")
PAD_ID, CLS_ID, SEP_ID, MASK_ID = range(4)
IGNORE_INDEX = -100          # HuggingFace's label for positions that carry no loss

# Nonterminal -> ((right-hand side, probability), ...). UPPER_CASE names are nonterminals,
# lower-case names are words; () is the empty string (an optional part left out).
# Each hero has its own verb (half the time; the other half a quest verb every hero shares), its own
# things and a favourite place, so a masked object or place is decided by the subject several words
# back: the model has to look past its neighbours.
FANTASY_RULES = {
    "S": ((("WIZARD",), "3/10"), (("ROGUE",), "1/4"), (("KNIGHT",), "1/4"), (("CLERIC",), "1/5")),
    "WIZARD": ((("DET", "HERO_ADJ", "wizard", "WIZARD_VP", "WIZARD_WHERE"), "1"),),
    "ROGUE": ((("DET", "HERO_ADJ", "rogue", "ROGUE_VP", "ROGUE_WHERE"), "1"),),
    "KNIGHT": ((("DET", "HERO_ADJ", "knight", "KNIGHT_VP", "KNIGHT_WHERE"), "1"),),
    "CLERIC": ((("DET", "HERO_ADJ", "cleric", "CLERIC_VP", "CLERIC_WHERE"), "1"),),
    "DET": ((("the",), "3/5"), (("a",), "2/5")),
    "HERO_ADJ": (((), "1/2"), (("brave",), "1/4"), (("wise",), "1/4")),
    # half the time a hero's own verb, half the time a quest verb every hero shares
    "WIZARD_VP": ((("casts", "DET", "SPELL"), "1/2"), (("QUEST", "DET", "THING_ADJ", "WIZARD_THING"), "1/2")),
    "ROGUE_VP": ((("steals", "DET", "THING_ADJ", "ROGUE_THING"), "1/2"),
                 (("QUEST", "DET", "THING_ADJ", "ROGUE_THING"), "1/2")),
    "KNIGHT_VP": ((("slays", "DET", "MONSTER"), "1/2"), (("QUEST", "DET", "THING_ADJ", "KNIGHT_THING"), "1/2")),
    "CLERIC_VP": ((("heals", "DET", "HURT", "PATIENT"), "1/2"),
                  (("QUEST", "DET", "THING_ADJ", "CLERIC_THING"), "1/2")),
    "QUEST": ((("seeks",), "1/2"), (("guards",), "1/2")),
    "THING_ADJ": (((), "1/2"), (("golden",), "1/2")),
    "SPELL": ((("spell",), "1/2"), (("fireball",), "1/3"), (("curse",), "1/6")),
    "MONSTER": ((("dragon",), "1/2"), (("troll",), "1/4"), (("goblin",), "1/4")),
    "HURT": (((), "1/2"), (("wounded",), "1/2")),
    "PATIENT": ((("knight",), "1/2"), (("rogue",), "1/4"), (("wizard",), "1/4")),
    "WIZARD_THING": ((("staff",), "1/2"), (("scroll",), "1/4"), (("tome",), "1/4")),
    "ROGUE_THING": ((("key",), "1/2"), (("gem",), "1/4"), (("crown",), "1/4")),
    "KNIGHT_THING": ((("sword",), "1/2"), (("shield",), "1/4"), (("banner",), "1/4")),
    "CLERIC_THING": ((("relic",), "1/2"), (("chalice",), "1/4"), (("candle",), "1/4")),
    # where it happens: optional, and each hero has a favourite place
    "WIZARD_WHERE": (((), "1/2"), (("in", "the", "tower"), "3/8"), (("in", "the", "PLACE"), "1/8")),
    "ROGUE_WHERE": (((), "1/2"), (("in", "the", "cave"), "3/8"), (("in", "the", "PLACE"), "1/8")),
    "KNIGHT_WHERE": (((), "1/2"), (("in", "the", "castle"), "3/8"), (("in", "the", "PLACE"), "1/8")),
    "CLERIC_WHERE": (((), "1/2"), (("in", "the", "temple"), "3/8"), (("in", "the", "PLACE"), "1/8")),
    "PLACE": ((("tower",), "1/4"), (("cave",), "1/4"), (("castle",), "1/4"), (("temple",), "1/4")),
}

_NONTERMINAL = re.compile(r"^[A-Z][A-Z0-9_]*$")
_WORD = re.compile(r"^[a-z][a-z'-]*$")


@dataclass(frozen=True)
class GrammarConfig:
    rules: dict = field(default_factory=lambda: FANTASY_RULES)  # nonterminal -> ((rhs, "p"), ...); p as a fraction
    start: str = "S"                                             # the start symbol
    max_len: int = 12                                            # row length: [CLS] + words + [SEP] + [PAD]s


class Vocab:
    """Special tokens first (ids 0..3), then the grammar's words in alphabetical order."""

    def __init__(self, words):
        self.tokens = list(SPECIAL_TOKENS) + sorted(set(words))
        self.ids = {t: i for i, t in enumerate(self.tokens)}

    def __len__(self):
        return len(self.tokens)

    @property
    def first_word_id(self) -> int:
        return len(SPECIAL_TOKENS)

    def encode(self, words) -> list:
        for w in words:
            require(w in self.ids and w not in SPECIAL_TOKENS, "word", w, "a word of the grammar's vocabulary")
        return [self.ids[w] for w in words]

    def decode(self, ids, skip_special: bool = True) -> list:
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        return [self.tokens[i] for i in ids if not (skip_special and i in (PAD_ID, CLS_ID, SEP_ID))]


def _check_rules(rules, start: str) -> dict:
    """Validate the rule table eagerly; return it with probabilities as exact Fractions."""
    require(isinstance(rules, dict) and rules, "rules", type(rules).__name__,
            "a non-empty dict nonterminal -> ((rhs, p), ...)", RollToTrainTypeError)
    require(start in rules, "start", start, f"a nonterminal of the rules, one of {sorted(rules)}")
    table = {}
    for lhs, options in rules.items():
        require(isinstance(lhs, str) and _NONTERMINAL.match(lhs), "nonterminal", lhs, "an UPPER_CASE name")
        require(options, f"rules[{lhs!r}]", options, "at least one (rhs, probability) pair")
        parsed = []
        for rhs, p in options:
            rhs = tuple(rhs)
            for sym in rhs:
                require(isinstance(sym, str) and (sym in rules or _WORD.match(sym)), f"symbol in rules[{lhs!r}]", sym,
                        "a nonterminal of the rules or a lower-case word")
            try:
                p = Fraction(p)
            except (TypeError, ValueError):
                raise RollToTrainError(bad_value(f"probability of {lhs} -> {rhs}", p, "a number or 'a/b'")) from None
            require(0 < p <= 1, f"probability of {lhs} -> {rhs}", str(p), "in (0, 1]")
            parsed.append((rhs, p))
        total = sum(p for _, p in parsed)
        require(total == 1, f"sum of probabilities of {lhs}", str(total), "exactly 1")
        table[lhs] = tuple(parsed)
    return table


class FantasyGrammar:
    """A finite PCFG: exact sentence probabilities, a seeded sampler, masked-LM data, the optimum."""

    def __init__(self, config: GrammarConfig | None = None):
        config = GrammarConfig() if config is None else config
        check_type("config", config, GrammarConfig, "a GrammarConfig")
        check_type("max_len", config.max_len, int, "an integer")
        self.config = config
        self.rules = _check_rules(config.rules, config.start)
        self.vocab = Vocab(sym for opts in self.rules.values() for rhs, _ in opts for sym in rhs
                           if sym not in self.rules)
        longest = max(len(s) for s in self.sentences)
        require(config.max_len >= longest + 2, "max_len", config.max_len,
                f">= {longest + 2} (the longest sentence has {longest} words, plus [CLS] and [SEP])")

    # --- the language, exactly -------------------------------------------------------------
    @cached_property
    def sentences(self) -> dict:
        """Every sentence (a tuple of words) -> its exact probability (a Fraction); they sum to 1."""
        memo, visiting = {}, set()

        def expand(sym) -> dict:
            if sym not in self.rules:
                return {(sym,): Fraction(1)}
            if sym in memo:
                return memo[sym]
            require(sym not in visiting, "rules", sym, "no recursion (the language must be finite)")
            visiting.add(sym)
            out = {}
            for rhs, p in self.rules[sym]:
                for parts in product(*(expand(s).items() for s in rhs)):
                    words = tuple(w for part, _ in parts for w in part)
                    out[words] = out.get(words, 0) + p * math.prod(q for _, q in parts)
            visiting.discard(sym)
            memo[sym] = out
            return out

        language = expand(self.config.start)
        require(() not in language, "rules", "()", "no empty sentence")
        return language

    def probability(self, words) -> Fraction:
        """P(s) of a sentence (0 for a string the grammar cannot make)."""
        return self.sentences.get(tuple(words), Fraction(0))

    # --- sampling --------------------------------------------------------------------------
    def sample(self, n: int, rng: random.Random) -> list:
        """``n`` sentences drawn top-down: each nonterminal picks a rule with its probability."""
        check_type("n", n, int, "an integer >= 0")
        check_type("rng", rng, random.Random, "a random.Random (seeded by the caller)")
        choices = {lhs: ([rhs for rhs, _ in opts], [float(p) for _, p in opts]) for lhs, opts in self.rules.items()}

        def expand(sym, out):
            if sym not in choices:
                out.append(sym)
                return
            options, weights = choices[sym]
            for s in rng.choices(options, weights)[0]:
                expand(s, out)

        sentences = []
        for _ in range(n):
            words = []
            expand(self.config.start, words)
            sentences.append(tuple(words))
        return sentences

    def encode(self, sentences) -> tuple:
        """(input_ids, attention_mask), each (N, max_len): ``[CLS] words [SEP] [PAD]...``."""
        L = self.config.max_len
        ids = torch.full((len(sentences), L), PAD_ID, dtype=torch.long)
        for row, words in enumerate(sentences):
            if len(words) + 2 > L:       # not require(): the sentence is joined only when it is quoted
                raise RollToTrainError(bad_value("sentence", " ".join(words), f"at most {L - 2} words"))
            ids[row, :len(words) + 2] = torch.tensor([CLS_ID, *self.vocab.encode(words), SEP_ID])
        return ids, (ids != PAD_ID).long()

    def mlm_batches(self, n_sentences: int, batch_size: int, seed: int) -> list:
        """A list of dict batches ``{"input_ids", "attention_mask", "labels"}`` in the one-mask regime.

        Sentences come from ``random.Random(seed)``, mask positions from a ``torch.Generator``
        seeded with ``seed``; the last batch may be shorter. Ready for ``RollToTrain.train``.
        """
        check_type("n_sentences", n_sentences, int, "an integer >= 1")
        check_type("batch_size", batch_size, int, "an integer >= 1")
        check_type("seed", seed, int, "an integer")
        require(n_sentences >= 1 and batch_size >= 1, "n_sentences, batch_size", (n_sentences, batch_size),
                "integers >= 1")
        ids, attention = self.encode(self.sample(n_sentences, random.Random(seed)))
        masked, labels = mask_tokens(ids, torch.Generator().manual_seed(seed))
        return [{"input_ids": masked[i:i + batch_size], "attention_mask": attention[i:i + batch_size],
                 "labels": labels[i:i + batch_size]} for i in range(0, n_sentences, batch_size)]

    # --- the exact optimum -----------------------------------------------------------------
    @cached_property
    def contexts(self) -> MaskedContexts:
        """Every masked context c of the one-mask regime with its exact joint P(c, w)."""
        joint = {}
        for words, p in self.sentences.items():
            share = p / len(words)                       # P(s) * P(i | s), i uniform over 1..L
            for i, w in enumerate(words):
                key = (*words[:i], None, *words[i + 1:])
                row = joint.setdefault(key, {})
                row[w] = row.get(w, 0) + share
        return MaskedContexts(self, joint)


class MaskedContexts:
    """The table P(c, w) over all contexts c (rows) and words w, exact and as float64 tensors.

    ``optimal_accuracy`` = sum_c max_w P(c, w) (an exact Fraction); ``loss_floor`` = H(W | C) in nats.
    ``evaluate(model)`` gives a model's exact expected accuracy and cross-entropy in the same regime.
    """

    def __init__(self, grammar: FantasyGrammar, joint: dict):
        keys = list(joint)
        self.positions = torch.tensor([key.index(None) + 1 for key in keys])    # +1 for [CLS]
        ids = torch.full((len(keys), grammar.config.max_len), PAD_ID, dtype=torch.long)
        for row, key in enumerate(keys):
            tokens = [CLS_ID, *(MASK_ID if w is None else grammar.vocab.ids[w] for w in key), SEP_ID]
            ids[row, :len(tokens)] = torch.tensor(tokens)
        self.attention_mask = (ids != PAD_ID).long()
        self.input_ids = ids
        self.joint = torch.zeros(len(keys), len(grammar.vocab), dtype=torch.float64)
        best = Fraction(0)
        for row, key in enumerate(keys):
            for w, p in joint[key].items():
                self.joint[row, grammar.vocab.ids[w]] = float(p)
            best += max(joint[key].values())
        self.optimal_accuracy = best
        posterior = self.joint / self.joint.sum(1, keepdim=True)
        self.loss_floor = float(-(self.joint * torch.where(self.joint > 0, posterior.log(), 0.0)).sum())

    def __len__(self):
        return len(self.positions)

    def score(self, logits: torch.Tensor) -> tuple:
        """(expected accuracy, expected cross-entropy) of predictions ``logits`` (C, V) at the masks."""
        logits = logits.double()
        hit = self.joint.gather(1, logits.argmax(1, keepdim=True)).sum()
        ce = -torch.where(self.joint > 0, self.joint * logits.log_softmax(1), 0.0).sum()   # 0 log 0 = 0
        return float(hit), float(ce)

    @torch.no_grad()
    def evaluate(self, model, batch_size: int = 4096) -> dict:
        """A model's exact expected accuracy and cross-entropy in the one-mask regime.

        ``model(input_ids=..., attention_mask=...)`` must return ``.logits`` (N, L, V).
        """
        was_training = model.training
        model.eval()
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        rows = torch.arange(len(self))
        out = []
        for i in range(0, len(self), batch_size):
            logits = model(input_ids=self.input_ids[i:i + batch_size].to(device),
                           attention_mask=self.attention_mask[i:i + batch_size].to(device)).logits
            out.append(logits[rows[i:i + batch_size] - i, self.positions[i:i + batch_size].to(device)].cpu())
        model.train(was_training)
        accuracy, loss = self.score(torch.cat(out))
        optimum = float(self.optimal_accuracy)
        return {"accuracy": accuracy, "loss": loss, "optimum": optimum, "loss_floor": self.loss_floor,
                "ratio": accuracy / optimum}


def mask_tokens(input_ids: torch.Tensor, generator: torch.Generator) -> tuple:
    """(masked_ids, labels): one word position per row, uniform over its words, set to ``[MASK]``.

    Special tokens ([PAD], [CLS], [SEP]) are never chosen. ``labels`` holds the original id at
    the masked position and ``IGNORE_INDEX`` (-100) everywhere else. ``input_ids`` is not changed.
    """
    check_type("generator", generator, torch.Generator, "a seeded torch.Generator")
    require(isinstance(input_ids, torch.Tensor) and input_ids.ndim == 2 and input_ids.dtype == torch.long, "input_ids",
            getattr(input_ids, "shape", input_ids), "a (N, L) LongTensor of token ids")
    is_word = input_ids >= len(SPECIAL_TOKENS)
    if not bool(is_word.any(1).all()):
        raise RollToTrainError("input_ids: every row needs at least one word to mask")
    scores = torch.rand(input_ids.shape, generator=generator, device=input_ids.device)
    position = scores.masked_fill(~is_word, -1.0).argmax(1, keepdim=True)    # uniform over the row's words
    masked = input_ids.scatter(1, position, MASK_ID)
    labels = torch.full_like(input_ids, IGNORE_INDEX).scatter(1, position, input_ids.gather(1, position))
    return masked, labels
