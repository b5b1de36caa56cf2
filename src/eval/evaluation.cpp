// mixhic-eval's run: predictions gathered on rank 0, metrics, and the files users open
// (see include/mixhic/evaluation.hpp).
#include "mixhic/evaluation.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>

#include "mixhic/batch_loader.hpp"
#include "mixhic/check.hpp"
#include "mixhic/checkpoint.hpp"
#include "mixhic/compute_threads.hpp"
#include "mixhic/cool_writer.hpp"
#include "mixhic/corpus.hpp"
#include "mixhic/figure.hpp"
#include "mixhic/log.hpp"
#include "mixhic/metrics.hpp"
#include "mixhic/model.hpp"
#include "mixhic/model_config.hpp"
#include "mixhic/output_files.hpp"
#include "mixhic/run_state.hpp"
#include "mixhic/state_dict.hpp"

namespace mixhic {

namespace fs = std::filesystem;

po::options_description eval_options(EvalConfig& c) {
  po::options_description t("mixhic-eval options (config-file keys are the same names without --)");
  t.add_options()
      ("corpus", po::value(&c.corpus), "corpus written by mixhic-prep (required)")
      ("model", po::value(&c.models)->composing(), "NAME=RUN_DIR of a fine-tuned model (repeatable; one table column each)")
      ("split", po::value(&c.split)->default_value(c.split), "train | val | test")
      ("baseline-corpus", po::value(&c.baseline_corpus)->default_value(c.baseline_corpus), "hic_map: the corpus whose train split gives the distance-decay baseline (default: --corpus; another cell type's corpus when --split train scores an unseen cell type)")
      ("out-dir", po::value(&c.out_dir)->default_value(c.out_dir), "directory for metrics.csv, metrics.json, .cool, .png, .tsv")
      ("batch", po::value(&c.batch)->default_value(c.batch), "samples per forward pass on each rank")
      ("figures", po::value(&c.figures)->default_value(c.figures), "hic_map: true-vs-predicted PNGs of this many samples")
      ("ignore-diagonals", po::value(&c.ignore_diagonals)->default_value(c.ignore_diagonals), "distance-stratified PCC and insulation skip diagonals |i-j| below this (cooltools: 2)")
      ("insulation-window", po::value(&c.insulation_window)->default_value(c.insulation_window), "insulation diamond side in bins (0: window-bins / 5, at least 2)")
      ("write-cool", po::value(&c.write_cool)->default_value(c.write_cool), "hic_map: write truth.CELL.cool and NAME.CELL.cool")
      ("threads", po::value(&c.threads)->default_value(c.threads), "intra-op threads per rank (0: the node's cores / ranks on the node)");
  return t;
}

void EvalConfig::validate() const {
  auto need = [](bool ok, const char* key, const std::string& what) {
    if (!ok) throw ConfigError(fmt::format("{}: {}", key, what));
  };
  need(!corpus.empty(), "corpus", "required: the corpus file written by mixhic-prep");
  need(!models.empty(), "model", "at least one --model NAME=RUN_DIR");
  for (const auto& m : models)
    need(m.find('=') != std::string::npos && m.find('=') > 0 && m.find('=') + 1 < m.size(), "model",
         fmt::format("'{}': expected NAME=RUN_DIR", m));
  need(split == "train" || split == "val" || split == "test", "split", "train | val | test");
  need(batch >= 1, "batch", "must be >= 1");
  need(figures >= 0, "figures", "must be >= 0");
  need(ignore_diagonals >= 0, "ignore-diagonals", "must be >= 0");
  need(insulation_window >= 0, "insulation-window", "must be >= 0");
}

namespace {

struct EvalModel {
  std::string name, checkpoint;
  ModelConfig config;
  std::string loop_modality = "bimodal";
  MixHicModel net{nullptr};
};

EvalModel load_model(const std::string& spec, const Corpus& corpus) {
  InferenceModel loaded = load_for_inference(spec.substr(spec.find('=') + 1), corpus.geometry());
  EvalModel m;
  m.name = spec.substr(0, spec.find('='));
  m.checkpoint = loaded.checkpoint;
  m.config = loaded.config;
  m.loop_modality = loaded.loop_modality;
  m.net = loaded.net;
  return m;
}

// Rank 0 receives every rank's block, in rank order (= sample order).
std::vector<float> gather_blocks(const MpiWorld& world, const std::vector<float>& mine) {
  int count = int(mine.size());
  std::vector<int> counts(world.size), offsets(world.size);
  MIXHIC_MPI_CHECK(MPI_Gather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, world.comm));
  int total = 0;
  for (int r = 0; r < world.size; ++r) {
    offsets[r] = total;
    total += counts[r];
  }
  std::vector<float> all(world.rank == 0 ? size_t(total) : 0);
  MIXHIC_MPI_CHECK(MPI_Gatherv(mine.data(), count, MPI_FLOAT, all.data(), counts.data(), offsets.data(), MPI_FLOAT, 0,
                               world.comm));
  return all;
}

// This rank's samples, each batch read once: every model's predictions and the truth from the
// same batch (hic_map: the W x W window; loop: the label; expression: the target).
struct BlockPredictions {
  std::vector<std::vector<float>> by_model;
  std::vector<float> truth;
};

BlockPredictions predict_block(std::vector<EvalModel>& models, const Corpus& corpus,
                               const std::vector<int64_t>& samples, int64_t batch) {
  const Task task = models[0].config.task;
  BlockPredictions out;
  out.by_model.resize(models.size());
  auto append = [](std::vector<float>& to, const torch::Tensor& t) {
    torch::Tensor c = t.to(torch::kFloat).contiguous();
    to.insert(to.end(), c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  };
  torch::NoGradGuard no_grad;
  for (size_t b = 0; b < samples.size(); b += size_t(batch)) {
    std::vector<int64_t> chunk(samples.begin() + b, samples.begin() + std::min(samples.size(), b + size_t(batch)));
    SampleBatch sb = BatchLoader::read(corpus, chunk, Augmentation{}, 0, 0);
    for (size_t m = 0; m < models.size(); ++m)
      append(out.by_model[m], models[m].net->predict(sb.hic, sb.epi, models[m].loop_modality));
    append(out.truth, task == Task::hic_map ? sb.hic : sb.target);
  }
  return out;
}

// Distance-decay baseline: the mean of each diagonal over the train split's windows, as a map.
// COLLECTIVE: every rank sums its block of the train split.
std::vector<double> distance_decay_map(const MpiWorld& world, const Corpus& corpus) {
  const int64_t W = corpus.geometry().window_bins;
  const auto& train = corpus.split_indices(0);
  Block mine = block_of(int64_t(train.size()), world.rank, world.size);
  std::vector<double> sums(W, 0.0);
  std::vector<float> map(W * W);
  for (int64_t k = mine.begin; k < mine.end; ++k) {
    corpus.read_hic(train[k], map.data());
    for (int64_t i = 0; i < W; ++i)
      for (int64_t j = i; j < W; ++j) sums[j - i] += map[i * W + j];
  }
  MIXHIC_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, sums.data(), int(W), MPI_DOUBLE, MPI_SUM, world.comm));
  std::vector<double> expected(W * W);
  const double n = std::max<double>(1.0, double(train.size()));
  for (int64_t i = 0; i < W; ++i)
    for (int64_t j = 0; j < W; ++j) {
      const int64_t d = std::abs(i - j);
      expected[i * W + j] = sums[d] / (n * double(W - d));
    }
  return expected;
}

