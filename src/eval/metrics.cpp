// metrics.cpp — see include/mixhic/metrics.hpp for the definitions and the references they follow.
#include "mixhic/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "mixhic/check.hpp"
#include "mixhic/output_files.hpp"

namespace mixhic::metrics {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void require_same_size(size_t a, size_t b, const char* fn) {
  MIXHIC_REQUIRE(a == b, "{}: the two inputs differ in length: {} vs {} values", fn, a, b);
}

// Sums in long double (64-bit mantissa on x86): the pooled metrics add up ~10^5-10^6 terms and
// must still agree with numpy's pairwise sums to ~1e-12.
using Acc = long double;

double mean_of(const double* x, size_t n) {
  Acc s = 0;
  for (size_t i = 0; i < n; ++i) s += x[i];
  return static_cast<double>(s / static_cast<Acc>(n));
}

bool any_nan(const double* x, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (std::isnan(x[i])) return true;
  return false;
}

double nan_median(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return std::isnan(x); }), v.end());
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

void require_labels(const std::vector<double>& labels, const std::vector<double>& scores, const char* fn) {
  require_same_size(labels.size(), scores.size(), fn);
  for (size_t i = 0; i < labels.size(); ++i) {
    MIXHIC_REQUIRE(labels[i] == 0.0 || labels[i] == 1.0, "{}: label {} is {}, expected 0 or 1", fn, i, labels[i]);
    MIXHIC_REQUIRE(!std::isnan(scores[i]), "{}: score {} is NaN, expected a probability", fn, i);
  }
}

void require_maps(const ContactMaps& m, const char* fn, const char* which) {
  MIXHIC_REQUIRE(m.values.size() == m.count * m.width * m.width,
                 "{}: {} maps hold {} values, expected count*width*width = {}*{}*{}", fn, which,
                 m.values.size(), m.count, m.width, m.width);
}

void require_same_maps(const ContactMaps& pred, const ContactMaps& truth, const char* fn) {
  require_maps(pred, fn, "predicted");
  require_maps(truth, fn, "true");
  MIXHIC_REQUIRE(pred.count == truth.count && pred.width == truth.width,
                 "{}: predicted maps are {} x {}x{}, true maps {} x {}x{}; expected the same shape", fn,
                 pred.count, pred.width, pred.width, truth.count, truth.width, truth.width);
}

// The selected pixels of sample s, row-major (the order np.triu_indices / reshape(-1) give).
void gather(const ContactMaps& m, size_t s, MapPixels pixels, std::vector<double>& out) {
  const double* p = m.map(s);
  const size_t w = m.width;
  if (pixels == MapPixels::kFull) {
    out.insert(out.end(), p, p + w * w);
    return;
  }
  for (size_t i = 0; i < w; ++i) out.insert(out.end(), p + i * w + i, p + (i + 1) * w);
}

PerSampleMetric finish(std::vector<double> per_sample) {
  PerSampleMetric r;
  NanMean m = nan_mean(per_sample);
  r.per_sample = std::move(per_sample);
  r.mean = m.mean;
  r.n_valid = m.count;
  return r;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

double pearson(const double* x, const double* y, size_t n) {
  if (n < 2 || any_nan(x, n) || any_nan(y, n)) return kNaN;
  // scipy returns NaN (ConstantInputWarning) when either input is exactly constant.
  if (std::all_of(x, x + n, [&](double v) { return v == x[0]; }) ||
      std::all_of(y, y + n, [&](double v) { return v == y[0]; }))
    return kNaN;
  const double mx = mean_of(x, n), my = mean_of(y, n);
  Acc sxx = 0, syy = 0, sxy = 0;
  for (size_t i = 0; i < n; ++i) {
    const Acc dx = x[i] - mx, dy = y[i] - my;
    sxx += dx * dx;
    syy += dy * dy;
    sxy += dx * dy;
  }
  const double r = static_cast<double>(sxy / (std::sqrt(sxx) * std::sqrt(syy)));
  return std::clamp(r, -1.0, 1.0);
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  require_same_size(x.size(), y.size(), "pearson");
  return pearson(x.data(), y.data(), x.size());
}

double pearson_finite(const std::vector<double>& x, const std::vector<double>& y) {
  require_same_size(x.size(), y.size(), "pearson_finite");
  std::vector<double> fx, fy;
  for (size_t i = 0; i < x.size(); ++i)
    if (std::isfinite(x[i]) && std::isfinite(y[i])) {
      fx.push_back(x[i]);
      fy.push_back(y[i]);
    }
  return pearson(fx, fy);
}

std::vector<double> average_ranks(const double* x, size_t n) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] < x[b]; });
  std::vector<double> ranks(n);
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && x[order[j]] == x[order[i]]) ++j;
    // Ranks i+1 .. j share their mean.
    const double r = 0.5 * static_cast<double>(i + 1 + j);
    for (size_t k = i; k < j; ++k) ranks[order[k]] = r;
    i = j;
  }
  return ranks;
}

