// The evaluation metrics (include/mixhic/metrics.hpp) against scipy/sklearn/numpy on the same
// arrays (tests/oracles/check_metrics.py, 1e-10 relative), plus hand-computed tiny cases, the
// degenerate inputs each reference defines, and the MetricTable's CSV/JSON/text.
#include <gtest/gtest.h>
#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "mixhic/check.hpp"
#include "mixhic/metrics.hpp"
#include "test_util.hpp"

using namespace mixhic;
using namespace mixhic::metrics;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The oracle's input: "array NAME dims..." + one line of values, "param NAME VALUE".
class OracleInput {
 public:
  void array(const std::string& name, const std::vector<size_t>& shape, const std::vector<double>& v) {
    text_ << "array " << name;
    for (size_t d : shape) text_ << " " << d;
    text_ << "\n";
    for (size_t i = 0; i < v.size(); ++i) text_ << (i ? " " : "") << fmt::format("{}", v[i]);  // round-trips
    text_ << "\n";
  }
  void maps(const std::string& name, const ContactMaps& m) { array(name, {m.count, m.width, m.width}, m.values); }
  void param(const std::string& name, double v) { text_ << "param " << name << " " << fmt::format("{}", v) << "\n"; }
  void write(const std::string& path) const { std::ofstream(path) << text_.str(); }

 private:
  std::ostringstream text_;
};

// "KEY VALUE" lines of the oracle; records which keys a test compared.
class OracleOutput {
 public:
  explicit OracleOutput(const std::string& text) {
    std::istringstream in(text);
    std::string key, value;
    while (in >> key >> value) values_[key] = std::strtod(value.c_str(), nullptr);
  }
  size_t size() const { return values_.size(); }
  double operator[](const std::string& key) {
    used_.insert(key);
    auto it = values_.find(key);
    if (it == values_.end()) {
      ADD_FAILURE() << "the oracle printed no " << key;
      return kNaN;
    }
    return it->second;
  }
  // Equal to 1e-10 relative; NaN only matches NaN.
  void expect(const std::string& key, double ours) {
    const double o = (*this)[key];
    if (std::isnan(o) || std::isnan(ours)) {
      EXPECT_TRUE(std::isnan(o) && std::isnan(ours)) << key << ": ours " << ours << ", oracle " << o;
      return;
    }
    const double err = std::abs(ours - o);
    EXPECT_LE(err, 1e-10 * std::max(std::abs(o), std::abs(ours)) + 1e-14)
        << key << ": ours " << fmt::format("{}", ours) << ", oracle " << fmt::format("{}", o);
    if (o != 0) max_rel_err_ = std::max(max_rel_err_, err / std::abs(o));
    ++compared_;
  }
  std::vector<std::string> unused() const {
    std::vector<std::string> out;
    for (const auto& [k, v] : values_)
      if (!used_.count(k)) out.push_back(k);
    return out;
  }
  size_t compared() const { return compared_; }
  double max_rel_err() const { return max_rel_err_; }

 private:
  std::map<std::string, double> values_;
  std::set<std::string> used_;
  size_t compared_ = 0;
  double max_rel_err_ = 0;
};

// Hi-C-like windows: distance decay x TAD blocks x log-normal noise, symmetric, with a few
// zero contacts; what the metrics will see from mixhic-eval.
ContactMaps synth_truth(std::mt19937_64& rng, size_t count, size_t w) {
  std::normal_distribution<double> noise(0.0, 0.25);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  ContactMaps m(count, w);
  for (size_t s = 0; s < count; ++s) {
    std::vector<int> tad(w);
    int id = 0;
    for (size_t i = 0; i < w; ++i) {
      if (u(rng) < 0.12) ++id;
      tad[i] = id;
    }
    for (size_t i = 0; i < w; ++i)
      for (size_t j = i; j < w; ++j) {
        const double d = static_cast<double>(j - i);
        double v = std::exp(-d / 8.0) * (tad[i] == tad[j] ? 2.0 : 1.0) * std::exp(noise(rng));
        if (j > i + 2 && u(rng) < 0.01) v = 0.0;
        m.map(s)[i * w + j] = m.map(s)[j * w + i] = v;
      }
  }
  return m;
}

