# %% [markdown]
# # A small Transformer, as a notebook
#
# Attention written out with tensors and checked against PyTorch's own,
# then a tiny decoder-only Transformer (a character-level GPT) trained on
# the text of this chapter, `transformer_text.txt`, which must sit next to
# this notebook. The book's page "The Transformer" explains each part.

# %%
# --8<-- [start:setup]
import argparse
import errno
import math
import os
import pathlib
import sys
import tempfile

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F

TEXT_FILE = "transformer_text.txt"  # the chapter's manuscript, 8 KB
# --8<-- [end:setup]

# %% tags=["parameters"]
# --8<-- [start:parameters]
# How long to train: change it here in a notebook, or pass --steps to the
# program (python -m examples.ch07.transformer --steps 60 trains briefly).
STEPS = 1000
# --8<-- [end:parameters]


# %%
# --8<-- [start:attention]
def attention(query, key, value, causal=False):
    """Scaled dot-product attention: softmax(Q K^T / sqrt(d)) V.

    query, key and value are (..., length, d). Returns the output and the
    attention weights, (..., length, length), each row summing to 1."""
    d = query.size(-1)
    # How well each query matches each key; dividing by sqrt(d) keeps the
    # scores near unit size, so the softmax does not saturate as d grows.
    scores = query @ key.transpose(-2, -1) / math.sqrt(d)
    if causal:  # position i may look at positions 0..i only
        length = scores.size(-1)
        allowed = torch.ones(
            length, length, dtype=torch.bool, device=scores.device
        ).tril()
        scores = scores.masked_fill(~allowed, float("-inf"))
    weights = scores.softmax(dim=-1)
    return weights @ value, weights
    # --8<-- [end:attention]


# %%
# --8<-- [start:check]
def check_attention():
    """Our attention and PyTorch's agree, with and without the mask;
    returns the largest difference of each."""
    differences = {}
    generator = torch.Generator().manual_seed(0)
    # 2 sequences, 4 heads, 10 positions, 16 numbers per head
    q, k, v = torch.randn(3, 2, 4, 10, 16, generator=generator)
    for causal in (False, True):
        ours, _ = attention(q, k, v, causal=causal)
        theirs = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        assert torch.allclose(ours, theirs, atol=1e-6), causal
        name = "causal" if causal else "full"
        differences[name] = (ours - theirs).abs().max().item()
        print(
            f"{name} attention: largest difference from PyTorch "
            f"{differences[name]:.1e}"
        )
    return differences
    # --8<-- [end:check]


# %%
# --8<-- [start:model]
class CausalSelfAttention(nn.Module):
    """Several attention heads side by side, each looking back only."""

    def __init__(self, dim, heads, dropout):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)  # queries, keys, values at once
        self.proj = nn.Linear(dim, dim)  # mixes the heads' outputs
        self.dropout = nn.Dropout(dropout)

    def split_heads(self, x):
        """Queries, keys and values, each (batch, heads, length, dim //
        heads): each head attends with its own slice of the numbers."""
        batch, length, dim = x.shape
        q, k, v = self.qkv(x).split(dim, dim=2)
        shape = (batch, length, self.heads, dim // self.heads)
        return [t.view(shape).transpose(1, 2) for t in (q, k, v)]

    def forward(self, x):
        batch, length, dim = x.shape
        # PyTorch's attention: the numbers of ours (check_attention), by
        # the fastest kernel for the device. It returns no weights: the
        # plot gets them from ours (attention_weights, further down).
        out = F.scaled_dot_product_attention(
            *self.split_heads(x), is_causal=True
        )
        out = out.transpose(1, 2).reshape(batch, length, dim)
        return self.dropout(self.proj(out))


class Block(nn.Module):
    """Attention (tokens talk to each other), then an MLP (each token
    thinks on its own); each adds to the stream through a residual."""

    def __init__(self, dim, heads, dropout):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, 4 * dim),
            nn.GELU(),
            nn.Linear(4 * dim, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def sinusoidal_positions(length, dim):
    """The fixed position code of Vaswani et al. (2017): sines and cosines
    whose wavelengths grow geometrically from 2 pi towards 10000 * 2 pi."""
    position = torch.arange(length).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000) / dim))
    code = torch.zeros(length, dim)
    code[:, 0::2] = torch.sin(position * frequency)
    code[:, 1::2] = torch.cos(position * frequency)
    return code


