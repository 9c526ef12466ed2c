// .npz archives: the zip container (APPNOTE.TXT 6.3: end of central
// directory, ZIP64 end record and locator, central and local file headers,
// the ZIP64 extended-information extra field) read from a mapped file, and
// deflate through zlib's raw inflate. Random access into a deflated member
// follows zlib's examples/zran.c: access points hold the 32 KiB window and
// the bit offset at a deflate block boundary, and a restart primes a fresh
// raw inflater with them (inflatePrime, inflateSetDictionary).
#include "laconic/npz.hpp"

#include <zlib.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <thread>

#include "laconic/error.hpp"
#include "laconic/file_io.hpp"
#include "mapped_file.hpp"

namespace laconic {

namespace fs = std::filesystem;

namespace {

constexpr std::uint32_t kLocalHeader = 0x04034b50;
constexpr std::uint32_t kCentralHeader = 0x02014b50;
constexpr std::uint32_t kEndRecord = 0x06054b50;
constexpr std::uint32_t kZip64EndRecord = 0x06064b50;
constexpr std::uint32_t kZip64Locator = 0x07064b50;
constexpr std::uint16_t kZip64ExtraId = 0x0001;
constexpr std::size_t kEndRecordSize = 22;
constexpr std::size_t kZip64LocatorSize = 20;
constexpr std::size_t kZip64EndRecordSize = 56;
constexpr std::size_t kCentralHeaderSize = 46;
constexpr std::size_t kLocalHeaderSize = 30;
constexpr std::uint16_t kMethodStored = 0;
constexpr std::uint16_t kMethodDeflate = 8;
// Python's zipfile (and so np.savez) switches to ZIP64 fields above this.
constexpr std::uint64_t kZip64Limit = (std::uint64_t{1} << 31) - 1;
// zlib counts in uInt: feed and drain at most this much per call.
constexpr std::uint64_t kZlibChunk = std::uint64_t{1} << 30;
constexpr std::size_t kWindow = 32768;  // deflate's history

[[noreturn]] void fail(const std::string& what, const std::string& problem) { throw Error(what + ": " + problem); }

std::uint64_t le(const std::byte* p, std::size_t bytes) {
  std::uint64_t v = 0;
  for (std::size_t i = bytes; i-- > 0;) v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
  return v;
}

std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

std::string method_name(std::uint16_t method) {
  switch (method) {
    case 1: return "shrink";
    case 6: return "implode";
    case 9: return "deflate64";
    case 12: return "bzip2";
    case 14: return "lzma";
    case 93: return "zstd";
    case 95: return "xz";
    default: return "method " + std::to_string(method);
  }
}

std::string zlib_text(const z_stream& s, int ret) {
  if (s.msg != nullptr) return s.msg;
  return "zlib error " + std::to_string(ret);
}

}  // namespace

namespace detail {

struct ZipEntry {
  std::string name;
  std::uint16_t flags = 0;
  std::uint16_t method = 0;
  std::uint32_t crc = 0;
  std::uint64_t compressed = 0;
  std::uint64_t uncompressed = 0;
  std::uint64_t local_offset = 0;
};

class ZipArchive {
 public:
  std::shared_ptr<const MappedFile> file;
  std::vector<ZipEntry> entries;
  std::uint64_t central_offset = 0;  // members' data lie before it
};

// ---------------------------------------------------------------------------
// A deflated member, streamed.

class InflatedMember final : public ArrayStorage {
 public:
  InflatedMember(std::shared_ptr<const MappedFile> file, const std::byte* input, std::uint64_t compressed,
                 std::uint64_t size, std::uint32_t crc, std::string what);
  ~InflatedMember() override;
  InflatedMember(const InflatedMember&) = delete;
  InflatedMember& operator=(const InflatedMember&) = delete;

  std::uint64_t size() const override { return size_; }
  const std::byte* mapped() const override { return nullptr; }
  void read(std::uint64_t offset, std::size_t n, void* out) const override;

  std::size_t access_points() const { return points_.size(); }

