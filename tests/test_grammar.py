"""The fantasy grammar: exact probabilities, the sampler, masking, and the exact optimum vs Monte Carlo."""
import math
import random
from fractions import Fraction

import pytest
import torch

from rtt_edu.data import (
    CLS_ID,
    FANTASY_RULES,
    IGNORE_INDEX,
    MASK_ID,
    PAD_ID,
    SEP_ID,
    FantasyGrammar,
    GrammarConfig,
    mask_tokens,
)
from rtt_edu.errors import RollToTrainError


@pytest.fixture(scope="module")
def grammar():
    return FantasyGrammar()


def test_every_rule_and_the_whole_language_sum_to_exactly_one(grammar):
    for lhs, options in grammar.rules.items():
        assert sum(p for _, p in options) == 1, lhs
    assert sum(grammar.sentences.values()) == Fraction(1)
    assert all(p > 0 for p in grammar.sentences.values())
    assert 1000 <= len(grammar.sentences) <= 10000          # small enough to enumerate


def test_a_sentence_probability_is_the_product_of_its_rules(grammar):
    # S -> WIZARD (3/10); DET -> the (3/5); HERO_ADJ -> () (1/2); WIZARD_VP -> casts DET SPELL (1/2);
    # DET -> a (2/5); SPELL -> spell (1/2); WIZARD_WHERE -> in the tower (3/8) or in the PLACE, PLACE=tower (1/8 * 1/4)
    tower = Fraction(3, 8) + Fraction(1, 8) * Fraction(1, 4)
    expected = (Fraction(3, 10) * Fraction(3, 5) * Fraction(1, 2) * Fraction(1, 2) * Fraction(2, 5) * Fraction(1, 2)
                * tower)
    assert grammar.probability("the wizard casts a spell in the tower".split()) == expected
    assert grammar.probability("the wizard steals a spell".split()) == 0


def test_the_top_down_sampler_draws_sentences_with_their_exact_probabilities(grammar):
    n = 20000
    sample = grammar.sample(n, random.Random(0))
    assert all(s in grammar.sentences for s in sample)
    counts = {}
    for s in sample:
        counts[s] = counts.get(s, 0) + 1
    for s, p in sorted(grammar.sentences.items(), key=lambda kv: -kv[1])[:20]:
        p = float(p)
        assert abs(counts.get(s, 0) / n - p) < 4.5 * math.sqrt(p * (1 - p) / n), s
    assert grammar.sample(50, random.Random(7)) == grammar.sample(50, random.Random(7))
    assert grammar.sample(50, random.Random(7)) != grammar.sample(50, random.Random(8))


def test_vocab_and_encoding_follow_the_layout(grammar):
    assert grammar.vocab.tokens[:4] == ["[PAD]", "[CLS]", "[SEP]", "[MASK]"]
    assert (PAD_ID, CLS_ID, SEP_ID, MASK_ID) == (0, 1, 2, 3)
    words = ("a", "brave", "knight", "slays", "the", "dragon")
    ids, attention = grammar.encode([words, ("the", "rogue", "steals", "a", "gem")])
    assert ids.shape == attention.shape == (2, grammar.config.max_len)
    assert ids[0, 0] == CLS_ID and ids[0, 7] == SEP_ID and (ids[0, 8:] == PAD_ID).all()
    assert grammar.vocab.decode(ids[0]) == list(words)
    assert attention[1].tolist() == [1] * 7 + [0] * (grammar.config.max_len - 7)
    with pytest.raises(RollToTrainError, match="'elf'"):
        grammar.vocab.encode(["the", "elf"])


def test_mask_tokens_masks_one_word_per_row_uniformly(grammar):
    ids, _ = grammar.encode(grammar.sample(3000, random.Random(1)))
    before = ids.clone()
    masked, labels = mask_tokens(ids, torch.Generator().manual_seed(0))
    assert torch.equal(ids, before)                                    # input untouched
    chosen = labels != IGNORE_INDEX
    assert (chosen.sum(1) == 1).all()
    assert (masked[chosen] == MASK_ID).all() and torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(masked[~chosen], ids[~chosen])
    assert (ids[chosen] >= 4).all()                                    # never a special token
    again, labels_again = mask_tokens(ids, torch.Generator().manual_seed(0))
    assert torch.equal(again, masked) and torch.equal(labels_again, labels)
    # uniform over the words of a row: 20000 copies of a 10-word sentence
    ten = grammar.encode([("the", "brave", "knight", "seeks", "a", "golden", "sword", "in", "the", "castle")])[0]
    _, labels = mask_tokens(ten.repeat(20000, 1), torch.Generator().manual_seed(1))
    counts = (labels != IGNORE_INDEX).sum(0)[1:11].double()
    chi2 = float(((counts - 2000) ** 2 / 2000).sum())
    assert chi2 < 27.9                                                 # chi-square, 9 dof, p = 0.001


def test_mlm_batches_are_seeded_and_in_the_one_mask_regime(grammar):
    batches = grammar.mlm_batches(300, batch_size=128, seed=3)
    assert [len(b["input_ids"]) for b in batches] == [128, 128, 44]
    assert set(batches[0]) == {"input_ids", "attention_mask", "labels"}
    assert all(((b["labels"] != IGNORE_INDEX).sum(1) == 1).all() for b in batches)
    same = grammar.mlm_batches(300, batch_size=128, seed=3)
    other = grammar.mlm_batches(300, batch_size=128, seed=4)
    assert all(torch.equal(a["input_ids"], b["input_ids"]) for a, b in zip(batches, same))
    assert not torch.equal(batches[0]["input_ids"], other[0]["input_ids"])


