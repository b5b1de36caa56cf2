#!/usr/bin/python3
"""bench/scale.py - projected multi-node scaling of mixhic-train pre-training (bench/scale.md).

A model, not a measurement. Per-GPU compute comes from the analytic FLOPs per sample and an
assumed MFU; gradient all-reduce from the trainer's real bucket layout and an alpha-beta model
of a hierarchical (NVLink reduce-scatter, inter-node ring or tree, NVLink all-gather) all-reduce
overlapped with backward; corpus reads from the bytes the loader reads per sample.
Every GPU/network figure is an assumption: replace it with the measured value from bench/run.sh
on a GPU host (flags below). Standard library only; prints markdown.

    /usr/bin/python3 bench/scale.py            # the tables in bench/scale.md
"""
import argparse
import math

# Trainer bucket layout (fp32 bytes, launch order) printed by mixhic-train for C=128.
C128_BUCKETS = [4096, 25272320, 25202688, 21082112, 12599296, 33554432, 25842688, 23700992,
                25206784, 25186304, 25212928, 8693252]
# Analytic model facts (mixhic-model): parameters, GFLOP forward+backward per sample.
MODELS = {"c128": (62.889e6, 11.734), "c256": (251.215e6, 44.05)}


def bucket_bytes(model, grad_bytes):
    """Gradient bucket sizes in launch order, scaled to the gradient dtype."""
    params, _ = MODELS[model]
    if model == "c128":
        fp32 = C128_BUCKETS
    else:  # not printed by the trainer yet: its rule (4 KB first, then 25 MiB caps)
        rest, fp32 = params * 4 - 4096, [4096]
        while rest > 0:
            fp32.append(min(rest, 25 * 2**20))
            rest -= fp32[-1]
    return [b * grad_bytes / 4 for b in fp32]


def allreduce_s(nbytes, nodes, a):
    """One bucket: NVLink reduce-scatter + inter-node all-reduce of the 1/g shard over one NIC
    per GPU + NVLink all-gather, phases serialised (NCCL pipelines them: an upper bound).
    Inter-node: the faster of ring and tree, as NCCL's tuner picks per call."""
    g = a.gpus_per_node
    t = a.base_lat_us * 1e-6
    if g > 1:
        t += 2 * (g - 1) * a.nvlink_hop_us * 1e-6 + 2 * (g - 1) / g * nbytes / (a.nvlink_gbs * 1e9)
    if nodes > 1:
        shard, bw = nbytes / g, a.nic_gbps / 8 * a.nic_efficiency * 1e9
        ring = 2 * (nodes - 1) * a.net_hop_us * 1e-6 + 2 * (nodes - 1) / nodes * shard / bw
        tree = 2 * math.ceil(math.log2(nodes)) * a.net_hop_us * 1e-6 + 2 * shard / bw
        t += min(ring, tree)
    return t


def small_collective_s(nodes, a):
    """A latency-bound blocking collective (SyncBatchNorm statistics, contrastive gather): tree."""
    t = a.base_lat_us + 2 * (a.gpus_per_node - 1) * a.nvlink_hop_us
    return (t + 2 * math.ceil(math.log2(max(nodes, 1))) * a.net_hop_us) * 1e-6


def step(model, nodes, a):
    """Per-GPU step: forward, backward with buckets launched as they fill, exposed rest, AdamW."""
    params, gflop = MODELS[model]
    sample_s = a.sample_ms * 1e-3 if a.sample_ms else gflop * 1e9 / (a.peak_tflops * 1e12 * a.mfu)
    fwd = a.per_gpu_batch * sample_s / (1 + a.bwd_fwd_ratio)
    bwd = fwd * a.bwd_fwd_ratio
    opt = params * a.optimizer_bytes_per_param / (a.hbm_gbs * 1e9)
    exposed = 0.0
    if nodes * a.gpus_per_node > 1:
        buckets = bucket_bytes(model, a.grad_bytes)
        total, done, comm_free = sum(buckets), 0.0, 0.0
        for b in buckets:  # one communication stream, bucket order = launch order
            done += b
            ready = fwd + bwd * done / total
            comm_free = max(comm_free, ready) + allreduce_s(b, nodes, a)
        exposed = max(0.0, comm_free - (fwd + bwd))
        exposed += a.blocking_collectives * small_collective_s(nodes, a)
    return dict(fwd=fwd, bwd=bwd, opt=opt, exposed=exposed, total=fwd + bwd + opt + exposed)


def row(model, nodes, a):
    s, one = step(model, nodes, a), step(model, 0, a)
    gpus = nodes * a.gpus_per_node
    net_rate = gpus * a.per_gpu_batch / s["total"]           # samples/s if storage keeps up
    compute_rate = gpus * a.per_gpu_batch / one["total"]
    pfs_rate = a.pfs_gbs * 1e9 / a.sample_bytes[0]
    rate = min(net_rate, pfs_rate)
    limit = ("file system" if pfs_rate < net_rate else
             ("NVLink" if nodes == 1 else "network") if net_rate < 0.9 * compute_rate else "compute")
    return dict(nodes=nodes, gpus=gpus, step=s, eff=rate / compute_rate, rate=rate,
                days=a.corpus_samples * a.epochs / rate / 86400, limit=limit,
                read=[rate * b / 1e9 for b in a.sample_bytes])


