// What mixhic-eval writes for users to open: predicted maps as .cool files, read back by
// python3-cooler (tests/oracles/check_cool_written.py) and by mixhic's own CoolerFile, and PNG
// figures decoded independently of libpng (tests/oracles/check_png.py).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "mixhic/check.hpp"
#include "mixhic/cool_writer.hpp"
#include "mixhic/cooler_file.hpp"
#include "mixhic/figure.hpp"
#include "test_util.hpp"

using namespace mixhic;
using test::run_command;

namespace {

namespace fs = std::filesystem;

// Dyadic values, so every sum and mean below is exact in float64 whatever the order.
double truth(int64_t i, int64_t j) {
  if (i > j) std::swap(i, j);
  return 1.0 + 0.25 * static_cast<double>(i) + 0.125 * static_cast<double>(j - i);
}

// Genome-wide dense matrix as text, for the oracle.
void write_matrix(const std::string& path, const std::vector<double>& m, int64_t n) {
  std::ofstream out(path);
  out.precision(17);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) out << (j ? " " : "") << m[i * n + j];
    out << "\n";
  }
}

TEST(CoolWriter, OverlappingWindowsAreAveragedAndCoolerReadsThem) {
  test::TempDir dir;
  // chr1's last bin is short (1,000-1,050), as cooler makes it.
  CoolWriter writer({{"chr1", 1050}, {"chr2", 2000}}, 100);
  ASSERT_EQ(writer.n_bins(), 31);
  ASSERT_EQ(writer.first_bin("chr2"), 11);
  const int64_t n = writer.n_bins(), W = 6;

  // The oracle of the averaging: a dense sum and count per pixel, in both triangles.
  std::vector<double> sum(n * n, 0.0), cnt(n * n, 0.0);
  auto expect_add = [&](int64_t a, int64_t b, double v) {
    sum[a * n + b] += v;
    cnt[a * n + b] += 1;
    if (a != b) {
      sum[b * n + a] += v;
      cnt[b * n + a] += 1;
    }
  };
  // Windows every 2 bins on chr1 plus one flush with its end (overlaps of 1 to 4 windows), every
  // 3 bins on chr2; each window's prediction is the truth plus its own offset, so a pixel's mean
  // depends on which windows cover it.
  std::vector<int64_t> starts = {0, 2, 4, 5};
  for (int64_t s = 0; s + W <= 20; s += 3) starts.push_back(11 + s);
  for (size_t k = 0; k < starts.size(); ++k) {
    const int64_t first = starts[k];
    const double offset = 0.125 * static_cast<double>(k);
    std::vector<float> window(W * W);  // float, as the model's output
    for (int64_t a = 0; a < W; ++a)
      for (int64_t b = 0; b < W; ++b)
        window[a * W + b] = a <= b ? static_cast<float>(truth(first + a, first + b) + offset) : 1e9f;  // lower triangle ignored
    if (k == 1) window[0 * W + 2] = std::numeric_limits<float>::quiet_NaN();  // a masked bin: not a prediction
    writer.add_window(first, W, window.data());
    for (int64_t a = 0; a < W; ++a)
      for (int64_t b = a; b < W; ++b)
        if (!(k == 1 && a == 0 && b == 2)) expect_add(first + a, first + b, window[a * W + b]);
  }
  // A trans pixel given as (bin2, bin1), and a pixel whose predictions average to 0 (not stored).
  writer.add(20, 2, 7.0);
  expect_add(2, 20, 7.0);
  writer.add(14, 28, 2.5);
  writer.add(28, 14, -2.5);

  std::vector<double> expected(n * n, 0.0);
  int64_t nnz = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      if (cnt[i * n + j] > 0) expected[i * n + j] = sum[i * n + j] / cnt[i * n + j];
      if (j >= i && expected[i * n + j] != 0) ++nnz;
    }
  EXPECT_EQ(writer.n_pixels(), nnz + 1);  // + the zero-mean pixel, dropped only when written

  const std::string path = dir / "pred.cool";
  writer.write(path, {"synth", R"({"model": "unit-test"})"});
  EXPECT_TRUE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + ".tmp"));

  // mixhic's reader.
  CoolerFile cool(path, 100);
  EXPECT_EQ(cool.format_version(), 3);
  EXPECT_EQ(cool.n_bins(), n);
  EXPECT_EQ(cool.nnz(), nnz);
  ASSERT_EQ(cool.chroms().size(), 2u);
  EXPECT_EQ(cool.chroms()[0].name, "chr1");
  EXPECT_EQ(cool.chroms()[0].length, 1050);
  EXPECT_EQ(cool.chroms()[1].bin_begin, 11);
  EXPECT_EQ(cool.chroms()[1].bin_end, 31);
  std::vector<double> back = cool.fetch(0, n, 0, n, nullptr);
  int64_t differ = 0;
  for (int64_t k = 0; k < n * n; ++k) differ += back[k] != expected[k];
  EXPECT_EQ(differ, 0) << "pixels differing from the averaged predictions";
  EXPECT_EQ(back[16 * n + 15], (truth(15, 16) + 0.125 * 4 + truth(15, 16) + 0.125 * 5) / 2)
      << "chr2 bins 4 and 5 lie in windows 4 and 5 (chr2 bins 0-5 and 3-8), mirrored below the diagonal";

  // cooler's reader: attributes, bins, sorted pixels, the whole matrix and a region fetch.
  write_matrix(dir / "expected.txt", expected, n);
  auto r = run_command(test::oracle("check_cool_written.py") + " " + path + " " + (dir / "expected.txt") +
                       " --nnz " + std::to_string(nnz) + " --assembly synth --region 'chr2:300-1,100'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::cout << r.output;
}

