// KernelEmitter: turns a plan into x86 code with Xbyak. Private to jit/; the
// public entry point is compile_kernel() in jit/compile.h. The methods are
// split by concept over kernel_emitter.cpp (frame, rows, loops),
// emit_sweep.cpp (one sweep and its copies of the loops),
// emit_elementwise.cpp, emit_reductions.cpp, emit_softmax_core.cpp (the
// online form), emit_extexp.cpp and the other emit_*.cpp files.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <vector>

#include <xbyak/xbyak.h>

#include "ir/pipeline.h"
#include "ir/plan.h"
#include "ir/status.h"
#include "jit/compile.h"
#include "jit/constant_pool.h"
#include "jit/math.h"
#include "jit/vector_target.h"
#include "ir/printer.h"

namespace rowjit::jit {

// General-purpose registers of generated kernels, shared by the emitter's
// files (the top of kernel_emitter.cpp describes the whole assignment).
inline const Xbyak::Reg64 kArgs{Xbyak::Operand::RDI};      // KernelArgs*
inline const Xbyak::Reg64 kRowsLeft{Xbyak::Operand::RSI};  // rows left, this one included
inline const Xbyak::Reg64 kRowBytes{Xbyak::Operand::R9};   // row length in bytes
inline const Xbyak::Reg64 kIndex{Xbyak::Operand::R8};      // byte index within the row
inline const Xbyak::Reg64 kMainEnd{Xbyak::Operand::RDX};   // last start of a full main-loop iteration
// Row pointers of the tensors, one each; the spare ones hold prefetch bases.
inline const Xbyak::Reg64 kTensorRegs[kMaxTensorSlots] = {
    Xbyak::Reg64{Xbyak::Operand::R10}, Xbyak::Reg64{Xbyak::Operand::R11}, Xbyak::Reg64{Xbyak::Operand::RBX},
    Xbyak::Reg64{Xbyak::Operand::RBP}, Xbyak::Reg64{Xbyak::Operand::R12}, Xbyak::Reg64{Xbyak::Operand::R13},
    Xbyak::Reg64{Xbyak::Operand::R14}, Xbyak::Reg64{Xbyak::Operand::R15}};

// Main-loop iterations between two flushes of float partial sums into double.
inline constexpr int kFlushInterval = 16;
// The last row of a call prefetches past its end only when it is at least
// this long (see emit_prefetch_bases).
inline constexpr int kPrefetchPastEndMinBytes = 64 * 1024;

// Mode of one emission of a loop body: an unrolled step of the main loop, a
// single vector of the remainder loop, or the masked tail.
struct BodyMode {
  int lane = 0;          // unroll lane: selects the accumulators
  int byte_offset = 0;   // added to the loop's byte index
  bool masked = false;   // tail: only the first (n - i) elements are valid
  bool nontemporal = false;  // full-vector stores bypass the caches (aligned rows only)
  int resident_vector = -1;  // resident row: index of the vector in the row, else -1
};

class KernelEmitter : public Xbyak::CodeGenerator {
 public:
  // code_bytes: the size of the code buffer; emit_kernel throws Xbyak's
  // ERR_CODE_IS_TOO_BIG when the kernel does not fit.
  KernelEmitter(const ir::Pipeline& pipeline, const ir::Plan& plan, VectorTarget target, size_t code_bytes);

  // Emits the whole kernel; fails if the plan does not fit the target.
  Status emit_kernel();
  // Vectors per main-loop iteration; compile_kernel lowers it when the
  // registers run out.
  void set_unroll(int unroll) { unroll_target_ = unroll; }
  // Rows of this many vectors stay in registers (plan.resident_vectors, or 0
  // when compile_kernel drops residency to fit the registers).
  void set_resident_vectors(int vectors) { resident_vectors_ = vectors; }

  // Constants to hold in registers during each sweep's loops, chosen from a
  // first emission of the same kernel (see compile_kernel).
  void set_pinned_constants(std::vector<std::vector<uint32_t>> per_sweep) { pin_plan_ = std::move(per_sweep); }
  // What that first emission observed per sweep: how often its loops use each
  // constant, and the fewest vector registers free at any point of them.
  const std::vector<std::map<uint32_t, int>>& sweep_constant_uses() const { return sweep_constant_uses_; }
  const std::vector<int>& sweep_min_free_registers() const { return sweep_min_free_; }

