# %% [markdown]
# # The Code: Building Neural Networks using PyTorch
#
# The chapter's program: a two-layer fully connected network that learns to read
# handwritten digits (MNIST), trained for 10 epochs with SGD and then measured on the
# 10,000 test digits it never saw. Run it with `python -m examples.ch07.mnist_mlp`.

# %%
# --8<-- [start:program]
import sys

import torch
import torch.nn as nn
import torch.optim as optim
import torchvision  # (1)!

EPOCHS = 10
BATCH_SIZE = 64
DATA_DIR = "./data"


# Define the neural network
class Net(nn.Module):  # (2)!
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 512)
        self.fc2 = nn.Linear(512, 10)

    def forward(self, x):
        x = x.view(-1, 784)  # (3)!
        x = torch.relu(self.fc1(x))
        x = self.fc2(x)
        return x  # (4)!


# Load the data
def load_mnist(train):
    """The MNIST training or test set as normalised tensors, downloaded on first use."""
    transform = torchvision.transforms.Compose([
        torchvision.transforms.ToTensor(),
        torchvision.transforms.Normalize((0.1307,), (0.3081,)),  # (5)!
    ])
    try:
        return torchvision.datasets.MNIST(DATA_DIR, train=train, download=True, transform=transform)
    except RuntimeError as error:  # (6)!
        sys.exit(f"Could not load MNIST from {DATA_DIR}/MNIST/raw ({error}).\n"
                 f"Offline? Copy the four uncompressed MNIST files (train-images-idx3-ubyte, "
                 f"train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte) "
                 f"into {DATA_DIR}/MNIST/raw/ and run again.")


# Train the model for one pass over the training set
def train(net, loader, optimizer, criterion):
    net.train()
    total_loss = 0.0
    for inputs, labels in loader:
        optimizer.zero_grad()  # (7)!
        outputs = net(inputs)  # forward
        loss = criterion(outputs, labels)
        loss.backward()  # backward
        optimizer.step()  # optimize
        total_loss += loss.item() * len(labels)
    return total_loss / len(loader.dataset)  # mean loss per image


# Measure the model on data it was not trained on
@torch.no_grad()  # (8)!
def test(net, loader, criterion):
    net.eval()
    total_loss, correct = 0.0, 0
    for inputs, labels in loader:
        outputs = net(inputs)
        total_loss += criterion(outputs, labels).item() * len(labels)
        correct += (outputs.argmax(dim=1) == labels).sum().item()  # (9)!
    return total_loss / len(loader.dataset), correct / len(loader.dataset)


def main():
    torch.manual_seed(1)  # (10)!
    train_loader = torch.utils.data.DataLoader(load_mnist(train=True), batch_size=BATCH_SIZE, shuffle=True)
    test_loader = torch.utils.data.DataLoader(load_mnist(train=False), batch_size=1000)

    # Set up the model, the optimizer and the loss function
    net = Net()
    optimizer = optim.SGD(net.parameters(), lr=0.01, momentum=0.5)
    criterion = nn.CrossEntropyLoss()  # (11)!

    for epoch in range(1, EPOCHS + 1):
        train_loss = train(net, train_loader, optimizer, criterion)
        test_loss, accuracy = test(net, test_loader, criterion)
        print(f"epoch {epoch:2d}  train loss {train_loss:.4f}  "
              f"test loss {test_loss:.4f}  test accuracy {100 * accuracy:.2f} %")
    print("Finished Training")
    return net


if __name__ == "__main__":
    net = main()
# --8<-- [end:program]
