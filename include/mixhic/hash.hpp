// hash.hpp — the 64-bit content hash mixhic uses for input checksums, corpus-id and checkpoint
// manifests. Fast (8 bytes per step), deterministic across platforms of the same endianness;
// not cryptographic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mixhic {

class Hasher {
 public:
  explicit Hasher(uint64_t seed = 0x6d69786869632121ULL) : h_(seed) {}
  void update(const void* data, size_t n);
  template <typename T>
  void update_value(const T& v) { update(&v, sizeof v); }
  uint64_t digest() const;

 private:
  void word(uint64_t w);
  uint64_t h_;
  uint64_t total_ = 0;
  uint8_t tail_[8] = {};
  size_t tail_n_ = 0;
};

uint64_t hash64(const void* data, size_t n, uint64_t seed = 0x6d69786869632121ULL);
std::string hex64(uint64_t v);               // 16 lowercase hex digits
uint64_t hash_file(const std::string& path);  // throws InputFormatError if unreadable

}  // namespace mixhic
