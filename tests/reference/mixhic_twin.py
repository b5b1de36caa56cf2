#!/usr/bin/python3
"""PyTorch twin of mixhic's LibTorch MIX-HIC model (include/mixhic/model.hpp).

The same architecture, written independently in PyTorch with the same state_dict keys as the
reference code (github.com/myang998/MIX-HIC, Models/LLM_pretrain_100bp_v4.py + uformer_utils.py)
and the paper's behaviour where the reference code differs: 1-D attention runs over positions
(batch_first=True; the reference's seq-first layers attend across the batch), and the modules the
reference defines but never calls (cross_attn, layer_norm0-2) are left out.

Used by tests/test_model.cpp (and later as the PyTorch peer of the benchmarks):

  mixhic_twin.py compare --config JSON --state STATE.pt --io IO.pt [--tol 1e-5]
      Loads the weights and inputs the C++ test saved, runs forward + backward here and compares
      every intermediate, loss and the listed gradients. Prints one line per item and a summary
      `twin: items=N max_rel_err=X`; exit 0 when every item is within tol.
  mixhic_twin.py save --config JSON --seed S --out STATE.pt [--rename OLD=NEW]
      Writes a freshly initialised twin's state_dict with torch.save (a checkpoint made by PyTorch).
  mixhic_twin.py forward --config JSON --state STATE.pt --io IO.pt --out OUT.pt
      Runs the pre-training forward on IO.pt's inputs and saves the losses and tokens.
"""
import argparse
import json
import math
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


def prime_factors(n):
    out, p = [], 2
    while p * p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    if n > 1:
        out.append(n)
    return out


class Pooling1DEncoder(nn.Module):
    def __init__(self, dim, factors, dropout):
        super().__init__()
        self.factors = factors
        for i in range(len(factors) + 1):
            setattr(self, f"conv{i + 1}", nn.Conv1d(dim, dim, 3, padding=1))
            setattr(self, f"bn{i + 1}", nn.BatchNorm1d(dim))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        x = x.transpose(1, 2)
        for i in range(len(self.factors) + 1):
            x = F.relu(getattr(self, f"bn{i + 1}")(getattr(self, f"conv{i + 1}")(x)))
            if i < len(self.factors):
                x = self.dropout(F.max_pool1d(x, self.factors[i]))
        return x.transpose(1, 2)


class Downsample1D(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv1d(cin, cout, 4, stride=2, padding=1))

    def forward(self, x):
        return self.conv(x.transpose(1, 2)).transpose(1, 2)


class Downsample2D(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(cin, cout, 4, stride=2, padding=1))

    def forward(self, x):
        b, n, c = x.shape
        s = int(round(math.sqrt(n)))
        return self.conv(x.transpose(1, 2).reshape(b, c, s, s)).flatten(2).transpose(1, 2)


def encoder_stage(d, cfg):
    layer = nn.TransformerEncoderLayer(d, cfg["heads"], dim_feedforward=2 * d, dropout=cfg["dropout"],
                                       activation="relu", batch_first=True)
    return nn.TransformerEncoder(layer, cfg["depth"], enable_nested_tensor=False)


class EpiEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        c = cfg["embed_dim"]
        self.pooling_encoder = Pooling1DEncoder(c, prime_factors(cfg["hic_bin_bp"] // cfg["track_bin_bp"]),
                                                cfg["dropout"])
        self.seq_encoder_0 = encoder_stage(c, cfg)
        self.dowsample_0 = Downsample1D(c, 2 * c)
        self.seq_encoder_1 = encoder_stage(2 * c, cfg)
        self.dowsample_1 = Downsample1D(2 * c, 4 * c)
        self.seq_encoder_2 = encoder_stage(4 * c, cfg)
        self.dowsample_2 = Downsample1D(4 * c, 8 * c)
        self.bottleneck = encoder_stage(8 * c, cfg)

    def forward(self, x):
        e0 = self.seq_encoder_0(self.pooling_encoder(x))
        e1 = self.seq_encoder_1(self.dowsample_0(e0))
        e2 = self.seq_encoder_2(self.dowsample_1(e1))
        return self.bottleneck(self.dowsample_2(e2)), [e0, e1, e2]


class LinearProjection(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.to_q = nn.Linear(dim, dim)
        self.to_kv = nn.Linear(dim, 2 * dim)


class Attention(nn.Module):
    def __init__(self, dim, heads, dropout):
        super().__init__()
        self.heads = heads
        self.qkv = LinearProjection(dim)
        self.proj = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        b, n, c = x.shape
        dh = c // self.heads
        q = self.qkv.to_q(x).reshape(b, n, self.heads, dh).permute(0, 2, 1, 3)
        kv = self.qkv.to_kv(x).reshape(b, n, 2, self.heads, dh).permute(2, 0, 3, 1, 4)
        k, v = kv[0], kv[1]
        attn = self.dropout(torch.softmax((q * dh ** -0.5) @ k.transpose(-2, -1), dim=-1))
        return self.dropout(self.proj((attn @ v).transpose(1, 2).reshape(b, n, c)))


class LeFF(nn.Module):
    def __init__(self, dim, hidden, dropout):
        super().__init__()
        self.linear1 = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout))
        self.dwconv = nn.Sequential(nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden), nn.GELU())
        self.linear2 = nn.Sequential(nn.Linear(hidden, dim), nn.Dropout(dropout))

    def forward(self, x):
        b, n, _ = x.shape
        s = int(round(math.sqrt(n)))
        h = self.linear1(x)
        g = self.dwconv(h.transpose(1, 2).reshape(b, h.shape[2], s, s))
        return self.linear2(g.reshape(b, h.shape[2], n).transpose(1, 2))


class TransformerBlock(nn.Module):
    def __init__(self, dim, heads, mlp_ratio, dropout):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = LeFF(dim, dim * mlp_ratio, dropout)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class BasicTransformerLayer(nn.Module):
    def __init__(self, dim, cfg):
        super().__init__()
        self.blocks = nn.ModuleList([TransformerBlock(dim, cfg["heads"], cfg["mlp_ratio"], cfg["dropout"])
                                     for _ in range(cfg["depth"])])

    def forward(self, x):
        for blk in self.blocks:
            x = blk(x)
        return x


class HicEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        c = cfg["embed_dim"]
        for level in range(4):
            setattr(self, f"encoderlayer_{level}", BasicTransformerLayer(c << level, cfg))
            if level < 3:
                setattr(self, f"dowsample_{level}", Downsample2D(c << level, c << (level + 1)))

    def forward(self, x):
        return self.stages(x)[-1]

    def stages(self, x):
        out = []
        for level in range(4):
            x = getattr(self, f"encoderlayer_{level}")(x)
            out.append(x)
            if level < 3:
                x = getattr(self, f"dowsample_{level}")(x)
        return out


class Mlp(nn.Module):
    def __init__(self, dim, hidden, dropout):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return self.drop(self.fc2(self.drop(F.gelu(self.fc1(x)))))


class CrossAttention(Attention):
    def forward(self, x, kv=None):
        src = x if kv is None else kv
        b, n, c = x.shape
        dh = c // self.heads
        q = self.qkv.to_q(x).reshape(b, n, self.heads, dh).permute(0, 2, 1, 3)
        kv_ = self.qkv.to_kv(src).reshape(b, src.shape[1], 2, self.heads, dh).permute(2, 0, 3, 1, 4)
        attn = self.dropout(torch.softmax((q * dh ** -0.5) @ kv_[0].transpose(-2, -1), dim=-1))
        return self.dropout(self.proj((attn @ kv_[1]).transpose(1, 2).reshape(b, n, c)))