class GPT(nn.Module):
    """A decoder-only Transformer that predicts the next character."""

    def __init__(
        self, vocab_size, context=64, dim=64, heads=4, layers=2, dropout=0.2
    ):
        super().__init__()
        self.context = context
        self.embed = nn.Embedding(vocab_size, dim)
        # A buffer, not a parameter: saved with the model, never trained.
        self.register_buffer("positions", sinusoidal_positions(context, dim))
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            Block(dim, heads, dropout) for _ in range(layers)
        )
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab_size)  # a score for every character

    def forward(self, ids):
        x = self.embed(ids) + self.positions[: ids.size(1)]
        x = self.dropout(x)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))  # (batch, length, vocab_size)

    @torch.no_grad()
    def generate(self, ids, count, generator, temperature=0.8):
        """Append `count` characters to ids (1, length), one at a time,
        each drawn from the model's prediction for the next character."""
        self.eval()
        for _ in range(count):
            logits = self(ids[:, -self.context :])[:, -1] / temperature
            probabilities = logits.softmax(dim=-1)
            next_id = torch.multinomial(probabilities, 1, generator=generator)
            ids = torch.cat([ids, next_id], dim=1)
        return ids
        # --8<-- [end:model]


# %%
# --8<-- [start:data]
def read_text(name=TEXT_FILE):
    """The chapter's text, from beside this file or the current folder."""
    places = [pathlib.Path.cwd()]
    if "__file__" in globals():  # a notebook has no __file__
        places.insert(0, pathlib.Path(__file__).resolve().parent)
    for path in [place / name for place in places]:
        if path.is_file():
            try:
                return path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise SystemExit(
                    f"error: {path} is damaged (it is not UTF-8 text); copy "
                    f"it again from examples/ch07/ of the book's repository"
                ) from None
    raise SystemExit(
        f"error: {name} was not found beside this program or in the current "
        f"folder; copy it from examples/ch07/ of the book's repository"
    )


# --8<-- [start:errors]
def check_writable(*paths):
    """Stop at once, before any training, if a file that the program will
    write later cannot be written (None stands for a file not asked for)."""
    for path in paths:
        if path is None:
            continue
        folder = os.path.dirname(path) or "."
        try:
            if os.path.isdir(path):
                raise IsADirectoryError(errno.EISDIR, "it is a folder")
            if os.path.isfile(folder):
                raise NotADirectoryError(errno.ENOTDIR, f"{folder} is a file")
            os.makedirs(folder, exist_ok=True)  # as writing it would
            with tempfile.TemporaryFile(dir=folder):
                pass  # the folder takes new files
            if os.path.exists(path) and not os.access(path, os.W_OK):
                raise PermissionError(errno.EACCES, "it is read-only")
        except OSError as error:
            raise SystemExit(
                f"error: cannot write {path} ({error.strerror or error}); "
                f"stopped before doing anything"
            ) from None
    # --8<-- [end:errors]


class Characters:
    """Text <-> tensor of ids, one id per distinct character."""

    def __init__(self, text):
        self.alphabet = sorted(set(text))
        self.index = {char: i for i, char in enumerate(self.alphabet)}

    def encode(self, text):
        return torch.tensor([self.index[char] for char in text])

    def decode(self, ids):
        return "".join(self.alphabet[i] for i in ids.tolist())


def random_windows(data, context, batch_size, generator):
    """Random stretches of the text; each target is its input moved on
    by one character: at every position, the next character."""
    starts = torch.randint(
        len(data) - context, (batch_size,), generator=generator
    )
    inputs = torch.stack([data[s : s + context] for s in starts])
    targets = torch.stack([data[s + 1 : s + context + 1] for s in starts])
    return inputs, targets


