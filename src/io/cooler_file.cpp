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

std::vector<std::string> member_names(hid_t group) {
  std::vector<std::string> names;
  H5Literate(group, H5_INDEX_NAME, H5_ITER_NATIVE, nullptr,
             [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
               static_cast<std::vector<std::string>*>(out)->push_back(name);
               return 0;
             },
             &names);
  return names;
}
}  // namespace

// The multi-resolution layout before cooler 0.8 (HiGlass zoom levels /0 = coarsest, /1, ...): the
// group whose bin-size is `resolution`, as cooler picks it. "" if the file has no such groups.
std::string CoolerFile::legacy_group(int64_t resolution) const {
  std::vector<std::pair<int64_t, std::string>> levels;  // (bin size, group)
  for (const std::string& name : member_names(file_)) {
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    h5::Handle g = h5::open_group(file_, name);
    if (!h5::exists(g, "chroms/name")) continue;
    int64_t bin = h5::has_attr(g, "bin-size") ? h5::attr_int(g, "bin-size") : h5::read_1d<int64_t>(g, "bins/end", 0, 1).at(0);
    levels.emplace_back(bin, name);
  }
  if (levels.empty()) return "";
  std::sort(levels.begin(), levels.end());
  std::vector<std::string> have;
  for (auto& [bin, name] : levels) have.push_back(std::to_string(bin));
  if (resolution == 0) {
    if (levels.size() != 1)
      throw InputFormatError(path_, "resolution",
                             fmt::format("--resolution to pick one of {} (an .mcool of the old layout, groups /0, /1, ...)",
                                         join_ints(have)));
    return levels[0].second;
  }
  for (auto& [bin, name] : levels)
    if (bin == resolution) return name;
  throw InputFormatError(path_, fmt::format("resolution {}", resolution),
                         fmt::format("a resolution of this .mcool (old layout, groups /0, /1, ...; available: {})",
                                     join_ints(have)),
                         "missing");
}

