#pragma once
// The pipeline's trace (build_options::trace): Chrome trace-event JSON, which Perfetto
// (ui.perfetto.dev) and chrome://tracing open. A track per thread (the loop, each pool worker;
// a pool worker that does the loop's work records it on its own track, and so does the
// consumer while it does the loop's work: scheduler.hpp);
// a slice per call, named after its stage, with the item's sequence number; awaitable calls,
// which overlap on the loop thread, as async slices; queue occupancy as counters (sampled as
// items move: stats_reporter::trace_queues); epoch boundaries as instant events.
//
// Each thread appends to a buffer of its own (a lock only when a thread first records), so
// recording costs two words of memory traffic and no contention; the file is written once the
// pipeline's threads have joined.

#include <spdl/detail/clock.hpp>
#include <spdl/error.hpp>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <fstream>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace spdl::detail {

class tracer {
 public:
  /// Opens `path` for writing now, so that a path that cannot be written fails the build.
  explicit tracer(std::string path)
      : path_(std::move(path)), file_(path_, std::ios::trunc), id_(next_id()), origin_(clock::now()) {
    if (!file_) throw error("spdl: cannot write the trace file '" + path_ + "'");
  }

  tracer(const tracer&) = delete;
  tracer& operator=(const tracer&) = delete;

  /// Names the calling thread's track.
  void name_thread(std::string name) { local().name = std::move(name); }

  /// A call that ran on this thread from t0 to t1.
  void slice(const std::string& stage, std::uint64_t seq, clock::time_point t0, clock::time_point t1) {
    add({'X', &stage, seq, at(t0), (t1 - t0).count()});
  }

  /// A call that overlaps others on this thread (an awaitable stage's, on the loop).
  void async_slice(const std::string& stage, std::uint64_t seq, clock::time_point t0, clock::time_point t1) {
    add({'b', &stage, seq, at(t0), (t1 - t0).count()});
  }

  /// A counter's value now (`name` must outlive the tracer).
  void counter(const std::string& name, std::size_t value, clock::time_point t) {
    add({'C', &name, value, at(t), 0});
  }

  /// A moment worth a mark (`what` is copied).
  void instant(std::string what, clock::time_point t) {
    track& k = local();
    k.owned.push_back(std::move(what));
    add({'i', &k.owned.back(), 0, at(t), 0});
  }

  /// Writes the file, a megabyte at a time (a million items' trace is some 200 MB of text). Call
  /// once every recording thread is done (joined).
  void write() {
    std::string out = "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n";
    out += R"({"ph":"M","pid":1,"name":"process_name","args":{"name":"spdl pipeline"}})";
    std::uint64_t async_id = 0;
    for (const track& k : tracks_) {
      out += ",\n{\"ph\":\"M\",\"pid\":1,\"tid\":" + std::to_string(k.tid) +
             ",\"name\":\"thread_name\",\"args\":{\"name\":" + quoted(k.name) + "}}";
      for (const event& e : k.events) {
        if (out.size() >= write_chunk) {
          file_ << out;
          out.clear();
        }
        const std::string head = ",\n{\"pid\":1,\"tid\":" + std::to_string(k.tid) + ",\"ts\":" + micros(e.t) +
                                 ",\"name\":" + quoted(*e.name);
        switch (e.ph) {
          case 'X':
            out += head + ",\"ph\":\"X\",\"dur\":" + micros(e.dur) + ",\"args\":{\"item\":" + std::to_string(e.value) + "}}";
            break;
          case 'b': {  // an async slice: a begin and an end with the same id
            const std::string id = std::to_string(++async_id);
            out += head + ",\"ph\":\"b\",\"cat\":\"awaitable\",\"id\":" + id + ",\"args\":{\"item\":" +
                   std::to_string(e.value) + "}}";
            out += ",\n{\"pid\":1,\"tid\":" + std::to_string(k.tid) + ",\"ts\":" + micros(e.t + e.dur) +
                   ",\"name\":" + quoted(*e.name) + ",\"ph\":\"e\",\"cat\":\"awaitable\",\"id\":" + id + "}";
            break;
          }
          case 'C':
            out += head + ",\"ph\":\"C\",\"args\":{\"items\":" + std::to_string(e.value) + "}}";
            break;
          default:
            out += head + ",\"ph\":\"i\",\"s\":\"g\"}";
            break;
        }
      }
    }
    out += "\n]}\n";
    file_ << out;
    file_.close();
    // Too late to throw (this runs in stop() and in the pipeline's destructor): say so.
    if (!file_) std::fprintf(stderr, "spdl: writing the trace file '%s' failed\n", path_.c_str());
  }

 private:
  static constexpr std::size_t write_chunk = std::size_t{1} << 20;

  struct event {
    char ph;
    const std::string* name;
    std::uint64_t value;  // the item's sequence number, or the counter's value
    std::int64_t t, dur;  // ns since the tracer was made
  };

  struct track {
    std::string name;
    int tid = 0;
    std::vector<event> events;
    std::deque<std::string> owned;  // names of instant events
  };

  static std::uint64_t next_id() noexcept {
    static std::atomic<std::uint64_t> ids{0};
    return ++ids;
  }

  // This thread's track, made on its first event (the one lock).
  track& local() {
    thread_local std::uint64_t owner = 0;
    thread_local track* mine = nullptr;
    if (owner != id_) {
      std::lock_guard lock(mutex_);
      tracks_.emplace_back();
      mine = &tracks_.back();
      mine->tid = static_cast<int>(tracks_.size());
      mine->name = "thread " + std::to_string(mine->tid);
      mine->events.reserve(4096);
      owner = id_;
    }
    return *mine;
  }

  void add(const event& e) { local().events.push_back(e); }

  [[nodiscard]] std::int64_t at(clock::time_point t) const noexcept { return (t - origin_).count(); }

  static std::string micros(std::int64_t ns) {
    char text[32];
    std::snprintf(text, sizeof text, "%.3f", static_cast<double>(ns) / 1e3);
    return text;
  }

  static std::string quoted(std::string_view s) {
    std::string out = "\"";
    for (const char c : s) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (u < 0x20) {
        char esc[8];
        std::snprintf(esc, sizeof esc, "\\u%04x", u);
        out += esc;
      } else {
        out += c;
      }
    }
    return out + "\"";
  }

  std::string path_;
  std::ofstream file_;
  std::uint64_t id_;
  clock::time_point origin_;
  std::mutex mutex_;
  std::deque<track> tracks_;  // deque: tracks stay where they are as threads add theirs
};

}  // namespace spdl::detail
