// Listings of compiled kernels (jit/disassembler.h): hand-assembled kernels
// whose decoding is known, and the softmax kernels of both ISAs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "ir/planner.h"
#include "jit/disassembler.h"
#include "runtime/compiler.h"
#include "runtime/cpu_features.h"
#include "tests/json_testing.h"
#include "tests/test_util.h"
#include "tests/text_testing.h"

namespace rowjit::testing {
namespace {

void append_dwords(std::vector<uint8_t>& bytes, uint32_t value, int count) {
  for (int i = 0; i < count; ++i) {
    uint8_t word[4];
    std::memcpy(word, &value, 4);
    bytes.insert(bytes.end(), word, word + 4);
  }
}

// An AVX2 kernel assembled by hand:
//   0000  c5 fc 10 05 58 00 00 00   vmovups ymm0, [rip+0x58]   (0x08 + 0x58 = 0x60: slot 1)
//   0008  c3                        ret
// then int3 up to the pool at 0x40: slot 0 contains 1.0f (0x3f800000) and
// slot 1 contains 2.0f (0x40000000), each in all 8 lanes of 32 bytes.
jit::CompiledKernel hand_kernel() {
  jit::CompiledKernel kernel;
  const uint8_t code[] = {0xc5, 0xfc, 0x10, 0x05, 0x58, 0x00, 0x00, 0x00, 0xc3};
  kernel.bytes.assign(64, 0xcc);
  std::copy(std::begin(code), std::end(code), kernel.bytes.begin());
  kernel.code_size = sizeof(code);
  append_dwords(kernel.bytes, 0x3f800000, 8);
  append_dwords(kernel.bytes, 0x40000000, 8);
  kernel.constants = {0x3f800000, 0x40000000};
  kernel.markers = {{0, "sweep 0"}, {8, "epilogue"}};
  kernel.isa = "avx2";
  kernel.unroll = 1;
  return kernel;
}

// "sweep N: B code bytes, I instructions" lines of a text listing, as {N, I}.
std::vector<std::pair<int, int>> text_sweep_counts(const std::string& listing) {
  std::vector<std::pair<int, int>> counts;
  std::regex line_pattern(R"(^; sweep (\d+): (\d+) code bytes, (\d+) instructions? \()");
  for (const std::string& line : lines_of(listing)) {
    std::smatch match;
    if (std::regex_search(line, match, line_pattern)) counts.emplace_back(std::stoi(match[1]), std::stoi(match[3]));
  }
  return counts;
}

// Lines of the listing after the marker line `marker`, up to the next marker
// that is not an op ("; op: ...").
std::vector<std::string> section(const std::string& listing, const std::string& marker) {
  std::vector<std::string> result;
  bool inside = false;
  for (const std::string& line : lines_of(listing)) {
    if (line == marker) {
      inside = true;
      continue;
    }
    if (!inside) continue;
    if (line.starts_with("; ") && !line.starts_with("; op:")) break;
    result.push_back(line);
  }
  return result;
}

// Compiles an example for `isa`, with the softmax form forced if given.
std::shared_ptr<const Kernel> compile_example(const std::string& name, Isa isa,
                                              std::optional<ir::SoftmaxForm> form = std::nullopt) {
  auto pipeline = parse_example(name);
  EXPECT_TRUE(pipeline.is_ok()) << pipeline.status().to_string();
  if (!pipeline) return nullptr;
  CompileOptions options;
  options.isa = isa;
  options.choices.softmax_form = form;
  auto kernel = compile(*pipeline, options);
  EXPECT_TRUE(kernel.is_ok()) << kernel.status().to_string();
  if (!kernel) return nullptr;
  EXPECT_TRUE((*kernel)->uses_jit()) << (*kernel)->plan().unsupported_reason;
  return *kernel;
}

std::shared_ptr<const Kernel> compile_softmax(Isa isa, std::optional<ir::SoftmaxForm> form = std::nullopt) {
  return compile_example("softmax", isa, form);
}

bool host_has(Isa isa) { return best_isa(host_cpu()) >= isa; }

const std::regex kOpmask(R"(\bk[0-7]\b)");

// --- Hand-assembled kernels ---

TEST(DumpListing, HandKernelDecodes) {
  std::string text = jit::format_listing(hand_kernel(), {});
  EXPECT_TRUE(contains(text, "\n0000:  vmovups ymm0, [0x60]")) << text;
  EXPECT_TRUE(contains(text, "\n0008:  ret\n")) << text;
}

TEST(DumpListing, HandKernelLabelsConstant) {
  std::string text = jit::format_listing(hand_kernel(), {});
  std::vector<std::string> lines = lines_of(text);
  bool found = false;
  for (const std::string& line : lines) {
    if (line.starts_with("0000:")) found = line.ends_with("; c1 = 2");
  }
  EXPECT_TRUE(found) << text;
}

TEST(DumpListing, HandKernelListsPool) {
  std::string text = jit::format_listing(hand_kernel(), {});
  EXPECT_TRUE(contains(text, "; constant pool: 2 constants at 0x0040, 32 bytes each")) << text;
  EXPECT_TRUE(contains(text, "\nc0    0040:  0x3f800000  1\n")) << text;
  EXPECT_TRUE(contains(text, "\nc1    0060:  0x40000000  2\n")) << text;
}

TEST(DumpListing, HandKernelPrintsMarkers) {
  std::vector<std::string> lines = lines_of(jit::format_listing(hand_kernel(), {}));
  auto sweep = std::find(lines.begin(), lines.end(), "; sweep 0");
  auto epilogue = std::find(lines.begin(), lines.end(), "; epilogue");
  ASSERT_NE(sweep, lines.end());
  ASSERT_NE(epilogue, lines.end());
  EXPECT_TRUE((sweep + 1)->starts_with("0000:"));
  EXPECT_TRUE((epilogue + 1)->starts_with("0008:"));
}

TEST(DumpListing, HandKernelCountsSweep) {
  std::string text = jit::format_listing(hand_kernel(), {});
  EXPECT_TRUE(contains(text, "; sweep 0: 8 code bytes, 1 instruction (0x0000 to 0x0008)")) << text;
  EXPECT_TRUE(contains(text, "; all code: 9 bytes, 2 instructions")) << text;
}

TEST(DumpListing, HandKernelShowsBytes) {
  jit::ListingOptions options;
  options.show_bytes = true;
  std::string text = jit::format_listing(hand_kernel(), options);
  EXPECT_TRUE(contains(text, "\n0000:  c5 fc 10 05 58 00 00 00")) << text;
  EXPECT_TRUE(contains(text, "\n0008:  c3 ")) << text;
}

TEST(DumpListing, HandKernelAttSyntax) {
  jit::ListingOptions options;
  options.syntax = jit::AsmSyntax::kAtt;
  std::string text = jit::format_listing(hand_kernel(), options);
  EXPECT_TRUE(contains(text, "\n0000:  vmovups 0x60, %ymm0")) << text;
  EXPECT_TRUE(contains(text, "intel") == false) << text;
}

TEST(DumpListing, TitleHeadsListing) {
  jit::ListingOptions options;
  options.title = "pipeline 'hand'";
  std::string text = jit::format_listing(hand_kernel(), options);
  EXPECT_TRUE(text.starts_with("; pipeline 'hand'\n")) << text;
}

TEST(DumpListing, UndecodableByteIsBad) {
  jit::CompiledKernel kernel;
  // ud2 (0f 0b), ret (c3), then 06: push es, which 64-bit mode does not have.
  kernel.bytes = {0x0f, 0x0b, 0xc3, 0x06};
  kernel.code_size = 4;
  kernel.isa = "avx2";
  std::string text = jit::format_listing(kernel, {});
  EXPECT_TRUE(contains(text, "\n0000:  ud2\n")) << text;
  EXPECT_TRUE(contains(text, "\n0002:  ret\n")) << text;
  EXPECT_TRUE(contains(text, "\n0003:  (bad)\n")) << text;
}

TEST(DumpListing, PoolMismatchIsNotLabelled) {
  jit::CompiledKernel kernel = hand_kernel();
  kernel.bytes[64 + 32 + 4] ^= 1;  // lane 1 of slot 1 no longer contains 2.0f
  std::string text = jit::format_listing(kernel, {});
  EXPECT_TRUE(contains(text, "not found at the 64-byte boundary")) << text;
  EXPECT_FALSE(contains(text, "; c1 = 2")) << text;
  EXPECT_TRUE(contains(text, "; data at 0x0060")) << text;
}

TEST(DumpListing, HandKernelJson) {
  auto json = parse_json(jit::format_listing_json(hand_kernel(), {}));
  ASSERT_TRUE(json.is_ok()) << json.status().to_string();
  EXPECT_EQ(json_member(*json, "isa").string, "avx2");
  EXPECT_EQ(json_member(*json, "code_bytes").number, 9);
  EXPECT_EQ(json_member(*json, "total_bytes").number, 128);
  const auto& instructions = json_member(*json, "instructions").array;
  ASSERT_EQ(instructions.size(), 2u);
  EXPECT_EQ(json_member(instructions[0], "bytes").string, "c5fc100558000000");
  EXPECT_EQ(json_member(instructions[0], "comment").string, "c1 = 2");
  EXPECT_EQ(json_member(instructions[1], "offset").number, 8);
  EXPECT_EQ(json_member(instructions[1], "text").string, "ret");
  const auto& constants = json_member(*json, "constants").array;
  ASSERT_EQ(constants.size(), 2u);
  EXPECT_EQ(json_member(constants[1], "offset").number, 96);
  EXPECT_EQ(json_member(constants[1], "bits").string, "0x40000000");
  EXPECT_EQ(json_member(constants[1], "value").number, 2);
  const auto& sweeps = json_member(*json, "sweeps").array;
  ASSERT_EQ(sweeps.size(), 1u);
  EXPECT_EQ(json_member(sweeps[0], "code_bytes").number, 8);
  EXPECT_EQ(json_member(sweeps[0], "instructions").number, 1);
}

TEST(DumpListing, JsonNonFiniteConstantIsNull) {
  jit::CompiledKernel kernel = hand_kernel();
  // Slot 0 becomes -inf (0xff800000) in every lane.
  kernel.constants[0] = 0xff800000;
  for (int lane = 0; lane < 8; ++lane) std::memcpy(kernel.bytes.data() + 64 + 4 * lane, &kernel.constants[0], 4);
  auto json = parse_json(jit::format_listing_json(kernel, {}));
  ASSERT_TRUE(json.is_ok()) << json.status().to_string();
  const JsonValue& constant = json_member(*json, "constants").array.at(0);
  EXPECT_EQ(json_member(constant, "value").kind, JsonValue::Kind::kNull);
  EXPECT_EQ(json_member(constant, "value_text").string, "-inf");
}

TEST(DumpListing, JsonEscapesMarkers) {
  jit::CompiledKernel kernel = hand_kernel();
  kernel.markers.push_back({8, "op: \"quoted\"\tand \\"});
  auto json = parse_json(jit::format_listing_json(kernel, {}));
  ASSERT_TRUE(json.is_ok()) << json.status().to_string();
  const auto& markers = json_member(*json, "markers").array;
  ASSERT_EQ(markers.size(), 3u);
  EXPECT_EQ(json_member(markers[2], "text").string, "op: \"quoted\"\tand \\");
}

// --- Softmax kernels ---

TEST(DumpListing, Avx512SoftmaxUsesZmm) {
  if (!host_has(Isa::kAvx512)) GTEST_SKIP() << "this CPU or OS does not support AVX-512";
  auto kernel = compile_softmax(Isa::kAvx512);
  ASSERT_NE(kernel, nullptr);
  ASSERT_NE(kernel->compiled(), nullptr);
  std::string text = jit::format_listing(*kernel->compiled(), {});
  EXPECT_TRUE(contains(text, "zmm")) << text;
}

TEST(DumpListing, Avx512TailUsesOpmask) {
  if (!host_has(Isa::kAvx512)) GTEST_SKIP() << "this CPU or OS does not support AVX-512";
  auto kernel = compile_softmax(Isa::kAvx512);
  ASSERT_NE(kernel, nullptr);
  ASSERT_NE(kernel->compiled(), nullptr);
  std::string text = jit::format_listing(*kernel->compiled(), {});
  std::vector<std::string> tail = section(text, "; masked tail");
  ASSERT_FALSE(tail.empty()) << text;
  bool masked = false;
  for (const std::string& line : tail) masked = masked || std::regex_search(line, kOpmask);
  EXPECT_TRUE(masked) << text;
}

TEST(DumpListing, Avx512ExtExpHasVscalefps) {
  if (!host_has(Isa::kAvx512)) GTEST_SKIP() << "this CPU or OS does not support AVX-512";
  auto kernel = compile_softmax(Isa::kAvx512, ir::SoftmaxForm::kTwoPassExtExp);
  ASSERT_NE(kernel, nullptr);
  ASSERT_NE(kernel->compiled(), nullptr);
  std::string text = jit::format_listing(*kernel->compiled(), {});
  EXPECT_TRUE(contains(text, "vscalefps")) << text;
}

TEST(DumpListing, Avx2SoftmaxHasNoZmmOrOpmask) {
  if (!host_has(Isa::kAvx2)) GTEST_SKIP() << "this CPU or OS does not support AVX2";
  auto kernel = compile_softmax(Isa::kAvx2);
  ASSERT_NE(kernel, nullptr);
  ASSERT_NE(kernel->compiled(), nullptr);
  std::string text = jit::format_listing(*kernel->compiled(), {});
  EXPECT_TRUE(contains(text, "ymm")) << text;
  EXPECT_FALSE(contains(text, "zmm")) << text;
  EXPECT_FALSE(std::regex_search(text, kOpmask)) << text;
}

// Values computed once per row need one lane: their ops, and the reciprocal
// of a softmax's sum on AVX-512, run on xmm registers (the lowering's
// comments give the measured cost of wider ones).
TEST(DumpListing, RowValuesUseXmm) {
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (!host_has(isa)) continue;
    auto kernel = compile_example("log_softmax", isa);
    ASSERT_NE(kernel, nullptr);
    std::string text = jit::format_listing(*kernel->compiled(), {});
    int row_ops = 0;
    for (const std::string& line : lines_of(text)) {
      if (!line.starts_with("; once per row: ")) continue;
      ++row_ops;
      // The op's instructions end with the store of its result to the frame.
      int instructions = 0;
      for (const std::string& instruction : section(text, line)) {
        ++instructions;
        EXPECT_FALSE(contains(instruction, "ymm") || contains(instruction, "zmm")) << isa_name(isa) << ": " << instruction;
        if (contains(instruction, "vmovss [rsp")) break;
      }
      EXPECT_GT(instructions, 10) << text;
    }
    EXPECT_GT(row_ops, 0) << text;
  }
  if (!host_has(Isa::kAvx512)) GTEST_SKIP() << "this CPU or OS does not support AVX-512";
  auto softmax = compile_softmax(Isa::kAvx512, ir::SoftmaxForm::kThreePassRecompute);
  ASSERT_NE(softmax, nullptr);
  int divisions = 0;
  for (const std::string& line : lines_of(jit::format_listing(*softmax->compiled(), {}))) {
    if (!contains(line, "vdivps")) continue;
    ++divisions;
    EXPECT_TRUE(std::regex_search(line, std::regex(R"(vdivps xmm\d+, xmm\d+, xmm\d+$)"))) << line;
  }
  EXPECT_GT(divisions, 0);
}

TEST(DumpListing, SoftmaxCoversCodeExactly) {
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (!host_has(isa)) continue;
    auto kernel = compile_softmax(isa);
    ASSERT_NE(kernel, nullptr);
    ASSERT_NE(kernel->compiled(), nullptr);
    const jit::CompiledKernel& compiled = *kernel->compiled();
    jit::Listing listing = jit::disassemble(compiled, jit::AsmSyntax::kIntel);

    std::vector<uint8_t> decoded;
    for (const auto& instruction : listing.instructions) {
      EXPECT_NE(instruction.text, "(bad)") << isa_name(isa) << " at " << instruction.offset;
      decoded.insert(decoded.end(), instruction.bytes.begin(), instruction.bytes.end());
    }
    std::vector<uint8_t> code(compiled.bytes.begin(), compiled.bytes.begin() + compiled.code_size);
    EXPECT_EQ(decoded, code) << isa_name(isa);
    // Kernels end with vzeroupper and ret.
    ASSERT_GE(listing.instructions.size(), 2u);
    EXPECT_EQ(listing.instructions.back().text, "ret");
    EXPECT_EQ(listing.instructions[listing.instructions.size() - 2].text, "vzeroupper");
  }
}

