#include "mixhic/h5.hpp"

#include <sys/stat.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "mixhic/check.hpp"

namespace mixhic::h5 {

void Handle::reset() {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE: H5Fclose(id_); break;
    case H5I_GROUP: H5Gclose(id_); break;
    case H5I_DATASET: H5Dclose(id_); break;
    case H5I_DATASPACE: H5Sclose(id_); break;
    case H5I_DATATYPE: H5Tclose(id_); break;
    case H5I_ATTR: H5Aclose(id_); break;
    case H5I_GENPROP_LST: H5Pclose(id_); break;
    default: break;
  }
  id_ = H5I_INVALID_HID;
}

namespace {
void require_file(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0)
    throw InputFormatError(path, "file", "an existing file", std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw InputFormatError(path, "file", "a regular file");
}

Handle open_with(const std::string& path, unsigned flags, hid_t fapl) {
  require_file(path);
  (void)fapl;
  htri_t is_h5 = H5Fis_hdf5(path.c_str());
  if (is_h5 <= 0)
    throw InputFormatError(path, "HDF5 superblock",
                           "an HDF5 file (the file is not HDF5, or it is truncated or corrupt)");
  hid_t f = H5Fopen(path.c_str(), flags, fapl);
  if (f < 0)
    throw InputFormatError(path, "HDF5 file", "a readable HDF5 file (truncated or corrupt?)",
                           hdf5_error_text());
  return Handle(f);
}

Handle mpio_fapl(MPI_Comm comm) {
  Handle fapl(MIXHIC_H5_CHECK(H5Pcreate(H5P_FILE_ACCESS)));
  MIXHIC_H5_CHECK(H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL));
  return fapl;
}

std::string obj_name(hid_t obj) {
  char buf[1024] = "";
  H5Iget_name(obj, buf, sizeof buf);
  return buf;
}

Handle xfer_plist(bool collective) {
  Handle dxpl(MIXHIC_H5_CHECK(H5Pcreate(H5P_DATASET_XFER)));
  if (collective) MIXHIC_H5_CHECK(H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE));
  return dxpl;
}
}  // namespace

Handle open_read(const std::string& path, bool random_access, const MPI_Comm* comm) {
  Handle fapl = comm ? mpio_fapl(*comm) : Handle(MIXHIC_H5_CHECK(H5Pcreate(H5P_FILE_ACCESS)));
  if (random_access) {
    MIXHIC_H5_CHECK(H5Pset_sieve_buf_size(fapl, 0));
  } else {
    // cooler writes gzip chunks of 2 MB (262,144 int64 pixels), larger than HDF5's default
    // 1 MB chunk cache: consecutive row reads would then inflate every boundary chunk twice.
    MIXHIC_H5_CHECK(H5Pset_cache(fapl, 0, 1031, 64 << 20, 0.75));
  }
  return open_with(path, H5F_ACC_RDONLY, fapl);
}

Handle create(const std::string& path, const MPI_Comm* comm) {
  Handle fapl;
  if (comm) fapl = mpio_fapl(*comm);
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, comm ? fapl.get() : H5P_DEFAULT);
  if (f < 0) throw Error(fmt::format("{}: cannot create HDF5 file: {}", path, hdf5_error_text()));
  return Handle(f);
}

