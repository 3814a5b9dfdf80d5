#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "runtime/atomic_file.h"
#include "runtime/npy.h"

namespace rowjit {
namespace {

namespace fs = std::filesystem;

// A fresh folder under the GoogleTest temporary folder, removed at the end.
class NpyTest : public testing::Test {
 protected:
  void SetUp() override {
    const testing::TestInfo* info = testing::UnitTest::GetInstance()->current_test_info();
    folder_ = fs::path(testing::TempDir()) /
              ("rowjit_npy_" + std::string(info->name()) + "_" + std::to_string(getpid()));
    fs::remove_all(folder_);
    fs::create_directories(folder_);
  }
  void TearDown() override { fs::remove_all(folder_); }

  std::string path(const std::string& name) const { return (folder_ / name).string(); }

  void write_bytes(const std::string& name, const std::string& bytes) const {
    std::ofstream out(path(name), std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  std::vector<std::string> folder_entries() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(folder_)) {
      names.push_back(entry.path().filename().string());
    }
    return names;
  }

  fs::path folder_;
};

// Builds a .npy file by hand from the format description: magic, version,
// little-endian header length of `length_width` bytes, header text padded
// with spaces and ended by '\n' to a multiple of 64 bytes, then `data`.
std::string hand_built_npy(int major, const std::string& dictionary, const std::string& data) {
  size_t length_width = major == 1 ? 2 : 4;
  size_t unpadded = 8 + length_width + dictionary.size() + 1;
  size_t header_length = dictionary.size() + 1 + (64 - unpadded % 64) % 64;
  std::string bytes("\x93NUMPY", 6);
  bytes += static_cast<char>(major);
  bytes += '\0';
  for (size_t i = 0; i < length_width; ++i) {
    bytes += static_cast<char>((header_length >> (8 * i)) & 0xFF);
  }
  bytes += dictionary;
  bytes.append(header_length - dictionary.size() - 1, ' ');
  bytes += '\n';
  return bytes + data;
}

std::string float_bytes(const std::vector<float>& values) {
  std::string bytes(values.size() * 4, '\0');
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

const std::string kF32Dictionary = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";

TEST_F(NpyTest, RoundTripEachDtype) {
  struct Case {
    NpyDtype dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> data;
  };
  // Bit patterns written out by hand: 1.0f is 0x3F800000 and -2.5f is
  // 0xC0200000 (IEEE binary32); 1.0 in binary16 is 0x3C00 and -2.0 is 0xC000.
  std::vector<Case> cases = {
      {NpyDtype::kF32, {2, 2}, {0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x20, 0xC0,
                                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x3F}},
      {NpyDtype::kF16, {3}, {0x00, 0x3C, 0x00, 0xC0, 0x00, 0x00}},
      {NpyDtype::kS32, {1, 2}, {0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x00, 0x00, 0x00}},
      {NpyDtype::kS8, {2, 3}, {0x80, 0x7F, 0x00, 0x01, 0xFF, 0x02}},
      {NpyDtype::kU8, {4}, {0x00, 0xFF, 0x10, 0x7E}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(npy_descr(c.dtype)));
    NpyArray array;
    array.dtype = c.dtype;
    array.shape = c.shape;
    array.data = c.data;
    std::string file = path("array.npy");
    ASSERT_TRUE(write_npy(file, array).is_ok());

    Result<NpyArray> read = read_npy(file);
    ASSERT_TRUE(read.is_ok()) << read.status().message();
    EXPECT_EQ(read->dtype, c.dtype);
    EXPECT_EQ(read->shape, c.shape);
    EXPECT_EQ(read->data, c.data);
  }
}

TEST_F(NpyTest, EncodesHeaderLikeNumpy) {
  // numpy 1.24 writes this 128-byte header for np.zeros((2, 3), np.float32):
  // version 1.0, header length 118 (0x76), spaces, then '\n'.
  std::string dictionary = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  std::string expected = std::string("\x93NUMPY\x01\x00\x76\x00", 10) + dictionary;
  expected.append(127 - expected.size(), ' ');
  expected += '\n';
  expected.append(24, '\0');

  Result<std::string> encoded = encode_npy(make_npy_array(NpyDtype::kF32, {2, 3}));
  ASSERT_TRUE(encoded.is_ok());
  EXPECT_EQ(*encoded, expected);
}

TEST_F(NpyTest, EncodesOneDimensionalShape) {
  Result<std::string> encoded = encode_npy(make_npy_array(NpyDtype::kU8, {5}));
  ASSERT_TRUE(encoded.is_ok());
  EXPECT_NE(encoded->find("'shape': (5,)"), std::string::npos);
  EXPECT_EQ((encoded->size() - 5) % 64, 0u);
}

TEST_F(NpyTest, ReadsVersion2And3) {
  std::string data = float_bytes({1, 2, 3, 4});
  for (int major : {2, 3}) {
    SCOPED_TRACE(major);
    write_bytes("v.npy", hand_built_npy(major, kF32Dictionary, data));
    Result<NpyArray> read = read_npy(path("v.npy"));
    ASSERT_TRUE(read.is_ok()) << read.status().message();
    EXPECT_EQ(read->shape, (std::vector<int64_t>{2, 2}));
    EXPECT_EQ(read->data, std::vector<uint8_t>(data.begin(), data.end()));
  }
}

TEST_F(NpyTest, ReadsOtherKeyOrderAndQuotes) {
  std::string dictionary = "{\"shape\": (3,), \"fortran_order\": False, \"descr\": \"|i1\"}";
  write_bytes("k.npy", hand_built_npy(1, dictionary, "abc"));
  Result<NpyArray> read = read_npy(path("k.npy"));
  ASSERT_TRUE(read.is_ok()) << read.status().message();
  EXPECT_EQ(read->dtype, NpyDtype::kS8);
  EXPECT_EQ(read->shape, (std::vector<int64_t>{3}));
}

TEST_F(NpyTest, ReadsEmptyRows) {
  std::string dictionary = "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 7), }";
  write_bytes("e.npy", hand_built_npy(1, dictionary, ""));
  Result<NpyArray> read = read_npy(path("e.npy"));
  ASSERT_TRUE(read.is_ok()) << read.status().message();
  EXPECT_EQ(read->element_count(), 0);
}

TEST_F(NpyTest, RejectsMissingFile) {
  Result<NpyArray> read = read_npy(path("absent.npy"));
  ASSERT_FALSE(read.is_ok());
  EXPECT_EQ(read.status().code(), StatusCode::kIoError);
  EXPECT_NE(read.status().message().find("file not found"), std::string::npos);
  EXPECT_NE(read.status().message().find("absent.npy"), std::string::npos);
}

TEST_F(NpyTest, RejectsFolder) {
  Result<NpyArray> read = read_npy(folder_.string());
  ASSERT_FALSE(read.is_ok());
  EXPECT_NE(read.status().message().find("not a regular file"), std::string::npos);
}

TEST_F(NpyTest, RejectsBadMagic) {
  std::string bytes = hand_built_npy(1, kF32Dictionary, float_bytes({1, 2, 3, 4}));
  bytes[1] = 'X';
  write_bytes("m.npy", bytes);
  Result<NpyArray> read = read_npy(path("m.npy"));
  ASSERT_FALSE(read.is_ok());
  EXPECT_EQ(read.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(read.status().message().find("not a .npy file"), std::string::npos);
}

TEST_F(NpyTest, RejectsTextFile) {
  write_bytes("t.npy", "1.0, 2.0, 3.0\n");
  Result<NpyArray> read = read_npy(path("t.npy"));
  ASSERT_FALSE(read.is_ok());
  EXPECT_NE(read.status().message().find("not a .npy file"), std::string::npos);
}

TEST_F(NpyTest, RejectsTruncatedHeader) {
  std::string full = hand_built_npy(1, kF32Dictionary, float_bytes({1, 2, 3, 4}));
  // Cut inside the magic string, inside the length field and inside the dictionary.
  for (size_t size : {size_t{0}, size_t{4}, size_t{9}, size_t{40}}) {
    SCOPED_TRACE(size);
    write_bytes("h.npy", full.substr(0, size));
    Result<NpyArray> read = read_npy(path("h.npy"));
    ASSERT_FALSE(read.is_ok());
    EXPECT_NE(read.status().message().find("truncated .npy header"), std::string::npos)
        << read.status().message();
  }
}

TEST_F(NpyTest, RejectsTruncatedData) {
  std::string full = hand_built_npy(1, kF32Dictionary, float_bytes({1, 2, 3, 4}));
  write_bytes("d.npy", full.substr(0, full.size() - 6));
  Result<NpyArray> read = read_npy(path("d.npy"));
  ASSERT_FALSE(read.is_ok());
  const std::string message = read.status().message();
  EXPECT_NE(message.find("truncated data"), std::string::npos) << message;
  EXPECT_NE(message.find("expected 16 bytes"), std::string::npos) << message;
  EXPECT_NE(message.find("found 10"), std::string::npos) << message;
}

TEST_F(NpyTest, RejectsTrailingData) {
  write_bytes("x.npy", hand_built_npy(1, kF32Dictionary, float_bytes({1, 2, 3, 4, 5})));
  Result<NpyArray> read = read_npy(path("x.npy"));
  ASSERT_FALSE(read.is_ok());
  const std::string message = read.status().message();
  EXPECT_NE(message.find("unexpected trailing data"), std::string::npos) << message;
  EXPECT_NE(message.find("found 20"), std::string::npos) << message;
  EXPECT_NE(message.find("the header's shape does not match the data"), std::string::npos) << message;
}

TEST_F(NpyTest, RejectsThreeDimensions) {
  std::string dictionary = "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2, 2), }";
  write_bytes("3d.npy", hand_built_npy(1, dictionary, std::string(8, '\0')));
  Result<NpyArray> read = read_npy(path("3d.npy"));
  ASSERT_FALSE(read.is_ok());
  EXPECT_NE(read.status().message().find("(2, 2, 2) has 3 dimensions"), std::string::npos)
      << read.status().message();
}

TEST_F(NpyTest, RejectsZeroDimensions) {
  std::string dictionary = "{'descr': '<f4', 'fortran_order': False, 'shape': (), }";
  write_bytes("0d.npy", hand_built_npy(1, dictionary, float_bytes({1})));
  Result<NpyArray> read = read_npy(path("0d.npy"));
  ASSERT_FALSE(read.is_ok());
  EXPECT_NE(read.status().message().find("0 dimensions"), std::string::npos);
}

TEST_F(NpyTest, RejectsBigEndian) {
  std::string dictionary = "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }";
  write_bytes("be.npy", hand_built_npy(1, dictionary, float_bytes({1, 2, 3, 4})));
  Result<NpyArray> read = read_npy(path("be.npy"));
  ASSERT_FALSE(read.is_ok());
  const std::string message = read.status().message();
  EXPECT_NE(message.find("big-endian dtype"), std::string::npos) << message;
  EXPECT_NE(message.find("astype('<f4')"), std::string::npos) << message;
}

TEST_F(NpyTest, RejectsUnsupportedDtype) {
  for (std::string descr : {"<f8", "<u2", "<i8", "|b1", "<c8"}) {
    SCOPED_TRACE(descr);
    std::string dictionary =
        "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (1,), }";
    write_bytes("u.npy", hand_built_npy(1, dictionary, std::string(8, '\0')));
    Result<NpyArray> read = read_npy(path("u.npy"));
    ASSERT_FALSE(read.is_ok());
    const std::string message = read.status().message();
    EXPECT_NE(message.find("unsupported dtype"), std::string::npos) << message;
    EXPECT_NE(message.find("'" + descr + "'"), std::string::npos) << message;
    EXPECT_NE(message.find("<f4 (float32), <f2 (float16), <i4 (int32), |i1 (int8) and |u1"),
              std::string::npos)
        << message;
  }
}

// Header bytes outside printable ASCII appear as \xNN, and a long value is cut:
// a NUL would end the message before its advice, an escape byte reach the
// terminal.
TEST_F(NpyTest, MessageShowsHeaderBytesPrintably) {
  const std::string descr = std::string("<f4\0", 4) + "\x1b[31m" + std::string(100, 'A');
  std::string dictionary = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (1,), }";
  write_bytes("p.npy", hand_built_npy(1, dictionary, std::string(8, '\0')));
  Result<NpyArray> read = read_npy(path("p.npy"));
  ASSERT_FALSE(read.is_ok());
  const std::string message = read.status().message();
  EXPECT_NE(message.find("'<f4\\x00\\x1b[31mAAAA"), std::string::npos) << message;
  EXPECT_NE(message.find("AAA...'; accepted dtypes are"), std::string::npos) << message;
  EXPECT_EQ(message.find('\0'), std::string::npos);
  EXPECT_EQ(message.find('\x1b'), std::string::npos);
}

// A FIFO is rejected at once: opening it must not wait for a writer.
TEST_F(NpyTest, RejectsFifoWithoutWaiting) {
  ASSERT_EQ(mkfifo(path("in.fifo").c_str(), 0600), 0);
  Result<NpyArray> read = read_npy(path("in.fifo"));
  ASSERT_FALSE(read.is_ok());
  EXPECT_NE(read.status().message().find("not a regular file"), std::string::npos) << read.status().message();
}

TEST_F(NpyTest, RejectsStructuredDtype) {
  std::string dictionary =
      "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }";
  write_bytes("s.npy", hand_built_npy(1, dictionary, std::string(4, '\0')));
  Result<NpyArray> read = read_npy(path("s.npy"));
  ASSERT_FALSE(read.is_ok());
  EXPECT_NE(read.status().message().find("structured dtype"), std::string::npos);
}

TEST_F(NpyTest, RejectsFortranOrder) {
  std::string dictionary = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }";
  write_bytes("f.npy", hand_built_npy(1, dictionary, float_bytes({1, 2, 3, 4})));
  Result<NpyArray> read = read_npy(path("f.npy"));
  ASSERT_FALSE(read.is_ok());
  EXPECT_NE(read.status().message().find("np.ascontiguousarray"), std::string::npos);
}

TEST_F(NpyTest, RejectsUnknownVersion) {
  std::string bytes = hand_built_npy(2, kF32Dictionary, float_bytes({1, 2, 3, 4}));
  bytes[6] = 4;
  write_bytes("v4.npy", bytes);
  Result<NpyArray> read = read_npy(path("v4.npy"));
  ASSERT_FALSE(read.is_ok());
  EXPECT_NE(read.status().message().find("version in"), std::string::npos);
  EXPECT_NE(read.status().message().find(": 4.0;"), std::string::npos);
}

TEST_F(NpyTest, RejectsMalformedDictionary) {
  struct Case {
    std::string dictionary;
    std::string expected_text;
  };
  std::vector<Case> cases = {
      {"{'descr': '<f4', 'fortran_order': False}", "missing key 'shape'"},
      {"{'descr': '<f4', 'shape': (1,)}", "missing key 'fortran_order'"},
      {"{'fortran_order': False, 'shape': (1,)}", "missing key 'descr'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", "unknown key"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", "twice"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", "non-negative integer"},
      {"{'descr': '<f4', 'fortran_order': maybe, 'shape': (1,)}", "True or False"},
      {"{'descr': '<f4' 'fortran_order': False, 'shape': (1,)}", "','"},
      {"['descr', '<f4']", "'{'"},
      {"{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}", "expected"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.dictionary);
    write_bytes("bad.npy", hand_built_npy(1, c.dictionary, std::string(4, '\0')));
    Result<NpyArray> read = read_npy(path("bad.npy"));
    ASSERT_FALSE(read.is_ok());
    const std::string message = read.status().message();
    EXPECT_NE(message.find("invalid .npy header"), std::string::npos) << message;
    EXPECT_NE(message.find(c.expected_text), std::string::npos) << message;
  }
}

TEST_F(NpyTest, RejectsHugeShape) {
  std::string dictionary =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }";
  write_bytes("huge.npy", hand_built_npy(1, dictionary, ""));
  Result<NpyArray> read = read_npy(path("huge.npy"));
  ASSERT_FALSE(read.is_ok());
  EXPECT_NE(read.status().message().find("shape too large"), std::string::npos);
}

TEST_F(NpyTest, WriteReplacesExistingFile) {
  NpyArray first = make_npy_array(NpyDtype::kU8, {3});
  NpyArray second = make_npy_array(NpyDtype::kU8, {2});
  second.data = {7, 9};
  ASSERT_TRUE(write_npy(path("out.npy"), first).is_ok());
  ASSERT_TRUE(write_npy(path("out.npy"), second).is_ok());

  Result<NpyArray> read = read_npy(path("out.npy"));
  ASSERT_TRUE(read.is_ok());
  EXPECT_EQ(read->data, (std::vector<uint8_t>{7, 9}));
  EXPECT_EQ(folder_entries(), std::vector<std::string>{"out.npy"});
}

TEST_F(NpyTest, WriteFailureLeavesNoFile) {
  NpyArray wrong_size = make_npy_array(NpyDtype::kF32, {2, 2});
  wrong_size.data.resize(3);
  Status status = write_npy(path("out.npy"), wrong_size);
  ASSERT_FALSE(status.is_ok());
  EXPECT_NE(status.message().find("needs 16 bytes"), std::string::npos);
  EXPECT_TRUE(folder_entries().empty());
}

TEST_F(NpyTest, WriteToMissingFolderFails) {
  Status status = write_npy(path("no_such_folder/out.npy"), make_npy_array(NpyDtype::kU8, {1}));
  ASSERT_FALSE(status.is_ok());
  EXPECT_EQ(status.code(), StatusCode::kIoError);
  EXPECT_NE(status.message().find("no_such_folder/out.npy"), std::string::npos);
  EXPECT_TRUE(folder_entries().empty());
}

TEST_F(NpyTest, AtomicFileDiscardsUncommitted) {
  {
    Result<AtomicFile> file = AtomicFile::create(path("partial.npy"));
    ASSERT_TRUE(file.is_ok());
    ASSERT_TRUE(file->write("some bytes").is_ok());
    EXPECT_EQ(folder_entries().size(), 1u);  // the temporary file
  }
  EXPECT_TRUE(folder_entries().empty());
}

TEST_F(NpyTest, AtomicFileRejectsFolder) {
  fs::create_directories(folder_ / "taken");
  Result<AtomicFile> file = AtomicFile::create(path("taken"));
  ASSERT_FALSE(file.is_ok());
  EXPECT_NE(file.status().message().find("is a folder"), std::string::npos) << file.status().message();
  EXPECT_EQ(folder_entries(), std::vector<std::string>{"taken"});
}

// Renaming a temporary file over a device or FIFO would replace it with a
// regular file (as root, even /dev/null), so such paths are rejected.
TEST_F(NpyTest, AtomicFileRejectsSpecialFiles) {
  Result<AtomicFile> device = AtomicFile::create("/dev/null");
  ASSERT_FALSE(device.is_ok());
  EXPECT_NE(device.status().message().find("character device"), std::string::npos) << device.status().message();

  ASSERT_EQ(mkfifo(path("pipe").c_str(), 0600), 0);
  Result<AtomicFile> fifo = AtomicFile::create(path("pipe"));
  ASSERT_FALSE(fifo.is_ok());
  EXPECT_NE(fifo.status().message().find("FIFO"), std::string::npos) << fifo.status().message();
  EXPECT_TRUE(fs::is_fifo(folder_ / "pipe"));
}

TEST_F(NpyTest, AtomicFileWritesThroughSymlink) {
  ASSERT_TRUE(write_npy(path("target.npy"), make_npy_array(NpyDtype::kU8, {1})).is_ok());
  fs::create_symlink(folder_ / "target.npy", folder_ / "link.npy");
  ASSERT_TRUE(write_npy(path("link.npy"), make_npy_array(NpyDtype::kU8, {3})).is_ok());
  EXPECT_TRUE(fs::is_symlink(folder_ / "link.npy"));
  Result<NpyArray> read_back = read_npy(path("target.npy"));
  ASSERT_TRUE(read_back.is_ok());
  EXPECT_EQ(read_back->shape, std::vector<int64_t>{3});
}

}  // namespace
}  // namespace rowjit