def test_exact_optimum_matches_monte_carlo_with_a_brute_force_posterior(grammar):
    """Sample (sentence, position), put every word in the gap, take the grammar's argmax."""
    optimum = grammar.contexts
    assert isinstance(optimum.optimal_accuracy, Fraction) and 0.5 < optimum.optimal_accuracy < 1
    probs = {s: float(p) for s, p in grammar.sentences.items()}
    words = grammar.vocab.tokens[4:]
    rng = random.Random(11)
    n = 40000
    hits, best_prob, nll = 0, [], 0.0
    for s in grammar.sample(n, rng):
        i = rng.randrange(len(s))
        joint = [probs.get((*s[:i], w, *s[i + 1:]), 0.0) for w in words]
        total = sum(joint)
        hits += words[max(range(len(words)), key=joint.__getitem__)] == s[i]
        best_prob.append(max(joint) / total)              # P(Bayes predictor is right | context)
        nll -= math.log(probs[s] / total)
    acc = float(optimum.optimal_accuracy)
    assert abs(hits / n - acc) < 4.5 * math.sqrt(acc * (1 - acc) / n)
    mean = sum(best_prob) / n
    se = math.sqrt(sum((x - mean) ** 2 for x in best_prob) / n / n)
    assert abs(mean - acc) < 4.5 * se                     # se ~ 0.001: a wrong position weighting fails
    assert abs(nll / n - optimum.loss_floor) < 0.02             # the cross-entropy floor H(W | C)


def test_score_gives_the_optimum_to_the_bayes_predictor_and_less_to_others(grammar):
    ctx = grammar.contexts
    log_joint = ctx.joint.log()                           # -inf where impossible: argmax is the Bayes choice
    accuracy, loss = ctx.score(log_joint)
    assert accuracy == pytest.approx(float(ctx.optimal_accuracy), abs=1e-12)
    assert loss == pytest.approx(ctx.loss_floor, abs=1e-9)
    always_the = torch.zeros_like(log_joint)
    always_the[:, grammar.vocab.ids["the"]] = 1.0
    worse, worse_loss = ctx.score(always_the)
    assert worse < accuracy and worse_loss > loss
    assert worse == pytest.approx(float(ctx.joint[:, grammar.vocab.ids["the"]].sum()), abs=1e-12)


class _Oracle(torch.nn.Module):
    """Logits = log P(c, w) for the context it is shown, looked up from the grammar itself."""

    def __init__(self, grammar):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(()))
        self.grammar = grammar
        self.table = {tuple(row.tolist()): p for row, p in zip(grammar.contexts.input_ids, grammar.contexts.joint)}

    def forward(self, input_ids, attention_mask=None):
        logits = torch.zeros(*input_ids.shape, len(self.grammar.vocab), dtype=torch.float64)
        for b, row in enumerate(input_ids):
            at = int((row == MASK_ID).nonzero())
            logits[b, at] = self.table[tuple(row.tolist())].log()
        return type("Out", (), {"logits": logits})()


def test_evaluate_reads_logits_at_the_masked_positions(grammar):
    result = grammar.contexts.evaluate(_Oracle(grammar), batch_size=5000)
    assert result["accuracy"] == pytest.approx(result["optimum"], abs=1e-12)
    assert result["loss"] == pytest.approx(result["loss_floor"], abs=1e-9)
    assert result["ratio"] == pytest.approx(1.0)


def _with(**rules):
    return dict(rules={**FANTASY_RULES, **rules})


@pytest.mark.parametrize("change, match", [
    (_with(DET=((("the",), "1/2"), (("a",), "1/3"))), "sum of probabilities of DET"),
    (_with(HURT=((("HURT",), "1"),)), "recursion"),
    (_with(DET=((("The",), "1"),)), "'The'"),
    (_with(DET=((("the",), "3/2"), (("a",), "-1/2"))), "in \\(0, 1\\]"),
    (_with(DET=((("the",), "half"),)), "'half'"),
    (dict(start="START"), "start='START'"),
    (dict(max_len=8), "max_len=8"),
])
def test_bad_grammars_are_refused_with_the_bad_value(change, match):
    with pytest.raises(RollToTrainError, match=match):
        FantasyGrammar(GrammarConfig(**change))


def test_bad_arguments_are_refused(grammar):
    with pytest.raises(TypeError, match="rng"):
        grammar.sample(3, rng=0)
    with pytest.raises(RollToTrainError, match="input_ids"):
        mask_tokens(torch.zeros(4, dtype=torch.long), torch.Generator())
    with pytest.raises(RollToTrainError, match="at least one word"):
        mask_tokens(torch.tensor([[CLS_ID, SEP_ID]]), torch.Generator())
    with pytest.raises(TypeError, match="generator"):
        mask_tokens(torch.tensor([[CLS_ID, 5, SEP_ID]]), 0)
    with pytest.raises(RollToTrainError, match="batch_size"):
        grammar.mlm_batches(10, batch_size=0, seed=0)