bool exists(hid_t loc, const std::string& path) {
  // H5Lexists needs every intermediate link to exist, so walk the path.
  size_t pos = 0;
  while (true) {
    size_t next = path.find('/', pos);
    std::string prefix = path.substr(0, next);
    if (!prefix.empty() && prefix != "/") {
      if (H5Lexists(loc, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    }
    if (next == std::string::npos) return true;
    pos = next + 1;
  }
}

std::string file_name(hid_t obj) {
  char buf[4096] = "";
  H5Fget_name(obj, buf, sizeof buf);
  return buf;
}

Handle open_group(hid_t loc, const std::string& path) {
  if (!exists(loc, path))
    throw InputFormatError(file_name(loc), obj_name(loc) + "/" + path, "an HDF5 group", "missing");
  return Handle(MIXHIC_H5_CHECK(H5Gopen2(loc, path.c_str(), H5P_DEFAULT)));
}

Handle create_group(hid_t loc, const std::string& path) {
  return Handle(MIXHIC_H5_CHECK(H5Gcreate2(loc, path.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)));
}

Handle open_dataset(hid_t loc, const std::string& path) {
  if (!exists(loc, path))
    throw InputFormatError(file_name(loc), obj_name(loc) + "/" + path, "an HDF5 dataset",
                           "missing");
  hid_t d = H5Dopen2(loc, path.c_str(), H5P_DEFAULT);
  if (d < 0)
    throw InputFormatError(file_name(loc), obj_name(loc) + "/" + path, "a readable dataset",
                           hdf5_error_text());
  return Handle(d);
}

std::vector<hsize_t> shape(hid_t dataset) {
  Handle space(MIXHIC_H5_CHECK(H5Dget_space(dataset)));
  int rank = MIXHIC_H5_CHECK(H5Sget_simple_extent_ndims(space));
  std::vector<hsize_t> dims(rank);
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  return dims;
}

void require_stored(hid_t dataset, size_t held_element) {
  Handle space(MIXHIC_H5_CHECK(H5Dget_space(dataset)));
  const hssize_t npoints = MIXHIC_H5_CHECK(H5Sget_simple_extent_npoints(space));
  Handle type(MIXHIC_H5_CHECK(H5Dget_type(dataset)));
  const size_t element = H5Tget_size(type);
  if (element == 0) throw InputFormatError(file_name(dataset), obj_name(dataset), "a datatype of known size", hdf5_error_text());
  if (npoints == 0) return;
  Handle dcpl(MIXHIC_H5_CHECK(H5Dget_create_plist(dataset)));
  const H5D_layout_t layout = H5Pget_layout(dcpl);
  if (layout == H5D_VIRTUAL)
    throw InputFormatError(file_name(dataset), obj_name(dataset), "data stored in this file", "a virtual dataset");
  const bool filtered = layout == H5D_CHUNKED && H5Pget_nfilters(dcpl) > 0;
  // Unfiltered, the values as stored must fit in the stored bytes; compressed, the values as the
  // caller holds them (a wider type than stored multiplies them) in kMaxCompressionRatio times those.
  const size_t counted = filtered ? std::max(element, held_element) : element;
  hsize_t bytes = 0;
  if (__builtin_mul_overflow(static_cast<hsize_t>(npoints), static_cast<hsize_t>(counted), &bytes))
    throw InputFormatError(file_name(dataset), obj_name(dataset), "a size in bytes that fits in 64 bits",
                           fmt::format("{} values of {} bytes", npoints, counted));
  // What the dataset's index says it stores is file data too: no more than the file holds. (HDF5
  // refuses at open a file shorter than its superblock's end of allocation.)
  Handle file(MIXHIC_H5_CHECK(H5Iget_file_id(dataset)));
  hsize_t file_size = 0;
  MIXHIC_H5_CHECK(H5Fget_filesize(file, &file_size));
  const hsize_t stored = std::min<hsize_t>(H5Dget_storage_size(dataset), file_size);  // 0 on failure
  hsize_t limit = stored;
  if (filtered && __builtin_mul_overflow(stored, kMaxCompressionRatio, &limit)) limit = std::numeric_limits<hsize_t>::max();
  if (bytes > limit)
    throw InputFormatError(file_name(dataset), obj_name(dataset),
                           fmt::format("at most {} bytes of values, as its {} stored bytes allow{}", limit, stored,
                                       filtered ? fmt::format(" (compressed, up to {}:1)", kMaxCompressionRatio) : ""),
                           fmt::format("{} values of {} bytes declared", npoints, counted));
}

namespace {
// "shape (3, 4)", for errors about a dataset's rank or width.
std::string shape_text(const std::vector<hsize_t>& dims) {
  std::string s;
  for (hsize_t d : dims) s += (s.empty() ? "" : ", ") + std::to_string(d);
  return "shape (" + s + ")";
}

// Rows [row, row + nrows) must lie inside the dataset's first dimension.
void require_rows(hid_t dataset, const std::vector<hsize_t>& dims, int64_t row, int64_t nrows) {
  if (row < 0 || nrows < 0 || hsize_t(row) > dims[0] || hsize_t(nrows) > dims[0] - hsize_t(row))
    throw InputFormatError(file_name(dataset), obj_name(dataset),
                           fmt::format("{} rows from row {} inside its {} rows", nrows, row, dims[0]));
}
// Reads a hyperslab (start, count per dimension) into `out`, throwing InputFormatError on a
// read failure: inside a readable file that means a truncated or corrupt dataset.
void read_slab(hid_t dset, hid_t mem_type, const std::vector<hsize_t>& start,
               const std::vector<hsize_t>& count, void* out) {
  hsize_t n = 1;
  for (auto c : count) n *= c;
  if (n == 0) return;
  Handle fspace(MIXHIC_H5_CHECK(H5Dget_space(dset)));
  MIXHIC_H5_CHECK(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start.data(), nullptr, count.data(),
                                      nullptr));
  Handle mspace(MIXHIC_H5_CHECK(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr)));
  if (H5Dread(dset, mem_type, mspace, fspace, H5P_DEFAULT, out) < 0)
    throw InputFormatError(file_name(dset), obj_name(dset), "readable data (file truncated or corrupt?)",
                           hdf5_error_text());
}

void write_slab(hid_t dset, hid_t mem_type, const std::vector<hsize_t>& start,
                const std::vector<hsize_t>& count, const void* data, bool collective) {
  Handle fspace(MIXHIC_H5_CHECK(H5Dget_space(dset)));
  hsize_t n = 1;
  for (auto c : count) n *= c;
  if (n == 0) {
    MIXHIC_H5_CHECK(H5Sselect_none(fspace));
  } else {
    MIXHIC_H5_CHECK(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start.data(), nullptr,
                                        count.data(), nullptr));
  }
  std::vector<hsize_t> mdims = count;
  if (n == 0) mdims.assign(count.size(), 1);
  Handle mspace(MIXHIC_H5_CHECK(H5Screate_simple(static_cast<int>(mdims.size()), mdims.data(), nullptr)));
  if (n == 0) MIXHIC_H5_CHECK(H5Sselect_none(mspace));
  Handle dxpl = xfer_plist(collective);
  MIXHIC_H5_CHECK(H5Dwrite(dset, mem_type, mspace, fspace, dxpl, data));
}
}  // namespace