CoolerFile::CoolerFile(const std::string& uri, int64_t resolution) {
  auto sep = uri.find("::");
  path_ = uri.substr(0, sep);
  std::string group = sep == std::string::npos ? "" : uri.substr(sep + 2);
  file_ = h5::open_read(path_);

  if (group.empty() && !h5::exists(file_, "resolutions") && !h5::exists(file_, "chroms")) group = legacy_group(resolution);
  if (group.empty() && h5::exists(file_, "cells") && !h5::exists(file_, "pixels")) {
    std::vector<std::string> cells = member_names(h5::open_group(file_, "cells"));
    std::string shown;
    for (size_t i = 0; i < cells.size() && i < 5; ++i) shown += (shown.empty() ? "" : ", ") + cells[i];
    if (cells.size() > 5) shown += fmt::format(", ... ({} cells)", cells.size());
    throw InputFormatError(path_, "cells", fmt::format("one cell of this single-cell .scool named as {}::cells/NAME "
                                                       "(cells: {})", path_, shown.empty() ? "none" : shown),
                           "the whole file");
  }
  if (group.empty() && h5::exists(file_, "resolutions")) {
    std::vector<std::string> names = member_names(h5::open_group(file_, "resolutions"));
    for (const std::string& name : names)  // the sort below reads each name as a number
      if (name.empty() || name.size() > 18 || name.find_first_not_of("0123456789") != std::string::npos)
        throw InputFormatError(path_, "resolutions/" + name, "a group named by its bin size in bp (digits only)",
                               "'" + name + "'");
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
  const int64_t version = h5::has_attr(root_, "format-version") ? h5::attr_int(root_, "format-version") : 2;
  if (version < 1 || version > 3)
    throw InputFormatError(path_, "format-version", "cooler format-version 1, 2 or 3", std::to_string(version));
  format_version_ = static_cast<int>(version);
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
  if (bin1_offset_.empty()) throw InputFormatError(path_, "indexes/bin1_offset", "n_bins + 1 pixel offsets", "empty");
  // Bin ids index the prep's per-bin arrays: each chromosome's bins follow the previous one's,
  // from bin 0 to the n_bins rows bin1_offset indexes.
  const int64_t bins = n_bins();
  for (size_t i = 0; i < chrom_offset.size(); ++i) {
    const bool ok = (i == 0 ? chrom_offset[0] == 0 : chrom_offset[i] >= chrom_offset[i - 1]) && chrom_offset[i] <= bins &&
                    (i + 1 < chrom_offset.size() || chrom_offset[i] == bins);
    if (!ok)
      throw InputFormatError(path_, "indexes/chrom_offset",
                             fmt::format("bin offsets from 0, non-decreasing, ending at n_bins = {} (indexes/bin1_offset)", bins),
                             fmt::format("{} at chromosome {}", chrom_offset[i], i));
  }
  for (size_t i = 0; i < names.size(); ++i) {
    if (lengths[i] < 0)
      throw InputFormatError(path_, "chroms/length", "lengths >= 0 bp", fmt::format("{} for {}", lengths[i], names[i]));
    chroms_.push_back({names[i], lengths[i], chrom_offset[i], chrom_offset[i + 1]});
  }

  if (h5::has_attr(root_, "bin-size")) {
    bin_size_ = h5::attr_int(root_, "bin-size");
  } else {
    auto ends = h5::read_1d<int64_t>(root_, "bins/end", 0, 1);
    bin_size_ = ends.at(0);
  }
  if (bin_size_ <= 0)
    throw InputFormatError(path_, h5::has_attr(root_, "bin-size") ? "bin-size" : "bins/end", "a bin size > 0 bp",
                           fmt::format("{} bp", bin_size_));
  if (resolution != 0 && bin_size_ != resolution)
    throw InputFormatError(path_, "bin-size", fmt::format("{} bp (--resolution)", resolution),
                           fmt::format("{} bp", bin_size_));
  // The pixel table: three 1-D columns of nnz values, each backed by its stored bytes (read_pixels
  // allocates from bin1_offset, which must then stay within them).
  count_ds_ = h5::open_dataset(root_, "pixels/count");
  bin1_ds_ = h5::open_dataset(root_, "pixels/bin1_id");
  bin2_ds_ = h5::open_dataset(root_, "pixels/bin2_id");
  int64_t nnz = -1;
  for (const auto& [name, ds] : {std::pair<const char*, hid_t>{"pixels/count", count_ds_.get()},
                                 {"pixels/bin1_id", bin1_ds_.get()}, {"pixels/bin2_id", bin2_ds_.get()}}) {
    const auto dims = h5::shape(ds);
    if (dims.size() != 1)
      throw InputFormatError(path_, name, "a 1-D pixel column", fmt::format("{} dimensions", dims.size()));
    h5::require_stored(ds, sizeof(int64_t));  // held as int64 ids and double counts
    if (nnz < 0) nnz = static_cast<int64_t>(dims[0]);  // < 2^63: require_stored bounds it by the file's size
    else if (static_cast<int64_t>(dims[0]) != nnz)
      throw InputFormatError(path_, name, fmt::format("{} pixels like pixels/count", nnz), std::to_string(dims[0]));
  }
  if (bin1_offset_.back() != nnz)
    throw InputFormatError(path_, "indexes/bin1_offset", fmt::format("to end at nnz = {}", nnz),
                           std::to_string(bin1_offset_.back()));
  for (int64_t b = 0; b <= bins; ++b)
    if (b == 0 ? bin1_offset_[0] != 0 : bin1_offset_[b] < bin1_offset_[b - 1])
      throw InputFormatError(path_, "indexes/bin1_offset",
                             fmt::format("pixel offsets from 0, non-decreasing, to nnz = {}", nnz),
                             fmt::format("{} at bin {}", bin1_offset_[b], b));
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
  std::vector<std::string> names;
  for (std::string& n : member_names(h5::open_group(root_, "bins")))
    if (n != "chrom" && n != "start" && n != "end") names.push_back(std::move(n));
  return names;
}

bool ContactMatrix::is_juicer_column(const std::string& c) {
  return c == "KR" || c == "VC" || c == "VC_SQRT" || c == "SCALE";
}

std::pair<bool, std::string> CoolerFile::divisive(const std::string& column) const {
  if (!has_bin_column(column)) {
    std::string have = join_ints(bin_columns());
    throw InputFormatError(path_, "bins/" + column,
                           fmt::format("a balancing column (this file has: {})", have.empty() ? "none" : have),
                           "missing");
  }
  h5::Handle ds = h5::open_dataset(root_, "bins/" + column);
  if (h5::has_attr(ds, "divisive_weights")) {
    const bool d = h5::attr_bool(ds, "divisive_weights");
    return {d, fmt::format("bins/{} attribute divisive_weights = {}", column, d ? "True" : "False")};
  }
  const bool d = is_juicer_column(column);
  return {d, d ? "no divisive_weights attribute; divisive by its name (Juicer's vectors)"
               : "no divisive_weights attribute; multiplicative by its name (cooler's convention)"};
}

std::string CoolerFile::balance_rule(const std::string& column) const {
  auto [d, why] = divisive(column);
  return fmt::format("{}: {} ({})", column, d ? "divisive, 1/v used" : "multiplicative", why);
}

std::vector<double> CoolerFile::balancing_weights(const std::string& column) const {
  const bool is_divisive = divisive(column).first;
  auto w = h5::read_1d<double>(root_, "bins/" + column);
  if (static_cast<int64_t>(w.size()) != n_bins())
    throw InputFormatError(path_, "bins/" + column, fmt::format("{} values", n_bins()), std::to_string(w.size()));
  return weights_from_vector(std::move(w), is_divisive,
                             [&](const std::string& chrom) { return fmt::format("bins/{} on {}", column, chrom); });
}

std::vector<double> ContactMatrix::weights_from_vector(std::vector<double> v, bool divisive,
                                                       const std::function<std::string(const std::string&)>& field) const {
  for (const CoolerChrom& c : chroms())
    for (int64_t i = c.bin_begin; i < c.bin_end && i < int64_t(v.size()); ++i)
      if (v[i] < 0)  // never in a balancing vector (NaN marks a masked bin): a corrupt file
        throw InputFormatError(path(), field(c.name), "values >= 0 (NaN for a masked bin)",
                               fmt::format("{} at bin {} ({}:{}-{})", v[i], i - c.bin_begin, c.name,
                                           (i - c.bin_begin) * bin_size(),
                                           std::min(c.length, (i - c.bin_begin + 1) * bin_size())));
  if (divisive)
    for (auto& x : v) x = (std::isfinite(x) && x != 0) ? 1.0 / x : std::nan("");
  return v;
}

PixelBlock CoolerFile::read_pixels(int64_t first, int64_t last) const {
  PixelBlock px;
  MIXHIC_REQUIRE(first >= 0 && last <= nnz(), "{}: read_pixels({}, {}) outside the {} pixels", path_, first, last, nnz());
  int64_t n = last - first;
  if (n <= 0) return px;
  px.bin1.resize(n);
  px.bin2.resize(n);
  px.count.resize(n);
  h5::read_rows(bin1_ds_, first, n, h5::kColumn, px.bin1.data());
  h5::read_rows(bin2_ds_, first, n, h5::kColumn, px.bin2.data());
  h5::read_rows(count_ds_, first, n, h5::kColumn, px.count.data());
  // Callers index per-bin arrays with these ids (ICE's marginals, the normaliser's weights): each
  // pixel's bin1 must be the row bin1_offset files it under, and bin2 in [bin1, n_bins), ascending
  // within the row (symmetric-upper, sorted by (bin1, bin2)).
  int64_t row = std::upper_bound(bin1_offset_.begin(), bin1_offset_.end(), first) - bin1_offset_.begin() - 1;
  for (int64_t k = 0; k < n; ++k) {
    while (bin1_offset_[row + 1] <= first + k) ++row;
    const int64_t a = px.bin1[k], b = px.bin2[k];
    if (a != row)
      throw InputFormatError(path_, "pixels/bin1_id",
                             fmt::format("{} at pixel {}, the row indexes/bin1_offset files it under", row, first + k),
                             std::to_string(a));
    if (b < a || b >= n_bins() || (k > 0 && a == px.bin1[k - 1] && b < px.bin2[k - 1]))
      throw InputFormatError(path_, "pixels/bin2_id",
                             fmt::format("a bin in [{}, {}) at pixel {} (row {}), ascending within the row", a, n_bins(),
                                         first + k, a),
                             std::to_string(b));
  }
  return px;
}

PixelBlock CoolerFile::read_rows_impl(int64_t row_begin, int64_t row_end, int64_t bin2_end) const {
  row_begin = std::max<int64_t>(row_begin, 0);
  row_end = std::min(row_end, n_bins());
  if (row_begin >= row_end) return {};
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
