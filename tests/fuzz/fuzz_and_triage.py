#!/usr/bin/env python3
"""Fuzz one libFuzzer target for a bounded time, then sort what it found: mixhic's or a library's.

The test Fuzz.<target> (tests/fuzz/CMakeLists.txt) runs this. libFuzzer runs in fork mode and goes
on after a finding (-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1), so one finding
inside an uninstrumented library (libhdf5 decoding a corrupt object header, LibTorch's zip
reader) does not end the run before mixhic's parsers have had their time. Every input it saved
(crash-*, timeout-*, oom-*, leak-*, in the artifact directory, emptied first) is then run once
more, alone, under the same sanitizers with whole allocation stacks (an out-of-memory input with
the fuzzer's frame-pointer stacks and a longer timeout), and its report is read:

  - the culprit is the first stack frame that is not libFuzzer, a sanitizer runtime, the C or C++
    runtime or the allocator: the code that crashed, looped, asked for the memory or leaked it;
  - a culprit inside a library mixhic links but does not build (libhdf5, LibTorch, libBigWig) is
    that library's finding: listed, with the mixhic call that reached it, but not failing the test
    (mixhic cannot bound what such a library decodes before it decodes it; lsan.supp lists the
    library-internal leaks seen so far);
  - an input that does not reproduce alone is run again after every input of the corpus
    directory, in one process (a library's state across files, such as HDF5's caches, can be what
    it needs), and sorted by that report;
  - an input reproduced neither way (HDF5's free lists hand a corrupt read a block whose size
    depends on the thousands of inputs the fork child ran before it) is sorted by the reports the
    fuzzing children wrote themselves: the sanitizers write them to files (log_path) while
    fuzzing, one per crashing child, since libFuzzer's fork mode keeps only their error lines.
    It is a library's when there are reports of its kind and every one of them is a library's;
  - any other culprit, an unexplained input, or a libFuzzer failure with no saved input (a bad
    option, a crash of the fuzzer itself) fails the test.

--leaks-on-replay (the HDF5 targets): LeakSanitizer unwinds an allocation's stack by frame
pointers, which stop at the first frame of an uninstrumented library built without them (libhdf5),
so lsan.supp cannot name HDF5's own leaks while fuzzing and a leak in HDF5 looks like one in a
2-frame stack. These targets fuzz without leak detection; then every input of the corpus directory
(the first one: what this and earlier runs kept) is run once with leak detection and whole stacks
(-runs=0), and a leak it finds is saved and sorted like the rest.

The fuzzer's last statistics line (executions, coverage, corpus size) is printed at the end.

  fuzz_and_triage.py [--leaks-on-replay] FUZZER ARTIFACT_DIR SECONDS [libFuzzer options and corpus directories ...]
"""
import os
import re
import subprocess
import sys

# Frames that are never the culprit: the fuzzer, the sanitizers, the runtime, the allocator.
RUNTIME = re.compile(r"fuzzer::|__sanitizer|__asan|__lsan|__ubsan|__interceptor_|__libc_start|"
                     r" in _start |libc\.so|/sysdeps/|libstdc\+\+|libgcc_s|ld-linux|"
                     r" in (malloc|calloc|realloc|free|posix_memalign|aligned_alloc|operator new|operator delete)|"
                     # ASan's interceptors of the C string and memory calls, which live in the fuzzer
                     r" in (memmove|memcpy|memset|memcmp|memchr|strlen|strnlen|strcmp|strncmp|strchr|strstr) ")
# Libraries mixhic links but does not build: a culprit there is theirs.
LIBRARIES = {"libhdf5": "HDF5", "libtorch": "LibTorch", "libc10": "LibTorch", "libBigWig": "libBigWig"}
# HDF5 calls that hand the memory they allocate to the caller (variable-length data, names): a leak
# allocated inside one of them is the caller's to free, so mixhic's.
CALLER_OWNED = re.compile(r" in (H5Aread|H5Dread|H5Tget_member_name|H5Tget_tag|H5Pget_class_name|H5Eget_major|H5Eget_minor) ")
FRAME = re.compile(r"^\s*#(\d+) 0x[0-9a-f]+\s+(.*)$")
REPORT = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error:")


def culprit(frames):
    for f in frames:
        if not RUNTIME.search(" " + f + " "):
            return f
    return frames[-1] if frames else ""


def library_of(frame):
    for key, name in LIBRARIES.items():
        if key in frame:
            return name
    return None


def first_mixhic_frame(frames):
    for f in frames:
        if not RUNTIME.search(" " + f + " ") and library_of(f) is None:
            return f
    return ""


def short(frame):
    """`mixhic::h5::attr_string(...) src/io/h5.cpp:420` from a symbolised frame."""
    m = re.match(r"in (.+?) (/\S+?):(\d+)(:\d+)?$", frame)
    if m:
        name = re.sub(r"\(.*", "", m.group(1))
        return f"{name} {os.path.relpath(m.group(2))}:{m.group(3)}"
    m = re.match(r"in (\S+) \((\S+?)\+0x[0-9a-f]+\)", frame)
    if m:
        return f"{m.group(1)} ({os.path.basename(m.group(2))})"
    m = re.match(r"\((\S+?)\+0x[0-9a-f]+\)", frame)
    return f"?? ({os.path.basename(m.group(1))})" if m else frame[:120]