double spearman(const double* x, const double* y, size_t n) {
  if (n < 2 || any_nan(x, n) || any_nan(y, n)) return kNaN;
  std::vector<double> rx = average_ranks(x, n), ry = average_ranks(y, n);
  return pearson(rx.data(), ry.data(), n);
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  require_same_size(x.size(), y.size(), "spearman");
  return spearman(x.data(), y.data(), x.size());
}

double r2_score(const double* y_true, const double* y_pred, size_t n) {
  if (n < 2) return kNaN;  // sklearn: "R^2 score is not well-defined with less than two samples"
  const double mt = mean_of(y_true, n);
  Acc num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    const Acc e = static_cast<Acc>(y_true[i]) - y_pred[i];
    const Acc d = static_cast<Acc>(y_true[i]) - mt;
    num += e * e;
    den += d * d;
  }
  if (den == 0) return num == 0 ? 1.0 : 0.0;  // sklearn's force_finite
  return static_cast<double>(1 - num / den);
}

double r2_score(const std::vector<double>& y_true, const std::vector<double>& y_pred) {
  require_same_size(y_true.size(), y_pred.size(), "r2_score");
  return r2_score(y_true.data(), y_pred.data(), y_true.size());
}

double r2_score_mixhic_swapped(const std::vector<double>& y_true, const std::vector<double>& y_pred) {
  require_same_size(y_true.size(), y_pred.size(), "r2_score_mixhic_swapped");
  return r2_score(y_pred.data(), y_true.data(), y_true.size());
}

NanMean nan_mean(const std::vector<double>& values) {
  NanMean m;
  Acc s = 0;
  for (double v : values)
    if (!std::isnan(v)) {
      s += v;
      ++m.count;
    }
  m.mean = m.count ? static_cast<double>(s / static_cast<Acc>(m.count)) : kNaN;
  return m;
}

RegressionMetrics regression_metrics(const std::vector<double>& y_true, const std::vector<double>& y_pred) {
  require_same_size(y_true.size(), y_pred.size(), "regression_metrics");
  RegressionMetrics r;
  r.n = y_true.size();
  r.pcc = pearson(y_pred, y_true);
  r.spearman = spearman(y_pred, y_true);
  r.r2 = r2_score(y_true, y_pred);
  r.r2_swapped = r2_score_mixhic_swapped(y_true, y_pred);
  return r;
}

// ---------------------------------------------------------------------------------------------

double auroc(const std::vector<double>& labels, const std::vector<double>& scores) {
  require_labels(labels, scores, "auroc");
  const size_t n = labels.size();
  size_t n_pos = 0;
  for (double l : labels) n_pos += l == 1.0;
  const size_t n_neg = n - n_pos;
  if (n_pos == 0 || n_neg == 0) return kNaN;
  // With average ranks, a positive tied with a negative earns 1/2: the trapezoid sklearn draws
  // across a tied threshold.
  std::vector<double> ranks = average_ranks(scores.data(), n);
  Acc rank_sum = 0;
  for (size_t i = 0; i < n; ++i)
    if (labels[i] == 1.0) rank_sum += ranks[i];
  const Acc u = rank_sum - static_cast<Acc>(n_pos) * (n_pos + 1) / 2;
  return static_cast<double>(u / (static_cast<Acc>(n_pos) * n_neg));
}

double average_precision(const std::vector<double>& labels, const std::vector<double>& scores) {
  require_labels(labels, scores, "average_precision");
  const size_t n = labels.size();
  size_t n_pos = 0;
  for (double l : labels) n_pos += l == 1.0;
  if (n_pos == 0) return kNaN;
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  size_t tp = 0, fp = 0;
  double ap = 0, prev_recall = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    // One threshold per distinct score: all tied samples enter at once.
    for (; j < n && scores[order[j]] == scores[order[i]]; ++j) (labels[order[j]] == 1.0 ? tp : fp)++;
    const double precision = static_cast<double>(tp) / static_cast<double>(tp + fp);
    const double recall = static_cast<double>(tp) / static_cast<double>(n_pos);
    ap += (recall - prev_recall) * precision;
    prev_recall = recall;
    i = j;
  }
  return ap;
}

