#pragma once
// Persistence of the topic catalogue (<data-dir>/meta/catalogue) through the shard's
// log::FileSystem, so an in-process broker over MemFileSystem crashes and recovers its catalogue
// with its partitions (the simulation covers it). Shard 0 owns the file; every write is
// write temp + datasync + rename + sync of the directory, so a crash leaves the old or the new
// catalogue, never a torn one (a torn file is refused by Catalogue::parse all the same).
#include <string>

#include "alloc/result.h"
#include "engine/broker/catalogue.h"
#include "engine/log/file_io.h"
#include "io/task.h"

namespace sluice::core {

// The catalogue's path under data_dir.
std::string catalogue_path(const std::string& data_dir);

io::Task<Result<void>> save_catalogue(log::FileSystem& fs, const std::string& data_dir, const broker::Catalogue& c);

// Reads the catalogue; when there is none, creates (and persists) an empty one with a new
// cluster id.
io::Task<Result<broker::Catalogue>> load_or_create_catalogue(log::FileSystem& fs, const std::string& data_dir);

}  // namespace sluice::core