std::string region_text(const Corpus& corpus, const corpus::SampleMeta& m, int64_t span_bp) {
  return fmt::format("{}:{}-{}", corpus.chrom_names()[m.chrom], m.start1_bp, m.start1_bp + span_bp);
}

// ---- hic_map -----------------------------------------------------------------------------------

metrics::ContactMaps to_maps(const std::vector<float>& flat, size_t n, size_t W) {
  metrics::ContactMaps maps(n, W);
  std::copy(flat.begin(), flat.end(), maps.values.begin());
  return maps;
}

// Insulation PCC over the bins whose whole diamond lies inside the window, [w-1, W-w]: a
// truncated diamond at a window edge sums fewer, nearer-diagonal pixels, so every map (the
// distance-decay one included) gets the same edge-shaped track and correlates for no reason.
double interior_insulation_pcc(const metrics::ContactMaps& pred, const metrics::ContactMaps& truth, size_t w,
                               size_t ignore) {
  const size_t W = truth.width;
  std::vector<double> per_sample;
  for (size_t s = 0; s < truth.count; ++s) {
    std::vector<double> ip = metrics::insulation_track(pred.map(s), W, w, ignore);
    std::vector<double> it = metrics::insulation_track(truth.map(s), W, w, ignore);
    std::vector<double> a, b;
    for (size_t k = w - 1; k + w <= W; ++k) a.push_back(ip[k]), b.push_back(it[k]);
    per_sample.push_back(metrics::pearson_finite(a, b));
  }
  return metrics::nan_mean(per_sample).mean;
}