 private:
  struct Point {
    std::uint64_t out = 0;  // uncompressed offset
    std::uint64_t in = 0;   // compressed bytes consumed
    int bits = 0;           // unused bits of byte in − 1 that belong to the next block
    std::vector<unsigned char> window;  // the output before `out`, at most 32 KiB
  };
  struct Cursor {
    z_stream stream{};
    bool initialized = false;
    bool busy = false;
    std::uint64_t out = kBroken;  // uncompressed offset it stands at
    std::uint64_t in = 0;         // compressed bytes consumed
    std::uint64_t last_used = 0;
    std::vector<unsigned char> scratch;
  };
  static constexpr std::uint64_t kBroken = std::numeric_limits<std::uint64_t>::max();

  void index();
  void restart(Cursor& cursor, const Point& point) const;
  void inflate_into(Cursor& cursor, unsigned char* out, std::uint64_t n) const;
  Cursor& acquire(std::uint64_t offset, const Point*& restart_at) const;
  void release(Cursor& cursor, bool ok) const;

  std::shared_ptr<const MappedFile> file_;
  const unsigned char* input_;
  std::uint64_t compressed_;
  std::uint64_t size_;
  std::uint32_t crc_;
  std::string what_;
  std::vector<Point> points_;  // points_[0]: the start of the stream
  std::size_t max_cursors_;
  mutable std::mutex mutex_;
  mutable std::condition_variable released_;
  mutable std::vector<std::unique_ptr<Cursor>> cursors_;
  mutable std::uint64_t clock_ = 0;
};

InflatedMember::InflatedMember(std::shared_ptr<const MappedFile> file, const std::byte* input, std::uint64_t compressed,
                               std::uint64_t size, std::uint32_t crc, std::string what)
    : file_(std::move(file)),
      input_(reinterpret_cast<const unsigned char*>(input)),
      compressed_(compressed),
      size_(size),
      crc_(crc),
      what_(std::move(what)),
      max_cursors_(std::clamp<std::size_t>(std::thread::hardware_concurrency(), 2, 64)) {
  points_.push_back(Point{});
  index();
}

InflatedMember::~InflatedMember() {
  for (auto& c : cursors_)
    if (c->initialized) inflateEnd(&c->stream);
}

// One pass over the whole stream: checks that it inflates to exactly size_
// bytes with the CRC-32 the archive gives, and records access points at
// block boundaries every `span` bytes of output (zran.c's deflate_index_build).
void InflatedMember::index() {
  const std::uint64_t span = std::max<std::uint64_t>(std::uint64_t{4} << 20, size_ / 1024);
  z_stream s{};
  int ret = inflateInit2(&s, -15);
  if (ret != Z_OK) fail(what_, "cannot start zlib's inflate: " + zlib_text(s, ret));
  struct End {
    z_stream& s;
    ~End() { inflateEnd(&s); }
  } end{s};
  std::vector<unsigned char> window(kWindow);
  std::uint64_t in = 0, out = 0, last = 0;
  uLong crc = crc32_z(0, nullptr, 0);
  s.avail_out = 0;
  for (;;) {
    if (s.avail_out == 0) {
      s.next_out = window.data();
      s.avail_out = static_cast<uInt>(kWindow);
    }
    s.next_in = const_cast<unsigned char*>(input_ + in);
    s.avail_in = static_cast<uInt>(std::min(compressed_ - in, kZlibChunk));
    const uInt fed = s.avail_in;
    unsigned char* before = s.next_out;
    ret = inflate(&s, Z_BLOCK);
    in += fed - s.avail_in;
    const auto produced = static_cast<std::size_t>(s.next_out - before);
    crc = crc32_z(crc, before, produced);
    out += produced;
    if (out > size_)
      fail(what_, "inflates to more than the " + std::to_string(size_) + " bytes the archive says: corrupt archive");
    if (ret == Z_NEED_DICT || ret == Z_DATA_ERROR || ret == Z_MEM_ERROR || ret == Z_STREAM_ERROR)
      fail(what_, "deflate data error after " + std::to_string(out) + " of " + std::to_string(size_) +
                      " bytes (" + zlib_text(s, ret) + "): corrupt archive");
    if (ret == Z_BUF_ERROR || (ret == Z_OK && produced == 0 && fed == 0)) {
      fail(what_, "the deflate stream ends after " + std::to_string(out) + " of " + std::to_string(size_) +
                      " bytes: truncated archive");
    }
    if (ret == Z_STREAM_END) break;
    // At a block boundary that is not the end: an access point, once per span.
    if ((s.data_type & 128) != 0 && (s.data_type & 64) == 0 && out - last >= span && out < size_) {
      Point p;
      p.out = out;
      p.in = in;
      p.bits = s.data_type & 7;
      // The last 32 KiB of output: window[avail_out..] is older, window[..32K − avail_out] newer.
      std::vector<unsigned char> ring(kWindow);
      const std::size_t older = s.avail_out;
      std::memcpy(ring.data(), window.data() + kWindow - older, older);
      std::memcpy(ring.data() + older, window.data(), kWindow - older);
      const std::size_t keep = static_cast<std::size_t>(std::min<std::uint64_t>(out, kWindow));
      p.window.assign(ring.end() - static_cast<std::ptrdiff_t>(keep), ring.end());
      points_.push_back(std::move(p));
      last = out;
    }
  }
  if (out != size_)
    fail(what_, "inflates to " + std::to_string(out) + " bytes but the archive says " + std::to_string(size_) +
                    ": corrupt archive");
  if (static_cast<std::uint32_t>(crc) != crc_)
    fail(what_, "CRC-32 mismatch: the archive says " + hex32(crc_) + ", the data gives " +
                    hex32(static_cast<std::uint32_t>(crc)) + ": corrupt archive");
}

void InflatedMember::restart(Cursor& c, const Point& p) const {
  c.out = kBroken;
  int ret = c.initialized ? inflateReset(&c.stream) : inflateInit2(&c.stream, -15);
  if (ret != Z_OK) fail(what_, "cannot start zlib's inflate: " + zlib_text(c.stream, ret));
  c.initialized = true;
  c.in = p.in;
  if (p.bits != 0) {
    ret = inflatePrime(&c.stream, p.bits, input_[p.in - 1] >> (8 - p.bits));
    if (ret != Z_OK) fail(what_, "cannot resume inflating: " + zlib_text(c.stream, ret));
  }
  if (!p.window.empty()) {
    ret = inflateSetDictionary(&c.stream, p.window.data(), static_cast<uInt>(p.window.size()));
    if (ret != Z_OK) fail(what_, "cannot resume inflating: " + zlib_text(c.stream, ret));
  }
  c.out = p.out;
}

void InflatedMember::inflate_into(Cursor& c, unsigned char* out, std::uint64_t n) const {
  while (n > 0) {
    z_stream& s = c.stream;
    s.next_out = out;
    s.avail_out = static_cast<uInt>(std::min(n, kZlibChunk));
    s.next_in = const_cast<unsigned char*>(input_ + c.in);
    s.avail_in = static_cast<uInt>(std::min(compressed_ - c.in, kZlibChunk));
    const uInt fed = s.avail_in;
    const int ret = inflate(&s, Z_NO_FLUSH);
    c.in += fed - s.avail_in;
    const auto produced = static_cast<std::uint64_t>(s.next_out - out);
    c.out += produced;
    out += produced;
    n -= produced;
    if (ret == Z_STREAM_END && n > 0)
      fail(what_, "the deflate stream ends early: the archive changed while it was read");
    if (ret != Z_OK && ret != Z_STREAM_END && !(ret == Z_BUF_ERROR && produced > 0))
      fail(what_, "deflate data error (" + zlib_text(s, ret) + "): the archive changed while it was read");
  }
}

InflatedMember::Cursor& InflatedMember::acquire(std::uint64_t offset, const Point*& restart_at) const {
  const auto after = std::upper_bound(points_.begin(), points_.end(), offset,
                                      [](std::uint64_t o, const Point& p) { return o < p.out; });
  const Point& point = *(after - 1);
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    // A cursor that reaches `offset` by inflating less than a restart would.
    Cursor* best = nullptr;
    for (auto& c : cursors_)
      if (!c->busy && c->out != kBroken && c->out <= offset && c->out >= point.out && (!best || c->out > best->out))
        best = c.get();
    restart_at = nullptr;
    if (best == nullptr) {
      restart_at = &point;
      if (cursors_.size() < max_cursors_) {
        cursors_.push_back(std::make_unique<Cursor>());
        best = cursors_.back().get();
      } else {
        for (auto& c : cursors_)
          if (!c->busy && (!best || c->last_used < best->last_used)) best = c.get();
      }
    }
    if (best != nullptr) {
      best->busy = true;
      best->last_used = ++clock_;
      return *best;
    }
    released_.wait(lock);
  }
}

void InflatedMember::release(Cursor& c, bool ok) const {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!ok) c.out = kBroken;
    c.busy = false;
  }
  released_.notify_one();
}