TEST(DumpListing, SoftmaxPoolIsFound) {
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (!host_has(isa)) continue;
    auto kernel = compile_softmax(isa);
    ASSERT_NE(kernel, nullptr);
    ASSERT_NE(kernel->compiled(), nullptr);
    const jit::CompiledKernel& compiled = *kernel->compiled();
    jit::Listing listing = jit::disassemble(compiled, jit::AsmSyntax::kIntel);
    EXPECT_TRUE(listing.pool_found) << isa_name(isa);
    ASSERT_EQ(listing.constants.size(), compiled.constants.size());
    for (const jit::ListedConstant& constant : listing.constants) {
      uint32_t bits = 0;
      std::memcpy(&bits, compiled.bytes.data() + constant.offset, 4);
      EXPECT_EQ(bits, compiled.constants[static_cast<size_t>(constant.slot)]) << isa_name(isa);
    }
  }
}

// The bytes after the pool are named regions and padding, which together
// cover them exactly. Padding is counted, not printed as data words.
TEST(DumpListing, SoftmaxNamesOtherData) {
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (!host_has(isa)) continue;
    auto kernel = compile_softmax(isa);
    ASSERT_NE(kernel, nullptr);
    const jit::CompiledKernel& compiled = *kernel->compiled();
    jit::Listing listing = jit::disassemble(compiled, jit::AsmSyntax::kIntel);
    std::string text = jit::format_listing(compiled, {});
    EXPECT_TRUE(contains(text, "; MXCSR value of the kernel\n")) << isa_name(isa) << "\n" << text;
    // The softmax exp's table: 8 entries on AVX2, 32 in two zmm on AVX-512.
    EXPECT_TRUE(contains(text, isa == Isa::kAvx2 ? "; lane table of 8 entries\n" : "; lane table of 16 entries\n"))
        << isa_name(isa);
    // An instruction that reads a table names it.
    EXPECT_TRUE(contains(text, isa == Isa::kAvx2 ? "; lane table of 8 entries at 0x" : "; lane table of 16 entries at 0x"))
        << isa_name(isa);
    if (isa == Isa::kAvx2) {
      EXPECT_TRUE(contains(text, "; tail masks: 8 words of ones, then 8 of zeros\n")) << text;
    }

    size_t covered = 0;
    size_t previous_end = listing.data_offset;
    for (const jit::DataRegion& region : compiled.data_regions) {
      EXPECT_GE(region.offset, previous_end) << isa_name(isa) << ": " << region.name;
      previous_end = region.offset + region.size;
      covered += region.size;
    }
    EXPECT_LE(previous_end, listing.total_size) << isa_name(isa);
    std::smatch match;
    std::string rest = text;
    const std::regex padding(R"(; padding: (\d+) bytes\n)");
    while (std::regex_search(rest, match, padding)) {
      covered += std::stoul(match[1].str());
      rest = match.suffix();
    }
    EXPECT_EQ(covered, listing.total_size - listing.data_offset) << isa_name(isa) << "\n" << text;

    auto json = parse_json(jit::format_listing_json(compiled, {}));
    ASSERT_TRUE(json.is_ok()) << json.status().to_string();
    const auto& regions = json_member(json_member(*json, "data"), "regions").array;
    ASSERT_EQ(regions.size(), compiled.data_regions.size()) << isa_name(isa);
    for (size_t i = 0; i < regions.size(); ++i) {
      EXPECT_EQ(json_member(regions[i], "name").string, compiled.data_regions[i].name);
      EXPECT_EQ(json_member(regions[i], "offset").number, static_cast<double>(compiled.data_regions[i].offset));
    }
  }
}

