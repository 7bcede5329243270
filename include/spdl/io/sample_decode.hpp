#pragma once
/// \file
/// sample_decode_video: chosen frames of a video, decoding only the groups of pictures (key
/// frame to key frame) that hold them — what a trainer sampling a few frames per clip wants.
///
///     spdl::io::demuxer d("clip.mp4");
///     spdl::io::packets p = d.demux_video();
///     std::size_t picks[] = {0, 30, 60, 90};
///     spdl::io::frames f = spdl::io::sample_decode_video(p, picks, "format=pix_fmts=rgb24");

#include <spdl/io/decoder.hpp>
#include <spdl/io/detail/ffmpeg.hpp>
#include <spdl/io/error.hpp>
#include <spdl/io/filter_graph.hpp>
#include <spdl/io/frames.hpp>
#include <spdl/io/packets.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace spdl::io {

/// The frames at `indices` — positions in presentation order among the packets' frames (within
/// their window, when they have one) — in the order asked (repeats allowed), run through
/// `filter_desc` one by one (so use per-frame filters: scale, crop, format; not fps). Only the
/// groups of pictures holding a chosen frame are decoded. Each packet is taken to hold one
/// frame (true of MP4, MKV and WebM video). Throws std::out_of_range for an index past the last
/// frame.
inline frames sample_decode_video(const packets& p, std::span<const std::size_t> indices,
                                  const std::string& filter_desc = "",
                                  const decoder_options& options = {}) {
  if (p.type() != media_type::video)
    throw std::invalid_argument(detail::describe("sample_decode_video", p.source(), "packets are not video"));
  // Presentation order: the packets (decode order) that carry a frame in the window, by pts.
  std::vector<std::size_t> shown;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const auto pts = p[i].pts;
    if (pts == AV_NOPTS_VALUE)
      throw unsupported_error(detail::describe("sample_decode_video", p.source(), "packets without timestamps"));
    if (!p.window() || detail::in_window(pts, p.time_base(), *p.window())) shown.push_back(i);
  }
  std::stable_sort(shown.begin(), shown.end(), [&](std::size_t a, std::size_t b) { return p[a].pts < p[b].pts; });
  // Which group of pictures (its first packet: a key frame) holds each chosen frame.
  std::map<std::size_t, std::size_t> group_end;  // first packet -> one past the last packet needed
  std::set<std::int64_t> wanted;                   // the chosen frames' pts
  for (const auto k : indices) {
    if (k >= shown.size())
      throw std::out_of_range(detail::describe("sample_decode_video", p.source(),
                                               "frame " + std::to_string(k) + " asked for, " +
                                                   std::to_string(shown.size()) + " there"));
    const std::size_t at = shown[k];
    std::size_t key = at;
    while (key > 0 && !(p[key].flags & AV_PKT_FLAG_KEY)) --key;
    // Frames shown before a later packet's may come from it (B-frames): decode to the next key.
    std::size_t end = at + 1;
    while (end < p.size() && !(p[end].flags & AV_PKT_FLAG_KEY)) ++end;
    group_end[key] = std::max(group_end[key], end);
    wanted.insert(p[at].pts);
  }
  decoder dec(p, options);
  std::map<std::int64_t, detail::frame_ptr> decoded;
  for (const auto& [first, end] : group_end) {
    const packets group = p.clone(first, end);
    auto keep = [&](AVFrame& f) {
      if (wanted.count(f.pts) && !decoded.count(f.pts)) decoded.emplace(f.pts, detail::ref_frame(&f));
    };
    dec.decode_each(group, keep);
    dec.flush_each(keep);
  }
  std::unique_ptr<filter_graph> graph;  // (not optional: GCC 12 warns falsely about optional here)
  std::optional<frames> out;
  for (const auto k : indices) {
    const auto it = decoded.find(p[shown[k]].pts);
    if (it == decoded.end())
      throw io_error(detail::describe("sample_decode_video", p.source(),
                                      "frame " + std::to_string(k) + " did not come out of the decoder"));
    if (graph && !graph->fits(*it->second)) {  // the stream changed size or format
      graph->push_end();
      graph->pull(*out);
      graph.reset();
    }
    if (!graph) {
      graph = std::make_unique<filter_graph>(filter_desc, media_type::video, *it->second, p.time_base(), p.source());
      if (!out) out.emplace(media_type::video, graph->output_time_base(), p.source());
    }
    graph->push(*it->second);
    graph->pull(*out);
  }
  if (!graph) return frames(media_type::video, p.time_base(), p.source());
  graph->push_end();
  graph->pull(*out);
  return std::move(*out);
}

}  // namespace spdl::io