void InflatedMember::read(std::uint64_t offset, std::size_t n, void* out) const {
  if (offset > size_ || n > size_ - offset) fail(what_, "read past the end of the member");
  if (n == 0) return;
  const Point* restart_at = nullptr;
  Cursor& c = acquire(offset, restart_at);
  try {
    if (restart_at != nullptr) restart(c, *restart_at);
    if (c.out < offset) {
      c.scratch.resize(1 << 16);
      while (c.out < offset)
        inflate_into(c, c.scratch.data(), std::min<std::uint64_t>(offset - c.out, c.scratch.size()));
    }
    inflate_into(c, static_cast<unsigned char*>(out), n);
  } catch (...) {
    release(c, false);
    throw;
  }
  release(c, true);
}

}  // namespace detail

// ---------------------------------------------------------------------------
// The central directory.

namespace {

// The ZIP64 extended information of an entry: the fields whose 32-bit (or
// 16-bit) value is all ones, in the order usize, csize, offset, disk.
void read_zip64_extra(const std::byte* extra, std::size_t length, detail::ZipEntry& e, bool need_usize,
                      bool need_csize, bool need_offset, const std::string& what) {
  std::size_t at = 0;
  while (at + 4 <= length) {
    const auto id = static_cast<std::uint16_t>(le(extra + at, 2));
    const auto size = static_cast<std::size_t>(le(extra + at + 2, 2));
    if (at + 4 + size > length) break;  // a malformed extra field; the checks below decide
    if (id == kZip64ExtraId) {
      std::size_t field = at + 4;
      const std::size_t end = at + 4 + size;
      auto take = [&](std::uint64_t& v, const char* name) {
        if (field + 8 > end) fail(what, std::string("the ZIP64 extra field lacks the ") + name + ": corrupt archive");
        v = le(extra + field, 8);
        field += 8;
      };
      if (need_usize) take(e.uncompressed, "uncompressed size");
      if (need_csize) take(e.compressed, "compressed size");
      if (need_offset) take(e.local_offset, "local header offset");
      return;
    }
    at += 4 + size;
  }
  if (need_usize || need_csize || need_offset)
    fail(what, "a size or offset says ZIP64 but the member has no ZIP64 extra field: corrupt archive");
}

std::shared_ptr<const detail::ZipArchive> read_central_directory(const std::string& path) {
  auto zip = std::make_shared<detail::ZipArchive>();
  zip->file = detail::MappedFile::open(path, "an .npz archive");
  const std::byte* data = zip->file->mapped();
  const std::uint64_t size = zip->file->size();
  if (size < 4 || (le(data, 4) != kLocalHeader && le(data, 4) != kEndRecord)) {
    if (size >= 6 && std::memcmp(data, "\x93NUMPY", 6) == 0)
      fail(path, "is a .npy file, not an .npz archive; name it without ':'");
    fail(path, "not an .npz archive (not a zip file)");
  }
  // The end record: the last signature in the final 64 KiB + 22 bytes whose
  // comment fits the file.
  if (size < kEndRecordSize) fail(path, "truncated .npz archive: no end-of-central-directory record");
  std::uint64_t end = std::numeric_limits<std::uint64_t>::max();
  const std::uint64_t lowest = size > kEndRecordSize + 0xffff ? size - kEndRecordSize - 0xffff : 0;
  for (std::uint64_t at = size - kEndRecordSize + 1; at-- > lowest;) {
    if (le(data + at, 4) == kEndRecord && at + kEndRecordSize + le(data + at + 20, 2) <= size) {
      end = at;
      break;
    }
  }
  if (end == std::numeric_limits<std::uint64_t>::max())
    fail(path, "truncated .npz archive: no end-of-central-directory record (an incomplete download or copy?)");
  const std::byte* e = data + end;
  std::uint64_t disk = le(e + 4, 2), central_disk = le(e + 6, 2);
  std::uint64_t disk_entries = le(e + 8, 2), entries = le(e + 10, 2);
  std::uint64_t central_size = le(e + 12, 4), central_offset = le(e + 16, 4);
  std::uint64_t directory_end = end;  // where the central directory must stop
  if (end >= kZip64LocatorSize && le(data + end - kZip64LocatorSize, 4) == kZip64Locator) {
    const std::byte* locator = data + end - kZip64LocatorSize;
    const std::uint64_t record = le(locator + 8, 8);
    if (le(locator + 4, 4) != 0 || le(locator + 16, 4) > 1)
      fail(path, "a multi-disk (split) zip archive; laconic reads single-file .npz archives");
    if (record > end - kZip64LocatorSize || end - kZip64LocatorSize - record < kZip64EndRecordSize ||
        le(data + record, 4) != kZip64EndRecord)
      fail(path, "the ZIP64 end-of-central-directory record is missing or out of place: corrupt archive");
    const std::byte* r = data + record;
    disk = le(r + 16, 4);
    central_disk = le(r + 20, 4);
    disk_entries = le(r + 24, 8);
    entries = le(r + 32, 8);
    central_size = le(r + 40, 8);
    central_offset = le(r + 48, 8);
    directory_end = record;
  }
  if (disk != 0 || central_disk != 0 || disk_entries != entries)
    fail(path, "a multi-disk (split) zip archive; laconic reads single-file .npz archives");
  if (central_offset > directory_end || central_size > directory_end - central_offset)
    fail(path, "the central directory lies outside the file (offset " + std::to_string(central_offset) + ", " +
                   std::to_string(central_size) + " bytes): truncated or corrupt archive");
  if (entries > central_size / kCentralHeaderSize)
    fail(path, std::to_string(entries) + " members do not fit a central directory of " + std::to_string(central_size) +
                   " bytes: corrupt archive");
  zip->central_offset = central_offset;

  std::map<std::string, std::size_t> seen;
  std::uint64_t at = central_offset;
  const std::uint64_t stop = central_offset + central_size;
  for (std::uint64_t i = 0; i < entries; ++i) {
    if (stop - at < kCentralHeaderSize || le(data + at, 4) != kCentralHeader)
      fail(path, "central directory entry " + std::to_string(i + 1) + " of " + std::to_string(entries) +
                     " is missing or damaged: corrupt archive");
    const std::byte* h = data + at;
    const auto name_length = static_cast<std::size_t>(le(h + 28, 2));
    const auto extra_length = static_cast<std::size_t>(le(h + 30, 2));
    const auto comment_length = static_cast<std::size_t>(le(h + 32, 2));
    const std::uint64_t entry_size = kCentralHeaderSize + name_length + extra_length + comment_length;
    if (stop - at < entry_size)
      fail(path, "central directory entry " + std::to_string(i + 1) + " runs past the directory: corrupt archive");
    detail::ZipEntry entry;
    entry.name.assign(reinterpret_cast<const char*>(h + kCentralHeaderSize), name_length);
    entry.flags = static_cast<std::uint16_t>(le(h + 8, 2));
    entry.method = static_cast<std::uint16_t>(le(h + 10, 2));
    entry.crc = static_cast<std::uint32_t>(le(h + 16, 4));
    entry.compressed = le(h + 20, 4);
    entry.uncompressed = le(h + 24, 4);
    entry.local_offset = le(h + 42, 4);
    const std::string what = path + ":" + entry.name;
    if (le(h + 34, 2) != 0 && le(h + 34, 2) != 0xffff)
      fail(what, "lies on another disk of a split archive; laconic reads single-file .npz archives");
    read_zip64_extra(h + kCentralHeaderSize + name_length, extra_length, entry, entry.uncompressed == 0xffffffffu,
                     entry.compressed == 0xffffffffu, entry.local_offset == 0xffffffffu, what);
    if (!seen.emplace(entry.name, zip->entries.size()).second)
      fail(path, "holds two members named '" + entry.name + "': corrupt or not written by NumPy");
    zip->entries.push_back(std::move(entry));
    at += entry_size;
  }
  return zip;
}

std::string array_name(const std::string& member) {
  return member.size() > 4 && member.compare(member.size() - 4, 4, ".npy") == 0 ? member.substr(0, member.size() - 4)
                                                                                : member;
}

bool is_npy_member(const std::string& member) {
  return member.size() > 4 && member.compare(member.size() - 4, 4, ".npy") == 0;
}

std::string list_names(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < 20; ++i) out += (i == 0 ? "" : ", ") + names[i];
  if (names.size() > 20) out += ", … (" + std::to_string(names.size()) + " in all)";
  return out;
}

}  // namespace

