# %% [markdown]
# # The recurrent network's exercises, solved
#
# The worked solutions to the exercises at the end of the book's page "A
# recurrent network: reading a digit row by row", one cell each, after the
# cells they share. Run it cell by cell here, or as a script with
# `python -m examples.ch07.rnn_exercises`. To keep it short, each network
# trains on a quarter of one epoch only.

# %%
# --8<-- [start:setup]

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

MEAN, STD = 0.1307, 0.3081  # of MNIST's training pixels, scaled to [0, 1]
DATA_DIR = "./data"
results = {}  # what each solution measured: the page quotes it


class Reader(nn.Module):
    """The page's RowReader, with a choice of recurrent layer: nn.LSTM,
    nn.GRU or nn.RNN, 128 units reading one row of 28 pixels per step."""

    def __init__(self, layer=nn.LSTM):
        super().__init__()
        self.rnn = layer(input_size=28, hidden_size=128, batch_first=True)
        self.fc = nn.Linear(128, 10)

    def forward(self, images, every_step=False):
        outputs, _ = self.rnn(images)  # the hidden state after every row
        if every_step:  # the answer it would give after each row
            return self.fc(outputs)  # (N, 28, 10)
        return self.fc(outputs[:, -1])  # after the last row: (N, 10)


def fit(net, images, labels, every_step=False, share=0.25, batch_size=128):
    """The page's recipe (Adam with a one-cycle schedule peaking at 0.01,
    batches of 128, gradients clipped to length 1) for one pass over a
    random share of the images. With every_step, the loss is the mean of
    the losses of the answers after every row, not after the last row only.
    Returns the gradient's length before clipping, at every step."""
    order = torch.randperm(len(images))[: int(share * len(images))]
    batches = order.split(batch_size)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=0.01, total_steps=len(batches)
    )
    net.train()
    lengths = []
    for batch in batches:
        if every_step:  # (N, 28, 10) answers, each row's against the label
            logits = net(images[batch], every_step=True)
            loss = F.cross_entropy(
                logits.flatten(0, 1), labels[batch].repeat_interleave(28)
            )
        else:
            loss = F.cross_entropy(net(images[batch]), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        length = nn.utils.clip_grad_norm_(net.parameters(), max_norm=1.0)
        lengths.append(length.item())
        optimizer.step()
        scheduler.step()
    return lengths


@torch.no_grad()
def accuracy_after_rows(net, images, labels, batch_size=2000):
    """The accuracy (%) if the network stopped reading after row 1, 2, ...
    28: a list of 28 percentages, the last one its accuracy."""
    net.eval()
    correct = torch.zeros(28)
    for start in range(0, len(images), batch_size):
        logits = net(images[start : start + batch_size], every_step=True)
        guesses = logits.argmax(dim=2)  # (batch, 28)
        correct += (guesses == labels[start : start + batch_size, None]).sum(0)
    return (100 * correct / len(images)).tolist()
    # --8<-- [end:setup]


# %%
# --8<-- [start:load]
def read_mnist(data_dir):
    """Both MNIST splits as (images, labels), the images normalised as in the
    chapter, (N, 1, 28, 28). MNIST is downloaded into data_dir if missing; if
    it cannot be loaded, one line says why, not a traceback."""
    try:
        splits = [
            torchvision.datasets.MNIST(data_dir, train=train, download=True)
            for train in (True, False)
        ]
    except Exception as error:  # missing and offline, or a damaged file
        reason = (str(error).strip().splitlines() or [repr(error)])[-1]
        raise SystemExit(
            f"error: MNIST could not be loaded from {data_dir} ({reason}); "
            f"the page's program downloads it, or names the damaged file"
        ) from None
    return [
        ((split.data.unsqueeze(1).float() / 255 - MEAN) / STD, split.targets)
        for split in splits
    ]


(train_images, train_labels), (test_images, test_labels) = read_mnist(DATA_DIR)
# (N, 28, 28): to the recurrent layer an image is a sequence of 28 rows
train_images, test_images = train_images.squeeze(1), test_images.squeeze(1)
print(f"{len(train_images):,} training and {len(test_images):,} test images")
results["train_images"] = len(train_images)
results["test_images"] = len(test_images)
# --8<-- [end:load]

# %% [markdown]
# ## 1. Three recurrent layers, counted

# %%
# --8<-- [start:count]
results["count"] = {}
for layer in (nn.RNN, nn.GRU, nn.LSTM):
    name = layer.__name__
    rnn = layer(input_size=28, hidden_size=128, batch_first=True)
    parameters = sum(p.numel() for p in rnn.parameters())
    blocks = rnn.weight_hh_l0.shape[0] // 128  # of W and U, stacked
    multiply_adds = 28 * (rnn.weight_ih_l0.numel() + rnn.weight_hh_l0.numel())
    print(
        f"nn.{name:4} {blocks} x (W, U): {parameters:6,} parameters, "
        f"{multiply_adds / 1e6:.2f} million multiply-adds per image"
    )
    results["count"][name] = {
        "blocks": blocks,
        "parameters": parameters,
        "multiply_adds": multiply_adds,
    }
# --8<-- [end:count]

# %% [markdown]
# ## 2. How often does the clipping act?

# %%
# --8<-- [start:clipping]
torch.manual_seed(1)
lstm = Reader(nn.LSTM)
lengths = torch.tensor(fit(lstm, train_images, train_labels))
half = len(lengths) // 2
clipped = lengths > 1.0  # clip_grad_norm_ shortened these to length 1
print(f"{len(lengths)} steps; the gradient's length before clipping:")
print(
    f"  median {lengths.median():.2f}, largest {lengths.max():.2f}; "
    f"clipped at {clipped.sum()} steps ({100 * clipped.float().mean():.0f} %)"
)
print(
    f"  clipped in the first half {100 * clipped[:half].float().mean():.0f} %"
    f", in the second half {100 * clipped[half:].float().mean():.0f} %"
)
lstm_rows = accuracy_after_rows(lstm, test_images, test_labels)
print(f"test accuracy after a quarter epoch: {lstm_rows[-1]:.2f} %")
results["clipping"] = {
    "steps": len(lengths),
    "median": lengths.median().item(),
    "largest": lengths.max().item(),
    "clipped_percent": 100 * clipped.float().mean().item(),
    "first_half_percent": 100 * clipped[:half].float().mean().item(),
    "second_half_percent": 100 * clipped[half:].float().mean().item(),
    "accuracy": lstm_rows[-1],
}
# --8<-- [end:clipping]

# %% [markdown]
# ## 3. Predict, then run: a simple RNN, and a GRU


# %%
# --8<-- [start:cells]
@torch.no_grad()
def accuracy(net, images, labels):
    net.eval()
    return 100 * (net(images).argmax(dim=1) == labels).float().mean().item()


nets = {"LSTM": lstm}  # the LSTM of exercise 2
for layer in (nn.RNN, nn.GRU):
    torch.manual_seed(1)
    nets[layer.__name__] = Reader(layer)
    fit(nets[layer.__name__], train_images, train_labels)

top_blank = test_images.clone()
top_blank[:, :7] = (0 - MEAN) / STD  # the first 7 rows: blank paper
ink = test_images * STD + MEAN  # back to [0, 1]: 0 is blank paper
top_ink = 100 * (ink[:, :7].sum() / ink.sum()).item()
print(f"the first 7 rows hold {top_ink:.1f} % of the test digits' ink")
results["cells"] = {"top_ink": top_ink}
for name, net in nets.items():
    whole = accuracy(net, test_images, test_labels)
    without_top = accuracy(net, top_blank, test_labels)
    print(
        f"{name:4}: test accuracy {whole:5.2f} %, "
        f"{without_top:5.2f} % with the first 7 rows blanked"
    )
    results["cells"][name] = {"whole": whole, "top_blank": without_top}
# --8<-- [end:cells]

# %% [markdown]
# ## 4. Why are its answers before the last row so poor?

# %%
# --8<-- [start:every_step]
torch.manual_seed(1)
every = Reader(nn.LSTM)
fit(every, train_images, train_labels, every_step=True)
every_rows = accuracy_after_rows(every, test_images, test_labels)
for rows in (7, 14, 20, 24, 28):
    print(
        f"after {rows:2} rows: {lstm_rows[rows - 1]:5.2f} % trained to answer "
        f"at the end, {every_rows[rows - 1]:5.2f} % trained at every row"
    )
results["every_step"] = {"last_row": lstm_rows, "every_row": every_rows}
# --8<-- [end:every_step]
