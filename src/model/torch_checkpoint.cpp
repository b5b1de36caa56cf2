// Reads and writes torch.save files (zip format) holding a dict of tensors, e.g. a PyTorch
// state_dict.
//
// Writing (save_tensors) emits the pickle torch.save itself writes for a state_dict: an
// OrderedDict of torch._utils._rebuild_tensor_v2 calls on typed storages, one storage record per
// tensor. Python's restricted unpickler (torch.load's default from PyTorch 2.6 on, and
// weights_only=True in 1.13) accepts exactly that; LibTorch's torch::pickle_save tags its typed
// dicts with torch.jit._pickle.restore_type_tag, which it refuses.
//
// LibTorch's own unpickler turns `collections.OrderedDict` -- the type of every state_dict --
// into None, so it cannot read PyTorch checkpoints. This is a small pickle machine for exactly
// the objects torch.save writes for a state_dict: dicts/OrderedDicts, strings, numbers, tuples,
// and tensors rebuilt from the archive's storages (torch._utils._rebuild_tensor_v2 /
// _rebuild_parameter). Anything else is an error naming the Python object.
//
// The file is untrusted (a checkpoint shared on a cluster may be corrupt or hostile; issue 22):
// whatever it declares is checked before it is used, and a violation is an InputFormatError naming
// the file and the field. The bounds, in the order the reader meets them:
//  - the zip directory: no record declares more bytes than the whole file (check_declared_sizes);
//  - every operand lies inside the pickle; the stack is never popped past its last MARK, the memo
//    is read only where it was written (CheckpointReader's opcode helpers);
//  - objects form no cycle and nest at most kMaxNesting deep (CheckpointReader::add);
//  - the records read total at most the file's size, each storage is read once, its size is a
//    whole number of elements; a tensor lies inside its storage and, but for expanded dimensions
//    (stride 0), has no more elements than it; the tensors rebuilt total at most
//    kTensorBytesPerFileByte times the file's size.
#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <tuple>
#include <vector>

#include "mixhic/check.hpp"
#include "mixhic/output_files.hpp"
#include "mixhic/state_dict.hpp"

