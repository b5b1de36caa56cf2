// Juicer .hic reader. Field order and widths are those read by Aiden Lab straw (C++/straw.cpp:
// readHeader, readFooter, readMatrixZoomData, readBlock, readNormalizationVector,
// getBlockNumbersForRegionFromBinPosition[V9Intra]) and Juicebox DatasetReaderV2.java; all
// integers and floats are little-endian.
#include "mixhic/hic_file.hpp"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>

#include "mixhic/check.hpp"
#include "mixhic/cooler_file.hpp"

namespace mixhic {

namespace {

// Bounds on what a header may claim (a hostile or corrupt file could claim anything): a
// chromosome of at most 2^34 bp (17 Gb; the largest known are ~5 Gb) and at most 2^28 bins in all
// (2 GB for one normalisation vector as doubles; 3 Gb at 12 bp bins).
constexpr int64_t kMaxChromLength = int64_t(1) << 34;
constexpr int64_t kMaxBins = int64_t(1) << 28;

// Decoded blocks kept per reader (12 bytes each): ~48 MB.
constexpr size_t kCacheRecords = size_t(1) << 22;

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Sequential little-endian reads from the file; running past the end names the section being read.
class FileReader {
 public:
  FileReader(std::ifstream& in, const std::string& path, int64_t size) : in_(in), path_(path), size_(size) {}
  void section(std::string s) { section_ = std::move(s); }
  void seek(int64_t pos) {
    if (pos < 0 || pos > size_) truncated(pos);
    in_.clear();
    in_.seekg(pos);
    pos_ = pos;
  }
  // Skips `n` bytes forward (a count read from the file: negative or past the end is refused).
  void skip(int64_t n) {
    if (n < 0) throw InputFormatError(path_, section_, "a non-negative length", std::to_string(n));
    if (n > size_ - pos_) truncated(n > INT64_MAX - pos_ ? INT64_MAX : pos_ + n);
    seek(pos_ + n);
  }
  // A count of items of `item_bytes` each, read from the file: at least 0 and no more than the
  // bytes left could hold, so nothing is allocated or looped over beyond what the file has.
  int64_t count(int64_t n, int64_t item_bytes, const char* what) {
    if (n < 0 || n > (size_ - pos_) / item_bytes)
      throw InputFormatError(path_, section_, fmt::format("a {} count the remaining {} bytes can hold", what,
                                                          size_ - pos_),
                             fmt::format("{}: truncated or not a .hic file", n));
    return n;
  }
  int64_t size() const { return size_; }
  int64_t position() const { return pos_; }
  bool at_end() const { return pos_ >= size_; }
  void bytes(void* out, int64_t n) {
    if (n < 0 || n > size_ - pos_) truncated(n < 0 || n > INT64_MAX - pos_ ? INT64_MAX : pos_ + n);
    in_.read(static_cast<char*>(out), n);
    if (!in_) truncated(pos_ + n);
    pos_ += n;
  }
  template <typename T>
  T get() {
    T v;
    bytes(&v, sizeof v);
    return v;
  }
  std::string str() {
    std::string s;
    char c;
    while (true) {
      bytes(&c, 1);
      if (c == '\0') return s;
      s += c;
    }
  }

