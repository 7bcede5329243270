#!/usr/bin/env python3
"""Compare spdl's demo loader with PyTorch's DataLoader on the same images and cores.

Run with Debian's Python (its python3-torch, python3-torchvision and python3-pil
install there; a pyenv python3 on PATH usually lacks them):

    /usr/bin/python3 benchmarks/compare_pytorch.py [--data DIR] [--demo PATH]
                                                   [--results FILE]

Workload, both sides: an ImageFolder-style set (DIR/<class>/<file>.jpg), decode
to RGB, resize to 224x224, uint8 tensors, batches of 32, shuffled, one epoch.

* PyTorch: torch.utils.data.DataLoader with 2 and 4 worker processes;
  PIL `Image.open(p).convert("RGB")` + `transforms.Resize((224, 224))` +
  `transforms.PILToTensor()`. A few warm-up batches are drawn from a separate
  iterator first (not timed; its workers are shut down before timing). The timed
  epoch starts at `iter(loader)` (worker start-up included) and ends at the last
  batch. CPU time = getrusage(RUSAGE_SELF) + getrusage(RUSAGE_CHILDREN) deltas
  around the epoch; with persistent_workers=False the workers have exited and been
  reaped when the epoch ends, so their CPU time is in RUSAGE_CHILDREN.
* spdl: `build/examples/demo --data DIR --epochs 1 --threads N --batch 32` with N =
  the core count; images/s is parsed from the demo's own summary line; CPU time
  is getrusage(RUSAGE_CHILDREN) delta around the child (same method as above;
  process start-up and file listing included).

Prints a Markdown table; --results FILE appends it to FILE. Exits 0 with
"skipped: ..." where torch, torchvision or PIL cannot be imported.
"""

import argparse
import gc
import os
import re
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
EXTS = (".jpg", ".jpeg", ".png")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def core_count():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def list_images(root):
    classes = sorted(d for d in os.listdir(root)
                     if not d.startswith(".") and os.path.isdir(os.path.join(root, d)))
    items = []
    for label, c in enumerate(classes):
        cdir = os.path.join(root, c)
        for name in sorted(os.listdir(cdir)):
            if name.lower().endswith(EXTS):
                items.append((os.path.join(cdir, name), label))
    return items


def cpu_now():
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


class Images:
    """ImageFolder-style dataset: PIL decode + Resize((224, 224)) + PILToTensor."""

    def __init__(self, items, transform):
        self.items = items
        self.transform = transform

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        from PIL import Image
        path, label = self.items[i]
        with Image.open(path) as im:
            img = im.convert("RGB")
        return self.transform(img), label


def run_dataloader(items, workers, batch, warmup_batches):
    import torch
    from torchvision import transforms

    tf = transforms.Compose([transforms.Resize((224, 224)), transforms.PILToTensor()])
    loader = torch.utils.data.DataLoader(
        Images(items, tf), batch_size=batch, shuffle=True, num_workers=workers,
        persistent_workers=False)

    # Warm-up (not timed): page cache, imports in workers, allocator.
    it = iter(loader)
    for _ in range(warmup_batches):
        next(it)
    it._shutdown_workers()
    del it
    gc.collect()

    n = 0
    c0, t0 = cpu_now(), time.perf_counter()
    it = iter(loader)
    for x, _ in it:
        assert x.dtype == torch.uint8
        n += x.shape[0]
    t1 = time.perf_counter()
    it._shutdown_workers()  # already done at StopIteration; makes sure workers are reaped
    del it
    gc.collect()
    c1 = cpu_now()
    return n, n / (t1 - t0), (c1 - c0) / n


def run_spdl(demo, data, threads, batch):
    cmd = [demo, "--data", data, "--epochs", "1", "--threads", str(threads),
           "--batch", str(batch)]
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    c0, t0 = c.ru_utime + c.ru_stime, time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    t1 = time.perf_counter()
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = c.ru_utime + c.ru_stime - c0
    if p.returncode != 0:
        sys.exit(f"spdl demo failed ({p.returncode}):\n{p.stdout[-2000:]}")
    m = re.search(r"^(\d+) images in ([\d.]+) s: ([\d.]+) images/s", p.stdout, re.M)
    if not m:
        sys.exit(f"could not parse the demo's summary line:\n{p.stdout[-2000:]}")
    n, ips = int(m.group(1)), float(m.group(3))
    return n, ips, cpu / n, n / (t1 - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "build", "demo-images"))
    ap.add_argument("--demo", default=os.path.join(ROOT, "build", "examples", "demo"))
    ap.add_argument("--workers", default="2,4", help="DataLoader worker counts")
    ap.add_argument("--threads", type=int, default=0, help="spdl threads (default: cores)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--warmup", type=int, default=3, help="warm-up batches (not timed)")
    ap.add_argument("--results", help="append the table to this file")
    args = ap.parse_args()

    try:
        import torch  # noqa: F401
        import torchvision  # noqa: F401
        import PIL  # noqa: F401
    except ImportError:
        print("skipped: PyTorch's DataLoader needs Debian's python3-torch, "
              "python3-torchvision and python3-pil")
        return 0

    items = list_images(args.data)
    if not items:
        sys.exit(f"no images under {args.data}/<class>/")
    if not os.access(args.demo, os.X_OK):
        sys.exit(f"{args.demo} not found; build the examples first")
    cores = core_count()
    threads = args.threads or cores

    # spdl first (its own run also warms the page cache for everyone).
    n, s_ips, s_cpu, s_ips_ext = run_spdl(args.demo, args.data, threads, args.batch)
    print(f"spdl demo: {n} images, {s_ips:.0f} images/s (demo's figure; "
          f"{s_ips_ext:.0f} incl. process start-up), {s_cpu * 1e3:.2f} ms CPU/image",
          file=sys.stderr)

    rows = []
    for w in [int(x) for x in args.workers.split(",") if x]:
        n, ips, cpu = run_dataloader(items, w, args.batch, args.warmup)
        print(f"DataLoader({w} workers): {n} images, {ips:.0f} images/s, "
              f"{cpu * 1e3:.2f} ms CPU/image", file=sys.stderr)
        rows.append((w, ips, cpu))

    import torch
    import torchvision
    import PIL
    lines = [
        f"{len(items)} images from {args.data}, batch {args.batch}, 1 epoch; "
        f"{cpu_model()}, {cores} cores; torch {torch.__version__}, "
        f"torchvision {torchvision.__version__}, Pillow {PIL.__version__}",
        "",
        "| loader | workers/threads | images/s | CPU s/image | spdl images/s ratio | spdl CPU ratio |",
        "|---|---|---|---|---|---|",
        f"| spdl demo | {threads} threads | {s_ips:.0f} | {s_cpu:.4f} | - | - |",
    ]
    for w, ips, cpu in rows:
        lines.append(f"| torch DataLoader | {w} workers | {ips:.0f} | {cpu:.4f} | "
                     f"{s_ips / ips:.2f}x | {s_cpu / cpu:.2f}x |")
    lines.append("")
    lines.append("spdl images/s ratio = spdl / DataLoader (higher: spdl faster); "
                 "spdl CPU ratio = spdl CPU per image / DataLoader's (lower: spdl cheaper). "
                 "CPU = getrusage SELF+CHILDREN (DataLoader workers reaped at epoch end).")
    table = "\n".join(lines) + "\n"
    print(table, end="")
    if args.results:
        with open(args.results, "a") as f:
            f.write(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