template <typename T>
std::vector<T> read_1d(hid_t loc, const std::string& path, int64_t offset, int64_t count) {
  Handle d = open_dataset(loc, path);
  auto dims = shape(d);
  if (dims.size() != 1)
    throw InputFormatError(file_name(loc), obj_name(d), "a 1-D dataset",
                           fmt::format("{} dimensions", dims.size()));
  require_stored(d, sizeof(T));  // before n decides an allocation
  int64_t n = static_cast<int64_t>(dims[0]);  // < 2^63: require_stored bounds it by the file's size
  if (count < 0) count = n - offset;
  if (offset < 0 || offset > n || count > n - offset)
    throw InputFormatError(file_name(loc), obj_name(d), fmt::format("at least {} elements", offset + count),
                           fmt::format("{}", n));
  if (static_cast<uint64_t>(count) > std::numeric_limits<size_t>::max() / sizeof(T))
    throw InputFormatError(file_name(loc), obj_name(d), "a count whose bytes fit in memory", std::to_string(count));
  std::vector<T> out(count);
  read_slab(d, native<T>(), {static_cast<hsize_t>(offset)}, {static_cast<hsize_t>(count)}, out.data());
  return out;
}

template <typename T>
void read_rows(hid_t dataset, int64_t row, int64_t nrows, int64_t width, T* out) {
  auto dims = shape(dataset);
  const bool fits = width == kColumn ? dims.size() == 1 : width > 0 && dims.size() == 2 && dims[1] == hsize_t(width);
  if (!fits)
    throw InputFormatError(file_name(dataset), obj_name(dataset),
                           width == kColumn ? "a 1-D dataset" : fmt::format("a 2-D dataset of {} columns", width),
                           shape_text(dims));
  require_rows(dataset, dims, row, nrows);
  std::vector<hsize_t> start(dims.size(), 0), count = dims;
  start[0] = row;
  count[0] = nrows;
  read_slab(dataset, native<T>(), start, count, out);
}

