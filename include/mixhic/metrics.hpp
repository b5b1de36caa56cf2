// metrics.hpp — the field's evaluation metrics for Hi-C map prediction, loop detection and
// expression prediction, in plain C++ (no LibTorch), plus the table mixhic-eval prints and writes.
//
// Called by mixhic-eval (model vs baselines) and unit-tested against scipy/sklearn/numpy on the
// same arrays (tests/test_metrics.cpp, tests/oracles/check_metrics.py). Each function names the
// reference it reproduces; where a reference is ambiguous or wrong, the comment says which
// reading was chosen. Definitions: ../shared/docs/mixhic-spec.md (beside the checkout) §4.2-4.4 and §6.1.
//
// NaN: the scalar correlations propagate NaN like scipy (any NaN in -> NaN out); functions
// documented as NaN-aware skip NaN pixels/pairs/samples instead and report how many counted.
// Size mismatches throw mixhic::Error naming the function and both sizes.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace mixhic::metrics {

// ---------------------------------------------------------------------------------------------
// Scalar metrics on two equally long vectors.

// scipy.stats.pearsonr(x, y)[0]: sum((x-mx)(y-my)) / (|x-mx| |y-my|), clipped to [-1, 1].
// NaN when n < 2, when either input is constant (scipy warns and returns NaN) or holds a NaN.
double pearson(const double* x, const double* y, size_t n);
double pearson(const std::vector<double>& x, const std::vector<double>& y);

// pearson over the pairs where both x and y are finite (C.Origami's insulation_pearson masks
// NaN the same way). NaN when fewer than 2 such pairs remain.
double pearson_finite(const std::vector<double>& x, const std::vector<double>& y);

// scipy.stats.rankdata(x, method="average"): 1-based ranks, ties get the mean of their ranks.
std::vector<double> average_ranks(const double* x, size_t n);

// scipy.stats.spearmanr(x, y).correlation: pearson of the average ranks. NaN if any NaN.
double spearman(const double* x, const double* y, size_t n);
double spearman(const std::vector<double>& x, const std::vector<double>& y);

// sklearn.metrics.r2_score(y_true, y_pred) = 1 - sum((t-p)^2) / sum((t-mean(t))^2). As sklearn
// (force_finite): a constant y_true gives 1.0 for a perfect prediction and 0.0 otherwise.
double r2_score(const double* y_true, const double* y_pred, size_t n);
double r2_score(const std::vector<double>& y_true, const std::vector<double>& y_pred);

// r2_score(y_pred, y_true): the MIX-HIC reference calls `r2_score(pred, target)` with the
// arguments swapped (trainer_finetune_map.py, cage_seq_expression_prediction.py), so its
// published R² divides by the variance of the *predictions*. It is not a coefficient of
// determination (a prediction squeezed towards its mean scores worse, an inflated one better);
// it exists only so mixhic-eval can print the number comparable to the paper's tables, next to
// the correctly ordered r2_score.
double r2_score_mixhic_swapped(const std::vector<double>& y_true, const std::vector<double>& y_pred);

// Mean of the non-NaN values and how many there were (NaN when none).
struct NanMean {
  double mean = 0;
  size_t count = 0;
};
NanMean nan_mean(const std::vector<double>& values);

// ---------------------------------------------------------------------------------------------
// Regression (CAGE expression, §4.4): over all values (bins x genes) flattened, as the reference.

struct RegressionMetrics {
  double pcc = 0, spearman = 0;
  double r2 = 0;          // sklearn r2_score(y_true, y_pred): the correct order
  double r2_swapped = 0;  // r2_score(y_pred, y_true): what MIX-HIC published (see above)
  size_t n = 0;
};
RegressionMetrics regression_metrics(const std::vector<double>& y_true, const std::vector<double>& y_pred);

// ---------------------------------------------------------------------------------------------
// Binary classification (loop detection, §4.2). labels are 0 or 1 (anything else throws);
// scores are probabilities. NaN scores are not allowed (sklearn raises; we throw).

// sklearn.metrics.roc_auc_score: area under the ROC curve with tied scores forming one
// threshold (a diagonal segment), i.e. the Mann-Whitney U / (P N) with ties counted as 1/2.
// NaN when only one class is present (sklearn raises).
double auroc(const std::vector<double>& labels, const std::vector<double>& scores);

// sklearn.metrics.average_precision_score: sum over distinct thresholds (descending) of
// (R_k - R_{k-1}) P_k, no interpolation. The reference does not compute it; we add it because
// the negatives are capped 1:1 (§6.1). NaN when there is no positive.
double average_precision(const std::vector<double>& labels, const std::vector<double>& scores);

