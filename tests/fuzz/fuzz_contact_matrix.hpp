// fuzz_contact_matrix.hpp — the walk over an opened ContactMatrix that fuzz_hic and fuzz_cooler
// share: every balancing vector the file lists, then pixels read as the prep reads them, each
// result checked against what contact_matrix.hpp promises. The prep indexes arrays with these
// bin ids unchecked (ice_balance.cpp: acc[px.bin1[k]]; contact_normalizer.hpp: weights[bin]),
// so a reader that passes a file's bin ids through is a memory-safety defect one call later.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "fuzz_parsers.hpp"
#include "mixhic/contact_matrix.hpp"

namespace mixhic::fuzz {

// contact_matrix.hpp: genome-wide bin ids are the chromosomes concatenated in file order.
inline void check_chroms(const ContactMatrix& m) {
  int64_t next = 0;
  for (const CoolerChrom& c : m.chroms()) {
    MIXHIC_FUZZ_REQUIRE(c.bin_begin == next && c.bin_end >= c.bin_begin && c.length >= 0,
                        "{}: chromosome {} has bins [{}, {}) and length {}; expected bins from {} on "
                        "(chromosomes concatenated in file order) and a length >= 0",
                        m.path(), c.name, c.bin_begin, c.bin_end, c.length, next);
    next = c.bin_end;
  }
  MIXHIC_FUZZ_REQUIRE(next == m.n_bins(), "{}: chromosomes end at bin {}, n_bins() = {}", m.path(), next, m.n_bins());
  MIXHIC_FUZZ_REQUIRE(m.bin_size() > 0, "{}: bin_size() = {}", m.path(), m.bin_size());
}

// One value per bin, none negative (a negative stored value is an InputFormatError).
inline void check_weights(const ContactMatrix& m, const std::string& column, const std::vector<double>& w) {
  MIXHIC_FUZZ_REQUIRE(static_cast<int64_t>(w.size()) == m.n_bins(), "{}: balancing_weights({}) has {} values for {} bins",
                      m.path(), column, w.size(), m.n_bins());
  for (size_t i = 0; i < w.size(); ++i)
    MIXHIC_FUZZ_REQUIRE(!(w[i] < 0), "{}: balancing_weights({}) is {} at bin {}", m.path(), column, w[i], i);
}

// Index of the chromosome holding `bin` (check_chroms has passed).
inline size_t chrom_of(const ContactMatrix& m, int64_t bin) {
  const auto& cs = m.chroms();
  auto it = std::upper_bound(cs.begin(), cs.end(), bin, [](int64_t b, const CoolerChrom& c) { return b < c.bin_end; });
  return static_cast<size_t>(it - cs.begin());
}

// read_rows(row_begin, row_end, bin2_end): pixels of those rows with bin2 < bin2_end, symmetric
// upper (bin1 <= bin2), inside the matrix, sorted by (bin1, bin2); .hic: intra-chromosomal only.
inline void check_pixels(const ContactMatrix& m, const PixelBlock& px, int64_t row_begin, int64_t row_end,
                         int64_t bin2_end, bool intra_only) {
  MIXHIC_FUZZ_REQUIRE(px.bin1.size() == px.count.size() && px.bin2.size() == px.count.size(),
                      "{}: PixelBlock columns of {}, {} and {} values", m.path(), px.bin1.size(), px.bin2.size(),
                      px.count.size());
  const int64_t col_end = std::min(bin2_end, m.n_bins());
  for (size_t k = 0; k < px.size(); ++k) {
    const int64_t a = px.bin1[k], b = px.bin2[k];
    MIXHIC_FUZZ_REQUIRE(a >= row_begin && a < row_end && b >= a && b < col_end,
                        "{}: read_rows({}, {}, {}) returned pixel ({}, {}); expected bin1 in the rows and "
                        "bin1 <= bin2 < {}",
                        m.path(), row_begin, row_end, bin2_end, a, b, col_end);
    if (k > 0)
      MIXHIC_FUZZ_REQUIRE(std::make_pair(px.bin1[k - 1], px.bin2[k - 1]) <= std::make_pair(a, b),
                          "{}: read_rows({}, {}) not sorted by (bin1, bin2) at pixel {}", m.path(), row_begin,
                          row_end, k);
    if (intra_only)
      MIXHIC_FUZZ_REQUIRE(chrom_of(m, a) == chrom_of(m, b), "{}: read_rows returned pixel ({}, {}) between two chromosomes",
                          m.path(), a, b);
  }
}

// The whole walk; returns the number of steps refused with a mixhic::Error.
inline int walk_contact_matrix(const ContactMatrix& m, bool intra_only) {
  check_chroms(m);
  int refused = 0;
  std::vector<std::string> columns = m.bin_columns();
  for (size_t i = 0; i < columns.size() && i < kMaxColumns; ++i) {
    refused += tolerate([&] { (void)m.balance_rule(columns[i]); });
    refused += tolerate([&] { check_weights(m, columns[i], m.balancing_weights(columns[i])); });
  }
  // Row blocks along each chromosome, as the prep's windows read them (bin2_end = the block's end),
  // plus each chromosome's first block to the end of the matrix (expected values, ICE bands).
  int64_t budget = kMaxRowsRead;
  for (const CoolerChrom& c : m.chroms()) {
    for (int64_t r = c.bin_begin; r < c.bin_end && budget > 0;) {
      const int64_t end = c.bin_end - r <= kRowBlock ? c.bin_end : r + kRowBlock;
      refused += tolerate([&] { check_pixels(m, m.read_rows(r, end, end), r, end, end, intra_only); });
      if (r == c.bin_begin)
        refused += tolerate([&] {
          check_pixels(m, m.read_rows(r, end), r, end, std::numeric_limits<int64_t>::max(), intra_only);
        });
      budget -= end - r;
      r = end;
    }
  }
  // A dense window, as figures and tests read one (fetch mirrors the upper triangle).
  const int64_t side = std::min<int64_t>(m.n_bins(), 16);
  if (side > 0) refused += tolerate([&] { (void)m.fetch(0, side, 0, side, nullptr); });
  return refused;
}

}  // namespace mixhic::fuzz
