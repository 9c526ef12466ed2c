// A whole file mapped read-only into memory: the storage of a .npy file and
// of an .npz archive's stored members (npy.cpp, npz.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "laconic/npy.hpp"

namespace laconic::detail {

class MappedFile final : public ArrayStorage {
 public:
  // Maps `path`. `expected` says what the file should be, for messages ("a
  // .npy file", "an .npz archive"). Throws laconic::Error naming the path
  // when it cannot be opened, is a directory, a FIFO or another non-regular
  // file, or is empty.
  static std::shared_ptr<const MappedFile> open(const std::string& path, const std::string& expected);

  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() override;

  const std::string& path() const { return path_; }
  std::uint64_t size() const override { return size_; }
  const std::byte* mapped() const override { return data_; }
  void read(std::uint64_t offset, std::size_t n, void* out) const override;

 private:
  MappedFile() = default;
  std::string path_;
  void* map_ = nullptr;
  std::size_t size_ = 0;
  const std::byte* data_ = nullptr;
};

// A byte range of a mapped file (an .npz archive's stored member), keeping
// the file mapped while it lives.
class MappedSlice final : public ArrayStorage {
 public:
  MappedSlice(std::shared_ptr<const MappedFile> file, std::uint64_t offset, std::uint64_t size)
      : file_(std::move(file)), data_(file_->mapped() + offset), size_(size) {}
  std::uint64_t size() const override { return size_; }
  const std::byte* mapped() const override { return data_; }
  void read(std::uint64_t offset, std::size_t n, void* out) const override;

 private:
  std::shared_ptr<const MappedFile> file_;
  const std::byte* data_;
  std::uint64_t size_;
};

}  // namespace laconic::detail
