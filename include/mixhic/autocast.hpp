#pragma once
// bf16 autocast on or off for a scope, on the device the tensors live on: on for the forward pass
// of a bf16 run, off inside it where a result must be fp32 (contrastive logits). One place for the
// LibTorch API, which changed: 1.13 has set_enabled / set_cpu_enabled and per-device dtype setters;
// 2.x has set_autocast_enabled(device_type, on) and set_autocast_dtype(device_type, dtype), and
// warns at every call of the old ones.
#include <torch/torch.h>

namespace mixhic {

class Bf16Autocast {
 public:
  // Within the scope bf16 autocast is on for `device` iff `enabled` (false in an fp32 run: no-op).
  Bf16Autocast(torch::DeviceType device, bool enabled);
  ~Bf16Autocast();  // restores the previous state and drops the cast cache (also on an exception)
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  torch::DeviceType device_;
  bool enabled_, was_enabled_;
  at::ScalarType was_dtype_ = at::kBFloat16;
};

}  // namespace mixhic
