// Tests for the .npz reader and writer (npz.hpp): archives written by NumPy
// (tests/data/npz, see make_fixtures.py) and by write_npz, stored and
// deflated, every dtype; random and concurrent reads of a deflated member
// that spans many access points; ZIP64 records; and every refusal, each of
// which must name the archive and the member.

#include "laconic/npz.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "laconic/error.hpp"
#include "laconic/quantize.hpp"
#include "test_util.hpp"

namespace laconic {
namespace {

namespace fs = std::filesystem;
using test::read_text;
using test::TempDir;
using test::throws_error;
using test::write_bytes;

const std::string kFixtureDir = test::test_data_dir() + "/npz/";

template <typename T>
std::vector<T> values_of(const NpyArray& array) {
  EXPECT_EQ(sizeof(T), item_size(array.dtype()));
  std::vector<T> values(array.size());
  if (!values.empty()) array.read(0, values.size(), values.data());
  return values;
}

// Replaces the first `from` in `bytes` (which must be there) by `to`.
void patch(std::string& bytes, const std::string& from, const std::string& to, std::size_t after = 0) {
  const auto at = bytes.find(from, after);
  ASSERT_NE(at, std::string::npos) << "no \"" << from << "\"";
  bytes.replace(at, to.size(), to);
}

// The offset of the central directory header of the first member.
std::size_t central_header(const std::string& bytes) { return bytes.find(std::string("PK\x01\x02", 4)); }

// ---------------------------------------------------------------------------
// Archives written by NumPy.

TEST(NpzNumPy, SavezStoredMembersAreMappedInPlace) {
  const NpzArchive archive = NpzArchive::open(kFixtureDir + "savez.npz");
  EXPECT_EQ(archive.names(), (std::vector<std::string>{"act", "wgt"}));
  const NpyArray act = archive.array("act");
  EXPECT_EQ(act.path(), kFixtureDir + "savez.npz:act");
  EXPECT_EQ(act.dtype(), DType::u1);
  EXPECT_EQ(act.shape(), (std::vector<std::uint64_t>{2, 3, 4}));
  EXPECT_NE(act.contiguous_data(), nullptr);  // a stored member is read in place
  std::vector<std::uint8_t> expected(24);
  for (std::size_t i = 0; i < 24; ++i) expected[i] = static_cast<std::uint8_t>(i);
  EXPECT_EQ(values_of<std::uint8_t>(act), expected);
  EXPECT_EQ(values_of<std::int16_t>(archive.array("wgt.npy")), (std::vector<std::int16_t>{-3, -2, -1, 0, 1, 2}));
}

TEST(NpzNumPy, SavezCompressedMembersAreStreamed) {
  const NpzArchive archive = NpzArchive::open(kFixtureDir + "savez_compressed.npz");
  EXPECT_EQ(archive.names(), (std::vector<std::string>{"act", "wgt", "fortran"}));
  const NpyArray act = archive.array("act");
  EXPECT_EQ(act.data(), nullptr);  // never inflated whole
  EXPECT_EQ(values_of<std::uint8_t>(act)[23], 23);
  EXPECT_EQ(values_of<std::int16_t>(archive.array("wgt")), (std::vector<std::int16_t>{-3, -2, -1, 0, 1, 2}));
  const NpyArray fortran = archive.array("fortran");
  EXPECT_TRUE(fortran.header().fortran_order);
  EXPECT_TRUE(fortran.header().big_endian);
  EXPECT_EQ(values_of<float>(fortran), (std::vector<float>{0.5f, 1.5f, 2.5f, 3.5f, 4.5f, 5.5f}));
}

TEST(NpzNumPy, OneArrayIsAddressedByTheArchiveAlone) {
  const NpyArray a = open_array(kFixtureDir + "one.npz");
  EXPECT_EQ(a.path(), kFixtureDir + "one.npz:arr_0");
  std::vector<float> v;
  for (std::uint16_t bits : values_of<std::uint16_t>(a)) v.push_back(half_to_float(bits));
  EXPECT_EQ(v, (std::vector<float>{1.5f, -2.0f, 65504.0f}));
  EXPECT_EQ(open_array(kFixtureDir + "savez.npz:wgt").size(), 6u);
  EXPECT_TRUE(throws_error([&] { open_array(kFixtureDir + "savez.npz"); },
                           {kFixtureDir + "savez.npz", "holds 2 arrays (act, wgt)", "savez.npz:act"}));
}

// ---------------------------------------------------------------------------
// write_npz round trips.

constexpr DType kAllDTypes[] = {DType::b1, DType::i1, DType::u1, DType::i2, DType::u2, DType::i4,
                                DType::u4, DType::i8, DType::u8, DType::f2, DType::f4, DType::f8};

TEST(NpzWrite, EveryDTypeStoredAndDeflatedWithAndWithoutZip64) {
  TempDir dir;
  for (const bool compress : {false, true})
    for (const bool zip64 : {false, true}) {
      SCOPED_TRACE(std::string(compress ? "deflated" : "stored") + (zip64 ? ", ZIP64" : ""));
      std::vector<std::vector<unsigned char>> data;
      std::vector<NpzEntry> entries;
      for (DType dtype : kAllDTypes) {
        NpyHeader h;
        h.dtype = dtype;
        h.shape = {3, 5, 7};
        data.emplace_back(h.data_bytes());
        for (std::size_t i = 0; i < data.back().size(); ++i) data.back()[i] = static_cast<unsigned char>(i * 37 + 11);
        if (dtype == DType::b1)
          for (auto& b : data.back()) b &= 1;
      }
      for (std::size_t k = 0; k < std::size(kAllDTypes); ++k)
        entries.push_back(NpzEntry{"t_" + std::string(to_string(kAllDTypes[k])), kAllDTypes[k], {3, 5, 7},
                                   data[k].data()});
      entries.push_back(NpzEntry{"scalar", DType::f8, {}, data.back().data()});
      entries.push_back(NpzEntry{"empty", DType::i2, {0, 4}, nullptr});
      const std::string path = dir.file("all.npz");
      write_npz(path, entries, compress, zip64);
      const NpzArchive archive = NpzArchive::open(path);
      EXPECT_EQ(archive.names().size(), entries.size());
      for (std::size_t k = 0; k < std::size(kAllDTypes); ++k) {
        const NpyArray a = archive.array(entries[k].name);
        EXPECT_EQ(a.dtype(), kAllDTypes[k]);
        EXPECT_EQ(a.shape(), (std::vector<std::uint64_t>{3, 5, 7}));
        std::vector<unsigned char> back(data[k].size());
        a.read(0, a.size(), back.data());
        EXPECT_EQ(back, data[k]) << entries[k].name;
        EXPECT_EQ(a.contiguous_data() != nullptr, !compress);
      }
      EXPECT_EQ(archive.array("scalar").size(), 1u);
      EXPECT_EQ(archive.array("empty").size(), 0u);
    }
}

TEST(NpzWrite, OutputDependsOnlyOnTheArrays) {
  TempDir dir;
  const std::int16_t values[4] = {1, -2, 3, -4};
  write_npz(dir.file("a.npz"), {NpzEntry{"x", DType::i2, {4}, values}}, true);
  write_npz(dir.file("b.npz"), {NpzEntry{"x", DType::i2, {4}, values}}, true);
  EXPECT_EQ(read_text(dir.file("a.npz")), read_text(dir.file("b.npz")));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), {}), 2);  // no temporary file left
}

