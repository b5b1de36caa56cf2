#include "mixhic/bigwig_track.hpp"

extern "C" {
#include <bigWig.h>
}

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

#include <unistd.h>

#include "mixhic/check.hpp"

namespace mixhic {

namespace {
constexpr uint32_t kBigWigMagic = 0x888FFC26;

void init_libbigwig() {
  static std::once_flag once;
  std::call_once(once, [] { bwInit(1 << 17); });
}

// libBigWig reports problems with its own fprintf(stderr, ...) lines ("[bwHdrRead] There was an
// error while reading in the header!") before returning NULL; mixhic's error must be the one
// line a user sees. While a libBigWig call runs, stderr goes to a scratch file; what it wrote is
// appended to mixhic's error, and dropped when the call succeeds. Only the prep's main thread
// reads bigWigs, so redirecting the process's fd 2 for the call is safe.
class LibBigWigStderr {
 public:
  LibBigWigStderr() {
    static int scratch = [] {
      FILE* f = std::tmpfile();
      return f ? ::dup(fileno(f)) : -1;
    }();
    scratch_ = scratch;
    if (scratch_ < 0) return;
    std::fflush(stderr);
    saved_ = ::dup(2);
    if (saved_ < 0) return;
    if (::ftruncate(scratch_, 0) != 0 || ::lseek(scratch_, 0, SEEK_SET) < 0 || ::dup2(scratch_, 2) < 0) {
      ::close(saved_);
      saved_ = -1;
    }
  }
  ~LibBigWigStderr() { restore(); }
  // Restores stderr; returns what libBigWig printed meanwhile, on one line.
  std::string restore() {
    if (saved_ < 0) return text_;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
    off_t n = ::lseek(scratch_, 0, SEEK_CUR);
    if (n > 0) {
      std::string buf(size_t(std::min<off_t>(n, 4096)), '\0');
      ssize_t got = ::pread(scratch_, buf.data(), buf.size(), 0);
      buf.resize(got > 0 ? size_t(got) : 0);
      for (char& c : buf)
        if (c == '\n' || c == '\r') c = ' ';
      while (!buf.empty() && buf.back() == ' ') buf.pop_back();
      text_ = buf;
    }
    return text_;
  }
  // " (libBigWig: ...)" for an error message, or "" when it printed nothing.
  std::string note() {
    std::string t = restore();
    return t.empty() ? "" : " (libBigWig: " + t + ")";
  }

 private:
  int scratch_ = -1, saved_ = -1;
  std::string text_;
};
}  // namespace

BigWigTrack::BigWigTrack(const std::string& path) : path_(path) {
  // Check the magic ourselves: libBigWig prints its own multi-line complaint on bad files.
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw InputFormatError(path, "file", "an existing bigWig file", std::strerror(errno));
  uint32_t magic = 0;
  size_t got = std::fread(&magic, 1, 4, f);
  std::fclose(f);
  if (got != 4 || magic != kBigWigMagic)
    throw InputFormatError(path, "bigWig header", "a bigWig file (magic 0x888FFC26)",
                           got == 4 ? fmt::format("0x{:08X}", magic) : "a file shorter than 4 bytes");
  init_libbigwig();
  LibBigWigStderr quiet;
  bigWigFile_t* bw = bwOpen(const_cast<char*>(path.c_str()), nullptr, "r");
  if (!bw)
    throw InputFormatError(path, "bigWig header", "a readable bigWig file (truncated or corrupt?)" + quiet.note());
  quiet.restore();
  bw_ = bw;
  for (int64_t i = 0; i < bw->cl->nKeys; ++i) chroms_.emplace_back(bw->cl->chrom[i], bw->cl->len[i]);
}

BigWigTrack::~BigWigTrack() {
  if (bw_) bwClose(static_cast<bigWigFile_t*>(bw_));
}

BigWigTrack::BigWigTrack(BigWigTrack&& o) noexcept
    : path_(std::move(o.path_)), bw_(o.bw_), chroms_(std::move(o.chroms_)) {
  o.bw_ = nullptr;
}

int64_t BigWigTrack::chrom_length(const std::string& chrom) const {
  for (auto& [name, len] : chroms_)
    if (name == chrom) return len;
  return -1;
}

void BigWigTrack::bin_means(const std::string& chrom, int64_t start, int64_t bin_bp, int64_t n_bins,
                            float* out) const {
  std::vector<double> sum(n_bins, 0.0);
  int64_t end = start + bin_bp * n_bins;
  int64_t chrom_len = chrom_length(chrom);
  if (chrom_len < 0) throw InputFormatError(path_, "chromosome " + chrom, "present in the bigWig", "missing");
  int64_t query_end = std::min(end, chrom_len);
  // Query in pieces: a 10-bp-resolution track holds 100k intervals per Mb.
  const int64_t piece = 4'000'000;
  for (int64_t qs = start; qs < query_end; qs += piece) {
    int64_t qe = std::min(query_end, qs + piece);
    LibBigWigStderr quiet;
    bwOverlappingIntervals_t* iv =
        bwGetOverlappingIntervals(static_cast<bigWigFile_t*>(bw_), const_cast<char*>(chrom.c_str()), static_cast<uint32_t>(qs),
                                  static_cast<uint32_t>(qe));
    if (!iv)
      throw InputFormatError(path_, fmt::format("data of {}:{}-{}", chrom, qs, qe), "readable bigWig blocks" + quiet.note());
    quiet.restore();
    for (uint32_t k = 0; k < iv->l; ++k) {
      int64_t a = std::max<int64_t>(iv->start[k], qs), b = std::min<int64_t>(iv->end[k], qe);
      double v = iv->value[k];
      if (a >= b || std::isnan(v)) continue;
      // Spread [a, b) over the bins it touches.
      int64_t bin = (a - start) / bin_bp;
      while (a < b) {
        int64_t bin_end = start + (bin + 1) * bin_bp;
        int64_t stop = std::min(b, bin_end);
        sum[bin] += v * static_cast<double>(stop - a);
        a = stop;
        ++bin;
      }
    }
    bwDestroyOverlappingIntervals(iv);
  }
  for (int64_t i = 0; i < n_bins; ++i) out[i] = static_cast<float>(sum[i] / static_cast<double>(bin_bp));
}

}  // namespace mixhic
