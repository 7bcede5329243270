#pragma once
/// \file
/// spdl::io::filter_graph: an FFmpeg filter graph ("fps=10,scale=224:224,format=rgb24") from
/// decoded frames in to filtered frames out. The helpers that write the common descriptions live
/// beside the loaders (`video_filter_desc`, `audio_filter_desc`).

#include <spdl/io/detail/ffmpeg.hpp>
#include <spdl/io/error.hpp>
#include <spdl/io/frames.hpp>
#include <spdl/io/packets.hpp>

extern "C" {
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/channel_layout.h>
#include <libavutil/pixdesc.h>
#include <libavutil/samplefmt.h>
}

#include <string>
#include <utility>

namespace spdl::io {

/// One filter graph with one input and one output. Used by one thread at a time.
///
///     spdl::io::filter_graph g("scale=320:240,format=rgb24", media_type::video, first_frame,
///                              time_base, "clip.mp4");
///     g.push(frame); ... g.push_end();
///     spdl::io::frames out(media_type::video, g.output_time_base(), "clip.mp4");
///     g.pull(out);
class filter_graph {
 public:
  /// A graph running `description` ("" passes frames through) on frames shaped like `like`
  /// (size and pixel format, or sample rate, format and channels) whose timestamps count in
  /// `time_base`. Throws std::invalid_argument naming the description when FFmpeg rejects it,
  /// io_error when FFmpeg cannot set it up for such frames (a size or sample rate from a hostile
  /// file, say, that the resampler cannot allocate its filters for).
  filter_graph(const std::string& description, media_type type, const AVFrame& like,
               AVRational time_base, std::string source, int threads = 1)
      : type_(type),
        source_(std::move(source)),
        in_format_(like.format),
        in_width_(like.width),
        in_height_(like.height),
        in_rate_(like.sample_rate),
        in_channels_(like.ch_layout.nb_channels),
        graph_(avfilter_graph_alloc()) {
    if (!graph_) throw std::bad_alloc();
    graph_->nb_threads = threads;
    const bool video = type == media_type::video;
    std::string args;
    if (video) {
      const AVRational sar = like.sample_aspect_ratio.num > 0 ? like.sample_aspect_ratio
                                                              : AVRational{1, 1};
      args = "video_size=" + std::to_string(like.width) + "x" + std::to_string(like.height) +
             ":pix_fmt=" + std::to_string(like.format) + ":time_base=" + ratio(time_base) +
             ":pixel_aspect=" + ratio(sar);
    } else {
      const char* fmt = av_get_sample_fmt_name(static_cast<AVSampleFormat>(like.format));
      args = "time_base=" + ratio(time_base) + ":sample_rate=" + std::to_string(like.sample_rate) +
             ":sample_fmt=" + (fmt ? fmt : "?") + ":" + layout_text(like);
    }
    source_filter_ = make(video ? "buffer" : "abuffer", "in", args.c_str());
    sink_ = make(video ? "buffersink" : "abuffersink", "out", video ? nullptr : "all_channel_counts=1");
    const std::string text =
        description.empty() ? std::string(video ? "null" : "anull") : description;
    // The graph's open ends, named as FFmpeg's parser expects: its input reads from "in"...
    filter_inout_ptr outputs(avfilter_inout_alloc()), inputs(avfilter_inout_alloc());
    if (!outputs || !inputs) throw std::bad_alloc();
    outputs->name = av_strdup("in");
    outputs->filter_ctx = source_filter_;
    inputs->name = av_strdup("out");  // ...and its output writes to "out".
    inputs->filter_ctx = sink_;
    AVFilterInOut* in_raw = inputs.release();
    AVFilterInOut* out_raw = outputs.release();
    int rc = avfilter_graph_parse_ptr(graph_.get(), text.c_str(), &in_raw, &out_raw, nullptr);
    inputs.reset(in_raw);
    outputs.reset(out_raw);
    if (rc < 0)
      throw std::invalid_argument(detail::describe(
          "filter_graph", source_,
          "FFmpeg rejects the filter description '" + text + "': " + detail::av_error_text(rc)));
    // The description parsed; what fails from here on depends on the frames (the input's fault).
    rc = avfilter_graph_config(graph_.get(), nullptr);
    if (rc < 0)
      throw io_error(detail::describe(
          "filter_graph", source_,
          "FFmpeg cannot set up '" + text + "' for frames of " + args + ": " + detail::av_error_text(rc)));
  }

  /// Whether `f` is shaped like the frames the graph was built for (a stream may change its
  /// size or format mid-way; the graph must then be rebuilt).
  [[nodiscard]] bool fits(const AVFrame& f) const noexcept {
    return f.format == in_format_ &&
           (type_ == media_type::video
                ? f.width == in_width_ && f.height == in_height_
                : f.sample_rate == in_rate_ && f.ch_layout.nb_channels == in_channels_);
  }

