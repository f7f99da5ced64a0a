#include "engine/core/catalogue_store.h"

#include <cerrno>
#include <cstddef>
#include <memory>
#include <span>
#include <utility>

#include "alloc/assert.h"

namespace sluice::core {
namespace {

constexpr const char* kMetaDir = "/meta";
constexpr const char* kCatalogueName = "catalogue";
// A catalogue larger than this is not one this broker wrote (10,000 topics take about 2 MiB).
constexpr uint64_t kMaxCatalogueBytes = 256ULL << 20;

Error with_context(const Error& e, const char* what) { return make_error(e.code, what); }

io::Task<Result<void>> write_file_durably(log::FileSystem& fs, const std::string& dir, const std::string& name,
                                          const std::string& body) {
  const std::string tmp = dir + "/" + name + ".tmp";
  const std::string dst = dir + "/" + name;
  // A temp file left by a crash may be longer than this body: start from an empty one.
  auto removed = co_await fs.remove(tmp);
  if (!removed.ok() && removed.error().code != ENOENT)
    co_return with_context(removed.error(), "catalogue: remove temp file");
  auto opened = co_await fs.open(tmp, log::OpenOptions{.create = true, .direct = false});
  if (!opened.ok()) co_return with_context(opened.error(), "catalogue: open temp file");
  std::unique_ptr<log::File> file = std::move(opened.value());
  SLUICE_ASSERT(file->alignment() == 1);  // buffered: any position and length
  auto wrote = co_await file->write(0, std::as_bytes(std::span<const char>(body.data(), body.size())));
  if (!wrote.ok()) co_return with_context(wrote.error(), "catalogue: write");
  SLUICE_ASSERT(wrote.value() == body.size());
  auto synced = co_await file->datasync();
  if (!synced.ok()) co_return with_context(synced.error(), "catalogue: fsync");
  file.reset();
  auto renamed = co_await fs.rename(tmp, dst);
  if (!renamed.ok()) co_return with_context(renamed.error(), "catalogue: rename");
  auto dir_synced = co_await fs.sync_dir(dir);
  if (!dir_synced.ok()) co_return with_context(dir_synced.error(), "catalogue: fsync dir");
  co_return Result<void>{};
}

io::Task<Result<std::string>> read_whole_file(log::FileSystem& fs, const std::string& path) {
  auto opened = co_await fs.open(path, log::OpenOptions{});
  if (!opened.ok()) co_return opened.error();
  std::unique_ptr<log::File> file = std::move(opened.value());
  auto size = co_await file->size();
  if (!size.ok()) co_return with_context(size.error(), "catalogue: size");
  if (size.value() > kMaxCatalogueBytes) co_return make_error(EFBIG, "catalogue: file too large");
  std::string body(static_cast<std::size_t>(size.value()), '\0');
  auto got = co_await file->read(0, std::as_writable_bytes(std::span<char>(body.data(), body.size())));
  if (!got.ok()) co_return with_context(got.error(), "catalogue: read");
  if (got.value() != body.size()) co_return make_error(EIO, "catalogue: short read");
  co_return body;
}

}  // namespace

std::string catalogue_path(const std::string& data_dir) { return data_dir + kMetaDir + "/" + kCatalogueName; }

io::Task<Result<void>> save_catalogue(log::FileSystem& fs, const std::string& data_dir, const broker::Catalogue& c) {
  SLUICE_ASSERT(!data_dir.empty());
  // Serialised before the first suspension: the caller's catalogue may change while this waits.
  const std::string body = c.serialize();
  const std::string meta = data_dir + kMetaDir;
  auto made = co_await fs.mkdirs(meta);
  if (!made.ok()) co_return with_context(made.error(), "catalogue: mkdir");
  co_return co_await write_file_durably(fs, meta, kCatalogueName, body);
}

io::Task<Result<broker::Catalogue>> load_or_create_catalogue(log::FileSystem& fs, const std::string& data_dir) {
  SLUICE_ASSERT(!data_dir.empty());
  auto body = co_await read_whole_file(fs, catalogue_path(data_dir));
  if (!body.ok()) {
    if (body.error().code != ENOENT) co_return with_context(body.error(), "catalogue: open");
    broker::Catalogue c;
    c.cluster_id = broker::uuid_to_base64(broker::random_uuid());
    auto saved = co_await save_catalogue(fs, data_dir, c);
    if (!saved.ok()) co_return saved.error();
    co_return c;
  }
  co_return broker::Catalogue::parse(body.value());
}

}  // namespace sluice::core