namespace mixhic {

namespace {

constexpr const char* kArchive = "torch.save archive";
constexpr const char* kArchiveExpected = "a file written by torch.save (zip format, the default since PyTorch 1.6)";
constexpr const char* kPickle = "data.pkl";
constexpr const char* kPickleExpected = "a pickled dict of tensors (as torch.save writes a state_dict)";
constexpr const char* kCompletePickle = "a complete pickle";

// torch.save cannot nest objects deeper than Python's recursion limit (1000 by default: its pickler
// recurses once or more per level); a state_dict nests three deep. The bound keeps the recursive
// destruction of a hostile chain of tuples (one byte a level) off the end of the stack.
constexpr size_t kMaxNesting = 1000;
// LibTorch's CUDA kernels index at most 25 dimensions (ATen/cuda/detail/OffsetCalculator.cuh).
constexpr size_t kMaxDims = 25;
// A state_dict's tensors are views of their storages, usually all of one each, so together they
// hold about the file's bytes; overlapping views of one storage and expanded tensors hold more. A
// pickle can rebuild a view in a few bytes, as often as it likes: the total is bounded.
constexpr uint64_t kTensorBytesPerFileByte = 4;

std::string library_text(const c10::Error& e) { return std::string(e.what_without_backtrace()).substr(0, 160); }

uint64_t little_endian(const char* p, int n) {
  uint64_t v = 0;
  for (int k = n; k-- > 0;) v = (v << 8) | uint8_t(p[k]);
  return v;
}

// Returns the file's size, once its zip directory has been checked. PyTorchStreamReader (LibTorch
// 1.13) allocates a record's declared uncompressed size before it reads a byte of it -- in its
// constructor already, for the `version` record -- and has no call that returns that size first.
// torch.save stores every record uncompressed, so a record declared larger than the whole file is
// refused here. The directory is found the way miniz (LibTorch's zip reader) finds it: the last
// end-of-central-directory signature with a whole record after it, within the file's last
// 64 KiB + 22 bytes, then the zip64 record when a zip64 locator comes right before it; a record's
// size is the directory's 32-bit field or, when that is 0xffffffff, its zip64 extra field's.
uint64_t check_declared_sizes(const std::string& path) {
  auto malformed = [&](const std::string& got) { return InputFormatError(path, kArchive, kArchiveExpected, got); };
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) throw malformed(ec.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) throw malformed("cannot be opened for reading");
  // n bytes at offset; every caller has checked that they lie inside the file.
  auto read_at = [&](uint64_t offset, uint64_t n) {
    std::string bytes(n, '\0');
    if (!in.seekg(std::streamoff(offset)) || !in.read(&bytes[0], std::streamsize(n)))
      throw malformed(fmt::format("{} bytes at offset {} cannot be read", n, offset));
    return bytes;
  };
  constexpr uint64_t kEndRecord = 22, kZip64Locator = 20, kZip64EndRecord = 56, kEntry = 46;
  if (size < kEndRecord) throw malformed(fmt::format("{} bytes, too short for a zip archive", size));
  // miniz scans back in 4 KiB blocks until it is 64 KiB + 22 bytes from the end: this holds them all.
  const uint64_t window = std::min<uint64_t>(size, 0xffff + kEndRecord + 8192);
  const std::string tail = read_at(size - window, window);
  size_t found = std::string::npos;
  for (size_t i = tail.size() - kEndRecord + 1; i-- > 0;)
    if (little_endian(tail.data() + i, 4) == 0x06054b50) {
      found = i;
      break;
    }
  if (found == std::string::npos) throw malformed("no zip end-of-central-directory record");
  const uint64_t end_record = size - window + found;
  const char* e = tail.data() + found;
  uint64_t entries = little_endian(e + 10, 2), dir_size = little_endian(e + 12, 4), dir_offset = little_endian(e + 16, 4);
  if (end_record >= kZip64Locator + kZip64EndRecord) {
    const std::string locator = read_at(end_record - kZip64Locator, kZip64Locator);
    if (little_endian(locator.data(), 4) == 0x07064b50) {
      const uint64_t zip64_offset = little_endian(locator.data() + 8, 8);
      if (zip64_offset > size - kZip64EndRecord)
        throw malformed(fmt::format("a zip64 end-of-central-directory record at offset {}, past the end", zip64_offset));
      const std::string record = read_at(zip64_offset, kZip64EndRecord);
      if (little_endian(record.data(), 4) == 0x06064b50) {
        entries = little_endian(record.data() + 32, 8);
        dir_size = little_endian(record.data() + 40, 8);
        dir_offset = little_endian(record.data() + 48, 8);
      }
    }
  }
  if (entries > dir_size / kEntry || dir_offset > size || dir_size > size - dir_offset)
    throw malformed(fmt::format("a zip directory of {} entries in {} bytes at offset {}, in a file of {} bytes",
                                entries, dir_size, dir_offset, size));
  const std::string dir = read_at(dir_offset, dir_size);
  size_t at = 0;
  for (uint64_t k = 0; k < entries; ++k) {
    const char* p = dir.data() + at;
    if (dir.size() - at < kEntry || little_endian(p, 4) != 0x02014b50)
      throw malformed(fmt::format("zip directory entry {} of {} is not one", k, entries));
    const uint64_t name_size = little_endian(p + 28, 2), extra_size = little_endian(p + 30, 2);
    const uint64_t entry_size = kEntry + name_size + extra_size + little_endian(p + 32, 2);
    if (entry_size > dir.size() - at)
      throw malformed(fmt::format("zip directory entry {} of {} ends past the directory", k, entries));
    uint64_t declared = little_endian(p + 24, 4);
    if (declared == 0xffffffff) {  // zip64: the uncompressed size leads the extra field with id 1
      const char* x = p + kEntry + name_size;
      for (uint64_t left = extra_size; left >= 4;) {
        const uint64_t id = little_endian(x, 2), n = little_endian(x + 2, 2);
        if (n + 4 > left) break;
        if (id == 1) {
          if (n >= 8) declared = little_endian(x + 4, 8);
          break;
        }
        x += 4 + n;
        left -= 4 + n;
      }
    }
    if (declared > size)
      throw InputFormatError(path, "record " + std::string(p + kEntry, std::min<uint64_t>(name_size, 200)),
                             fmt::format("an uncompressed size within the file's {} bytes (torch.save stores "
                                         "records uncompressed)", size),
                             fmt::format("{} bytes declared in the zip directory", declared));
    at += entry_size;
  }
  return size;
}

struct PyObject;
using Obj = std::shared_ptr<PyObject>;

struct PyObject {
  enum Kind { None, Bool, Int, Float, Str, Tuple, List, Dict, Global, Storage, Tensor } kind = None;
  int64_t i = 0;
  double f = 0;
  std::string s;                              // Str; Global "module.name"; Storage record key
  std::vector<Obj> items;                     // Tuple, List
  std::vector<std::pair<Obj, Obj>> entries;   // Dict, in insertion order
  torch::Tensor tensor;                       // Tensor
  torch::ScalarType dtype = torch::kFloat;    // Storage
  size_t depth = 0;                           // containers: 1 + the deepest container inside
  bool sealed = false;                        // held by another object: nothing may be added to it
};

const char* kind_name(PyObject::Kind k) {
  static const char* const names[] = {"None", "bool", "int", "float", "str", "tuple",
                                      "list", "dict", "global", "storage", "tensor"};
  return names[k];
}

Obj make(PyObject::Kind k) {
  auto o = std::make_shared<PyObject>();
  o->kind = k;
  if (k == PyObject::Tuple || k == PyObject::List || k == PyObject::Dict) o->depth = 1;
  return o;
}

torch::ScalarType storage_dtype(const std::string& global, const std::string& path) {
  static const std::map<std::string, torch::ScalarType> types = {
      {"torch.FloatStorage", torch::kFloat},   {"torch.DoubleStorage", torch::kDouble},
      {"torch.HalfStorage", torch::kHalf},     {"torch.BFloat16Storage", torch::kBFloat16},
      {"torch.LongStorage", torch::kLong},     {"torch.IntStorage", torch::kInt},
      {"torch.ShortStorage", torch::kShort},   {"torch.CharStorage", torch::kChar},
      {"torch.ByteStorage", torch::kByte},     {"torch.BoolStorage", torch::kBool}};
  auto it = types.find(global);
  if (it == types.end()) throw InputFormatError(path, "storage type", "a float/int/bool torch storage", global);
  return it->second;
}

// Runs data.pkl. MARKs are kept apart from the stack, as CPython keeps them: a mark is the stack's
// height when it was set, the opcodes that collect items take everything above it, and no opcode
// pops below it.
class CheckpointReader {
 public:
  CheckpointReader(caffe2::serialize::PyTorchStreamReader& zip, std::string path, uint64_t file_size)
      : zip_(zip), path_(std::move(path)), file_size_(file_size) {
    auto [data, size] = read_record("data.pkl");
    if (size > 0) pickle_.assign(static_cast<const char*>(data.get()), size);
  }

