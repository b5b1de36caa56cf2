// Checkpoint commit protocol and manifest (see include/mixhic/checkpoint.hpp).
#include "mixhic/checkpoint.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "mixhic/check.hpp"
#include "mixhic/hash.hpp"
#include "mixhic/log.hpp"
#include "mixhic/output_files.hpp"

namespace fs = std::filesystem;

namespace mixhic {

namespace {

// Test knob: pause inside the commit so a test can SIGKILL a run in the middle of writing a
// checkpoint (tests/test_trainer.cpp). Never set in production.
void pause_for_crash_tests() {
  static const int ms = [] {
    const char* v = std::getenv("MIXHIC_TEST_CHECKPOINT_PAUSE_MS");
    return v ? std::atoi(v) : 0;
  }();
  if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

int64_t file_bytes(const std::string& path) { return int64_t(fs::file_size(path)); }

}  // namespace

void fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error(fmt::format("{}: cannot open to fsync: {}", path, std::strerror(errno)));
  int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw Error(fmt::format("{}: fsync failed: {}", path, std::strerror(err)));
}

void write_durably(const std::string& path, const std::string& text) { write_file(path, text, /*durable=*/true); }

std::string render_key_values(const KeyValues& kv) {
  std::string s;
  for (auto& [k, v] : kv) s += k + " " + v + "\n";
  return s;
}

KeyValues parse_key_values(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputFormatError(path, "file", "a readable file", "missing or unreadable");
  KeyValues kv;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t sp = line.find(' ');
    if (sp == std::string::npos) kv.emplace_back(line, "");
    else kv.emplace_back(line.substr(0, sp), line.substr(sp + 1));
  }
  return kv;
}

std::string key_value(const KeyValues& kv, const std::string& key, const std::string& path) {
  for (auto& [k, v] : kv)
    if (k == key) return v;
  throw InputFormatError(path, key, "a '" + key + " VALUE' line", "missing");
}

void CheckpointManifest::write(const std::string& path) const {
  std::string s = fmt::format("mixhic-checkpoint {}\nstep {}\nworld-size {}\ncorpus-id {}\n", kVersion, step, world_size,
                              corpus_id);
  for (auto& f : files) s += fmt::format("file {} {} {}\n", f.name, f.bytes, hex64(f.hash));
  write_durably(path, s);
}

CheckpointManifest CheckpointManifest::read(const std::string& path) {
  KeyValues kv = parse_key_values(path);
  if (kv.empty() || kv[0].first != "mixhic-checkpoint")
    throw InputFormatError(path, "first line", "'mixhic-checkpoint 1'", kv.empty() ? "empty file" : kv[0].first);
  if (kv[0].second != std::to_string(kVersion))
    throw InputFormatError(path, "mixhic-checkpoint", std::to_string(kVersion), kv[0].second);
  CheckpointManifest m;
  try {
    m.step = std::stoll(key_value(kv, "step", path));
    m.world_size = std::stoi(key_value(kv, "world-size", path));
    m.corpus_id = key_value(kv, "corpus-id", path);
    for (auto& [k, v] : kv) {
      if (k != "file") continue;
      std::istringstream in(v);
      CheckpointFile f;
      std::string hash;
      in >> f.name >> f.bytes >> hash;
      if (!in || hash.size() != 16) throw InputFormatError(path, "file line", "'file NAME BYTES HASH'", v);
      f.hash = std::stoull(hash, nullptr, 16);
      m.files.push_back(f);
    }
  } catch (const std::logic_error&) {
    throw InputFormatError(path, "manifest", "numeric step, world-size and file sizes", "unparseable values");
  }
  return m;
}

std::string CheckpointManifest::verify(const std::string& dir) const {
  for (auto& f : files) {
    std::string p = dir + "/" + f.name;
    if (!fs::exists(p)) return fmt::format("{} is missing", p);
    if (file_bytes(p) != f.bytes) return fmt::format("{} has {} bytes, the manifest says {}", p, file_bytes(p), f.bytes);
    if (hash_file(p) != f.hash) return fmt::format("{} does not match its checksum in the manifest", p);
  }
  return {};
}

CheckpointStore::CheckpointStore(const std::string& run_dir, const MpiWorld& world, int64_t keep)
    : dir_(run_dir + "/checkpoints"), world_(world), keep_(keep) {}

std::string CheckpointStore::step_name(int64_t step) { return fmt::format("step-{:08d}", step); }

std::vector<std::string> CheckpointStore::committed() const {
  std::vector<std::string> out;
  if (!fs::is_directory(dir_)) return out;
  for (auto& e : fs::directory_iterator(dir_)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && name.size() == 13 && name.rfind("step-", 0) == 0 &&
        name.find_first_not_of("0123456789", 5) == std::string::npos)
      out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());  // zero-padded: lexical order is step order
  return out;
}

