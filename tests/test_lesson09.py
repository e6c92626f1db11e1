"""Lesson 9's code (rtt_edu.course.lesson09): the exact posterior of a masked word read from the grammar,
and its self-checks."""
from fractions import Fraction

import pytest

from rtt_edu.course import lesson09 as c9
from rtt_edu.data import FantasyGrammar
from rtt_edu.data.grammar import FANTASY_RULES
from rtt_edu.errors import RollToTrainError


def test_lesson09_rogue_check_matches_the_grammar():
    words = "a brave rogue guards the [MASK]".split()
    i = words.index("[MASK]")
    weights = {}
    for sentence, p in FantasyGrammar().sentences.items():
        if len(sentence) == len(words) and all(a == b for j, (a, b) in enumerate(zip(sentence, words)) if j != i):
            weights[sentence[i]] = weights.get(sentence[i], 0) + p
    best = max(weights.values()) / sum(weights.values())
    assert c9.check_rogue_best_accuracy(best)
    assert not c9.check_rogue_best_accuracy(1)


def test_mask_posterior_reads_the_grammar_rules():
    spell = {rhs[0]: Fraction(p) for rhs, p in FANTASY_RULES["SPELL"]}
    assert c9.mask_posterior("the wizard casts a [MASK]") == spell
    det = {rhs[0]: Fraction(p) for rhs, p in FANTASY_RULES["DET"]}
    assert c9.mask_posterior("[MASK] wise knight slays a troll") == det
    assert c9.check_mask_probability(spell["fireball"]) and not c9.check_mask_probability(spell["spell"])
    assert c9.check_context_best_accuracy(float(max(det.values())))
    assert c9.check_best_word("cleric") and not c9.check_best_word("knight")
    with pytest.raises(RollToTrainError, match="no sentence"):
        c9.mask_posterior("the dragon casts a [MASK]")
    with pytest.raises(RollToTrainError, match="exactly one"):
        c9.mask_posterior("the wizard casts a spell")


def test_lesson09_key_answers_are_right_and_none_asks_for_an_answer():
    assert c9.check_rogue_best_accuracy(Fraction(1, 2))
    assert c9.check_mask_probability(Fraction(1, 3), "the wizard casts a [MASK]", "fireball")
    assert c9.check_context_best_accuracy(Fraction(3, 5), "[MASK] wise knight slays a troll")
    assert c9.check_best_word("cleric", "the brave [MASK] heals a wounded knight")
    for check in (c9.check_rogue_best_accuracy, c9.check_mask_probability, c9.check_context_best_accuracy,
                  c9.check_best_word):
        assert "replace `None`" in check(None).message


def test_lesson09_named_mistakes_are_recognised():
    assert "uniform" in c9.check_rogue_best_accuracy(Fraction(1, 3)).message
    assert "'gem' or 'crown'" in c9.check_rogue_best_accuracy(Fraction(1, 4)).message
    assert "not the most likely" in c9.check_best_word("a", "[MASK] wise knight slays a troll").message
    assert "never appears" in c9.check_best_word("dragon").message


def test_lesson09_quiz():
    assert [q.right for q in c9.QUIZ] == ["b", "c", "b", "c"]
    with pytest.raises(RollToTrainError, match="question number"):
        c9.check_quiz("a", 5)