// A deflated member of 24 MiB: access points every 4 MiB; reads forwards,
// backwards, at random and from several threads at once all give the bytes
// that were written.
TEST(NpzDeflate, RandomAndConcurrentReadsOfALargeMember) {
  const std::size_t n = std::size_t{24} << 20;
  std::vector<std::uint8_t> data(n);
  std::uint32_t state = 1;
  for (std::size_t i = 0; i < n; ++i) {
    if (i % 64 == 0) state = state * 1664525u + 1013904223u;
    data[i] = static_cast<std::uint8_t>((state >> 24) & (i % 4096 < 2048 ? 0x0f : 0xff));
  }
  TempDir dir;
  const std::string path = dir.file("big.npz");
  write_npz(path, {NpzEntry{"big", DType::u1, {n}, data.data()}}, true);
  EXPECT_LT(fs::file_size(path), n);  // it did compress
  const NpyArray a = NpzArchive::open(path).array("big");
  ASSERT_EQ(a.size(), n);
  auto check = [&](std::uint64_t first, std::uint64_t count) {
    std::vector<std::uint8_t> out(count);
    a.read(first, count, out.data());
    return std::equal(out.begin(), out.end(), data.begin() + static_cast<std::ptrdiff_t>(first));
  };
  EXPECT_TRUE(check(n - 100, 100));          // the end first
  EXPECT_TRUE(check(0, 4096));               // then back to the start
  EXPECT_TRUE(check(4096, 65536));           // continuing
  EXPECT_TRUE(check(13 << 20, 3 << 20));     // across an access point
  EXPECT_TRUE(check((4 << 20) - 7, 14));     // around one
  std::mt19937_64 rng(5);
  for (int i = 0; i < 40; ++i) {
    const std::uint64_t first = rng() % n;
    const std::uint64_t count = std::min<std::uint64_t>(rng() % 200000, n - first);
    EXPECT_TRUE(check(first, count)) << first << "+" << count;
  }
  // Several threads, each reading its own quarter in chunks (as the engines
  // do), all at once.
  std::vector<int> ok(8, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      const std::uint64_t begin = static_cast<std::uint64_t>(t % 4) * (n / 4), end = begin + n / 4;
      bool good = true;
      for (std::uint64_t at = begin; at < end; at += 1 << 18) good = good && check(at, std::min<std::uint64_t>(1 << 18, end - at));
      ok[static_cast<std::size_t>(t)] = good ? 1 : 0;
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok, std::vector<int>(8, 1));
}