template <typename T>
void read_rows(hid_t dataset, int64_t row, int64_t nrows, T* out) {
  auto dims = shape(dataset);
  if (dims.empty())
    throw InputFormatError(file_name(dataset), obj_name(dataset), "a dataset of rows", shape_text(dims));
  require_rows(dataset, dims, row, nrows);
  std::vector<hsize_t> start(dims.size(), 0), count = dims;
  start[0] = row;
  count[0] = nrows;
  read_slab(dataset, native<T>(), start, count, out);
}

std::vector<std::string> read_strings(hid_t loc, const std::string& path) {
  Handle d = open_dataset(loc, path);
  Handle ftype(MIXHIC_H5_CHECK(H5Dget_type(d)));
  if (H5Tget_class(ftype) != H5T_STRING)
    throw InputFormatError(file_name(loc), obj_name(d), "a string dataset");
  auto dims = shape(d);
  if (dims.size() != 1)
    throw InputFormatError(file_name(loc), obj_name(d), "a 1-D string dataset", fmt::format("{} dimensions", dims.size()));
  require_stored(d, sizeof(std::string));  // bounds n and n * width by the file's size
  const size_t n = dims[0];
  std::vector<std::string> out(n);
  if (n == 0) return out;
  const auto unreadable = [&](const std::string& why) {
    return InputFormatError(file_name(loc), obj_name(d), "readable strings (file truncated or corrupt?)", why);
  };
  if (H5Tis_variable_str(ftype) > 0) {
    std::vector<char*> ptrs(n, nullptr);
    Handle mtype(MIXHIC_H5_CHECK(H5Tcopy(H5T_C_S1)));
    H5Tset_size(mtype, H5T_VARIABLE);
    H5Tset_cset(mtype, H5Tget_cset(ftype));
    const herr_t rc = H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data());
    const std::string why = rc < 0 ? hdf5_error_text() : "";  // before the next call clears the stack
    if (rc >= 0)
      for (size_t i = 0; i < n; ++i) out[i] = ptrs[i] ? ptrs[i] : "";
    Handle space(MIXHIC_H5_CHECK(H5Dget_space(d)));
    H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, ptrs.data());  // also what a failed read left (null otherwise)
    if (rc < 0) throw unreadable(why);
  } else {
    const size_t width = H5Tget_size(ftype);  // >= 1: require_stored refuses a size of 0
    std::vector<char> buf(n * width);
    Handle mtype(MIXHIC_H5_CHECK(H5Tcopy(H5T_C_S1)));
    MIXHIC_H5_CHECK(H5Tset_size(mtype, width));
    H5Tset_strpad(mtype, H5T_STR_NULLPAD);
    H5Tset_cset(mtype, H5Tget_cset(ftype));
    if (H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) < 0) throw unreadable(hdf5_error_text());
    for (size_t i = 0; i < n; ++i) {
      const char* s = buf.data() + i * width;
      out[i].assign(s, strnlen(s, width));
    }
  }
  return out;
}

bool has_attr(hid_t obj, const std::string& name) { return H5Aexists(obj, name.c_str()) > 0; }

