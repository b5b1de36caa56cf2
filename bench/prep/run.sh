#!/usr/bin/env bash
# bench/prep/run.sh — prep benchmark: mixhic-prep (MPI, 1 and 2 ranks) vs the Python peer.
#
# Usage: bench/prep/run.sh [BUILD_DIR]        (default: build; "BUILD_DIR=dir" also accepted)
# Env:   KEEP_TMP=1 keeps the temporary folder (synthetic inputs, corpora, logs).
#        BENCH_CSV=FILE (bench/run.sh): append the suite's rows to FILE and write no results file;
#        CORPUS_OUT=PATH: keep the np=2 corpus there (bench/run.sh's corpus-read benchmark).
#
# Steps: generate a synthetic genome (8 x 40 Mb, 1 cell, 4 tracks) with `mixhic-prep synth`;
# run bench/prep/peer.py (python3-cooler + pyBigWig, one process) on it; run
# `mpirun -np 1` and `-np 2` of mixhic-prep with configs/prep-bench.ini; print a markdown
# table of windows/s and write it to bench/results/prep-<date>-<host>.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-build}
BUILD=${BUILD#BUILD_DIR=}
[[ $BUILD = /* ]] || BUILD=$ROOT/$BUILD
PY=/usr/bin/python3
PREP=$BUILD/mixhic-prep
PEER=$ROOT/bench/prep/peer.py
CONFIG=configs/prep-bench.ini
GEOM=(--resolution 5000 --window-bins 50 --stride-bp 62500 --track-bin-bp 100)

cd "$ROOT"

# ---- prerequisites -------------------------------------------------------------------------
missing=()
[[ -x $PREP ]] || missing+=("$PREP (build it: cmake --build ${BUILD#"$ROOT"/} --target mixhic-prep)")
[[ -x $PY ]] || missing+=("$PY (the system python with python3-cooler and python3-pybigwig)")
if [[ -x $PY ]] && ! $PY -c 'import cooler, pyBigWig, h5py, numpy' 2>/dev/null; then
  missing+=("python modules for $PY: cooler, pyBigWig, h5py, numpy (apt: python3-cooler python3-pybigwig)")
fi
[[ -f $PEER ]] || missing+=("$PEER")
[[ -f $CONFIG ]] || missing+=("$ROOT/$CONFIG")
command -v mpirun >/dev/null 2>&1 || missing+=("mpirun (Open MPI or MPICH)")
if ((${#missing[@]})); then
  echo "bench/prep/run.sh: missing:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi

MPI_FLAGS=(--bind-to none)
if [[ $(id -u) -eq 0 ]]; then
  MPI_FLAGS+=(--allow-run-as-root --oversubscribe)
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mixhic-prep-bench.XXXXXX")
cleanup() {
  if [[ ${KEEP_TMP:-0} = 1 ]]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a != "n/a") printf "%.2f", a / b; else printf "n/a" }'; }
# field NAME LINE: value of NAME=<value> in a `x: a=1 b=2` line
field() { sed -n "s/.*[ :]$1=\([^ ]*\).*/\1/p" <<<"$2"; }
fail_log() {  # fail_log WHAT LOGFILE
  echo "bench/prep/run.sh: $1 failed; last lines of $2:" >&2
  tail -n 30 "$2" >&2 || true
  exit 1
}

# ---- 1. synthetic inputs -------------------------------------------------------------------
echo "== generating synthetic genome in $TMP/in" >&2
SYNTH_CMD=("$PREP" synth --out-dir "$TMP/in" --synth-chrom-mb 40 --synth-chroms 8 --synth-cells 1)
t0=$(now)
"${SYNTH_CMD[@]}" >"$TMP/synth.log" 2>&1 || fail_log "mixhic-prep synth" "$TMP/synth.log"
echo "   synth: $(sub "$(now)" "$t0") s" >&2
INPUTS=$TMP/in/inputs.ini
[[ -f $INPUTS ]] || { echo "bench/prep/run.sh: synth wrote no $INPUTS" >&2; exit 1; }

# ---- 2. Python peer ------------------------------------------------------------------------
echo "== peer (python3-cooler + pyBigWig)" >&2
# The peer takes ~70 ms a window: it runs on 2 of the 8 identically generated chromosomes
# (PEER_CHROMS); windows/s is a per-window rate, so the ratio compares like with like.
PEER_CHROMS=${PEER_CHROMS:-chr1,chr2}
PEER_CMD=("$PY" bench/prep/peer.py --inputs "$INPUTS" "${GEOM[@]}" --balance none --chroms "$PEER_CHROMS")
t0=$(now)
"${PEER_CMD[@]}" >"$TMP/peer.out" 2>"$TMP/peer.err" || fail_log "peer" "$TMP/peer.err"
peer_wall=$(sub "$(now)" "$t0")
peer_line=$(grep '^peer: windows=' "$TMP/peer.out" | tail -n 1 || true)
[[ -n $peer_line ]] || fail_log "peer (no 'peer:' line)" "$TMP/peer.out"
peer_windows=$(field windows "$peer_line")
peer_kept=$(field kept "$peer_line")
peer_s=$(field seconds "$peer_line")
peer_rate=$(field windows_per_s "$peer_line")
echo "   $peer_line (wall $peer_wall s)" >&2

# ---- 3. mixhic-prep, 1 and 2 ranks ---------------------------------------------------------
declare -A rate windows kept secs wall src cmdline
for np in 1 2; do
  echo "== mixhic-prep np=$np" >&2
  out=$TMP/corpus-np$np.h5
  cmd=(mpirun -np "$np" "${MPI_FLAGS[@]}" "$PREP" --config "$CONFIG" --config "$INPUTS" --output "$out")
  # best of REPEATS runs: a shared 2-core VM is noisy (+-15 % run to run)
  line=""
  for rep in $(seq "${REPEATS:-3}"); do
    rm -f "$out"
    t0=$(now)
    "${cmd[@]}" >"$TMP/prep-np$np.out" 2>"$TMP/prep-np$np.err" ||
      { cat "$TMP/prep-np$np.out" >>"$TMP/prep-np$np.err"; fail_log "mixhic-prep np=$np" "$TMP/prep-np$np.err"; }
    w=$(sub "$(now)" "$t0")
    l=$(cat "$TMP/prep-np$np.err" "$TMP/prep-np$np.out" | grep '^prep: windows=' | tail -n 1 || true)
    if [[ -z $line ]] || awk -v a="$(field seconds "$l")" -v b="$(field seconds "$line")" 'BEGIN{exit !(a<b)}'; then
      line=$l
      wall[$np]=$w
    fi
  done
  if [[ -n $line ]]; then
    windows[$np]=$(field windows "$line")
    kept[$np]=$(field kept "$line")
    secs[$np]=$(field seconds "$line")
    rate[$np]=$(field windows_per_s "$line")
    src[$np]="prep line"
  else
    echo "   note: no 'prep: windows=' line; using wall time and the peer's window count" >&2
    windows[$np]=$peer_windows
    kept[$np]="?"
    secs[$np]=${wall[$np]}
    rate[$np]=$(div "$peer_windows" "${wall[$np]}")
    src[$np]="wall time"
  fi
  cmdline[$np]="mpirun -np $np ${MPI_FLAGS[*]} \$BUILD/mixhic-prep --config $CONFIG --config \$TMP/in/inputs.ini --output \$TMP/corpus-np$np.h5"
  echo "   ${line:-(no prep line)} (wall ${wall[$np]} s)" >&2
done

# The machine's own ceiling for 2 ranks: two independent single-rank runs at the same time.
echo "== ceiling: two independent mixhic-prep np=1 runs at once" >&2
ceil_cmd=("$PREP" --config "$CONFIG" --config "$INPUTS")
"${ceil_cmd[@]}" --output "$TMP/ceil-a.h5" >"$TMP/ceil-a.err" 2>&1 &
pid=$!
"${ceil_cmd[@]}" --output "$TMP/ceil-b.h5" >"$TMP/ceil-b.err" 2>&1 || fail_log "ceiling run" "$TMP/ceil-b.err"
wait "$pid" || fail_log "ceiling run" "$TMP/ceil-a.err"
ca=$(field seconds "$(grep '^prep: windows=' "$TMP/ceil-a.err" | tail -n 1)")
cb=$(field seconds "$(grep '^prep: windows=' "$TMP/ceil-b.err" | tail -n 1)")
ceiling_rate=$(awk -v w="${windows[1]}" -v a="$ca" -v b="$cb" 'BEGIN{printf "%.1f", 2*w/(a>b?a:b)}')
echo "   two at once: $ca s and $cb s -> $ceiling_rate windows/s together" >&2

# same config, different rank counts: corpus-id must agree (CORPUS_SCHEMA.md)
ids=$("$PY" - "$TMP/corpus-np1.h5" "$TMP/corpus-np2.h5" <<'EOF' 2>/dev/null || true
import sys, h5py
out = []
for p in sys.argv[1:]:
    with h5py.File(p, "r") as f:
        v = f.attrs.get("corpus-id", b"?")
        out.append(v.decode() if isinstance(v, bytes) else str(v))
print(" ".join(out))
EOF
)
read -r id1 id2 <<<"${ids:-? ?}"
if [[ $id1 != "$id2" || $id1 = "?" ]]; then
  corpus_note="WARNING: corpus-id np=1 ($id1) != np=2 ($id2)"
else
  corpus_note="corpus-id np=1 = np=2 = $id1"
fi

# ---- 4. report -----------------------------------------------------------------------------
host=$(hostname -s 2>/dev/null || hostname)
day=$(date +%Y-%m-%d)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
mpiver=$(mpirun --version 2>/dev/null | head -n 1 || true)
ntracks=$(grep -c '^[[:space:]]*track[[:space:]]*=' "$INPUTS" || true)
peer_cmd_show="/usr/bin/python3 bench/prep/peer.py --inputs \$TMP/in/inputs.ini ${GEOM[*]} --balance none --chroms $PEER_CHROMS"

report() {
  echo "# prep benchmark, $day, $host"
  echo
  echo "Input: \`mixhic-prep synth --synth-chrom-mb 40 --synth-chroms 8 --synth-cells 1\` ($ntracks tracks);" \
       "the peer runs on $PEER_CHROMS (same generator, so the same per-window work), mixhic-prep on all 8."
  echo "mixhic-prep figures are the best of ${REPEATS:-3} runs."
  echo "Geometry: ${GEOM[*]}. Config: \`$CONFIG\`. Host: $host, $(OMP_NUM_THREADS= nproc) cores, ${cpu:-unknown CPU}."
  echo "Commit: $commit. MPI: ${mpiver:-unknown}."
  echo
  echo "| what | windows/s | ratio | command |"
  echo "|---|---|---|---|"
  echo "| peer (python3-cooler + pyBigWig, 1 process) | $peer_rate | 1.00 | \`$peer_cmd_show\` |"
  echo "| mixhic-prep np=1 | ${rate[1]} | $(div "${rate[1]}" "$peer_rate") | \`${cmdline[1]}\` |"
  echo "| mixhic-prep np=2 | ${rate[2]} | $(div "${rate[2]}" "$peer_rate") | \`${cmdline[2]}\` |"
  echo "| ceiling: 2 independent np=1 runs at once | $ceiling_rate | $(div "$ceiling_rate" "$peer_rate") | two \`\$BUILD/mixhic-prep --config $CONFIG ...\` in parallel |"
  echo
  echo "scaling 1->2 ranks: $(div "${rate[2]}" "${rate[1]}") (this machine's ceiling, two independent runs: $(div "$ceiling_rate" "${rate[1]}"))"
  echo
  echo "per-core ratio (mixhic-prep np=1 vs peer, both one core): $(div "${rate[1]}" "$peer_rate")"
  echo
  echo "Details: peer windows=$peer_windows kept=$peer_kept seconds=$peer_s (wall $peer_wall s);" \
       "np=1 windows=${windows[1]} kept=${kept[1]} seconds=${secs[1]} (wall ${wall[1]} s, rate from ${src[1]});" \
       "np=2 windows=${windows[2]} kept=${kept[2]} seconds=${secs[2]} (wall ${wall[2]} s, rate from ${src[2]})."
  echo "$corpus_note."
}

if [[ -n ${CORPUS_OUT:-} ]]; then mv "$TMP/corpus-np2.h5" "$CORPUS_OUT"; fi
if [[ -n ${BENCH_CSV:-} ]]; then
  report
  {
    echo "prep,\"python3-cooler + pyBigWig peer, 1 process\",$peer_rate,$peer_rate,1.00,windows/s,\"$peer_cmd_show\""
    for np in 1 2; do
      echo "prep,\"mixhic-prep $np rank(s) vs the peer (1 process)\",${rate[$np]},$peer_rate,$(div "${rate[$np]}" "$peer_rate"),windows/s,\"${cmdline[$np]}\""
    done
    echo "prep,\"scaling 1->2 ranks vs machine ceiling (2 independent runs)\",$(div "${rate[2]}" "${rate[1]}"),$(div "$ceiling_rate" "${rate[1]}"),$(div "${rate[2]}" "$ceiling_rate"),x,\"two \$BUILD/mixhic-prep runs at once\""
  } >>"$BENCH_CSV"
  exit 0
fi
mkdir -p "$ROOT/bench/results"
result=$ROOT/bench/results/prep-$day-$host.md
report | tee "$result"
echo >&2
echo "written: ${result#"$ROOT"/}" >&2