std::string CheckpointStore::find_resumable() const {
  auto all = committed();
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    std::string problem;
    try {
      problem = CheckpointManifest::read(*it + "/" + CheckpointManifest::kFile).verify(*it);
    } catch (const Error& e) {
      problem = e.what();
    }
    if (problem.empty()) return *it;
    log::warn("checkpoint {} is not usable ({}); trying the previous one", *it, problem);
  }
  return {};
}

void CheckpointStore::remove_partial_checkpoints() const {
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) return;
  for (auto& e : fs::directory_iterator(dir_)) {
    if (e.path().extension() != ".tmp") continue;
    log::warn("removing {}: a checkpoint that was never committed (the run was killed or ran out of space)",
              e.path().string());
    fs::remove_all(e.path());
  }
}

std::string CheckpointStore::commit(int64_t step, const std::string& corpus_id,
                                    const std::function<std::vector<std::string>(const std::string&)>& write_files) {
  auto t0 = std::chrono::steady_clock::now();
  const std::string name = step_name(step), final_dir = dir_ + "/" + name, tmp = final_dir + ".tmp";
  agree(world_, [&] {
    if (world_.rank == 0) {
      fs::create_directories(dir_);
      remove_partial_checkpoints();
      if (fs::exists(final_dir)) fs::remove_all(final_dir);  // re-written after a resume from an older step
      fs::create_directories(tmp);
    }
  });
  MIXHIC_MPI_CHECK(MPI_Barrier(world_.comm));

  std::vector<std::string> mine;
  std::string entries;
  int64_t total_bytes = 0;
  try {
    agree(world_, [&] {
      test_fault_point(world_, "checkpoint-write");
      mine = write_files(tmp);
      for (auto& f : mine) {
        const std::string p = tmp + "/" + f;
        fsync_path(p);
        entries += fmt::format("{} {} {}\n", f, file_bytes(p), hex64(hash_file(p)));
      }
      pause_for_crash_tests();
    });
    std::vector<uint8_t> gathered = allgather_bytes(world_, std::vector<uint8_t>(entries.begin(), entries.end()));
    agree(world_, [&] {
      if (world_.rank != 0) return;
      CheckpointManifest m;
      m.step = step;
      m.world_size = world_.size;
      m.corpus_id = corpus_id;
      std::istringstream in(std::string(gathered.begin(), gathered.end()));
      CheckpointFile f;
      std::string hash;
      while (in >> f.name >> f.bytes >> hash) {
        f.hash = std::stoull(hash, nullptr, 16);
        total_bytes += f.bytes;
        m.files.push_back(f);
      }
      m.write(tmp + "/" + CheckpointManifest::kFile);
      fsync_path(tmp);
      pause_for_crash_tests();
      fs::rename(tmp, final_dir);
      fsync_path(dir_);
      write_durably(dir_ + "/LATEST.tmp", name + "\n");
      fs::rename(dir_ + "/LATEST.tmp", dir_ + "/LATEST");
      fsync_path(dir_);
      auto all = committed();
      for (size_t k = 0; k + size_t(keep_) < all.size(); ++k) fs::remove_all(all[k]);
    });
  } catch (const ReportedError&) {
    // Every rank has passed the agreement that failed, so no rank still writes into tmp. If the
    // rename already happened, tmp is gone and only LATEST.tmp may be left.
    if (world_.rank == 0) {
      std::error_code ec;
      fs::remove_all(tmp, ec);
      fs::remove(dir_ + "/LATEST.tmp", ec);
    }
    throw;
  }
  MIXHIC_MPI_CHECK(MPI_Barrier(world_.comm));
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log::info("checkpoint {} committed: {:.1f} MB in {:.2f} s ({:.0f} MB/s)", final_dir, total_bytes / 1e6, s,
            total_bytes / 1e6 / std::max(s, 1e-9));
  return final_dir;
}

std::string resolve_checkpoint(const std::string& path) {
  std::string dir = path;
  for (const std::string& latest : {path + "/checkpoints/LATEST", path + "/LATEST"}) {
    std::ifstream in(latest);
    std::string name;
    if (!(in >> name)) continue;
    dir = (fs::path(latest).parent_path() / name).string();
    break;
  }
  if (!fs::exists(dir + "/" + CheckpointManifest::kFile))
    throw InputFormatError(path, "checkpoint", "a checkpoint directory (with MANIFEST) or a run directory of mixhic-train",
                           "no MANIFEST or checkpoints/LATEST there");
  std::string problem = CheckpointManifest::read(dir + "/" + CheckpointManifest::kFile).verify(dir);
  if (!problem.empty()) throw InputFormatError(dir, CheckpointManifest::kFile, "every file present and matching", problem);
  return dir;
}

}  // namespace mixhic
