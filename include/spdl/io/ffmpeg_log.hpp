#pragma once
/// \file
/// FFmpeg's process-wide log level. FFmpeg writes what it notices to stderr (a TIFF tag it does
/// not know, a damaged packet it conceals); spdl reports failures as exceptions either way and
/// leaves the level where the program put it (FFmpeg's default: info).
///
///     spdl::io::set_ffmpeg_log_level(spdl::io::ffmpeg_log_level::error);  // only errors

extern "C" {
#include <libavutil/log.h>
}

namespace spdl::io {

/// FFmpeg's levels (AV_LOG_*), most quiet first.
enum class ffmpeg_log_level : int {
  quiet = AV_LOG_QUIET,
  panic = AV_LOG_PANIC,
  fatal = AV_LOG_FATAL,
  error = AV_LOG_ERROR,
  warning = AV_LOG_WARNING,
  info = AV_LOG_INFO,
  verbose = AV_LOG_VERBOSE,
  debug = AV_LOG_DEBUG,
  trace = AV_LOG_TRACE,
};

/// Sets the level for the whole process (FFmpeg has no other); thread-safe.
inline void set_ffmpeg_log_level(ffmpeg_log_level level) noexcept {
  av_log_set_level(static_cast<int>(level));
}

/// The level now in force.
inline ffmpeg_log_level get_ffmpeg_log_level() noexcept {
  return static_cast<ffmpeg_log_level>(av_log_get_level());
}

}  // namespace spdl::io
