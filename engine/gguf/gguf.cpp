#include "gguf/gguf.h"

#include <cstring>
#include <fstream>
#include <limits>

namespace tern {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
// Bounds that no real model approaches; they turn hostile counts into errors
// before anything is allocated from them.
constexpr uint64_t kMaxKeyLength = 1 << 16;
constexpr int kMaxDims = 4;

// Bounds-checked little-endian cursor over the mapped bytes.
class Reader {
 public:
  Reader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  size_t pos() const { return pos_; }
  size_t remaining() const { return n_ - pos_; }
  const uint8_t* here() const { return p_ + pos_; }

  template <typename T>
  bool read(T& out) {
    if (remaining() < sizeof(T)) return false;
    std::memcpy(&out, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool skip(uint64_t n) {
    if (remaining() < n) return false;
    pos_ += n;
    return true;
  }
  bool read_string(std::string_view& out) {
    uint64_t len = 0;
    if (!read(len) || remaining() < len) return false;
    out = std::string_view(reinterpret_cast<const char*>(p_ + pos_), len);
    pos_ += len;
    return true;
  }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
};

size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::BOOL: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
    default: return 0;
  }
}

bool valid_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::F64); }

// Reads one scalar of type t into v (widened).
bool read_scalar(Reader& r, GgufType t, GgufValue& v) {
  v.type = t;
  switch (t) {
    case GgufType::U8: { uint8_t x; if (!r.read(x)) return false; v.u = x; v.i = x; return true; }
    case GgufType::I8: { int8_t x; if (!r.read(x)) return false; v.i = x; v.u = static_cast<uint64_t>(x); return true; }
    case GgufType::U16: { uint16_t x; if (!r.read(x)) return false; v.u = x; v.i = x; return true; }
    case GgufType::I16: { int16_t x; if (!r.read(x)) return false; v.i = x; v.u = static_cast<uint64_t>(x); return true; }
    case GgufType::U32: { uint32_t x; if (!r.read(x)) return false; v.u = x; v.i = x; return true; }
    case GgufType::I32: { int32_t x; if (!r.read(x)) return false; v.i = x; v.u = static_cast<uint64_t>(x); return true; }
    case GgufType::U64: { uint64_t x; if (!r.read(x)) return false; v.u = x; v.i = static_cast<int64_t>(x); return true; }
    case GgufType::I64: { int64_t x; if (!r.read(x)) return false; v.i = x; v.u = static_cast<uint64_t>(x); return true; }
    case GgufType::F32: { float x; if (!r.read(x)) return false; v.f = x; return true; }
    case GgufType::F64: { double x; if (!r.read(x)) return false; v.f = x; return true; }
    case GgufType::BOOL: { uint8_t x; if (!r.read(x)) return false; v.u = v.i = x != 0; return true; }
    default: return false;
  }
}

}  // namespace

std::string_view gguf_type_name(GgufType t) {
  static constexpr std::string_view names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                               "bool", "string", "array", "u64", "i64", "f64"};
  auto i = static_cast<uint32_t>(t);
  return i < std::size(names) ? names[i] : "unknown";
}

bool GgufValue::is_integer() const {
  switch (type) {
    case GgufType::U8: case GgufType::I8: case GgufType::U16: case GgufType::I16:
    case GgufType::U32: case GgufType::I32: case GgufType::U64: case GgufType::I64: return true;
    default: return false;
  }
}

Result<std::unique_ptr<GgufFile>> GgufFile::open(const std::string& path) {
  TERN_ASSIGN_OR_RETURN(MappedFile map, MappedFile::open(path));
  auto f = std::unique_ptr<GgufFile>(new GgufFile());
  f->map_ = std::move(map);
  f->base_ = f->map_.data();
  f->size_ = f->map_.size();
  f->name_ = path;
  Status st = f->parse_all();
  if (!st.ok()) return Status(st.code(), path + ": " + st.message());
  return f;
}

Result<std::unique_ptr<GgufFile>> GgufFile::parse(const uint8_t* bytes, size_t size, std::string name) {
  auto f = std::unique_ptr<GgufFile>(new GgufFile());
  f->base_ = bytes;
  f->size_ = size;
  f->name_ = std::move(name);
  Status st = f->parse_all();
  if (!st.ok()) return Status(st.code(), f->name_ + ": " + st.message());
  return f;
}

