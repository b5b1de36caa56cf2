#include "mixhic/chrom_names.hpp"

#include "mixhic/check.hpp"

namespace mixhic {

ChromNameMap::ChromNameMap(const std::vector<std::string>& aliases) {
  for (const auto& a : aliases) {
    auto colon = a.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == a.size())
      throw ConfigError(fmt::format("chrom-alias '{}': expected NAME:OTHER, e.g. chrM:MT", a));
    std::string x = a.substr(0, colon), y = a.substr(colon + 1);
    alias_.emplace(x, y);
    alias_.emplace(y, x);
  }
}

std::string ChromNameMap::bare(const std::string& name) {
  if (name.rfind("chr", 0) == 0 && name.size() > 3) {
    std::string rest = name.substr(3);
    return rest == "M" ? "MT" : rest;
  }
  return name == "M" ? "MT" : name;
}

std::string ChromNameMap::resolve(const std::string& name,
                                  const std::function<bool(const std::string&)>& has) const {
  if (has(name)) return name;
  auto range = alias_.equal_range(name);
  for (auto it = range.first; it != range.second; ++it)
    if (has(it->second)) return it->second;
  std::string b = bare(name);
  for (const std::string& candidate : {b, "chr" + b, b == "MT" ? std::string("chrM") : std::string()})
    if (!candidate.empty() && has(candidate)) return candidate;
  return "";
}

}  // namespace mixhic