ThresholdMetrics threshold_metrics(const std::vector<double>& labels, const std::vector<double>& scores,
                                   double threshold) {
  require_labels(labels, scores, "threshold_metrics");
  ThresholdMetrics t;
  for (size_t i = 0; i < labels.size(); ++i) {
    const bool predicted = scores[i] > threshold;
    const bool actual = labels[i] == 1.0;
    (predicted ? (actual ? t.tp : t.fp) : (actual ? t.fn : t.tn))++;
  }
  auto ratio = [](size_t a, size_t b) { return b ? static_cast<double>(a) / static_cast<double>(b) : 0.0; };
  t.precision = ratio(t.tp, t.tp + t.fp);
  t.recall = ratio(t.tp, t.tp + t.fn);
  t.f1 = t.precision + t.recall > 0 ? 2 * t.precision * t.recall / (t.precision + t.recall) : 0.0;
  t.accuracy = ratio(t.tp + t.tn, labels.size());
  return t;
}

ClassificationMetrics classification_metrics(const std::vector<double>& labels,
                                             const std::vector<double>& scores, double threshold) {
  ClassificationMetrics c;
  c.auroc = auroc(labels, scores);
  c.auprc = average_precision(labels, scores);
  c.at_threshold = threshold_metrics(labels, scores, threshold);
  c.n = labels.size();
  c.n_positive = c.at_threshold.tp + c.at_threshold.fn;
  return c;
}

// ---------------------------------------------------------------------------------------------

PooledMapMetrics pooled_map_metrics(const ContactMaps& pred, const ContactMaps& truth, MapPixels pixels) {
  require_same_maps(pred, truth, "pooled_map_metrics");
  std::vector<double> p, t;
  for (size_t s = 0; s < pred.count; ++s) {
    gather(pred, s, pixels, p);
    gather(truth, s, pixels, t);
  }
  const RegressionMetrics r = regression_metrics(t, p);  // the same four numbers, on the pixels
  PooledMapMetrics m;
  m.n_pixels = r.n;
  m.pcc = r.pcc;
  m.spearman = r.spearman;
  m.r2 = r.r2;
  m.r2_swapped = r.r2_swapped;
  return m;
}

PerSampleMetric per_sample_pcc(const ContactMaps& pred, const ContactMaps& truth, MapPixels pixels) {
  require_same_maps(pred, truth, "per_sample_pcc");
  std::vector<double> r(pred.count), p, t;
  for (size_t s = 0; s < pred.count; ++s) {
    p.clear();
    t.clear();
    gather(pred, s, pixels, p);
    gather(truth, s, pixels, t);
    r[s] = pearson(p, t);
  }
  return finish(std::move(r));
}

DistanceStratifiedPcc distance_stratified_pcc(const ContactMaps& pred, const ContactMaps& truth,
                                              size_t ignore_diags, size_t min_points) {
  require_same_maps(pred, truth, "distance_stratified_pcc");
  MIXHIC_REQUIRE(min_points >= 2, "distance_stratified_pcc: min_points is {}, expected >= 2", min_points);
  const size_t w = pred.width;
  DistanceStratifiedPcc out;
  out.mean_by_distance.assign(w, kNaN);
  out.samples_by_distance.assign(w, 0);
  std::vector<double> dp, dt;
  for (size_t d = 0; d + min_points <= w; ++d) {
    Acc sum = 0;
    size_t count = 0;
    for (size_t s = 0; s < pred.count; ++s) {
      dp.clear();
      dt.clear();
      for (size_t i = 0; i + d < w; ++i) {
        dp.push_back(pred.at(s, i, i + d));
        dt.push_back(truth.at(s, i, i + d));
      }
      const double r = pearson(dp, dt);
      if (std::isnan(r)) continue;
      sum += r;
      ++count;
    }
    out.samples_by_distance[d] = count;
    if (count) out.mean_by_distance[d] = static_cast<double>(sum / static_cast<Acc>(count));
  }
  out.first_distance = ignore_diags;
  out.last_distance = w >= min_points ? w - min_points : 0;
  std::vector<double> in_range;
  for (size_t d = out.first_distance; d <= out.last_distance && d < w && w >= min_points; ++d)
    in_range.push_back(out.mean_by_distance[d]);
  out.summary = nan_mean(in_range).mean;
  return out;
}