  /// Feeds one frame (the caller keeps its own reference).
  void push(const AVFrame& frame) {
    int rc = 0;
    if (type_ == media_type::audio && frame.ch_layout.order == AV_CHANNEL_ORDER_UNSPEC &&
        frame.ch_layout.nb_channels <= 8) {
      // A stream without a channel layout (WAV often has none) gets the default one for its
      // channel count, as the source filter was told: on a second reference to the samples,
      // which the graph then takes over (one frame struct, reused for every frame).
      if (!relabelled_) relabelled_.reset(av_frame_alloc());
      if (!relabelled_ || av_frame_ref(relabelled_.get(), &frame) < 0) throw std::bad_alloc();
      av_channel_layout_uninit(&relabelled_->ch_layout);
      av_channel_layout_default(&relabelled_->ch_layout, frame.ch_layout.nb_channels);
      rc = av_buffersrc_add_frame_flags(source_filter_, relabelled_.get(), 0);
      av_frame_unref(relabelled_.get());  // left with nothing on success; released on failure
    } else {
      rc = av_buffersrc_add_frame_flags(source_filter_, const_cast<AVFrame*>(&frame),
                                        AV_BUFFERSRC_FLAG_KEEP_REF);
    }
    if (rc < 0)
      throw io_error(detail::describe("filter_graph", source_,
                                      "cannot feed a frame: " + detail::av_error_text(rc)));
  }

  /// Tells the graph that no more frames come (filters holding frames back release them).
  void push_end() {
    const int rc = av_buffersrc_add_frame_flags(source_filter_, nullptr, 0);
    if (rc < 0 && rc != AVERROR_EOF)
      throw io_error(detail::describe("filter_graph", source_,
                                      "cannot end the input: " + detail::av_error_text(rc)));
  }

  /// Takes the next frame the graph has ready into `out` (unreferenced first); false when none
  /// is ready.
  bool pull(AVFrame& out) {
    av_frame_unref(&out);
    const int rc = av_buffersink_get_frame(sink_, &out);
    if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return false;
    if (rc < 0)
      throw io_error(detail::describe("filter_graph", source_,
                                      "cannot filter: " + detail::av_error_text(rc)));
    return true;
  }

  /// Moves every frame the graph has ready into `out`.
  void pull(frames& out) {
    for (;;) {
      detail::frame_ptr f(av_frame_alloc());
      if (!f) throw std::bad_alloc();
      if (!pull(*f)) return;
      out.push_back(std::move(f));
    }
  }

  /// Makes every output audio frame exactly `samples` long (the last one may be shorter), as
  /// encoders with a fixed frame size need.
  void set_output_frame_size(int samples) { av_buffersink_set_frame_size(sink_, static_cast<unsigned>(samples)); }

  /// The unit of the output frames' timestamps.
  [[nodiscard]] AVRational output_time_base() const { return av_buffersink_get_time_base(sink_); }

 private:
  using filter_inout_ptr = detail::filter_inout_ptr;

  static std::string ratio(AVRational r) {
    return std::to_string(r.num) + "/" + std::to_string(r.den);
  }
  // The source filter's channel arguments: the frame's layout, the default one for its channel
  // count when it has none, or only the count when there is no default (more than 8, say).
  static std::string layout_text(const AVFrame& f) {
    AVChannelLayout layout{};
    if (f.ch_layout.order == AV_CHANNEL_ORDER_UNSPEC)
      av_channel_layout_default(&layout, f.ch_layout.nb_channels);
    else if (av_channel_layout_copy(&layout, &f.ch_layout) < 0)
      throw std::bad_alloc();
    char text[256] = {};
    const bool named = layout.order != AV_CHANNEL_ORDER_UNSPEC &&
                       av_channel_layout_describe(&layout, text, sizeof text) >= 0;
    av_channel_layout_uninit(&layout);
    if (!named) return "channels=" + std::to_string(f.ch_layout.nb_channels);
    return std::string("channel_layout=") + text;
  }

  AVFilterContext* make(const char* filter, const char* name, const char* args) {
    AVFilterContext* ctx = nullptr;
    const int rc = avfilter_graph_create_filter(&ctx, avfilter_get_by_name(filter), name, args,
                                                nullptr, graph_.get());
    if (rc < 0)
      throw io_error(detail::describe("filter_graph", source_,
                                      std::string("cannot make the ") + filter + " filter (" +
                                          (args ? args : "") + "): " + detail::av_error_text(rc)));
    return ctx;
  }

  media_type type_;
  std::string source_;
  int in_format_, in_width_, in_height_, in_rate_, in_channels_;
  detail::filter_graph_ptr graph_;
  AVFilterContext* source_filter_ = nullptr;  // owned by graph_
  AVFilterContext* sink_ = nullptr;           // owned by graph_
  detail::frame_ptr relabelled_;              // see push
};

}  // namespace spdl::io
