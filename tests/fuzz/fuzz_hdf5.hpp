// fuzz_hdf5.hpp — what fuzz_corpus and fuzz_cooler share around HDF5: a fresh library per input, listing a group's first members (to name an .mcool's
// resolutions and an .scool's cells the way a user would in a URI), and the check that a reader,
// once destroyed, left no HDF5 identifier open. A leaked file id would make the next input's
// H5Fopen of the same scratch path return the old file's cached metadata, and in a long prep run
// it is a leaked descriptor per file.
//
// HDF5 itself is not instrumented: a crash whose frames are all in libhdf5 is HDF5's (report it
// upstream, or refuse the construct before HDF5 decodes it); random bytes rarely form an HDF5
// file, so these targets live on their seeds (make_seeds.sh writes them uncompressed, superblock
// v0, no metadata checksums, so byte flips reach mixhic's checks instead of HDF5's).
#pragma once

#include <hdf5.h>

#include <string>
#include <vector>

#include "fuzz_parsers.hpp"
#include "mixhic/h5.hpp"

namespace mixhic::fuzz {

// Each input meets HDF5 as one run of mixhic-prep or mixhic-train meets it: the library closed (its
// caches and free lists given back) and opened again, its error printing off (a refused file is
// not news). Without it, what an uninstrumented HDF5 did with one corrupt file (a stray write, a
// free-list entry) shows up as a finding on a later input that does not reproduce alone.
inline void fresh_hdf5() {
  H5close();
  H5open();
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

// Names of the first `max` links of `group` under `loc` (none if it is not there).
inline std::vector<std::string> first_members(hid_t loc, const std::string& group, size_t max) {
  struct Listing {
    std::vector<std::string> names;
    size_t max;
  } listing{{}, max};
  if (!h5::exists(loc, group)) return listing.names;
  h5::Handle g = h5::open_group(loc, group);
  H5Literate(g, H5_INDEX_NAME, H5_ITER_NATIVE, nullptr,
             [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
               auto* l = static_cast<Listing*>(out);
               l->names.push_back(name);
               return l->names.size() >= l->max ? 1 : 0;  // > 0 stops the iteration
             },
             &listing);
  return listing.names;
}

inline void require_no_open_hdf5_ids(const std::string& path) {
  const ssize_t open = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
  MIXHIC_FUZZ_REQUIRE(open == 0, "{}: {} HDF5 identifier(s) still open after the reader was destroyed", path, open);
}

}  // namespace mixhic::fuzz
