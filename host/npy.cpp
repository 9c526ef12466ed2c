// NumPy .npy reading (memory-mapped) and writing. The header dict is parsed by
// a small recursive-descent reader for the Python literal subset NumPy writes,
// so no Python is needed and malformed input is an error, never a guess.
// Reading goes through detail::ArrayStorage, so that the members of an .npz
// archive (npz.cpp) are read by the same code as .npy files.

#include "laconic/npy.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <tuple>
#include <utility>

#include "laconic/error.hpp"
#include "laconic/file_io.hpp"
#include "mapped_file.hpp"

namespace laconic {

// "=" and "|" (native byte order) are taken as little-endian below, and
// big-endian data is swapped on reading.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "laconic's .npy support assumes a little-endian host");

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicSize = sizeof(kMagic) - 1;
// NumPy pads headers so data starts at a multiple of 64 (16 in old files).
// Only the writer uses it: readers copy values out with memcpy.
constexpr std::size_t kDataAlignment = 64;
constexpr const char* kSupportedDTypes = "b1, i1, u1, i2, u2, i4, u4, i8, u8, f2, f4, f8";
constexpr DType kAllDTypes[] = {DType::b1, DType::i1, DType::u1, DType::i2, DType::u2, DType::i4,
                                DType::u4, DType::i8, DType::u8, DType::f2, DType::f4, DType::f8};
// Zip local-file and end-of-central-directory signatures: an .npz archive.
constexpr char kZipMagic[] = "PK\x03\x04";
constexpr char kEmptyZipMagic[] = "PK\x05\x06";

[[noreturn]] void fail(const std::string& what, const std::string& problem) {
  throw Error(what + ": " + problem);
}

std::string errno_text(int err) { return std::system_category().message(err); }

// Header text quoted in messages: it may be arbitrary bytes (a fuzzed or
// corrupt file), so escape everything unprintable and cap the length.
std::string printable(std::string_view text, std::size_t limit = 160) {
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < limit; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      out += "\\n";
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (text.size() > limit) out += "...";
  return out;
}

bool checked_mul(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  return !__builtin_mul_overflow(a, b, &out);
}

std::uint32_t read_le(const unsigned char* p, std::size_t bytes) {
  std::uint32_t value = 0;
  for (std::size_t i = bytes; i-- > 0;) value = (value << 8) | p[i];
  return value;
}

// ---------------------------------------------------------------------------
// The Python literal subset of a header dict.

struct PyValue {
  enum class Kind { string, integer, boolean, none, tuple, list, dict };
  Kind kind = Kind::none;
  std::string text;      // a string's decoded value, or an integer's digits
  bool negative = false;  // integer sign
  bool truth = false;     // boolean value
  std::vector<PyValue> items;  // tuple/list items; dict: key, value, key, value, ...
  std::size_t begin = 0, end = 0;  // the value's span in the header text, for messages
};

class HeaderDictParser {
 public:
  HeaderDictParser(std::string_view text, const std::string& what, bool allow_long_suffix)
      : text_(text), what_(what), allow_long_suffix_(allow_long_suffix) {}

  PyValue parse() {
    skip_space();
    if (at_end() || peek() != '{') error("expected '{' at the start of the header dict");
    PyValue dict = parse_value(0);
    skip_space();
    if (!at_end()) error("unexpected text after the closing '}'");
    return dict;
  }