NpzArchive NpzArchive::open(const std::string& path) {
  NpzArchive archive;
  archive.zip_ = read_central_directory(path);
  return archive;
}

const std::string& NpzArchive::path() const { return zip_->file->path(); }

std::vector<std::string> NpzArchive::names() const {
  std::vector<std::string> names;
  for (const auto& e : zip_->entries)
    if (is_npy_member(e.name)) names.push_back(array_name(e.name));
  return names;
}

NpyArray NpzArchive::array(const std::string& name) const {
  const std::string& path = zip_->file->path();
  const std::string member = is_npy_member(name) ? name : name + ".npy";
  auto named = [&](const std::string& wanted) {
    return std::find_if(zip_->entries.begin(), zip_->entries.end(),
                        [&](const detail::ZipEntry& e) { return e.name == wanted; });
  };
  auto it = named(member);
  if (it == zip_->entries.end()) it = named(name);
  const std::string what = path + ":" + array_name(name);
  if (it == zip_->entries.end()) {
    const auto arrays = names();
    fail(what, "no such array in the archive (" +
                   (arrays.empty() ? std::string("it holds no arrays") : "it holds: " + list_names(arrays)) + ")");
  }
  const detail::ZipEntry& e = *it;
  if (!is_npy_member(e.name))
    fail(what, "member '" + e.name + "' is not a .npy array (np.savez names every array <name>.npy)");
  if ((e.flags & 1) != 0) fail(what, "the member is encrypted; laconic reads unencrypted .npz archives");
  if (e.method != kMethodStored && e.method != kMethodDeflate)
    fail(what, "compressed with " + method_name(e.method) +
                   "; laconic reads stored and deflated members (np.savez, np.savez_compressed)");
  const std::byte* data = zip_->file->mapped();
  if (e.local_offset > zip_->central_offset || zip_->central_offset - e.local_offset < kLocalHeaderSize ||
      le(data + e.local_offset, 4) != kLocalHeader)
    fail(what, "its local header (at byte " + std::to_string(e.local_offset) + ") is missing: corrupt archive");
  const std::byte* local = data + e.local_offset;
  const std::uint64_t name_length = le(local + 26, 2), extra_length = le(local + 28, 2);
  const std::uint64_t start = e.local_offset + kLocalHeaderSize + name_length + extra_length;
  if (start > zip_->central_offset || e.compressed > zip_->central_offset - start)
    fail(what, "its data (" + std::to_string(e.compressed) + " bytes from byte " + std::to_string(start) +
                   ") runs past the members into the central directory: truncated or corrupt archive");
  if (name_length != e.name.size() ||
      std::memcmp(local + kLocalHeaderSize, e.name.data(), e.name.size()) != 0)
    fail(what, "its local header names another member: corrupt archive");

  std::shared_ptr<const detail::ArrayStorage> storage;
  if (e.method == kMethodStored) {
    if (e.compressed != e.uncompressed)
      fail(what, "a stored member of " + std::to_string(e.compressed) + " bytes that says it holds " +
                     std::to_string(e.uncompressed) + ": corrupt archive");
    // The CRC-32 of a stored member: one pass over its mapped bytes.
    uLong crc = crc32_z(0, nullptr, 0);
    const auto* bytes = reinterpret_cast<const unsigned char*>(data + start);
    for (std::uint64_t done = 0; done < e.compressed;) {
      const std::uint64_t n = std::min(e.compressed - done, kZlibChunk);
      crc = crc32_z(crc, bytes + done, static_cast<z_size_t>(n));
      done += n;
    }
    if (static_cast<std::uint32_t>(crc) != e.crc)
      fail(what, "CRC-32 mismatch: the archive says " + hex32(e.crc) + ", the data gives " +
                     hex32(static_cast<std::uint32_t>(crc)) + ": corrupt archive");
    storage = std::make_shared<detail::MappedSlice>(zip_->file, start, e.uncompressed);
  } else {
    storage = std::make_shared<detail::InflatedMember>(zip_->file, data + start, e.compressed, e.uncompressed, e.crc,
                                                       what);
  }
  return NpyArray::from_storage(what, std::move(storage), path);
}