  Obj run() {
    while (pos_ < pickle_.size()) {
      op_pos_ = pos_;
      op_ = byte();
      switch (op_) {
        case 0x80: byte(); break;                 // PROTO
        case 0x95: skip(8); break;                // FRAME: its length; the frame's opcodes follow inline
        case '.': return pop();                   // STOP
        case '(': marks_.push_back(stack_.size()); break;
        case 'N': stack_.push_back(make(PyObject::None)); break;
        case 0x88: case 0x89: {                   // NEWTRUE, NEWFALSE
          Obj o = make(PyObject::Bool);
          o->i = op_ == 0x88;
          stack_.push_back(o);
          break;
        }
        case 'K': push_int(byte()); break;
        case 'M': push_int(uint16_t(little(2))); break;
        case 'J': push_int(int32_t(uint32_t(little(4)))); break;
        case 0x8a: push_int(long1()); break;      // LONG1
        case 'G': {                               // BINFLOAT, big-endian double
          need(8);
          uint64_t bits = 0;
          for (int k = 0; k < 8; ++k) bits = (bits << 8) | uint8_t(pickle_[pos_ + k]);
          pos_ += 8;
          Obj o = make(PyObject::Float);
          std::memcpy(&o->f, &bits, 8);
          stack_.push_back(o);
          break;
        }
        case 'X': push_str(little(4)); break;     // BINUNICODE
        case 0x8c: push_str(byte()); break;       // SHORT_BINUNICODE
        case 'U': push_str(byte()); break;        // SHORT_BINSTRING
        case 'c': {                               // GLOBAL "module\nname\n"
          std::string module = line(), name = line();
          Obj g = make(PyObject::Global);
          g->s = module + "." + name;
          stack_.push_back(g);
          break;
        }
        case 'q': memo_[byte()] = top(); break;
        case 'r': memo_[little(4)] = top(); break;
        case 0x94: memo_[memo_.size()] = top(); break;  // MEMOIZE
        case 'h': stack_.push_back(memo(byte())); break;
        case 'j': stack_.push_back(memo(little(4))); break;
        case ')': stack_.push_back(make(PyObject::Tuple)); break;
        case '}': stack_.push_back(make(PyObject::Dict)); break;
        case ']': stack_.push_back(make(PyObject::List)); break;
        case 't': stack_.push_back(tuple(pop_to_mark())); break;
        case 0x85: case 0x86: case 0x87: {        // TUPLE1..3
          std::vector<Obj> items(op_ - 0x84);
          for (size_t k = items.size(); k-- > 0;) items[k] = pop();
          stack_.push_back(tuple(std::move(items)));
          break;
        }
        case 's': {
          Obj v = pop(), k = pop();
          add(PyObject::Dict, {k, v});
          break;
        }
        case 'u': add(PyObject::Dict, pop_to_mark()); break;
        case 'a': add(PyObject::List, {pop()}); break;
        case 'e': add(PyObject::List, pop_to_mark()); break;
        case 'b':                                 // BUILD: an OrderedDict's _metadata; not needed
          pop();
          (void)top();                            // ... but there must be an object it is the state of
          break;
        case 'Q': stack_.push_back(persistent(pop())); break;
        case 'R': {
          Obj args = pop(), fn = pop();
          stack_.push_back(reduce(fn, args));
          break;
        }
        default:
          refuse(kPickleExpected, where());
      }
    }
    refuse(kCompletePickle, "no STOP opcode");
  }