void evaluate_maps(const EvalConfig& cfg, const Corpus& corpus, const std::vector<int64_t>& samples,
                   const std::vector<EvalModel>& models, const std::vector<std::vector<float>>& preds,
                   const std::vector<float>& truth_flat, const std::vector<double>& decay, metrics::MetricTable& table) {
  const int64_t W = corpus.geometry().window_bins, n = int64_t(samples.size()), res = corpus.geometry().hic_bin_bp;
  const size_t iw = size_t(cfg.insulation_window > 0 ? cfg.insulation_window : std::max<int64_t>(2, W / 5));
  const size_t ignore = size_t(cfg.ignore_diagonals);
  const metrics::ContactMaps truth = to_maps(truth_flat, n, W);
  metrics::ContactMaps decay_maps(n, W);
  for (int64_t k = 0; k < n; ++k) std::copy(decay.begin(), decay.end(), decay_maps.map(k));
  // O/E: one expected for every column, from the truth of this split (cooltools expected_cis).
  const std::vector<double> expected = metrics::expected_by_distance(truth);

  std::vector<std::string> names;
  std::vector<metrics::DistanceStratifiedPcc> curves_by_column;
  auto score = [&](const std::string& column, const metrics::ContactMaps& pred) {
    const metrics::PooledMapMetrics pooled = metrics::pooled_map_metrics(pred, truth);
    table.set("pooled PCC (reference)", column, pooled.pcc);
    table.set("pooled Spearman (reference)", column, pooled.spearman);
    table.set("pooled R2 (truth vs pred)", column, pooled.r2);
    table.set("pooled R2 as published (pred vs truth)", column, pooled.r2_swapped);
    table.set("per-sample PCC (mean)", column, metrics::per_sample_pcc(pred, truth).mean);
    metrics::DistanceStratifiedPcc dist = metrics::distance_stratified_pcc(pred, truth, ignore);
    table.set(fmt::format("distance-stratified PCC (mean over d {}..{} bins)", dist.first_distance, dist.last_distance),
              column, dist.summary);
    table.set(fmt::format("insulation PCC (diamond {} bins; bins {}..{})", iw, iw - 1, W - iw), column,
              interior_insulation_pcc(pred, truth, iw, ignore));
    table.set("O/E PCC (log obs/expected, cooltools)", column, metrics::oe_pcc_expected(pred, truth, expected).mean);
    table.set("O/E PCC (C.Origami: minus mean map)", column, metrics::oe_pcc_mean_map(pred, truth).mean);
    names.push_back(column);
    curves_by_column.push_back(std::move(dist));
  };
  for (size_t m = 0; m < models.size(); ++m) score(models[m].name, to_maps(preds[m], n, W));
  score("distance-decay", decay_maps);

  // distance_pcc.csv and its figure: one curve per column
  std::string csv = "distance_bins,distance_bp";
  for (auto& name : names) csv += "," + name;
  csv += "\n";
  for (int64_t d = 0; d < W; ++d) {
    csv += fmt::format("{},{}", d, d * res);
    for (auto& c : curves_by_column) {
      const double r = size_t(d) < c.mean_by_distance.size() ? c.mean_by_distance[d] : NAN;
      csv += std::isfinite(r) ? fmt::format(",{:.6f}", r) : std::string(",");
    }
    csv += "\n";
  }
  replace_file(cfg.out_dir + "/distance_pcc.csv", csv);
  std::vector<figure::Series> curves;
  for (size_t c = 0; c < names.size(); ++c) {
    figure::Series s;
    s.name = names[c];
    s.colour = figure::series_colour(c);
    for (size_t d = curves_by_column[c].first_distance; d <= curves_by_column[c].last_distance; ++d)
      if (std::isfinite(curves_by_column[c].mean_by_distance[d])) {
        s.x.push_back(double(int64_t(d) * res) / 1e3);
        s.y.push_back(curves_by_column[c].mean_by_distance[d]);
      }
    curves.push_back(s);
  }
  figure::write_curve_png(cfg.out_dir + "/distance_pcc.png", "Distance-stratified PCC (" + cfg.split + " split)",
                  "distance (kb)", "PCC", curves);

  // true vs predicted maps and insulation tracks of the first samples
  const metrics::ContactMaps first = to_maps(preds[0], n, W);
  for (int64_t k = 0; k < std::min<int64_t>(cfg.figures, n); ++k) {
    const auto& meta = corpus.meta(samples[k]);
    const std::string region = region_text(corpus, meta, W * res);
    std::vector<double> t(truth.map(k), truth.map(k) + W * W), p(first.map(k), first.map(k) + W * W);
    // Colour scale: 0 to the 98th percentile of the true map, so the diagonal does not wash it out.
    std::vector<double> sorted;
    for (double v : t)
      if (std::isfinite(v)) sorted.push_back(v);
    std::sort(sorted.begin(), sorted.end());
    const double vmax = sorted.empty() ? 1.0 : std::max(1e-6, sorted[size_t(0.98 * double(sorted.size() - 1))]);
    figure::write_map_pair_png(fmt::format("{}/map_{:03d}.png", cfg.out_dir, k), t, p, W,
                               fmt::format("{}  sample {}  model {}", region, samples[k], models[0].name), 0.0, vmax,
                               "corpus value");
    std::vector<double> it = metrics::insulation_track(t.data(), W, iw, ignore);
    std::vector<double> ip = metrics::insulation_track(p.data(), W, iw, ignore);
    figure::Series st, sp;
    st.name = "true";
    st.colour = figure::series_colour(0);
    sp.name = models[0].name;
    sp.colour = figure::series_colour(1);
    for (int64_t i = 0; i < W; ++i) {
      const double x = double(meta.start1_bp + i * res + res / 2) / 1e3;
      if (std::isfinite(it[i])) st.x.push_back(x), st.y.push_back(it[i]);
      if (std::isfinite(ip[i])) sp.x.push_back(x), sp.y.push_back(ip[i]);
    }
    figure::write_curve_png(fmt::format("{}/insulation_{:03d}.png", cfg.out_dir, k), fmt::format("Insulation, {}", region),
                    fmt::format("{} position (kb)", corpus.chrom_names()[meta.chrom]), "log2 insulation", {st, sp});
  }

  // .cool files, one per cell type: windows at their genome coordinates (overlapping windows of
  // one cell averaged; two cells' maps of the same region are different files)
  if (cfg.write_cool) {
    std::vector<CoolChrom> chroms;
    for (size_t c = 0; c < corpus.chrom_names().size(); ++c)
      chroms.push_back({corpus.chrom_names()[c], corpus.chrom_lengths()[c]});
    auto write_windows = [&](const std::string& name, const std::vector<float>& maps) {
      for (size_t cell = 0; cell < corpus.cell_names().size(); ++cell) {
        CoolWriter cool(chroms, res);
        int64_t added = 0;
        for (int64_t k = 0; k < n; ++k) {
          const auto& meta = corpus.meta(samples[k]);
          if (size_t(meta.cell) != cell) continue;
          const int64_t first = cool.first_bin(corpus.chrom_names()[meta.chrom]);
          cool.add_window(first + meta.start1_bp / res, W, maps.data() + k * W * W);
          ++added;
        }
        if (added > 0) cool.write(fmt::format("{}/{}.{}.cool", cfg.out_dir, name, corpus.cell_names()[cell]));
      }
    };
    write_windows("truth", truth_flat);
    for (size_t m = 0; m < models.size(); ++m) write_windows(models[m].name, preds[m]);
  }
}