@torch.no_grad()
def mean_loss(model, inputs, targets):
    """Cross-entropy in nats per character, with dropout switched off."""
    model.eval()
    logits = model(inputs)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten()).item()
    # --8<-- [end:data]


# %%
# --8<-- [start:train]
def parameter_groups(model, weight_decay):
    """Weight decay for the weight matrices of the Linear layers only:
    not for biases, LayerNorm weights or the embedding."""
    # Decay pulls a parameter towards zero at every step. That restrains
    # a matrix that multiplies its input; but a LayerNorm weight sets the
    # scale of its output (1 at the start), a bias multiplies nothing, and
    # an embedding row of a rare character would shrink at every step while
    # it is trained only when its character appears.
    decay, no_decay = [], []
    for module in model.modules():
        for name, parameter in module.named_parameters(recurse=False):
            if isinstance(module, nn.Linear) and name == "weight":
                decay.append(parameter)
            else:
                no_decay.append(parameter)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def train(
    model,
    train_data,
    val_data,
    chars,
    steps,
    batch_size=32,
    lr=3e-3,
    seed=1,
    prompt="The ",
):
    """AdamW on random windows; the losses at the start, after every
    tenth of the steps and at the end, and a sample of text at four steps,
    the first and the last among them."""
    eval_every = max(1, steps // 10)
    sample_at = {0, steps // 25, steps // 5, steps}
    device = train_data.device
    batches = torch.Generator().manual_seed(seed)
    # multinomial draws with a generator on the device of its input
    sampler = torch.Generator(device).manual_seed(seed)
    # Fixed evaluation windows: windows of the validation text starting
    # every 16 characters, and as many random windows of the training
    # text, so that the two losses compare.
    val_windows = [
        val_data[:-1].unfold(0, model.context, 16),
        val_data[1:].unfold(0, model.context, 16),
    ]
    train_windows = random_windows(
        train_data, model.context, len(val_windows[0]), batches
    )
    optimizer = torch.optim.AdamW(parameter_groups(model, 0.1), lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, steps)
    history, samples = [], []
    for step in range(steps + 1):
        if step % eval_every == 0 or step == steps:
            history.append(
                {
                    "step": step,
                    "train_loss": mean_loss(model, *train_windows),
                    "validation_loss": mean_loss(model, *val_windows),
                }
            )
        if step in sample_at:
            start = chars.encode(prompt).unsqueeze(0).to(device)
            text = chars.decode(model.generate(start, 240, sampler)[0])
            samples.append({"step": step, "text": text})
        if step == steps:
            break
        model.train()
        inputs, targets = random_windows(
            train_data, model.context, batch_size, batches
        )
        logits = model(inputs)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return history, samples
    # --8<-- [end:train]


# %%
# --8<-- [start:plots]
def plot_losses(history, unigram_loss):
    steps = [row["step"] for row in history]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(
        steps,
        [row["train_loss"] for row in history],
        color="C0",
        label="training text",
    )
    ax.plot(
        steps,
        [row["validation_loss"] for row in history],
        color="C1",
        label="validation text (last 10 %)",
    )
    ax.axhline(
        unigram_loss,
        color="grey",
        linestyle="--",
        label="character frequencies alone",
    )
    ax.set_xlabel("training step")
    ax.set_ylabel("loss (nats per character)")
    ax.legend()
    fig.tight_layout()
    fig.savefig("transformer_loss.png", dpi=100)
    return fig


@torch.no_grad()
def attention_weights(model, ids, layer):
    """The attention weights of every head of one block, (heads, length,
    length), for the sequence ids (1, length). PyTorch's attention, which
    the model uses, does not return them: a forward hook catches what the
    block's attention receives, and our `attention` computes them."""
    model.eval()
    attn = model.blocks[layer].attn
    received = []
    hook = attn.register_forward_hook(
        lambda module, args, output: received.append(args[0])
    )
    try:
        model(ids)
    finally:
        hook.remove()
    _, weights = attention(*attn.split_heads(received[0]), causal=True)
    return weights[0]


def plot_attention(model, chars, text, layer=-1, head=0):
    """How much each character of `text` attends to each earlier one."""
    ids = chars.encode(text).unsqueeze(0).to(model.positions.device)
    weights = attention_weights(model, ids, layer)[head].cpu()
    fig, ax = plt.subplots(figsize=(7, 7))
    ax.imshow(weights, cmap="Blues", vmin=0, vmax=1)
    labels = [repr(char)[1:-1] for char in text]  # shows spaces as ' '
    ax.set_xticks(range(len(text)), labels, fontsize=8)
    ax.set_yticks(range(len(text)), labels, fontsize=8)
    ax.set_xlabel("attends to (key)")
    ax.set_ylabel("character being read (query)")
    ax.set_title(
        f"layer {len(model.blocks) + layer if layer < 0 else layer}"
        f", head {head}"
    )
    fig.tight_layout()
    fig.savefig("transformer_attention.png", dpi=100)
    return fig
    # --8<-- [end:plots]


# %%
# --8<-- [start:main]
class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not the whole usage text
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not value > 0:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a positive number"
            )
        return value

    return parse


def main(argv=None):
    parser = Parser(description="A small Transformer on the chapter's text")
    parser.add_argument(
        "--steps",
        type=positive(int),
        default=STEPS,
        help=f"training steps (default: {STEPS})",
    )
    args = parser.parse_args(argv)
    check_writable("transformer_loss.png", "transformer_attention.png")
    # The accelerator (a GPU, say) if there is one, else the CPU: the
    # model is small enough for either.
    if torch.accelerator.is_available():
        device = torch.accelerator.current_accelerator()
    else:
        device = torch.device("cpu")
    differences = check_attention()
    torch.manual_seed(1)  # the initial weights and dropout
    text = read_text()
    chars = Characters(text)
    data = chars.encode(text).to(device)
    split = int(0.9 * len(data))  # first 90 % to train, last 10 % to validate
    train_data, val_data = data[:split], data[split:]
    print(
        f"{len(text):,} characters, {len(chars.alphabet)} distinct: "
        f"{split:,} to train on, {len(val_data):,} to validate"
    )

    model = GPT(len(chars.alphabet)).to(device)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"{parameters:,} parameters")

    # A baseline: how well character frequencies alone predict the
    # validation text, without looking at any context.
    counts = torch.bincount(train_data, minlength=len(chars.alphabet)) + 1
    unigram_loss = -(counts / counts.sum()).log()[val_data].mean().item()

    history, samples = train(model, train_data, val_data, chars, args.steps)
    for row in history[::2]:  # every other evaluation
        print(
            f"step {row['step']:5d}  train loss {row['train_loss']:.3f}  "
            f"validation loss {row['validation_loss']:.3f} "
            f"(perplexity {math.exp(row['validation_loss']):.2f})"
        )
    best = min(history, key=lambda row: row["validation_loss"])
    plot_losses(history, unigram_loss)
    plot_attention(model, chars, "neural networks using PyTorch")
    return {
        "device": str(device),
        "attention_differences": differences,
        "characters": len(text),
        "alphabet": len(chars.alphabet),
        "train_characters": split,
        "validation_characters": len(val_data),
        "parameters": parameters,
        "steps": args.steps,
        "history": history,
        "samples": samples,
        "validation_loss": history[-1]["validation_loss"],
        "validation_perplexity": math.exp(history[-1]["validation_loss"]),
        "best_step": best["step"],
        "best_validation_perplexity": math.exp(best["validation_loss"]),
        "unigram_perplexity": math.exp(unigram_loss),
    }


if __name__ == "__main__":
    # In a notebook, sys.argv holds the kernel's own arguments: use STEPS.
    results = main([] if "ipykernel" in sys.modules else None)
# --8<-- [end:main]