// A prediction: shrunk towards distance decay plus noise, symmetric unless `symmetric` is false.
ContactMaps synth_pred(std::mt19937_64& rng, const ContactMaps& truth, bool symmetric) {
  std::normal_distribution<double> noise(0.0, 0.05);
  ContactMaps p(truth.count, truth.width);
  const size_t w = truth.width;
  for (size_t s = 0; s < truth.count; ++s)
    for (size_t i = 0; i < w; ++i)
      for (size_t j = symmetric ? i : 0; j < w; ++j) {
        const double d = static_cast<double>(i > j ? i - j : j - i);
        const double v = std::abs(0.7 * truth.at(s, i, j) + 0.3 * std::exp(-d / 10.0) + noise(rng)) + 1e-3;
        p.map(s)[i * w + j] = v;
        if (symmetric) p.map(s)[j * w + i] = v;
      }
  return p;
}

void set_diagonal(ContactMaps& m, size_t s, size_t d, double v) {
  for (size_t i = 0; i + d < m.width; ++i) m.map(s)[i * m.width + i + d] = m.map(s)[(i + d) * m.width + i] = v;
}

void set_bad_bin(ContactMaps& m, size_t s, size_t bin) {
  for (size_t k = 0; k < m.width; ++k) m.map(s)[bin * m.width + k] = m.map(s)[k * m.width + bin] = kNaN;
}

std::vector<double> normal_vector(std::mt19937_64& rng, size_t n) {
  std::normal_distribution<double> g(0.0, 1.0);
  std::vector<double> v(n);
  for (double& x : v) x = g(rng);
  return v;
}

void expect_maps_match(OracleOutput& o, const std::string& tag, const ContactMaps& pred, const ContactMaps& truth,
                       size_t ignore_diags, size_t min_points) {
  for (auto [pixels, name] : {std::pair{MapPixels::kFull, "full"}, std::pair{MapPixels::kUpperTriangle, "upper"}}) {
    const std::string k = tag + ".";
    PooledMapMetrics pooled = pooled_map_metrics(pred, truth, pixels);
    o.expect(k + "pooled_" + name + ".pcc", pooled.pcc);
    o.expect(k + "pooled_" + name + ".spearman", pooled.spearman);
    o.expect(k + "pooled_" + name + ".r2", pooled.r2);
    o.expect(k + "pooled_" + name + ".r2_swapped", pooled.r2_swapped);
    const size_t w = pred.width;
    EXPECT_EQ(pooled.n_pixels, pred.count * (pixels == MapPixels::kFull ? w * w : w * (w + 1) / 2));

    const std::pair<const char*, PerSampleMetric> per_sample[] = {
        {"per_sample_", per_sample_pcc(pred, truth, pixels)},
        {"oe_mean_map_", oe_pcc_mean_map(pred, truth, pixels)},
        {"oe_expected_", oe_pcc_expected(pred, truth, pixels)},
    };
    for (const auto& [prefix, m] : per_sample) {
      ASSERT_EQ(m.per_sample.size(), pred.count);
      for (size_t s = 0; s < pred.count; ++s) o.expect(k + prefix + name + "." + std::to_string(s), m.per_sample[s]);
      o.expect(k + prefix + name + ".mean", m.mean);
    }
  }
  DistanceStratifiedPcc dist = distance_stratified_pcc(pred, truth, ignore_diags, min_points);
  ASSERT_EQ(dist.mean_by_distance.size(), pred.width);
  for (size_t d = 0; d < pred.width; ++d) {
    if (d + min_points > pred.width) {  // too short to correlate: not evaluated
      EXPECT_TRUE(std::isnan(dist.mean_by_distance[d])) << d;
      EXPECT_EQ(dist.samples_by_distance[d], 0u) << d;
      continue;
    }
    o.expect(tag + ".dist.mean." + std::to_string(d), dist.mean_by_distance[d]);
    o.expect(tag + ".dist.count." + std::to_string(d), static_cast<double>(dist.samples_by_distance[d]));
  }
  o.expect(tag + ".dist.summary", dist.summary);
  EXPECT_EQ(dist.first_distance, ignore_diags);
  EXPECT_EQ(dist.last_distance, pred.width - min_points);
}