 private:
  // Real headers nest at most a few levels (structured dtypes); the limit
  // keeps hostile input from exhausting the stack.
  static constexpr int kMaxDepth = 16;

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }
  static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }
  static bool is_digit(char c) { return c >= '0' && c <= '9'; }
  static bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_';
  }
  void skip_space() {
    while (!at_end() && is_space(peek())) ++pos_;
  }

  [[noreturn]] void error(const std::string& problem) const {
    fail(what_, "malformed header: " + problem + " at offset " + std::to_string(pos_) + " of \"" +
                    printable(text_) + "\"");
  }

  void expect_more() const {
    if (at_end()) error("unexpected end of the header");
  }

  PyValue parse_value(int depth) {
    if (depth > kMaxDepth) error("brackets nested too deeply");
    skip_space();
    expect_more();
    const std::size_t begin = pos_;
    PyValue value;
    const char c = peek();
    if (c == '\'' || c == '"') {
      value = parse_string();
    } else if (c == '(') {
      value = parse_parenthesized(depth);
    } else if (c == '[') {
      ++pos_;
      value.kind = PyValue::Kind::list;
      parse_items(depth, ']', value.items);
    } else if (c == '{') {
      value = parse_dict(depth);
    } else if (c == '-' || c == '+' || is_digit(c)) {
      value = parse_integer();
    } else if (is_name_char(c)) {
      value = parse_name();
    } else {
      error("unexpected character '" + printable(text_.substr(pos_, 1)) + "'");
    }
    value.begin = begin;
    value.end = pos_;
    return value;
  }

  PyValue parse_string() {
    const char quote = peek();
    ++pos_;
    PyValue value;
    value.kind = PyValue::Kind::string;
    for (;;) {
      if (at_end() || peek() == '\n' || peek() == '\r') error("unterminated string");
      const char c = peek();
      ++pos_;
      if (c == quote) break;
      if (c == '\\') {
        // Only the escapes that keep quoting intact are decoded; anything
        // else stays verbatim and so can never match a key or dtype.
        expect_more();
        const char escaped = peek();
        ++pos_;
        if (escaped != quote && escaped != '\\') value.text += '\\';
        value.text += escaped;
        continue;
      }
      value.text += c;
    }
    return value;
  }

  // Python semantics: "()" is an empty tuple, "(x)" is just x, "(x,)" and
  // "(x, y)" are tuples.
  PyValue parse_parenthesized(int depth) {
    ++pos_;
    skip_space();
    expect_more();
    PyValue tuple;
    tuple.kind = PyValue::Kind::tuple;
    if (peek() == ')') {
      ++pos_;
      return tuple;
    }
    PyValue first = parse_value(depth + 1);
    skip_space();
    expect_more();
    if (peek() == ')') {
      ++pos_;
      return first;
    }
    if (peek() != ',') error("expected ',' or ')'");
    ++pos_;
    tuple.items.push_back(std::move(first));
    parse_items(depth, ')', tuple.items);
    return tuple;
  }

  // The rest of a comma-separated sequence, after its opening bracket or a
  // comma; a trailing comma is allowed.
  void parse_items(int depth, char close, std::vector<PyValue>& items) {
    for (;;) {
      skip_space();
      expect_more();
      if (peek() == close) {
        ++pos_;
        return;
      }
      items.push_back(parse_value(depth + 1));
      skip_space();
      expect_more();
      if (peek() == ',') {
        ++pos_;
      } else if (peek() != close) {
        error(std::string("expected ',' or '") + close + "'");
      }
    }
  }

  PyValue parse_dict(int depth) {
    ++pos_;
    PyValue dict;
    dict.kind = PyValue::Kind::dict;
    for (;;) {
      skip_space();
      expect_more();
      if (peek() == '}') {
        ++pos_;
        return dict;
      }
      dict.items.push_back(parse_value(depth + 1));
      skip_space();
      expect_more();
      if (peek() != ':') error("expected ':' after a dict key");
      ++pos_;
      dict.items.push_back(parse_value(depth + 1));
      skip_space();
      expect_more();
      if (peek() == ',') {
        ++pos_;
      } else if (peek() != '}') {
        error("expected ',' or '}'");
      }
    }
  }

  PyValue parse_integer() {
    PyValue value;
    value.kind = PyValue::Kind::integer;
    if (peek() == '-' || peek() == '+') {
      value.negative = peek() == '-';
      ++pos_;
      skip_space();  // Python accepts "- 1"
      expect_more();
    }
    if (!is_digit(peek())) error("expected a digit");
    while (!at_end() && is_digit(peek())) value.text += text_[pos_++];
    // Python 3 rejects "07" (but not "00"); mirror it rather than guess.
    if (value.text.size() > 1 && value.text[0] == '0' &&
        value.text.find_first_not_of('0') != std::string::npos) {
      error("integer with a leading zero");
    }
    // Python 2 wrote shapes as (3L, 4L); NumPy still reads them in 1.0 files.
    if (allow_long_suffix_ && !at_end() && (peek() == 'L' || peek() == 'l')) ++pos_;
    // Rules out floats, hex, exponents and underscores: "1.0", "0x10", "1e3", "1_0".
    if (!at_end() && (is_name_char(peek()) || peek() == '.')) error("malformed number");
    return value;
  }

  PyValue parse_name() {
    const std::size_t begin = pos_;
    while (!at_end() && is_name_char(peek())) ++pos_;
    const std::string_view name = text_.substr(begin, pos_ - begin);
    PyValue value;
    if (name == "True" || name == "False") {
      value.kind = PyValue::Kind::boolean;
      value.truth = name == "True";
    } else if (name == "None") {
      value.kind = PyValue::Kind::none;
    } else {
      pos_ = begin;
      error("unexpected name '" + printable(name, 40) + "'");
    }
    return value;
  }

  std::string_view text_;
  const std::string& what_;
  bool allow_long_suffix_;
  std::size_t pos_ = 0;
};