 private:
  [[noreturn]] void refuse(const std::string& expected, const std::string& got) const {
    throw InputFormatError(path_, kPickle, expected, got);
  }
  std::string where() const { return fmt::format("pickle opcode 0x{:02x} at byte {}", op_, op_pos_); }

  // The operand bytes. pos_ never passes the pickle's end.
  void need(size_t n) const {
    if (pickle_.size() - pos_ < n)
      refuse(kCompletePickle, fmt::format("{} needs {} more bytes, the pickle has {}", where(), n, pickle_.size() - pos_));
  }
  void skip(size_t n) {
    need(n);
    pos_ += n;
  }
  uint8_t byte() {
    need(1);
    return uint8_t(pickle_[pos_++]);
  }
  uint64_t little(int n) {
    need(n);
    uint64_t v = little_endian(pickle_.data() + pos_, n);
    pos_ += n;
    return v;
  }
  // LONG1: n bytes of two's complement, little-endian. Sizes, strides and offsets are int64.
  int64_t long1() {
    const size_t n = byte();
    if (n > 8) refuse("integers of at most 8 bytes (int64)", fmt::format("{} holds a {}-byte LONG1", where(), n));
    need(n);
    uint64_t v = 0;
    for (size_t k = 0; k < n; ++k) v |= uint64_t(uint8_t(pickle_[pos_ + k])) << (8 * k);
    if (n > 0 && n < 8 && (uint8_t(pickle_[pos_ + n - 1]) & 0x80)) v |= ~uint64_t(0) << (8 * n);
    pos_ += n;
    return static_cast<int64_t>(v);
  }
  std::string line() {
    size_t end = pickle_.find('\n', pos_);
    if (end == std::string::npos)
      refuse(kCompletePickle, fmt::format("{} needs a module and a name, each ended by a newline; the pickle ends first", where()));
    std::string s = pickle_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return s;
  }
  void push_int(int64_t v) {
    Obj o = make(PyObject::Int);
    o->i = v;
    stack_.push_back(o);
  }
  void push_str(size_t n) {
    need(n);
    Obj o = make(PyObject::Str);
    o->s = pickle_.substr(pos_, n);
    pos_ += n;
    stack_.push_back(o);
  }