TEST(DumpListing, SoftmaxSweepsMatchPlan) {
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (!host_has(isa)) continue;
    auto kernel = compile_softmax(isa);
    ASSERT_NE(kernel, nullptr);
    ASSERT_NE(kernel->compiled(), nullptr);
    jit::Listing listing = jit::disassemble(*kernel->compiled(), jit::AsmSyntax::kIntel);
    ASSERT_EQ(listing.sweeps.size(), kernel->plan().sweeps.size()) << isa_name(isa);
    size_t previous_end = 0;
    for (size_t s = 0; s < listing.sweeps.size(); ++s) {
      EXPECT_EQ(listing.sweeps[s].sweep, static_cast<int>(s));
      EXPECT_GE(listing.sweeps[s].begin, previous_end);
      EXPECT_GT(listing.sweeps[s].end, listing.sweeps[s].begin);
      EXPECT_GT(listing.sweeps[s].instruction_count, 0);
      previous_end = listing.sweeps[s].end;
    }
  }
}

// A kernel with a copy for rows held in registers lists each sweep twice: the
// copy's sweeps first, marked resident in text and JSON, then the loops'.
TEST(DumpListing, ResidentSweepsAreMarked) {
  auto pipeline = parse_example("softmax");
  ASSERT_TRUE(pipeline.is_ok());
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (!host_has(isa)) continue;
    CompileOptions options;
    options.isa = isa;
    options.n_hint = 64;
    auto kernel = compile(*pipeline, options);
    ASSERT_TRUE(kernel.is_ok()) << kernel.status().to_string();
    const jit::CompiledKernel& compiled = *(*kernel)->compiled();
    ASSERT_GT(compiled.resident_vectors, 0) << isa_name(isa);
    jit::Listing listing = jit::disassemble(compiled, jit::AsmSyntax::kIntel);
    const size_t sweeps = (*kernel)->plan().sweeps.size();
    ASSERT_EQ(listing.sweeps.size(), 2 * sweeps) << isa_name(isa);
    for (size_t s = 0; s < listing.sweeps.size(); ++s) {
      EXPECT_EQ(listing.sweeps[s].resident, s < sweeps) << isa_name(isa) << ", listed sweep " << s;
      EXPECT_EQ(listing.sweeps[s].sweep, static_cast<int>(s % sweeps)) << isa_name(isa);
    }
    std::string text = jit::format_listing(compiled, {});
    EXPECT_TRUE(contains(text, "; sweep 0 (resident rows): ")) << text;
    EXPECT_TRUE(contains(text, "\n; sweep 0: ")) << text;
    std::string json = jit::format_listing_json(compiled, {});
    EXPECT_TRUE(contains(json, "{\"sweep\": 0, \"resident\": true,")) << json;
    EXPECT_TRUE(contains(json, "{\"sweep\": 0, \"resident\": false,")) << json;
  }
}