def stacks(report):
    """The stacks of a report: one per leak, else the first one after the error line."""
    out, cur, started = [], None, False
    for line in report.splitlines():
        if REPORT.search(line) or line.startswith(("Direct leak", "Indirect leak")):
            started = True
            if cur:
                out.append(cur)
            cur = []
            continue
        m = FRAME.match(line)
        if started and m and cur is not None:
            cur.append(m.group(2))
        elif cur:
            out.append(cur)
            cur = None
    if cur:
        out.append(cur)
    return [s for s in out if s]


# What a fork child's own report says it found, by the libFuzzer frame that printed a header-less
# stack (its own errors print their header to the child's stderr, which fork mode discards).
CHILD_KIND = [("fuzzer::Fuzzer::HandleMalloc", "oom"), ("fuzzer::Fuzzer::RssLimitCallback", "oom"),
              ("AlarmCallback", "timeout"), ("CrashCallback", "crash"), ("DeathCallback", "crash")]


def child_reports(directory):
    """[(kind, frames, error line)] of the sanitizer report files the fuzzing children wrote."""
    out = []
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), errors="replace") as f:
            text = f.read()
        error = next((l.strip() for l in text.splitlines() if REPORT.search(l)), "")
        if error:
            kind = "leak" if "LeakSanitizer" in error else "crash"
            found = stacks(text)
        else:
            frames = [m.group(2) for m in map(FRAME.match, text.splitlines()) if m]
            kind = next((k for key, k in CHILD_KIND if any(key in f for f in frames)), None)
            found = [frames] if frames else []
        if kind and found:
            out.append((kind, found[0], error))
    return out


def verdict_of(kind, frames):
    """(mixhic's?, one line) for one stack."""
    c = culprit(frames)
    lib = library_of(c)
    caller = first_mixhic_frame(frames)
    if lib and kind == "leak" and any(CALLER_OWNED.search(" " + f + " ") for f in frames):
        return True, f"leak of memory {lib} handed to mixhic: {short(caller)}  <-- FAILS"
    if lib:
        reached = short(caller) if caller else f"a stack that ends inside {lib}"
        return False, f"{kind} in {lib} ({short(c)}), reached from {reached}: {lib}'s, not failing"
    return True, f"{kind} in mixhic: {short(c)}  <-- FAILS"


def replay(fuzzer, limits, inputs, env):
    """Runs `inputs` one after the other in one process; (exit code, report) or None past 300 s."""
    try:
        r = subprocess.run([fuzzer, *limits, *inputs], env=env, capture_output=True, text=True,
                           errors="replace", timeout=300)
    except subprocess.TimeoutExpired:
        return None
    return r.returncode, r.stdout + r.stderr


def triage(fuzzer, artifact, limits, env, corpus, children):
    kind = os.path.basename(artifact).split("-")[0]
    if kind == "oom":
        # Tens of millions of small allocations can add up to the limit: with whole stacks on each
        # (slow unwinding) they would hit -timeout first (one such input still ran after 190 s so).
        # The fuzzer's own frame-pointer stacks and a timeout past the allocating are enough for
        # who asked for the memory.
        env = dict(env, ASAN_OPTIONS=env.get("ASAN_OPTIONS", "") + ":fast_unwind_on_malloc=1")
        limits = [a for a in limits if not a.startswith("-timeout=")] + ["-timeout=240"]
    run = replay(fuzzer, limits, [artifact], env)
    if run is None:
        return False, f"still running after 300 s alone (beyond libFuzzer's -timeout)"
    code, report = run
    where = "alone"
    if code == 0 and corpus:
        # A fork child ran thousands of inputs before this one, and a library may keep state
        # across files (HDF5's caches and free lists): replay the kept corpus first, in one process.
        kept = sorted(os.path.join(corpus, n) for n in os.listdir(corpus))
        run = replay(fuzzer, limits, [*kept, artifact], env)
        if run is not None and run[0] != 0 and f"Running: {artifact}" in run[1]:
            code, report = run[0], run[1][run[1].index(f"Running: {artifact}"):]
            where = f"after the {len(kept)} corpus inputs"
    found = stacks(report) if code != 0 else []
    if code != 0 and not found:
        return False, f"{kind}: exit {code} {where} and no stack in the report:\n{report[-2000:]}"
    if not found:
        same = [verdict_of(kind, frames) for k, frames, _ in children if k == kind]
        unexplained = f"{kind} during fuzzing, reproduced neither alone nor after the corpus"
        if not same:
            return False, f"{unexplained}, and no fuzzing child wrote a {kind} report"
        listed = "; ".join(sorted(set(v for _, v in same)))
        if any(ours for ours, _ in same):
            return False, f"{unexplained}; the fuzzing children's {kind} reports: {listed}"
        return True, f"{unexplained}; all {len(same)} {kind} report(s) of the fuzzing children: {listed}"
    verdicts = []
    ours = False
    for frames in found:
        mine, v = verdict_of(kind, frames)
        ours = ours or mine
        verdicts.append(v)
    summary = next((l for l in report.splitlines() if "SUMMARY:" in l), "")
    note = "" if where == "alone" else f" (reproduced {where})"
    return not ours, "; ".join(sorted(set(verdicts))) + note + (f"\n      {summary.strip()}" if summary else "")


