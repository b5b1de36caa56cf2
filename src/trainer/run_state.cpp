// A training run's checkpoint content (see include/mixhic/run_state.hpp).
#include "mixhic/run_state.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "mixhic/check.hpp"
#include "mixhic/config.hpp"
#include "mixhic/log.hpp"
#include "mixhic/optimizer.hpp"
#include "mixhic/state_dict.hpp"
#include "mixhic/train_config.hpp"
#include "mixhic/trainer.hpp"

namespace fs = std::filesystem;

namespace mixhic {

namespace checkpoint_files {
std::string rng(int rank) { return fmt::format("rng-rank-{:05d}.pt", rank); }
}  // namespace checkpoint_files

namespace {

namespace files = checkpoint_files;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputFormatError(path, "file", "a readable file", "missing");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Options of a stored INI file (a checkpoint's model.ini / train.ini) into their struct.
void read_ini(const std::string& path, const po::options_description& table) {
  std::string prog = "mixhic", flag = "--config", file = path;
  char* argv[] = {prog.data(), flag.data(), file.data()};
  parse_options(3, argv, 1, table);
}

KeyValues to_key_values(const RunState& s) {
  return {{"step", std::to_string(s.step)},
          {"epoch", std::to_string(s.step / s.steps_per_epoch)},
          {"position-in-epoch", std::to_string((s.step % s.steps_per_epoch) * s.global_batch)},
          {"global-batch", std::to_string(s.global_batch)},
          {"seed", std::to_string(s.seed)},
          {"lr", fmt::format("{:.9g}", s.lr)},
          {"adamw-updates", std::to_string(s.adamw_updates)},
          {"skipped-steps", std::to_string(s.skipped)},
          {"restart", std::to_string(s.restart)},
          {"world-size", std::to_string(s.world_size)},
          {"corpus", s.corpus},
          {"corpus-id", s.corpus_id},
          {"task", name_of(s.task)},
          {"pretrained", s.pretrained.empty() ? "none" : s.pretrained},
          {"parameter-hash", s.parameter_hash}};
}

// The keys resume_from reads back (the rest of state.txt is for people and scripts).
RunState from_key_values(const KeyValues& kv, const std::string& path) {
  RunState s;
  s.step = std::stoll(key_value(kv, "step", path));
  s.global_batch = std::stoll(key_value(kv, "global-batch", path));
  s.seed = std::stoull(key_value(kv, "seed", path));
  s.restart = std::stoll(key_value(kv, "restart", path));
  s.skipped = std::stoll(key_value(kv, "skipped-steps", path));
  return s;
}

void restore_generators(const std::string& file, torch::Device device) {
  for (auto& [name, t] : load_tensors(file)) {
    if (name != "cpu" && !(name == "cuda" && device.is_cuda())) continue;
    at::Generator gen = torch::globalContext().defaultGenerator(name == "cpu" ? torch::Device(torch::kCPU) : device);
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(t);
  }
}

}  // namespace

std::vector<std::string> ini_differences(const std::string& a, const std::string& b) {
  auto parse = [](const std::string& text) {
    std::map<std::string, std::string> m;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      size_t eq = line.find(" = ");
      if (eq != std::string::npos) m[line.substr(0, eq)] += (m.count(line.substr(0, eq)) ? "," : "") + line.substr(eq + 3);
    }
    return m;
  };
  auto ma = parse(a), mb = parse(b);
  std::vector<std::string> out;
  for (auto& [k, v] : ma)
    if (!mb.count(k) || mb[k] != v) out.push_back(fmt::format("{}: {} vs {}", k, v, mb.count(k) ? mb[k] : "(unset)"));
  for (auto& [k, v] : mb)
    if (!ma.count(k)) out.push_back(fmt::format("{}: (unset) vs {}", k, v));
  return out;
}

std::vector<std::string> save_checkpoint_files(const std::string& dir, const RunState& state, const RunParts& parts,
                                               const MpiWorld& world) {
  std::vector<std::string> written;
  if (world.rank == 0) {
    save_state_dict(parts.model, dir + "/" + files::kModel);
    save_tensors(parts.optimizer.state(), dir + "/" + files::kOptimizer);
    write_durably(dir + "/" + files::kModelIni, parts.model_ini);
    write_durably(dir + "/" + files::kTrainIni, parts.train_ini);
    write_durably(dir + "/" + files::kState, render_key_values(to_key_values(state)));
    written = {files::kModel, files::kOptimizer, files::kModelIni, files::kTrainIni, files::kState};
  }
  NamedTensors gens = {{"cpu", torch::globalContext().defaultGenerator(torch::kCPU).get_state()}};
  if (parts.device.is_cuda())
    gens.emplace_back("cuda", torch::globalContext().defaultGenerator(parts.device).get_state());
  save_tensors(gens, dir + "/" + files::rng(world.rank));
  written.push_back(files::rng(world.rank));
  return written;
}

Resumed resume_from(const std::string& dir, const RunState& now, const RunParts& parts, const MpiWorld& world) {
  const std::string sp = dir + "/" + files::kState;
  const RunState stored = from_key_values(parse_key_values(sp), sp);
  CheckpointManifest manifest = CheckpointManifest::read(dir + "/" + CheckpointManifest::kFile);
  if (manifest.corpus_id != now.corpus_id)
    throw InputFormatError(dir, "corpus-id", fmt::format("{} (the corpus {} given now)", now.corpus_id, now.corpus),
                           fmt::format("{}: the checkpoint was trained on another corpus", manifest.corpus_id));
  auto diffs = ini_differences(read_text(dir + "/" + files::kModelIni), parts.model_ini);
  if (!diffs.empty())
    throw InputFormatError(dir + "/" + files::kModelIni, "model config", "the model keys of this run",
                           fmt::format("{} differ ({}): resume with the checkpoint's model config", diffs.size(),
                                       fmt::join(diffs, "; ")));
  // The sample order is a function of (seed, global batch, step): both must be the run's own.
  const std::pair<const char*, std::pair<uint64_t, uint64_t>> order_keys[] = {
      {"global-batch", {uint64_t(stored.global_batch), uint64_t(now.global_batch)}},
      {"seed", {stored.seed, now.seed}}};
  for (auto& [key, values] : order_keys)
    if (values.first != values.second)
      throw InputFormatError(sp, key, std::to_string(values.second) + " (this run)",
                             std::to_string(values.first) +
                                 ": the sample order depends on it; resume with the checkpoint's value");
  Resumed out;
  out.state = stored;
  out.state.restart = stored.restart + 1;
  load_state_dict(parts.model, dir + "/" + files::kModel);
  parts.optimizer.load_state(load_tensors(dir + "/" + files::kOptimizer), dir + "/" + files::kOptimizer);
  const std::string rng = dir + "/" + files::rng(world.rank);
  if (manifest.world_size == world.size && fs::exists(rng)) {
    restore_generators(rng, parts.device);
    out.rng_restored = true;
  }
  out.state.world_size = manifest.world_size;
  return out;
}

void load_pretrained(MixHicModelImpl& model, const std::string& path, const std::string& model_ini) {
  const std::string dir = resolve_checkpoint(path);
  std::vector<std::string> differ;
  for (const std::string& d : ini_differences(read_text(dir + "/" + files::kModelIni), model_ini))
    for (const char* key : {"embed-dim:", "depth:", "heads:", "mlp-ratio:", "reference-batch-attention:"})
      if (d.rfind(key, 0) == 0) differ.push_back(d);
  if (!differ.empty())
    throw InputFormatError(dir + "/" + files::kModelIni, "architecture", "the architecture keys of this run",
                           fmt::format("{} (pre-trained vs now)", fmt::join(differ, "; ")));
  LoadReport report = load_state_dict(model, dir + "/" + files::kModel, MixHicModelImpl::is_head_key);
  const std::string sp = dir + "/" + files::kState;
  const std::string step = key_value(parse_key_values(sp), "step", sp);
  log::info("pre-trained backbone from {} (step {}): {} tensors loaded, {} head tensors start afresh", dir, step,
            state_dict(model).size() - report.fresh.size(), report.fresh.size());
}

InferenceModel load_for_inference(const std::string& path, const corpus::Geometry& geometry) {
  InferenceModel m;
  m.checkpoint = resolve_checkpoint(path);
  read_ini(m.checkpoint + "/" + files::kModelIni, model_options(m.config));
  TrainConfig train;
  read_ini(m.checkpoint + "/" + files::kTrainIni, train_options(train));
  m.loop_modality = train.loop_modality;
  if (m.config.task == Task::none)
    throw InputFormatError(m.checkpoint + "/" + files::kModelIni, "task",
                           "a fine-tuned model (hic_map | loop | expression)",
                           "none: a pre-training checkpoint has no task head; fine-tune it with mixhic-train first");
  m.config.from_corpus_geometry(geometry);
  m.config.validate();
  m.net = MixHicModel(m.config);
  load_state_dict(*m.net, m.checkpoint + "/" + files::kModel);
  m.net->eval();
  return m;
}

}  // namespace mixhic