// ---------------------------------------------------------------------------
// Interpreting the dict.

// `descr` without its byte-order character, e.g. "f4" -> DType::f4.
bool dtype_from_code(std::string_view code, DType& dtype) {
  for (DType candidate : kAllDTypes) {
    if (code == to_string(candidate)) {
      dtype = candidate;
      return true;
    }
  }
  return false;
}

std::string unsupported_dtype(const std::string& shown, const std::string& detail = "") {
  return "unsupported dtype " + shown + (detail.empty() ? "" : ": " + detail) + " (supported: " +
         kSupportedDTypes + "; convert with e.g. arr.astype('<f4') or arr.astype('<i4'))";
}

// The dtype and whether its items are big-endian.
std::pair<DType, bool> parse_descr(const PyValue& descr, std::string_view header_text, const std::string& what) {
  const std::string source = printable(header_text.substr(descr.begin, descr.end - descr.begin), 80);
  if (descr.kind == PyValue::Kind::list) {
    fail(what, unsupported_dtype(source, "structured dtypes are not supported"));
  }
  if (descr.kind == PyValue::Kind::tuple) {
    fail(what, unsupported_dtype(source, "subarray dtypes are not supported"));
  }
  if (descr.kind != PyValue::Kind::string) {
    fail(what, "malformed header: 'descr' must be a dtype string like '<f4', not " + source);
  }
  std::string_view text = descr.text;
  char order = '=';  // NumPy reads a descr without an order character as native
  if (!text.empty() && std::strchr("<>|=", text.front()) != nullptr) {
    order = text.front();
    text.remove_prefix(1);
  }
  DType dtype{};
  if (!dtype_from_code(text, dtype)) fail(what, unsupported_dtype(source));
  return {dtype, order == '>' && item_size(dtype) > 1};
}

std::vector<std::uint64_t> parse_shape(const PyValue& shape, std::string_view header_text,
                                       const std::string& what) {
  const std::string source = printable(header_text.substr(shape.begin, shape.end - shape.begin), 80);
  if (shape.kind != PyValue::Kind::tuple) {
    fail(what, "malformed header: 'shape' must be a tuple of integers like (2, 3), not " + source);
  }
  std::vector<std::uint64_t> dims;
  for (const PyValue& item : shape.items) {
    if (item.kind != PyValue::Kind::integer) {
      fail(what, "malformed header: 'shape' " + source + " has an entry that is not an integer");
    }
    std::uint64_t dim = 0;
    for (char digit : item.text) {
      if (!checked_mul(dim, 10, dim) || __builtin_add_overflow(dim, std::uint64_t(digit - '0'), &dim)) {
        fail(what, "shape " + source + " has a dimension that does not fit in 64 bits");
      }
    }
    if (item.negative && dim != 0) fail(what, "shape " + source + " has a negative dimension");
    dims.push_back(dim);
  }
  return dims;
}

