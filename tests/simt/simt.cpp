// SPDX-License-Identifier: Apache-2.0
//
// The SIMT emulator's scheduler (see simt.hpp). One `runner` per OS thread runs one
// block at a time: a fiber per thread of the block (boost.context's fcontext, about
// 6 ns a switch), a ready list, and a scheduler that runs ready fibers until each
// blocks at a barrier, a warp collective or a spin-wait, then resolves what can
// continue. Barriers resolve when every thread of the block waits at the same one;
// a warp collective resolves when every lane of its mask has arrived at the same
// one. Whatever cannot resolve is reported with its source lines.
#include "simt.hpp"

#include <boost/context/detail/fcontext.hpp>

#include <sys/mman.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define SIMT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SIMT_ASAN 1
#endif
#endif
#ifndef SIMT_ASAN
#define SIMT_ASAN 0
#endif

#if SIMT_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace simt {
namespace detail {
namespace {

namespace ctx = boost::context::detail;

// ---- settings and counters ------------------------------------------------------------------

unsigned long long env_number(const char* name, unsigned long long fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoull(v, nullptr, 10);
}

struct shared_counters {
  std::atomic<std::uint64_t> launches{0}, blocks{0}, threads{0}, barriers{0}, collectives{0}, switches{0},
      spin_waits{0};
};
shared_counters& totals() {
  static shared_counters c;
  return c;
}

//! Bumped by every atomic write: a spin-wait that saw no bump since its last load
//! of a word has nothing new to read.
std::atomic<std::uint64_t> publish_epoch{0};

struct splitmix {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
};

const char* op_name(op o) {
  switch (o) {
    case op::syncthreads: return "__syncthreads";
    case op::syncthreads_or: return "__syncthreads_or";
    case op::syncthreads_and: return "__syncthreads_and";
    case op::syncthreads_count: return "__syncthreads_count";
    case op::syncwarp: return "__syncwarp";
    case op::ballot: return "__ballot_sync";
    case op::all: return "__all_sync";
    case op::any: return "__any_sync";
    case op::shfl: return "__shfl_sync";
    case op::shfl_up: return "__shfl_up_sync";
    case op::shfl_down: return "__shfl_down_sync";
    case op::shfl_xor: return "__shfl_xor_sync";
    case op::reduce_add: return "__reduce_add_sync";
    case op::reduce_and: return "__reduce_and_sync";
    case op::reduce_or: return "__reduce_or_sync";
    case op::reduce_xor: return "__reduce_xor_sync";
    case op::reduce_min_signed:
    case op::reduce_min_unsigned: return "__reduce_min_sync";
    case op::reduce_max_signed:
    case op::reduce_max_unsigned: return "__reduce_max_sync";
  }
  return "?";
}

//! file:line with the directories dropped.
std::string where(const char* file, unsigned line) {
  std::string f = file != nullptr ? file : "?";
  const std::size_t slash = f.find_last_of('/');
  if (slash != std::string::npos) f = f.substr(slash + 1);
  return f + ":" + std::to_string(line);
}

bool same_place(const char* a_file, unsigned a_line, const char* b_file, unsigned b_line) {
  return a_line == b_line && (a_file == b_file || std::strcmp(a_file, b_file) == 0);
}

std::string hex(unsigned mask) {
  std::ostringstream s;
  s << "0x" << std::hex << std::setw(8) << std::setfill('0') << mask;
  return s.str();
}

// ---- threads, blocks, runners -----------------------------------------------------------------

enum class state : unsigned char { ready, barrier, collective, spinning, exited };

struct thread_state {
  ctx::fcontext_t context = nullptr;
  unsigned linear = 0;
  uint3 index{0, 0, 0};
  state st = state::ready;
  // what it waits at
  op operation = op::syncthreads;
  unsigned mask = 0;
  std::uint64_t value = 0, result = 0;
  unsigned value_bytes = 0;
  int argument = 0, width = 32;
  const char* file = nullptr;
  unsigned line = 0;
  // spin detection
  const volatile void* last_load = nullptr;
  std::uint64_t last_load_epoch = 0;
  const volatile void* spin_address = nullptr;
  std::uint64_t spin_epoch = 0;
  void* fake_stack = nullptr;  // AddressSanitizer's per-fiber state
};

struct launch_shape {
  dim3 grid, block;
  std::size_t shared_bytes = 0;  // dynamic shared memory per block
  const std::function<void()>* body = nullptr;
  const char* file = nullptr;
  unsigned line = 0;
};

//! A block that did something undefined: the runner stops resuming its fibers.
struct block_failure {
  std::string message;
};

class runner {
 public:
  runner() {
    const options& o = settings();
    stack_bytes_ = o.stack_bytes;
    rng_.state = o.seed * 0x2545F4914F6CDD1Dull + 1;
    threaded_ = o.block_workers != 0;
  }
  runner(const runner&) = delete;
  runner& operator=(const runner&) = delete;
  ~runner() {
    for (char* s : stacks_)
      if (s != nullptr) munmap(s, stack_bytes_ + page());
  }

