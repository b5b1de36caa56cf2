// chrom_names.hpp — reconciles chromosome names between inputs ("chr1" in a bigWig, "1" in a
// .hic-derived cool, "chrM" vs "MT") and checks assemblies by chromosome length.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace mixhic {

class ChromNameMap {
 public:
  // `aliases`: "A:B" pairs from the config, meaning the names A and B refer to one chromosome.
  explicit ChromNameMap(const std::vector<std::string>& aliases = {});

  // The name under which `has` knows chromosome `name`: the name itself, then explicit aliases,
  // then the same name with the "chr" prefix added or removed (and chrM <-> MT); "" if none.
  std::string resolve(const std::string& name, const std::function<bool(const std::string&)>& has) const;

  // "chr21" and "21" both give "21": the key used to compare names in split lists.
  static std::string bare(const std::string& name);

 private:
  std::multimap<std::string, std::string> alias_;
};

}  // namespace mixhic