class FusionBlock(nn.Module):
    def __init__(self, dim, heads, mlp_ratio, dropout):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = CrossAttention(dim, heads, dropout)
        self.cross_attn = CrossAttention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, dim * mlp_ratio, dropout)

    def forward(self, epi, hic):
        x = epi + self.cross_attn(self.attn(self.norm1(epi)), hic)
        return x + self.mlp(self.norm2(x))


class FusionLayer(nn.Module):
    def __init__(self, dim, cfg):
        super().__init__()
        self.blocks = nn.ModuleList([FusionBlock(dim, cfg["heads"], cfg["mlp_ratio"], cfg["dropout"])
                                     for _ in range(cfg["depth"])])

    def forward(self, x, hic):
        for blk in self.blocks:
            x = blk(x, hic)
        return x


class Upsample1D(nn.Module):
    def __init__(self, cin, cout, output_padding):
        super().__init__()
        self.conv_transpose = nn.Sequential(nn.ConvTranspose1d(cin, cout, 4, stride=2, padding=1,
                                                               output_padding=output_padding))

    def forward(self, x):
        return self.conv_transpose(x.transpose(1, 2)).transpose(1, 2)


class EpiDecoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        c = cfg["embed_dim"]
        tokens = [2 * cfg["window_bins"]]
        for _ in range(3):
            tokens.append(tokens[-1] // 2)
        ins, outs, widths = [8 * c, 8 * c, 4 * c], [4 * c, 2 * c, c], [8 * c, 4 * c, 2 * c]
        for k in range(3):
            level = 3 - k
            setattr(self, f"upsample_{3 + k}", Upsample1D(ins[k], outs[k], tokens[level - 1] - 2 * tokens[level]))
            setattr(self, f"seq_decoder_{3 + k}", encoder_stage(widths[k], cfg))

    def forward(self, x, skips):
        for k in range(3):
            up = getattr(self, f"upsample_{3 + k}")(x)
            x = getattr(self, f"seq_decoder_{3 + k}")(torch.cat([up, skips[2 - k]], -1))
        return x


def image_to_patches(x, p):
    b, c = x.shape[:2]
    x = x.unfold(2, p, p).unfold(3, p, p).contiguous().view(b, c, -1, p, p)
    return x.permute(0, 2, 1, 3, 4).contiguous().view(b, -1, c * p * p)


class MixHicTwin(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        c, d = cfg["embed_dim"], 8 * cfg["embed_dim"]
        self.seq_input_projection = nn.Sequential(nn.Linear(cfg["n_tracks"], c), nn.ReLU(), nn.Dropout(cfg["dropout"]))
        self.seq_downsampleTrans = EpiEncoder(cfg)
        self.patch_embedding = nn.Linear(4, c)
        self.map_downsampleTrans = HicEncoder(cfg)
        self.temp = nn.Parameter(cfg.get("temperature_init", 0.07) * torch.ones([]))
        self.epi_share_proj = nn.Linear(d, d // 2)
        self.map_share_proj = nn.Linear(d, d // 2)
        self.epi_independent_proj = nn.Linear(d, d // 2)
        self.map_independent_proj = nn.Linear(d, d // 2)
        self.mlp_e2m = nn.Linear(d, d)
        self.mlp_m2e = nn.Linear(d, d)
        task = cfg.get("task", "none")
        if task != "none":
            self.fusion_block = FusionLayer(d, cfg)
            head_in, hidden = d, 32
            if task != "loop":
                self.seq_upsampleTrans = EpiDecoder(cfg)
                head_in, hidden = 2 * c, (128 if task == "expression" else 32)
            map_head = cfg.get("map_head", "reference") if task == "hic_map" else "reference"
            if map_head == "barrier":
                self.barrier = nn.Linear(head_in, cfg.get("barrier_dim", 8))
                head_in += self.barrier.out_features
            if map_head != "reference":
                self.dist_bias = nn.Parameter(torch.zeros(cfg["window_bins"]))
            layers = [nn.Linear(head_in, hidden), nn.ReLU(), nn.Dropout(0.5 if map_head == "reference" else 0.0),
                      nn.Linear(hidden, 1)]
            if task != "expression" and map_head == "reference":
                layers.append(nn.Sigmoid())
            self.classifier = nn.Sequential(*layers)

    def encode_epi(self, epi):
        return self.seq_downsampleTrans(self.seq_input_projection(epi))

    def encode_hic(self, hic):
        return self.map_downsampleTrans(self.patch_embedding(image_to_patches(hic, 2)))

    def predict_map(self, epi):
        tokens, skips = self.encode_epi(epi)
        es, ei = self.heads(tokens, True)
        epi_concat = torch.cat([es, ei], -1)
        imputed = math.sqrt(2.0) * self.unit(self.mlp_e2m(self.pool_tokens(epi_concat, self.n_hic_tokens())))
        decoded = self.seq_upsampleTrans(self.fusion_block(epi_concat, imputed), skips)
        w = self.cfg["window_bins"]
        x, y = decoded[:, :w].unsqueeze(2), decoded[:, w:].unsqueeze(1)
        pairs = (x + y) / 2 + x * y
        if hasattr(self, "barrier"):  # the sum of the barrier vectors of the bins between i and j
            b = self.barrier((decoded[:, :w] + decoded[:, w:]) / 2)
            between = torch.zeros(pairs.shape[:3] + (b.shape[-1],), dtype=b.dtype)
            for i in range(w):
                for j in range(w):
                    lo, hi = min(i, j), max(i, j)
                    between[:, i, j] = b[:, lo + 1:hi + 1].sum(1)
            pairs = torch.cat([pairs, between], -1)
        out = self.classifier(pairs).squeeze(-1)
        if hasattr(self, "dist_bias"):
            d = torch.arange(w)
            out = out + self.dist_bias[(d[:, None] - d[None, :]).abs()]
        return out

    def predict_loop(self, hic, epi):
        tokens, _ = self.encode_epi(epi)
        es, ei = self.heads(tokens, True)
        ms, mi = self.heads(self.encode_hic(hic), False)
        fused = self.fusion_block(torch.cat([es, ei], -1), torch.cat([ms, mi], -1))
        return self.classifier(fused.mean(1)).squeeze(-1)

    def predict_expression(self, hic, epi):
        tokens, skips = self.encode_epi(epi)
        es, ei = self.heads(tokens, True)
        ms, mi = self.heads(self.encode_hic(hic), False)
        fused = self.fusion_block(torch.cat([es, ei], -1), torch.cat([ms, mi], -1))
        return self.classifier(self.seq_upsampleTrans(fused, skips)).squeeze(-1)

    def n_hic_tokens(self):
        s = self.cfg["window_bins"] // 2
        for _ in range(3):
            s //= 2
        return s * s

    def n_epi_tokens(self):
        n = 2 * self.cfg["window_bins"]
        for _ in range(3):
            n //= 2
        return n

    def heads(self, tokens, epi):
        share = F.normalize((self.epi_share_proj if epi else self.map_share_proj)(tokens), dim=-1)
        specific = F.normalize((self.epi_independent_proj if epi else self.map_independent_proj)(tokens), dim=-1)
        return share, specific

    @staticmethod
    def pool_tokens(x, n):
        return F.adaptive_avg_pool1d(x.transpose(1, 2), n).transpose(1, 2)

    @staticmethod
    def unit(x):
        return x / torch.norm(x, dim=-1, keepdim=True)

    def forward(self, hic, epi):
        with torch.no_grad():
            self.temp.clamp_(self.cfg.get("temperature_min", 0.001), self.cfg.get("temperature_max", 0.5))
        out = {}
        epi_tokens, skips = self.seq_downsampleTrans(self.seq_input_projection(epi))
        hic_stages = self.map_downsampleTrans.stages(self.patch_embedding(image_to_patches(hic, 2)))
        hic_tokens = hic_stages[-1]
        for i, s in enumerate(hic_stages[:-1]):
            out[f"hic_stage{i}"] = s
        out["epi_tokens"], out["hic_tokens"] = epi_tokens, hic_tokens
        for i, s in enumerate(skips):
            out[f"epi_skip{i}"] = s
        es, ei = self.heads(epi_tokens, True)
        ms, mi = self.heads(hic_tokens, False)
        out.update(epi_share=es, epi_specific=ei, hic_share=ms, hic_specific=mi)
        epi_concat, hic_concat = torch.cat([es, ei], -1), torch.cat([ms, mi], -1)
        esm, eim, msm, mim = es.mean(1), ei.mean(1), ms.mean(1), mi.mean(1)
        if self.cfg.get("contrastive_pooling", "reference") == "centered":
            logits = F.normalize(esm - esm.mean(0), dim=-1) @ F.normalize(msm - msm.mean(0), dim=-1).t() / self.temp
        else:
            logits = esm @ msm.t() / self.temp
        target = torch.arange(len(esm))
        out["contrastive"] = (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2
        out["orthogonal"] = ((esm * eim).sum(-1) ** 2 + (msm * mim).sum(-1) ** 2).mean()
        e2m = self.unit(self.mlp_e2m(self.pool_tokens(epi_concat, self.n_hic_tokens())))
        m2e = self.unit(self.mlp_m2e(self.pool_tokens(hic_concat, self.n_epi_tokens())))
        d1 = torch.norm(e2m - self.unit(hic_concat), dim=-1)
        d2 = torch.norm(m2e - self.unit(epi_concat), dim=-1)
        if self.cfg.get("mapping_loss", "l2") == "squared":
            d1, d2 = d1 ** 2, d2 ** 2
        out["mapping"] = (d1.mean() + d2.mean()) / 2
        w = self.cfg
        out["total"] = (w.get("weight_contrastive", 0.5) * out["contrastive"] + w.get("weight_orthogonal", 0.5)
                        * out["orthogonal"] + w.get("weight_mapping", 0.5) * out["mapping"])
        return out

    def impute_hic(self, epi):
        tokens, _ = self.seq_downsampleTrans(self.seq_input_projection(epi))
        es, ei = self.heads(tokens, True)
        return math.sqrt(2.0) * self.unit(self.mlp_e2m(self.pool_tokens(torch.cat([es, ei], -1), self.n_hic_tokens())))


def rel_err(a, b):
    a, b = a.detach().double(), b.detach().double()
    if a.shape != b.shape:
        return float("inf")
    scale = max(float(b.abs().max()), 1e-30)
    return float((a - b).abs().max()) / scale


def load_pt(path):
    # mixhic's .pt files are OrderedDicts of tensors, written as torch.save writes a state_dict:
    # they load with the restricted unpickler, the default from torch 2.6 on (given explicitly, so
    # that 1.13 checks the same).
    return torch.load(path, weights_only=True)


def cmd_compare(args, cfg):
    state, io = load_pt(args.state), load_pt(args.io)
    dtype = io["hic"].dtype
    model = MixHicTwin(cfg).to(dtype)
    model.load_state_dict(state, strict=True)
    out = {}
    if "total" in io:  # the pre-training step, in training mode, with gradients
        model.train()
        out = model(io["hic"], io["epi"])
        out["total"].backward()
        with torch.no_grad():
            out["impute_hic"] = model.impute_hic(io["epi"])
    model.eval()  # the task heads, in inference mode (their dropout is 0.5)
    with torch.no_grad():
        if "predict_map" in io:
            out["predict_map"] = model.predict_map(io["epi"])
        if "predict_loop" in io:
            out["predict_loop"] = model.predict_loop(io["hic"], io["epi"])
        if "predict_expression" in io:
            out["predict_expression"] = model.predict_expression(io["hic"], io["epi"])
    params = dict(model.named_parameters())
    worst, n, failed = 0.0, 0, []
    for key, ours in io.items():
        if key in ("hic", "epi"):
            continue
        if key.startswith("grad:"):
            theirs = params[key[5:]].grad
        else:
            theirs = out[key]
        err = rel_err(ours, theirs)
        n += 1
        worst = max(worst, err)
        ok = err <= args.tol
        if not ok:
            failed.append(key)
        print(f"  {key:<70} shape={tuple(theirs.shape)} rel_err={err:.3e}{'' if ok else '  FAIL'}")
    print(f"twin: items={n} max_rel_err={worst:.3e}")
    return 0 if not failed and n > 0 else 1


def cmd_save(args, cfg):
    torch.manual_seed(args.seed)
    model = MixHicTwin(cfg)
    sd = model.state_dict()
    for rename in args.rename or []:
        old, new = rename.split("=", 1)
        sd[new] = sd.pop(old)
    for extra in args.extra or []:  # e.g. a key of the reference's never-called modules
        sd[extra] = torch.zeros(2, 2)
    torch.save(sd, args.out)
    print(f"saved {len(sd)} tensors to {args.out}")
    return 0


def cmd_forward(args, cfg):
    io = load_pt(args.io)
    model = MixHicTwin(cfg).to(io["hic"].dtype)
    model.load_state_dict(load_pt(args.state), strict=True)
    model.train()
    with torch.no_grad():
        out = model(io["hic"], io["epi"])
    torch.save({k: v for k, v in out.items()}, args.out)
    print(f"forward: contrastive={float(out['contrastive']):.6f} mapping={float(out['mapping']):.6f}")
    return 0


def cmd_bench(args, cfg):
    """Forward+backward+AdamW samples/s of the twin: the peer of `mixhic-model bench` (same
    --device, --precision: bf16 autocast for the forward pass; peak memory on CUDA)."""
    import time
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = MixHicTwin(cfg).to(device)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=1e-6)
    w, r = cfg["window_bins"], cfg["hic_bin_bp"] // cfg["track_bin_bp"]
    hic = torch.rand(args.batch, 1, w, w).to(device)
    epi = torch.rand(args.batch, 2 * w * r, cfg["n_tracks"]).to(device)
    bf16 = args.precision == "bf16"

    def step():
        opt.zero_grad()
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = model(hic, epi)["total"]
        loss.backward()
        opt.step()

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    step()
    step()
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync()
    sps = args.batch * args.steps / (time.perf_counter() - t0)
    mem = f" peak_mem_gib={torch.cuda.max_memory_allocated(device) / 2**30:.2f}" if device.type == "cuda" else ""
    print(f"model-bench: impl=pytorch C={cfg['embed_dim']} batch={args.batch} steps={args.steps} device={device} "
          f"precision={args.precision} threads={torch.get_num_threads()} samples_per_s={sps:.3f}{mem}")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["compare", "save", "forward", "bench"])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="bench: cpu | cuda | cuda:N")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="bench: bf16 autocasts the forward pass")
    ap.add_argument("--config", required=True, help="model config as JSON (embed_dim, depth, heads, ...)")
    ap.add_argument("--state")
    ap.add_argument("--io")
    ap.add_argument("--out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rename", action="append", help="OLD=NEW: rename a key before saving (error tests)")
    ap.add_argument("--extra", action="append", help="KEY: add a 2x2 zero tensor under KEY before saving")
    ap.add_argument("--tol", type=float, default=1e-5)
    args = ap.parse_args()
    cfg = json.loads(args.config)
    cfg.setdefault("dropout", 0.0)
    torch.set_num_threads(args.threads)
    return {"compare": cmd_compare, "save": cmd_save, "forward": cmd_forward,
            "bench": cmd_bench}[args.command](args, cfg)


if __name__ == "__main__":
    sys.exit(main())
