# %% [markdown]
# # The convolutional network's exercises, solved
#
# The worked solutions to the exercises at the end of the book's page "A
# convolutional network for images", one cell each, after the cells they
# share. Run it cell by cell here, or as a script with
# `python -m examples.ch07.cnn_exercises`. To keep it short, each network
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


def make_net(padding=0, batch_norm=True):
    """The page's ConvNet as a nn.Sequential, layer by layer in the order
    its forward() applies them, with a choice of padding for both
    convolutions and of batch normalization (without it, the convolutions
    get their biases back)."""
    size = ((28 + 2 * padding - 4) // 2 + 2 * padding - 4) // 2  # of a map

    def norm(channels):
        return nn.BatchNorm2d(channels) if batch_norm else nn.Identity()

    return nn.Sequential(
        nn.Conv2d(1, 16, 5, padding=padding, bias=not batch_norm),
        norm(16),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5, padding=padding, bias=not batch_norm),
        norm(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * size * size, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


def make_mlp():
    """The chapter's network, 784 -> 512 -> 10, for comparison."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10)
    )


def fit(net, images, labels, peak_lr=0.1, share=0.25, batch_size=128):
    """The page's recipe (SGD with Nesterov momentum, a one-cycle schedule,
    batches of 128), for one pass over a random share of the images."""
    order = torch.randperm(len(images))[: int(share * len(images))]
    batches = order.split(batch_size)
    optimizer = torch.optim.SGD(
        net.parameters(), lr=peak_lr, momentum=0.9, nesterov=True
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=peak_lr, total_steps=len(batches)
    )
    net.train()
    for batch in batches:
        loss = F.cross_entropy(net(images[batch]), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()


@torch.no_grad()
def predict(net, images, batch_size=250):
    """The digit the network reads in each image."""
    net.eval()
    return torch.cat(
        [net(batch).argmax(dim=1) for batch in images.split(batch_size)]
    )


def accuracy(net, images, labels):
    """The percentage of the images the network reads correctly."""
    return 100 * (predict(net, images) == labels).float().mean().item()
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
print(f"{len(train_images):,} training and {len(test_images):,} test images")
results["train_images"] = len(train_images)
results["test_images"] = len(test_images)
# --8<-- [end:load]

# %% [markdown]
# ## 1. Padding: the shapes and the parameters

# %%
# --8<-- [start:padding]
results["padding"] = []
for padding in (0, 2):
    net = make_net(padding)
    x = torch.zeros(1, 1, 28, 28)  # one blank image is enough for shapes
    print(f"padding={padding}: input {tuple(x.shape)}")
    for layer in net:
        x = layer(x)
        if isinstance(layer, nn.Conv2d | nn.MaxPool2d | nn.Flatten):
            print(f"  after {type(layer).__name__:9} {tuple(x.shape)}")
    parameters = sum(p.numel() for p in net.parameters())
    fc1 = sum(p.numel() for p in net[9].parameters())
    print(f"  {parameters:,} parameters, {fc1:,} of them in fc1")
    results["padding"].append(
        {"padding": padding, "parameters": parameters, "fc1": fc1}
    )
# --8<-- [end:padding]

# %% [markdown]
# ## 2. The receptive field, stage by stage

# %%
# --8<-- [start:receptive_field]
torch.manual_seed(0)
net = make_net().eval()  # fresh weights: a receptive field is in the shape
images = torch.randn(100, 1, 28, 28, requires_grad=True)
field, jump = 1, 1  # what one pixel sees; how far apart neighbours look
results["receptive_field"] = []
for i, layer in enumerate(net):
    if not isinstance(layer, nn.Conv2d | nn.MaxPool2d):
        continue
    k = layer.kernel_size
    k = k[0] if isinstance(k, tuple) else k  # Conv2d's is (5, 5), pool's 2
    field += (k - 1) * jump  # k neighbouring pixels, jump input pixels apart
    jump *= layer.stride if isinstance(layer.stride, int) else layer.stride[0]
    # Measured: which input pixels can change one pixel of this stage's
    # maps, over 100 random images (ReLU and max-pooling pass a gradient
    # only through the units they let through, which change with the image)
    maps = net[: i + 1](images)
    middle = (maps.shape[-1] - 1) // 2
    (gradient,) = torch.autograd.grad(maps[:, 0, middle, middle].sum(), images)
    reached = gradient.abs().sum(dim=(0, 1)) > 0  # (28, 28)
    rows, columns = reached.any(dim=1).nonzero(), reached.any(dim=0).nonzero()
    height = (rows.max() - rows.min() + 1).item()
    width = (columns.max() - columns.min() + 1).item()
    print(
        f"after {type(layer).__name__:9} maps {maps.shape[-1]:2} x "
        f"{maps.shape[-1]:2}: one pixel sees {field:2} x {field:2} "
        f"(measured {height} x {width}, {reached.sum().item():3} pixels), "
        f"neighbours {jump} apart"
    )
    results["receptive_field"].append(
        {
            "size": maps.shape[-1],
            "field": field,
            "jump": jump,
            "height": height,
            "width": width,
            "pixels": reached.sum().item(),
        }
    )
# --8<-- [end:receptive_field]

# %% [markdown]
# ## 3. Why has `conv1` no bias?

# %%
# --8<-- [start:bias]
torch.manual_seed(0)
conv = nn.Conv2d(1, 16, kernel_size=5)  # with a bias this time
bn = nn.BatchNorm2d(16)  # in training mode: each batch's own statistics
images = train_images[:256]
with torch.no_grad():
    before = bn(conv(images))
    conv.bias.add_(torch.randn(16))  # any other biases
    after = bn(conv(images))
difference = (after - before).abs().max().item()
print(f"the largest change in what bn1 passes on: {difference:.1e}")
print(f"parameters of conv1 with a bias: {conv.weight.numel() + 16}")
results["bias"] = {"difference": difference}
# --8<-- [end:bias]

# %% [markdown]
# ## 4. Predict, then run: shifted digits


# %%
# --8<-- [start:shifted]
def shift(images, pixels):
    """The digits moved `pixels` to the right, blank paper coming in from
    the left (the normalised value of a blank pixel)."""
    moved = torch.full_like(images, (0 - MEAN) / STD)
    moved[..., pixels:] = images[..., : 28 - pixels]
    return moved


nets = {}
for name, make in (("CNN", make_net), ("MLP", make_mlp)):
    torch.manual_seed(1)
    nets[name] = make()
    fit(nets[name], train_images, train_labels)  # on the digits as they are

ink = test_images * STD + MEAN  # back to [0, 1]: 0 is blank paper
results["shifted"] = []
for pixels in range(5):
    moved = shift(test_images, pixels)
    row = {"pixels": pixels}
    for name, net in nets.items():
        row[name] = accuracy(net, moved, test_labels)
    row["ink_lost"] = 100 * (ink[..., 28 - pixels :].sum() / ink.sum()).item()
    print(
        f"moved {pixels} px right: CNN {row['CNN']:5.2f} %, "
        f"MLP {row['MLP']:5.2f} % ({row['ink_lost']:.2f} % of the ink "
        "pushed out of the frame)"
    )
    results["shifted"].append(row)

# What the CNN makes of 100 digits, and of the same digits moved
cnn, images = nets["CNN"].eval(), test_images[:100]
with torch.no_grad():
    maps, moved = cnn[0](images), cnn[0](shift(images, 1))  # conv1's maps
    conv1 = (moved[..., 1:] - maps[..., :-1]).abs().max().item()
    read, moved = cnn[:8](images), cnn[:8](shift(images, 4))  # fc1's input
    fc1 = (moved[..., 1:] - read[..., :-1]).abs().max().item()
    fc1_moved = (moved - read).abs().max().item()
print(
    "digits moved 1 px: conv1's maps moved 1 px "
    f"(largest difference {conv1:.1e})"
)
print(
    "digits moved 4 px: the 4 x 4 maps fc1 reads moved one column "
    f"(largest difference {fc1:.1e}; in place, up to {fc1_moved:.1f})"
)
results["shifted_maps"] = {
    "conv1": conv1,
    "fc1": fc1,
    "fc1_in_place": fc1_moved,
}
# --8<-- [end:shifted]

# %% [markdown]
# ## 5. Without batch normalization

# %%
# --8<-- [start:batch_norm]
print(
    "batch norm yes  peak 0.1: test accuracy "
    f"{results['shifted'][0]['CNN']:5.2f} % (exercise 4's CNN)"
)
results["batch_norm"] = []
for batch_norm, peak_lr in ((True, 0.3), (False, 0.1), (False, 0.3)):
    torch.manual_seed(1)
    net = make_net(batch_norm=batch_norm)
    fit(net, train_images, train_labels, peak_lr=peak_lr)
    answers = predict(net, test_images)
    percent = 100 * (answers == test_labels).float().mean().item()
    print(
        f"batch norm {'yes' if batch_norm else 'no ':3}  peak {peak_lr}: "
        f"test accuracy {percent:5.2f} %, answers {answers.unique().tolist()}"
    )
    results["batch_norm"].append(
        {
            "batch_norm": batch_norm,
            "peak_lr": peak_lr,
            "accuracy": percent,
            "answers": answers.unique().tolist(),
        }
    )
digit = test_labels.mode().values.item()
share = 100 * (test_labels == digit).float().mean().item()
print(f"the commonest digit of the test set, {digit}, is {share:.2f} % of it")
results["commonest"] = {"digit": digit, "percent": share}
# --8<-- [end:batch_norm]