  // The stack, above the last MARK.
  Obj& top() {
    size_t fence = marks_.empty() ? 0 : marks_.back();
    if (stack_.size() <= fence)
      refuse(kCompletePickle, fmt::format("{} needs an object on the stack{}, there is none", where(),
                                          marks_.empty() ? "" : " above the last MARK"));
    return stack_.back();
  }
  Obj pop() {
    Obj o = std::move(top());
    stack_.pop_back();
    return o;
  }
  std::vector<Obj> pop_to_mark() {
    if (marks_.empty()) refuse(kCompletePickle, fmt::format("{} needs a MARK, none is set", where()));
    size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<Obj> out(std::make_move_iterator(stack_.begin() + mark), std::make_move_iterator(stack_.end()));
    stack_.resize(mark);
    return out;
  }
  Obj memo(size_t index) const {
    auto it = memo_.find(index);
    if (it == memo_.end()) refuse(kCompletePickle, fmt::format("{} reads memo entry {}, never stored", where(), index));
    return it->second;
  }

  // Objects are shared_ptrs, so a container that held itself would never be freed, and a chain of
  // them is freed recursively. An object put into another is sealed: nothing is added to it
  // afterwards. Then no container can come to hold itself, and every depth is final once counted.
  // torch.save's picklers (Python's and LibTorch's) fill each list and dict before it becomes part
  // of another object: only a self-referencing structure, which no state_dict is, is refused.
  void nest(PyObject& container, PyObject& item) {
    item.sealed = true;
    container.depth = std::max(container.depth, item.depth + 1);
    if (container.depth > kMaxNesting)
      refuse(kPickleExpected, fmt::format("{} nests objects more than {} deep", where(), kMaxNesting));
  }
  Obj tuple(std::vector<Obj> items) {
    Obj t = make(PyObject::Tuple);
    for (const Obj& x : items) nest(*t, *x);
    t->items = std::move(items);
    return t;
  }
  // SETITEM(S) and APPEND(S): the values into the dict or list on top of the stack.
  void add(PyObject::Kind kind, const std::vector<Obj>& values) {
    for (const Obj& v : values) v->sealed = true;  // first: a container added to itself is refused below
    PyObject& target = *top();
    if (target.kind != kind)
      refuse(kPickleExpected, fmt::format("{} adds items to a {}, not to a {}", where(), kind_name(target.kind), kind_name(kind)));
    if (target.sealed)
      refuse(kPickleExpected, fmt::format("{} adds items to a {} already inside another object (a "
                                          "self-referencing structure)", where(), kind_name(kind)));
    if (kind == PyObject::Dict && values.size() % 2 != 0)
      refuse(kCompletePickle, fmt::format("{} has a key without a value", where()));
    for (const Obj& v : values) nest(target, *v);
    if (kind == PyObject::Dict)
      for (size_t k = 0; k < values.size(); k += 2) target.entries.emplace_back(values[k], values[k + 1]);
    else
      target.items.insert(target.items.end(), values.begin(), values.end());
  }

