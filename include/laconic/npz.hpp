// NumPy .npz archives as np.savez (stored members) and np.savez_compressed
// (deflated members) write them: a zip archive (ZIP64 included) whose
// members are .npy streams, one per array, named "<name>.npy".
//
// The zip container is read here; deflate is zlib's. The archive is
// memory-mapped. A stored member is read in place, like a .npy file. A
// deflated member is streamed, never inflated whole into memory:
//   - opening it inflates it once, checking its CRC-32 and size against the
//     central directory, and records an access point (the 32 KiB window and
//     the bit position) every max(4 MiB, size/1024) bytes of output: at most
//     1024 points, under 1% of the member's size in memory;
//   - a read continues an inflate cursor that stopped at or before the wanted
//     offset (and after the access point before it): reads that follow each
//     other, as the engines' are, cost only their own bytes; several threads
//     keep cursors of their own (up to one per hardware thread);
//   - any other read restarts at the access point before it and inflates at
//     most one span (≤ max(4 MiB, size/1024)) to reach it.
// A Fortran-order array in a deflated member is gathered by one forward
// pass over the range a read touches (npy.hpp), which for a C-order range is
// most of the member: fine for weights, slow for large activation traces,
// which should be C order or stored.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "laconic/npy.hpp"

namespace laconic {

namespace detail {
class ZipArchive;
}

class NpzArchive {
 public:
  // Maps `path` and reads its central directory. Throws laconic::Error
  // naming the archive: not a zip file, truncated (no end record), a central
  // directory that is out of bounds or inconsistent, a multi-disk archive, a
  // member name used twice.
  static NpzArchive open(const std::string& path);

  const std::string& path() const;
  // The arrays: the members whose names end in ".npy", without it, in
  // archive order.
  std::vector<std::string> names() const;
  // The member "<name>.npy" (or `name` itself when it ends in .npy), opened
  // and verified (CRC-32, sizes, the .npy header and data size). Messages
  // name it "<archive>:<name>". Throws laconic::Error for a missing member
  // (listing the arrays), a member that is not a .npy array, an encrypted
  // member, a compression method other than stored or deflate, a bad CRC, a
  // deflate error, or a member that extends past the archive.
  NpyArray array(const std::string& name) const;

 private:
  std::shared_ptr<const detail::ZipArchive> zip_;
};

// An array named as a manifest names one: "file.npy", "file.npz" (an
// archive holding exactly one array) or "file.npz:name". An address whose
// part before the last ':' does not end in ".npz" is a path. Throws
// laconic::Error: a file or member that cannot be read; an .npz of several
// arrays without a name (listing them); a directory.
NpyArray open_array(const std::string& address);

// One array to write into an archive: its name (without ".npy"), dtype,
// shape, and data (C order, little-endian), as write_npy takes them.
struct NpzEntry {
  std::string name;
  DType dtype = DType::f4;
  std::vector<std::uint64_t> shape;
  const void* data = nullptr;
};

// Writes an .npz that NumPy reads with np.load: members "<name>.npy", stored
// (as np.savez) or deflated at zlib's default level (as np.savez_compressed),
// ZIP64 records where a size or offset needs them (every record with
// `force_zip64`, which tests use to check readers). Built in memory and
// written atomically (file_io.hpp). Throws laconic::Error naming `path`.
void write_npz(const std::string& path, const std::vector<NpzEntry>& entries, bool compress,
               bool force_zip64 = false);

}  // namespace laconic
