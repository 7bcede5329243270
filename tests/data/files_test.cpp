// list_files and scan_image_folder on a tree the test makes: nested folders, mixed-case
// extensions, files to leave out, symbolic links (to a file, dangling, and a cycle).

#include <spdl/data/files.hpp>

#include <catch2/catch.hpp>

#include <unistd.h>  // getpid

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

// A fresh folder under the system's temporary directory, removed with everything in it.
class temp_dir {
 public:
  temp_dir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("spdl_files_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  [[nodiscard]] const fs::path& path() const noexcept { return path_; }

 private:
  fs::path path_;
};

void touch(const fs::path& p) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << p.filename().string();
}

// root/
//   b.txt  link.jpg -> cat/1.JPG
//   cat/   1.JPG 2.jpeg notes.txt sub/3.jpg sub/deeper/4.Png
//   dog/   a.png b.jpg link.jpg -> ../cat/2.jpeg  dangling.jpg -> missing  loop -> ..
//   empty_class/  readme.md
void make_tree(const fs::path& root) {
  for (const char* f : {"b.txt", "cat/1.JPG", "cat/2.jpeg", "cat/notes.txt", "cat/sub/3.jpg",
                        "cat/sub/deeper/4.Png", "dog/a.png", "dog/b.jpg", "empty_class/readme.md"})
    touch(root / f);
  fs::create_symlink("cat/1.JPG", root / "link.jpg");
  fs::create_symlink("../cat/2.jpeg", root / "dog/link.jpg");
  fs::create_symlink("missing", root / "dog/dangling.jpg");
  fs::create_directory_symlink("..", root / "dog/loop");
}

std::vector<fs::path> under(const fs::path& root, std::initializer_list<const char*> names) {
  std::vector<fs::path> out;
  for (const char* n : names) out.push_back(root / n);
  return out;
}

const spdl::list_options images{.extensions = {".jpg", ".jpeg", ".png"}};

}  // namespace

TEST_CASE("list_files: every regular file, recursively, sorted") {
  temp_dir tmp;
  const fs::path root = tmp.path();
  make_tree(root);
  const auto files = spdl::list_files(root);
  CHECK(files == under(root, {"b.txt", "cat/1.JPG", "cat/2.jpeg", "cat/notes.txt",
                              "cat/sub/3.jpg", "cat/sub/deeper/4.Png", "dog/a.png", "dog/b.jpg",
                              "dog/link.jpg", "empty_class/readme.md", "link.jpg"}));
  CHECK(std::is_sorted(files.begin(), files.end()));
  CHECK(spdl::data::list_files(root) == files);
}

TEST_CASE("list_files: extensions, case-insensitively") {
  temp_dir tmp;
  const fs::path root = tmp.path();
  make_tree(root);
  CHECK(spdl::list_files(root, images) ==
        under(root, {"cat/1.JPG", "cat/2.jpeg", "cat/sub/3.jpg", "cat/sub/deeper/4.Png",
                     "dog/a.png", "dog/b.jpg", "dog/link.jpg", "link.jpg"}));
  CHECK(spdl::list_files(root, {.extensions = {".PNG"}}) ==
        under(root, {"cat/sub/deeper/4.Png", "dog/a.png"}));
  CHECK(spdl::list_files(root, {.extensions = {".md", ".txt"}}) ==
        under(root, {"b.txt", "cat/notes.txt", "empty_class/readme.md"}));
  CHECK(spdl::list_files(root, {.extensions = {".gif"}}).empty());
}

TEST_CASE("list_files: not recursive") {
  temp_dir tmp;
  const fs::path root = tmp.path();
  make_tree(root);
  CHECK(spdl::list_files(root, {.recursive = false}) == under(root, {"b.txt", "link.jpg"}));
  CHECK(spdl::list_files(root, {.extensions = {".jpg"}, .recursive = false}) ==
        under(root, {"link.jpg"}));
  CHECK(spdl::list_files(root / "dog", {.recursive = false}) ==
        under(root, {"dog/a.png", "dog/b.jpg", "dog/link.jpg"}));
}

TEST_CASE("list_files: a missing root, or a file, is an error naming it") {
  using Catch::Matchers::Contains;
  temp_dir tmp;
  const fs::path root = tmp.path();
  make_tree(root);
  const auto missing = root / "nope";
  CHECK_THROWS_AS(spdl::list_files(missing), spdl::error);
  CHECK_THROWS_WITH(spdl::list_files(missing), Contains(missing.string()));
  CHECK_THROWS_WITH(spdl::list_files(root / "b.txt"),
                    Contains((root / "b.txt").string()) && Contains("not a directory"));
  CHECK_THROWS_AS(spdl::list_files(root, {.extensions = {"jpg"}}), std::invalid_argument);
}

TEST_CASE("scan_image_folder: classes, labels, sample order") {
  temp_dir tmp;
  const fs::path root = tmp.path();
  make_tree(root);
  const auto folder = spdl::scan_image_folder(root, images);
  CHECK(folder.classes == std::vector<std::string>{"cat", "dog", "empty_class"});
  std::vector<fs::path> paths;
  std::vector<std::size_t> labels;
  for (const auto& s : folder.samples) {
    paths.push_back(s.path);
    labels.push_back(s.label);
  }
  // Files directly in root (b.txt, link.jpg) are no class's.
  CHECK(paths == under(root, {"cat/1.JPG", "cat/2.jpeg", "cat/sub/3.jpg", "cat/sub/deeper/4.Png",
                              "dog/a.png", "dog/b.jpg", "dog/link.jpg"}));
  CHECK(labels == std::vector<std::size_t>{0, 0, 0, 0, 1, 1, 1});

  const auto flat = spdl::scan_image_folder(root, {.extensions = images.extensions,
                                                   .recursive = false});
  CHECK(flat.classes == folder.classes);
  paths.clear();
  labels.clear();
  for (const auto& s : flat.samples) {
    paths.push_back(s.path);
    labels.push_back(s.label);
  }
  CHECK(paths == under(root, {"cat/1.JPG", "cat/2.jpeg", "dog/a.png", "dog/b.jpg",
                              "dog/link.jpg"}));
  CHECK(labels == std::vector<std::size_t>{0, 0, 1, 1, 1});

  // Without a filter the empty class has its readme.
  const auto all = spdl::scan_image_folder(root);
  REQUIRE_FALSE(all.samples.empty());
  CHECK(all.samples.back().path == root / "empty_class/readme.md");
  CHECK(all.samples.back().label == 2);
}

TEST_CASE("scan_image_folder: a missing root is an error naming it") {
  temp_dir tmp;
  const auto missing = tmp.path() / "nope";
  CHECK_THROWS_AS(spdl::scan_image_folder(missing), spdl::error);
  CHECK_THROWS_WITH(spdl::scan_image_folder(missing),
                    Catch::Matchers::Contains(missing.string()));
}
