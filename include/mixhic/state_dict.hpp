// state_dict.hpp — moving weights between mixhic and PyTorch.
//
// Names are PyTorch's state_dict() keys (dotted module paths; parameters and buffers). Files are
// torch.save's zip format, so `torch.load(path)` in Python returns the state dict and a
// `torch.save(model.state_dict(), path)` file (e.g. a published MIX-HIC checkpoint) loads here.
// Loading is strict: every missing, unexpected or mis-shaped key is listed in one error.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace mixhic {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

NamedTensors state_dict(const torch::nn::Module& module);

// torch.save-compatible file holding a {name: tensor} OrderedDict (tensors copied to CPU), in the
// form torch.save writes a state_dict: torch.load's restricted unpickler (its default from
// PyTorch 2.6 on) reads it. Written and read in src/model/torch_checkpoint.cpp.
void save_state_dict(const torch::nn::Module& module, const std::string& path);
void save_tensors(const NamedTensors& tensors, const std::string& path);
// Reads a dict of tensors written by torch.save (or save_tensors).
NamedTensors load_tensors(const std::string& path);

// Keys of the reference implementation that mixhic leaves out on purpose: modules the reference
// defines but never calls (Hi-C blocks' cross_attn, the epigenomic encoder's layer_norm0-2).
bool is_reference_unused_key(const std::string& key);

struct LoadReport {
  std::vector<std::string> skipped;  // reference-only keys that were present and left out
  std::vector<std::string> fresh;    // keys the file may lack (fine-tuning heads): left as initialised
};
// Copies the tensors of `path` into the module. Throws InputFormatError naming the file and
// listing every missing / unexpected key and every shape mismatch.
LoadReport load_state_dict(torch::nn::Module& module, const std::string& path);
// Fine-tuning from a pre-trained model: the same strictness for every key except those that
// `is_head(key)` says the file may lack (the task head, absent from a pre-training checkpoint):
// the reference's load_state_dict(strict=False) silently ignores mismatches, this does not.
LoadReport load_state_dict(torch::nn::Module& module, const std::string& path,
                           const std::function<bool(const std::string&)>& is_head);

// One HDF5 dataset per tensor (float32/float64/int64), named by its key, for tools without torch.
void save_state_dict_h5(const torch::nn::Module& module, const std::string& path);

}  // namespace mixhic