NpyArray open_array(const std::string& address) {
  const auto colon = address.rfind(':');
  auto ends_npz = [](const std::string& s) {
    return s.size() > 4 && s.compare(s.size() - 4, 4, ".npz") == 0;
  };
  if (colon != std::string::npos && ends_npz(address.substr(0, colon))) {
    const std::string name = address.substr(colon + 1);
    if (name.empty()) fail(address, "names no array after ':' (write file.npz:name)");
    return NpzArchive::open(address.substr(0, colon)).array(name);
  }
  std::error_code ec;
  if (fs::is_directory(address, ec))
    fail(address, "is a directory, not a .npy file (name a file, or an array as file.npz:name)");
  if (ends_npz(address)) {
    const NpzArchive archive = NpzArchive::open(address);
    const auto names = archive.names();
    if (names.size() != 1)
      fail(address, names.empty() ? std::string("holds no .npy arrays")
                                  : "holds " + std::to_string(names.size()) + " arrays (" + list_names(names) +
                                        "); name one as " + address + ":" + names.front());
    return archive.array(names.front());
  }
  return NpyArray::open(address);
}

// ---------------------------------------------------------------------------
// Writing.

namespace {

void put(std::string& out, std::uint64_t value, std::size_t bytes) {
  for (std::size_t i = 0; i < bytes; ++i) out += static_cast<char>((value >> (8 * i)) & 0xff);
}

// Raw deflate of `parts` in sequence, at zlib's default level.
std::string deflate_parts(std::initializer_list<std::string_view> parts, const std::string& path) {
  z_stream s{};
  int ret = deflateInit2(&s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  if (ret != Z_OK) fail(path, "cannot start zlib's deflate: " + zlib_text(s, ret));
  struct End {
    z_stream& s;
    ~End() { deflateEnd(&s); }
  } end{s};
  std::string out;
  std::vector<unsigned char> buffer(1 << 18);
  const std::size_t count = parts.size();
  std::size_t index = 0;
  for (std::string_view part : parts) {
    const bool last = ++index == count;
    std::size_t done = 0;
    do {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(part.size() - done, kZlibChunk));
      s.next_in = reinterpret_cast<unsigned char*>(const_cast<char*>(part.data() + done));
      s.avail_in = static_cast<uInt>(n);
      done += n;
      const int flush = last && done == part.size() ? Z_FINISH : Z_NO_FLUSH;
      do {
        s.next_out = buffer.data();
        s.avail_out = static_cast<uInt>(buffer.size());
        ret = deflate(&s, flush);
        if (ret == Z_STREAM_ERROR) fail(path, "zlib's deflate failed: " + zlib_text(s, ret));
        out.append(reinterpret_cast<const char*>(buffer.data()), buffer.size() - s.avail_out);
      } while (s.avail_out == 0 || (flush == Z_FINISH && ret != Z_STREAM_END));
    } while (done < part.size());
  }
  return out;
}

}  // namespace

