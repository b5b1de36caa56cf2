#!/usr/bin/python3
"""The peer of mixhic-train in bench/train/run.sh: the same MIX-HIC model (the PyTorch twin in
tests/reference/mixhic_twin.py) trained the way a PyTorch user would: torch.distributed with gloo,
DistributedDataParallel (25 MB buckets, overlap), a DataLoader with one worker process reading the
same corpus through h5py, AdamW. Prints one `train-bench:` line with samples/s over the timed steps
(after warm-up), the data-wait share and the peak RSS per process.

  bench/train/ddp_twin.py --corpus corpus.h5 --np 2 --global-batch 16 --embed-dim 16 --depth 1 --heads 2
"""
import argparse
import os
import resource
import sys
import time

import h5py
import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel as DDP

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tests/reference"))
from mixhic_twin import MixHicTwin  # noqa: E402


class CorpusWindows(torch.utils.data.Dataset):
    """Samples of a mixhic corpus as (hic (1, W, W), epi (2A, T)), read with h5py."""

    def __init__(self, path):
        self.path = path
        with h5py.File(path, "r") as f:
            self.train = f["splits/train"][:]
            self.w = int(f["geometry"].attrs["window-bins"])
            self.a = int(f["geometry"].attrs["track-bins-per-anchor"])
            self.n_tracks = f["tracks/signal"].shape[1]
        self.iu = np.triu_indices(self.w)
        self.f = None

    def __len__(self):
        return len(self.train)

    def __getitem__(self, k):
        if self.f is None:  # opened in the worker process
            self.f = h5py.File(self.path, "r")
        i = int(self.train[k])
        packed = self.f["samples/hic"][i]
        full = np.zeros((self.w, self.w), np.float32)
        full[self.iu] = packed
        full = full + np.triu(full, 1).T
        r1, r2 = int(self.f["samples/track_row1"][i]), int(self.f["samples/track_row2"][i])
        sig = self.f["tracks/signal"]
        epi = np.concatenate([sig[r1:r1 + self.a], sig[r2:r2 + self.a]])
        return torch.from_numpy(full[None]), torch.from_numpy(epi)


def worker(rank, args):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(args.port)
    dist.init_process_group("gloo", rank=rank, world_size=args.np)
    torch.set_num_threads(args.threads)
    data = CorpusWindows(args.corpus)
    cfg = {"embed_dim": args.embed_dim, "depth": args.depth, "heads": args.heads, "mlp_ratio": 2, "dropout": 0.0,
           "n_tracks": data.n_tracks, "window_bins": data.w, "hic_bin_bp": 5000, "track_bin_bp": 100}
    torch.manual_seed(99)
    model = DDP(MixHicTwin(cfg))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=1e-6)
    sampler = torch.utils.data.distributed.DistributedSampler(data, num_replicas=args.np, rank=rank, seed=99,
                                                              drop_last=True)
    loader = torch.utils.data.DataLoader(data, batch_size=args.global_batch // args.np, sampler=sampler,
                                         num_workers=1, prefetch_factor=4, persistent_workers=True, drop_last=True)
    epoch = 0
    it = iter(loader)
    step_s, wait_s = [], []
    for step in range(args.steps):
        t0 = time.perf_counter()
        try:
            hic, epi = next(it)
        except StopIteration:  # next epoch
            epoch += 1
            sampler.set_epoch(epoch)
            it = iter(loader)
            hic, epi = next(it)
        t1 = time.perf_counter()
        opt.zero_grad()
        model(hic, epi)["total"].backward()
        opt.step()
        step_s.append(time.perf_counter() - t0)
        wait_s.append(t1 - t0)
    timed = slice(args.warmup, None)
    secs = sum(step_s[timed])
    sps = args.global_batch * len(step_s[timed]) / secs
    rss = torch.tensor([resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0])
    dist.all_reduce(rss, op=dist.ReduceOp.MAX)
    if rank == 0:
        print(f"train-bench: impl=pytorch-ddp np={args.np} C={args.embed_dim} global_batch={args.global_batch} "
              f"steps={args.steps - args.warmup} samples_per_s={sps:.3f} "
              f"data_wait_pct={100 * sum(wait_s[timed]) / secs:.2f} peak_rss_mb={rss.item():.0f}", flush=True)
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--np", type=int, default=2)
    ap.add_argument("--global-batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=20, help="steps in all, warm-up included")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads per process")
    ap.add_argument("--embed-dim", type=int, default=16)
    ap.add_argument("--depth", type=int, default=1)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--port", type=int, default=0, help="rendezvous port (0: a free one)")
    args = ap.parse_args()
    if args.port == 0:
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            args.port = s.getsockname()[1]
    mp.spawn(worker, args=(args,), nprocs=args.np, join=True)


if __name__ == "__main__":
    main()