def replay_for_leaks(fuzzer, limits, artifacts, corpus, env):
    """Runs every input of `corpus` once with leak detection (-runs=0 on a copy of it). libFuzzer
    stops at the first finding, so the input it saved (named by the SHA-1 of its bytes, as the
    corpus files are) leaves the copy and the rest run again, until one run goes through."""
    import hashlib
    import shutil
    import tempfile
    with tempfile.TemporaryDirectory(prefix="leak-replay-") as copy:
        for name in os.listdir(corpus):
            shutil.copy(os.path.join(corpus, name), copy)
        total, runs = len(os.listdir(copy)), 0
        while True:
            before = set(os.listdir(artifacts))
            cmd = [fuzzer, *limits, "-runs=0", "-detect_leaks=1", f"-artifact_prefix={artifacts.rstrip('/')}/", copy]
            r = subprocess.run(cmd, env=env, capture_output=True, text=True, errors="replace")
            runs += 1
            new = sorted(set(os.listdir(artifacts)) - before)
            if r.returncode == 0 or not new or runs >= 50:
                break
            removed = 0
            for name in new:
                with open(os.path.join(artifacts, name), "rb") as f:
                    path = os.path.join(copy, hashlib.sha1(f.read()).hexdigest())
                if os.path.exists(path):
                    os.remove(path)
                    removed += 1
            if not removed:
                break
        print(f"leak replay of {total} corpus inputs: {runs} run(s), last exit {r.returncode}")
        if r.returncode != 0 and not new:
            return f"the leak replay exited {r.returncode} and saved no input:\n{(r.stdout + r.stderr)[-2000:]}"
        return None


def empty_directory(path):
    """Makes `path`, or removes the files an earlier run left in it."""
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        os.remove(os.path.join(path, name))


def main():
    args = sys.argv[1:]
    leaks_on_replay = bool(args) and args[0] == "--leaks-on-replay"
    if leaks_on_replay:
        args = args[1:]
    if len(args) < 3:
        sys.exit(__doc__)
    fuzzer, artifacts, seconds, rest = args[0], args[1], args[2], args[3:]
    empty_directory(artifacts)
    limits = [a for a in rest if re.match(r"-(timeout|rss_limit_mb|malloc_limit_mb)=", a)]
    prefix = f"-artifact_prefix={artifacts.rstrip('/')}/"
    cmd = [fuzzer, "-fork=1", "-ignore_crashes=1", "-ignore_timeouts=1", "-ignore_ooms=1",
           f"-max_total_time={seconds}", prefix, *(["-detect_leaks=0"] if leaks_on_replay else []), *rest]
    print("+", " ".join(cmd), flush=True)
    env = dict(os.environ)
    if leaks_on_replay:
        # Not at a fork child's exit either: LeakSanitizer's exit-time check would report what
        # HDF5 leaked over thousands of inputs, with no input to blame (libFuzzer then saves the
        # empty input as crash-da39a3ee...).
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    # The children's own reports, to files: fork mode keeps only their error lines.
    reports = artifacts.rstrip("/") + ".reports"
    empty_directory(reports)
    fuzz_env = dict(env)
    for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        fuzz_env[var] = env.get(var, "") + f":log_path={reports}/report"
    stats = ""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", env=fuzz_env)
    for line in p.stdout:
        if re.match(r"#\d+: cov:", line):
            stats = line.strip()
        if "NEW_FUNC" not in line:
            sys.stdout.write(line)
    code = p.wait()
    children = child_reports(reports)
    for kind, frames, error in children:
        print(f"fuzzing child's report: {error or kind}: {short(culprit(frames))}")
    found = sorted(os.listdir(artifacts))
    print(f"\n{os.path.basename(fuzzer)}: {seconds} s, exit {code}, final statistics: {stats or 'none printed'}")
    if code != 0 and not found:
        print(f"FAIL: libFuzzer exited {code} and saved no input")
        return 1
    # From here on, each allocation's whole stack: the frames above an uninstrumented library's.
    env["ASAN_OPTIONS"] = "fast_unwind_on_malloc=0:" + os.environ.get("ASAN_OPTIONS", "")
    corpus = next((a for a in rest if not a.startswith("-")), None)
    if leaks_on_replay:
        replay_error = replay_for_leaks(fuzzer, limits, artifacts, corpus, env)
        found = sorted(os.listdir(artifacts))
        if replay_error:
            print(f"FAIL: {replay_error}")
            return 1
    failed = 0
    for name in found:
        ok, verdict = triage(fuzzer, os.path.join(artifacts, name), limits, env, corpus, children)
        failed += not ok
        print(f"  {name}: {verdict}")
    print(f"{len(found)} input(s) saved, {failed} mixhic's or unexplained")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