  ConstantPool& pool() { return pool_; }
  const KernelLayout& layout() const { return layout_; }
  const std::vector<CodeMarker>& markers() const { return markers_; }
  size_t code_size() const { return code_size_; }
  const std::vector<DataRegion>& data_regions() const { return data_regions_; }
  int unroll() const { return unroll_; }
  // Returns the maximum number of lanes whose exps a main loop emitted
  // together (1: none).
  int exp_group() const { return max_exp_group_; }
  // Returns whether an exp sweep of the loops has a copy without the exp's
  // underflow guard (emit_exp_range.cpp).
  bool exp_range_copied() const { return exp_range_copied_; }
  bool blocked_exp_range_copied() const { return blocked_exp_range_copied_; }
  // Returns whether emit_kernel failed for lack of vector registers, which a
  // smaller unroll may leave.
  bool out_of_registers() const { return out_of_registers_; }

 private:
  // ---- kernel_emitter.cpp: frame and rows
  Status assign_slots();
  void emit_prologue();
  void emit_epilogue();

  // ---- emit_sweep.cpp: one sweep, its registers and its copies of the loops
  struct SweepShape {
    bool resident = false;       // a row held in registers: one body per vector
    bool blocked = false;        // blocked exp
    bool block_maxima = false;   // blocked: the sweep of block maxima and sums
    bool scales_blocks = false;  // blocked: scales each block of a softmax
    bool shifts_blocks = false;  // blocked: shifts each block of a log-softmax
    bool streams_stores = false;  // aligned rows may take non-temporal stores
    bool guarded = false;        // a reciprocal besides the core sum's needs the copy that divides
  };
  Status emit_sweep(int sweep_index, bool resident, bool blocked = false, const ir::Sweep* instead = nullptr);
  void take_sweep_scalars(const ir::Sweep& sweep);
  void take_block_registers(const ir::Sweep& sweep, const SweepShape& shape);
  void emit_copy_pair(Xbyak::Label& second_entry, const std::string& first_mark, const std::function<void()>& first,
                      const std::string& second_mark, const std::function<void()>& second);
  void emit_loop_copies(const ir::Sweep& sweep, const SweepShape& shape);
  void emit_sweep_loops(const ir::Sweep& sweep, const SweepShape& shape);
  void emit_streaming_loops(const ir::Sweep& sweep);
  void emit_reciprocal_guard(Xbyak::Label& by_division);

  // ---- kernel_emitter.cpp: rows and loops
  void emit_prefetch_bases();
  void mark(const std::string& text);
  Xbyak::Address row_element(ir::ValueId tensor, const BodyMode& mode);
  Xbyak::Address frame_slot(ir::ValueId scalar);
  int frame_alloc(int bytes, int align);
  void emit_next_row(Xbyak::Label& row_loop);
  void emit_loops(const ir::Sweep& sweep, bool nontemporal);
  void emit_resident_vectors(const ir::Sweep& sweep);
  void emit_tail_mask();
  void emit_flush();

  // ---- emit_tail.cpp: AVX2 tail loads and stores without vmaskmovps
  Xbyak::Address tail_count() const;
  void load_tail_avx2(const Xbyak::Xmm& dst, const Xbyak::Reg64& base, const Xbyak::Reg64& index, int offset);
  void store_tail_avx2(const Xbyak::Reg64& base, const Xbyak::Reg64& index, int offset, const Xbyak::Xmm& src);
  enum class TailMove { kLoad, kStore };
  void move_tail_part_avx2(TailMove move, const Xbyak::Xmm& part, const Xbyak::Address& pair,
                           const Xbyak::Address& third, Xbyak::Label& exit);

