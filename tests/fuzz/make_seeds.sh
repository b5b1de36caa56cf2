#!/usr/bin/env bash
# make_seeds.sh — (re)writes the seed corpora of the fuzz targets, tests/fuzz/seeds/<target>/, from
# the project's own small fixtures and the small files of ../shared/data. The output is committed:
# Fuzz.<target> (ctest -L fuzz) starts from it, and FuzzRegressions.* runs every seed in the
# normal build. Each seed stays under 200 KB and the whole tree under 2 MB (checked at the end).
#
# usage: tests/fuzz/make_seeds.sh [--corpus CORPUS.h5]... [--prep PATH/mixhic-prep]
#   --corpus  shrink this corpus (written by mixhic-prep) into a seed of fuzz_corpus; repeatable.
#   --prep    without --corpus: build three tiny corpora (samples = tiles, loops, tss) with this
#             mixhic-prep from a 3-chromosome synthetic genome (about a minute), then shrink them.
#             Default: build/mixhic-prep, if it is there.
# Environment: MIXHIC_PYTHON (default /usr/bin/python3: needs torch, cooler, h5py, numpy, pandas),
# MIXHIC_SHARED_DATA (default ../shared/data next to the repository).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
python=${MIXHIC_PYTHON:-/usr/bin/python3}
shared=${MIXHIC_SHARED_DATA:-$root/../shared/data}
prep=$root/build/mixhic-prep
corpora=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --corpus) corpora+=("$(realpath "$2")"); shift 2 ;;
    --prep) prep=$2; shift 2 ;;
    *) echo "usage: $0 [--corpus CORPUS.h5]... [--prep MIXHIC_PREP]" >&2; exit 2 ;;
  esac
done
max_seed=$((200 * 1024))
max_tree=$((2 * 1024 * 1024))
seeds=$here/seeds
writers=$here/seed_writers.py
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fresh() {  # an empty seeds/<target>/
  rm -rf "${seeds:?}/$1"
  mkdir -p "$seeds/$1"
  echo "$seeds/$1"
}

# Copies a file of ../shared/data when it is there and small enough to commit.
shared_seed() {  # shared_seed TARGET_DIR RELATIVE_PATH
  local src=$shared/$2
  if [[ ! -f $src ]]; then
    echo "make_seeds: $src absent, skipped" >&2
  elif (($(stat -c %s "$src") > max_seed)); then
    echo "make_seeds: $src is over 200 KB, skipped" >&2
  else
    install -m 0644 "$src" "$1/shared_$(basename "$src")"
  fi
}

# ---- fuzz_hic: the v9 file of the .hic reader's tests, a corrupt one (negative KR), shared v8 files
dir=$(fresh fuzz_hic)
"$python" "$root/tests/oracles/write_hic_v9.py" "$dir/v9.hic" "$tmp" > /dev/null
"$python" "$root/tests/oracles/write_hic_v9.py" "$dir/v9_negative_kr.hic" "$tmp" --negative-kr-bin 5 > /dev/null
shared_seed "$dir" hic/test_chr22.hic  # v8, resolutions 2.5 Mb and 100 kb
# hic/GSE63525_HMEC_combined_example.hic (v8, 709 KB) is too large to commit as a seed.

# ---- fuzz_torch_save: torch.save of tiny state dicts
dir=$(fresh fuzz_torch_save)
"$python" "$writers" torch "$dir"

# ---- fuzz_text: BED, BEDPE, genes (BED12, GTF) and the configs, with their selector byte
dir=$(fresh fuzz_text)
"$python" "$writers" text "$dir" "$shared" "$root/configs"

# ---- fuzz_cooler: tiny uncompressed coolers of every layout, plus small shared ones (gzip chunks:
# their metadata mutates usefully, their pixel chunks mostly do not)
dir=$(fresh fuzz_cooler)
"$python" "$writers" cooler "$dir"
shared_seed "$dir" hic/CN.mm9.10000kb.cool
shared_seed "$dir" hic/hg19.GM12878-MboI.matrix.2000kb.cool
shared_seed "$dir" hic/hg19.GM12878.chr21_28.0-30.3Mb.10kb.KRnorm.cool

# ---- fuzz_corpus: corpora of mixhic-prep, shrunk to two or three samples
dir=$(fresh fuzz_corpus)
if [[ ${#corpora[@]} -eq 0 && -x $prep ]]; then
  # One cell, chromosomes chr1..chr3 of 2 Mb; validate on chr2, test on chr3 (the configs name
  # chr3/chr4 of the default 4-chromosome genome).
  "$prep" synth --out-dir "$tmp/synth" --synth-chroms 3 --synth-chrom-mb 2 --synth-cells 1
  for kind in synth synth-loops synth-tss; do
    "$prep" --config "$root/configs/prep-$kind.ini" --config "$tmp/synth/inputs.ini" \
      --output "$tmp/$kind.h5" --val-chroms chr2 --test-chroms chr3
    corpora+=("$tmp/$kind.h5")
  done
fi
if [[ ${#corpora[@]} -eq 0 ]]; then
  echo "make_seeds: no corpus (give --corpus CORPUS.h5 or --prep MIXHIC_PREP): seeds/fuzz_corpus left empty" >&2
fi
for c in "${corpora[@]}"; do
  name=$("$python" -c 'import h5py, sys; print(h5py.File(sys.argv[1], "r").attrs["sample-source"])' "$c")
  out=$dir/$name.h5
  [[ -e $out ]] && out=$dir/${name}_$(find "$dir" -name "$name*.h5" | wc -l).h5
  "$python" "$writers" shrink-corpus "$c" "$out"
done

# ---- sizes: small enough to commit
big=$(find "$seeds" -type f -size +$((max_seed / 1024))k)
if [[ -n $big ]]; then
  echo "make_seeds: seeds over 200 KB:" >&2
  echo "$big" >&2
  exit 1
fi
total=$(du -sb "$seeds" | cut -f1)
if ((total > max_tree)); then
  echo "make_seeds: seeds/ is $total bytes, over 2 MB" >&2
  exit 1
fi
for d in "$seeds"/*/; do
  printf '%-18s %3d files %8d bytes\n' "$(basename "$d")" "$(find "$d" -type f | wc -l)" "$(du -sb "$d" | cut -f1)"
done