std::vector<double> insulation_track(const double* map, size_t width, size_t window, size_t ignore_diags) {
  MIXHIC_REQUIRE(window >= 1, "insulation_track: window is {} bins, expected >= 1", window);
  std::vector<double> score(width, kNaN);
  for (size_t k = 0; k < width; ++k) {
    Acc sum = 0;
    size_t valid = 0;
    for (size_t a = 0; a < window && a <= k; ++a)
      for (size_t b = 0; b < window && k + b < width; ++b) {
        if (a + b < ignore_diags) continue;
        const double v = map[(k - a) * width + (k + b)];
        if (std::isnan(v)) continue;
        sum += v;
        ++valid;
      }
    if (valid) score[k] = static_cast<double>(sum / static_cast<Acc>(valid));
  }
  const double median = nan_median(score);
  for (double& s : score) {
    s /= median;
    s = s == 0 ? kNaN : std::log2(s);
    if (!std::isfinite(s)) s = kNaN;
  }
  return score;
}

PerSampleMetric insulation_pcc(const ContactMaps& pred, const ContactMaps& truth, size_t window,
                               size_t ignore_diags) {
  require_same_maps(pred, truth, "insulation_pcc");
  std::vector<double> r(pred.count);
  for (size_t s = 0; s < pred.count; ++s) {
    std::vector<double> ip = insulation_track(pred.map(s), pred.width, window, ignore_diags);
    std::vector<double> it = insulation_track(truth.map(s), truth.width, window, ignore_diags);
    r[s] = pearson_finite(ip, it);
  }
  return finish(std::move(r));
}

PerSampleMetric oe_pcc_mean_map(const ContactMaps& pred, const ContactMaps& truth, MapPixels pixels) {
  require_same_maps(pred, truth, "oe_pcc_mean_map");
  const size_t area = pred.width * pred.width;
  auto residuals = [&](const ContactMaps& m) {
    std::vector<Acc> mean(area, 0);
    for (size_t s = 0; s < m.count; ++s)
      for (size_t k = 0; k < area; ++k) mean[k] += m.map(s)[k];
    ContactMaps r(m.count, m.width);
    for (size_t s = 0; s < m.count; ++s)
      for (size_t k = 0; k < area; ++k)
        r.map(s)[k] = m.map(s)[k] - static_cast<double>(mean[k] / static_cast<Acc>(m.count));
    return r;
  };
  return per_sample_pcc(residuals(pred), residuals(truth), pixels);
}

std::vector<double> expected_by_distance(const ContactMaps& maps) {
  require_maps(maps, "expected_by_distance", "input");
  const size_t w = maps.width;
  std::vector<double> expected(w, kNaN);
  for (size_t d = 0; d < w; ++d) {
    Acc sum = 0;
    size_t n = 0;
    for (size_t s = 0; s < maps.count; ++s)
      for (size_t i = 0; i + d < w; ++i) {
        const double v = maps.at(s, i, i + d);
        if (std::isnan(v)) continue;
        sum += v;
        ++n;
      }
    if (n) expected[d] = static_cast<double>(sum / static_cast<Acc>(n));
  }
  return expected;
}

ContactMaps expected_map(const ContactMaps& train, size_t count) {
  const std::vector<double> expected = expected_by_distance(train);
  const size_t w = train.width;
  ContactMaps out(count, w);
  for (size_t s = 0; s < count; ++s)
    for (size_t i = 0; i < w; ++i)
      for (size_t j = 0; j < w; ++j) out.map(s)[i * w + j] = expected[i > j ? i - j : j - i];
  return out;
}

PerSampleMetric oe_pcc_expected(const ContactMaps& pred, const ContactMaps& truth,
                                const std::vector<double>& expected, MapPixels pixels) {
  require_same_maps(pred, truth, "oe_pcc_expected");
  const size_t w = pred.width;
  MIXHIC_REQUIRE(expected.size() == w, "oe_pcc_expected: expected has {} distances, expected width {}",
                 expected.size(), w);
  std::vector<double> r(pred.count), lp, lt;
  for (size_t s = 0; s < pred.count; ++s) {
    lp.clear();
    lt.clear();
    for (size_t i = 0; i < w; ++i)
      for (size_t j = pixels == MapPixels::kFull ? 0 : i; j < w; ++j) {
        const double e = expected[i > j ? i - j : j - i];
        const double op = std::log(pred.at(s, i, j) / e), ot = std::log(truth.at(s, i, j) / e);
        if (!std::isfinite(op) || !std::isfinite(ot)) continue;
        lp.push_back(op);
        lt.push_back(ot);
      }
    r[s] = pearson(lp, lt);
  }
  return finish(std::move(r));
}

