"""Helpers shared by the corpus oracles (check_windows.py, check_tracks.py, check_pairing.py):
HDF5 strings as Python str, and chromosome-name aliasing (chr1/1, chrM/MT) against a file's names.
"""
import numpy as np


def as_str(v):
    if isinstance(v, (bytes, np.bytes_)):
        return v.decode("ascii", "replace").rstrip("\x00")
    if isinstance(v, np.ndarray) and v.shape == ():
        return as_str(v[()])
    return str(v)


def str_list(dset):
    return [as_str(x) for x in dset[()]]


def alias_candidates(name):
    cands = [name]
    if name.lower().startswith("chr"):
        cands.append(name[3:])
    else:
        cands.append("chr" + name)
    extra = {"chrM": "MT", "M": "MT", "MT": "chrM", "chrMT": "chrM"}
    if name in extra:
        cands.append(extra[name])
    return cands


def resolve_chrom(name, available):
    for c in alias_candidates(name):
        if c in available:
            return c
    return None
