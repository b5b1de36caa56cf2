// Output paths and file writing (see include/mixhic/output_files.hpp).
#include "mixhic/output_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <system_error>

#include "mixhic/check.hpp"

namespace fs = std::filesystem;

namespace mixhic {

namespace {

std::string describe(const fs::path& p) {
  std::error_code ec;
  switch (fs::status(p, ec).type()) {
    case fs::file_type::regular: return "a regular file";
    case fs::file_type::not_found: return "missing";
    case fs::file_type::directory: return "a directory";
    default: return "not a regular file or directory";
  }
}

// Creates and removes a file in `dir`: the only reliable test of writability (access(2) does not
// see read-only mounts, ACLs or quotas the same way).
void probe_writable(const std::string& dir, const std::string& option) {
  const std::string probe = (fs::path(dir) / fmt::format(".mixhic-write-probe-{}", ::getpid())).string();
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    throw InputFormatError(dir, option, "a directory this user can write to",
                           fmt::format("cannot create a file there: {}", std::strerror(errno)));
  ::close(fd);
  ::unlink(probe.c_str());
}

}  // namespace

void check_output_dir(const std::string& dir, const std::string& option) {
  std::error_code ec;
  fs::file_status st = fs::status(dir, ec);
  if (st.type() == fs::file_type::not_found) {
    fs::create_directories(dir, ec);
    if (ec)
      throw InputFormatError(dir, option, "a directory that exists or can be made",
                             fmt::format("cannot make it: {}", ec.message()));
  } else if (ec) {
    throw InputFormatError(dir, option, "an accessible directory", ec.message());
  } else if (st.type() != fs::file_type::directory) {
    throw InputFormatError(dir, option, "a directory", describe(dir));
  }
  probe_writable(dir, option);
}

void check_output_file(const std::string& path, const std::string& option) {
  if (fs::is_directory(path)) throw InputFormatError(path, option, "a file name", "a directory");
  fs::path parent = fs::path(path).parent_path();
  if (parent.empty()) parent = ".";
  std::error_code ec;
  fs::file_status st = fs::status(parent, ec);
  if (st.type() != fs::file_type::directory)
    throw InputFormatError(path, option, fmt::format("a file in an existing directory ({})", parent.string()),
                           fmt::format("{} is {}", parent.string(), describe(parent)));
  probe_writable(parent.string(), option);
}

void check_free_space(const std::string& dir, int64_t bytes, const std::string& what) {
  struct statvfs vfs {};
  if (::statvfs(dir.c_str(), &vfs) != 0) return;
  const double available = double(vfs.f_bavail) * double(vfs.f_frsize);
  if (available < double(bytes))
    throw InputFormatError(dir, "free space", fmt::format("at least {} for {}", human_bytes(double(bytes)), what),
                           fmt::format("{} available", human_bytes(available)));
}

void write_file(const std::string& path, const void* data, size_t n, bool durable) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw Error(fmt::format("{}: cannot create: {}", path, std::strerror(errno)));
  const char* p = static_cast<const char*>(data);
  size_t left = n;
  int err = 0;
  while (left > 0) {
    ssize_t w = ::write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    p += w;
    left -= size_t(w);
  }
  if (!err && durable && ::fsync(fd) != 0 && errno != EINVAL) err = errno;  // EINVAL: a device (no fsync)
  struct stat st {};
  const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  if (::close(fd) != 0 && !err) err = errno;  // NFS reports a full disk at close
  if (err) {
    if (regular) ::unlink(path.c_str());  // never a device or a pipe the caller named
    throw Error(fmt::format("{}: cannot write {} bytes: {}", path, n, std::strerror(err)));
  }
}

void replace_file(const std::string& path, const void* data, size_t n) {
  const std::string tmp = path + ".tmp";
  write_file(tmp, data, n, /*durable=*/false);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw Error(fmt::format("{}: cannot rename {} into place: {}", path, tmp, std::strerror(err)));
  }
}

std::string human_bytes(double bytes) {
  if (bytes >= 1e9) return fmt::format("{:.1f} GB", bytes / 1e9);
  if (bytes >= 1e6) return fmt::format("{:.0f} MB", bytes / 1e6);
  return fmt::format("{:.0f} KB", bytes / 1e3);
}

std::string iso_utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return buf;
}

}  // namespace mixhic