void check_byte_size(const std::vector<std::uint64_t>& shape, DType dtype, const std::string& what) {
  // Zero dimensions are skipped so that (0, 2**63, 2**63) is refused too, as
  // NumPy does: such a header is corrupt even though it describes no data.
  std::uint64_t bytes = item_size(dtype);
  for (std::uint64_t dim : shape) {
    if (dim != 0 && !checked_mul(bytes, dim, bytes)) {
      fail(what, "shape " + shape_to_string(shape) + " of dtype " + std::string(to_string(dtype)) +
                     " is more than 2^64 bytes");
    }
  }
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() { close(); }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  // Returns 0 or an errno value; close errors matter when writing (NFS, quotas).
  int close() {
    if (fd_ < 0) return 0;
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

std::string npy_descr(DType dtype) {
  return (item_size(dtype) == 1 ? "|" : "<") + std::string(to_string(dtype));
}

}  // namespace

// Magic, version, header length and the padded header dict: everything
// before the data.
std::string npy_preamble(DType dtype, const std::vector<std::uint64_t>& shape) {
  const std::string dict = "{'descr': '" + npy_descr(dtype) + "', 'fortran_order': False, 'shape': " +
                           shape_to_string(shape) + ", }";
  for (int major = 1; major <= 2; ++major) {
    const std::size_t length_field = major == 1 ? 2 : 4;
    const std::size_t unpadded = kMagicSize + 2 + length_field + dict.size() + 1;  // +1: '\n'
    const std::size_t total = (unpadded + kDataAlignment - 1) / kDataAlignment * kDataAlignment;
    const std::size_t header_length = total - kMagicSize - 2 - length_field;
    if (major == 1 && header_length > 0xffff) continue;
    if (header_length > 0xffffffffu) break;
    std::string out(kMagic, kMagicSize);
    out += static_cast<char>(major);
    out += '\0';
    for (std::size_t i = 0; i < length_field; ++i) out += static_cast<char>((header_length >> (8 * i)) & 0xff);
    out += dict;
    out.append(total - out.size() - 1, ' ');
    out += '\n';
    return out;
  }
  throw Error("shape " + shape_to_string(shape) + " has too many dimensions for a .npy header");
}

// ---------------------------------------------------------------------------

std::size_t item_size(DType dtype) { return static_cast<std::size_t>(bit_width(dtype) / 8); }

bool is_float(DType dtype) { return dtype == DType::f2 || dtype == DType::f4 || dtype == DType::f8; }

bool is_signed(DType dtype) {
  return dtype == DType::i1 || dtype == DType::i2 || dtype == DType::i4 || dtype == DType::i8 || is_float(dtype);
}

int bit_width(DType dtype) {
  switch (dtype) {
    case DType::b1:
    case DType::i1:
    case DType::u1:
      return 8;
    case DType::i2:
    case DType::u2:
    case DType::f2:
      return 16;
    case DType::i4:
    case DType::u4:
    case DType::f4:
      return 32;
    case DType::i8:
    case DType::u8:
    case DType::f8:
      return 64;
  }
  throw std::invalid_argument("laconic: invalid DType value " + std::to_string(static_cast<int>(dtype)));
}

std::string_view to_string(DType dtype) {
  switch (dtype) {
    case DType::b1: return "b1";
    case DType::i1: return "i1";
    case DType::u1: return "u1";
    case DType::i2: return "i2";
    case DType::u2: return "u2";
    case DType::i4: return "i4";
    case DType::u4: return "u4";
    case DType::i8: return "i8";
    case DType::u8: return "u8";
    case DType::f2: return "f2";
    case DType::f4: return "f4";
    case DType::f8: return "f8";
  }
  throw std::invalid_argument("laconic: invalid DType value " + std::to_string(static_cast<int>(dtype)));
}

float half_to_float(std::uint16_t bits) {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits >> 15) << 31;
  const std::uint32_t exponent = (bits >> 10) & 0x1f;
  const std::uint32_t mantissa = bits & 0x3ff;
  if (exponent == 0) {
    // Zero or subnormal: mantissa · 2^−24, exact in binary32.
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign != 0 ? -magnitude : magnitude;
  }
  std::uint32_t out;
  if (exponent == 31) out = sign | 0x7f800000u | (mantissa << 13);  // inf, NaN (payload kept)
  else out = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  float f;
  std::memcpy(&f, &out, sizeof f);
  return f;
}