namespace {
std::string attr_field(hid_t obj, const std::string& name) { return obj_name(obj) + " attribute '" + name + "'"; }

std::string class_text(H5T_class_t cls) {
  switch (cls) {
    case H5T_INTEGER: return "an integer";
    case H5T_FLOAT: return "a float";
    case H5T_STRING: return "a string";
    case H5T_ENUM: return "an enum";
    case H5T_COMPOUND: return "a compound";
    case H5T_ARRAY: return "an array";
    default: return "another type class";
  }
}

// Every attribute reader reads one value into a one-value buffer: the attribute must hold
// exactly one (a scalar, or a simple dataspace of one element as a 1-element array is stored).
Handle open_attr(hid_t obj, const std::string& name) {
  if (!has_attr(obj, name))
    throw InputFormatError(file_name(obj), attr_field(obj, name), "present", "missing");
  Handle a(MIXHIC_H5_CHECK(H5Aopen(obj, name.c_str(), H5P_DEFAULT)));
  Handle space(MIXHIC_H5_CHECK(H5Aget_space(a)));
  const H5S_class_t cls = H5Sget_simple_extent_type(space);
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  if (cls != H5S_SCALAR && !(cls == H5S_SIMPLE && n == 1))
    throw InputFormatError(file_name(obj), attr_field(obj, name), "a single value",
                           cls == H5S_NULL ? "no value" : fmt::format("{} values", n));
  return a;
}
}  // namespace

int64_t attr_int(hid_t obj, const std::string& name) {
  Handle a = open_attr(obj, name);
  Handle ftype(MIXHIC_H5_CHECK(H5Aget_type(a)));
  if (H5Tget_class(ftype) == H5T_STRING) {  // some writers store numbers as text ("3")
    std::string text = attr_string(obj, name);
    try {
      return std::stoll(text);
    } catch (const std::exception&) {
      throw InputFormatError(file_name(obj), "attribute '" + name + "'", "an integer", "'" + text + "'");
    }
  }
  if (H5Tget_class(ftype) == H5T_FLOAT) {  // taken when it is an integer stored as a float (5000.0)
    double d = 0;
    MIXHIC_H5_CHECK(H5Aread(a, H5T_NATIVE_DOUBLE, &d));
    if (!(d >= -0x1p63 && d < 0x1p63) || d != std::trunc(d))
      throw InputFormatError(file_name(obj), attr_field(obj, name), "an integer", fmt::format("{}", d));
    return static_cast<int64_t>(d);
  }
  if (H5Tget_class(ftype) != H5T_INTEGER)
    throw InputFormatError(file_name(obj), attr_field(obj, name), "an integer", class_text(H5Tget_class(ftype)));
  int64_t v = 0;
  MIXHIC_H5_CHECK(H5Aread(a, H5T_NATIVE_INT64, &v));
  return v;
}

bool attr_bool(hid_t obj, const std::string& name) {
  Handle a = open_attr(obj, name);
  Handle ftype(MIXHIC_H5_CHECK(H5Aget_type(a)));
  const H5T_class_t cls = H5Tget_class(ftype);
  if (cls == H5T_STRING) {
    const std::string t = attr_string(obj, name);
    if (t == "True" || t == "true" || t == "TRUE" || t == "1") return true;
    if (t == "False" || t == "false" || t == "FALSE" || t == "0") return false;
    throw InputFormatError(file_name(obj), obj_name(obj) + " attribute '" + name + "'", "a boolean", "'" + t + "'");
  }
  if (cls == H5T_ENUM) {
    // HDF5 converts no enum to an integer: read the stored value with its own type, then decode
    // the base integer (int8 for h5py's bools).
    Handle native(MIXHIC_H5_CHECK(H5Tget_native_type(ftype, H5T_DIR_ASCEND)));
    Handle base(MIXHIC_H5_CHECK(H5Tget_super(native)));
    const size_t size = H5Tget_size(native);
    if (size == 0 || size > 8)
      throw InputFormatError(file_name(obj), obj_name(obj) + " attribute '" + name + "'", "a boolean enum", "a wide enum");
    unsigned char raw[8] = {0};
    MIXHIC_H5_CHECK(H5Aread(a, native, raw));
    int64_t v = 0;
    MIXHIC_H5_CHECK(H5Tconvert(base, H5T_NATIVE_INT64, 1, raw, nullptr, H5P_DEFAULT));
    std::memcpy(&v, raw, sizeof v);
    return v != 0;
  }
  if (cls == H5T_INTEGER) return attr_int(obj, name) != 0;
  throw InputFormatError(file_name(obj), obj_name(obj) + " attribute '" + name + "'", "a boolean");
}