TEST(NpzDeflate, QuantizedReadsOfAFortranMemberInChunks) {
  // (512, 1024) i4 in Fortran order, deflated (2 MiB): element i in C order
  // is i % 7 - 3. NpyTensorSource reads it in blocks, each gathered by a
  // forward pass over the member in runs of at most 1 MiB.
  const NpyArray w = open_array(kFixtureDir + "fortran_big.npz:w");
  ASSERT_TRUE(w.header().fortran_order);
  ASSERT_EQ(w.data(), nullptr);
  std::vector<NpyArray> files;
  files.push_back(open_array(kFixtureDir + "fortran_big.npz:w"));
  Quantization q;
  q.precision = Precision{8, true};
  const NpyTensorSource source(std::move(files), q, "w");
  std::vector<std::int64_t> out(source.size());
  source.read(0, out.size(), out.data());
  for (std::size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], static_cast<std::int64_t>(i % 7) - 3) << i;
  // A column: elements 1024 apart in C order, adjacent in the file.
  std::vector<std::int32_t> one(3);
  w.read(5 * 1024 + 1000, 3, one.data());
  EXPECT_EQ(one, (std::vector<std::int32_t>{(5 * 1024 + 1000) % 7 - 3, (5 * 1024 + 1001) % 7 - 3,
                                            (5 * 1024 + 1002) % 7 - 3}));
}

// ---------------------------------------------------------------------------
// Refusals: each names the archive, and the member when there is one.

class NpzErrors : public testing::Test {
 protected:
  void SetUp() override {
    const std::int16_t values[6] = {1, -2, 3, -4, 5, -6};
    write_npz(file("stored.npz"), {NpzEntry{"act", DType::i2, {2, 3}, values}, NpzEntry{"wgt", DType::i2, {6}, values}},
              false);
    write_npz(file("deflated.npz"), {NpzEntry{"act", DType::i2, {2, 3}, values}}, true);
  }
  std::string file(const std::string& name) const { return dir_.file(name); }
  std::string bytes(const std::string& name) const { return read_text(file(name)); }
  TempDir dir_;
};

TEST_F(NpzErrors, MissingMemberListsTheArrays) {
  EXPECT_TRUE(throws_error([&] { open_array(file("stored.npz") + ":bias"); },
                           {file("stored.npz") + ":bias", "no such array in the archive (it holds: act, wgt)"}));
  EXPECT_TRUE(throws_error([&] { open_array(file("stored.npz") + ":"); }, {"names no array after ':'"}));
}

TEST_F(NpzErrors, TruncatedArchives) {
  for (const char* name : {"stored.npz", "deflated.npz"}) {
    const std::string whole = bytes(name);
    for (const std::size_t keep : {whole.size() / 2, whole.size() - 1, std::size_t{30}}) {
      SCOPED_TRACE(std::string(name) + " cut to " + std::to_string(keep));
      write_bytes(file("cut.npz"), whole.substr(0, keep));
      EXPECT_TRUE(throws_error([&] { NpzArchive::open(file("cut.npz")).array("act"); },
                               {file("cut.npz"), "truncated"}));
    }
  }
}

TEST_F(NpzErrors, WrongCrc) {
  std::string stored = bytes("stored.npz");
  // The last data byte of "act" (its 6 values end just before the next local header).
  const auto next = stored.find(std::string("PK\x03\x04", 4), 4);
  stored[next - 1] = static_cast<char>(stored[next - 1] ^ 0x55);
  write_bytes(file("bad.npz"), stored);
  EXPECT_TRUE(throws_error([&] { NpzArchive::open(file("bad.npz")).array("act"); },
                           {file("bad.npz") + ":act", "CRC-32 mismatch: the archive says 0x", "corrupt archive"}));
  EXPECT_NO_THROW(NpzArchive::open(file("bad.npz")).array("wgt"));  // the other member is fine

  std::string deflated = bytes("deflated.npz");
  const std::size_t crc_at = central_header(deflated) + 16;
  deflated[crc_at] = static_cast<char>(deflated[crc_at] ^ 1);
  write_bytes(file("bad.npz"), deflated);
  EXPECT_TRUE(throws_error([&] { NpzArchive::open(file("bad.npz")).array("act"); },
                           {file("bad.npz") + ":act", "CRC-32 mismatch"}));
}