TEST(CoolWriter, ManyPredictionsMergeToTheirMean) {
  // 4 passes over 320,200 distinct pixels: over 2^20 predictions, so the writer merges its
  // pending predictions before write() does.
  test::TempDir dir;
  const int64_t bins = 1000, band = 400;
  CoolWriter writer({{"chrA", bins * 1000}}, 1000);
  int64_t distinct = 0;
  for (int pass = 0; pass < 4; ++pass)
    for (int64_t i = 0; i < bins; ++i)
      for (int64_t j = i; j < std::min(bins, i + band); ++j) {
        writer.add(i, j, truth(i, j) + pass);
        distinct += pass == 0;
      }
  EXPECT_EQ(writer.n_pixels(), distinct);
  writer.write(dir / "many.cool");
  CoolerFile cool(dir / "many.cool", 0);
  EXPECT_EQ(cool.nnz(), distinct);
  std::vector<double> rows = cool.fetch(500, 3, 0, bins, nullptr);
  int64_t differ = 0;
  for (int64_t a = 0; a < 3; ++a)
    for (int64_t j = 0; j < bins; ++j) {
      const int64_t i = 500 + a;
      const double want = std::abs(i - j) < band ? truth(i, j) + 1.5 : 0.0;
      differ += rows[a * bins + j] != want;
    }
  EXPECT_EQ(differ, 0);
}

TEST(CoolWriter, RejectsBadInputAndLeavesNoPartialFile) {
  EXPECT_THROW(CoolWriter({}, 100), ConfigError);
  EXPECT_THROW(CoolWriter({{"chr1", 100}}, 0), ConfigError);
  EXPECT_THROW(CoolWriter({{"chr1", 100}, {"chr1", 200}}, 10), ConfigError);
  EXPECT_THROW(CoolWriter({{"chr1", int64_t{1} << 31}}, 10), ConfigError);
  CoolWriter writer({{"chr1", 1000}, {"chr2", 1000}}, 100);
  EXPECT_THROW(writer.first_bin("chrX"), ConfigError);
  EXPECT_THROW(writer.add(0, 20, 1.0), Error);
  std::vector<double> window(16, 1.0);
  EXPECT_THROW(writer.add_window(8, 4, window.data()), Error) << "bins 8-11 cross from chr1 into chr2";
  writer.add_window(6, 4, window.data());

  test::TempDir dir;
  const std::string missing = dir / "no-such-dir/pred.cool";
  EXPECT_THROW(writer.write(missing), Error);
  EXPECT_FALSE(fs::exists(missing));
  EXPECT_FALSE(fs::exists(missing + ".tmp"));

  // Writing over an existing file replaces it whole.
  const std::string path = dir / "pred.cool";
  { std::ofstream(path) << "an older file"; }
  writer.write(path);
  EXPECT_EQ(CoolerFile(path, 100).nnz(), 10);
}