std::string shape_to_string(const std::vector<std::uint64_t>& shape) {
  std::string out = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  if (shape.size() == 1) out += ',';  // Python's one-element tuple
  out += ')';
  return out;
}

std::uint64_t NpyHeader::elements() const {
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return 0;
  std::uint64_t count = 1;
  for (std::uint64_t dim : shape) {
    if (!checked_mul(count, dim, count)) {
      throw Error("shape " + shape_to_string(shape) + " has more than 2^64 elements");
    }
  }
  return count;
}

std::uint64_t NpyHeader::data_bytes() const {
  std::uint64_t bytes = 0;
  if (!checked_mul(elements(), item_size(dtype), bytes)) {
    throw Error("shape " + shape_to_string(shape) + " of dtype " + std::string(to_string(dtype)) +
                " is more than 2^64 bytes");
  }
  return bytes;
}

NpyHeader parse_npy_header(const void* bytes, std::size_t size, const std::string& what) {
  const auto* p = static_cast<const unsigned char*>(bytes);
  if (size == 0) fail(what, "empty (0 bytes), not a .npy file");
  if (std::memcmp(p, kMagic, std::min(size, kMagicSize)) != 0) {
    if (size >= 4 && (std::memcmp(p, kZipMagic, 4) == 0 || std::memcmp(p, kEmptyZipMagic, 4) == 0)) {
      fail(what, "not a .npy file but a zip archive (an .npz, as np.savez writes); name it in a manifest as "
                 "\"file.npz\" (one array) or \"file.npz:name\"");
    }
    fail(what, "not a .npy file (bad magic)");
  }
  if (size < kMagicSize) {
    fail(what, "too short to be a .npy file (" + std::to_string(size) + " bytes)");
  }
  if (size < kMagicSize + 2) fail(what, "truncated .npy file: it ends inside the version number");

  NpyHeader header;
  header.major_version = p[6];
  header.minor_version = p[7];
  if (header.major_version < 1 || header.major_version > 3 || header.minor_version != 0) {
    fail(what, "unsupported .npy format version " + std::to_string(header.major_version) + "." +
                   std::to_string(header.minor_version) + " (supported: 1.0, 2.0, 3.0)");
  }
  const std::size_t length_field = header.major_version == 1 ? 2 : 4;
  const std::size_t preamble = kMagicSize + 2 + length_field;
  if (size < preamble) fail(what, "truncated .npy file: it ends inside the header length");
  const std::size_t header_length = read_le(p + kMagicSize + 2, length_field);
  if (header_length > size - preamble) {
    fail(what, "truncated .npy file: the header length field says " + std::to_string(header_length) +
                   " bytes but only " + std::to_string(size - preamble) + " follow it");
  }
  header.data_offset = preamble + header_length;

  // Version 3.0 differs only in declaring the header utf-8 rather than
  // latin-1; every accepted header is ASCII, so both decode the same.
  const std::string_view text(reinterpret_cast<const char*>(p + preamble), header_length);
  const PyValue dict = HeaderDictParser(text, what, header.major_version == 1).parse();

  const PyValue* descr = nullptr;
  const PyValue* fortran_order = nullptr;
  const PyValue* shape = nullptr;
  for (std::size_t i = 0; i + 1 < dict.items.size(); i += 2) {
    const PyValue& key = dict.items[i];
    const std::string key_source = printable(text.substr(key.begin, key.end - key.begin), 80);
    if (key.kind != PyValue::Kind::string) fail(what, "malformed header: key " + key_source + " is not a string");
    const PyValue** slot = key.text == "descr"           ? &descr
                           : key.text == "fortran_order" ? &fortran_order
                           : key.text == "shape"         ? &shape
                                                         : nullptr;
    if (slot == nullptr) {
      fail(what, "malformed header: unknown key " + key_source +
                     " (a .npy header has exactly 'descr', 'fortran_order' and 'shape')");
    }
    if (*slot != nullptr) fail(what, "malformed header: duplicate key " + key_source);
    *slot = &dict.items[i + 1];
  }
  for (const auto& [name, value] : {std::pair{"descr", descr}, std::pair{"fortran_order", fortran_order},
                                    std::pair{"shape", shape}}) {
    if (value == nullptr) fail(what, std::string("malformed header: missing key '") + name + "'");
  }

  std::tie(header.dtype, header.big_endian) = parse_descr(*descr, text, what);
  header.shape = parse_shape(*shape, text, what);
  if (fortran_order->kind != PyValue::Kind::boolean) {
    fail(what, "malformed header: 'fortran_order' must be True or False, not " +
                   printable(text.substr(fortran_order->begin, fortran_order->end - fortran_order->begin), 80));
  }
  header.fortran_order = fortran_order->truth;
  check_byte_size(header.shape, header.dtype, what);
  return header;
}

