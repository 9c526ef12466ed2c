// NumPy .npy files (format versions 1.0, 2.0 and 3.0), read memory-mapped so
// that a multi-GB trace is paged in on demand and never copied whole; the
// same arrays inside .npz archives (npz.hpp).
//
// Supported: every numeric dtype NumPy writes — bool (b1), integers of 8, 16,
// 32 and 64 bits signed and unsigned (i1 u1 i2 u2 i4 u4 i8 u8), floats of 16,
// 32 and 64 bits (f2 f4 f8) — in either byte order ('<', '>', '|', '=') and
// in C or Fortran order. A Fortran-order array is read through its strides
// (element (i0, …, in) at offset i0 + d0·(i1 + d1·(…))), still from the
// mapping, never transposed in memory. Everything else is a laconic::Error
// that names the file and the problem: bad magic (with a hint when the file
// is a zip archive, i.e. an .npz), unknown version, malformed header dict,
// an unsupported dtype (complex, strings, objects, structured), a data size
// that disagrees with the file's size (truncated or trailing bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace laconic {

enum class DType : std::uint8_t { b1, i1, u1, i2, u2, i4, u4, i8, u8, f2, f4, f8 };

std::size_t item_size(DType dtype);
bool is_float(DType dtype);
bool is_signed(DType dtype);
int bit_width(DType dtype);               // 8, 16, 32 or 64 (bool: 8, its storage)
std::string_view to_string(DType dtype);  // "b1", "i1", ..., "f8"

// IEEE 754 binary16 to binary32: exact for every value (subnormals, ±0, ±inf,
// NaN payloads), as NumPy widens float16.
float half_to_float(std::uint16_t bits);

struct NpyHeader {
  int major_version = 1;
  int minor_version = 0;
  DType dtype = DType::f4;
  bool big_endian = false;  // '>' in the descr (multi-byte dtypes only)
  bool fortran_order = false;
  std::vector<std::uint64_t> shape;  // () is a scalar: one element
  std::size_t data_offset = 0;       // bytes from the start of the file to the data
  std::uint64_t elements() const;    // product of shape (1 for a scalar)
  std::uint64_t data_bytes() const;  // elements() * item_size(dtype); throws on overflow
};

// Parses the magic, version and header dict at the start of `bytes`; `what`
// names the source in error messages. Validates the header only (including
// dtype support), not the data size. Exposed for tests and fuzzing.
NpyHeader parse_npy_header(const void* bytes, std::size_t size, const std::string& what);

namespace detail {
// Where the bytes of a .npy stream (header and data) live: a mapped file, a
// stored member of a mapped .npz, or a deflated member (npz.cpp). read() is
// safe from several threads at once.
class ArrayStorage {
 public:
  virtual ~ArrayStorage() = default;
  virtual std::uint64_t size() const = 0;
  // The whole stream in memory, when it is mapped; nullptr otherwise.
  virtual const std::byte* mapped() const = 0;
  // Copies bytes [offset, offset + n) to out; throws laconic::Error on an
  // I/O or data error.
  virtual void read(std::uint64_t offset, std::size_t n, void* out) const = 0;
};
}  // namespace detail

// A read-only .npy array: a memory-mapped file or a member of an .npz
// archive. Movable, not copyable.
class NpyArray {
 public:
  // Opens and validates `path`; the data size must match the file exactly.
  static NpyArray open(const std::string& path);
  // An array over `storage` (an .npz member); `name` is what messages call
  // it, e.g. "net.npz:conv1", and `file` the file on disk that holds it
  // (the archive). Validates the header and the data size.
  static NpyArray from_storage(std::string name, std::shared_ptr<const detail::ArrayStorage> storage,
                               std::string file);

  NpyArray() = default;
  NpyArray(NpyArray&& other) noexcept;
  NpyArray& operator=(NpyArray&& other) noexcept;
  NpyArray(const NpyArray&) = delete;
  NpyArray& operator=(const NpyArray&) = delete;
  ~NpyArray() = default;

  // What messages call the array: the .npy path, or "archive.npz:member".
  const std::string& path() const { return path_; }
  // The file on disk that holds the array: the .npy file, or the .npz
  // archive of a member (what a run's identity checks for changes).
  const std::string& file() const { return file_; }
  const NpyHeader& header() const { return header_; }
  DType dtype() const { return header_.dtype; }
  const std::vector<std::uint64_t>& shape() const { return header_.shape; }
  std::uint64_t size() const { return header_.elements(); }
  // The data as stored (the file's byte order, C or Fortran order as the
  // header says) when it is memory-mapped; nullptr for a deflated member.
  const std::byte* data() const { return data_; }
  // The data when it can be used in place: mapped, in C order (or a layout
  // where Fortran and C order coincide) and in the host's byte order;
  // nullptr otherwise (use read()).
  const std::byte* contiguous_data() const { return contiguous_ ? data_ : nullptr; }
  // Elements [first, first + count) in C (row-major) order, in the host's
  // byte order, as size() items of item_size(dtype()) bytes (float16 stays
  // binary16; see half_to_float). Safe from several threads at once. Throws
  // laconic::Error for a range past the end or a storage error.
  void read(std::uint64_t first, std::uint64_t count, void* out) const;
  // Gives back the mapping's pages that hold elements [first, first + count)
  // (madvise MADV_DONTNEED, rounded out to whole pages: the mapping is
  // read-only, so a page given back is read from the file again if needed).
  void release(std::uint64_t first, std::uint64_t count) const;

 private:
  static NpyArray make(std::string name, std::shared_ptr<const detail::ArrayStorage> storage,
                       std::uint64_t stream_size);
  void gather_fortran(std::uint64_t first, std::uint64_t count, std::byte* out) const;

  std::string path_;
  std::string file_;
  NpyHeader header_{1, 0, DType::f4, false, false, {0}, 0};  // empty until opened: no elements
  std::shared_ptr<const detail::ArrayStorage> storage_;
  const std::byte* data_ = nullptr;
  bool contiguous_ = false;
  // Fortran order with more than one axis longer than 1: each axis's stride
  // in elements (1, d0, d0·d1, …).
  std::vector<std::uint64_t> fortran_strides_;
};

// Writes a version 1.0 .npy file (2.0 if the header needs it) of `dtype` and
// `shape` from `data` (elements in C order, little-endian). Writes to a
// temporary file in the same directory and renames it into place, so a
// failed write never leaves a file that looks complete.
void write_npy(const std::string& path, DType dtype, const std::vector<std::uint64_t>& shape,
               const void* data);

// The bytes write_npy writes before the data: magic, version, header length
// and the padded header dict (for the .npz writer).
std::string npy_preamble(DType dtype, const std::vector<std::uint64_t>& shape);

// "(2, 3, 4)" for messages.
std::string shape_to_string(const std::vector<std::uint64_t>& shape);

}  // namespace laconic