double attr_double(hid_t obj, const std::string& name) {
  Handle a = open_attr(obj, name);
  Handle ftype(MIXHIC_H5_CHECK(H5Aget_type(a)));
  const H5T_class_t cls = H5Tget_class(ftype);
  if (cls != H5T_FLOAT && cls != H5T_INTEGER)
    throw InputFormatError(file_name(obj), attr_field(obj, name), "a number", class_text(cls));
  double v = 0;
  MIXHIC_H5_CHECK(H5Aread(a, H5T_NATIVE_DOUBLE, &v));
  return v;
}

std::string attr_string(hid_t obj, const std::string& name) {
  Handle a = open_attr(obj, name);
  Handle ftype(MIXHIC_H5_CHECK(H5Aget_type(a)));
  if (H5Tget_class(ftype) != H5T_STRING)
    throw InputFormatError(file_name(obj), "attribute '" + name + "'", "a string");
  if (H5Tis_variable_str(ftype) > 0) {
    char* p = nullptr;
    Handle mtype(MIXHIC_H5_CHECK(H5Tcopy(H5T_C_S1)));
    H5Tset_size(mtype, H5T_VARIABLE);
    H5Tset_cset(mtype, H5Tget_cset(ftype));  // no conversion between ASCII and UTF-8 exists
    MIXHIC_H5_CHECK(H5Aread(a, mtype, &p));
    std::string s = p ? p : "";
    H5free_memory(p);
    return s;
  }
  size_t width = H5Tget_size(ftype);
  if (width == 0) throw InputFormatError(file_name(obj), attr_field(obj, name), "a string of known width", hdf5_error_text());
  std::string s(width, '\0');
  Handle mtype(MIXHIC_H5_CHECK(H5Tcopy(H5T_C_S1)));
  MIXHIC_H5_CHECK(H5Tset_size(mtype, width));
  H5Tset_cset(mtype, H5Tget_cset(ftype));
  MIXHIC_H5_CHECK(H5Aread(a, mtype, s.data()));
  s.resize(strnlen(s.data(), width));
  return s;
}

namespace {
void write_attr(hid_t obj, const std::string& name, hid_t type, hid_t space, const void* buf) {
  if (has_attr(obj, name)) H5Adelete(obj, name.c_str());
  Handle a(MIXHIC_H5_CHECK(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT)));
  MIXHIC_H5_CHECK(H5Awrite(a, type, buf));
}
}  // namespace

void set_attr(hid_t obj, const std::string& name, int64_t value) {
  Handle space(MIXHIC_H5_CHECK(H5Screate(H5S_SCALAR)));
  write_attr(obj, name, H5T_NATIVE_INT64, space, &value);
}
void set_attr(hid_t obj, const std::string& name, double value) {
  Handle space(MIXHIC_H5_CHECK(H5Screate(H5S_SCALAR)));
  write_attr(obj, name, H5T_NATIVE_DOUBLE, space, &value);
}
void set_attr(hid_t obj, const std::string& name, const std::string& value) {
  // Variable-length UTF-8, as h5py and cooler write them.
  Handle space(MIXHIC_H5_CHECK(H5Screate(H5S_SCALAR)));
  Handle type(MIXHIC_H5_CHECK(H5Tcopy(H5T_C_S1)));
  H5Tset_size(type, H5T_VARIABLE);
  H5Tset_cset(type, H5T_CSET_UTF8);
  const char* p = value.c_str();
  write_attr(obj, name, type, space, &p);
}

