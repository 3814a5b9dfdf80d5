// The example pipelines in examples/: the directory holds exactly the expected
// set, each file parses, and printing is a fixed point of parse + print. Their
// numerical results are checked in examples_*_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "ir/parser.h"
#include "ir/printer.h"
#include "tests/test_util.h"

namespace rowjit::testing {
namespace {

const std::vector<std::string> kExpectedExamples = {
    "binary_sign",          "cross_entropy",
    "dense_to_sparse_gate", "gumbel_softmax",
    "log_softmax",          "log_stablemax",
    "log_z_loss",           "moe_sigmoid_grouped",
    "moe_softmax_topk_renorm", "moe_top1",
    "moe_topk_softmax",     "quant_fp8_e4m3",
    "quant_fp8_e5m2",       "quant_int8_absmax",
    "quant_mxfp4",          "quant_q4_0",
    "quant_q8_0",           "quant_uint8_affine",
    "softmax",              "softmax_masked",
    "softmax_temperature",  "softmax_u8",
    "stablemax",            "z_loss",
};

// Names of the .rj files in examples/, sorted.
std::vector<std::string> listed_examples() {
  std::vector<std::string> names;
  std::filesystem::path dir = std::filesystem::path(ROWJIT_SOURCE_DIR) / "examples";
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".rj") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(Examples, DirectoryHoldsExpectedSet) {
  std::vector<std::string> expected = kExpectedExamples;
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(listed_examples(), expected);
}

TEST(Examples, PrintParseRoundTrip) {
  std::vector<std::string> names = listed_examples();
  ASSERT_FALSE(names.empty());
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    auto first = parse_example(name);
    ASSERT_TRUE(first.is_ok()) << first.status().to_string();
    EXPECT_EQ(first->name, name) << "the kernel is named after its file";

    std::string printed = ir::print_pipeline(*first);
    auto second = ir::parse_pipeline(printed);
    ASSERT_TRUE(second.is_ok()) << second.status().to_string() << "\n" << printed;
    EXPECT_EQ(ir::print_pipeline(*second), printed);
  }
}

TEST(Examples, EachOpensWithSourceComment) {
  for (const std::string& name : listed_examples()) {
    std::string text = read_text_file(example_path(name));
    EXPECT_EQ(text.rfind("# ", 0), 0u) << name << " does not start with a comment";
    EXPECT_NE(text.find("Source:"), std::string::npos) << name << " names no source";
  }
}

}  // namespace
}  // namespace rowjit::testing