  // A record of the archive. Each storage is read once (see persistent), so the records read lie in
  // different parts of the file and total at most its size.
  std::tuple<at::DataPtr, size_t> read_record(const std::string& name) {
    std::tuple<at::DataPtr, size_t> record;
    try {
      record = zip_.getRecord(name);
    } catch (const c10::Error& e) {
      throw InputFormatError(path_, "record " + name, "a record of the archive", library_text(e));
    }
    record_bytes_ += std::get<1>(record);
    if (record_bytes_ > file_size_)
      throw InputFormatError(path_, "record " + name, fmt::format("records that total at most the file's {} bytes", file_size_),
                             fmt::format("{} bytes read with this one", record_bytes_));
    return record;
  }
  // ('storage', <class torch.XStorage>, key, location, numel) -> the storage's bytes as a tensor.
  // Python's pickler writes the persistent id again for each tensor of a shared storage; like
  // torch.load, the storage is read once and shared.
  Obj persistent(const Obj& pid) {
    const std::vector<Obj>& f = pid->items;
    if (pid->kind != PyObject::Tuple || f.size() < 5 || f[0]->kind != PyObject::Str || f[0]->s != "storage" ||
        f[1]->kind != PyObject::Global || f[2]->kind != PyObject::Str)
      throw InputFormatError(path_, kPickle, "tensor storages as persistent ids ('storage', <storage type>, key, location, numel)",
                             where());
    const torch::ScalarType dtype = storage_dtype(f[1]->s, path_);
    const std::string name = "data/" + f[2]->s;
    auto seen = storages_.find(name);
    if (seen != storages_.end()) {
      if (seen->second->dtype != dtype)
        throw InputFormatError(path_, "record " + name, "one element type per storage",
                               fmt::format("{} and {}", c10::toString(seen->second->dtype), c10::toString(dtype)));
      return seen->second;
    }
    auto [data, size] = read_record(name);
    const size_t element = c10::elementSize(dtype);
    if (size % element != 0)
      throw InputFormatError(path_, "record " + name, fmt::format("a whole number of {}-byte {} elements", element, c10::toString(dtype)),
                             fmt::format("{} bytes", size));
    Obj st = make(PyObject::Storage);
    st->dtype = dtype;
    st->s = f[2]->s;
    st->tensor = torch::empty({int64_t(size / element)}, torch::dtype(dtype));
    if (size > 0) std::memcpy(st->tensor.data_ptr(), data.get(), size);
    storages_.emplace(name, st);
    return st;
  }
  std::vector<int64_t> ints(const Obj& tuple, const char* what) const {
    if (tuple->kind != PyObject::Tuple)
      refuse(kPickleExpected, fmt::format("{} gives a tensor's {} as a {}, not a tuple", where(), what, kind_name(tuple->kind)));
    std::vector<int64_t> v;
    for (const Obj& x : tuple->items) {
      if (x->kind != PyObject::Int)
        refuse(kPickleExpected, fmt::format("{} gives a {} in a tensor's {}", where(), kind_name(x->kind), what));
      v.push_back(x->i);
    }
    return v;
  }
  // (storage, storage_offset, size, stride, ...) -> a copy of that view of the storage. Checked
  // before as_strided, which throws c10::Error on a negative size and, with zero or overlapping
  // strides, describes more elements than the storage holds (clone() allocates them all).
  // torch.save writes a tensor's strides as they are: an expanded tensor (a buffer made with
  // expand(), stride 0) comes with a storage smaller than itself, and torch.load returns it
  // expanded. It is copied whole here too; the dimensions of nonzero stride must fit the storage,
  // and the copy counts against kTensorBytesPerFileByte like every tensor.
  Obj rebuild_tensor(const std::vector<Obj>& a) {
    if (a.size() < 4 || a[0]->kind != PyObject::Storage || a[1]->kind != PyObject::Int)
      refuse(kPickleExpected, fmt::format("{} rebuilds a tensor from other than (storage, offset, size, stride, ...)", where()));
    const PyObject& storage = *a[0];
    const int64_t offset = a[1]->i, available = storage.tensor.numel();
    const std::vector<int64_t> sizes = ints(a[2], "size"), strides = ints(a[3], "stride");
    auto refuse_view = [&](const std::string& why) {
      throw InputFormatError(path_, kPickle,
                             "a tensor inside its storage (sizes, strides, offset >= 0, offset + sum((size - 1) * "
                             "stride) < the storage's elements, no more elements than the storage but for "
                             "dimensions of stride 0)",
                             fmt::format("{}: size [{}] stride [{}] offset {} of data/{} ({} elements): {}", where(),
                                         fmt::join(sizes, ", "), fmt::join(strides, ", "), offset, storage.s,
                                         available, why));
    };
    if (sizes.size() != strides.size()) refuse_view("as many strides as sizes");
    if (sizes.size() > kMaxDims) refuse_view(fmt::format("more than {} dimensions", kMaxDims));
    if (offset < 0) refuse_view("a negative offset");
    bool empty = false;
    for (size_t d = 0; d < sizes.size(); ++d) {
      if (sizes[d] < 0 || strides[d] < 0) refuse_view("a negative size or stride");
      empty = empty || sizes[d] == 0;
    }
    // numel: the copy's elements; distinct: those over the dimensions of nonzero stride, which a
    // view that does not overlap itself reads once each; last: the highest element it reads.
    int64_t numel = 1, distinct = 1, last = offset;
    for (size_t d = 0; d < sizes.size(); ++d) {
      if (sizes[d] == 0) continue;
      if (__builtin_mul_overflow(numel, sizes[d], &numel)) refuse_view("more elements than int64 counts");
      if (empty) continue;
      if (strides[d] != 0) distinct *= sizes[d];  // <= numel: no overflow
      int64_t reach;
      if (__builtin_mul_overflow(sizes[d] - 1, strides[d], &reach) || __builtin_add_overflow(last, reach, &last))
        refuse_view("it reaches past int64");
    }
    if (empty) {
      numel = 0;
      if (offset > available) refuse_view("an offset past the storage's end");
    } else {
      if (last >= available) refuse_view(fmt::format("it reads element {}, past the storage's end", last));
      if (distinct > available) refuse_view(fmt::format("{} elements, more than the storage (overlapping strides)", distinct));
    }
    // Compared by division: an expanded tensor's numel may be near 2^63, its bytes past uint64.
    const uint64_t budget = kTensorBytesPerFileByte * file_size_, element = c10::elementSize(storage.dtype);
    if (uint64_t(numel) > (budget - tensor_bytes_) / element)
      refuse(fmt::format("tensors of at most {} times the file's {} bytes together (an expanded tensor counts whole)",
                         kTensorBytesPerFileByte, file_size_),
             fmt::format("{} elements of {} bytes at {}, after {} bytes of tensors", numel, element, where(), tensor_bytes_));
    tensor_bytes_ += uint64_t(numel) * element;
    Obj t = make(PyObject::Tensor);
    t->tensor = storage.tensor.as_strided(sizes, strides, offset).clone();
    return t;
  }
  Obj reduce(const Obj& fn, const Obj& args) {
    if (fn->kind != PyObject::Global || args->kind != PyObject::Tuple)
      refuse(kPickleExpected, fmt::format("{} calls a {} with a {} (REDUCE takes a global and a tuple)", where(),
                                          kind_name(fn->kind), kind_name(args->kind)));
    const std::string& name = fn->s;
    if (name == "collections.OrderedDict") return make(PyObject::Dict);
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") return rebuild_tensor(args->items);
    // _rebuild_parameter(data, requires_grad, backward_hooks); LibTorch's pickle_save tags typed
    // containers: restore_type_tag(obj, "Dict[str, Tensor]").
    if (name == "torch._utils._rebuild_parameter" || name == "torch.jit._pickle.restore_type_tag") {
      if (args->items.empty()) refuse(kPickleExpected, fmt::format("{} calls {} without arguments", where(), name));
      return args->items[0];
    }
    throw InputFormatError(path_, kPickle, "only dicts, numbers, strings and tensors",
                           "an object of Python type " + name);
  }

