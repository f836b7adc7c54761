# %% [markdown]
# # The Transformer's exercises, solved
#
# The worked solutions to the exercises at the end of the book's page "The
# Transformer", one cell each, after the cell they share. They need no data
# and train nothing: they take attention apart on random tensors, in a few
# seconds. Run it cell by cell here, or as a script with
# `python -m examples.ch07.transformer_exercises`.

# %%
# --8<-- [start:setup]
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

results = {}  # what each solution measured: the page quotes it
# --8<-- [end:setup]

# %% [markdown]
# ## 1. Follow a batch through attention

# %%
# --8<-- [start:shapes]
results["shapes"] = {}
for length in (64, 128):  # 32 windows, vectors of 64 numbers, 4 heads
    q = torch.randn(32, length, 64).view(32, length, 4, 16).transpose(1, 2)
    weights = (q @ q.transpose(-2, -1) / 4).softmax(dim=-1)  # √16 = 4
    print(f"queries {tuple(q.shape)}, weights {tuple(weights.shape)}")
    results["shapes"][length] = weights.numel()
# --8<-- [end:shapes]

# %% [markdown]
# ## 2. Count the parameters
#
# Answered in words on the page: no code.

# %% [markdown]
# ## 3. Why divide by the square root of d?

# %%
# --8<-- [start:scaling]
torch.manual_seed(0)
upstream = torch.randn(64, 64)  # a gradient from further up
results["scaling"] = {}
for d in (16, 64, 256, 1024):
    scores = torch.randn(64, d) @ torch.randn(d, 64)  # 64 queries, 64 keys
    row = [scores.std().item()]
    for given in (scores, scores / math.sqrt(d)):  # undivided, divided
        weights = given.requires_grad_().softmax(dim=-1)
        (grad,) = torch.autograd.grad(weights, given, upstream)
        row += [weights.max(-1)[0].mean().item(), grad.abs().mean().item()]
    print(
        "d = {:4}: spread {:4.1f}; largest weight {:.2f}, gradient {:.4f}; "
        "divided: {:.2f}, {:.4f}".format(d, *row)
    )
    results["scaling"][d] = row
# --8<-- [end:scaling]

# %% [markdown]
# ## 4. Predict, then run: order without position codes


# %%
# --8<-- [start:order]
def block(y, qkv):  # causal attention, one head, and the residual
    q, k, v = qkv(y).chunk(3, dim=-1)
    return y + F.scaled_dot_product_attention(q, k, v, is_causal=True)


torch.manual_seed(0)
x = torch.randn(1, 64, 16)  # 64 vectors, no position codes
order = torch.cat([torch.randperm(63), torch.tensor([63])])  # last kept
out, shuffled, results["order"] = x, x[:, order], {}
for blocks in (1, 2):
    qkv = nn.Linear(16, 48)  # one more block
    out, shuffled = block(out, qkv), block(shuffled, qkv)
    moved = (out - shuffled)[0, -1].abs().max().item()
    print(f"{blocks} block(s): the last output moved by {moved:.1e}")
    results["order"][blocks] = moved
# --8<-- [end:order]
