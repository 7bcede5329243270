#pragma once
/// \file
/// Datasets on disk: the files under a folder, and the `root/<class>/<file>` layout of
/// torchvision's ImageFolder. Results are sorted, so every process of a job (and every run)
/// sees the same indices.
///
///     auto folder = spdl::scan_image_folder("imagenet/train", {.extensions = {".jpeg", ".jpg"}});
///     spdl::random_sampler sampler(folder.samples.size(), {.seed = 1});
///     for (std::size_t i : sampler) use(folder.samples[i].path, folder.samples[i].label);

#include <spdl/error.hpp>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace spdl::data {

/// Options of list_files and scan_image_folder.
struct list_options {
  /// Keep only files whose names end with one of these, with the dot (".jpg", ".tar.gz"),
  /// compared case-insensitively for ASCII letters (".jpg" matches "x.JPG"). Empty: all files.
  std::vector<std::string> extensions;
  /// Descend into subfolders (not into symbolic links to folders, which could form cycles).
  bool recursive = true;
};

namespace detail {

[[nodiscard]] constexpr char ascii_lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

/// Whether `name` ends with `suffix`, ignoring ASCII case, with something before the suffix:
/// a file named ".jpg" is a hidden file without an extension, as std::filesystem sees it.
[[nodiscard]] inline bool ends_with_icase(std::string_view name, std::string_view suffix) {
  if (name.size() <= suffix.size()) return false;
  const auto tail = name.substr(name.size() - suffix.size());
  return std::equal(suffix.begin(), suffix.end(), tail.begin(),
                    [](char a, char b) { return ascii_lower(a) == ascii_lower(b); });
}

inline void check_extensions(std::string_view who, const list_options& options) {
  for (const auto& ext : options.extensions)
    if (ext.size() < 2 || ext.front() != '.')
      throw std::invalid_argument(std::string(who) + ": extension '" + ext +
                                  "' must start with a dot and name something, as in \".jpg\"");
}

[[noreturn]] inline void throw_walk_error(std::string_view who, const std::filesystem::path& where,
                                          const std::error_code& ec) {
  throw spdl::error(std::string(who) + ": cannot read '" + where.string() + "': " + ec.message());
}

inline void check_root(std::string_view who, const std::filesystem::path& root) {
  std::error_code ec;
  const auto status = std::filesystem::status(root, ec);
  if (status.type() == std::filesystem::file_type::not_found)
    throw spdl::error(std::string(who) + ": '" + root.string() + "': no such directory");
  if (ec) throw_walk_error(who, root, ec);
  if (!std::filesystem::is_directory(status))
    throw spdl::error(std::string(who) + ": '" + root.string() + "': not a directory");
}

template <class DirectoryIterator>
void collect_files(std::string_view who, const std::filesystem::path& root,
                   const list_options& options, std::vector<std::filesystem::path>& out) {
  std::error_code ec;
  DirectoryIterator it(root, ec), end;
  if (ec) throw_walk_error(who, root, ec);
  std::filesystem::path last = root;  // the entry whose successor could not be read
  for (; it != end; it.increment(ec)) {
    if (ec) throw_walk_error(who, last, ec);
    const auto& entry = *it;
    last = entry.path();
    std::error_code type_ec;  // a dangling symbolic link is neither: skipped, not an error
    if (!entry.is_regular_file(type_ec)) continue;
    if (!options.extensions.empty()) {
      const std::string name = entry.path().filename().string();
      if (std::none_of(options.extensions.begin(), options.extensions.end(),
                       [&](const std::string& ext) { return ends_with_icase(name, ext); }))
        continue;
    }
    out.push_back(entry.path());
  }
  if (ec) throw_walk_error(who, last, ec);
}

inline std::vector<std::filesystem::path> list_files(std::string_view who,
                                                     const std::filesystem::path& root,
                                                     const list_options& options) {
  std::vector<std::filesystem::path> files;
  if (options.recursive)
    collect_files<std::filesystem::recursive_directory_iterator>(who, root, options, files);
  else
    collect_files<std::filesystem::directory_iterator>(who, root, options, files);
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace detail

/// The regular files under `root` (symbolic links to files included), each as `root / <its
/// path below root>`, sorted by std::filesystem::path's lexicographic order (component by
/// component). Throws spdl::error when `root` is missing or not a directory, or a folder
/// cannot be read; std::invalid_argument when an extension does not start with a dot.
inline std::vector<std::filesystem::path> list_files(const std::filesystem::path& root,
                                                     const list_options& options = {}) {
  detail::check_extensions("spdl::list_files", options);
  detail::check_root("spdl::list_files", root);
  return detail::list_files("spdl::list_files", root, options);
}

/// A file and the index of its class.
struct labeled_file {
  std::filesystem::path path;
  std::size_t label = 0;
};

/// The classes and files of a `root/<class>/<file>` dataset.
struct image_folder {
  /// The names of root's subfolders, sorted: a label is an index into it.
  std::vector<std::string> classes;
  /// Sorted by label, then by path.
  std::vector<labeled_file> samples;
};

/// Scans a `root/<class>/<file>` dataset, as torchvision's ImageFolder: each subfolder of
/// `root` (or symbolic link to one) is a class, labelled by its index among the sorted names;
/// its files (with `options.recursive`, also those in nested folders) are that class's samples,
/// chosen as list_files chooses them. Files directly in `root` are ignored. Unlike
/// torchvision, a class without any matching file is kept (its label stays reserved, so labels
/// agree between splits that lack a class) rather than rejected.
/// Throws as list_files does.
inline image_folder scan_image_folder(const std::filesystem::path& root,
                                      const list_options& options = {}) {
  constexpr std::string_view who = "spdl::scan_image_folder";
  detail::check_extensions(who, options);
  detail::check_root(who, root);

  image_folder folder;
  std::error_code ec;
  std::filesystem::directory_iterator it(root, ec), end;
  if (ec) detail::throw_walk_error(who, root, ec);
  for (; it != end; it.increment(ec)) {
    if (ec) detail::throw_walk_error(who, root, ec);
    std::error_code type_ec;
    if (it->is_directory(type_ec)) folder.classes.push_back(it->path().filename().string());
  }
  if (ec) detail::throw_walk_error(who, root, ec);
  std::sort(folder.classes.begin(), folder.classes.end());

  for (std::size_t label = 0; label < folder.classes.size(); ++label)
    for (auto& path : detail::list_files(who, root / folder.classes[label], options))
      folder.samples.push_back({std::move(path), label});
  return folder;
}

}  // namespace spdl::data

namespace spdl {
using data::image_folder;
using data::labeled_file;
using data::list_files;
using data::list_options;
using data::scan_image_folder;
}  // namespace spdl
