"""Make the small real-MNIST subset that the fast tests use.

Draws a stratified, seeded sample from the full, byte-exact MNIST (the four IDX files that
torchvision leaves in ``MNIST/raw/``) and writes it in the same IDX format, so that
``torchvision.datasets.MNIST(root, download=True)`` reads it without downloading anything.

    python tests/data/make_mnist_subset.py --source DIR/MNIST/raw   # the full MNIST's four files

Re-running it with the same source and seed writes byte-identical files.
"""

import argparse
import hashlib
import pathlib

import numpy as np

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
HERE = pathlib.Path(__file__).resolve().parent


def read_idx(path: pathlib.Path) -> tuple[bytes, np.ndarray]:
    """Return the IDX header and the data of an uncompressed IDX file of unsigned bytes."""
    raw = path.read_bytes()
    ndim = raw[3]  # magic number: 0x00 0x00 0x08 (ubyte) ndim
    header_len = 4 + 4 * ndim
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return raw[:header_len], np.frombuffer(raw[header_len:], dtype=np.uint8).reshape(dims)


def write_idx(path: pathlib.Path, header: bytes, data: np.ndarray) -> None:
    """Write data with header's magic number and data's own sizes."""
    ndim = header[3]
    sizes = b"".join(int(n).to_bytes(4, "big") for n in data.shape)
    assert len(data.shape) == ndim
    path.write_bytes(header[:4] + sizes + np.ascontiguousarray(data).tobytes())


def stratified_indices(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """per_class random indices of each digit, then shuffled so classes are mixed."""
    chosen = [
        rng.choice(np.flatnonzero(labels == digit), per_class, replace=False) for digit in range(10)
    ]
    return rng.permutation(np.concatenate(chosen))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source", type=pathlib.Path, required=True, help="folder with the full MNIST IDX files"
    )
    parser.add_argument("--out", type=pathlib.Path, default=HERE / "MNIST" / "raw")
    parser.add_argument("--train-per-class", type=int, default=400)
    parser.add_argument("--test-per-class", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    missing = [
        name for pair in FILES.values() for name in pair if not (args.source / name).is_file()
    ]
    if missing:
        parser.error(f"{args.source} lacks {', '.join(missing)}: point --source at MNIST/raw")

    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    for split, per_class in (("train", args.train_per_class), ("test", args.test_per_class)):
        image_file, label_file = FILES[split]
        image_header, images = read_idx(args.source / image_file)
        label_header, labels = read_idx(args.source / label_file)
        keep = stratified_indices(labels, per_class, rng)
        write_idx(args.out / image_file, image_header, images[keep])
        write_idx(args.out / label_file, label_header, labels[keep])
        np.savetxt(args.out.parent / f"{split}-source-indices.txt", keep, fmt="%d")
        print(f"{split}: {len(keep)} digits ({per_class} of each class)")
    for path in sorted(args.out.iterdir()):
        print(f"{path.name}  md5 {hashlib.md5(path.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main()