// ---- figures ------------------------------------------------------------------------------------

using figure::Rgb;

std::string rgb_text(Rgb c) {
  return std::to_string(c.r) + " " + std::to_string(c.g) + " " + std::to_string(c.b);
}

TEST(Figure, ColourIndexFollowsMatplotlib) {
  // Normalize + a 256-entry ListedColormap: floor(t * 256), the top value included in 255.
  EXPECT_EQ(figure::colour_index(0.0, 0.0, 1.0), 0);
  EXPECT_EQ(figure::colour_index(1.0, 0.0, 1.0), 255);
  EXPECT_EQ(figure::colour_index(0.5, 0.0, 1.0), 128);
  EXPECT_EQ(figure::colour_index(127.99 / 256, 0.0, 1.0), 127);
  EXPECT_EQ(figure::colour_index(-3.0, 0.0, 1.0), 0);
  EXPECT_EQ(figure::colour_index(7.0, 0.0, 1.0), 255);
  EXPECT_EQ(figure::colour_index(4.0, 2.0, 10.0), 64);
  EXPECT_EQ(figure::colour_index(std::nan(""), 0.0, 1.0), -1);
  // First and last rows of _viridis_data times 255, truncated: 0.267004 -> 68, 0.004874 -> 1,
  // 0.329415 -> 84; 0.993248 -> 253, 0.906157 -> 231, 0.143936 -> 36.
  EXPECT_EQ(figure::viridis_table()[0], (Rgb{68, 1, 84}));
  EXPECT_EQ(figure::viridis_table()[255], (Rgb{253, 231, 36}));
  EXPECT_EQ(figure::viridis(std::nan(""), 0, 1), figure::kMissing);
}

