"""The small BERT: shapes, the MLM loss convention, attention, seeded init, and that it learns."""
import pytest
import torch
from torch.nn import functional as F

from rtt_edu import RollToTrain
from rtt_edu.data import IGNORE_INDEX, PAD_ID, FantasyGrammar
from rtt_edu.errors import RollToTrainError
from rtt_edu.models import BertConfig, BertMLM, MaskedLMOutput


@pytest.fixture(scope="module")
def grammar():
    return FantasyGrammar()


def tiny(grammar, seed=0, **changes):
    config = BertConfig.tiny(vocab_size=len(grammar.vocab), max_len=grammar.config.max_len, **changes)
    return BertMLM(config, seed=seed)


@pytest.fixture(scope="module")
def batch(grammar):
    return grammar.mlm_batches(6, batch_size=6, seed=0)[0]


def test_shapes_and_output_type(grammar, batch):
    model = tiny(grammar, n_layers=2)
    out = model(**batch, return_attention=True)
    B, T = batch["input_ids"].shape
    assert isinstance(out, MaskedLMOutput) and isinstance(out, dict)
    assert out.logits.shape == (B, T, len(grammar.vocab)) and out.loss.shape == ()
    assert len(out.attentions) == 2 and out.attentions[0].shape == (B, 2, T, T)
    assert out["loss"] is out.loss                     # HuggingFace Trainer reads outputs["loss"]
    plain = model(batch["input_ids"], batch["attention_mask"])
    assert set(plain) == {"logits"} and plain.loss is None and plain.attentions is None


def test_loss_is_cross_entropy_over_labelled_positions_only(grammar, batch):
    model = tiny(grammar)
    out = model(**batch)
    chosen = batch["labels"] != IGNORE_INDEX
    expected = F.cross_entropy(out.logits[chosen], batch["labels"][chosen])
    assert torch.allclose(out.loss, expected)
    assert chosen.sum() == len(batch["labels"])         # one masked word per sentence


def test_head_is_tied_to_the_token_embeddings(grammar, batch):
    model = tiny(grammar)
    shapes = [p.shape for p in model.parameters()]
    assert shapes.count(torch.Size([len(grammar.vocab), model.config.d_model])) == 1
    before = model(**batch).logits
    with torch.no_grad():
        model.tok_emb[5] += 1.0                          # token 5's output score changes with its embedding
    after = model(**batch).logits
    assert not torch.allclose(before[..., 5], after[..., 5])


def test_attention_rows_sum_to_one_and_padding_gets_none(grammar, batch):
    model = tiny(grammar, n_layers=2)
    atts = model(**batch, return_attention=True).attentions
    pad = batch["attention_mask"] == 0
    assert pad.any()
    for att in atts:
        assert torch.allclose(att.sum(-1), torch.ones(att.shape[:-1]))
        assert (att.masked_select(pad[:, None, None, :]) == 0).all()     # every column of a padded key
        assert (att.masked_select(~pad[:, None, None, :]) > 0).all()


def test_padding_content_does_not_change_real_tokens(grammar, batch):
    model = tiny(grammar, n_layers=2)
    scribbled = batch["input_ids"].clone()
    pad = batch["attention_mask"] == 0
    scribbled[pad] = 7                                   # any word id written into the padding
    a = model(batch["input_ids"], batch["attention_mask"]).logits
    b = model(scribbled, batch["attention_mask"]).logits
    real = ~pad
    assert torch.allclose(a[real], b[real], atol=1e-6)
    assert not torch.allclose(a[pad], b[pad])
    # attention_mask=None treats [PAD] tokens as padding
    assert torch.allclose(model(batch["input_ids"]).logits[real], a[real], atol=1e-6)


def test_attention_map_is_one_head_of_one_layer(grammar, batch):
    model = tiny(grammar, n_layers=2)
    ids = batch["input_ids"][0]
    one = model.attention_map(ids, layer=1, head=1)
    full = model(ids[None], return_attention=True).attentions[1][0, 1]
    assert one.shape == (len(ids), len(ids)) and torch.equal(one, full)
    assert model.attention_map(batch["input_ids"], layer=0, head=0).shape == (6, len(ids), len(ids))
    with pytest.raises(RollToTrainError, match="layer=2"):
        model.attention_map(ids, layer=2, head=0)


def test_seeded_init_is_reproducible_and_leaves_global_rng_alone(grammar):
    state = torch.random.get_rng_state()
    a, b, c = tiny(grammar, seed=3), tiny(grammar, seed=3), tiny(grammar, seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    for (name, pa), pb, pc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(pa, pb), name
        if pa.ndim == 2:
            assert not torch.equal(pa, pc), name
    g = torch.Generator().manual_seed(3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), BertMLM(a.config, generator=g).parameters()))
    std = a.tok_emb.std().item()
    assert 0.015 < std < 0.025                            # N(0, 0.02^2)
    ln = a.blocks[0].ln_1
    assert (ln.weight == 1).all() and (ln.bias == 0).all() and (a.head_bias == 0).all()



def test_a_short_plain_run_lowers_the_exact_mlm_loss(grammar, one_thread):
    model = tiny(grammar)
    before = grammar.contexts.evaluate(model)
    batches = grammar.mlm_batches(60 * 64, batch_size=64, seed=1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    history = RollToTrain(model, optimizer, rules="plain", seed=0, progress=False).train(batches)
    after = grammar.contexts.evaluate(model)
    assert len(history.steps) == 60
    assert after["loss"] < 0.6 * before["loss"]
    assert after["accuracy"] > before["accuracy"] + 0.2


def test_same_seeds_train_to_identical_weights(grammar, one_thread):
    batches = grammar.mlm_batches(10 * 32, batch_size=32, seed=2)
    weights = []
    for _ in range(2):
        model = tiny(grammar, seed=5)
        trainer = RollToTrain(model, torch.optim.AdamW(model.parameters(), lr=1e-3), seed=9, progress=False)
        trainer.train(batches)
        weights.append(model.state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


@pytest.mark.parametrize("changes, match", [
    (dict(d_model=30, n_heads=4), "d_model=30"),
    (dict(dropout=1.0), "dropout=1.0"),
    (dict(n_layers=0), "n_layers=0"),
    (dict(init_std=0.0), "init_std"),
])
def test_bad_configs_are_refused(changes, match):
    with pytest.raises(RollToTrainError, match=match):
        BertConfig(**changes)


def test_bad_arguments_are_refused(grammar):
    config = BertConfig.tiny(vocab_size=len(grammar.vocab), max_len=12)
    with pytest.raises(RollToTrainError, match="exactly one"):
        BertMLM(config)
    with pytest.raises(RollToTrainError, match="exactly one"):
        BertMLM(config, generator=torch.Generator(), seed=0)
    with pytest.raises(TypeError, match="n_heads=2.0"):
        BertConfig(n_heads=2.0)
    with pytest.raises(RollToTrainError, match=r"input_ids.shape=\(1, 13\)"):
        BertMLM(config, seed=0)(torch.full((1, 13), PAD_ID))