def days(d):
    h = d * 24
    return f"{d:.1f}" if d >= 10 else f"{d:.3f} ({h:.1f} h)" if h >= 1 else f"{d:.4f} ({h * 60:.0f} min)"


def gbs(x):
    return f"{x:.1f}" if x >= 1 else f"{x:.2f}"


def fabric_table(model, gbps, a):
    keep, a.nic_gbps = a.nic_gbps, gbps
    kb = " / ".join(f"{b / 1000:.1f}" for b in a.sample_bytes)
    print(f"\n**{model.upper()}, {gbps:g} Gb/s InfiniBand per GPU** (1 node: NVLink only)\n")
    print(f"| nodes | GPUs | global batch | step ms | exposed comm ms | efficiency vs 1 GPU "
          f"| samples/s | days (hours) for {a.corpus_samples * a.epochs / 1e6:.0f} M samples "
          f"| corpus read GB/s, total ({kb} KB/sample) | per node GB/s | limits first |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for n in a.nodes:
        r = row(model, n, a)
        total = " / ".join(gbs(x) for x in r["read"])
        node = " / ".join(gbs(x / n) for x in r["read"])
        print(f"| {n} | {r['gpus']} | {r['gpus'] * a.per_gpu_batch} | {r['step']['total'] * 1e3:.2f} "
              f"| {r['step']['exposed'] * 1e3:.2f} | {r['eff'] * 100:.0f} % | {r['rate']:,.0f} "
              f"| {days(r['days'])} | {total} | {node} | {r['limit']} |")
    a.nic_gbps = keep


def variant_table(model, gbps_list, variants, a):
    """Efficiency and days across fabrics / batch / gradient dtype, compact."""
    heads = [f"{g:g} Gb/s, batch {b}, {'bf16' if gb == 2 else 'fp32'} grads" for g in gbps_list
             for b, gb in variants]
    print(f"\n**{model.upper()}: efficiency vs 1 GPU / days** "
          f"(1 GPU: {step(model, 0, a)['total'] * 1e3:.2f} ms per step of {a.per_gpu_batch})\n")
    print("| nodes | " + " | ".join(heads) + " |")
    print("|---:|" + "---:|" * len(heads))
    keep = (a.nic_gbps, a.per_gpu_batch, a.grad_bytes)
    for n in a.nodes:
        cells = []
        for g in gbps_list:
            for b, gb in variants:
                a.nic_gbps, a.per_gpu_batch, a.grad_bytes = g, b, gb
                r = row(model, n, a)
                cells.append(f"{r['eff'] * 100:.0f} % / {days(r['days'])} / {r['limit']}")
        print(f"| {n} | " + " | ".join(cells) + " |")
    demand = []
    for b, gb in variants:  # what storage must deliver if neither network nor PFS held it back
        a.per_gpu_batch, a.grad_bytes = b, gb
        per_gpu = b / step(model, 0, a)["total"]
        demand.append(f"batch {b}: {per_gpu:,.0f} samples/s per GPU = "
                      f"{per_gpu * a.sample_bytes[0] / 1e9 * a.gpus_per_node:.2f} GB/s per node, "
                      f"{per_gpu * a.sample_bytes[0] / 1e9 * a.gpus_per_node * max(a.nodes):.0f} GB/s at {max(a.nodes)} nodes")
    print(f"\n{model.upper()} compute-bound corpus demand (" + f"{a.sample_bytes[0] / 1000:.1f} KB/sample): " + "; ".join(demand) + ".")
    a.nic_gbps, a.per_gpu_batch, a.grad_bytes = keep


def cpu_table(a):
    """Measured CPU rate, one rank per core, node NIC shared by all its ranks."""
    print(f"\n**C128 on CPU nodes** ({a.cpu_cores} cores, one rank per core, batch 8 per rank, "
          f"{a.cpu_sample_s} s/sample/core measured x {a.cpu_core_efficiency} per-core efficiency, "
          f"{a.cpu_nic_gbps:g} Gb/s per node)\n")
    print(f"| nodes | cores | step s | exposed comm s | samples/s | days for {a.corpus_samples * a.epochs / 1e6:.0f} M samples |")
    print("|---:|---:|---:|---:|---:|---:|")
    grads = sum(bucket_bytes("c128", 4))
    compute = 8 * a.cpu_sample_s / a.cpu_core_efficiency
    bwd = compute * a.bwd_fwd_ratio / (1 + a.bwd_fwd_ratio)
    for n in a.nodes:
        # the node's inter-node share: every byte of the node-reduced gradient leaves and enters once
        comm = 2 * (n - 1) / n * grads / (a.cpu_nic_gbps / 8 * a.nic_efficiency * 1e9)
        exposed = max(0.0, comm - bwd)
        rate = n * a.cpu_cores * 8 / (compute + exposed)
        print(f"| {n} | {n * a.cpu_cores} | {compute + exposed:.2f} | {exposed:.2f} | {rate:,.0f} "
              f"| {a.corpus_samples * a.epochs / rate / 86400:.1f} |")


def floats(s):
    return [float(x) for x in s.split(",")]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    m = p.add_argument_group("model and compute (GPU figures: ASSUMED, replace from bench/run.sh gpu)")
    m.add_argument("--peak-tflops", type=float, default=989, help="GPU bf16 dense peak (H100 SXM)")
    m.add_argument("--mfu", type=float, default=0.35, help="assumed model FLOP utilisation")
    m.add_argument("--sample-ms", type=float, default=0, help="measured fwd+bwd ms per sample (overrides peak x MFU)")
    m.add_argument("--bwd-fwd-ratio", type=float, default=1.8, help="backward / forward time (CPU measured 1.8)")
    m.add_argument("--per-gpu-batch", type=int, default=32, help="samples per GPU per step (reference 32)")
    m.add_argument("--hbm-gbs", type=float, default=2000, help="effective HBM GB/s for AdamW")
    m.add_argument("--optimizer-bytes-per-param", type=float, default=32,
                   help="AdamW + clipping: read p,g,m,v + g, write p,m,v (fp32)")
    m.add_argument("--blocking-collectives", type=int, default=8,
                   help="latency-bound collectives per step outside the overlap (SyncBatchNorm, contrastive gather)")
    n = p.add_argument_group("network (ASSUMED)")
    n.add_argument("--gpus-per-node", type=int, default=4, help="GPUs (and NICs) per node")
    n.add_argument("--nvlink-gbs", type=float, default=360, help="intra-node all-reduce busbw GB/s")
    n.add_argument("--nic-gbps", type=floats, default="200,400", help="per-GPU NIC Gb/s, comma list")
    n.add_argument("--nic-efficiency", type=float, default=0.85, help="achieved fraction of the NIC rate")
    n.add_argument("--base-lat-us", type=float, default=8.4, help="per-collective latency (NCCL ring/Simple)")
    n.add_argument("--nvlink-hop-us", type=float, default=3.4, help="per ring step on NVLink")
    n.add_argument("--net-hop-us", type=float, default=9.6, help="per ring/tree step over the network")
    n.add_argument("--grad-bytes", type=int, default=4, choices=[2, 4], help="4: fp32 grads (trainer now), 2: bf16")
    d = p.add_argument_group("corpus and storage")
    d.add_argument("--sample-bytes", type=floats, default="45100,85100",
                   help="corpus bytes read per sample (first one drives the limit; 85,100 = off-diagonal pairs, or the loader before it read a diagonal window's rows once)")
    d.add_argument("--pfs-gbs", type=float, default=100, help="ASSUMED parallel FS read GB/s available to the job")
    d.add_argument("--corpus-samples", type=int, default=1_275_948, help="pre-training pairs (spec)")
    d.add_argument("--epochs", type=int, default=300, help="reference code default")
    c = p.add_argument_group("CPU comparison (measured on the 2-core VM)")
    c.add_argument("--cpu-sample-s", type=float, default=0.29, help="C=128 s per sample per core")
    c.add_argument("--cpu-core-efficiency", type=float, default=0.82, help="per-core rate when all cores run")
    c.add_argument("--cpu-cores", type=int, default=64, help="cores (= ranks) per CPU node")
    c.add_argument("--cpu-nic-gbps", type=float, default=100, help="CPU node NIC Gb/s (Ethernet/IB)")
    p.add_argument("--nodes", type=lambda s: [int(x) for x in s.split(",")], default="1,2,4,8,16,32,64", help="node counts, comma list")
    a = p.parse_args()

    one = step("c128", 0, a)
    print(f"C128 per GPU: {one['total'] * 1e3:.2f} ms per step of {a.per_gpu_batch} "
          f"(forward {one['fwd'] * 1e3:.2f}, backward {one['bwd'] * 1e3:.2f}, AdamW {one['opt'] * 1e3:.2f}); "
          f"gradients {sum(bucket_bytes('c128', a.grad_bytes)) / 1e6:.1f} MB in "
          f"{len(C128_BUCKETS)} buckets; one bucket-set all-reduce on 1 node "
          f"{sum(allreduce_s(b, 1, a) for b in bucket_bytes('c128', a.grad_bytes)) * 1e3:.2f} ms")
    for gbps in a.nic_gbps:
        fabric_table("c128", gbps, a)
    variant_table("c256", a.nic_gbps, [(a.per_gpu_batch, a.grad_bytes)], a)
    variant_table("c128", [max(a.nic_gbps)], [(32, 2), (128, 4), (256, 2)], a)
    cpu_table(a)


if __name__ == "__main__":
    main()