  //! Runs one block to its end; returns an empty string, or what went wrong.
  std::string run_block(const launch_shape& L, uint3 block, const std::atomic<bool>* abort);

  // Called from inside fibers.
  thread_state& current() { return *current_; }
  const uint3& block_index() const { return block_index_; }
  const launch_shape& shape() const { return *shape_; }
  int barrier(op o, int predicate, const char* file, unsigned line);
  void* dynamic_shared(std::size_t bytes);
  std::uint64_t collective(op o, unsigned mask, std::uint64_t value, unsigned bytes, int argument, int width,
                           const char* file, unsigned line);
  void before_load(const volatile void* address, const char* file, unsigned line);
  void after_write();
  static void entry(ctx::transfer_t from);

 private:
  static std::size_t page() { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }
  char* stack_top(unsigned i);
  void suspend(thread_state& t);
  void fail(std::string message);
  void make_ready(unsigned i) { ready_.push_back(i); }
  unsigned pick();
  void resume(unsigned i);
  bool resolve();
  std::string deadlock_report();
  std::string describe(const thread_state& t) const;
  void on_exit(thread_state& t);
  void maybe_preempt(thread_state& t);
  bool seeded() const { return settings().seed != 0; }

  std::vector<thread_state> threads_;
  std::vector<unsigned> waiting_lanes_;  // per warp: lanes waiting at a warp collective
  std::vector<unsigned> exited_lanes_;   // per warp: lanes that returned from the kernel (or do not exist)
  unsigned at_barrier_ = 0;              // threads waiting at a barrier
  std::vector<char*> stacks_;
  std::size_t stack_bytes_ = 0;
  std::vector<uint4> dynamic_shared_;  // the block's dynamic shared memory (16-byte aligned)
  std::uint64_t blocks_run_ = 0;       // blocks this runner has started (the fill pattern)
  std::deque<unsigned> ready_;
  ctx::fcontext_t scheduler_ = nullptr;
  thread_state* current_ = nullptr;
  const launch_shape* shape_ = nullptr;
  uint3 block_index_{0, 0, 0};
  unsigned count_ = 0, exited_ = 0;
  std::string failure_;
  bool dirty_ = false;  // fibers were abandoned on these stacks
  bool threaded_ = false;
  splitmix rng_{1};
  std::uint64_t switches_ = 0;
  // AddressSanitizer's view of the stacks (used only under it).
  [[maybe_unused]] void* main_bottom_ = nullptr;
  [[maybe_unused]] std::size_t main_size_ = 0;
  [[maybe_unused]] void* scheduler_fake_stack_ = nullptr;
};

thread_local runner* active_runner = nullptr;

runner& this_runner() {
  if (active_runner == nullptr) {
    std::fprintf(stderr, "simt: a device intrinsic was called outside a kernel launch\n");
    std::abort();
  }
  return *active_runner;
}

runner& local_runner() {
  thread_local std::unique_ptr<runner> r;
  if (!r) r = std::make_unique<runner>();
  return *r;
}

char* runner::stack_top(unsigned i) {
  if (stacks_.size() <= i) stacks_.resize(i + 1, nullptr);
  if (stacks_[i] == nullptr) {
    void* p = mmap(nullptr, stack_bytes_ + page(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) {
      std::fprintf(stderr, "simt: cannot map a fiber stack\n");
      std::abort();
    }
    mprotect(p, page(), PROT_NONE);  // a guard page under the stack: an overflow faults
    stacks_[i] = static_cast<char*>(p);
  }
  return stacks_[i] + page() + stack_bytes_;
}

void runner::entry(ctx::transfer_t from) {
  runner* r = static_cast<runner*>(from.data);
  r->scheduler_ = from.fctx;
#if SIMT_ASAN
  const void* bottom = nullptr;
  __sanitizer_finish_switch_fiber(nullptr, &bottom, &r->main_size_);
  r->main_bottom_ = const_cast<void*>(bottom);
#endif
  thread_state& t = *r->current_;
  (*r->shape_->body)();
  r->on_exit(t);
#if SIMT_ASAN
  __sanitizer_start_switch_fiber(nullptr, r->main_bottom_, r->main_size_);
#endif
  ctx::jump_fcontext(r->scheduler_, nullptr);
  std::abort();  // an exited fiber is never resumed
}

void runner::suspend([[maybe_unused]] thread_state& t) {
  ++switches_;
#if SIMT_ASAN
  __sanitizer_start_switch_fiber(&t.fake_stack, main_bottom_, main_size_);
#endif
  const ctx::transfer_t back = ctx::jump_fcontext(scheduler_, nullptr);
#if SIMT_ASAN
  __sanitizer_finish_switch_fiber(t.fake_stack, nullptr, nullptr);
#endif
  scheduler_ = back.fctx;
}

void runner::resume(unsigned i) {
  thread_state& t = threads_[i];
  current_ = &t;
#if SIMT_ASAN
  __sanitizer_start_switch_fiber(&scheduler_fake_stack_, stacks_[i] + page(), stack_bytes_);
#endif
  const ctx::transfer_t back = ctx::jump_fcontext(t.context, this);
#if SIMT_ASAN
  __sanitizer_finish_switch_fiber(scheduler_fake_stack_, nullptr, nullptr);
#endif
  t.context = back.fctx;
  current_ = nullptr;
  if (threaded_ && (rng_.next() & 255u) == 0) std::this_thread::yield();  // random hand-offs between blocks
}

void runner::fail(std::string message) {
  if (failure_.empty()) failure_ = std::move(message);
  thread_state& t = *current_;
  t.st = state::barrier;  // parked for good: the scheduler stops this block
  suspend(t);
  std::abort();  // never resumed
}

unsigned runner::pick() {
  if (!seeded() || ready_.size() == 1) {
    const unsigned i = ready_.front();
    ready_.pop_front();
    return i;
  }
  const std::size_t k = static_cast<std::size_t>(rng_.next() % ready_.size());
  const unsigned i = ready_[k];
  ready_[k] = ready_.back();
  ready_.pop_back();
  return i;
}

void runner::maybe_preempt(thread_state& t) {
  if (!seeded() || (rng_.next() & 7u) != 0) return;
  t.st = state::ready;
  make_ready(t.linear);
  suspend(t);
}

void* runner::dynamic_shared(std::size_t bytes) {
  if (bytes > shape_->shared_bytes) {
    std::ostringstream s;
    s << describe(*current_) << " uses " << bytes << " bytes of dynamic shared memory; its launch gave "
      << shape_->shared_bytes;
    fail(s.str());
  }
  return dynamic_shared_.data();
}

std::string runner::describe(const thread_state& t) const {
  std::ostringstream s;
  s << "thread " << t.linear << " (warp " << t.linear / 32 << ", lane " << t.linear % 32 << ")";
  return s.str();
}

std::string runner::run_block(const launch_shape& L, uint3 block, const std::atomic<bool>* abort) {
  shape_ = &L;
  block_index_ = block;
  threaded_ = abort != nullptr;  // run by a block worker: other blocks run at the same time
  count_ = L.block.x * L.block.y * L.block.z;
  exited_ = 0;
  at_barrier_ = 0;
  failure_.clear();
  ready_.clear();
  if (threads_.size() < count_) threads_.resize(count_);
  // Dynamic shared memory holds garbage when a block starts, on a GPU: here a byte
  // pattern that differs from the last block's, so that nothing can rely on it.
  dynamic_shared_.resize((L.shared_bytes + 15) / 16);
  const unsigned char fill = static_cast<unsigned char>(0xa5u ^ (++blocks_run_ * 0x3bu));
  if (!dynamic_shared_.empty()) std::memset(dynamic_shared_.data(), fill, dynamic_shared_.size() * 16);
  const unsigned warps = (count_ + 31) / 32;
  waiting_lanes_.assign(warps, 0u);
  exited_lanes_.assign(warps, 0u);
  if (count_ % 32 != 0) exited_lanes_[warps - 1] = ~0u << (count_ % 32);  // lanes past the block's end
  for (unsigned i = 0; i < count_; ++i) {
    thread_state& t = threads_[i];
    t = thread_state{};
    t.linear = i;
    t.index = uint3{i % L.block.x, (i / L.block.x) % L.block.y, i / (L.block.x * L.block.y)};
    char* top = stack_top(i);
#if SIMT_ASAN
    if (dirty_) __asan_unpoison_memory_region(top - stack_bytes_, stack_bytes_);
#endif
    t.context = ctx::make_fcontext(top, stack_bytes_, &runner::entry);
    make_ready(i);
  }
  dirty_ = false;
  active_runner = this;
  for (;;) {
    while (!ready_.empty() && failure_.empty()) resume(pick());
    if (!failure_.empty()) break;
    if (exited_ == count_) break;
    if (abort != nullptr && abort->load()) {
      failure_ = "abandoned";
      break;
    }
    if (!resolve()) {
      if (failure_.empty()) failure_ = deadlock_report();
      break;
    }
  }
  active_runner = nullptr;
  shared_counters& c = totals();
  c.blocks.fetch_add(1, std::memory_order_relaxed);
  c.threads.fetch_add(count_, std::memory_order_relaxed);
  c.switches.fetch_add(switches_, std::memory_order_relaxed);
  switches_ = 0;
  if (!failure_.empty()) {
    dirty_ = true;
    std::ostringstream s;
    s << failure_ << " [block (" << block.x << "," << block.y << "," << block.z << ") of the launch at "
      << where(L.file, L.line) << "]";
    return s.str();
  }
  return {};
}

bool runner::resolve() {
  // A barrier: every thread of the block waits at it.
  if (at_barrier_ != 0 && at_barrier_ + exited_ == count_) {
    const thread_state* first = nullptr;
    for (unsigned i = 0; i < count_ && first == nullptr; ++i)
      if (threads_[i].st == state::barrier) first = &threads_[i];
    if (exited_ != 0) {
      std::ostringstream s;
      s << "barrier " << op_name(first->operation) << " at " << where(first->file, first->line) << " reached by "
        << at_barrier_ << " of " << count_ << " threads; " << exited_
        << " returned from the kernel without reaching it (the first: ";
      for (unsigned i = 0; i < count_; ++i)
        if (threads_[i].st == state::exited) {
          s << describe(threads_[i]) << ")";
          break;
        }
      failure_ = s.str();
      return false;
    }
    // Every waiting thread at the same barrier.
    bool same = true;
    for (unsigned i = 0; i < count_ && same; ++i) {
      const thread_state& t = threads_[i];
      same = t.operation == first->operation && same_place(t.file, t.line, first->file, first->line);
    }
    if (!same) {
      std::map<std::string, unsigned> places;
      for (unsigned i = 0; i < count_; ++i) {
        const thread_state& t = threads_[i];
        places[std::string(op_name(t.operation)) + " at " + where(t.file, t.line)] += 1;
      }
      std::ostringstream s;
      s << "threads of one block wait at different barriers:";
      for (const auto& [place, n] : places) s << " " << n << " at " << place << ";";
      failure_ = s.str();
      return false;
    }
    int any = 0, all = 1, count = 0;
    for (unsigned i = 0; i < count_; ++i) {
      const int p = threads_[i].value != 0;
      any |= p;
      all &= p;
      count += p;
    }
    for (unsigned i = 0; i < count_; ++i) {
      thread_state& t = threads_[i];
      switch (t.operation) {
        case op::syncthreads_or: t.result = static_cast<std::uint64_t>(any); break;
        case op::syncthreads_and: t.result = static_cast<std::uint64_t>(all); break;
        case op::syncthreads_count: t.result = static_cast<std::uint64_t>(count); break;
        default: t.result = 0; break;
      }
      t.st = state::ready;
      make_ready(i);
    }
    at_barrier_ = 0;
    totals().barriers.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  // Spin-waits: runnable again once something new was published.
  bool spinners = false, woke = false;
  std::uint64_t epoch = publish_epoch.load();
  for (unsigned i = 0; i < count_; ++i) {
    thread_state& t = threads_[i];
    if (t.st != state::spinning) continue;
    spinners = true;
    if (t.spin_epoch != epoch) {
      t.st = state::ready;
      make_ready(i);
      woke = true;
    }
  }
  if (woke) return true;
  if (spinners && threaded_) {
    // Another block, on another OS thread, may still publish: wait for it (bounded).
    const auto start = std::chrono::steady_clock::now();
    for (unsigned spins = 0; std::chrono::steady_clock::now() - start < std::chrono::seconds(20); ++spins) {
      if (spins < 1000)
        std::this_thread::yield();
      else
        std::this_thread::sleep_for(std::chrono::microseconds(20));
      if (publish_epoch.load() != epoch) return resolve();
    }
    failure_ = "no block published anything for 20 s while " + deadlock_report();
    return false;
  }
  return false;
}

std::string runner::deadlock_report() {
  std::map<std::string, unsigned> groups;
  for (unsigned i = 0; i < count_; ++i) {
    const thread_state& t = threads_[i];
    std::string what;
    switch (t.st) {
      case state::barrier: what = std::string("wait at the barrier ") + op_name(t.operation) + " at " + where(t.file, t.line); break;
      case state::collective:
        what = std::string("wait at the warp collective ") + op_name(t.operation) + " (mask " + hex(t.mask) + ") at " +
               where(t.file, t.line) + " for lanes that wait elsewhere";
        break;
      case state::spinning:
        what = "spin at " + where(t.file, t.line) + " on a word that nobody will publish";
        break;
      case state::exited: what = "returned from the kernel"; break;
      case state::ready: what = "are ready"; break;
    }
    groups[what] += 1;
  }
  std::ostringstream s;
  s << "deadlock: no thread of the block can continue:";
  for (const auto& [what, n] : groups) s << " " << n << " thread" << (n == 1 ? "" : "s") << " " << what << ";";
  return s.str();
}

void runner::on_exit(thread_state& t) {
  t.st = state::exited;
  ++exited_;
  const unsigned lane = t.linear % 32, warp = t.linear / 32;
  exited_lanes_[warp] |= 1u << lane;
  if (failure_.empty() && waiting_lanes_[warp] != 0) {
    for (unsigned l = 0; l < 32; ++l) {
      if (((waiting_lanes_[warp] >> l) & 1u) == 0) continue;
      const thread_state& u = threads_[warp * 32 + l];
      if (((u.mask >> lane) & 1u) != 0) {
        failure_ = describe(t) + " returned from the kernel, but the warp collective " + op_name(u.operation) +
                   " (mask " + hex(u.mask) + ") at " + where(u.file, u.line) + " waits for it";
        return;
      }
    }
  }
  if (failure_.empty() && at_barrier_ != 0) {
    for (unsigned i = 0; i < count_; ++i) {
      const thread_state& u = threads_[i];
      if (u.st == state::barrier) {
        failure_ = describe(t) + " returned from the kernel while other threads wait at the barrier " +
                   op_name(u.operation) + " at " + where(u.file, u.line);
        return;
      }
    }
  }
}

int runner::barrier(op o, int predicate, const char* file, unsigned line) {
  thread_state& t = *current_;
  t.st = state::barrier;
  ++at_barrier_;
  t.operation = o;
  t.value = predicate != 0;
  t.file = file;
  t.line = line;
  suspend(t);
  return static_cast<int>(t.result);
}

std::uint64_t runner::collective(op o, unsigned mask, std::uint64_t value, unsigned bytes, int argument, int width,
                                 const char* file, unsigned line) {
  thread_state& t = *current_;
  const unsigned lane = t.linear % 32, base = t.linear - lane, warp = t.linear / 32;
  auto here = [&] { return std::string(op_name(o)) + " at " + where(file, line); };
  if (((mask >> lane) & 1u) == 0) fail(here() + ": the mask " + hex(mask) + " does not name the calling " + describe(t));
  if (o >= op::shfl && o <= op::shfl_xor && (width < 1 || width > 32 || (width & (width - 1)) != 0))
    fail(here() + ": width " + std::to_string(width) + " is not a power of two up to 32");
  if ((mask & exited_lanes_[warp]) != 0) {
    const unsigned l = static_cast<unsigned>(__builtin_ctz(mask & exited_lanes_[warp]));
    if (base + l >= count_)
      fail(here() + ": the mask " + hex(mask) + " names lane " + std::to_string(l) +
           ", which does not exist in a block of " + std::to_string(count_) + " threads");
    fail(here() + ": the mask " + hex(mask) + " names lane " + std::to_string(l) + " of warp " + std::to_string(warp) +
         ", which has returned from the kernel");
  }
  t.st = state::collective;
  t.operation = o;
  t.mask = mask;
  t.value = value;
  t.value_bytes = bytes;
  t.argument = argument;
  t.width = width;
  t.file = file;
  t.line = line;
  waiting_lanes_[warp] |= 1u << lane;
  if ((waiting_lanes_[warp] & mask) != mask) {
    suspend(t);  // the last lane to arrive computes every lane's result
    return t.result;
  }
  // Every lane of the mask is here: the same collective, the same mask, the same line?
  for (unsigned l = 0; l < 32; ++l) {
    if (((mask >> l) & 1u) == 0) continue;
    const thread_state& u = threads_[base + l];
    if (u.operation != o || u.mask != mask || u.value_bytes != bytes || !same_place(u.file, u.line, file, line)) {
      fail("lanes of warp " + std::to_string(warp) + " meet at different warp collectives: lane " +
           std::to_string(lane) + " at " + here() + " (mask " + hex(mask) + "), lane " + std::to_string(l) + " at " +
           op_name(u.operation) + " at " + where(u.file, u.line) + " (mask " + hex(u.mask) + ")");
    }
  }
  waiting_lanes_[warp] &= ~mask;
  std::uint64_t combined = 0;
  switch (o) {
    case op::ballot:
    case op::all:
    case op::any: {
      unsigned votes = 0;
      for (unsigned l = 0; l < 32; ++l)
        if (((mask >> l) & 1u) != 0 && threads_[base + l].value != 0) votes |= 1u << l;
      combined = o == op::ballot ? votes : o == op::any ? (votes != 0) : (votes == mask);
      break;
    }
    case op::reduce_add:
    case op::reduce_and:
    case op::reduce_or:
    case op::reduce_xor:
    case op::reduce_min_signed:
    case op::reduce_max_signed:
    case op::reduce_min_unsigned:
    case op::reduce_max_unsigned: {
      bool first = true;
      std::uint32_t acc = 0;
      for (unsigned l = 0; l < 32; ++l) {
        if (((mask >> l) & 1u) == 0) continue;
        const auto v = static_cast<std::uint32_t>(threads_[base + l].value);
        if (first) {
          acc = v;
          first = false;
          continue;
        }
        switch (o) {
          case op::reduce_add: acc += v; break;
          case op::reduce_and: acc &= v; break;
          case op::reduce_or: acc |= v; break;
          case op::reduce_xor: acc ^= v; break;
          case op::reduce_min_signed:
            acc = static_cast<std::int32_t>(v) < static_cast<std::int32_t>(acc) ? v : acc;
            break;
          case op::reduce_max_signed:
            acc = static_cast<std::int32_t>(v) > static_cast<std::int32_t>(acc) ? v : acc;
            break;
          case op::reduce_min_unsigned: acc = v < acc ? v : acc; break;
          case op::reduce_max_unsigned: acc = v > acc ? v : acc; break;
          default: break;
        }
      }
      combined = acc;
      break;
    }
    default: break;
  }
  for (unsigned l = 0; l < 32; ++l) {
    if (((mask >> l) & 1u) == 0) continue;
    thread_state& u = threads_[base + l];
    std::uint64_t r = combined;
    if (o >= op::shfl && o <= op::shfl_xor) {
      const unsigned w = static_cast<unsigned>(width);
      const unsigned segment = l & ~(w - 1u), position = l & (w - 1u);
      long source = static_cast<long>(l);
      switch (o) {
        case op::shfl: source = segment + (static_cast<unsigned>(u.argument) & (w - 1u)); break;
        case op::shfl_up:
          source = position >= static_cast<unsigned>(u.argument) ? static_cast<long>(l) - u.argument : l;
          break;
        case op::shfl_down:
          source = position + static_cast<unsigned>(u.argument) < w ? static_cast<long>(l) + u.argument : l;
          break;
        case op::shfl_xor: {
          const unsigned s = l ^ static_cast<unsigned>(u.argument);
          source = s < segment + w ? s : l;
          break;
        }
        default: break;
      }
      if (source < 0 || source > 31 || ((mask >> source) & 1u) == 0)
        fail(here() + ": lane " + std::to_string(l) + " reads lane " + std::to_string(source) +
             ", which is not in the mask " + hex(mask) + " (its value is undefined)");
      r = threads_[base + static_cast<unsigned>(source)].value;
    }
    u.result = r;
  }
  for (unsigned l = 0; l < 32; ++l) {
    if (((mask >> l) & 1u) == 0 || l == lane) continue;
    thread_state& u = threads_[base + l];
    u.st = state::ready;
    make_ready(base + l);
  }
  t.st = state::ready;
  totals().collectives.fetch_add(1, std::memory_order_relaxed);
  maybe_preempt(t);
  return t.result;
}

void runner::before_load(const volatile void* address, const char* file, unsigned line) {
  thread_state& t = *current_;
  const std::uint64_t epoch = publish_epoch.load();
  if (t.last_load == address && t.last_load_epoch == epoch) {
    // The same word again with nothing published since: a spin-wait.
    t.st = state::spinning;
    totals().spin_waits.fetch_add(1, std::memory_order_relaxed);
    t.spin_address = address;
    t.spin_epoch = epoch;
    t.file = file;
    t.line = line;
    suspend(t);
  } else {
    maybe_preempt(t);
  }
  t.last_load = address;
  t.last_load_epoch = publish_epoch.load();
}

void runner::after_write() {
  publish_epoch.fetch_add(1);
  maybe_preempt(*current_);
}

// ---- the block workers of the threaded mode --------------------------------------------------------

class worker_pool {
 public:
  explicit worker_pool(unsigned n) {
    for (unsigned i = 0; i < n; ++i) workers_.emplace_back([this] { work(); });
  }
  ~worker_pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread& w : workers_) w.join();
  }
  unsigned size() const { return static_cast<unsigned>(workers_.size()); }

  //! Runs every block of the launch; returns the first failure.
  std::string run(const launch_shape& L) {
    std::unique_lock<std::mutex> lock(mutex_);
    job_ = &L;
    next_block_ = 0;
    total_blocks_ = static_cast<std::uint64_t>(L.grid.x) * L.grid.y * L.grid.z;
    busy_ = static_cast<unsigned>(workers_.size());
    failure_.clear();
    abort_ = false;
    ++generation_;
    wake_.notify_all();
    done_.wait(lock, [this] { return busy_ == 0; });
    job_ = nullptr;
    return failure_;
  }

 private:
  void work() {
    std::uint64_t seen = 0;
    for (;;) {
      const launch_shape* L = nullptr;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_;
        L = job_;
      }
      runner& r = local_runner();
      for (;;) {
        const std::uint64_t b = next_block_.fetch_add(1);
        if (b >= total_blocks_ || abort_.load()) break;
        const uint3 block{static_cast<unsigned>(b % L->grid.x), static_cast<unsigned>((b / L->grid.x) % L->grid.y),
                          static_cast<unsigned>(b / (std::uint64_t(L->grid.x) * L->grid.y))};
        std::string f = r.run_block(*L, block, &abort_);
        if (!f.empty()) {
          std::lock_guard<std::mutex> lock(mutex_);
          if (failure_.empty() && f.rfind("abandoned", 0) != 0) failure_ = std::move(f);
          abort_ = true;
        }
      }
      std::lock_guard<std::mutex> lock(mutex_);
      if (--busy_ == 0) done_.notify_all();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const launch_shape* job_ = nullptr;
  std::atomic<std::uint64_t> next_block_{0};
  std::uint64_t total_blocks_ = 0;
  unsigned busy_ = 0;
  std::uint64_t generation_ = 0;
  bool stopping_ = false;
  std::atomic<bool> abort_{false};
  std::string failure_;
};

worker_pool* pool_for(unsigned n) {
  static std::unique_ptr<worker_pool> pool;
  if (!pool || pool->size() != n) pool = std::make_unique<worker_pool>(n);
  return pool.get();
}

}  // namespace

// ---- the entry points of simt.hpp ----------------------------------------------------------------

const uint3& thread_index() { return this_runner().current().index; }
const uint3& block_index() { return this_runner().block_index(); }
const dim3& block_dim() { return this_runner().shape().block; }
const dim3& grid_dim() { return this_runner().shape().grid; }
void* dynamic_shared(std::size_t bytes) { return this_runner().dynamic_shared(bytes); }

int barrier(op o, int predicate, const char* file, unsigned line) {
  return this_runner().barrier(o, predicate, file, line);
}

std::uint64_t warp_collective(op o, unsigned mask, std::uint64_t value, unsigned value_bytes, int lane_argument,
                              int width, const char* file, unsigned line) {
  return this_runner().collective(o, mask, value, value_bytes, lane_argument, width, file, line);
}

void after_atomic_write(const char*, unsigned) {
  if (active_runner != nullptr)
    active_runner->after_write();
  else
    publish_epoch.fetch_add(1);
}

void before_atomic_load(const volatile void* address, const char* file, unsigned line) {
  if (active_runner != nullptr) active_runner->before_load(address, file, line);
}

void thread_fence() { std::atomic_thread_fence(std::memory_order_seq_cst); }

int& launch_error() {
  thread_local int error = 0;
  return error;
}

void run_launch(const char* file, unsigned line, dim3 grid, dim3 block, std::size_t shared_bytes,
                const std::function<void()>& body) {
  launch_shape L;
  L.grid = grid;
  L.block = block;
  L.shared_bytes = shared_bytes;
  L.body = &body;
  L.file = file;
  L.line = line;
  totals().launches.fetch_add(1, std::memory_order_relaxed);
  std::string failure;
  const unsigned workers = settings().block_workers;
  const std::uint64_t blocks = static_cast<std::uint64_t>(grid.x) * grid.y * grid.z;
  if (workers == 0 || blocks == 1) {  // one block has no other block to interleave with
    runner& r = local_runner();
    const std::uint64_t total = static_cast<std::uint64_t>(grid.x) * grid.y * grid.z;
    for (std::uint64_t b = 0; b < total && failure.empty(); ++b) {
      const uint3 index{static_cast<unsigned>(b % grid.x), static_cast<unsigned>((b / grid.x) % grid.y),
                        static_cast<unsigned>(b / (std::uint64_t(grid.x) * grid.y))};
      failure = r.run_block(L, index, nullptr);
    }
  } else {
    failure = pool_for(workers)->run(L);
  }
  if (!failure.empty()) {
    std::fprintf(stderr, "simt: %s\n", failure.c_str());
    std::fflush(stderr);
    throw violation(failure);
  }
}

}  // namespace detail

options& settings() {
  static options o = [] {
    options v;
    v.seed = detail::env_number("SIMT_SEED", 0);
    v.block_workers = static_cast<unsigned>(detail::env_number("SIMT_BLOCK_WORKERS", 0));
    v.sms = static_cast<unsigned>(detail::env_number("SIMT_SMS", 4));
    v.blocks_per_sm = static_cast<unsigned>(detail::env_number("SIMT_BLOCKS_PER_SM", 2));
    v.stack_bytes = static_cast<std::size_t>(detail::env_number("SIMT_STACK_KB", SIMT_ASAN ? 1024 : 128)) * 1024;
    return v;
  }();
  return o;
}

counters statistics() {
  const detail::shared_counters& c = detail::totals();
  counters r;
  r.launches = c.launches.load();
  r.blocks = c.blocks.load();
  r.threads = c.threads.load();
  r.barriers = c.barriers.load();
  r.collectives = c.collectives.load();
  r.switches = c.switches.load();
  r.spin_waits = c.spin_waits.load();
  return r;
}

std::string summary() {
  const options& o = settings();
  const counters c = statistics();
  std::ostringstream s;
  s << "simt emulator: seed " << o.seed << ", "
    << (o.block_workers == 0 ? std::string("blocks one at a time in launch order")
                             : std::to_string(o.block_workers) + " OS threads running blocks at once")
    << (SIMT_ASAN ? ", AddressSanitizer" : "") << "; " << c.launches << " launches, " << c.blocks << " blocks, "
    << c.threads << " threads, " << c.barriers << " barriers, " << c.collectives << " warp collectives, "
    << c.switches << " fiber switches, " << c.spin_waits << " spin-waits that found nothing published";
  return s.str();
}

}  // namespace simt
