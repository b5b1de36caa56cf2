#include "mixhic/hash.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "mixhic/check.hpp"

namespace mixhic {

namespace {
constexpr uint64_t kMul = 0x9E3779B97F4A7C15ULL;
inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
inline uint64_t fmix(uint64_t k) {  // MurmurHash3 finaliser
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}
}  // namespace

void Hasher::word(uint64_t w) {
  h_ ^= fmix(w + kMul);
  h_ = rotl(h_, 29) * kMul + 0x52dce729ULL;
}

void Hasher::update(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  total_ += n;
  if (tail_n_) {  // complete the partial word left by the previous update
    size_t take = std::min(n, 8 - tail_n_);
    std::memcpy(tail_ + tail_n_, p, take);
    tail_n_ += take;
    p += take;
    n -= take;
    if (tail_n_ < 8) return;
    uint64_t w;
    std::memcpy(&w, tail_, 8);
    word(w);
    tail_n_ = 0;
  }
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    word(w);
  }
  std::memcpy(tail_, p, n);  // n < 8 and tail_n_ == 0 here
  tail_n_ = n;
}

uint64_t Hasher::digest() const {
  uint64_t h = h_;
  if (tail_n_) {
    uint64_t w = 0;
    std::memcpy(&w, tail_, tail_n_);
    h ^= fmix(w + kMul);
    h = rotl(h, 29) * kMul;
  }
  return fmix(h ^ total_);
}

uint64_t hash64(const void* data, size_t n, uint64_t seed) {
  Hasher h(seed);
  h.update(data, n);
  return h.digest();
}

std::string hex64(uint64_t v) { return fmt::format("{:016x}", v); }

uint64_t hash_file(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw InputFormatError(path, "file", "a readable file", std::strerror(errno));
  Hasher h;
  std::vector<char> buf(1 << 22);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) h.update(buf.data(), n);
  bool bad = std::ferror(f);
  std::fclose(f);
  if (bad) throw InputFormatError(path, "file", "a readable file", "read error");
  return h.digest();
}

}  // namespace mixhic