Status GgufFile::parse_all() {
  Reader r(base_, size_);
  uint32_t magic = 0;
  if (!r.read(magic)) return InvalidArgument("not a GGUF file: too short for a header");
  if (magic != kMagic) return InvalidArgument("not a GGUF file: bad magic");
  if (!r.read(version_)) return InvalidArgument("truncated header");
  if (version_ == 1) return Unimplemented("GGUF version 1 is not supported (convert the file again)");
  if (version_ != 2 && version_ != 3)
    return Unimplemented("unsupported GGUF version " + std::to_string(version_));
  uint64_t n_tensors = 0, n_kv = 0;
  if (!r.read(n_tensors) || !r.read(n_kv)) return InvalidArgument("truncated header");
  // Every key/value needs at least 8 (key length) + 4 (type) + 1 bytes, every
  // tensor info at least 8 + 4 + 4 + 8 bytes: counts beyond that are lies.
  if (n_kv > r.remaining() / 13) return InvalidArgument("key/value count " + std::to_string(n_kv) + " exceeds the file size");
  if (n_tensors > r.remaining() / 24)
    return InvalidArgument("tensor count " + std::to_string(n_tensors) + " exceeds the file size");

  kvs_.reserve(n_kv);
  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string_view key;
    if (!r.read_string(key)) return InvalidArgument("truncated key " + std::to_string(k));
    if (key.empty() || key.size() > kMaxKeyLength) return InvalidArgument("invalid key length at key " + std::to_string(k));
    uint32_t t = 0;
    if (!r.read(t)) return InvalidArgument("truncated type of key '" + std::string(key) + "'");
    if (!valid_type(t)) return InvalidArgument("unknown value type " + std::to_string(t) + " for key '" + std::string(key) + "'");
    GgufValue v;
    v.type = static_cast<GgufType>(t);
    const std::string skey(key);
    if (v.type == GgufType::STRING) {
      if (!r.read_string(v.str)) return InvalidArgument("truncated string value of key '" + skey + "'");
    } else if (v.type == GgufType::ARRAY) {
      uint32_t et = 0;
      if (!r.read(et) || !r.read(v.count)) return InvalidArgument("truncated array header of key '" + skey + "'");
      if (!valid_type(et)) return InvalidArgument("unknown array element type " + std::to_string(et) + " for key '" + skey + "'");
      v.elem_type = static_cast<GgufType>(et);
      if (v.elem_type == GgufType::ARRAY) return Unimplemented("nested arrays are not supported (key '" + skey + "')");
      if (v.elem_type == GgufType::STRING) {
        if (v.count > r.remaining() / 8) return InvalidArgument("array of key '" + skey + "' exceeds the file size");
        v.strs.reserve(v.count);
        for (uint64_t i = 0; i < v.count; ++i) {
          std::string_view s;
          if (!r.read_string(s)) return InvalidArgument("truncated string " + std::to_string(i) + " in array '" + skey + "'");
          v.strs.push_back(s);
        }
      } else {
        const size_t es = scalar_size(v.elem_type);
        if (v.count > r.remaining() / es) return InvalidArgument("array of key '" + skey + "' exceeds the file size");
        v.raw = r.here();
        (void)r.skip(v.count * es);
      }
    } else if (!read_scalar(r, v.type, v)) {
      return InvalidArgument("truncated value of key '" + skey + "'");
    }
    if (kv_index_.count(skey)) return InvalidArgument("duplicate key '" + skey + "'");
    kv_index_.emplace(skey, kvs_.size());
    kvs_.emplace_back(skey, std::move(v));
  }

  if (const GgufValue* a = find("general.alignment")) {
    if (!a->is_integer() || a->u == 0 || (a->u & (a->u - 1)) != 0 || a->u > (1u << 20))
      return InvalidArgument("general.alignment must be a power of two");
    alignment_ = a->u;
  }

  tensors_.reserve(n_tensors);
  for (uint64_t k = 0; k < n_tensors; ++k) {
    std::string_view name;
    if (!r.read_string(name)) return InvalidArgument("truncated tensor info " + std::to_string(k));
    GgufTensor t;
    t.name = std::string(name);
    uint32_t n_dims = 0;
    if (!r.read(n_dims)) return InvalidArgument("truncated tensor info '" + t.name + "'");
    if (n_dims == 0 || n_dims > kMaxDims)
      return InvalidArgument("tensor '" + t.name + "' has " + std::to_string(n_dims) + " dimensions (1..4 allowed)");
    t.n_dims = static_cast<int>(n_dims);
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t ne = 0;
      if (!r.read(ne)) return InvalidArgument("truncated tensor info '" + t.name + "'");
      if (ne == 0 || ne > (uint64_t{1} << 40)) return InvalidArgument("tensor '" + t.name + "' has an invalid dimension");
      t.ne[d] = static_cast<int64_t>(ne);
    }
    uint32_t type = 0;
    if (!r.read(type) || !r.read(t.offset)) return InvalidArgument("truncated tensor info '" + t.name + "'");
    TypeTraits tt = type_traits(type);
    if (tt.block_elems == 0) return InvalidArgument("tensor '" + t.name + "' has unknown type " + std::to_string(type));
    t.type = static_cast<GgmlType>(type);
    if (t.ne[0] % tt.block_elems != 0)
      return InvalidArgument("tensor '" + t.name + "' row of " + std::to_string(t.ne[0]) + " is not a multiple of the " +
                             std::string(tt.name) + " block size");
    // Overflow-safe size: each factor < 2^40 and the running product is
    // checked against the file size, which bounds every legal tensor.
    unsigned __int128 bytes = static_cast<unsigned __int128>(t.ne[0] / tt.block_elems) * tt.block_bytes;
    for (int d = 1; d < 4; ++d) {
      bytes *= static_cast<uint64_t>(t.ne[d]);
      if (bytes > size_) return InvalidArgument("tensor '" + t.name + "' is larger than the file");
    }
    t.nbytes = static_cast<uint64_t>(bytes);
    if (t.offset % alignment_ != 0) return InvalidArgument("tensor '" + t.name + "' offset is not aligned");
    if (tensor_index_.count(t.name)) return InvalidArgument("duplicate tensor '" + t.name + "'");
    tensor_index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }

  data_offset_ = (r.pos() + alignment_ - 1) / alignment_ * alignment_;
  if (n_tensors > 0 && data_offset_ > size_) return InvalidArgument("truncated before the tensor data");
  const uint64_t data_size = size_ - std::min<uint64_t>(data_offset_, size_);
  for (GgufTensor& t : tensors_) {
    if (t.offset > data_size || t.nbytes > data_size - t.offset)
      return InvalidArgument("tensor '" + t.name + "' data lies past the end of the file (truncated?)");
    t.data = base_ + data_offset_ + t.offset;
  }
  return Status::Ok();
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kvs_[it->second].second;
}

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v || !(v->is_integer() || v->type == GgufType::BOOL)) return std::nullopt;
  return v->i;
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->is_float()) return v->f;
  if (v->is_integer()) return static_cast<double>(v->i);
  return std::nullopt;
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v || v->type != GgufType::BOOL) return std::nullopt;
  return v->u != 0;
}

