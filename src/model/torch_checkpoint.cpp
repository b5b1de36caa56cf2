// Reads torch.save files (zip format) holding a dict of tensors, e.g. a PyTorch state_dict.
//
// LibTorch's own unpickler turns `collections.OrderedDict` -- the type of every state_dict --
// into None, so it cannot read PyTorch checkpoints. This is a small pickle machine for exactly
// the objects torch.save writes for a state_dict: dicts/OrderedDicts, strings, numbers, tuples,
// and tensors rebuilt from the archive's storages (torch._utils._rebuild_tensor_v2 /
// _rebuild_parameter). Anything else is an error naming the Python object.
#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>

#include <cstring>
#include <map>
#include <memory>
#include <variant>

#include "mixhic/check.hpp"
#include "mixhic/state_dict.hpp"

namespace mixhic {

namespace {

struct PyObject;
using Obj = std::shared_ptr<PyObject>;

struct PyObject {
  enum Kind { None, Bool, Int, Float, Str, Tuple, List, Dict, Global, Storage, Tensor, Mark } kind = None;
  int64_t i = 0;
  double f = 0;
  std::string s;                              // Str; Global "module.name"; Storage record key
  std::vector<Obj> items;                     // Tuple, List
  std::vector<std::pair<Obj, Obj>> entries;   // Dict, in insertion order
  torch::Tensor tensor;                       // Tensor
  torch::ScalarType dtype = torch::kFloat;    // Storage
};

Obj make(PyObject::Kind k) {
  auto o = std::make_shared<PyObject>();
  o->kind = k;
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

class CheckpointReader {
 public:
  CheckpointReader(caffe2::serialize::PyTorchStreamReader& zip, std::string path) : zip_(zip), path_(std::move(path)) {
    auto [data, size] = zip_.getRecord("data.pkl");
    pickle_.assign(static_cast<const char*>(data.get()), size);
  }

  Obj run() {
    while (pos_ < pickle_.size()) {
      uint8_t op = byte();
      switch (op) {
        case 0x80: byte(); break;                 // PROTO
        case 0x95: pos_ += 8; break;              // FRAME
        case '.': return pop();                   // STOP
        case '(': stack_.push_back(make(PyObject::Mark)); break;
        case 'N': stack_.push_back(make(PyObject::None)); break;
        case 0x88: case 0x89: {                   // NEWTRUE, NEWFALSE
          Obj o = make(PyObject::Bool);
          o->i = op == 0x88;
          stack_.push_back(o);
          break;
        }
        case 'K': push_int(byte()); break;
        case 'M': push_int(uint16_t(byte() | (byte() << 8))); break;
        case 'J': push_int(int32_t(uint32())); break;
        case 0x8a: {                              // LONG1
          uint8_t n = byte();
          int64_t v = 0;
          for (int k = 0; k < n && k < 8; ++k) v |= int64_t(uint8_t(pickle_[pos_ + k])) << (8 * k);
          if (n > 0 && n < 8 && (pickle_[pos_ + n - 1] & 0x80)) v -= int64_t(1) << (8 * n);
          pos_ += n;
          push_int(v);
          break;
        }
        case 'G': {                               // BINFLOAT, big-endian double
          uint64_t bits = 0;
          for (int k = 0; k < 8; ++k) bits = (bits << 8) | uint8_t(pickle_[pos_ + k]);
          pos_ += 8;
          Obj o = make(PyObject::Float);
          std::memcpy(&o->f, &bits, 8);
          stack_.push_back(o);
          break;
        }
        case 'X': push_str(uint32()); break;      // BINUNICODE
        case 0x8c: push_str(byte()); break;       // SHORT_BINUNICODE
        case 'U': push_str(byte()); break;        // SHORT_BINSTRING
        case 'c': {                               // GLOBAL "module\nname\n"
          std::string module = line(), name = line();
          Obj g = make(PyObject::Global);
          g->s = module + "." + name;
          stack_.push_back(g);
          break;
        }
        case 'q': memo_[byte()] = stack_.back(); break;
        case 'r': memo_[uint32()] = stack_.back(); break;
        case 0x94: memo_[memo_.size()] = stack_.back(); break;  // MEMOIZE
        case 'h': stack_.push_back(memo_.at(byte())); break;
        case 'j': stack_.push_back(memo_.at(uint32())); break;
        case ')': stack_.push_back(make(PyObject::Tuple)); break;
        case '}': stack_.push_back(make(PyObject::Dict)); break;
        case ']': stack_.push_back(make(PyObject::List)); break;
        case 't': {
          Obj t = make(PyObject::Tuple);
          t->items = pop_to_mark();
          stack_.push_back(t);
          break;
        }
        case 0x85: case 0x86: case 0x87: {        // TUPLE1..3
          Obj t = make(PyObject::Tuple);
          t->items.resize(op - 0x84);
          for (size_t k = t->items.size(); k-- > 0;) t->items[k] = pop();
          stack_.push_back(t);
          break;
        }
        case 's': {
          Obj v = pop(), k = pop();
          stack_.back()->entries.emplace_back(k, v);
          break;
        }
        case 'u': {
          auto kv = pop_to_mark();
          for (size_t k = 0; k + 1 < kv.size(); k += 2) stack_.back()->entries.emplace_back(kv[k], kv[k + 1]);
          break;
        }
        case 'a': {
          Obj v = pop();
          stack_.back()->items.push_back(v);
          break;
        }
        case 'e': {
          auto vs = pop_to_mark();
          for (auto& v : vs) stack_.back()->items.push_back(v);
          break;
        }
        case 'b': pop(); break;                   // BUILD: an OrderedDict's _metadata; not needed
        case 'Q': stack_.push_back(persistent(pop())); break;
        case 'R': {
          Obj args = pop(), fn = pop();
          stack_.push_back(reduce(fn, args));
          break;
        }
        default:
          throw InputFormatError(path_, "data.pkl", "a pickled dict of tensors (as torch.save writes a state_dict)",
                                 fmt::format("pickle opcode 0x{:02x} at byte {}", op, pos_ - 1));
      }
    }
    throw InputFormatError(path_, "data.pkl", "a complete pickle", "no STOP opcode");
  }

 private:
  uint8_t byte() { return uint8_t(pickle_.at(pos_++)); }
  uint32_t uint32() {
    uint32_t v;
    std::memcpy(&v, pickle_.data() + pos_, 4);
    pos_ += 4;
    return v;
  }
  std::string line() {
    size_t end = pickle_.find('\n', pos_);
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
    Obj o = make(PyObject::Str);
    o->s = pickle_.substr(pos_, n);
    pos_ += n;
    stack_.push_back(o);
  }
  Obj pop() {
    Obj o = stack_.back();
    stack_.pop_back();
    return o;
  }
  std::vector<Obj> pop_to_mark() {
    std::vector<Obj> out;
    while (stack_.back()->kind != PyObject::Mark) out.insert(out.begin(), pop());
    pop();
    return out;
  }
  // ('storage', <class torch.XStorage>, key, location, numel) -> the storage's bytes as a tensor
  Obj persistent(const Obj& pid) {
    if (pid->kind != PyObject::Tuple || pid->items.size() < 5 || pid->items[0]->s != "storage")
      throw InputFormatError(path_, "data.pkl", "tensor storages as persistent ids ('storage', ...)");
    Obj st = make(PyObject::Storage);
    st->dtype = storage_dtype(pid->items[1]->s, path_);
    st->s = pid->items[2]->s;
    auto [data, size] = zip_.getRecord("data/" + st->s);
    int64_t numel = int64_t(size) / int64_t(c10::elementSize(st->dtype));
    st->tensor = torch::empty({numel}, torch::dtype(st->dtype));
    std::memcpy(st->tensor.data_ptr(), data.get(), size);
    return st;
  }
  static std::vector<int64_t> ints(const Obj& tuple) {
    std::vector<int64_t> v;
    for (auto& x : tuple->items) v.push_back(x->i);
    return v;
  }
  Obj reduce(const Obj& fn, const Obj& args) {
    const std::string& name = fn->s;
    if (name == "collections.OrderedDict") return make(PyObject::Dict);
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      const Obj& storage = args->items.at(0);
      Obj t = make(PyObject::Tensor);
      t->tensor = storage->tensor.as_strided(ints(args->items.at(2)), ints(args->items.at(3)), args->items.at(1)->i).clone();
      return t;
    }
    if (name == "torch._utils._rebuild_parameter") return args->items.at(0);
    // LibTorch's pickle_save tags typed containers: restore_type_tag(obj, "Dict[str, Tensor]").
    if (name == "torch.jit._pickle.restore_type_tag") return args->items.at(0);
    throw InputFormatError(path_, "data.pkl", "only dicts, numbers, strings and tensors",
                           "an object of Python type " + name);
  }

  caffe2::serialize::PyTorchStreamReader& zip_;
  std::string path_, pickle_;
  size_t pos_ = 0;
  std::vector<Obj> stack_;
  std::map<size_t, Obj> memo_;
};

}  // namespace

NamedTensors load_tensors(const std::string& path) {
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> zip;
  try {
    zip = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
  } catch (const c10::Error& e) {
    throw InputFormatError(path, "torch.save archive",
                           "a file written by torch.save (zip format, the default since PyTorch 1.6)",
                           std::string(e.what_without_backtrace()).substr(0, 160));
  }
  Obj top = CheckpointReader(*zip, path).run();
  if (top->kind != PyObject::Dict) throw InputFormatError(path, "top-level object", "a dict of tensors (a state_dict)");
  NamedTensors out;
  for (auto& [k, v] : top->entries) {
    if (k->kind != PyObject::Str || v->kind != PyObject::Tensor)
      throw InputFormatError(path, "entry " + (k->kind == PyObject::Str ? k->s : std::string("?")),
                             "a tensor (is this a full training checkpoint? save model.state_dict())");
    out.emplace_back(k->s, v->tensor);
  }
  return out;
}

}  // namespace mixhic
