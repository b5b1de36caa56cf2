#include "mixhic/cooler_file.hpp"

#include <algorithm>
#include <cmath>

#include "mixhic/check.hpp"

namespace mixhic {

namespace {
std::string join_ints(const std::vector<std::string>& v) {
  std::string s;
  for (auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}
}  // namespace

CoolerFile::CoolerFile(const std::string& uri, int64_t resolution) {
  auto sep = uri.find("::");
  path_ = uri.substr(0, sep);
  std::string group = sep == std::string::npos ? "" : uri.substr(sep + 2);
  file_ = h5::open_read(path_);

  if (group.empty() && h5::exists(file_, "resolutions")) {
    h5::Handle res = h5::open_group(file_, "resolutions");
    std::vector<std::string> names;
    H5Literate(res, H5_INDEX_NAME, H5_ITER_NATIVE, nullptr,
               [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
                 static_cast<std::vector<std::string>*>(out)->push_back(name);
                 return 0;
               },
               &names);
    std::sort(names.begin(), names.end(),
              [](const std::string& a, const std::string& b) { return std::stoll(a) < std::stoll(b); });
    if (resolution == 0) {
      if (names.size() != 1)
        throw InputFormatError(path_, "resolution", fmt::format("--resolution to pick one of {}", join_ints(names)));
      group = "resolutions/" + names[0];
    } else {
      group = "resolutions/" + std::to_string(resolution);
      if (std::find(names.begin(), names.end(), std::to_string(resolution)) == names.end())
        throw InputFormatError(path_, group, fmt::format("a resolution in the .mcool (available: {})", join_ints(names)),
                               "missing");
    }
  }
  group_ = group.empty() ? "/" : group;
  root_ = h5::open_group(file_, group_);

  for (const char* ds : {"chroms/name", "chroms/length", "bins/chrom", "bins/start", "bins/end",
                         "pixels/bin1_id", "pixels/bin2_id", "pixels/count", "indexes/chrom_offset",
                         "indexes/bin1_offset"}) {
    if (!h5::exists(root_, ds))
      throw InputFormatError(path_, group_ + (group_ == "/" ? "" : "/") + ds, "a cooler dataset", "missing");
  }
  format_version_ = h5::has_attr(root_, "format-version") ? static_cast<int>(h5::attr_int(root_, "format-version")) : 2;
  if (format_version_ < 1 || format_version_ > 3)
    throw InputFormatError(path_, "format-version", "cooler format-version 1, 2 or 3",
                           std::to_string(format_version_));
  if (h5::has_attr(root_, "storage-mode")) {
    std::string mode = h5::attr_string(root_, "storage-mode");
    if (mode != "symmetric-upper")
      throw InputFormatError(path_, "storage-mode", "symmetric-upper", mode);
  }
  if (h5::has_attr(root_, "bin-type") && h5::attr_string(root_, "bin-type") != "fixed")
    throw InputFormatError(path_, "bin-type", "fixed", h5::attr_string(root_, "bin-type"));

  auto names = h5::read_strings(root_, "chroms/name");
  auto lengths = h5::read_1d<int64_t>(root_, "chroms/length");
  auto chrom_offset = h5::read_1d<int64_t>(root_, "indexes/chrom_offset");
  bin1_offset_ = h5::read_1d<int64_t>(root_, "indexes/bin1_offset");
  if (names.size() != lengths.size() || chrom_offset.size() != names.size() + 1)
    throw InputFormatError(path_, "chroms / indexes/chrom_offset", "consistent lengths");
  for (size_t i = 0; i < names.size(); ++i)
    chroms_.push_back({names[i], lengths[i], chrom_offset[i], chrom_offset[i + 1]});

  if (h5::has_attr(root_, "bin-size")) {
    bin_size_ = h5::attr_int(root_, "bin-size");
  } else {
    auto ends = h5::read_1d<int64_t>(root_, "bins/end", 0, 1);
    bin_size_ = ends.at(0);
  }
  if (resolution != 0 && bin_size_ != resolution)
    throw InputFormatError(path_, "bin-size", fmt::format("{} bp (--resolution)", resolution),
                           fmt::format("{} bp", bin_size_));
  int64_t nnz = h5::shape(h5::open_dataset(root_, "pixels/count"))[0];
  if (bin1_offset_.empty() || bin1_offset_.back() != nnz)
    throw InputFormatError(path_, "indexes/bin1_offset", fmt::format("to end at nnz = {}", nnz),
                           bin1_offset_.empty() ? "empty" : std::to_string(bin1_offset_.back()));
  bin1_ds_ = h5::open_dataset(root_, "pixels/bin1_id");
  bin2_ds_ = h5::open_dataset(root_, "pixels/bin2_id");
  count_ds_ = h5::open_dataset(root_, "pixels/count");
}

int ContactMatrix::chrom_index(const std::string& name) const {
  const auto& cs = chroms();
  for (size_t i = 0; i < cs.size(); ++i)
    if (cs[i].name == name) return static_cast<int>(i);
  return -1;
}

bool CoolerFile::has_bin_column(const std::string& name) const {
  return h5::exists(root_, "bins/" + name);
}

std::vector<std::string> CoolerFile::bin_columns() const {
  h5::Handle bins = h5::open_group(root_, "bins");
  std::vector<std::string> names;
  H5Literate(bins, H5_INDEX_NAME, H5_ITER_NATIVE, nullptr,
             [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
               std::string n = name;
               if (n != "chrom" && n != "start" && n != "end")
                 static_cast<std::vector<std::string>*>(out)->push_back(n);
               return 0;
             },
             &names);
  return names;
}

bool ContactMatrix::is_juicer_column(const std::string& c) {
  return c == "KR" || c == "VC" || c == "VC_SQRT" || c == "SCALE";
}

std::vector<double> CoolerFile::balancing_weights(const std::string& column) const {
  if (!has_bin_column(column)) {
    std::string have = join_ints(bin_columns());
    throw InputFormatError(path_, "bins/" + column,
                           fmt::format("a balancing column (this file has: {})", have.empty() ? "none" : have),
                           "missing");
  }
  auto w = h5::read_1d<double>(root_, "bins/" + column);
  if (static_cast<int64_t>(w.size()) != n_bins())
    throw InputFormatError(path_, "bins/" + column, fmt::format("{} values", n_bins()), std::to_string(w.size()));
  if (is_juicer_column(column)) {
    for (auto& v : w) v = (std::isfinite(v) && v != 0) ? 1.0 / v : std::nan("");
  }
  return w;
}

PixelBlock CoolerFile::read_pixels(int64_t first, int64_t last) const {
  PixelBlock px;
  int64_t n = last - first;
  if (n <= 0) return px;
  px.bin1.resize(n);
  px.bin2.resize(n);
  px.count.resize(n);
  h5::read_rows(bin1_ds_, first, n, px.bin1.data());
  h5::read_rows(bin2_ds_, first, n, px.bin2.data());
  h5::read_rows(count_ds_, first, n, px.count.data());
  return px;
}

PixelBlock CoolerFile::read_rows_impl(int64_t row_begin, int64_t row_end, int64_t bin2_end) const {
  PixelBlock px = read_pixels(bin1_offset_[row_begin], bin1_offset_[row_end]);
  if (bin2_end != std::numeric_limits<int64_t>::max()) px.keep_if([&](size_t k) { return px.bin2[k] < bin2_end; });
  return px;
}

// Shared by every ContactMatrix: it needs only read_rows.
std::vector<double> ContactMatrix::fetch(int64_t r0, int64_t nr, int64_t c0, int64_t nc,
                                         const std::vector<double>* weights) const {
  std::vector<double> m(nr * nc, 0.0);
  auto add = [&](int64_t i, int64_t j, double v) {
    if (i >= r0 && i < r0 + nr && j >= c0 && j < c0 + nc) m[(i - r0) * nc + (j - c0)] = v;
  };
  // Upper-triangle storage: pixel (a, b) with a <= b lands at (a, b) and, mirrored, at (b, a).
  int64_t lo = std::min(r0, c0), hi = std::max(r0 + nr, c0 + nc);
  PixelBlock px = read_rows(lo, hi, hi);
  for (size_t k = 0; k < px.size(); ++k) {
    add(px.bin1[k], px.bin2[k], px.count[k]);
    if (px.bin1[k] != px.bin2[k]) add(px.bin2[k], px.bin1[k], px.count[k]);
  }
  if (weights) {
    for (int64_t i = 0; i < nr; ++i)
      for (int64_t j = 0; j < nc; ++j) m[i * nc + j] *= (*weights)[r0 + i] * (*weights)[c0 + j];
  }
  return m;
}

}  // namespace mixhic