  // ---- emit_body.cpp: loop bodies and exp groups
  void load_row(const Xbyak::Xmm& dst, ir::ValueId tensor, const BodyMode& mode);
  void store_row(ir::ValueId tensor, const Xbyak::Xmm& src, const BodyMode& mode);
  void mark_op_once(int op_index);
  const std::string& op_statement(int op_index);
  bool held_for_later(ir::ValueId value, const BodyMode& mode) const;
  void release_value(ir::ValueId value, const BodyMode& mode);
  void release_if_dead(ir::ValueId value, int position, const BodyMode& mode);
  void keep_if_read_later(ir::ValueId value, const Xbyak::Xmm& reg, const BodyMode& mode);
  void emit_body(const ir::Sweep& sweep, const BodyMode& mode);
  void begin_body(const ir::Sweep& sweep, const BodyMode& mode);
  std::vector<Xbyak::Xmm> start_op(const ir::Sweep& sweep, size_t position, const BodyMode& mode, Xbyak::Xmm& dst);
  void finish_op(const ir::Sweep& sweep, size_t position, const BodyMode& mode);
  void emit_body_op(const ir::Sweep& sweep, size_t position, const BodyMode& mode);
  void accumulate_reductions(const BodyMode& mode);
  void end_body(const ir::Sweep& sweep, const BodyMode& mode);
  bool is_group_exp(const ir::Sweep& sweep, size_t position) const;
  ExpLane exp_lane_scratch(size_t index);
  void return_exp_scratch(std::span<const ExpLane> lanes);
  int body_registers_per_lane(const ir::Sweep& sweep) const;
  int choose_exp_group(const ir::Sweep& sweep, int free) const;
  void emit_group_exp(const ir::Sweep& sweep, size_t position, std::span<const BodyMode> modes,
                      std::vector<std::map<ir::ValueId, Xbyak::Xmm>>& lane_values);
  void emit_step_bodies(const ir::Sweep& sweep, std::span<const BodyMode> modes);
  void emit_body_group(const ir::Sweep& sweep, std::span<const BodyMode> modes, bool exps_side_by_side = true);
  void accumulate_group_reductions(std::span<const BodyMode> modes,
                                   std::vector<std::map<ir::ValueId, Xbyak::Xmm>>& lane_values);
  bool sum_pairs_fit(const ir::Sweep& sweep, int free) const;

  // ---- emit_blocked_exp.cpp: the blocked-exp schedule (Plan::blocked_exp)
  int min_exp_block_shift() const;
  void emit_exp_block_size();
  // kBackward visits the blocks last to first: the scaling sweep then starts
  // on the blocks of y that the exp sweep left in L2.
  enum class BlockOrder { kForward, kBackward };
  // `restart`, if given, is bound after block_start, where block_end may jump
  // back to run the block again.
  // Labels where code outside the loop may jump in: at the head of a chunk
  // or of the singles after the last chunk, with kIndex at its start and
  // kBlockEnd one step lower than the block's end.
  struct BlockLoopEntries {
    Xbyak::Label chunk;
    Xbyak::Label singles;
  };
  void emit_block_loop(const ir::Sweep& sweep, BlockOrder order, const std::function<void()>& block_start,
                       const std::function<void()>& block_end, Xbyak::Label* restart = nullptr,
                       BlockLoopEntries* entries = nullptr);
  void emit_block_max();
  void emit_speculative_block_start();
  void reset_block_accumulators();
  size_t block_max_lanes() const;
  void emit_block_rerun(Xbyak::Label& entry, int lowered_by);
  void raise_block_max(const Xbyak::Xmm& x, const BodyMode& mode);
  void emit_speculation_check(Xbyak::Label& restart);
  void emit_in_place_test(const ir::Sweep& sweep, Xbyak::Label& in_place);
  void emit_block_sum();
  void emit_block_totals();
  void emit_block_factor();
  void emit_block_shift();

  // ---- emit_exp_range.cpp: the exp sweep without the underflow guard
  std::set<int> find_exp_range_sweeps() const;
  bool tests_exp_range(bool resident) const;
  void emit_exp_range_test(Xbyak::Label& guarded);
  bool blocked_exp_range() const;
  void emit_block_range_test(Xbyak::Label& guarded);
  void emit_unguarded_block_loop(const ir::Sweep& sweep, Xbyak::Label& done, BlockLoopEntries& guarded);

