"""The claims of "The Transformer" (examples/ch07/transformer.py).

The tests train the example for a few dozen steps instead of the recorded run's full length,
as a reader can (QUICK in tests/conftest.py): as a module with `--steps 60`, as a notebook with
`STEPS = 60` in a cell after its cell tagged "parameters". The claims about that brief training read
the `results` of the example's one run as a notebook in this session; its thresholds sit
well below what the book's machine measures. What the page says of the recorded run (its
samples, its first perplexity, how often it read its text) is checked on the recorded
notebook's results; the rest check the model on small tensors.
"""

import inspect
import json
import math
import re

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from examples.ch07 import transformer
from tests.helpers import REPO

NAME = "ch07/transformer"


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_hand_attention_equals_pytorchs(causal):
    generator = torch.Generator().manual_seed(3)
    q, k, v = torch.randn(3, 5, 2, 17, 8, generator=generator)
    ours, weights = transformer.attention(q, k, v, causal=causal)
    theirs = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    assert torch.allclose(ours, theirs, atol=1e-6)
    assert torch.allclose(weights.sum(-1), torch.ones(5, 2, 17))
    if causal:  # nothing attends to a later position
        assert torch.all(weights.triu(diagonal=1) == 0)


def test_shuffling_keys_and_values_changes_nothing_only_without_the_mask():
    """Without the mask, attention ignores order; with it, position i ignores the order of
    positions 0..i only."""
    generator = torch.Generator().manual_seed(4)
    q, k, v = torch.randn(3, 12, 8, generator=generator)
    shuffle = torch.randperm(12, generator=generator)
    out, _ = transformer.attention(q, k, v)
    shuffled, _ = transformer.attention(q, k[shuffle], v[shuffle])
    assert torch.allclose(out, shuffled, atol=1e-6), "no mask: the same average everywhere"
    out, _ = transformer.attention(q, k, v, causal=True)
    shuffled, _ = transformer.attention(q, k[shuffle], v[shuffle], causal=True)
    assert not torch.allclose(out, shuffled, atol=1e-3), "the mask: shuffling changes it"
    last = torch.randperm(12, generator=generator)  # every position is before the last
    shuffled, _ = transformer.attention(q, k[last], v[last], causal=True)
    assert torch.allclose(out[-1], shuffled[-1], atol=1e-6), "among those it sees: blind"


def test_blocks_normalise_before_each_part_pre_ln():
    """x + attn(norm1(x)), then + mlp(norm2(x)): LayerNorm before each part, not after."""
    torch.manual_seed(0)
    block = transformer.Block(dim=16, heads=2, dropout=0.0).eval()
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        x1 = x + block.attn(block.norm1(x))
        assert torch.allclose(block(x), x1 + block.mlp(block.norm2(x1)), atol=1e-6)


def test_a_later_character_does_not_change_earlier_outputs():
    torch.manual_seed(0)
    model = transformer.GPT(vocab_size=20).eval()
    ids = torch.randint(20, (1, 40))
    changed = ids.clone()
    changed[0, 25] = (ids[0, 25] + 1) % 20
    with torch.no_grad():
        before, after = model(ids), model(changed)
    assert torch.equal(before[0, :25], after[0, :25]), "positions 0..24 cannot see position 25"
    assert not torch.allclose(before[0, 25:], after[0, 25:]), "positions 25.. do see it"


def test_positions_are_the_sinusoids_of_vaswani_et_al():
    code = transformer.sinusoidal_positions(50, 16)
    pos, i = 7, 3
    assert code[pos, 2 * i].item() == pytest.approx(math.sin(pos / 10000 ** (2 * i / 16)), abs=1e-6)
    assert code[pos, 2 * i + 1].item() == pytest.approx(
        math.cos(pos / 10000 ** (2 * i / 16)), abs=1e-6
    )


def test_the_text_is_the_chapter_with_its_dash_repaired():
    text = (REPO / "examples" / "ch07" / transformer.TEXT_FILE).read_text(encoding="utf-8")
    assert text.startswith("# Chapter 7: Neural Networks using PyTorch")
    assert "neural networks\u2014their" in text and "\u00e2\u20ac" not in text


def test_brief_training_lowers_the_validation_loss(notebook_run):
    results = notebook_run(NAME).results
    history = results["history"]
    first, last = history[0]["validation_loss"], history[-1]["validation_loss"]
    assert first > math.log(results["alphabet"]) - 0.5, "an untrained model guesses about uniformly"
    assert last < first - 1.2, (first, last)
    assert last < 3.0, f"validation loss {last:.2f} after {results['steps']} steps"
    assert last < math.log(results["unigram_perplexity"]), "better than character frequencies"
    assert results["validation_perplexity"] == pytest.approx(math.exp(last))


