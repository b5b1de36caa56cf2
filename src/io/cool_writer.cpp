#include "mixhic/cool_writer.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>

#include "mixhic/check.hpp"
#include "mixhic/h5.hpp"
#include "mixhic/output_files.hpp"

namespace mixhic {

CoolWriter::CoolWriter(std::vector<CoolChrom> chroms, int64_t bin_size)
    : chroms_(std::move(chroms)), bin_size_(bin_size) {
  if (bin_size_ <= 0) throw ConfigError(fmt::format("cool writer: bin-size: expected > 0 (got {})", bin_size_));
  if (chroms_.empty()) throw ConfigError("cool writer: chromosomes: expected at least one (got none)");
  chrom_offset_.push_back(0);
  for (size_t k = 0; k < chroms_.size(); ++k) {
    const CoolChrom& c = chroms_[k];
    if (c.name.empty() || c.length <= 0 || c.length > std::numeric_limits<int32_t>::max())
      throw ConfigError(fmt::format(
          "cool writer: chromosome {} '{}': expected a name and a length in (0, 2^31) bp (got {})", k,
          c.name, c.length));
    for (size_t q = 0; q < k; ++q)
      if (chroms_[q].name == c.name)
        throw ConfigError(fmt::format("cool writer: chromosome '{}': expected unique names (listed twice)", c.name));
    chrom_offset_.push_back(chrom_offset_.back() + (c.length + bin_size_ - 1) / bin_size_);
  }
}

int64_t CoolWriter::first_bin(const std::string& chrom) const {
  std::string known;
  for (size_t k = 0; k < chroms_.size(); ++k) {
    if (chroms_[k].name == chrom) return chrom_offset_[k];
    known += (known.empty() ? "" : ", ") + chroms_[k].name;
  }
  throw ConfigError(fmt::format("cool writer: chromosome '{}': expected one of {}", chrom, known));
}

void CoolWriter::add(int64_t bin1, int64_t bin2, double value) {
  MIXHIC_REQUIRE(bin1 >= 0 && bin1 < n_bins() && bin2 >= 0 && bin2 < n_bins(),
                 "cool writer: pixel ({}, {}) outside the {} bins of the genome", bin1, bin2, n_bins());
  if (std::isnan(value)) return;
  if (bin1 > bin2) std::swap(bin1, bin2);
  pixels_.push_back({bin1, bin2, value, 1});
  // Merge when the unsorted tail outgrows the merged table: memory stays within about twice the
  // distinct pixels, and each prediction is sorted O(log) times.
  const size_t pending = pixels_.size() - merged_;
  if (pending >= std::max<size_t>(merged_, size_t{1} << 20)) compact();
}

void CoolWriter::check_window(int64_t first_bin, int64_t width) const {
  MIXHIC_REQUIRE(width > 0, "cool writer: window width {} must be > 0", width);
  auto chrom = std::upper_bound(chrom_offset_.begin(), chrom_offset_.end(), first_bin) - chrom_offset_.begin() - 1;
  MIXHIC_REQUIRE(first_bin >= 0 && first_bin < n_bins() && first_bin + width <= chrom_offset_[chrom + 1],
                 "cool writer: window of {} bins at genome-wide bin {} must lie inside one chromosome "
                 "(chromosome bins [{}, {}))",
                 width, first_bin, first_bin >= 0 && first_bin < n_bins() ? chrom_offset_[chrom] : 0,
                 first_bin >= 0 && first_bin < n_bins() ? chrom_offset_[chrom + 1] : n_bins());
}

void CoolWriter::compact() const {
  auto by_pixel = [](const Pixel& a, const Pixel& b) {
    return a.bin1 != b.bin1 ? a.bin1 < b.bin1 : a.bin2 < b.bin2;
  };
  auto mid = pixels_.begin() + static_cast<std::ptrdiff_t>(merged_);
  std::stable_sort(mid, pixels_.end(), by_pixel);
  std::inplace_merge(pixels_.begin(), mid, pixels_.end(), by_pixel);  // stable: older first
  size_t out = 0;
  for (size_t k = 0; k < pixels_.size(); ++k) {
    if (out > 0 && pixels_[out - 1].bin1 == pixels_[k].bin1 && pixels_[out - 1].bin2 == pixels_[k].bin2) {
      pixels_[out - 1].sum += pixels_[k].sum;
      pixels_[out - 1].n += pixels_[k].n;
    } else {
      pixels_[out++] = pixels_[k];
    }
  }
  pixels_.resize(out);
  merged_ = out;
}

int64_t CoolWriter::n_pixels() const {
  compact();
  return static_cast<int64_t>(pixels_.size());
}

namespace {

// 1-D column, chunked and gzip'd (shuffle + deflate 6) as cooler writes it; contiguous when empty
// because HDF5 refuses a zero-sized chunk.
template <typename T>
void write_column(hid_t loc, const std::string& path, const std::vector<T>& values, hid_t type = -1) {
  const hsize_t n = values.size();
  const hid_t mem_type = type >= 0 ? type : h5::native<T>();
  h5::Handle d = h5::create_dataset(loc, path, mem_type, {n},
                                    n ? std::vector<hsize_t>{std::min<hsize_t>(n, hsize_t{1} << 18)}
                                      : std::vector<hsize_t>{},
                                    n ? 6 : 0);
  if (n) MIXHIC_H5_CHECK(H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()));
}

}  // namespace