void expect_insulation_match(OracleOutput& o, const std::string& tag, const ContactMaps& pred,
                             const ContactMaps& truth, size_t window, size_t ignore_diags) {
  for (size_t s = 0; s < pred.count; ++s)
    for (auto [m, name] : {std::pair{&pred, "pred"}, std::pair{&truth, "truth"}}) {
      std::vector<double> t = insulation_track(m->map(s), m->width, window, ignore_diags);
      for (size_t k = 0; k < t.size(); ++k) o.expect(fmt::format("{}.track_{}.{}.{}", tag, name, s, k), t[k]);
    }
  PerSampleMetric ins = insulation_pcc(pred, truth, window, ignore_diags);
  for (size_t s = 0; s < pred.count; ++s) o.expect(tag + ".pcc." + std::to_string(s), ins.per_sample[s]);
  o.expect(tag + ".pcc_mean", ins.mean);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Against the oracle: every metric on the same random arrays (fixed seeds), with ties, constant
// diagonals, zero contacts, bad bins (NaN rows/columns), an isolated NaN pixel and an asymmetric
// prediction.

TEST(MetricOracle, AllMetricsMatchScipySklearnNumpy) {
  std::mt19937_64 rng(20240611);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::normal_distribution<double> g(0.0, 1.0);
  OracleInput in;

  // Scalars: continuous, heavily tied, and with NaN/inf pairs for pearson_finite.
  std::vector<double> vx = normal_vector(rng, 1000), vy(1000);
  for (size_t i = 0; i < vx.size(); ++i) vy[i] = 0.6 * vx[i] + 0.8 * g(rng);
  std::vector<double> tx(500), ty(500);
  for (size_t i = 0; i < tx.size(); ++i) {
    tx[i] = std::floor(u(rng) * 10);
    ty[i] = std::round(tx[i] + 2 * g(rng));
  }
  std::vector<double> nx = normal_vector(rng, 300), ny(300);
  for (size_t i = 0; i < nx.size(); ++i) {
    ny[i] = nx[i] + g(rng);
    if (u(rng) < 0.1) (u(rng) < 0.5 ? nx : ny)[i] = kNaN;
  }
  ny[7] = std::numeric_limits<double>::infinity();
  in.array("v_x", {vx.size()}, vx);
  in.array("v_y", {vy.size()}, vy);
  in.array("ties_x", {tx.size()}, tx);
  in.array("ties_y", {ty.size()}, ty);
  in.array("nan_x", {nx.size()}, nx);
  in.array("nan_y", {ny.size()}, ny);

  // Expression: 200 genes x 50 bins of log2(CAGE + 1), tiled x2 to 100 as the reference does.
  const size_t genes = 200;
  std::vector<double> et(genes * 100), ep(genes * 100);
  for (size_t gi = 0; gi < genes; ++gi)
    for (size_t b = 0; b < 50; ++b) {
      const double t = std::log2(std::exp(1.5 * g(rng)) + 1.0);
      const double p = 0.8 * t + 0.3 * g(rng) + 0.1;
      et[gi * 100 + b] = et[gi * 100 + 50 + b] = t;
      ep[gi * 100 + b] = ep[gi * 100 + 50 + b] = p;
    }
  in.array("expr_true", {genes, 100}, et);
  in.array("expr_pred", {genes, 100}, ep);

  // Loops: probabilities rounded to 2 decimals (ties across classes), some exactly 0.5.
  std::vector<double> labels(400), scores(400);
  for (size_t i = 0; i < labels.size(); ++i) {
    labels[i] = u(rng) < 0.45 ? 1.0 : 0.0;
    const double logit = (2 * labels[i] - 1) + 1.5 * g(rng);
    scores[i] = std::round(100.0 / (1.0 + std::exp(-logit))) / 100.0;
    if (i % 37 == 0) scores[i] = 0.5;
  }
  in.array("labels", {labels.size()}, labels);
  in.array("scores", {scores.size()}, scores);
  in.param("threshold", 0.5);

  // Maps: 6 test windows of 50 bins, 8 training windows for the expected map.
  ContactMaps truth = synth_truth(rng, 6, 50);
  ContactMaps pred = synth_pred(rng, truth, true);
  ContactMaps asym = synth_pred(rng, truth, false);
  std::copy(asym.map(5), asym.map(5) + 50 * 50, pred.map(5));
  set_diagonal(truth, 2, 5, 0.3);  // a constant diagonal: r undefined there
  set_diagonal(pred, 4, 7, 0.2);
  ContactMaps train = synth_truth(rng, 8, 50);
  in.maps("pred", pred);
  in.maps("truth", truth);
  in.maps("train", train);
  in.param("ignore_diags", 2);
  in.param("min_points", 3);
  in.param("ins_window", 5);
  in.param("ins_ignore_diags", 2);

  // Bad bins (whole NaN rows/columns) in 4 windows of 40 bins, and one isolated NaN pixel.
  ContactMaps bad_truth = synth_truth(rng, 4, 40);
  ContactMaps bad_pred = synth_pred(rng, bad_truth, true);
  for (size_t s = 0; s < 4; ++s) {
    set_bad_bin(bad_truth, s, 3 + s);
    set_bad_bin(bad_truth, s, 17);
    set_bad_bin(bad_pred, s, 25 - s);
  }
  bad_pred.map(3)[10 * 40 + 14] = kNaN;
  in.maps("bad_pred", bad_pred);
  in.maps("bad_truth", bad_truth);
  in.param("bad_ins_window", 6);

  test::TempDir dir;
  in.write(dir / "arrays.txt");
  auto r = test::run_command(test::oracle("check_metrics.py") + " " + (dir / "arrays.txt"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  OracleOutput o(r.output);

  for (auto [name, x, y] : {std::tuple{"v", &vx, &vy}, std::tuple{"ties", &tx, &ty}}) {
    o.expect(std::string(name) + ".pearson", pearson(*x, *y));
    o.expect(std::string(name) + ".spearman", spearman(*x, *y));
    o.expect(std::string(name) + ".r2", r2_score(*x, *y));
    o.expect(std::string(name) + ".r2_swapped", r2_score_mixhic_swapped(*x, *y));
  }
  o.expect("nan.pearson_finite", pearson_finite(nx, ny));
  EXPECT_TRUE(std::isnan(pearson(nx, ny)));  // scipy propagates NaN
  std::vector<double> ranks = average_ranks(tx.data(), tx.size());
  for (size_t k = 0; k < ranks.size(); ++k) o.expect("ranks." + std::to_string(k), ranks[k]);

  RegressionMetrics expr = regression_metrics(et, ep);
  o.expect("expr.pcc", expr.pcc);
  o.expect("expr.spearman", expr.spearman);
  o.expect("expr.r2", expr.r2);
  o.expect("expr.r2_swapped", expr.r2_swapped);
  EXPECT_EQ(expr.n, et.size());
  EXPECT_NE(expr.r2, expr.r2_swapped);  // the swap changes the number on real-looking data

  ClassificationMetrics loop = classification_metrics(labels, scores, 0.5);
  o.expect("loop.auroc", loop.auroc);
  o.expect("loop.auprc", loop.auprc);
  o.expect("loop.precision", loop.at_threshold.precision);
  o.expect("loop.recall", loop.at_threshold.recall);
  o.expect("loop.f1", loop.at_threshold.f1);
  o.expect("loop.accuracy", loop.at_threshold.accuracy);

  expect_maps_match(o, "maps", pred, truth, 2, 3);
  // The constant diagonals above must have been skipped (one sample each), not counted.
  DistanceStratifiedPcc dist = distance_stratified_pcc(pred, truth);
  EXPECT_EQ(dist.samples_by_distance[5], 5u);
  EXPECT_EQ(dist.samples_by_distance[7], 5u);
  EXPECT_EQ(dist.samples_by_distance[6], 6u);

  std::vector<double> expected = expected_by_distance(train);
  for (size_t d = 0; d < expected.size(); ++d) o.expect("train.expected." + std::to_string(d), expected[d]);
  ContactMaps baseline = expected_map(train, 3);
  ASSERT_EQ(baseline.count, 3u);
  for (size_t s = 0; s < 3; ++s)
    for (size_t i = 0; i < 50; ++i)
      for (size_t j = 0; j < 50; ++j) ASSERT_EQ(baseline.at(s, i, j), expected[i > j ? i - j : j - i]);

  expect_insulation_match(o, "ins", pred, truth, 5, 2);
  expect_maps_match(o, "bad", bad_pred, bad_truth, 2, 3);
  expect_insulation_match(o, "bad_ins", bad_pred, bad_truth, 6, 2);
  // The oracle's loop insulation equalled its cooltools transcription on every NaN pattern a
  // cooler can have: 6 + 6 clean maps, 8 bad-bin maps less the one with an isolated NaN pixel.
  EXPECT_EQ(o["ins.cooltools_agreed"], 12.0);
  EXPECT_EQ(o["bad_ins.cooltools_agreed"], 7.0);

  EXPECT_TRUE(o.unused().empty()) << "oracle values no test compared, e.g. " << o.unused().front();
  std::printf("compared %zu finite values with the oracle (%zu printed, the rest NaN on both "
              "sides); max relative error %.3g\n", o.compared(), o.size(), o.max_rel_err());
  // Enough finite values were compared that a silent all-NaN run cannot pass.
  EXPECT_GT(o.compared(), 1500u);
}

// ---------------------------------------------------------------------------------------------
// Hand-computed cases.

TEST(MetricHand, PearsonSpearmanR2) {
  // x = [1,2,3], y = [2,4,7]: sxy = 5, sxx = 2, syy = 114/9, r = 15 / sqrt(228).
  EXPECT_NEAR(pearson({1, 2, 3}, {2, 4, 7}), 15.0 / std::sqrt(228.0), 1e-15);
  EXPECT_NEAR(pearson({1, 2, 3}, {3, 2, 1}), -1.0, 1e-15);
  EXPECT_TRUE(std::isnan(pearson({1, 1, 1}, {1, 2, 3})));  // constant: scipy gives NaN
  EXPECT_TRUE(std::isnan(pearson({1}, {2})));
  EXPECT_TRUE(std::isnan(pearson({1, kNaN, 3}, {1, 2, 3})));
  EXPECT_NEAR(pearson_finite({1, kNaN, 2, 3, 9}, {2, 5, 4, 7, kNaN}), 15.0 / std::sqrt(228.0), 1e-15);

  const std::vector<double> tied = {10, 20, 20, 30};
  EXPECT_EQ(average_ranks(tied.data(), tied.size()), (std::vector<double>{1, 2.5, 2.5, 4}));
  // Ranks [1,2.5,2.5,4] vs [1,2,3,4]: sxy = 4.5, sxx = 4.5, syy = 5 -> r = 4.5 / sqrt(22.5).
  EXPECT_NEAR(spearman(tied, {1, 2, 3, 4}), 4.5 / std::sqrt(22.5), 1e-15);
  EXPECT_NEAR(spearman({1, 2, 3, 4}, {1, 8, 27, 64}), 1.0, 1e-15);  // monotone

  // true [1,2,3], pred [1,2,4]: 1 - 1/2; swapped: 1 - 1/(sum (pred - 7/3)^2 = 14/3) = 1 - 3/14.
  EXPECT_NEAR(r2_score({1, 2, 3}, {1, 2, 4}), 0.5, 1e-15);
  EXPECT_NEAR(r2_score_mixhic_swapped({1, 2, 3}, {1, 2, 4}), 1.0 - 3.0 / 14.0, 1e-15);
  EXPECT_EQ(r2_score({2, 2, 2}, {2, 2, 2}), 1.0);  // sklearn force_finite
  EXPECT_EQ(r2_score({2, 2, 2}, {1, 2, 3}), 0.0);

  NanMean m = nan_mean({1, kNaN, 3});
  EXPECT_EQ(m.mean, 2.0);
  EXPECT_EQ(m.count, 2u);
  EXPECT_TRUE(std::isnan(nan_mean({kNaN}).mean));
}

TEST(MetricHand, LoopClassification) {
  // sklearn's documentation example: AUROC 0.75, average precision 5/6.
  const std::vector<double> y = {0, 0, 1, 1}, p = {0.1, 0.4, 0.35, 0.8};
  EXPECT_NEAR(auroc(y, p), 0.75, 1e-15);
  EXPECT_NEAR(average_precision(y, p), 5.0 / 6.0, 1e-15);
  ThresholdMetrics t = threshold_metrics(y, p);  // only 0.8 > 0.5
  EXPECT_EQ(t.tp, 1u);
  EXPECT_EQ(t.fp, 0u);
  EXPECT_EQ(t.fn, 1u);
  EXPECT_EQ(t.tn, 2u);
  EXPECT_NEAR(t.precision, 1.0, 1e-15);
  EXPECT_NEAR(t.recall, 0.5, 1e-15);
  EXPECT_NEAR(t.f1, 2.0 / 3.0, 1e-15);
  EXPECT_NEAR(t.accuracy, 0.75, 1e-15);

  // A positive tied with a negative at 0.5 earns 1/2 of a pair: (0.5 + 1 + 1 + 1) / 4. The tie
  // is one threshold for AP: {0.9}: P 1, R 1/2; {0.5}: P 2/3, R 1 -> 1/2 + 1/2 * 2/3.
  const std::vector<double> y2 = {1, 0, 0, 1}, p2 = {0.5, 0.5, 0.2, 0.9};
  EXPECT_NEAR(auroc(y2, p2), 0.875, 1e-15);
  EXPECT_NEAR(average_precision(y2, p2), 0.5 + 0.5 * 2.0 / 3.0, 1e-15);
  // Exactly 0.5 is negative, as the reference's int(x > 0.5).
  EXPECT_EQ(threshold_metrics(y2, p2).tp, 1u);
  EXPECT_EQ(threshold_metrics(y2, p2).fn, 1u);

  // Nothing predicted positive: precision 0 as sklearn's zero_division default; F1 0.
  ThresholdMetrics none = threshold_metrics(y, {0.1, 0.1, 0.2, 0.3});
  EXPECT_EQ(none.precision, 0.0);
  EXPECT_EQ(none.f1, 0.0);
  EXPECT_TRUE(std::isnan(auroc({1, 1}, {0.2, 0.3})));  // one class: undefined
  EXPECT_TRUE(std::isnan(average_precision({0, 0}, {0.2, 0.3})));

  EXPECT_THROW(auroc({0, 2}, {0.1, 0.2}), Error);
  EXPECT_THROW(auroc({0, 1}, {0.1, kNaN}), Error);
  EXPECT_THROW(auroc({0, 1}, {0.1}), Error);
}

TEST(MetricHand, MapsInsulationAndExpected) {
  // Two 3x3 maps: expected[d] averages diagonal d over both.
  ContactMaps m(2, 3);
  m.values = {1, 2, 3, 2, 1, 2, 3, 2, 1,  //
              3, 4, 5, 4, 3, 4, 5, 4, 3};
  EXPECT_EQ(expected_by_distance(m), (std::vector<double>{2, 3, 4}));
  ContactMaps e = expected_map(m, 2);
  EXPECT_EQ(e.values, (std::vector<double>{2, 3, 4, 3, 2, 3, 4, 3, 2, 2, 3, 4, 3, 2, 3, 4, 3, 2}));
  // A prediction equal to the distance decay is perfect per sample only if the truth is.
  EXPECT_NEAR(per_sample_pcc(e, m).mean, 1.0, 1e-15);
  // Each set minus its own mean map leaves nothing for the expected map: constant residuals.
  EXPECT_TRUE(std::isnan(oe_pcc_mean_map(e, m).mean));
  EXPECT_EQ(oe_pcc_mean_map(e, m).n_valid, 0u);

  // Insulation on a uniform map: every diamond averages to 1 -> score 1/median = 1 -> log2 0.
  std::vector<double> ones(16, 1.0);
  for (double v : insulation_track(ones.data(), 4, 2, 0)) EXPECT_EQ(v, 0.0);
  // 4x4, window 2, ignore_diags 1: the diamond of bin k is (k-a, k+b), a, b in {0, 1}, minus
  // (k, k) (a + b = 0 < 1) and pixels off the map.
  std::vector<double> m4 = {0, 2, 4, 0,  //
                            2, 0, 6, 8,  //
                            4, 6, 0, 10, //
                            0, 8, 10, 0};
  // bin 0: (0,1) -> 2; bin 1: (1,2),(0,1),(0,2) -> 4; bin 2: (2,3),(1,2),(1,3) -> 8; bin 3: (2,3) -> 10.
  // median 6: log2 of 1/3, 2/3, 4/3, 5/3.
  std::vector<double> ins = insulation_track(m4.data(), 4, 2, 1);
  const double want[] = {std::log2(2.0 / 6), std::log2(4.0 / 6), std::log2(8.0 / 6), std::log2(10.0 / 6)};
  for (size_t k = 0; k < 4; ++k) EXPECT_NEAR(ins[k], want[k], 1e-15) << k;

  // Distance-stratified on a 4x4 map: only d = 0, 1 have >= 3 pixels; ignore_diags 1 -> d = 1.
  ContactMaps t(1, 4), p(1, 4);
  t.values = {1, 2, 0, 0, 2, 3, 5, 0, 0, 5, 4, 9, 0, 0, 9, 1};
  p.values = {1, 1, 0, 0, 1, 2, 3, 0, 0, 3, 3, 4, 0, 0, 4, 0};
  DistanceStratifiedPcc d = distance_stratified_pcc(p, t, 1, 3);
  EXPECT_NEAR(d.mean_by_distance[1], pearson({1, 3, 4}, {2, 5, 9}), 1e-15);
  EXPECT_EQ(d.summary, d.mean_by_distance[1]);
  EXPECT_EQ(d.first_distance, 1u);
  EXPECT_EQ(d.last_distance, 1u);

  ContactMaps wrong(1, 5);
  EXPECT_THROW(per_sample_pcc(p, wrong), Error);
  ContactMaps torn(1, 4);
  torn.values.pop_back();
  EXPECT_THROW(pooled_map_metrics(torn, t), Error);
}

TEST(MetricTable, CsvJsonTextWithNaN) {
  MetricTable table({"model", "distance_decay"});
  table.set("pooled_pcc", "model", 0.5);
  table.set("pooled_pcc", "distance_decay", 0.25);
  table.set("insulation_pcc", "model", kNaN);
  table.set("auroc", "model", 0.1);
  EXPECT_EQ(table.metrics(), (std::vector<std::string>{"pooled_pcc", "insulation_pcc", "auroc"}));
  EXPECT_EQ(table.get("pooled_pcc", "distance_decay"), 0.25);
  EXPECT_TRUE(std::isnan(table.get("auroc", "distance_decay")));  // never set
  EXPECT_THROW(table.set("auroc", "nonsense", 1.0), Error);
  EXPECT_THROW(table.get("nonsense", "model"), Error);

  EXPECT_EQ(table.to_csv(),
            "metric,model,distance_decay\n"
            "pooled_pcc,0.5,0.25\n"
            "insulation_pcc,nan,nan\n"
            "auroc,0.1,nan\n");
  EXPECT_EQ(table.to_json(),
            "{\n  \"columns\": [\"model\", \"distance_decay\"],\n  \"rows\": [\n"
            "    {\"metric\": \"pooled_pcc\", \"model\": 0.5, \"distance_decay\": 0.25},\n"
            "    {\"metric\": \"insulation_pcc\", \"model\": null, \"distance_decay\": null},\n"
            "    {\"metric\": \"auroc\", \"model\": 0.1, \"distance_decay\": null}\n  ]\n}\n");
  EXPECT_EQ(table.to_text(3),
            "metric          model  distance_decay\n"
            "pooled_pcc      0.500           0.250\n"
            "insulation_pcc      -               -\n"
            "auroc           0.100               -\n");

  // What python reads back from the files: the same values, null for NaN.
  test::TempDir dir;
  table.write_json(dir / "m.json");
  table.write_csv(dir / "m.csv");
  auto r = test::run_command(
      test::python() + " -c \"import json,csv,sys; j=json.load(open(sys.argv[1])); "
                       "print([(row['metric'], row['model'], row['distance_decay']) for row in j['rows']]); "
                       "print(list(csv.reader(open(sys.argv[2])))[1:])\" " +
      (dir / "m.json") + " " + (dir / "m.csv"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output,
            "[('pooled_pcc', 0.5, 0.25), ('insulation_pcc', None, None), ('auroc', 0.1, None)]\n"
            "[['pooled_pcc', '0.5', '0.25'], ['insulation_pcc', 'nan', 'nan'], ['auroc', '0.1', 'nan']]\n");

  // Names that need quoting survive both formats.
  MetricTable odd({"a,b"});
  odd.set("say \"hi\"", "a,b", 1.0);
  EXPECT_EQ(odd.to_csv(), "metric,\"a,b\"\n\"say \"\"hi\"\"\",1\n");
  EXPECT_NE(odd.to_json().find("\"say \\\"hi\\\"\""), std::string::npos);
  EXPECT_THROW(table.write_csv("/nonexistent-dir/m.csv"), Error);
}