  caffe2::serialize::PyTorchStreamReader& zip_;
  std::string path_, pickle_;
  uint64_t file_size_;
  uint64_t record_bytes_ = 0, tensor_bytes_ = 0;
  size_t pos_ = 0, op_pos_ = 0;
  uint8_t op_ = 0;
  std::vector<Obj> stack_;
  std::vector<size_t> marks_;                 // stack heights at the open MARKs
  std::map<size_t, Obj> memo_;
  std::map<std::string, Obj> storages_;       // by record name
};

}  // namespace

NamedTensors load_tensors(const std::string& path) {
  const uint64_t file_size = check_declared_sizes(path);
  // LibTorch reports a malformed archive, a missing record and a failed tensor call as c10::Error.
  try {
    caffe2::serialize::PyTorchStreamReader zip(path);
    CheckpointReader reader(zip, path, file_size);
    Obj top = reader.run();
    if (top->kind != PyObject::Dict) throw InputFormatError(path, "top-level object", "a dict of tensors (a state_dict)");
    NamedTensors out;
    for (auto& [k, v] : top->entries) {
      if (k->kind != PyObject::Str || v->kind != PyObject::Tensor)
        throw InputFormatError(path, "entry " + (k->kind == PyObject::Str ? k->s : std::string("?")),
                               "a tensor (is this a full training checkpoint? save model.state_dict())");
      out.emplace_back(k->s, v->tensor);
    }
    return out;
  } catch (const c10::Error& e) {
    throw InputFormatError(path, kArchive, kArchiveExpected, library_text(e));
  }
}