TEST_F(NpzErrors, CorruptDeflateData) {
  std::string deflated = bytes("deflated.npz");
  const std::size_t data = 30 + 7;  // local header and "act.npy"
  for (std::size_t i = data; i < data + 8; ++i) deflated[i] = static_cast<char>(0xff);
  write_bytes(file("bad.npz"), deflated);
  EXPECT_TRUE(throws_error([&] { NpzArchive::open(file("bad.npz")).array("act"); }, {file("bad.npz") + ":act"}));
}

TEST_F(NpzErrors, MemberThatIsNotNpy) {
  std::string archive = bytes("stored.npz");
  patch(archive, "wgt.npy", "wgt.txt");
  patch(archive, "wgt.npy", "wgt.txt");  // the local and the central name
  write_bytes(file("odd.npz"), archive);
  const NpzArchive odd = NpzArchive::open(file("odd.npz"));
  EXPECT_EQ(odd.names(), std::vector<std::string>{"act"});
  EXPECT_TRUE(throws_error([&] { odd.array("wgt.txt"); },
                           {file("odd.npz") + ":wgt.txt", "member 'wgt.txt' is not a .npy array"}));
  EXPECT_NO_THROW(open_array(file("odd.npz")));  // the one array it holds
}

TEST_F(NpzErrors, CompressionMethodsAndEncryption) {
  std::string archive = bytes("stored.npz");
  const std::size_t central = central_header(archive);
  std::string bzip2 = archive;
  bzip2[central + 10] = 12;
  write_bytes(file("m.npz"), bzip2);
  EXPECT_TRUE(throws_error([&] { NpzArchive::open(file("m.npz")).array("act"); },
                           {file("m.npz") + ":act", "compressed with bzip2", "stored and deflated"}));
  std::string encrypted = archive;
  encrypted[central + 8] = 1;
  write_bytes(file("m.npz"), encrypted);
  EXPECT_TRUE(throws_error([&] { NpzArchive::open(file("m.npz")).array("act"); },
                           {file("m.npz") + ":act", "encrypted"}));
}

TEST_F(NpzErrors, NotAnArchive) {
  write_bytes(file("text.npz"), "conv1,conv,1,1\n");
  EXPECT_TRUE(throws_error([&] { NpzArchive::open(file("text.npz")); }, {file("text.npz"), "not an .npz archive"}));
  const std::int16_t v = 1;
  write_npy(file("a.npy"), DType::i2, {1}, &v);
  fs::copy_file(file("a.npy"), file("b.npz"));
  EXPECT_TRUE(throws_error([&] { open_array(file("b.npz") + ":x"); }, {file("b.npz"), "is a .npy file"}));
  fs::create_directory(file("d.npz"));
  EXPECT_TRUE(throws_error([&] { open_array(file("d.npz") + ":x"); }, {file("d.npz"), "is a directory"}));
  EXPECT_TRUE(throws_error([&] { open_array(file("d.npz")); }, {file("d.npz"), "is a directory, not a .npy file"}));
  EXPECT_TRUE(throws_error([&] { open_array(file("none.npz")); }, {file("none.npz"), "No such file"}));
}

TEST_F(NpzErrors, EmptyArchive) {
  write_npz(file("empty.npz"), {}, false);
  EXPECT_TRUE(NpzArchive::open(file("empty.npz")).names().empty());
  EXPECT_TRUE(throws_error([&] { open_array(file("empty.npz")); }, {file("empty.npz"), "holds no .npy arrays"}));
  EXPECT_TRUE(throws_error([&] { open_array(file("empty.npz") + ":a"); }, {"it holds no arrays"}));
}

TEST_F(NpzErrors, CentralDirectoryOutOfBounds) {
  std::string archive = bytes("stored.npz");
  const auto end = archive.rfind(std::string("PK\x05\x06", 4));
  archive[end + 16] = static_cast<char>(0xff);  // central directory offset
  archive[end + 19] = 0x7f;
  write_bytes(file("bad.npz"), archive);
  EXPECT_TRUE(throws_error([&] { NpzArchive::open(file("bad.npz")); },
                           {file("bad.npz"), "central directory lies outside the file"}));
}

TEST(NpzAddress, APathWithAColonThatIsNotAnArchiveIsAPath) {
  TempDir dir;
  const std::int16_t v = 7;
  write_npy(dir.file("a:b.npy"), DType::i2, {1}, &v);
  EXPECT_EQ(values_of<std::int16_t>(open_array(dir.file("a:b.npy"))), std::vector<std::int16_t>{7});
}

}  // namespace
}  // namespace laconic