// ---- loop and expression ----------------------------------------------------------------------

void evaluate_loops(const EvalConfig& cfg, const Corpus& corpus, const std::vector<int64_t>& samples,
                    const std::vector<EvalModel>& models, const std::vector<std::vector<float>>& preds,
                    const std::vector<float>& truth, metrics::MetricTable& table) {
  std::vector<double> labels(truth.begin(), truth.end());
  for (size_t m = 0; m < models.size(); ++m) {
    std::vector<double> p(preds[m].begin(), preds[m].end());
    const metrics::ClassificationMetrics r = metrics::classification_metrics(labels, p, 0.5);
    const std::string& col = models[m].name;
    table.set("AUROC", col, r.auroc);
    table.set("AUPRC (average precision)", col, r.auprc);
    table.set("precision (p > 0.5)", col, r.at_threshold.precision);
    table.set("recall (p > 0.5)", col, r.at_threshold.recall);
    table.set("F1 (p > 0.5)", col, r.at_threshold.f1);
    table.set("accuracy (p > 0.5)", col, r.at_threshold.accuracy);
  }
  std::string tsv = "#chrom\tanchor1_bp\tanchor2_bp\tlabel";
  for (auto& m : models) tsv += "\tp_" + m.name;
  tsv += "\n";
  for (size_t k = 0; k < samples.size(); ++k) {
    const auto& meta = corpus.meta(samples[k]);
    tsv += fmt::format("{}\t{}\t{}\t{}", corpus.chrom_names()[meta.chrom], corpus.anchor1_bp(samples[k]),
                       corpus.anchor2_bp(samples[k]), int(truth[k]));
    for (size_t m = 0; m < models.size(); ++m) tsv += fmt::format("\t{:.9g}", preds[m][k]);
    tsv += "\n";
  }
  replace_file(cfg.out_dir + "/predictions.tsv", tsv);
}