TEST(DumpListing, SoftmaxMarksOps) {
  if (!host_has(Isa::kAvx2)) GTEST_SKIP() << "this CPU or OS does not support AVX2";
  auto kernel = compile_softmax(Isa::kAvx2, ir::SoftmaxForm::kThreePassRecompute);
  ASSERT_NE(kernel, nullptr);
  ASSERT_NE(kernel->compiled(), nullptr);
  std::string text = jit::format_listing(*kernel->compiled(), {});
  EXPECT_TRUE(contains(text, "\n; sweep 0\n")) << text;
  // AVX2 tails branch to plain moves; AVX-512 tails use an opmask.
  EXPECT_TRUE(contains(text, "\n; tail (moves of 4, 2 and 1 elements)\n")) << text;
  EXPECT_FALSE(contains(text, "\n; masked tail\n")) << text;
  EXPECT_TRUE(std::regex_search(text, std::regex(R"(\n; op: e = exp\(\w+\)\n)"))) << text;
  if (host_has(Isa::kAvx512)) {
    auto zmm = compile_softmax(Isa::kAvx512, ir::SoftmaxForm::kThreePassRecompute);
    ASSERT_NE(zmm, nullptr);
    EXPECT_TRUE(contains(jit::format_listing(*zmm->compiled(), {}), "\n; masked tail\n"));
  }
}