  // ---- register use within a sweep
  void allocate_sweep_registers(const ir::Sweep& sweep, int unroll);
  Xbyak::Xmm take_register();
  void free_register(const Xbyak::Xmm& reg);
  Xbyak::Xmm value_register(ir::ValueId value) const;

  // ---- emit_elementwise.cpp
  void emit_op(const ir::Op& op, const Xbyak::Xmm& dst, const std::vector<Xbyak::Xmm>& operands);
  void emit_scalar_ops(const ir::Sweep& sweep);
  void load_scalar(const Xbyak::Xmm& dst, ir::ValueId value);
  void store_scalar_result(ir::ValueId value, const Xbyak::Xmm& src);
  MathEmitter math() { return MathEmitter{*this, pool_, target_}; }

  // ---- emit_reductions.cpp
  struct Reduction {
    int op = -1;
    ir::OpKind kind;
    bool track_nan = false;
    std::vector<Xbyak::Xmm> acc;      // one per unroll lane
    std::vector<Xbyak::Xmm> nan_acc;  // one per unroll lane, when track_nan
    // A sum of arbitrary values accumulates in double, because float partial
    // sums of values near FLT_MAX would overflow before any flush. acc then
    // contains the low half of the lanes and acc_high the high half.
    bool wide = false;
    std::vector<Xbyak::Xmm> acc_high;
    // The softmax core's max also takes the row's min here, one per unroll
    // lane, when its exp sweeps test the row's range (exp_range_sweeps_).
    std::vector<Xbyak::Xmm> min_acc;
  };
  void init_reductions(const ir::Sweep& sweep, bool resident);
  void prepare_frame_areas();
  void add_widened(const Xbyak::Xmm& lo, const Xbyak::Xmm& hi, const Xbyak::Xmm& acc);
  void accumulate_reduction(Reduction& r, const Xbyak::Xmm& value, const BodyMode& mode);
  void flush_sums();
  void clear_float_sums();
  void finish_reductions(bool resident);
  // Operation that horizontal() combines the lanes with.
  enum class LaneCombine { kMax, kMin, kAddFloats, kAddDoubles, kBitwiseOr };
  void combine_in_tree(std::span<const Xbyak::Xmm> values, LaneCombine operation);
  void combine(const Xbyak::Xmm& a, const Xbyak::Xmm& b, LaneCombine operation);
  // In emit_blocked_exp.cpp, after LaneCombine.
  void combine_row_lanes(const Xbyak::Xmm& acc, const Xbyak::Xmm& x, const BodyMode& mode, LaneCombine operation);
  void horizontal(const Xbyak::Xmm& v, LaneCombine combine);
  bool needs_flush() const;
  int flush_iterations(bool remainder_follows = false) const;
  bool flushes_long_last_block() const;
  bool adds_lanes_in_pairs(const Reduction& r) const;
  const Reduction* shared_accumulator_sum() const;

  // ---- emit_softmax_core.cpp: the online form
  struct OnlineState {
    std::vector<Xbyak::Xmm> max_acc, sum_acc;  // per lane
    std::vector<Xbyak::Xmm> reference;         // per lane: the max that exps and sums are relative to
    Xbyak::Xmm temp0, temp1;
  };
  void update_online_references();
  void emit_reference_move_mask(int lane, bool nan_moves);
  void jump_if_no_move(Xbyak::Label& empty);
  void init_online();
  void accumulate_online(std::span<const Xbyak::Xmm> xs, std::span<const BodyMode> modes);
  void raise_online_max(const Xbyak::Reg64& index, const BodyMode& mode);
  void emit_online_max_pass(const Xbyak::Reg64& last_start, bool rest_of_row);
  void emit_online_block_start(const Xbyak::Reg64& last_start);
  void emit_online_speculation_check(Xbyak::Label& main_loop);
  void rescale_online_sum(int lane, const Xbyak::Xmm& old_reference);
  void widen_half(const Xbyak::Xmm& wide, const Xbyak::Xmm& v, const Xbyak::Xmm& half, int part);
  void flush_online();
  void finish_online();
  void scale_exponent(const Xbyak::Xmm& v);  // v = v * c or v / c for the core's temperature
  void emit_core_exp(const Xbyak::Xmm& v);

