#include "mixhic/autocast.hpp"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

namespace mixhic {

namespace {

#if TORCH_VERSION_MAJOR >= 2 && (TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 4)
bool is_on(torch::DeviceType d) { return at::autocast::is_autocast_enabled(d); }
void set_on(torch::DeviceType d, bool on) { at::autocast::set_autocast_enabled(d, on); }
at::ScalarType dtype_of(torch::DeviceType d) { return at::autocast::get_autocast_dtype(d); }
void set_dtype(torch::DeviceType d, at::ScalarType t) { at::autocast::set_autocast_dtype(d, t); }
#else
bool is_on(torch::DeviceType d) { return d == torch::kCPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled(); }
void set_on(torch::DeviceType d, bool on) {
  if (d == torch::kCPU) at::autocast::set_cpu_enabled(on);
  else at::autocast::set_enabled(on);
}
at::ScalarType dtype_of(torch::DeviceType d) {
  return d == torch::kCPU ? at::autocast::get_autocast_cpu_dtype() : at::autocast::get_autocast_gpu_dtype();
}
void set_dtype(torch::DeviceType d, at::ScalarType t) {
  if (d == torch::kCPU) at::autocast::set_autocast_cpu_dtype(t);
  else at::autocast::set_autocast_gpu_dtype(t);
}
#endif

}  // namespace

Bf16Autocast::Bf16Autocast(torch::DeviceType device, bool enabled)
    : device_(device), enabled_(enabled), was_enabled_(is_on(device)) {
  if (enabled_ == was_enabled_ && !enabled_) return;
  was_dtype_ = dtype_of(device_);
  if (enabled_) set_dtype(device_, at::kBFloat16);
  set_on(device_, enabled_);
}

Bf16Autocast::~Bf16Autocast() {
  if (enabled_ == was_enabled_ && !enabled_) return;
  set_on(device_, was_enabled_);
  set_dtype(device_, was_dtype_);
  if (!was_enabled_) at::autocast::clear_cache();  // the bf16 copies of the weights made in the scope
}

}  // namespace mixhic