// ---------------------------------------------------------------------------
// Storage in a mapped file.

namespace detail {

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path, const std::string& expected) {
  // O_NONBLOCK: opening a FIFO by mistake must fail below, not hang.
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) fail(path, "cannot open: " + errno_text(errno));
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) fail(path, "cannot stat: " + errno_text(errno));
  if (S_ISDIR(info.st_mode)) fail(path, "is a directory, not " + expected);
  if (!S_ISREG(info.st_mode)) fail(path, "not a regular file");
  if (info.st_size == 0) fail(path, "empty file (0 bytes), not " + expected);
  std::shared_ptr<MappedFile> file(new MappedFile);
  file->path_ = path;
  file->size_ = static_cast<std::size_t>(info.st_size);
  // The mapping outlives the descriptor. If the file is truncated while
  // mapped, reading the lost pages raises SIGBUS; nothing portable avoids it.
  void* map = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (map == MAP_FAILED) fail(path, "cannot map into memory: " + errno_text(errno));
  file->map_ = map;
  file->data_ = static_cast<const std::byte*>(map);
  return file;
}

MappedFile::~MappedFile() {
  if (map_ != nullptr) ::munmap(map_, size_);
}

void MappedFile::read(std::uint64_t offset, std::size_t n, void* out) const {
  if (offset > size_ || n > size_ - offset) fail(path_, "read past the end of the file");
  if (n > 0) std::memcpy(out, data_ + offset, n);
}

void MappedSlice::read(std::uint64_t offset, std::size_t n, void* out) const {
  if (offset > size_ || n > size_ - offset) fail(file_->path(), "read past the end of an archive member");
  if (n > 0) std::memcpy(out, data_ + offset, n);
}

}  // namespace detail

// ---------------------------------------------------------------------------
// NpyArray

NpyArray NpyArray::open(const std::string& path) {
  auto file = detail::MappedFile::open(path, "a .npy file");
  const std::uint64_t size = file->size();
  NpyArray array = make(path, std::move(file), size);
  array.file_ = path;
  return array;
}

NpyArray NpyArray::from_storage(std::string name, std::shared_ptr<const detail::ArrayStorage> storage,
                                std::string file) {
  const std::uint64_t size = storage->size();
  if (size == 0) fail(name, "empty (0 bytes), not a .npy array");
  NpyArray array = make(std::move(name), std::move(storage), size);
  array.file_ = std::move(file);
  return array;
}