  // ---- emit_extexp.cpp: the extended-exponent form
  struct ExtExpState {
    std::vector<Xbyak::Xmm> mantissa_acc, exponent_acc;  // per lane
    std::vector<Xbyak::Xmm> input_max;                   // per lane: max of x, to find +inf
    Xbyak::Xmm temp0, temp1;
  };
  void init_extexp();
  void accumulate_extexp(const Xbyak::Xmm& x, const BodyMode& mode);
  void flush_extexp();
  void finish_extexp();
  void emit_extexp_parts(const Xbyak::Xmm& mantissa, const Xbyak::Xmm& exponent, const Xbyak::Xmm& x);
  void emit_extexp_scale(const Xbyak::Xmm& dst, const Xbyak::Xmm& x);
  Status emit_extexp_sum_sweep(int sweep_index);
  std::string extexp_shifted_mark() const;
  void emit_extexp_shift_test(const Xbyak::Xmm& sum, const Xbyak::Xmm& row_max);

  const ir::Pipeline& p_;
  const ir::Plan& plan_;
  VectorTarget target_;
  ConstantPool pool_;
  KernelLayout layout_;
  std::vector<CodeMarker> markers_;
  size_t code_size_ = 0;

  // Registers with fixed roles (see kernel_emitter.cpp).
  std::map<ir::ValueId, Xbyak::Reg64> tensor_reg_;
  std::map<ir::ValueId, Xbyak::Reg64> prefetch_reg_;  // base of each prefetched input's prefetches
  std::map<ir::ValueId, int> scalar_param_slot_;
  std::map<ir::ValueId, int> frame_offset_;  // per-row scalar values
  int frame_bytes_ = 0;
  int saved_mxcsr_offset_ = 0;
  int exit_mxcsr_offset_ = 0;  // MXCSR at the end of the call, compared with the saved one

  // Resident rows (plan.resident_vectors): the register of each row value
  // kept for a later sweep, per vector of the row, and the last sweep that
  // reads each such value.
  int resident_vectors_ = 0;
  std::map<std::pair<ir::ValueId, int>, Xbyak::Xmm> resident_reg_;
  std::map<ir::ValueId, int> resident_last_sweep_;
  // The one sweep of a resident row that prefetches: the plan's first
  // prefetching sweep, since the rows ahead need their lines fetched once.
  int resident_prefetch_sweep_ = -1;
  int sweep_index_ = 0;
  // Reduction results of the sweep before, still in lane 0 of a register:
  // the next sweep broadcasts them from there instead of from the frame,
  // which keeps a store and a reload off the row's critical path.
  std::map<ir::ValueId, Xbyak::Xmm> carried_;
  void release_carried();

  // Per-sweep register state.
  int unroll_ = 1;
  int exp_group_ = 1;  // lanes per exp group in the main loop (emit_body.cpp)
  // The main loop's steps take their lanes two at a time, so that a sum with
  // one accumulator adds each pair before it takes it (adds_lanes_in_pairs).
  bool lane_pairs_ = false;
  // The loops of the current sweep ended without their last flush: the float
  // sums' last partial sums are still in the accumulators (emit_loops).
  bool sums_in_accumulators_ = false;
  int max_exp_group_ = 1;
  std::vector<int> free_vregs_;
  std::map<ir::ValueId, Xbyak::Xmm> vreg_of_;   // body values and pinned scalars
  std::map<ir::ValueId, Xbyak::Xmm> reciprocal_of_;  // 1 / s for the divisors in plan.reciprocal_divides
  std::set<ir::ValueId> pinned_;
  std::map<ir::ValueId, int> last_use_;          // body position of each value's last use
  MathScratch scratch_;
  Xbyak::Xmm tail_mask_;                         // AVX2 tail mask (AVX-512 uses k1)
  std::vector<Reduction> reductions_;
  std::optional<OnlineState> online_;
  std::optional<ExtExpState> extexp_;
  Xbyak::Label mask_table_;
  Xbyak::Label mxcsr_label_;
  std::vector<DataRegion> data_regions_;
  bool uses_mask_table_ = false;
  const ir::Sweep* sweep_ = nullptr;
  int unroll_target_ = 1;
  Status error_;  // first failure while emitting
  bool out_of_registers_ = false;  // error_ is the lack of vector registers
  std::set<std::pair<const ir::Sweep*, int>> marked_ops_;
  std::vector<std::string> op_statements_;  // ir::print_ops, made at the first mark of an op
  std::vector<std::vector<uint32_t>> pin_plan_;
  std::vector<std::map<uint32_t, int>> sweep_constant_uses_;
  std::vector<int> sweep_min_free_;
  size_t min_free_ = 0;

