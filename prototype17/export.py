"""Prototype for issue 17: train (or load) the chapter's MLP and CNN, export
each with torch.onnx.export, check ONNX Runtime against PyTorch on the 10,000
MNIST test digits, and write the weights for the page's JavaScript forward
pass (float32 and int8) plus the test inputs the browser checks use.

    OMP_NUM_THREADS=1 python prototype17/export.py --data DIR

DIR holds MNIST/raw/ (the four uncompressed files). Everything is written to
prototype17/out/ (not committed); figures go to out/export.json.
"""

import argparse
import json
import math
import pathlib
import sys
import time

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F
import torchvision

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from examples.ch07 import cnn, train  # noqa: E402  the chapter's own code

OUT = HERE / "out"
MEAN, STD = train.MEAN, train.STD


def load(data):
    splits = [
        torchvision.datasets.MNIST(data, train=t, download=False)
        for t in (True, False)
    ]
    return [(s.data, s.targets) for s in splits]


def fit(net, images, labels, epochs, batch, lr, seed=1):
    """The chapter's recipes: Nesterov SGD with a one-cycle schedule on the
    55,000 training images left after the validation split."""
    optimizer = torch.optim.SGD(
        net.parameters(), lr=lr, momentum=0.9, nesterov=True
    )
    steps = math.ceil(len(images) / batch)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=epochs * steps
    )
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(images), generator=generator)
        for i in range(0, len(images), batch):
            b = order[i : i + batch]
            loss = F.cross_entropy(net(images[b]), labels[b])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        print(f"  epoch {epoch + 1}/{epochs} loss {loss.item():.4f}")
    net.eval()
    return net


def trained(name, train_x, train_y):
    path = OUT / f"{name}.pt"
    net = train.Net() if name == "mlp" else cnn.ConvNet()
    if path.exists():
        net.load_state_dict(torch.load(path))
        return net.eval(), None
    torch.manual_seed(1)
    (tx, ty), _ = train.split_validation(train_x, train_y)
    start = time.perf_counter()
    if name == "mlp":  # train.py's defaults: 3 epochs, batch 256, lr 0.3
        fit(net, tx, ty, 3, 256, 0.3)
    else:  # cnn.py's: 4 epochs, batch 128, lr 0.1
        fit(net, tx, ty, 4, 128, 0.1)
    seconds = time.perf_counter() - start
    torch.save(net.state_dict(), path)
    return net.eval(), seconds