NpyArray NpyArray::make(std::string name, std::shared_ptr<const detail::ArrayStorage> storage,
                        std::uint64_t stream_size) {
  NpyArray array;
  array.path_ = std::move(name);
  const std::string& path = array.path_;
  if (const std::byte* mapped = storage->mapped()) {
    array.header_ = parse_npy_header(mapped, static_cast<std::size_t>(stream_size), path);
  } else {
    // Unmapped (deflated): the first 4 KiB, which hold NumPy's headers, and
    // more only when the header length asks for it. A 16 MiB header is corrupt.
    constexpr std::size_t kMaxHeader = std::size_t{16} << 20;
    std::vector<unsigned char> head(static_cast<std::size_t>(std::min<std::uint64_t>(stream_size, 4096)));
    storage->read(0, head.size(), head.data());
    std::size_t wanted = head.size();
    if (head.size() >= 12 && std::memcmp(head.data(), kMagic, kMagicSize) == 0 && head[6] >= 1 && head[6] <= 3 &&
        head[7] == 0) {
      const std::size_t length_field = head[6] == 1 ? 2 : 4;
      wanted = std::max(wanted, kMagicSize + 2 + length_field + read_le(head.data() + kMagicSize + 2, length_field));
    }
    if (wanted > kMaxHeader) fail(path, "a .npy header of " + std::to_string(wanted) + " bytes: corrupt");
    wanted = static_cast<std::size_t>(std::min<std::uint64_t>(wanted, stream_size));
    if (wanted > head.size()) {
      head.resize(wanted);
      storage->read(0, wanted, head.data());
    }
    array.header_ = parse_npy_header(head.data(), head.size(), path);
  }
  const NpyHeader& header = array.header_;
  const std::uint64_t data_bytes = header.data_bytes();
  const std::uint64_t file_data_bytes = stream_size - header.data_offset;
  const std::string described =
      "shape " + shape_to_string(header.shape) + ", dtype " + std::string(to_string(header.dtype));
  if (file_data_bytes < data_bytes) {
    fail(path, "truncated: header promises " + std::to_string(data_bytes) + " bytes of data (" + described +
                   "), file has " + std::to_string(file_data_bytes));
  }
  if (file_data_bytes > data_bytes) {
    fail(path, "has " + std::to_string(file_data_bytes - data_bytes) + " bytes after the " +
                   std::to_string(data_bytes) + " bytes of data the header describes (" + described +
                   "); the file may be corrupt or not written by NumPy");
  }
  // Fortran and C order differ only when two or more axes are longer than 1.
  const auto long_axes = std::count_if(header.shape.begin(), header.shape.end(), [](std::uint64_t d) { return d > 1; });
  if (header.fortran_order && long_axes > 1 && header.elements() > 0) {
    std::uint64_t stride = 1;
    for (std::uint64_t dim : header.shape) {
      array.fortran_strides_.push_back(stride);
      stride *= dim;  // no overflow: the product is elements(), checked above
    }
  }
  if (const std::byte* mapped = storage->mapped()) array.data_ = mapped + header.data_offset;
  array.contiguous_ = array.data_ != nullptr && array.fortran_strides_.empty() && !header.big_endian;
  array.storage_ = std::move(storage);
  return array;
}

NpyArray::NpyArray(NpyArray&& other) noexcept
    : path_(std::move(other.path_)),
      file_(std::move(other.file_)),
      header_(std::move(other.header_)),
      storage_(std::move(other.storage_)),
      data_(std::exchange(other.data_, nullptr)),
      contiguous_(std::exchange(other.contiguous_, false)),
      fortran_strides_(std::move(other.fortran_strides_)) {}

NpyArray& NpyArray::operator=(NpyArray&& other) noexcept {
  if (this != &other) {
    path_ = std::move(other.path_);
    file_ = std::move(other.file_);
    header_ = std::move(other.header_);
    storage_ = std::move(other.storage_);
    data_ = std::exchange(other.data_, nullptr);
    contiguous_ = std::exchange(other.contiguous_, false);
    fortran_strides_ = std::move(other.fortran_strides_);
  }
  return *this;
}

namespace {

void swap_bytes(std::byte* items, std::uint64_t count, std::size_t item) {
  for (std::uint64_t i = 0; i < count; ++i, items += item) std::reverse(items, items + item);
}

}  // namespace

void NpyArray::read(std::uint64_t first, std::uint64_t count, void* out) const {
  const std::uint64_t total = size();
  if (first > total || count > total - first) {
    fail(path_, "read of elements " + std::to_string(first) + "+" + std::to_string(count) + " past the end (" +
                    std::to_string(total) + " elements)");
  }
  if (count == 0) return;
  const std::size_t item = item_size(header_.dtype);
  auto* bytes = static_cast<std::byte*>(out);
  if (fortran_strides_.empty()) {
    storage_->read(header_.data_offset + first * item, static_cast<std::size_t>(count * item), bytes);
  } else {
    gather_fortran(first, count, bytes);
  }
  if (header_.big_endian) swap_bytes(bytes, count, item);
}