  // Frame areas, allocated by prepare_frame_areas() before the prologue.
  std::map<int, int> sum_area_;        // reduction op -> two vectors of doubles
  int online_max_area_ = -1;           // per lane: the reference, at the end of the row
  int online_sum_area_ = -1;           // per lane: two vectors of doubles
  int online_block_start_ = -1;        // byte index where the current block began (speculative max)
  int extexp_mantissa_area_ = -1;      // per lane: two vectors of doubles
  int extexp_exponent_area_ = -1;      // per lane: one vector of float exponents
  int extexp_inv_offset_ = -1;         // 1 / mantissa of the sum, per row
  int extexp_exp_offset_ = -1;         // exponent of the sum, per row
  // Rows whose max is at least kExtExpShiftFrom in magnitude run both sweeps
  // again on x - max (emit_extexp.cpp): the flag (1 for such a row, else 0)
  // and the max.
  int extexp_shifted_offset_ = -1;
  int extexp_shift_offset_ = -1;
  bool extexp_shifted_ = false;            // the code being emitted is the copy on x - max
  ir::Sweep extexp_sum_only_;              // the sweep of that copy: x - max's sum of exp alone
  Xbyak::Label* extexp_shifted_entry_ = nullptr;  // where the first sweep's test jumps to that copy
  Xbyak::Xmm extexp_inv_reg_;
  Xbyak::Xmm extexp_exp_reg_;
  int tail_bytes_offset_ = -1;  // AVX2: bytes in the last vector of a row (4 to 32), per call
  int block_max_area_ = -1;   // blocked exp: the max of each block, float
  int block_sum_area_ = -1;   // blocked exp: the sum of each block, double
  int block_shift_offset_ = -1;  // blocked exp: log2 of the block bytes, per call
  int block_bytes_offset_ = -1;  // blocked exp: the block bytes, per call
  // Blocked exp: where the current chunk (or the singles after the last
  // chunk) of the copy without the guard started, for a rerun from there.
  int block_part_start_ = -1;
  // Range copies of the exp sweeps (emit_exp_range.cpp). The sweeps whose
  // loops have a copy without the exp's underflow guard, for rows whose
  // max - min allows it.
  std::set<int> exp_range_sweeps_;
  int row_min_offset_ = -1;      // frame slot of the row's min
  bool row_min_taken_ = false;   // the max sweep of the row loop being emitted took the min
  bool exp_in_range_ = false;    // the loops being emitted are the copy without the guard
  bool exp_range_copied_ = false;
  bool blocked_exp_range_copied_ = false;
  std::vector<Xbyak::Xmm> block_max_acc_;  // per lane, in the exp sweep
  bool speculating_ = false;               // the exp sweep's body raises block_max_acc_
  // The second of block_max_acc_ takes the block's min, for the range tests of
  // the blocked copy without the exp's guard (blocked_exp_range). A chunk
  // that fails its test jumps to chunk_rerun_, and the singles and tail after
  // the last chunk to singles_rerun_.
  bool block_min_tracked_ = false;
  Xbyak::Label* chunk_rerun_ = nullptr;
  Xbyak::Label* singles_rerun_ = nullptr;
  Xbyak::Xmm block_factor_;                // exp(m_b - M) / S, in the last sweep
  Xbyak::Xmm block_row_max_;               // M, in the last sweep
  Xbyak::Xmm block_inverse_sum_;           // 1 / S, in the last sweep
  Xbyak::Xmm block_log_sum_;               // l of a log-softmax's y = d - l, in the last sweep
  ir::ValueId block_shift_value_ = ir::kNoValue;  // that l
};

}  // namespace rowjit::jit