TEST(Figure, MapPairPngHasExactViridisCells) {
  test::TempDir dir;
  // 16 x 16 cells: the true map walks through all 256 colour indices, the predicted map through
  // them backwards, on a scale [-2, 6] so that the normalisation is exercised.
  const int64_t W = 16;
  const double vmin = -2, vmax = 6;
  std::vector<double> truth_map(W * W), pred_map(W * W);
  for (int64_t k = 0; k < W * W; ++k) {
    truth_map[k] = vmin + (static_cast<double>(k) + 0.5) / 256 * (vmax - vmin);
    pred_map[k] = vmin + (static_cast<double>(255 - k) + 0.5) / 256 * (vmax - vmin);
  }
  pred_map[3 * W + 5] = std::nan("");
  const std::string path = dir / "map.png";
  auto L = figure::write_map_pair_png(path, truth_map, pred_map, W, "chr21:28,000,000-28,160,000", vmin, vmax,
                                      "log(1 + O/E)");
  EXPECT_EQ(L.cell, 8);
  EXPECT_FALSE(fs::exists(path + ".tmp"));

  std::ofstream probes(dir / "probes.txt");
  for (int64_t i = 0; i < W; ++i)
    for (int64_t j = 0; j < W; ++j) {
      const int y = L.top + static_cast<int>(i) * L.cell + L.cell / 2;
      const int k = static_cast<int>(i * W + j);
      probes << L.true_x + j * L.cell + L.cell / 2 << " " << y << " index " << k << "\n";
      // A cell's corner pixels too: the whole square is the cell's colour.
      probes << L.true_x + j * L.cell << " " << L.top + i * L.cell << " index " << k << "\n";
      probes << L.true_x + (j + 1) * L.cell - 1 << " " << L.top + (i + 1) * L.cell - 1 << " index " << k << "\n";
      if (i == 3 && j == 5)
        probes << L.pred_x + j * L.cell + 2 << " " << y << " rgb " << rgb_text(figure::kMissing) << "\n";
      else
        probes << L.pred_x + j * L.cell + 2 << " " << y << " index " << 255 - k << "\n";
    }
  // The colorbar runs from index 255 at the top to 0 at the bottom.
  const int M = static_cast<int>(W) * L.cell;
  probes << L.colorbar_x + 10 << " " << L.top << " index 255\n";
  probes << L.colorbar_x + 10 << " " << L.top + M - 1 << " index 0\n";
  probes.close();
  auto r = run_command(test::oracle("check_png.py") + " " + path + " --size " + std::to_string(L.width) + " " +
                       std::to_string(L.height) + " --probes " + (dir / "probes.txt") +
                       " --full-viridis --title 'chr21:28,000,000-28,160,000'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::cout << r.output;
}

TEST(Figure, CurvePngDrawsSeriesWhereTheLayoutSays) {
  test::TempDir dir;
  std::vector<figure::Series> series(3);
  series[0].name = "MIX-HIC";
  series[1].name = "distance decay";
  series[2].name = "mean map";
  for (int k = 0; k < 50; ++k) {
    const double kb = 10.0 * k;
    for (auto& s : series) s.x.push_back(kb);
    series[0].y.push_back(0.9 - 0.008 * k);
    series[1].y.push_back(0.35 - 0.002 * k);
    series[2].y.push_back(k == 20 ? std::nan("") : -0.1 + 0.001 * k);
  }
  for (size_t s = 0; s < series.size(); ++s) series[s].colour = figure::series_colour(s);
  const std::string path = dir / "pcc.png";
  auto L = figure::write_curve_png(path, "Pearson r by genomic distance", "distance (kb)", "Pearson r", series);
  EXPECT_EQ(L.x0, 0.0);
  EXPECT_EQ(L.x1, 490.0);
  EXPECT_NEAR(L.y0, -0.1 - 0.05 * 1.0, 1e-12);  // y spans [-0.1, 0.9] plus 5 % either side
  EXPECT_NEAR(L.y1, 0.9 + 0.05 * 1.0, 1e-12);

  std::ofstream probes(dir / "probes.txt");
  for (const auto& s : series)
    for (size_t k = 0; k < s.x.size(); ++k)
      if (std::isfinite(s.y[k])) probes << L.px(s.x[k]) << " " << L.py(s.y[k]) << " rgb " << rgb_text(s.colour) << "\n";
  // The NaN breaks the third line: nothing of its colour where the point would be, nor halfway
  // along the segment that would have joined its neighbours.
  const auto& s2 = series[2];
  probes << L.px(s2.x[20]) << " " << L.py(-0.1 + 0.001 * 20) << " not " << rgb_text(s2.colour) << "\n";
  probes << L.px(s2.x[19] + 5) << " " << L.py(-0.1 + 0.001 * 19.5) << " not " << rgb_text(s2.colour) << "\n";
  // Outside the plot area, left of the y axis labels, is background.
  probes << 2 << " " << L.top + 5 << " rgb 255 255 255\n";
  probes.close();
  auto r = run_command(test::oracle("check_png.py") + " " + path + " --size " + std::to_string(L.width) + " " +
                       std::to_string(L.height) + " --probes " + (dir / "probes.txt") +
                       " --min-pixels " + rgb_text(series[0].colour) + " 400" +
                       " --title 'Pearson r by genomic distance'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::cout << r.output;
}

TEST(Figure, RejectsBadInputAndLeavesNoPartialFile) {
  test::TempDir dir;
  std::vector<double> four(4, 0.5), nine(9, 0.5);
  EXPECT_THROW(figure::write_map_pair_png(dir / "a.png", four, nine, 2, "t", 0, 1), Error);
  EXPECT_THROW(figure::write_map_pair_png(dir / "a.png", four, four, 2, "t", 1, 1), Error);
  EXPECT_THROW(figure::write_curve_png(dir / "b.png", "t", "x", "y", {}), Error);
  figure::Series bad{"s", {1, 2, 3}, {1, 2}, figure::kBlack};
  EXPECT_THROW(figure::write_curve_png(dir / "b.png", "t", "x", "y", {bad}), Error);
  figure::Series empty{"s", {1, 2}, {std::nan(""), std::nan("")}, figure::kBlack};
  EXPECT_THROW(figure::write_curve_png(dir / "b.png", "t", "x", "y", {empty}), Error);
  const std::string missing = dir / "no-such-dir/c.png";
  EXPECT_THROW(figure::write_map_pair_png(missing, four, four, 2, "t", 0, 1), Error);
  EXPECT_FALSE(fs::exists(missing + ".tmp"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 0);
}

}  // namespace
