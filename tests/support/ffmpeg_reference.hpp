#pragma once
// The reference for parity: a file decoded and filtered by libav* directly, the way FFmpeg's own
// examples do it (av_read_frame, avcodec_send_packet / receive_frame, a filter graph parsed from
// "buffer=...[in]; [in] DESC [out]; [out] buffersink"), with no spdl code in the path.

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/samplefmt.h>
}

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace spdl::test {

/// Every output frame's bytes (video: rows of width × bytes-per-pixel, packed; audio: the
/// interleaved samples), concatenated, as FFmpeg produces them for `desc`.
inline std::vector<std::uint8_t> ffmpeg_reference(const std::string& path, bool video,
                                                  const std::string& desc, int bytes_per_unit) {
  AVFormatContext* fmt = nullptr;
  REQUIRE(avformat_open_input(&fmt, path.c_str(), nullptr, nullptr) == 0);
  REQUIRE(avformat_find_stream_info(fmt, nullptr) >= 0);
  const AVMediaType type = video ? AVMEDIA_TYPE_VIDEO : AVMEDIA_TYPE_AUDIO;
  const AVCodec* codec = nullptr;
  const int index = av_find_best_stream(fmt, type, -1, -1, &codec, 0);
  REQUIRE(index >= 0);
  AVStream* st = fmt->streams[index];
  AVCodecContext* dec = avcodec_alloc_context3(codec);
  REQUIRE(avcodec_parameters_to_context(dec, st->codecpar) >= 0);
  dec->pkt_timebase = st->time_base;
  dec->thread_count = 1;
  REQUIRE(avcodec_open2(dec, codec, nullptr) == 0);

  AVFilterGraph* graph = nullptr;
  AVFilterContext *src = nullptr, *sink = nullptr;
  std::vector<std::uint8_t> out;
  AVFrame* frame = av_frame_alloc();
  AVFrame* filtered = av_frame_alloc();
  AVPacket* pkt = av_packet_alloc();

  auto drain_sink = [&] {
    while (av_buffersink_get_frame(sink, filtered) >= 0) {
      if (video) {
        const int row = filtered->width * bytes_per_unit;
        for (int y = 0; y < filtered->height; ++y)
          out.insert(out.end(), filtered->data[0] + y * filtered->linesize[0],
                     filtered->data[0] + y * filtered->linesize[0] + row);
      } else {
        const int n = filtered->nb_samples * filtered->ch_layout.nb_channels * bytes_per_unit;
        out.insert(out.end(), filtered->data[0], filtered->data[0] + n);
      }
      av_frame_unref(filtered);
    }
  };
  auto filter = [&](AVFrame* f) {
    if (!graph) {
      char args[512];
      if (video) {
        std::snprintf(args, sizeof args,
                      "buffer=video_size=%dx%d:pix_fmt=%d:time_base=%d/%d:pixel_aspect=1/1[in];"
                      "[in]%s[out];[out]buffersink",
                      f->width, f->height, f->format, st->time_base.num, st->time_base.den,
                      desc.c_str());
      } else {
        char layout[128];
        AVChannelLayout l{};
        if (f->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC) av_channel_layout_default(&l, f->ch_layout.nb_channels);
        else av_channel_layout_copy(&l, &f->ch_layout);
        av_channel_layout_describe(&l, layout, sizeof layout);
        av_channel_layout_uninit(&l);
        std::snprintf(args, sizeof args,
                      "abuffer=time_base=%d/%d:sample_rate=%d:sample_fmt=%s:channel_layout=%s[in];"
                      "[in]%s[out];[out]abuffersink",
                      st->time_base.num, st->time_base.den, f->sample_rate,
                      av_get_sample_fmt_name(static_cast<AVSampleFormat>(f->format)), layout, desc.c_str());
      }
      graph = avfilter_graph_alloc();
      graph->nb_threads = 1;
      AVFilterInOut *ins = nullptr, *outs = nullptr;
      REQUIRE(avfilter_graph_parse2(graph, args, &ins, &outs) >= 0);
      avfilter_inout_free(&ins);
      avfilter_inout_free(&outs);
      REQUIRE(avfilter_graph_config(graph, nullptr) >= 0);
      for (unsigned i = 0; i < graph->nb_filters; ++i) {
        const std::string name = graph->filters[i]->filter->name;
        if (name == "buffer" || name == "abuffer") src = graph->filters[i];
        if (name == "buffersink" || name == "abuffersink") sink = graph->filters[i];
      }
      REQUIRE(src);
      REQUIRE(sink);
    }
    if (f) {
      f->pts = f->best_effort_timestamp;
      if (!video && f->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC) {
        const int n = f->ch_layout.nb_channels;
        av_channel_layout_uninit(&f->ch_layout);
        av_channel_layout_default(&f->ch_layout, n);
      }
    }
    REQUIRE(av_buffersrc_add_frame(src, f) >= 0);
    drain_sink();
  };

  while (av_read_frame(fmt, pkt) >= 0) {
    if (pkt->stream_index == index) {
      REQUIRE(avcodec_send_packet(dec, pkt) >= 0);
      while (avcodec_receive_frame(dec, frame) >= 0) filter(frame);
    }
    av_packet_unref(pkt);
  }
  avcodec_send_packet(dec, nullptr);
  while (avcodec_receive_frame(dec, frame) >= 0) filter(frame);
  if (graph) filter(nullptr);

  av_packet_free(&pkt);
  av_frame_free(&filtered);
  av_frame_free(&frame);
  avfilter_graph_free(&graph);
  avcodec_free_context(&dec);
  avformat_close_input(&fmt);
  return out;
}

}  // namespace spdl::test
