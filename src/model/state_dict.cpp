#include "mixhic/state_dict.hpp"

#include <fmt/format.h>

#include <fstream>
#include <iterator>
#include <map>

#include "mixhic/check.hpp"
#include "mixhic/h5.hpp"
#include "mixhic/output_files.hpp"

namespace mixhic {

NamedTensors state_dict(const torch::nn::Module& module) {
  NamedTensors out;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) out.emplace_back(p.key(), p.value());
  for (const auto& b : module.named_buffers(/*recurse=*/true)) out.emplace_back(b.key(), b.value());
  return out;
}

void save_state_dict(const torch::nn::Module& module, const std::string& path) { save_tensors(state_dict(module), path); }

bool is_reference_unused_key(const std::string& key) {
  return key.find(".cross_attn.") != std::string::npos ||
         key.rfind("seq_downsampleTrans.layer_norm", 0) == 0;
}

LoadReport load_state_dict(torch::nn::Module& module, const std::string& path) {
  return load_state_dict(module, path, [](const std::string&) { return false; });
}

LoadReport load_state_dict(torch::nn::Module& module, const std::string& path,
                           const std::function<bool(const std::string&)>& is_head) {
  NamedTensors incoming = load_tensors(path);
  std::map<std::string, torch::Tensor> have;
  for (auto& [name, t] : state_dict(module)) have[name] = t;
  LoadReport report;
  std::vector<std::string> unexpected, mismatched;
  std::map<std::string, torch::Tensor> matched;
  for (auto& [name, t] : incoming) {
    auto it = have.find(name);
    if (it == have.end()) {
      if (is_reference_unused_key(name)) report.skipped.push_back(name);
      else unexpected.push_back(name);
    } else if (it->second.sizes() != t.sizes()) {
      mismatched.push_back(fmt::format("{} (file {}, model {})", name, fmt::join(t.sizes(), "x"),
                                       fmt::join(it->second.sizes(), "x")));
    } else {
      matched[name] = t;
    }
  }
  std::vector<std::string> missing;
  for (auto& [name, t] : have)
    if (!matched.count(name) && std::none_of(mismatched.begin(), mismatched.end(),
                                             [&](const std::string& m) { return m.rfind(name + " ", 0) == 0; })) {
      if (is_head(name)) report.fresh.push_back(name);
      else missing.push_back(name);
    }
  if (!unexpected.empty() || !missing.empty() || !mismatched.empty()) {
    auto list = [](const std::vector<std::string>& v) {
      return v.empty() ? std::string("none") : fmt::format("{}", fmt::join(v, ", "));
    };
    throw InputFormatError(path, "state_dict keys", "exactly the model's keys",
                           fmt::format("missing [{}]; unexpected [{}]; wrong shape [{}]", list(missing),
                                       list(unexpected), list(mismatched)));
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, t] : matched) have[name].copy_(t.to(have[name].dtype()));
  return report;
}

void save_state_dict_h5(const torch::nn::Module& module, const std::string& path) {
  std::string tmp = path + ".tmp";
  {
    h5::Handle f = h5::create(tmp);
    h5::set_attr(f, "format", "mixhic-weights");
    for (auto& [name, t] : state_dict(module)) {
      torch::Tensor c = t.detach().cpu().contiguous();
      std::vector<hsize_t> dims(c.sizes().begin(), c.sizes().end());
      hid_t type = c.scalar_type() == torch::kFloat64 ? H5T_NATIVE_DOUBLE
                   : c.scalar_type() == torch::kInt64 ? H5T_NATIVE_INT64
                                                      : H5T_NATIVE_FLOAT;
      if (c.scalar_type() != torch::kFloat64 && c.scalar_type() != torch::kInt64) c = c.to(torch::kFloat32);
      h5::Handle d = h5::create_dataset(f, name, type, dims);  // dotted names are plain link names
      if (c.numel()) MIXHIC_H5_CHECK(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, c.data_ptr()));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw Error(fmt::format("{}: cannot rename into place", path));
}

}  // namespace mixhic