// Confusion counts and sklearn precision/recall/F1/accuracy with positives = score > threshold,
// strictly: the reference predicts `int(x > 0.5)` (trainer_finetune_loop.py), so a score of
// exactly 0.5 is negative. Undefined ratios are 0 as sklearn's default zero_division="warn".
struct ThresholdMetrics {
  size_t tp = 0, fp = 0, tn = 0, fn = 0;
  double precision = 0, recall = 0, f1 = 0, accuracy = 0;
};
ThresholdMetrics threshold_metrics(const std::vector<double>& labels, const std::vector<double>& scores,
                                   double threshold = 0.5);

struct ClassificationMetrics {
  double auroc = 0, auprc = 0;
  ThresholdMetrics at_threshold;
  size_t n = 0, n_positive = 0;
};
ClassificationMetrics classification_metrics(const std::vector<double>& labels,
                                             const std::vector<double>& scores, double threshold = 0.5);

// ---------------------------------------------------------------------------------------------
// Contact maps (Hi-C map prediction, §4.3 and §6.1).

// `count` square maps of width x width, each row-major, one after the other (sample-major).
struct ContactMaps {
  size_t count = 0, width = 0;
  std::vector<double> values;

  ContactMaps() = default;
  ContactMaps(size_t count_, size_t width_) : count(count_), width(width_), values(count_ * width_ * width_) {}
  const double* map(size_t s) const { return values.data() + s * width * width; }
  double* map(size_t s) { return values.data() + s * width * width; }
  double at(size_t s, size_t i, size_t j) const { return values[(s * width + i) * width + j]; }
};

// Which pixels of a map the pixel-wise metrics use. kFull is what the reference flattens; on a
// symmetric map kUpperTriangle (j >= i, diagonal included) counts each contact once.
enum class MapPixels { kFull, kUpperTriangle };

// MIX-HIC's map metrics (trainer_finetune_map.py): pearsonr/spearmanr/r2_score over the pixels
// of all samples flattened into one vector. Dominated by distance decay; kept to reproduce the
// paper's numbers, not as evidence.
struct PooledMapMetrics {
  double pcc = 0, spearman = 0, r2 = 0, r2_swapped = 0;
  size_t n_pixels = 0;
};
PooledMapMetrics pooled_map_metrics(const ContactMaps& pred, const ContactMaps& truth,
                                    MapPixels pixels = MapPixels::kFull);

// A metric computed per sample: the per-sample values (NaN where undefined) and their mean over
// the samples where it is defined (`n_valid` of them).
struct PerSampleMetric {
  std::vector<double> per_sample;
  double mean = 0;
  size_t n_valid = 0;
};

// pearson(pred_s, truth_s) over the selected pixels of each sample; NaN for a constant map.
PerSampleMetric per_sample_pcc(const ContactMaps& pred, const ContactMaps& truth,
                               MapPixels pixels = MapPixels::kFull);

// C.Origami's distance_stratified_correlation: for each sample and diagonal offset d >= 0,
// r(s, d) = pearson(np.diagonal(pred_s, d), np.diagonal(truth_s, d)). Per d, the mean over the
// samples where r is defined (a constant diagonal, or a NaN pixel on it, makes r NaN and the
// sample is skipped for that d); only d with at least `min_points` pixels (width - d) are
// evaluated, because a 2-point "correlation" is always ±1. `summary` is the mean of the per-d
// means over d in [ignore_diags, width - min_points] (every d equally weighted), so that the
// first diagonals, which Hi-C protocols discard, do not count (§6.1 recommendation).
struct DistanceStratifiedPcc {
  std::vector<double> mean_by_distance;     // index d, NaN where no sample was defined
  std::vector<size_t> samples_by_distance;  // how many samples contributed to each d
  double summary = 0;
  size_t first_distance = 0, last_distance = 0;  // the range summary averages over (inclusive)
};
DistanceStratifiedPcc distance_stratified_pcc(const ContactMaps& pred, const ContactMaps& truth,
                                              size_t ignore_diags = 2, size_t min_points = 3);

// cooltools diamond insulation (cooltools/api/insulation.py: insul_diamond, then
// _get_region_insulation), on one dense map of width w. For bin k:
//   S(k) = sum of M[k-a][k+b] over a, b in [0, window) with a + b >= ignore_diags,
//          0 <= k-a and k+b < w, and M[k-a][k+b] not NaN; n(k) = number of such pixels;
//   score(k) = S(k) / n(k);  score /= nanmedian(score);  score == 0 -> NaN;  log2;
//   non-finite -> NaN.
// Only the upper triangle (column >= row) is read, as cooltools reads a cooler's pixel table.
// cooltools counts a pixel as invalid only when its bin's balancing weight is NaN (a bad bin);
// a NaN-filled row/column here is exactly that, and an isolated NaN pixel is also left out of
// n(k) (the dense generalisation). window is in bins (window_bp / bin size).
std::vector<double> insulation_track(const double* map, size_t width, size_t window, size_t ignore_diags = 2);