namespace {

const char* storage_global(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat: return "FloatStorage";
    case torch::kDouble: return "DoubleStorage";
    case torch::kHalf: return "HalfStorage";
    case torch::kBFloat16: return "BFloat16Storage";
    case torch::kLong: return "LongStorage";
    case torch::kInt: return "IntStorage";
    case torch::kShort: return "ShortStorage";
    case torch::kChar: return "CharStorage";
    case torch::kByte: return "ByteStorage";
    case torch::kBool: return "BoolStorage";
    default: throw Error(fmt::format("save_tensors: no torch storage type for dtype {}", c10::toString(t)));
  }
}

// Pickle protocol 2, the opcodes torch.save's pickler emits for a state_dict.
class StateDictPickler {
 public:
  std::string bytes = std::string("\x80\x02", 2);  // PROTO 2
  void op(char c) { bytes.push_back(c); }
  void global(const std::string& module, const std::string& name) { bytes += "c" + module + "\n" + name + "\n"; }
  void str(const std::string& s) {
    op('X');  // BINUNICODE: 4-byte length, UTF-8 (the keys are ASCII module paths)
    put_le(s.size(), 4);
    bytes += s;
  }
  void integer(int64_t v) {
    if (v >= 0 && v < 256) {
      op('K');  // BININT1
      put_le(uint64_t(v), 1);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      op('J');  // BININT, signed
      put_le(uint64_t(uint32_t(int32_t(v))), 4);
    } else {
      op('\x8a');  // LONG1: 8 bytes of two's complement
      put_le(8, 1);
      put_le(uint64_t(v), 8);
    }
  }
  void int_tuple(c10::IntArrayRef values) {
    op('(');  // MARK
    for (int64_t v : values) integer(v);
    op('t');  // TUPLE
  }
  void ordered_dict() {  // collections.OrderedDict()
    global("collections", "OrderedDict");
    op(')');  // EMPTY_TUPLE
    op('R');  // REDUCE
  }
  // _rebuild_tensor_v2(storage, offset 0, size, stride, requires_grad False, OrderedDict())
  void tensor(const torch::Tensor& t, const std::string& key) {
    global("torch._utils", "_rebuild_tensor_v2");
    op('(');
    op('(');  // the persistent id ('storage', torch.<T>Storage, key, 'cpu', numel)
    str("storage");
    global("torch", storage_global(t.scalar_type()));
    str(key);
    str("cpu");
    integer(t.numel());
    op('t');
    op('Q');  // BINPERSID
    integer(0);
    int_tuple(t.sizes());
    int_tuple(t.strides());
    op('\x89');  // NEWFALSE
    ordered_dict();
    op('t');
    op('R');
  }

 private:
  void put_le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) bytes.push_back(char((v >> (8 * i)) & 0xff));
  }
};

}  // namespace

void save_tensors(const NamedTensors& tensors, const std::string& path) {
  std::vector<torch::Tensor> data;
  StateDictPickler p;
  p.ordered_dict();
  p.op('(');  // MARK
  for (const auto& [name, t] : tensors) {
    data.push_back(t.detach().cpu().contiguous());
    p.str(name);
    p.tensor(data.back(), std::to_string(data.size() - 1));
  }
  p.op('u');  // SETITEMS
  p.op('.');  // STOP
  std::string archive;
  caffe2::serialize::PyTorchStreamWriter zip([&](const void* bytes, size_t n) {
    archive.append(static_cast<const char*>(bytes), n);
    return n;
  });
  zip.writeRecord("data.pkl", p.bytes.data(), p.bytes.size());
  zip.writeRecord("byteorder", "little", 6);
  for (size_t i = 0; i < data.size(); ++i)
    zip.writeRecord("data/" + std::to_string(i), data[i].data_ptr(), size_t(data[i].numel()) * data[i].element_size());
  zip.writeEndOfFile();
  replace_file(path, archive.data(), archive.size());
}

}  // namespace mixhic