void evaluate_expression(const EvalConfig& cfg, const Corpus& corpus, const std::vector<int64_t>& samples,
                         const std::vector<EvalModel>& models, const std::vector<std::vector<float>>& preds,
                         const std::vector<float>& truth, metrics::MetricTable& table) {
  const int64_t W = corpus.geometry().window_bins, res = corpus.geometry().hic_bin_bp;
  std::vector<double> t(truth.begin(), truth.end());
  for (size_t m = 0; m < models.size(); ++m) {
    std::vector<double> p(preds[m].begin(), preds[m].end());
    const metrics::RegressionMetrics r = metrics::regression_metrics(t, p);
    table.set("PCC (all bins x genes)", models[m].name, r.pcc);
    table.set("Spearman", models[m].name, r.spearman);
    table.set("R2 (truth vs pred)", models[m].name, r.r2);
    table.set("R2 as published (pred vs truth)", models[m].name, r.r2_swapped);
  }
  std::string tsv = "#gene\tchrom\tbin_start_bp\ttruth";
  for (auto& m : models) tsv += "\t" + m.name;
  tsv += "\n";
  for (size_t k = 0; k < samples.size(); ++k) {
    const auto& meta = corpus.meta(samples[k]);
    for (int64_t i = 0; i < W; ++i) {
      tsv += fmt::format("{}\t{}\t{}\t{:.9g}", corpus.gene(samples[k]), corpus.chrom_names()[meta.chrom],
                         meta.start1_bp + i * res, truth[k * W + i]);
      for (size_t m = 0; m < models.size(); ++m) tsv += fmt::format("\t{:.9g}", preds[m][k * W + i]);
      tsv += "\n";
    }
  }
  replace_file(cfg.out_dir + "/predictions.tsv", tsv);
}

}  // namespace

