#!/usr/bin/env python3
"""PyTorch side of `bench train --engine pytorch`: trains FedEdge's seed networks in plain PyTorch on one thread.

Input is a CSV that the .NET bench writes: a header, then one row per sample with the already-normalised feature
values and the 0/1 label in the last column. The network is rebuilt from --layers and --net the same way Core's
NetworkSpec defines it:
  classifier (mednn 115-83-128-83-1, colearn 10-50-30-1): Linear layers, ReLU between, one logit out,
      BCEWithLogitsLoss against the label;
  autoencoder (ae 115-86-58-38-29-38-58-86-115): Linear layers, Tanh between, identity out, MSELoss against the input.
Optimiser: Adam (PyTorch defaults, the managed trainer's default too). Rows are visited in a shuffled order per epoch.
After a warm-up of --warmup seconds the script times --steps steps and prints one JSON object on stdout.
Requires python3 and torch (Debian: apt-get install python3-torch).
"""
import argparse
import csv
import json
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--csv", required=True, help="rows: normalised features..., label")
    p.add_argument("--net", required=True, choices=["mednn", "colearn", "autoencoder", "mlp"])
    p.add_argument("--layers", required=True, help="layer sizes joined by '-', e.g. 115-83-128-83-1")
    p.add_argument("--autoencoder", action="store_true", help="Tanh hidden layers, MSE against the input")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of untimed steps first")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    if a.batch < 1 or a.steps < 2 or a.warmup < 0:
        p.error("--batch must be >= 1, --steps >= 2, --warmup >= 0")
    return a


def main():
    a = parse_args()
    try:
        import torch
    except ImportError:
        print("python3 has no torch module; install it with: apt-get install python3-torch (or pip install torch)",
              file=sys.stderr)
        return 3

    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    sizes = [int(s) for s in a.layers.split("-")]

    with open(a.csv, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [[float(v) for v in r] for r in reader if r]
    if not rows:
        print(f"{a.csv} holds no rows", file=sys.stderr)
        return 2
    if len(header) != sizes[0] + 1 or any(len(r) != sizes[0] + 1 for r in rows):
        print(f"{a.csv}: expected {sizes[0]} features + label per row", file=sys.stderr)
        return 2

    data = torch.tensor(rows, dtype=torch.float32)
    x_all = data[:, :-1].contiguous()
    y_all = data[:, -1:].contiguous()

    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.Tanh() if a.autoencoder else torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    loss_fn = torch.nn.MSELoss() if a.autoencoder else torch.nn.BCEWithLogitsLoss()
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)

    n = x_all.shape[0]
    gen = torch.Generator().manual_seed(a.seed)
    state = {"order": torch.randperm(n, generator=gen), "pos": 0}

    def next_batch():
        if state["pos"] + a.batch > n:
            state["order"] = torch.randperm(n, generator=gen)
            state["pos"] = 0
        idx = state["order"][state["pos"]:state["pos"] + a.batch]
        state["pos"] += a.batch
        x = x_all[idx]
        return x, (x if a.autoencoder else y_all[idx])

    def step():
        x, t = next_batch()
        opt.zero_grad()
        loss = loss_fn(model(x), t)
        loss.backward()
        opt.step()
        return loss

    warm_start = time.perf_counter()
    while True:
        for _ in range(min(200, a.steps)):
            step()
        if time.perf_counter() - warm_start >= a.warmup:
            break

    start = time.perf_counter()
    last = None
    for _ in range(a.steps):
        last = step()
    seconds = time.perf_counter() - start
    final_loss = float(last.item())

    steps_per_s = a.steps / seconds
    print(json.dumps({
        "mode": "train",
        "engine": "pytorch",
        "net": a.net,
        "layers": a.layers,
        "parameters": sum(p.numel() for p in model.parameters()),
        "batch": a.batch,
        "steps": a.steps,
        "threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "python_version": sys.version.split()[0],
        "rows": n,
        "warmup_s": a.warmup,
        "seconds": round(seconds, 4),
        "steps_per_s": round(steps_per_s, 1),
        "us_per_step": round(1e6 / steps_per_s, 2),
        "samples_per_s": round(steps_per_s * a.batch, 1),
        "final_loss": round(final_loss, 6),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