Handle create_dataset(hid_t loc, const std::string& path, hid_t type,
                      const std::vector<hsize_t>& dims, const std::vector<hsize_t>& chunk,
                      int deflate_level) {
  Handle space(MIXHIC_H5_CHECK(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr)));
  Handle dcpl(MIXHIC_H5_CHECK(H5Pcreate(H5P_DATASET_CREATE)));
  if (!chunk.empty()) MIXHIC_H5_CHECK(H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data()));
  if (deflate_level > 0) {
    MIXHIC_REQUIRE(!chunk.empty(), "{}: {}: compression needs a chunked dataset", file_name(loc), path);
    MIXHIC_H5_CHECK(H5Pset_shuffle(dcpl));
    MIXHIC_H5_CHECK(H5Pset_deflate(dcpl, static_cast<unsigned>(deflate_level)));
  }
  // Contiguous datasets are allocated at creation so that parallel writes need no extension.
  H5Pset_alloc_time(dcpl, chunk.empty() ? H5D_ALLOC_TIME_EARLY : H5D_ALLOC_TIME_INCR);
  H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
  Handle lcpl(MIXHIC_H5_CHECK(H5Pcreate(H5P_LINK_CREATE)));
  H5Pset_create_intermediate_group(lcpl, 1);
  return Handle(MIXHIC_H5_CHECK(H5Dcreate2(loc, path.c_str(), type, space, lcpl, dcpl, H5P_DEFAULT)));
}

template <typename T>
void write_1d(hid_t loc, const std::string& path, const std::vector<T>& values,
              const std::vector<hsize_t>& chunk, bool write_data) {
  Handle d = create_dataset(loc, path, native<T>(), {values.size()}, chunk);
  if (write_data && !values.empty()) MIXHIC_H5_CHECK(H5Dwrite(d, native<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()));
}

void write_strings(hid_t loc, const std::string& path, const std::vector<std::string>& values,
                   bool write_data) {
  size_t width = 1;
  for (auto& s : values) width = std::max(width, s.size());
  Handle type(MIXHIC_H5_CHECK(H5Tcopy(H5T_C_S1)));
  H5Tset_size(type, width);
  H5Tset_strpad(type, H5T_STR_NULLPAD);
  std::vector<char> buf(values.size() * width, '\0');
  for (size_t i = 0; i < values.size(); ++i) std::memcpy(&buf[i * width], values[i].data(), values[i].size());
  Handle d = create_dataset(loc, path, type, {values.size()});
  if (write_data && !values.empty()) MIXHIC_H5_CHECK(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()));
}

template <typename T>
void write_rows(hid_t dataset, int64_t row, int64_t nrows, const T* data, bool collective) {
  auto dims = shape(dataset);
  std::vector<hsize_t> start(dims.size(), 0), count = dims;
  start[0] = row;
  count[0] = nrows;
  write_slab(dataset, native<T>(), start, count, data, collective);
}

#define MIXHIC_H5_INSTANTIATE(T)                                                                \
  template std::vector<T> read_1d<T>(hid_t, const std::string&, int64_t, int64_t);              \
  template void read_rows<T>(hid_t, int64_t, int64_t, int64_t, T*);                             \
  template void read_rows<T>(hid_t, int64_t, int64_t, T*);                                      \
  template void write_1d<T>(hid_t, const std::string&, const std::vector<T>&,                   \
                            const std::vector<hsize_t>&, bool);                                 \
  template void write_rows<T>(hid_t, int64_t, int64_t, const T*, bool);
MIXHIC_H5_INSTANTIATE(int8_t)
MIXHIC_H5_INSTANTIATE(uint8_t)
MIXHIC_H5_INSTANTIATE(int16_t)
MIXHIC_H5_INSTANTIATE(int32_t)
MIXHIC_H5_INSTANTIATE(int64_t)
MIXHIC_H5_INSTANTIATE(uint64_t)
MIXHIC_H5_INSTANTIATE(float)
MIXHIC_H5_INSTANTIATE(double)

}  // namespace mixhic::h5