std::optional<std::string_view> GgufFile::get_string(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v || v->type != GgufType::STRING) return std::nullopt;
  return v->str;
}

const std::vector<std::string_view>* GgufFile::get_string_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v || v->type != GgufType::ARRAY || v->elem_type != GgufType::STRING) return nullptr;
  return &v->strs;
}

namespace {
template <typename Out>
std::optional<std::vector<Out>> numeric_array(const GgufValue* v) {
  if (!v || v->type != GgufType::ARRAY || v->elem_type == GgufType::STRING) return std::nullopt;
  std::vector<Out> out(v->count);
  Reader r(v->raw, v->count * scalar_size(v->elem_type));
  for (uint64_t i = 0; i < v->count; ++i) {
    GgufValue e;
    read_scalar(r, v->elem_type, e);
    out[i] = e.is_float() ? static_cast<Out>(e.f) : static_cast<Out>(e.i);
  }
  return out;
}
}  // namespace

std::optional<std::vector<float>> GgufFile::get_f32_array(std::string_view key) const {
  return numeric_array<float>(find(key));
}

std::optional<std::vector<int32_t>> GgufFile::get_i32_array(std::string_view key) const {
  return numeric_array<int32_t>(find(key));
}

const GgufTensor* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

// ---------------------------------------------------------------- writer

namespace {
template <typename T>
void put(std::vector<uint8_t>& b, T v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  b.insert(b.end(), p, p + sizeof(T));
}
void put_str(std::vector<uint8_t>& b, std::string_view s) {
  put<uint64_t>(b, s.size());
  b.insert(b.end(), s.begin(), s.end());
}
}  // namespace