TEST(DumpListing, OffsetsHaveFixedWidth) {
  if (!host_has(Isa::kAvx2)) GTEST_SKIP() << "this CPU or OS does not support AVX2";
  auto kernel = compile_softmax(Isa::kAvx2);
  ASSERT_NE(kernel, nullptr);
  ASSERT_NE(kernel->compiled(), nullptr);
  jit::ListingOptions options;
  options.show_bytes = true;
  std::string text = jit::format_listing(*kernel->compiled(), options);
  // Offset, two spaces, the byte column, then the mnemonic.
  std::regex instruction_line(R"(^[0-9a-f]{4}:  ([0-9a-f]{2} )+ *[a-z(])");
  int instruction_lines = 0;
  for (const std::string& line : lines_of(text)) {
    if (std::regex_search(line, instruction_line)) ++instruction_lines;
  }
  jit::Listing listing = jit::disassemble(*kernel->compiled(), jit::AsmSyntax::kIntel);
  EXPECT_EQ(instruction_lines, static_cast<int>(listing.instructions.size())) << text;
}

TEST(DumpListing, JsonCountsMatchText) {
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (!host_has(isa)) continue;
    auto kernel = compile_softmax(isa, ir::SoftmaxForm::kThreePassRecompute);
    ASSERT_NE(kernel, nullptr);
    ASSERT_NE(kernel->compiled(), nullptr);
    std::string text = jit::format_listing(*kernel->compiled(), {});
    auto json = parse_json(jit::format_listing_json(*kernel->compiled(), {}));
    ASSERT_TRUE(json.is_ok()) << isa_name(isa) << ": " << json.status().to_string();

    std::vector<std::pair<int, int>> text_counts = text_sweep_counts(text);
    const auto& sweeps = json_member(*json, "sweeps").array;
    ASSERT_EQ(sweeps.size(), text_counts.size()) << isa_name(isa);
    ASSERT_EQ(sweeps.size(), 3u) << isa_name(isa);
    for (size_t s = 0; s < sweeps.size(); ++s) {
      EXPECT_EQ(json_member(sweeps[s], "sweep").number, text_counts[s].first);
      EXPECT_EQ(json_member(sweeps[s], "instructions").number, text_counts[s].second);
    }
  }
}

}  // namespace
}  // namespace rowjit::testing