void write_npz(const std::string& path, const std::vector<NpzEntry>& entries, bool compress, bool force_zip64) {
  std::string archive, central;
  std::uint64_t count = 0;
  for (const NpzEntry& entry : entries) {
    NpyHeader header;
    header.dtype = entry.dtype;
    header.shape = entry.shape;
    std::uint64_t data_bytes = 0;
    std::string preamble;
    try {
      data_bytes = header.data_bytes();
      preamble = npy_preamble(entry.dtype, entry.shape);
    } catch (const Error& e) {
      fail(path, std::string("cannot write array '") + entry.name + "': " + e.what());
    }
    if (entry.data == nullptr && data_bytes > 0) fail(path, "cannot write array '" + entry.name + "': no data given");
    if (entry.name.empty()) fail(path, "cannot write an array without a name");
    const std::string_view data(static_cast<const char*>(entry.data), static_cast<std::size_t>(data_bytes));
    uLong crc = crc32_z(0, nullptr, 0);
    crc = crc32_z(crc, reinterpret_cast<const unsigned char*>(preamble.data()), preamble.size());
    for (std::uint64_t done = 0; done < data.size();) {
      const std::uint64_t n = std::min<std::uint64_t>(data.size() - done, kZlibChunk);
      crc = crc32_z(crc, reinterpret_cast<const unsigned char*>(data.data() + done), static_cast<z_size_t>(n));
      done += n;
    }
    const std::string member = entry.name + ".npy";
    const std::uint64_t usize = preamble.size() + data.size();
    std::string deflated;
    if (compress) deflated = deflate_parts({preamble, data}, path);
    const std::uint64_t csize = compress ? deflated.size() : usize;
    const std::uint64_t offset = archive.size();
    const bool zip64_sizes = force_zip64 || usize > kZip64Limit || csize > kZip64Limit;
    const bool zip64_offset = force_zip64 || offset > kZip64Limit;
    const std::uint16_t method = compress ? kMethodDeflate : kMethodStored;
    const std::uint16_t version = zip64_sizes || zip64_offset ? 45 : 20;
    // Local header: a ZIP64 extra with both sizes when they need it.
    put(archive, kLocalHeader, 4);
    put(archive, version, 2);
    put(archive, 0, 2);                  // flags
    put(archive, method, 2);
    put(archive, 0, 2);                  // time 00:00:00
    put(archive, (1 << 5) | 1, 2);       // date 1980-01-01: the output depends only on the arrays
    put(archive, crc, 4);
    put(archive, zip64_sizes ? 0xffffffffu : csize, 4);
    put(archive, zip64_sizes ? 0xffffffffu : usize, 4);
    put(archive, member.size(), 2);
    put(archive, zip64_sizes ? 20 : 0, 2);
    archive += member;
    if (zip64_sizes) {
      put(archive, kZip64ExtraId, 2);
      put(archive, 16, 2);
      put(archive, usize, 8);
      put(archive, csize, 8);
    }
    if (compress) archive += deflated;
    else {
      archive += preamble;
      archive.append(data.data(), data.size());
    }
    // Central header: ZIP64 fields for the values that overflow, in order.
    std::string extra;
    if (zip64_sizes || zip64_offset) {
      std::string fields;
      if (zip64_sizes) {
        put(fields, usize, 8);
        put(fields, csize, 8);
      }
      if (zip64_offset) put(fields, offset, 8);
      put(extra, kZip64ExtraId, 2);
      put(extra, fields.size(), 2);
      extra += fields;
    }
    put(central, kCentralHeader, 4);
    put(central, (3 << 8) | version, 2);  // made by: Unix
    put(central, version, 2);
    put(central, 0, 2);
    put(central, method, 2);
    put(central, 0, 2);
    put(central, (1 << 5) | 1, 2);
    put(central, crc, 4);
    put(central, zip64_sizes ? 0xffffffffu : csize, 4);
    put(central, zip64_sizes ? 0xffffffffu : usize, 4);
    put(central, member.size(), 2);
    put(central, extra.size(), 2);
    put(central, 0, 2);  // comment
    put(central, 0, 2);  // disk
    put(central, 0, 2);  // internal attributes
    put(central, std::uint64_t{0100644} << 16, 4);  // a regular file, rw-r--r--
    put(central, zip64_offset ? 0xffffffffu : offset, 4);
    central += member;
    central += extra;
    ++count;
  }
  const std::uint64_t central_offset = archive.size();
  const std::uint64_t central_size = central.size();
  archive += central;
  const bool zip64_end = force_zip64 || count >= 0xffff || central_offset > kZip64Limit || central_size > kZip64Limit;
  if (zip64_end) {
    const std::uint64_t record = archive.size();
    put(archive, kZip64EndRecord, 4);
    put(archive, kZip64EndRecordSize - 12, 8);
    put(archive, (3 << 8) | 45, 2);
    put(archive, 45, 2);
    put(archive, 0, 4);
    put(archive, 0, 4);
    put(archive, count, 8);
    put(archive, count, 8);
    put(archive, central_size, 8);
    put(archive, central_offset, 8);
    put(archive, kZip64Locator, 4);
    put(archive, 0, 4);
    put(archive, record, 8);
    put(archive, 1, 4);
  }
  put(archive, kEndRecord, 4);
  put(archive, 0, 2);
  put(archive, 0, 2);
  put(archive, zip64_end ? 0xffff : count, 2);
  put(archive, zip64_end ? 0xffff : count, 2);
  put(archive, zip64_end ? 0xffffffffu : central_size, 4);
  put(archive, zip64_end ? 0xffffffffu : central_offset, 4);
  put(archive, 0, 2);
  write_file_atomically(path, archive);
}

}  // namespace laconic
