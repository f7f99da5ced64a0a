// Catalogue persistence through log::FileSystem: round trip on a real directory (PosixFileSystem)
// and on MemFileSystem, whose crash() keeps only what was made durable: a crash at any point of a
// save leaves the previous or the new catalogue, never a torn or missing one.
#include "engine/core/catalogue_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "engine/log/mem_file_system.h"
#include "engine/log/posix_file_system.h"
#include "tests/core/core_test_util.h"

namespace sluice::core {
namespace {

using testing::on_shard;

broker::TopicInfo topic(const std::string& name, int32_t partitions) {
  broker::TopicInfo t;
  t.name = name;
  t.topic_id = broker::random_uuid();
  for (int32_t i = 0; i < partitions; ++i) t.partition_owner_shard.push_back(static_cast<uint16_t>(i % 2));
  t.configs["retention.ms"] = "1000";
  return t;
}

io::Task<void> round_trip(log::FileSystem& fs, const std::string& dir) {
  auto c = co_await load_or_create_catalogue(fs, dir);
  EXPECT_TRUE(c.ok());
  if (!c.ok()) co_return;
  EXPECT_FALSE(c->cluster_id.empty());
  const broker::TopicInfo t = topic("orders", 3);
  c->add(t);
  c->next_producer_id = 5000;
  auto saved = co_await save_catalogue(fs, dir, c.value());
  EXPECT_TRUE(saved.ok());
  auto again = co_await load_or_create_catalogue(fs, dir);
  EXPECT_TRUE(again.ok());
  if (!again.ok()) co_return;
  EXPECT_EQ(again->cluster_id, c->cluster_id);
  EXPECT_EQ(again->next_producer_id, 5000);
  const broker::TopicInfo* o = again->find("orders");
  EXPECT_NE(o, nullptr);
  if (o == nullptr) co_return;
  EXPECT_EQ(o->partition_count(), 3);
  EXPECT_EQ(o->partition_owner_shard[2], 0);
  EXPECT_EQ(o->configs.at("retention.ms"), "1000");
  EXPECT_EQ(o->topic_id, t.topic_id);
}

TEST(CatalogueStore, RoundTripOnDisk) {
  const auto dir = std::filesystem::temp_directory_path() / ("sluice-cat-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  log::PosixFileSystem fs;
  if (!on_shard([&]() -> io::Task<void> { co_await round_trip(fs, dir.string()); })) GTEST_SKIP() << "no io_uring";
  EXPECT_TRUE(std::filesystem::exists(dir / "meta" / "catalogue"));
  EXPECT_FALSE(std::filesystem::exists(dir / "meta" / "catalogue.tmp"));
  std::filesystem::remove_all(dir);
}

TEST(CatalogueStore, RoundTripInMemory) {
  log::MemFileSystem fs;
  if (!on_shard([&]() -> io::Task<void> { co_await round_trip(fs, "/data"); })) GTEST_SKIP() << "no io_uring";
}

// Each save is durable before it returns: after a crash the last saved catalogue is there.
TEST(CatalogueStore, SavedCatalogueSurvivesCrash) {
  for (auto mode : {log::MemFileSystem::CrashMode::kDropUnsynced, log::MemFileSystem::CrashMode::kTornLastWrite,
                    log::MemFileSystem::CrashMode::kRandomSectors}) {
    log::MemFileSystem fs(7);
    bool ran = on_shard([&]() -> io::Task<void> {
      auto c = co_await load_or_create_catalogue(fs, "/data");
      EXPECT_TRUE(c.ok());
      c->add(topic("a", 1));
      auto saved = co_await save_catalogue(fs, "/data", c.value());
      EXPECT_TRUE(saved.ok());
      fs.crash(mode);
      auto back = co_await load_or_create_catalogue(fs, "/data");
      EXPECT_TRUE(back.ok());
      EXPECT_EQ(back->cluster_id, c->cluster_id);
      EXPECT_NE(back->find("a"), nullptr);
    });
    if (!ran) GTEST_SKIP() << "no io_uring";
  }
}

// A save that fails part-way (the rename's directory entry never made durable, a failed write,
// a failed sync) leaves the previous catalogue readable after a crash, never a torn file.
TEST(CatalogueStore, FailedSaveKeepsThePreviousCatalogue) {
  for (int fault = 0; fault < 3; ++fault) {
    log::MemFileSystem fs(fault + 11);
    bool ran = on_shard([&]() -> io::Task<void> {
      auto c = co_await load_or_create_catalogue(fs, "/data");
      EXPECT_TRUE(c.ok());
      c->add(topic("first", 1));
      auto first = co_await save_catalogue(fs, "/data", c.value());
      EXPECT_TRUE(first.ok());
      broker::Catalogue next = c.value();
      next.add(topic("second", 2));
      if (fault == 0) fs.fail_next_writes(1, ENOSPC);
      if (fault == 1) fs.fail_next_syncs(1, EIO);
      auto saved = co_await save_catalogue(fs, "/data", next);
      EXPECT_EQ(saved.ok(), fault == 2);
      fs.crash(log::MemFileSystem::CrashMode::kTornLastWrite);
      auto back = co_await load_or_create_catalogue(fs, "/data");
      EXPECT_TRUE(back.ok()) << (back.ok() ? "" : back.error().describe());
      if (!back.ok()) co_return;
      EXPECT_NE(back->find("first"), nullptr);
      // Only the save that returned success must have made "second" durable.
      EXPECT_EQ(back->find("second") != nullptr, fault == 2);
    });
    if (!ran) GTEST_SKIP() << "no io_uring";
  }
}

// A file that is not a whole catalogue is refused, not read as an empty one.
TEST(CatalogueStore, TornFileIsRefused) {
  log::MemFileSystem fs;
  bool ran = on_shard([&]() -> io::Task<void> {
    auto c = co_await load_or_create_catalogue(fs, "/data");
    EXPECT_TRUE(c.ok());
    c->add(topic("a", 1));
    const std::string text = c->serialize();
    auto f = co_await fs.open(catalogue_path("/data"), log::OpenOptions{});
    EXPECT_TRUE(f.ok());
    auto cut = co_await f.value()->truncate(0);
    EXPECT_TRUE(cut.ok());
    const std::string torn = text.substr(0, text.size() / 2);
    auto wrote = co_await f.value()->write(0, std::as_bytes(std::span<const char>(torn.data(), torn.size())));
    EXPECT_TRUE(wrote.ok());
    auto back = co_await load_or_create_catalogue(fs, "/data");
    EXPECT_FALSE(back.ok());
  });
  if (!ran) GTEST_SKIP() << "no io_uring";
}

}  // namespace
}  // namespace sluice::core