template <typename Count>
void write_cooler_group(hid_t group, const std::vector<CoolChrom>& chroms, int64_t bin_size,
                        const std::vector<int64_t>& bin1, const std::vector<int64_t>& bin2,
                        const std::vector<Count>& count, const CoolAttributes& attrs) {
  std::vector<std::string> names;
  std::vector<int32_t> lengths, bin_chrom, bin_start, bin_end;
  std::vector<int64_t> chrom_offset{0};
  for (size_t c = 0; c < chroms.size(); ++c) {
    names.push_back(chroms[c].name);
    lengths.push_back(static_cast<int32_t>(chroms[c].length));
    const int64_t n = (chroms[c].length + bin_size - 1) / bin_size;
    for (int64_t b = 0; b < n; ++b) {
      bin_chrom.push_back(static_cast<int32_t>(c));
      bin_start.push_back(static_cast<int32_t>(b * bin_size));
      bin_end.push_back(static_cast<int32_t>(std::min((b + 1) * bin_size, chroms[c].length)));
    }
    chrom_offset.push_back(chrom_offset.back() + n);
  }
  const int64_t n_bins = chrom_offset.back();
  std::vector<int64_t> bin1_offset(static_cast<size_t>(n_bins) + 1, 0);
  for (int64_t b : bin1) ++bin1_offset[static_cast<size_t>(b) + 1];
  for (size_t b = 1; b < bin1_offset.size(); ++b) bin1_offset[b] += bin1_offset[b - 1];

  h5::set_attr(group, "format", "HDF5::Cooler");
  h5::set_attr(group, "format-version", int64_t{3});
  h5::set_attr(group, "bin-type", "fixed");
  h5::set_attr(group, "bin-size", bin_size);
  h5::set_attr(group, "storage-mode", "symmetric-upper");
  h5::set_attr(group, "nbins", n_bins);
  h5::set_attr(group, "nchroms", static_cast<int64_t>(chroms.size()));
  h5::set_attr(group, "nnz", static_cast<int64_t>(count.size()));
  h5::set_attr(group, "generated-by", attrs.generated_by);
  h5::set_attr(group, "creation-date", attrs.creation_date.empty() ? iso_utc_now() : attrs.creation_date);
  h5::set_attr(group, "metadata", attrs.metadata);
  if (!attrs.genome_assembly.empty()) h5::set_attr(group, "genome-assembly", attrs.genome_assembly);

  h5::write_strings(group, "chroms/name", names);
  write_column(group, "chroms/length", lengths);
  // cooler reads bins/chrom as a categorical when it is an enum over the chromosome names.
  h5::Handle chrom_enum(MIXHIC_H5_CHECK(H5Tenum_create(H5T_NATIVE_INT32)));
  for (size_t c = 0; c < names.size(); ++c) {
    const int32_t v = static_cast<int32_t>(c);
    MIXHIC_H5_CHECK(H5Tenum_insert(chrom_enum, names[c].c_str(), &v));
  }
  write_column(group, "bins/chrom", bin_chrom, chrom_enum);
  write_column(group, "bins/start", bin_start);
  write_column(group, "bins/end", bin_end);
  write_column(group, "pixels/bin1_id", bin1);
  write_column(group, "pixels/bin2_id", bin2);
  write_column(group, "pixels/count", count);
  write_column(group, "indexes/chrom_offset", chrom_offset);
  write_column(group, "indexes/bin1_offset", bin1_offset);
}

template void write_cooler_group<int32_t>(hid_t, const std::vector<CoolChrom>&, int64_t, const std::vector<int64_t>&,
                                          const std::vector<int64_t>&, const std::vector<int32_t>&,
                                          const CoolAttributes&);
template void write_cooler_group<double>(hid_t, const std::vector<CoolChrom>&, int64_t, const std::vector<int64_t>&,
                                         const std::vector<int64_t>&, const std::vector<double>&,
                                         const CoolAttributes&);

void CoolWriter::write(const std::string& path, const CoolAttributes& attrs) const {
  compact();
  std::vector<int64_t> bin1, bin2;
  std::vector<double> count;
  for (const Pixel& p : pixels_) {
    const double mean = p.sum / static_cast<double>(p.n);
    if (mean == 0) continue;
    bin1.push_back(p.bin1);
    bin2.push_back(p.bin2);
    count.push_back(mean);
  }
  const std::string tmp = path + ".tmp";
  try {
    h5::Handle file = h5::create(tmp);
    write_cooler_group(file, chroms_, bin_size_, bin1, bin2, count, attrs);
    MIXHIC_H5_CHECK(H5Fflush(file, H5F_SCOPE_GLOBAL));
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw Error(fmt::format("{}: cannot rename from {}: {}", path, tmp, why));
  }
}

}  // namespace mixhic
