// fuzz_torch_save.cpp — fuzz target for the torch.save reader (src/model/torch_checkpoint.cpp,
// load_tensors, under load_state_dict and the published-checkpoint import). The input is a
// torch.save file: LibTorch's PyTorchStreamReader opens the zip archive, mixhic's own pickle
// machine runs data.pkl (opcodes, memo, marks, GLOBAL/REDUCE of OrderedDict and
// _rebuild_tensor_v2, persistent ids of storages read from data/<key>), and every tensor it
// returns is read back whole (converted to double and summed), so a tensor whose sizes, strides
// or offset reach past its storage shows under ASan. Acceptable: a mixhic::Error. Findings: a
// crash or ASan/UBSan/LeakSanitizer report (a pickle can make a reference cycle), a timeout or an
// allocation over -malloc_limit_mb (record sizes, tensor sizes and strides come from the file),
// any other exception (c10::Error, std::out_of_range from the pickle machine), or a fuzz::Finding
// (an undefined or non-CPU tensor). Seeds: seeds/fuzz_torch_save (make_seeds.sh: torch.save of
// tiny state dicts, pickle protocols 2 and 4); dictionary: dict/fuzz_torch_save.dict.
#include <torch/torch.h>

#include <string>

#include "fuzz_parsers.hpp"
#include "mixhic/check.hpp"
#include "mixhic/state_dict.hpp"

namespace mixhic::fuzz {

int parse_torch_save(const uint8_t* data, size_t size) {
  static ScratchFile file(".pt");
  // One intra-op thread: the harness measures the reader, and LeakSanitizer sees no pool threads.
  static const bool single_thread = (torch::set_num_threads(1), true);
  (void)single_thread;
  const std::string& path = file.write(data, size);
  return tolerate([&] {
    NamedTensors tensors = load_tensors(path);
    for (const auto& [name, t] : tensors) {
      MIXHIC_FUZZ_REQUIRE(t.defined(), "{}: load_tensors returned an undefined tensor for '{}'", path, name);
      MIXHIC_FUZZ_REQUIRE(t.device().is_cpu(), "{}: load_tensors returned '{}' on {}", path, name, t.device().str());
      // Every element once; the reader already holds the tensor, so this adds one bounded copy.
      if (t.numel() > 0 && t.numel() <= kMaxHarnessFloats) (void)t.to(torch::kDouble).sum().item<double>();
    }
  });
}

}  // namespace mixhic::fuzz

#ifdef MIXHIC_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    mixhic::fuzz::parse_torch_save(data, size);
  } catch (const mixhic::Error&) {
    // refused: an acceptable outcome
  }
  return 0;
}
#endif
