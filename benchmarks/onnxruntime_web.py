"""What running the ONNX file in a browser with ONNX Runtime Web would make the page download.

    python benchmarks/onnxruntime_web.py              # needs npm and its registry
    python benchmarks/onnxruntime_web.py --version 1.30.0

The Deployment page weighs this against its own forward pass in plain JavaScript. `npm pack
--dry-run` lists the package's files and their sizes without downloading it. The smallest way
to run a model on the CPU is the WebAssembly-only build: its script `ort.wasm.min.js`, the
glue `ort-wasm-simd-threaded.mjs` that loads the engine, and the engine itself,
`ort-wasm-simd-threaded.wasm`. Writes benchmarks/results/onnxruntime_web.json, which the page
quotes.
"""

import argparse
import json
import pathlib
import subprocess

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
SMALLEST_CPU_BUILD = (
    "dist/ort.wasm.min.js",
    "dist/ort-wasm-simd-threaded.mjs",
    "dist/ort-wasm-simd-threaded.wasm",
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default="1.30.0", help="of the npm package onnxruntime-web")
    args = parser.parse_args()
    listing = subprocess.run(
        ["npm", "pack", f"onnxruntime-web@{args.version}", "--dry-run", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    package = json.loads(listing.stdout)[0]
    sizes = {f["path"]: f["size"] for f in package["files"]}
    report = {
        "package": f"onnxruntime-web@{package['version']}",
        "packed_bytes": package["size"],
        "unpacked_bytes": package["unpackedSize"],
        "smallest_cpu_build": {path: sizes[path] for path in SMALLEST_CPU_BUILD},
        "smallest_cpu_build_bytes": sum(sizes[path] for path in SMALLEST_CPU_BUILD),
        "wasm_bytes": sizes["dist/ort-wasm-simd-threaded.wasm"],
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "onnxruntime_web.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