 private:
  [[noreturn]] void truncated(int64_t need) const {
    throw InputFormatError(path_, section_,
                           fmt::format("data up to byte {}", need),
                           fmt::format("a file of {} bytes: truncated or not a .hic file", size_));
  }
  std::ifstream& in_;
  const std::string& path_;
  int64_t size_, pos_ = 0;
  std::string section_ = "header";
};

// Bounded little-endian reads from an inflated block.
class BlockReader {
 public:
  BlockReader(const std::vector<unsigned char>& buf, const std::string& path, const std::string& what)
      : buf_(buf), path_(path), what_(what) {}
  template <typename T>
  T get() {
    if (pos_ + sizeof(T) > buf_.size())
      throw InputFormatError(path_, what_, fmt::format("more than its {} inflated bytes", buf_.size()),
                             "a record past the end (corrupt block)");
    T v;
    std::memcpy(&v, buf_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  // A bin offset or count stored as int16 or int32 depending on the block's flags.
  int32_t index(bool short_width) { return short_width ? get<int16_t>() : get<int32_t>(); }

 private:
  const std::vector<unsigned char>& buf_;
  const std::string& path_;
  const std::string& what_;
  size_t pos_ = 0;
};

std::vector<unsigned char> inflate_all(const std::vector<unsigned char>& in, const std::string& path,
                                       const std::string& what) {
  std::vector<unsigned char> out(std::max<size_t>(in.size() * 4, 1024));
  z_stream zs{};
  zs.next_in = const_cast<unsigned char*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  if (inflateInit(&zs) != Z_OK) throw LibraryError(fmt::format("{}: inflateInit failed", path));
  // zlib's deflate expands at most 1032:1: more output than that is a corrupt (or hostile) stream.
  const size_t most = in.size() * 1032 + 1024;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (zs.total_out == out.size()) {
      if (out.size() >= most) {
        inflateEnd(&zs);
        throw InputFormatError(path, what, fmt::format("at most {} inflated bytes from {} compressed", most, in.size()),
                               "more (a corrupt block)");
      }
      out.resize(std::min(out.size() * 2, most));
    }
    zs.next_out = out.data() + zs.total_out;
    zs.avail_out = static_cast<uInt>(out.size() - zs.total_out);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      std::string msg = zs.msg ? zs.msg : zError(rc);
      inflateEnd(&zs);
      throw InputFormatError(path, what, "a zlib-compressed block", msg);
    }
  }
  out.resize(zs.total_out);
  inflateEnd(&zs);
  return out;
}

}  // namespace

HicFile::HicFile(const std::string& path, int64_t resolution) : path_(path) {
  in_.open(path, std::ios::binary);
  if (!in_) throw InputFormatError(path, "file", "a readable Juicer .hic file", "cannot open it");
  in_.seekg(0, std::ios::end);
  file_size_ = static_cast<int64_t>(in_.tellg());
  read_header(resolution);
  read_footer();
  matrices_.resize(chroms_.size());
}

void HicFile::read_header(int64_t resolution) {
  FileReader r(in_, path_, file_size_);
  r.section("magic");
  r.seek(0);
  char magic[4] = {0, 0, 0, 0};
  if (file_size_ >= 4) r.bytes(magic, 4);
  if (std::memcmp(magic, "HIC\0", 4) != 0) {
    std::string got;
    for (char c : magic)
      got += std::isprint(static_cast<unsigned char>(c)) ? std::string(1, c) : fmt::format("\\x{:02x}", uint8_t(c));
    throw InputFormatError(path_, "magic", "\"HIC\\0\" (a Juicer .hic file)", "\"" + got + "\"");
  }
  r.section("version");
  version_ = r.get<int32_t>();
  if (version_ != 8 && version_ != 9)
    throw InputFormatError(path_, "version", "8 or 9 (the .hic versions this build reads)",
                           fmt::format("{}: re-create it with a current juicer_tools pre, or convert it with hic2cool",
                                       version_));
  r.section("header");
  master_position_ = r.get<int64_t>();
  genome_id_ = r.str();
  if (version_ > 8) {  // v9: position and length of the normalisation vector index; the footer reaches it too
    r.get<int64_t>();
    r.get<int64_t>();
  }
  r.section("header: attributes");
  int32_t n_attributes = int32_t(r.count(r.get<int32_t>(), 2, "attribute"));
  for (int32_t i = 0; i < n_attributes; ++i) {
    r.str();
    r.str();
  }
  r.section("header: chromosomes");
  int32_t n_chroms = int32_t(r.count(r.get<int32_t>(), 5, "chromosome"));
  std::vector<std::pair<std::string, int64_t>> file_chroms;
  for (int32_t i = 0; i < n_chroms; ++i) {
    std::string name = r.str();
    int64_t length = version_ > 8 ? r.get<int64_t>() : r.get<int32_t>();
    file_chroms.emplace_back(name, length);
  }
  r.section("header: resolutions");
  int32_t n_bp = int32_t(r.count(r.get<int32_t>(), 4, "resolution"));
  for (int32_t i = 0; i < n_bp; ++i) resolutions_.push_back(r.get<int32_t>());
  // Fragment resolutions and restriction sites follow; the prep reads base-pair bins only.

  std::vector<std::string> have;
  for (int64_t res : resolutions_) have.push_back(std::to_string(res));
  if (resolution == 0) {
    if (resolutions_.size() != 1)
      throw InputFormatError(path_, "resolution", fmt::format("--resolution to pick one of {} bp", join(have)));
    bin_size_ = resolutions_[0];
  } else {
    if (std::find(resolutions_.begin(), resolutions_.end(), resolution) == resolutions_.end())
      throw InputFormatError(path_, "resolution",
                             fmt::format("a BP resolution of the file (available: {})", join(have)),
                             std::to_string(resolution));
    bin_size_ = resolution;
  }
  if (bin_size_ <= 0) throw InputFormatError(path_, "resolution", "> 0", std::to_string(bin_size_));

  // Juicer puts a whole-genome "All" pseudo-chromosome at index 0; cooler has no such thing.
  for (int32_t i = 0; i < n_chroms; ++i) {
    const auto& [name, length] = file_chroms[i];
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    if (i == 0 && lower == "all") continue;
    if (length < 0 || length > kMaxChromLength)
      throw InputFormatError(path_, "length of " + name, fmt::format("0 to {} bp", kMaxChromLength),
                             std::to_string(length));
    CoolerChrom c{name, length, n_bins_, n_bins_ + (length + bin_size_ - 1) / bin_size_};
    n_bins_ = c.bin_end;
    if (n_bins_ > kMaxBins)
      throw InputFormatError(path_, "header: chromosomes",
                             fmt::format("at most {} bins of {} bp in all", kMaxBins, bin_size_),
                             fmt::format("{} by {}", n_bins_, name));
    chroms_.push_back(c);
    file_index_.push_back(i);
  }
}

void HicFile::read_footer() {
  FileReader r(in_, path_, file_size_);
  r.section(fmt::format("footer at byte {} (from the header)", master_position_));
  r.seek(master_position_);
  if (version_ > 8)
    r.get<int64_t>();  // nBytes
  else
    r.get<int32_t>();
  r.section("footer: master index");
  int32_t n_entries = int32_t(r.count(r.get<int32_t>(), 13, "master index entry"));
  for (int32_t i = 0; i < n_entries; ++i) {
    std::string key = r.str();
    FileSpan span;
    span.position = r.get<int64_t>();
    span.size = r.get<int32_t>();
    check_span(span, "master index entry " + key);
    master_index_[key] = span;
  }
  const int64_t value_width = version_ > 8 ? 4 : 8;  // v9 stores expected values and factors as float
  auto skip_expected = [&](bool normalised) {
    int32_t n = int32_t(r.count(r.get<int32_t>(), 14, "expected-value vector"));
    for (int32_t i = 0; i < n; ++i) {
      if (normalised) r.str();  // type
      r.str();                  // unit
      r.get<int32_t>();         // bin size
      int64_t n_values = version_ > 8 ? r.get<int64_t>() : r.get<int32_t>();
      r.skip(r.count(n_values, value_width, "expected value") * value_width);
      int32_t n_factors = r.get<int32_t>();
      r.skip(r.count(n_factors, 4 + value_width, "normalisation factor") * (4 + value_width));
    }
  };
  r.section("footer: expected values");
  skip_expected(false);
  if (r.at_end()) return;  // a file never normalised (juicer_tools pre -n) ends here
  r.section("footer: normalised expected values");
  skip_expected(true);
  r.section("footer: normalisation vector index");
  int32_t n_vectors = int32_t(r.count(r.get<int32_t>(), 24, "normalisation vector"));
  for (int32_t i = 0; i < n_vectors; ++i) {
    std::string type = r.str();
    int32_t chrom = r.get<int32_t>();
    std::string unit = r.str();
    int32_t bin = r.get<int32_t>();
    FileSpan span;
    span.position = r.get<int64_t>();
    span.size = version_ > 8 ? r.get<int64_t>() : r.get<int32_t>();
    check_span(span, fmt::format("{} vector of chromosome {}", type, chrom));
    if (unit != "BP" || bin != bin_size_) continue;
    if (!norm_index_.count(type)) norm_types_.push_back(type);
    norm_index_[type][chrom] = span;
  }
}

void HicFile::check_span(const FileSpan& span, const std::string& what) const {
  if (span.position < 0 || span.size < 0 || span.position > file_size_ || span.size > file_size_ - span.position)
    throw InputFormatError(path_, what, fmt::format("a section inside the file's {} bytes", file_size_),
                           fmt::format("{} bytes at byte {}", span.size, span.position));
}

bool HicFile::has_bin_column(const std::string& norm) const { return norm_index_.count(norm) > 0; }

std::vector<std::string> HicFile::bin_columns() const { return norm_types_; }

std::vector<double> HicFile::norm_vector(const std::string& norm) const {
  auto it = norm_index_.find(norm);
  if (it == norm_index_.end()) {
    std::string have = join(norm_types_);
    throw InputFormatError(path_, "normalisation " + norm,
                           fmt::format("a vector stored at {} bp (this file has: {})", bin_size_,
                                       have.empty() ? "none" : have),
                           "missing");
  }
  std::vector<double> v(n_bins_, std::nan(""));
  FileReader r(in_, path_, file_size_);
  for (size_t c = 0; c < chroms_.size(); ++c) {
    auto span = it->second.find(file_index_[c]);
    if (span == it->second.end()) continue;  // Juicer leaves out chromosomes it could not normalise
    r.section(fmt::format("{} vector of {}", norm, chroms_[c].name));
    r.seek(span->second.position);
    const int64_t value_bytes = version_ > 8 ? 4 : 8;
    int64_t n = r.count(version_ > 8 ? r.get<int64_t>() : r.get<int32_t>(), value_bytes, "vector value");
    int64_t want = chroms_[c].bin_end - chroms_[c].bin_begin;
    if (n < want)
      throw InputFormatError(path_, fmt::format("{} vector of {}", norm, chroms_[c].name),
                             fmt::format(">= {} values (one per {} bp bin)", want, bin_size_), std::to_string(n));
    // Juicer stores length / bin + 1 values; the one past the last bin is dropped, as hic2cool does.
    for (int64_t i = 0; i < want; ++i)
      v[chroms_[c].bin_begin + i] = version_ > 8 ? double(r.get<float>()) : r.get<double>();
  }
  return v;
}

std::vector<double> HicFile::balancing_weights(const std::string& norm) const {
  if (norm == "NONE") return std::vector<double>(n_bins_, 1.0);
  return weights_from_vector(norm_vector(norm), /*divisive=*/true,
                             [&](const std::string& chrom) { return fmt::format("{} vector of {}", norm, chrom); });
}

std::string HicFile::balance_rule(const std::string& norm) const {
  if (norm == "NONE") return "NONE: no balancing";
  return fmt::format("{}: divisive, 1/v used (every .hic normalisation vector is divisive)", norm);
}

HicFile::ChromMatrix& HicFile::matrix(size_t chrom) const {
  ChromMatrix& m = matrices_[chrom];
  if (m.loaded) return m;
  m.loaded = true;
  std::string key = fmt::format("{}_{}", file_index_[chrom], file_index_[chrom]);
  auto it = master_index_.find(key);
  if (it == master_index_.end()) return m;  // no contacts on this chromosome
  FileReader r(in_, path_, file_size_);
  r.section("matrix " + key + " (" + chroms_[chrom].name + ")");
  r.seek(it->second.position);
  r.get<int32_t>();
  r.get<int32_t>();
  int32_t n_zooms = int32_t(r.count(r.get<int32_t>(), 40, "zoom level"));
  std::vector<std::string> have;
  for (int32_t z = 0; z < n_zooms; ++z) {
    std::string unit = r.str();
    r.get<int32_t>();  // old zoom index
    for (int k = 0; k < 4; ++k) r.get<float>();  // sum, occupied cells, std dev, 95th percentile
    int32_t bin = r.get<int32_t>();
    int32_t block_bin_count = r.get<int32_t>();
    int32_t block_column_count = r.get<int32_t>();
    int32_t n_blocks = int32_t(r.count(r.get<int32_t>(), 16, "block"));
    if (unit != "BP" || bin != bin_size_) {
      have.push_back(unit + " " + std::to_string(bin));
      r.skip(int64_t(n_blocks) * 16);
      continue;
    }
    if (block_bin_count <= 0 || block_column_count <= 0)
      throw InputFormatError(path_, "matrix " + key, "positive block bin and column counts",
                             fmt::format("{} and {}", block_bin_count, block_column_count));
    m.present = true;
    m.block_bin_count = block_bin_count;
    m.block_column_count = block_column_count;
    for (int32_t b = 0; b < n_blocks; ++b) {
      int32_t number = r.get<int32_t>();
      FileSpan span;
      span.position = r.get<int64_t>();
      span.size = r.get<int32_t>();
      check_span(span, fmt::format("block {} of matrix {}", number, key));
      m.blocks[number] = span;
    }
    return m;
  }
  throw InputFormatError(path_, "matrix " + key + " (" + chroms_[chrom].name + ")",
                         fmt::format("a BP {} zoom level", bin_size_), "only " + join(have));
}

std::vector<int32_t> HicFile::blocks_overlapping(const ChromMatrix& m, int64_t lo, int64_t hi, int64_t col_end) const {
  // Pixels (i, j) with lo <= i < hi and i <= j < col_end, in either orientation.
  const int64_t bbc = m.block_bin_count, bcc = m.block_column_count;
  std::vector<int32_t> numbers;
  auto add = [&](int64_t n) {
    if (n >= 0 && n <= INT32_MAX && m.blocks.count(int32_t(n))) numbers.push_back(int32_t(n));
  };
  if (version_ > 8) {
    // v9 numbers intra-chromosomal blocks by depth (log2 distance from the diagonal, in blocks
    // of sqrt(2) * bbc) and position along the diagonal: depth * bcc + (i + j) / 2 / bbc.
    int64_t pad_lo = lo / bbc, pad_hi = ((hi - 1) + (col_end - 1)) / 2 / bbc;
    double far = double(col_end - 1 - lo);
    int64_t depth_hi = int64_t(std::log2(1 + far / std::sqrt(2.0) / double(bbc))) + 1;  // +1: rounding
    const int64_t candidates = (depth_hi + 1) * (pad_hi - pad_lo + 1);
    if (candidates <= 4 * int64_t(m.blocks.size()) + 1024) {
      for (int64_t depth = 0; depth <= depth_hi; ++depth)
        for (int64_t pad = pad_lo; pad <= pad_hi; ++pad) add(depth * bcc + pad);
    } else {  // a range wider than the blocks stored (tiny blocks a file claims): test each block
      for (const auto& entry : m.blocks)
        for (int64_t depth = 0; depth <= depth_hi; ++depth) {
          const int64_t pad = int64_t(entry.first) - depth * bcc;
          if (pad >= pad_lo && pad <= pad_hi) add(entry.first);
        }
    }
  } else {
    // v8: row (binY) block * bcc + column (binX) block; Juicer writes x <= y, both are tried.
    int64_t i0 = lo / bbc, i1 = (hi - 1) / bbc, j0 = lo / bbc, j1 = (col_end - 1) / bbc;
    if ((i1 - i0 + 1) * (j1 - j0 + 1) <= 4 * int64_t(m.blocks.size()) + 1024) {
      for (int64_t a = i0; a <= i1; ++a)
        for (int64_t b = j0; b <= j1; ++b) {
          add(b * bcc + a);
          if (a != b) add(a * bcc + b);
        }
    } else {  // a range wider than the blocks stored: test each block's (row, column) block
      auto in = [](int64_t v, int64_t from, int64_t to) { return v >= from && v <= to; };
      for (const auto& entry : m.blocks) {
        const int64_t q = entry.first / bcc, r = entry.first % bcc;
        if ((in(q, j0, j1) && in(r, i0, i1)) || (q != r && in(q, i0, i1) && in(r, j0, j1))) add(entry.first);
      }
    }
  }
  std::sort(numbers.begin(), numbers.end());
  numbers.erase(std::unique(numbers.begin(), numbers.end()), numbers.end());
  return numbers;
}

std::vector<HicFile::Record> HicFile::decode_block(size_t chrom, int32_t number, const FileSpan& span) const {
  std::string what = fmt::format("block {} of {} at {} bp", number, chroms_[chrom].name, bin_size_);
  std::vector<unsigned char> packed(span.size);
  FileReader r(in_, path_, file_size_);
  r.section(what);
  r.seek(span.position);
  r.bytes(packed.data(), span.size);
  std::vector<unsigned char> buf = inflate_all(packed, path_, what);
  BlockReader b(buf, path_, what);

  std::vector<Record> out;
  int32_t n_records = b.get<int32_t>();
  out.reserve(std::max(0, std::min(n_records, int32_t(buf.size() / 2))));
  int32_t x_offset = b.get<int32_t>(), y_offset = b.get<int32_t>();
  bool short_counts = b.get<uint8_t>() == 0;  // 0 means int16 counts, as straw reads it
  bool short_x = true, short_y = true;
  if (version_ > 8) {  // v9 lets a block use int32 bin offsets
    short_x = b.get<uint8_t>() == 0;
    short_y = b.get<uint8_t>() == 0;
  }
  uint8_t type = b.get<uint8_t>();
  // A record's bin: an offset plus an index, both from the file, added without int32 overflow
  // (bins outside the chromosome are dropped by read_rows_impl's range test).
  auto bin_of = [&](int64_t v) {
    if (v < INT32_MIN || v > INT32_MAX)
      throw InputFormatError(path_, what, "record bins within int32", std::to_string(v));
    return int32_t(v);
  };
  auto count = [&]() { return short_counts ? float(b.get<int16_t>()) : b.get<float>(); };
  if (type == 1) {  // list of rows: y, then its (x, count) pairs
    int32_t rows = b.index(short_y);
    for (int32_t i = 0; i < rows; ++i) {
      const int32_t y = bin_of(int64_t(y_offset) + b.index(short_y));
      int32_t cols = b.index(short_x);
      for (int32_t j = 0; j < cols; ++j) {
        const int32_t x = bin_of(int64_t(x_offset) + b.index(short_x));
        out.push_back({x, y, count()});
      }
    }
  } else if (type == 2) {  // dense w-wide rectangle; int16 -32768 or float NaN marks an empty cell
    int32_t n_points = b.get<int32_t>();
    int32_t w = b.get<int16_t>();
    if (w <= 0 && n_points > 0) throw InputFormatError(path_, what, "a dense block width > 0", std::to_string(w));
    for (int32_t i = 0; i < n_points; ++i) {
      const int32_t x = bin_of(int64_t(x_offset) + i % w), y = bin_of(int64_t(y_offset) + i / w);
      if (short_counts) {
        int16_t c = b.get<int16_t>();
        if (c != INT16_MIN) out.push_back({x, y, float(c)});
      } else {
        float c = b.get<float>();
        if (!std::isnan(c)) out.push_back({x, y, c});
      }
    }
  } else {
    throw InputFormatError(path_, what, "block type 1 (rows) or 2 (dense)", std::to_string(type));
  }
  return out;
}

const std::vector<HicFile::Record>& HicFile::block(size_t chrom, const ChromMatrix& m, int32_t number) const {
  if (cache_chrom_ != chrom) {
    cache_.clear();
    cache_records_ = 0;
    cache_chrom_ = chrom;
  }
  const uint64_t now = ++cache_clock_;
  auto it = cache_.find(number);
  if (it != cache_.end()) {
    it->second.last_use = now;
    return it->second.records;
  }
  std::vector<Record> records = decode_block(chrom, number, m.blocks.at(number));
  // Evict the least recently used blocks; read_rows_impl holds no reference across block() calls.
  while (cache_records_ + records.size() > kCacheRecords && !cache_.empty()) {
    auto oldest = cache_.begin();
    for (auto jt = cache_.begin(); jt != cache_.end(); ++jt)
      if (jt->second.last_use < oldest->second.last_use) oldest = jt;
    cache_records_ -= oldest->second.records.size();
    cache_.erase(oldest);
  }
  cache_records_ += records.size();
  CachedBlock& slot = cache_[number];
  slot.records = std::move(records);
  slot.last_use = now;
  return slot.records;
}

PixelBlock HicFile::read_rows_impl(int64_t row_begin, int64_t row_end, int64_t bin2_end) const {
  PixelBlock out;
  row_begin = std::max<int64_t>(row_begin, 0);
  row_end = std::min(row_end, n_bins_);
  if (row_begin >= row_end) return out;
  struct Local {
    int64_t a, b;
    double count;
  };
  std::vector<Local> pixels;
  for (size_t c = 0; c < chroms_.size(); ++c) {
    const CoolerChrom& ch = chroms_[c];
    if (ch.bin_end <= row_begin || ch.bin_begin >= row_end) continue;
    const int64_t lo = std::max(row_begin, ch.bin_begin) - ch.bin_begin;
    const int64_t hi = std::min(row_end, ch.bin_end) - ch.bin_begin;
    const int64_t col_end = std::min(bin2_end, ch.bin_end) - ch.bin_begin;
    if (col_end <= lo) continue;
    const ChromMatrix& m = matrix(c);
    if (!m.present) continue;
    pixels.clear();
    for (int32_t number : blocks_overlapping(m, lo, hi, col_end)) {
      for (const Record& rec : block(c, m, number)) {
        int64_t a = std::min(rec.x, rec.y), b = std::max(rec.x, rec.y);
        if (a >= lo && a < hi && b < col_end) pixels.push_back({a, b, double(rec.count)});
      }
    }
    std::sort(pixels.begin(), pixels.end(), [](const Local& p, const Local& q) {
      return p.a != q.a ? p.a < q.a : p.b < q.b;
    });
    for (const Local& p : pixels) {
      out.bin1.push_back(ch.bin_begin + p.a);
      out.bin2.push_back(ch.bin_begin + p.b);
      out.count.push_back(p.count);
    }
  }
  return out;
}

std::unique_ptr<ContactMatrix> open_contact_matrix(const std::string& uri, int64_t resolution) {
  std::string lower = uri;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  if (ends_with(lower, ".hic")) return std::make_unique<HicFile>(uri, resolution);
  return std::make_unique<CoolerFile>(uri, resolution);
}

}  // namespace mixhic