def layers(name, net):
    """The weights the JavaScript forward pass needs, batch norm folded into
    the convolutions: a list of (name, array)."""
    sd = {k: v.detach().double() for k, v in net.state_dict().items()}
    if name == "mlp":
        keys = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
        return [(k, sd[k].float().numpy()) for k in keys]
    out = []
    for conv, bn in (("conv1", "bn1"), ("conv2", "bn2")):
        scale = sd[f"{bn}.weight"] / torch.sqrt(sd[f"{bn}.running_var"] + 1e-5)
        w = sd[f"{conv}.weight"] * scale[:, None, None, None]
        b = sd[f"{bn}.bias"] - sd[f"{bn}.running_mean"] * scale
        out += [(f"{conv}.weight", w), (f"{conv}.bias", b)]
    out += [(k, sd[k]) for k in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")]
    return [(k, v.float().numpy()) for k, v in out]


def write_weights(name, arrays, int8):
    """One binary file and a JSON manifest. int8: each weight tensor's rows
    (output channels) quantised symmetrically to int8 with one float32 scale
    per row; biases stay float32. Returns the arrays as the page sees them
    (dequantised) and the file's size in bytes."""
    manifest, chunks, offset, seen = [], [], 0, []
    for key, a in arrays:
        entry = {"name": key, "shape": list(a.shape)}
        if int8 and key.endswith("weight"):
            rows = a.reshape(a.shape[0], -1)
            scale = np.abs(rows).max(1) / 127
            scale[scale == 0] = 1
            q = np.clip(np.round(rows / scale[:, None]), -127, 127).astype(np.int8)
            parts = [("scale", scale.astype(np.float32)), ("q", q)]
            seen.append((key, (q.astype(np.float32) * scale.astype(np.float32)[:, None]).reshape(a.shape)))
        else:
            parts = [("data", a.astype(np.float32))]
            seen.append((key, a))
        for kind, p in parts:
            pad = (-offset) % 4  # Float32Array views need 4-byte alignment
            chunks.append(b"\0" * pad)
            offset += pad
            entry[kind] = {"offset": offset, "dtype": str(p.dtype), "length": p.size}
            chunks.append(p.tobytes())
            offset += p.nbytes
        manifest.append(entry)
    tag = "int8" if int8 else "f32"
    (OUT / f"{name}-{tag}.bin").write_bytes(b"".join(chunks))
    (OUT / f"{name}-{tag}.json").write_text(json.dumps(manifest))
    return dict(seen), offset


def forward_numpy(name, w, x):
    """The same forward pass from the exported (folded / dequantised)
    arrays, in PyTorch functional form: the reference for the int8 weights."""
    t = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in w.items()}
    if name == "mlp":
        h = F.relu(F.linear(x.flatten(1), t["fc1.weight"], t["fc1.bias"]))
        return F.linear(h, t["fc2.weight"], t["fc2.bias"])
    h = F.relu(F.conv2d(x, t["conv1.weight"], t["conv1.bias"]))
    h = F.relu(F.conv2d(F.max_pool2d(h, 2), t["conv2.weight"], t["conv2.bias"]))
    h = F.max_pool2d(h, 2).flatten(1)
    h = F.relu(F.linear(h, t["fc1.weight"], t["fc1.bias"]))
    return F.linear(h, t["fc2.weight"], t["fc2.bias"])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    torch.set_num_threads(1)
    (train_x, train_y), (test_x, test_y) = load(args.data)
    tx = train.normalise(train_x)
    x = train.normalise(test_x)
    report = {"torch": torch.__version__, "onnxruntime": ort.__version__}
    # The first 1,000 test digits (uint8) and labels, for the browser.
    (OUT / "test1000.u8").write_bytes(test_x[:1000].numpy().tobytes())
    (OUT / "test1000.labels").write_bytes(test_y[:1000].numpy().astype(np.uint8).tobytes())
    for name in ("mlp", "cnn"):
        print(name)
        net, seconds = trained(name, tx, train_y)
        r = {"train_seconds": seconds,
             "parameters": sum(p.numel() for p in net.parameters())}
        with torch.no_grad():
            logits = torch.cat([net(x[i : i + 2000]) for i in range(0, 10000, 2000)])
        probs = logits.softmax(1)
        r["test_accuracy"] = (logits.argmax(1) == test_y).float().mean().item() * 100
        # ONNX export (the TorchScript exporter, dynamo=False) and ORT.
        onnx_path = OUT / f"{name}.onnx"
        start = time.perf_counter()
        torch.onnx.export(
            net, (x[:1],), str(onnx_path), dynamo=False,
            input_names=["image"], output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=17,
        )
        r["onnx_export_seconds"] = time.perf_counter() - start
        r["onnx_bytes"] = onnx_path.stat().st_size
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        ort_logits = np.concatenate([
            session.run(None, {"image": x[i : i + 2000].numpy()})[0]
            for i in range(0, 10000, 2000)
        ])
        ort_probs = torch.from_numpy(ort_logits).softmax(1)
        r["onnx_same_predictions"] = int((ort_probs.argmax(1) == probs.argmax(1)).sum())
        r["onnx_max_prob_diff"] = (ort_probs - probs).abs().max().item()
        r["onnx_max_logit_diff"] = (torch.from_numpy(ort_logits) - logits).abs().max().item()
        # Weights for the JavaScript forward pass.
        arrays = layers(name, net)
        for int8 in (False, True):
            tag = "int8" if int8 else "f32"
            seen, size = write_weights(name, arrays, int8)
            with torch.no_grad():
                ref = forward_numpy(name, seen, x).softmax(1)
            r[f"{tag}_bytes"] = size
            r[f"{tag}_same_predictions_as_pytorch"] = int((ref.argmax(1) == probs.argmax(1)).sum())
            r[f"{tag}_max_prob_diff_vs_pytorch"] = (ref - probs).abs().max().item()
            r[f"{tag}_test_accuracy"] = (ref.argmax(1) == test_y).float().mean().item() * 100
            # References for the browser: PyTorch's probabilities on the
            # first 1,000 digits, from the original network and from the
            # weights as the page sees them.
            (OUT / f"{name}-{tag}-ref1000.f32").write_bytes(ref[:1000].numpy().astype(np.float32).tobytes())
        (OUT / f"{name}-torch-ref10000.f32").write_bytes(probs.numpy().astype(np.float32).tobytes())
        report[name] = r
        print(json.dumps(r, indent=1))
    (OUT / "export.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