// C-order elements [first, first + count) of a Fortran-order array: an
// odometer over the C index (last axis fastest) that keeps the Fortran
// offset Σ i_k · stride_k. Mapped data is copied item by item; otherwise the
// offsets are sorted and read in runs of at most 1 MiB, so that a deflated
// member is passed once, forwards, per call.
void NpyArray::gather_fortran(std::uint64_t first, std::uint64_t count, std::byte* out) const {
  const std::size_t item = item_size(header_.dtype);
  const std::vector<std::uint64_t>& shape = header_.shape;
  const std::size_t rank = shape.size();
  std::vector<std::uint64_t> index(rank);
  std::uint64_t rest = first, offset = 0;
  for (std::size_t d = rank; d-- > 0;) {
    index[d] = rest % shape[d];
    rest /= shape[d];
    offset += index[d] * fortran_strides_[d];
  }
  auto advance = [&] {
    for (std::size_t d = rank; d-- > 0;) {
      offset += fortran_strides_[d];
      if (++index[d] < shape[d]) return;
      offset -= shape[d] * fortran_strides_[d];
      index[d] = 0;
    }
  };
  if (data_ != nullptr) {
    for (std::uint64_t i = 0; i < count; ++i, advance()) std::memcpy(out + i * item, data_ + offset * item, item);
    return;
  }
  std::vector<std::pair<std::uint64_t, std::uint64_t>> wanted(static_cast<std::size_t>(count));  // (offset, i)
  for (std::uint64_t i = 0; i < count; ++i, advance()) wanted[static_cast<std::size_t>(i)] = {offset, i};
  std::sort(wanted.begin(), wanted.end());
  constexpr std::uint64_t kRun = std::uint64_t{1} << 20;
  std::vector<std::byte> run;
  for (std::size_t begin = 0; begin < wanted.size();) {
    std::size_t end = begin + 1;
    while (end < wanted.size() && (wanted[end].first - wanted[begin].first + 1) * item <= kRun) ++end;
    const std::uint64_t low = wanted[begin].first;
    run.resize(static_cast<std::size_t>((wanted[end - 1].first - low + 1) * item));
    storage_->read(header_.data_offset + low * item, run.size(), run.data());
    for (std::size_t k = begin; k < end; ++k)
      std::memcpy(out + wanted[k].second * item, run.data() + (wanted[k].first - low) * item, item);
    begin = end;
  }
}

void NpyArray::release(std::uint64_t first, std::uint64_t count) const {
  // Only mapped storage (a .npy file, a stored .npz member) holds pages to
  // give back; a deflated member is inflated into buffers it frees itself.
  const std::byte* mapped = storage_ ? storage_->mapped() : nullptr;
  if (mapped == nullptr || count == 0 || first >= size()) return;
  count = std::min(count, size() - first);
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const std::uint64_t item = item_size(dtype());
  const auto begin = reinterpret_cast<std::uintptr_t>(mapped + header_.data_offset + first * item);
  const auto end = begin + static_cast<std::uintptr_t>(count * item);
  const std::uintptr_t page_begin = begin / page * page;
  const std::uintptr_t page_end = (end + page - 1) / page * page;
  // Advice, not a promise: a range the kernel refuses (past the mapping's
  // last page) changes nothing, and a page given back is read again from the
  // file when needed (the mapping is read-only).
  ::madvise(reinterpret_cast<void*>(page_begin), static_cast<std::size_t>(page_end - page_begin), MADV_DONTNEED);
}

// ---------------------------------------------------------------------------

void write_npy(const std::string& path, DType dtype, const std::vector<std::uint64_t>& shape,
               const void* data) {
  NpyHeader header;
  header.dtype = dtype;
  header.shape = shape;
  std::uint64_t data_bytes = 0;
  std::string preamble;
  try {
    data_bytes = header.data_bytes();
    preamble = npy_preamble(dtype, shape);
  } catch (const Error& e) {
    fail(path, std::string("cannot write: ") + e.what());
  }
  if (data == nullptr && data_bytes > 0) fail(path, "cannot write: no data given");

  write_file_atomically(path, {preamble, std::string_view(static_cast<const char*>(data), data_bytes)});
}

}  // namespace laconic
