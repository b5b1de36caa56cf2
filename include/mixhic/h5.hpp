// h5.hpp — thin RAII layer over the HDF5 C API, shared by the cooler reader, the corpus writer
// and reader, and the synthetic .mcool writer. Every failure becomes a typed mixhic error that
// names the file and the object.
#pragma once

#include <hdf5.h>
#include <mpi.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mixhic::h5 {

// Owns one HDF5 identifier and closes it with H5Oclose/H5Fclose/... as appropriate.
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }
  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset();

 private:
  hid_t id_ = H5I_INVALID_HID;
};

template <typename T> hid_t native();
template <> inline hid_t native<int8_t>() { return H5T_NATIVE_INT8; }
template <> inline hid_t native<uint8_t>() { return H5T_NATIVE_UINT8; }
template <> inline hid_t native<int16_t>() { return H5T_NATIVE_INT16; }
template <> inline hid_t native<int32_t>() { return H5T_NATIVE_INT32; }
template <> inline hid_t native<int64_t>() { return H5T_NATIVE_INT64; }
template <> inline hid_t native<uint64_t>() { return H5T_NATIVE_UINT64; }
template <> inline hid_t native<float>() { return H5T_NATIVE_FLOAT; }
template <> inline hid_t native<double>() { return H5T_NATIVE_DOUBLE; }

// Opens an existing file read-only. Missing or non-HDF5 files are InputFormatError naming the
// path. `random_access` turns HDF5's 64 KiB sieve buffer off: each small read of a contiguous
// dataset then goes straight into the caller's buffer instead of pulling 64 KiB (measured 1.43x
// faster random sample reads, bench/prep/README.md). With `comm` set the file is opened through
// the MPI-IO driver (COLLECTIVE over comm: open and close); reads stay independent.
Handle open_read(const std::string& path, bool random_access = false, const MPI_Comm* comm = nullptr);
// Creates (truncates) a file; with `comm` set, every rank of it opens the file with the MPI-IO
// driver (COLLECTIVE over comm).
Handle create(const std::string& path, const MPI_Comm* comm = nullptr);

bool exists(hid_t loc, const std::string& path);  // every link of a/b/c must exist
Handle open_group(hid_t loc, const std::string& path);
Handle create_group(hid_t loc, const std::string& path);
Handle open_dataset(hid_t loc, const std::string& path);

std::vector<hsize_t> shape(hid_t dataset);
// Name of the file that holds `obj`, for error messages.
std::string file_name(hid_t obj);

// Refuses, as an InputFormatError naming the file and the dataset, a dataset that declares more
// values than its stored bytes can hold, so that no reader allocates what a small file claims.
// The stored bytes (what the dataset's index says, at most the file's size) must hold its values
// as stored (elements x datatype size, checked for overflow); for a chunked dataset with filters,
// kMaxCompressionRatio times them must hold its values as the caller will (`held_element` bytes
// each when wider than stored: a few KB of gzip cannot be held as GBs of int64). Virtual datasets
// (data in other files) are refused. read_1d and read_strings call it; a reader that sizes
// buffers from a dataset's shape calls it first.
inline constexpr hsize_t kMaxCompressionRatio = 2048;  // deflate's own ceiling is about 1032:1
void require_stored(hid_t dataset, size_t held_element = 0);

// Reads `count` elements starting at `offset` of a 1-D dataset (count < 0: to the end),
// converting to T. The dataset passes require_stored first.
template <typename T>
std::vector<T> read_1d(hid_t loc, const std::string& path, int64_t offset = 0, int64_t count = -1);
// `width` of read_rows for a 1-D dataset, one value per row.
inline constexpr int64_t kColumn = 0;
// Reads rows [row, row + nrows) into `out` after checking the dataset's shape against what `out`
// was sized for: `width` kColumn wants a 1-D dataset (nrows values), `width` > 0 a 2-D (rows,
// width) one (nrows * width values). Another rank or width, or rows outside the dataset, is an
// InputFormatError naming the file and the dataset; nothing is read then.
template <typename T>
void read_rows(hid_t dataset, int64_t row, int64_t nrows, int64_t width, T* out);
// The same with every trailing dimension as it is (nrows times their product values), for a
// dataset whose shape the caller has checked itself; a 0-D dataset or rows outside it are refused.
template <typename T>
void read_rows(hid_t dataset, int64_t row, int64_t nrows, T* out);
// A 1-D fixed- or variable-length string dataset, as std::string (after require_stored).
std::vector<std::string> read_strings(hid_t loc, const std::string& path);

// Attribute readers take one value: an attribute holding another number of values (not scalar
// and not one element), or of another type class, is an InputFormatError naming the object and
// the attribute.
bool has_attr(hid_t obj, const std::string& name);
// An integer, a float holding an integral value, or text of a number ("3").
int64_t attr_int(hid_t obj, const std::string& name);
// A float or an integer.
double attr_double(hid_t obj, const std::string& name);
std::string attr_string(hid_t obj, const std::string& name);
// A boolean as h5py writes numpy.bool_ (an enum FALSE/TRUE over int8), an integer (0/1) or text
// ("True"/"False", "true"/"false", "1"/"0").
bool attr_bool(hid_t obj, const std::string& name);

void set_attr(hid_t obj, const std::string& name, int64_t value);
void set_attr(hid_t obj, const std::string& name, double value);
void set_attr(hid_t obj, const std::string& name, const std::string& value);
inline void set_attr(hid_t obj, const std::string& name, const char* value) {
  set_attr(obj, name, std::string(value));
}

// Creates a dataset of `type` with `dims`; chunk empty means contiguous. deflate_level > 0
// (needs a chunk) adds the shuffle + gzip filters, as h5py/cooler write them (serial files only).
Handle create_dataset(hid_t loc, const std::string& path, hid_t type,
                      const std::vector<hsize_t>& dims, const std::vector<hsize_t>& chunk = {},
                      int deflate_level = 0);
// Creates a 1-D dataset and writes all of it. In a parallel file every rank calls it (creation
// is collective) with the same values, and only the rank passing write_data = true writes.
template <typename T>
void write_1d(hid_t loc, const std::string& path, const std::vector<T>& values,
              const std::vector<hsize_t>& chunk = {}, bool write_data = true);
void write_strings(hid_t loc, const std::string& path, const std::vector<std::string>& values,
                   bool write_data = true);

// Writes rows [row, row + nrows) of a dataset whose other dimensions are full. With `collective`,
// every rank of the file's communicator must call it (nrows may be 0).
template <typename T>
void write_rows(hid_t dataset, int64_t row, int64_t nrows, const T* data, bool collective);

}  // namespace mixhic::h5