PerSampleMetric oe_pcc_expected(const ContactMaps& pred, const ContactMaps& truth, MapPixels pixels) {
  return oe_pcc_expected(pred, truth, expected_by_distance(truth), pixels);
}

// ---------------------------------------------------------------------------------------------

namespace {

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20)
          out += fmt::format("\\u{:04x}", c);
        else
          out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// fmt's "{}" is the shortest representation that reads back to the same double.
std::string number(double v, const char* non_finite) { return std::isfinite(v) ? fmt::format("{}", v) : non_finite; }

}  // namespace

MetricTable::MetricTable(std::vector<std::string> columns) : columns_(std::move(columns)) {
  MIXHIC_REQUIRE(!columns_.empty(), "MetricTable: expected at least one column (e.g. \"model\")");
}

size_t MetricTable::column_index(const std::string& column) const {
  auto it = std::find(columns_.begin(), columns_.end(), column);
  MIXHIC_REQUIRE(it != columns_.end(), "MetricTable: no column \"{}\" (columns: {})", column,
                 fmt::join(columns_, ", "));
  return static_cast<size_t>(it - columns_.begin());
}

size_t MetricTable::row_index(const std::string& metric) const {
  auto it = std::find(metrics_.begin(), metrics_.end(), metric);
  return it == metrics_.end() ? std::string::npos : static_cast<size_t>(it - metrics_.begin());
}

void MetricTable::set(const std::string& metric, const std::string& column, double value) {
  const size_t c = column_index(column);
  size_t r = row_index(metric);
  if (r == std::string::npos) {
    r = metrics_.size();
    metrics_.push_back(metric);
    values_.emplace_back(columns_.size(), kNaN);
  }
  values_[r][c] = value;
}

double MetricTable::get(const std::string& metric, const std::string& column) const {
  const size_t c = column_index(column);
  const size_t r = row_index(metric);
  MIXHIC_REQUIRE(r != std::string::npos, "MetricTable: no metric \"{}\"", metric);
  return values_[r][c];
}

std::string MetricTable::to_csv() const {
  std::string out = "metric";
  for (const auto& c : columns_) out += "," + csv_field(c);
  out += "\n";
  for (size_t r = 0; r < metrics_.size(); ++r) {
    out += csv_field(metrics_[r]);
    for (double v : values_[r]) out += "," + number(v, "nan");
    out += "\n";
  }
  return out;
}

std::string MetricTable::to_json() const {
  std::string out = "{\n  \"columns\": [";
  for (size_t c = 0; c < columns_.size(); ++c) out += (c ? ", " : "") + json_string(columns_[c]);
  out += "],\n  \"rows\": [";
  for (size_t r = 0; r < metrics_.size(); ++r) {
    out += r ? ",\n    {" : "\n    {";
    out += "\"metric\": " + json_string(metrics_[r]);
    for (size_t c = 0; c < columns_.size(); ++c)
      out += ", " + json_string(columns_[c]) + ": " + number(values_[r][c], "null");
    out += "}";
  }
  out += metrics_.empty() ? "]\n}\n" : "\n  ]\n}\n";
  return out;
}

std::string MetricTable::to_text(int digits) const {
  std::vector<std::vector<std::string>> cells(metrics_.size() + 1);
  cells[0].push_back("metric");
  for (const auto& c : columns_) cells[0].push_back(c);
  for (size_t r = 0; r < metrics_.size(); ++r) {
    cells[r + 1].push_back(metrics_[r]);
    for (double v : values_[r]) cells[r + 1].push_back(std::isfinite(v) ? fmt::format("{:.{}f}", v, digits) : "-");
  }
  std::vector<size_t> width(columns_.size() + 1, 0);
  for (const auto& row : cells)
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  std::string out;
  for (const auto& row : cells) {
    // Metric names left-aligned, numbers right-aligned so their decimal points line up.
    out += fmt::format("{:<{}}", row[0], width[0]);
    for (size_t c = 1; c < row.size(); ++c) out += fmt::format("  {:>{}}", row[c], width[c]);
    out += "\n";
  }
  return out;
}

void MetricTable::write_csv(const std::string& path) const { replace_file(path, to_csv()); }
void MetricTable::write_json(const std::string& path) const { replace_file(path, to_json()); }

}  // namespace mixhic::metrics