// Per sample, pearson_finite of the predicted and true log2 insulation tracks (bins where
// either is NaN are skipped, as C.Origami's insulation_pearson), then the mean over samples.
// C.Origami uses its own ratio score (§6.1); we use cooltools' diamond score, the field's
// standard one, because C.Origami's 50-bin radius does not fit a 50-bin window.
PerSampleMetric insulation_pcc(const ContactMaps& pred, const ContactMaps& truth, size_t window = 10,
                               size_t ignore_diags = 2);

// C.Origami's observed_vs_expected (metrics.py): subtract from the predictions the per-pixel
// mean of all predicted maps, and from the targets the per-pixel mean of all target maps (each
// set its own mean map, as that code does), then per-sample pearson of the flattened residuals.
// Not cooltools O/E: the "expected" is a mean map, which also removes position effects.
PerSampleMetric oe_pcc_mean_map(const ContactMaps& pred, const ContactMaps& truth,
                                MapPixels pixels = MapPixels::kFull);

// The mean contact at each diagonal offset d over all maps: expected[d] = nanmean of
// np.diagonal(M_s, d) over all samples s and positions (cooltools expected_cis without
// smoothing, pooled over the windows of a set). NaN where a diagonal has no finite pixel.
std::vector<double> expected_by_distance(const ContactMaps& maps);

// The distance-decay baseline: `count` copies of a width x width map with expected[|i - j|] at
// (i, j), expected from `train` (expected_by_distance). Used as a constant prediction; a model
// must beat it on every metric above for its maps to show more than distance decay.
ContactMaps expected_map(const ContactMaps& train, size_t count = 1);

// Observed/expected PCC, cooltools style: O/E(i, j) = M(i, j) / expected[|i - j|], with the
// same `expected` (from the *truth*, e.g. expected_by_distance(truth)) applied to both pred and
// truth, then per-sample pearson of log(O/E) over the selected pixels where both log(O/E) are
// finite (zero contacts and empty diagonals are skipped). A distance-only prediction (the
// expected map) has one log O/E value per diagonal, so it scores only by how well distance
// alone explains the residual contrast; with expected taken from itself it is constant (NaN).
PerSampleMetric oe_pcc_expected(const ContactMaps& pred, const ContactMaps& truth,
                                const std::vector<double>& expected, MapPixels pixels = MapPixels::kFull);
// With expected = expected_by_distance(truth).
PerSampleMetric oe_pcc_expected(const ContactMaps& pred, const ContactMaps& truth,
                                MapPixels pixels = MapPixels::kFull);

// ---------------------------------------------------------------------------------------------
// MetricTable: the rows mixhic-eval prints and writes, metric name -> one value per column
// ("model", then one column per baseline). Rows keep their insertion order; a cell never set is
// NaN. NaN/inf are written as null in JSON, "nan" in CSV and "-" in the text table.

class MetricTable {
 public:
  explicit MetricTable(std::vector<std::string> columns);

  // Sets (or overwrites) one cell; a new metric appends a row, an unknown column throws.
  void set(const std::string& metric, const std::string& column, double value);
  double get(const std::string& metric, const std::string& column) const;  // throws if absent

  const std::vector<std::string>& columns() const { return columns_; }
  const std::vector<std::string>& metrics() const { return metrics_; }

  // "metric,model,...\n" then one line per row; values in the shortest text that reads back to
  // the same double.
  std::string to_csv() const;
  // {"columns": [...], "rows": [{"metric": "...", "<column>": value|null, ...}, ...]}
  std::string to_json() const;
  // Aligned columns, values with `digits` decimals, for the terminal.
  std::string to_text(int digits = 4) const;

  // Writes to_csv()/to_json() to `path`; throws mixhic::Error naming the path on failure.
  void write_csv(const std::string& path) const;
  void write_json(const std::string& path) const;

 private:
  size_t column_index(const std::string& column) const;
  size_t row_index(const std::string& metric) const;  // npos when absent

  std::vector<std::string> columns_;
  std::vector<std::string> metrics_;
  std::vector<std::vector<double>> values_;  // [row][column]
};

}  // namespace mixhic::metrics
