#pragma once
/// \file
/// The limits every loader holds to, so that a small hostile file cannot force a huge
/// allocation: each is an option with one of these defaults, checked before allocating and
/// again while producing. Exceeding one throws io_error naming the source and the limit (never
/// std::bad_alloc).
///
/// - **max_pixels** (image_options, video_options): pixels per image or video frame. The default
///   is Pillow's decompression-bomb threshold (2 × 89,478,485 = 178,956,970, about 13,377²): every
///   image Pillow opens, spdl opens; a 16,000² "image" in a 34-byte WebP does not (1.75 GB of
///   RGBA otherwise). It also stays under FFmpeg's own hard limit (width+128 × height+128 <
///   2³¹/8, about 16,256²), so the FFmpeg path reports the limit, not a "corrupt" image.
/// - **max_bytes** (video_options, audio_options, npz_options): bytes of one output buffer (a
///   clip, a waveform, an NPZ member). 2 GiB by default: 10 s of 1080p RGB video at 30 fps is
///   1.9 GB, 1.5 h of 48 kHz stereo float32 audio 2.1 GB. Storage grows with what the decoder
///   really produces (amortised), never with what a container claims.

#include <cstdint>

namespace spdl::io {

/// Pixels per image or frame, by default: Pillow's decompression-bomb error threshold.
inline constexpr std::uint64_t default_max_pixels = 2 * 89'478'485;
/// Bytes per output buffer of load_video, load_audio and each load_npz member, by default.
inline constexpr std::uint64_t default_max_bytes = std::uint64_t{1} << 31;

}  // namespace spdl::io