def test_losses_at_ten_even_steps_and_samples_at_four(notebook_run):
    results = notebook_run(NAME).results
    steps = results["steps"]
    assert [row["step"] for row in results["history"]] == list(range(0, steps + 1, steps // 10))
    samples = results["samples"]
    assert [s["step"] for s in samples] == [0, steps // 25, steps // 5, steps]
    assert all(s["text"].startswith("The ") and len(s["text"]) == 4 + 240 for s in samples)


def test_the_plotted_weights_are_those_the_model_attends_with():
    """The model attends with PyTorch's attention; the plot's weights come from ours, through
    a hook on the block's input: weights @ values is what the model computed."""
    torch.manual_seed(0)
    model = transformer.GPT(vocab_size=20).eval()
    ids = torch.randint(20, (1, 30))
    weights = transformer.attention_weights(model, ids, layer=-1)
    with torch.no_grad():
        x = model.blocks[0](model.embed(ids) + model.positions[:30])
        q, k, v = model.blocks[-1].attn.split_heads(model.blocks[-1].norm1(x))
        used = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert weights.shape == (4, 30, 30)
    assert torch.allclose(weights @ v[0], used[0], atol=1e-5)
    assert torch.allclose(weights.sum(-1), torch.ones(4, 30))
    assert torch.all(weights.triu(diagonal=1) == 0)
    assert not model.blocks[-1].attn._forward_hooks, "the hook is removed"


def test_weight_decay_only_on_the_linear_layers_weight_matrices(monkeypatch):
    """Two groups for AdamW: the Linear layers' weight matrices decay; biases, LayerNorm
    weights and the embedding do not. And train() gives AdamW those groups."""
    text = "the chapter's text, short " * 20
    chars = transformer.Characters(text)
    model = transformer.GPT(vocab_size=len(chars.alphabet))
    names = {id(p): name for name, p in model.named_parameters()}
    decay, no_decay = transformer.parameter_groups(model, 0.1)
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (0.1, 0.0)
    linear = {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    assert {names[id(p)] for p in decay["params"]} == linear
    assert {names[id(p)] for p in no_decay["params"]} == set(names.values()) - linear
    assert "embed.weight" in {names[id(p)] for p in no_decay["params"]}
    assert len(decay["params"]) + len(no_decay["params"]) == len(names), "each once"

    groups = []

    class Recording(torch.optim.AdamW):
        def __init__(self, params, **kwargs):
            super().__init__(params, **kwargs)
            groups.extend(self.param_groups)

    monkeypatch.setattr(torch.optim, "AdamW", Recording)
    data = chars.encode(text)
    transformer.train(model, data[:400], data[400:], chars, steps=1, prompt="the ")
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]
    assert [len(g["params"]) for g in groups] == [len(decay["params"]), len(no_decay["params"])]


def test_the_recorded_last_sample_holds_what_the_page_describes():
    """The page: by the end it writes inventions ("momels", "Shemopleles") and "the model",
    blank lines, backticks, a line starting with "#", a line of code shaped like
    `x = self.fc2(x)` (`s = Sput(oater(s)`), and a "#" after a run of spaces."""
    text = recorded_results()["samples"][-1]["text"]
    assert all(word in text for word in ("momels", "Shemopleles", "the model", "\n\n", "``"))
    assert any(line.startswith("#") for line in text.splitlines())
    assert "s = Sput(oater(s)" in text
    assert re.search(r"  +# ", text), text
    manuscript = (REPO / "examples" / "ch07" / transformer.TEXT_FILE).read_text(encoding="utf-8")
    assert "x = self.fc2(x)" in manuscript and "```" in manuscript
    assert re.search(r"\S  +# ", manuscript), "a comment at the end of a line of code"


def test_the_hand_written_attention_matches_pytorchs_in_the_run(notebook_run):
    differences = notebook_run(NAME).results["attention_differences"]
    assert set(differences) == {"full", "causal"}
    assert all(value < 1e-5 for value in differences.values()), differences


def recorded_results():
    notebook = json.loads((REPO / f"docs/notebooks/{NAME}.ipynb").read_text())
    return notebook["metadata"]["recorded_run"]["results"]


def test_the_recorded_untrained_model_guesses_about_uniformly():
    """The page: an untrained model's perplexity is a little above the size of the alphabet,
    that of a uniform guess."""
    results = recorded_results()
    first = math.exp(results["history"][0]["validation_loss"])
    assert results["alphabet"] < first < 1.15 * results["alphabet"], first


def test_the_recorded_losses_fall_then_part_as_the_page_says():
    """The page: both losses fall fast for the first couple of hundred steps, then part; the
    validation loss flattens out; the gap grew through most of the run and stopped growing only
    at the end."""
    results = recorded_results()
    history = results["history"]
    first, at_200 = history[0], next(row for row in history if row["step"] == 200)
    assert first["validation_loss"] - at_200["validation_loss"] > 1.5
    gaps = [row["validation_loss"] - row["train_loss"] for row in history]
    growing = [later > earlier for earlier, later in zip(gaps, gaps[1:])]
    assert all(growing[1:-1]) and not growing[-1], gaps  # from step 100 on
    last_three = [row["validation_loss"] for row in history[-3:]]
    assert max(last_three) - min(last_three) < 0.02, "flat at the end"


def test_the_recorded_run_read_its_text_hundreds_of_times_over():
    """The page: the model has read its text hundreds of times over."""
    results = recorded_results()
    batch_size = inspect.signature(transformer.train).parameters["batch_size"].default
    context = inspect.signature(transformer.GPT).parameters["context"].default
    passes = results["steps"] * batch_size * context / results["train_characters"]
    assert 200 <= passes < 1000, passes