int run_evaluation(const MpiWorld& world, const EvalConfig& cfg, const std::string& command_line) {
  agree(world, [&] {
    test_fault_point(world, "config");
    cfg.validate();
    // Before any model runs: an unwritable --out-dir fails now, not after the predictions.
    if (world.rank == 0) check_output_dir(cfg.out_dir, "out-dir");
  });
  const int local_ranks = node_local(world).first;
  set_compute_threads(cfg.threads > 0 ? int(cfg.threads) : std::max(1, cores_available() / local_ranks));

  std::unique_ptr<Corpus> corpus;
  agree(world, [&] {
    test_fault_point(world, "corpus");
    if (!fs::exists(cfg.corpus))
      throw InputFormatError(cfg.corpus, "corpus", "a corpus file written by mixhic-prep", "no such file");
  });
  agree(world, [&] { corpus = std::make_unique<Corpus>(cfg.corpus, &world.comm); });
  const int split = cfg.split == "train" ? 0 : cfg.split == "val" ? 1 : 2;
  const std::vector<int64_t>& all = corpus->split_indices(split);
  std::vector<EvalModel> models;
  agree(world, [&] {
    test_fault_point(world, "models");
    if (all.empty())
      throw InputFormatError(cfg.corpus, "splits/" + cfg.split, "at least one sample", "an empty split");
    for (const auto& spec : cfg.models) models.push_back(load_model(spec, *corpus));
    for (const auto& m : models) {
      if (m.config.task != models[0].config.task)
        throw ConfigError(fmt::format("model: {} is a {} model, {} a {} model; one mixhic-eval run scores one task",
                                      models[0].name, name_of(models[0].config.task), m.name,
                                      name_of(m.config.task)));
      if (m.name.find_first_of("/\\ \t") != std::string::npos)
        throw ConfigError(fmt::format("model: name '{}' is used in file names; use letters, digits, - or _", m.name));
    }
    const SampleSource source = corpus->sample_source();
    const Task task = models[0].config.task;
    if (!task_accepts(task, source))
      throw InputFormatError(cfg.corpus, "sample-source", fmt::format("a corpus for task = {}", name_of(task)),
                             name_of(source));
  });
  const Task task = models[0].config.task;
  const int64_t W = corpus->geometry().window_bins;
  Block mine = block_of(int64_t(all.size()), world.rank, world.size);
  std::vector<int64_t> my_samples(all.begin() + mine.begin, all.begin() + mine.end);
  log::info("{} {} samples of {} ({} per rank), task {}, {} model(s)", all.size(), cfg.split, cfg.corpus,
            my_samples.size(), name_of(task), models.size());

  auto t0 = std::chrono::steady_clock::now();
  BlockPredictions mine_predicted;
  agree(world, [&] { mine_predicted = predict_block(models, *corpus, my_samples, cfg.batch); });  // rank-local
  std::vector<std::vector<float>> preds;
  for (size_t m = 0; m < models.size(); ++m) {
    preds.push_back(gather_blocks(world, mine_predicted.by_model[m]));
    log::info("predicted with {} ({})", models[m].name, models[m].checkpoint);
  }
  std::vector<float> truth = gather_blocks(world, mine_predicted.truth);
  std::vector<double> decay;
  if (task == Task::hic_map) {
    if (cfg.baseline_corpus.empty()) {
      decay = distance_decay_map(world, *corpus);
    } else {
      std::unique_ptr<Corpus> other;
      agree(world, [&] {
        other = std::make_unique<Corpus>(cfg.baseline_corpus, &world.comm);
        if (other->geometry().window_bins != W || other->geometry().hic_bin_bp != corpus->geometry().hic_bin_bp)
          throw InputFormatError(cfg.baseline_corpus, "geometry", fmt::format("{} bins of {} bp as {}", W,
                                 corpus->geometry().hic_bin_bp, cfg.corpus), "another window geometry");
      });
      decay = distance_decay_map(world, *other);
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log::info("{} samples x {} model(s) in {:.1f} s", all.size(), models.size(), secs);

  // Every rank is still in the job before rank 0 starts writing: a failure now leaves no output.
  agree(world, [&] { test_fault_point(world, "outputs"); });
  agree(world, [&] {
    if (world.rank != 0) return;
    fs::create_directories(cfg.out_dir);
    std::vector<std::string> columns;
    for (const auto& m : models) columns.push_back(m.name);
    if (task == Task::hic_map) columns.push_back("distance-decay");
    metrics::MetricTable table(columns);
    if (task == Task::hic_map) evaluate_maps(cfg, *corpus, all, models, preds, truth, decay, table);
    else if (task == Task::loop) evaluate_loops(cfg, *corpus, all, models, preds, truth, table);
    else evaluate_expression(cfg, *corpus, all, models, preds, truth, table);
    table.write_csv(cfg.out_dir + "/metrics.csv");
    table.write_json(cfg.out_dir + "/metrics.json");
    replace_file(cfg.out_dir + "/command.txt", command_line + "\n");
    const std::string unit = task == Task::hic_map ? fmt::format("{} x {} maps", W, W)
                             : task == Task::loop  ? std::string("anchor pairs")
                                                   : fmt::format("TSS windows of {} bins", W);
    log::info("{} on the {} split ({} {} at {} bp):\n{}", name_of(task), cfg.split, all.size(), unit,
              corpus->geometry().hic_bin_bp, table.to_text());
    log::info("wrote {}/metrics.csv, metrics.json and the {} outputs", cfg.out_dir, name_of(task));
  });
  return 0;
}

}  // namespace mixhic