void GgufWriter::put_key(const std::string& key, GgufType t) {
  put_str(kv_bytes_, key);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(t));
  ++n_kv_;
}
void GgufWriter::set_u32(const std::string& k, uint32_t v) { put_key(k, GgufType::U32); put(kv_bytes_, v); }
void GgufWriter::set_i32(const std::string& k, int32_t v) { put_key(k, GgufType::I32); put(kv_bytes_, v); }
void GgufWriter::set_u64(const std::string& k, uint64_t v) { put_key(k, GgufType::U64); put(kv_bytes_, v); }
void GgufWriter::set_f32(const std::string& k, float v) { put_key(k, GgufType::F32); put(kv_bytes_, v); }
void GgufWriter::set_bool(const std::string& k, bool v) { put_key(k, GgufType::BOOL); put<uint8_t>(kv_bytes_, v); }
void GgufWriter::set_string(const std::string& k, const std::string& v) {
  put_key(k, GgufType::STRING);
  put_str(kv_bytes_, v);
}
void GgufWriter::set_string_array(const std::string& k, const std::vector<std::string>& v) {
  put_key(k, GgufType::ARRAY);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(GgufType::STRING));
  put<uint64_t>(kv_bytes_, v.size());
  for (const auto& s : v) put_str(kv_bytes_, s);
}
void GgufWriter::set_f32_array(const std::string& k, const std::vector<float>& v) {
  put_key(k, GgufType::ARRAY);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(GgufType::F32));
  put<uint64_t>(kv_bytes_, v.size());
  for (float x : v) put(kv_bytes_, x);
}
void GgufWriter::set_i32_array(const std::string& k, const std::vector<int32_t>& v) {
  put_key(k, GgufType::ARRAY);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(GgufType::I32));
  put<uint64_t>(kv_bytes_, v.size());
  for (int32_t x : v) put(kv_bytes_, x);
}

void GgufWriter::copy_kv(const std::string& key, const GgufValue& v) {
  if (key == "general.alignment" && v.is_integer()) alignment_ = v.u;
  put_key(key, v.type);
  auto put_scalar = [&](GgufType t, const GgufValue& s) {
    switch (t) {
      case GgufType::U8: case GgufType::BOOL: put<uint8_t>(kv_bytes_, static_cast<uint8_t>(s.u)); break;
      case GgufType::I8: put<int8_t>(kv_bytes_, static_cast<int8_t>(s.i)); break;
      case GgufType::U16: put<uint16_t>(kv_bytes_, static_cast<uint16_t>(s.u)); break;
      case GgufType::I16: put<int16_t>(kv_bytes_, static_cast<int16_t>(s.i)); break;
      case GgufType::U32: put<uint32_t>(kv_bytes_, static_cast<uint32_t>(s.u)); break;
      case GgufType::I32: put<int32_t>(kv_bytes_, static_cast<int32_t>(s.i)); break;
      case GgufType::U64: put<uint64_t>(kv_bytes_, s.u); break;
      case GgufType::I64: put<int64_t>(kv_bytes_, s.i); break;
      case GgufType::F32: put<float>(kv_bytes_, static_cast<float>(s.f)); break;
      case GgufType::F64: put<double>(kv_bytes_, s.f); break;
      default: break;
    }
  };
  if (v.type == GgufType::STRING) {
    put_str(kv_bytes_, v.str);
  } else if (v.type == GgufType::ARRAY) {
    put<uint32_t>(kv_bytes_, static_cast<uint32_t>(v.elem_type));
    put<uint64_t>(kv_bytes_, v.count);
    if (v.elem_type == GgufType::STRING) {
      for (auto s : v.strs) put_str(kv_bytes_, s);
    } else {
      kv_bytes_.insert(kv_bytes_.end(), v.raw, v.raw + v.count * scalar_size(v.elem_type));
    }
  } else {
    put_scalar(v.type, v);
  }
}

void GgufWriter::add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> ne,
                            std::vector<uint8_t> data) {
  tensors_.push_back({name, type, std::move(ne), std::move(data)});
}

std::vector<uint8_t> GgufWriter::serialize() const {
  std::vector<uint8_t> b;
  put<uint32_t>(b, kMagic);
  put<uint32_t>(b, 3);
  put<uint64_t>(b, tensors_.size());
  put<uint64_t>(b, n_kv_);
  b.insert(b.end(), kv_bytes_.begin(), kv_bytes_.end());
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    put_str(b, t.name);
    put<uint32_t>(b, static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) put<uint64_t>(b, static_cast<uint64_t>(d));
    put<uint32_t>(b, static_cast<uint32_t>(t.type));
    put<uint64_t>(b, offset);
    offset += (t.data.size() + alignment_ - 1) / alignment_ * alignment_;
  }
  b.resize((b.size() + alignment_ - 1) / alignment_ * alignment_, 0);
  for (const Tensor& t : tensors_) {
    b.insert(b.end(), t.data.begin(), t.data.end());
    b.resize((b.size() + alignment_ - 1) / alignment_ * alignment_, 0);
  }
  return b;
}

Status GgufWriter::write(const std::string& path) const {
  std::vector<uint8_t> bytes = serialize();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return IoError(path + ": cannot open for writing");
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) return IoError(path + ": write failed");
  return Status::Ok();
}

}  // namespace tern
