// NumPy .npy files (format versions 1.0, 2.0 and 3.0), read memory-mapped so
// that a multi-GB trace is paged in on demand and never copied whole.
//
// Supported: dtypes i1 u1 i2 u2 i4 u4 f4 f8, little-endian ('<', or '|' for
// one-byte types), C order. Everything else is a laconic::Error that names the
// file and the problem: bad magic, unknown version, malformed header dict,
// big-endian or unsupported dtype, Fortran order, a data size that disagrees
// with the file's size (truncated or trailing bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace laconic {

enum class DType : std::uint8_t { i1, u1, i2, u2, i4, u4, f4, f8 };

std::size_t item_size(DType dtype);
bool is_float(DType dtype);
bool is_signed(DType dtype);
int bit_width(DType dtype);           // 8, 16, 32 or 64
std::string_view to_string(DType dtype);  // "i1", ..., "f8"

struct NpyHeader {
  int major_version = 1;
  int minor_version = 0;
  DType dtype = DType::f4;
  bool fortran_order = false;
  std::vector<std::uint64_t> shape;  // () is a scalar: one element
  std::size_t data_offset = 0;       // bytes from the start of the file to the data
  std::uint64_t elements() const;    // product of shape (1 for a scalar)
  std::uint64_t data_bytes() const;  // elements() * item_size(dtype); throws on overflow
};

// Parses the magic, version and header dict at the start of `bytes`; `what`
// names the source in error messages. Validates the header only (including
// dtype and order support), not the data size. Exposed for tests and fuzzing.
NpyHeader parse_npy_header(const void* bytes, std::size_t size, const std::string& what);

// A read-only memory-mapped .npy file. Movable, not copyable.
class NpyArray {
 public:
  // Opens and validates `path`; the data size must match the file exactly.
  static NpyArray open(const std::string& path);

  NpyArray() = default;
  NpyArray(NpyArray&& other) noexcept;
  NpyArray& operator=(NpyArray&& other) noexcept;
  NpyArray(const NpyArray&) = delete;
  NpyArray& operator=(const NpyArray&) = delete;
  ~NpyArray();

  const std::string& path() const { return path_; }
  const NpyHeader& header() const { return header_; }
  DType dtype() const { return header_.dtype; }
  const std::vector<std::uint64_t>& shape() const { return header_.shape; }
  std::uint64_t size() const { return header_.elements(); }
  // The little-endian, C-order values: size() items of item_size(dtype()) bytes.
  const std::byte* data() const { return data_; }
  // Gives back the mapping's pages that hold elements [first, first + count)
  // (madvise MADV_DONTNEED, rounded out to whole pages: the mapping is
  // read-only, so a page given back is read from the file again if needed).
  void release(std::uint64_t first, std::uint64_t count) const;

 private:
  std::string path_;
  NpyHeader header_{1, 0, DType::f4, false, {0}, 0};  // empty until opened: no elements
  void* map_ = nullptr;
  std::size_t map_size_ = 0;
  const std::byte* data_ = nullptr;
};

// Writes a version 1.0 .npy file (2.0 if the header needs it) of `dtype` and
// `shape` from `data` (elements in C order, little-endian). Writes to a
// temporary file in the same directory and renames it into place, so a
// failed write never leaves a file that looks complete.
void write_npy(const std::string& path, DType dtype, const std::vector<std::uint64_t>& shape,
               const void* data);

// "(2, 3, 4)" for messages.
std::string shape_to_string(const std::vector<std::uint64_t>& shape);

}  // namespace laconic
