// checkpoint.hpp — crash-safe checkpoints of a training run: the commit protocol, the manifest,
// and picking the checkpoint to resume from.
//
// Layout of a run directory:
//   checkpoints/step-00001200/   one committed checkpoint: files + MANIFEST
//   checkpoints/step-00001300.tmp/  being written (ignored, removed by the next commit)
//   checkpoints/LATEST           "step-00001200": the newest committed one (for people and scripts)
// Commit (CheckpointStore::commit, COLLECTIVE): rank 0 creates step-N.tmp/; barrier; every rank
// writes its files there and fsyncs them; their sizes and hashes are gathered to rank 0, which
// writes MANIFEST, fsyncs it and the directory, renames step-N.tmp to step-N, fsyncs the parent,
// replaces LATEST atomically (tmp + rename), deletes all but the newest `keep`; barrier. A crash
// at any point leaves either the previous checkpoints alone or the new one complete.
// Resume (find_resumable): the newest step-N/ whose MANIFEST verifies (every file present with
// its size and hash); a checkpoint that does not verify is reported and the previous one is used.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mixhic/mpi_world.hpp"

namespace mixhic {

struct CheckpointFile {
  std::string name;
  int64_t bytes = 0;
  uint64_t hash = 0;  // hash64 of the contents
};

struct CheckpointManifest {
  static constexpr int kVersion = 1;
  static constexpr const char* kFile = "MANIFEST";  // its name inside a checkpoint directory
  int64_t step = 0;
  int world_size = 0;
  std::string corpus_id;
  std::vector<CheckpointFile> files;

  void write(const std::string& path) const;               // and fsync
  static CheckpointManifest read(const std::string& path);  // throws InputFormatError
  // Empty when every file of `dir` matches; otherwise the first problem, for a warning.
  std::string verify(const std::string& dir) const;
};

// Writes `text` to `path` and fsyncs it.
void write_durably(const std::string& path, const std::string& text);
// fsyncs an existing file or directory.
void fsync_path(const std::string& path);

// "key value" lines (state.txt of a checkpoint).
using KeyValues = std::vector<std::pair<std::string, std::string>>;
std::string render_key_values(const KeyValues& kv);
KeyValues parse_key_values(const std::string& path);  // throws InputFormatError
std::string key_value(const KeyValues& kv, const std::string& key, const std::string& path);  // throws if missing

// The checkpoint a user means by `path`: a checkpoint directory (with MANIFEST) as it is, a
// checkpoints/ directory or a run directory through its LATEST. The manifest is verified.
// Used by fine-tuning (pretrained = ...) and mixhic-eval (--model NAME=RUN_DIR).
// Throws InputFormatError naming the path when there is none or it does not verify.
std::string resolve_checkpoint(const std::string& path);

class CheckpointStore {
 public:
  CheckpointStore(const std::string& run_dir, const MpiWorld& world, int64_t keep);

  const std::string& directory() const { return dir_; }
  static std::string step_name(int64_t step);  // "step-00001200"

  // COLLECTIVE. `write_files(tmp_dir)` runs on every rank and returns the names of the files it
  // wrote there (each rank distinct names). Returns the committed directory and logs its size.
  // If any rank fails to write (a full disk), the partial step-N.tmp/ is removed before the
  // error ends the run.
  std::string commit(int64_t step, const std::string& corpus_id,
                     const std::function<std::vector<std::string>(const std::string&)>& write_files);

  // Rank-local: committed checkpoint directories, oldest first.
  std::vector<std::string> committed() const;
  // Rank-local: the newest committed checkpoint whose manifest verifies ("" if none); warns about
  // each newer one that does not.
  std::string find_resumable() const;
  // Rank-local (rank 0 at start-up): removes step-N.tmp/ directories and LATEST.tmp that a run
  // killed or out of space while committing left behind; never part of a committed checkpoint.
  void remove_partial_checkpoints() const;

 private:
  std::string dir_;
  MpiWorld world_;
  int64_t keep_;
};

}  // namespace mixhic
