// A main() for the fuzz targets when libFuzzer is not available (gcc builds,
// plain ctest runs). It runs the seed corpus, then pseudo-random and mutated
// inputs from a fixed seed, so a failure reproduces on every machine.
//
//   <target> [N | -runs=N] [corpus dir or file]...
//   <target> crash-input-file        (only files: run exactly those, once)
//
// N (or MAILGATE_FUZZ_RUNS) is the number of generated inputs; without it the
// driver generates inputs for MAILGATE_FUZZ_SECONDS (default 10) seconds.
// MAILGATE_FUZZ_SEED changes the seed. Each input sits in a buffer of exactly
// its size so that AddressSanitizer sees any over-read.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

namespace fs = std::filesystem;

// Tokens of the mail protocols: mutations that splice these reach deeper
// states than bit flips alone.
const char* const kDictionary[] = {
    "\r\n", "\n", " ", "\"", "\\", "(", ")", "{", "}", "+", "*", "=", "NIL", "{0}\r\n", "{5}\r\n",
    "{5+}\r\n", "{4294967296}\r\n", "{18446744073709551616+}\r\n", "a LOGIN ", "a AUTHENTICATE PLAIN ",
    "AUTHENTICATE LOGIN\r\n", "XOAUTH2 ", "OAUTHBEARER ", "STARTTLS\r\n", "CAPABILITY", "a ID (\"name\" \"x\")\r\n",
    "NOOP\r\n", "LOGOUT\r\n", "* OK ", "* PREAUTH ", "* BYE ", "* CAPABILITY ", "[CAPABILITY ", "M1 OK ",
    "M1 NO ", "M1 BAD ", "M2 OK ", "M3 OK ", "+ \r\n", "AUTH=PLAIN", "SASL-IR", "LITERAL+", "AUTH=XOAUTH2",
    "AUTH=OAUTHBEARER", "LOGINDISABLED", "[UNAVAILABLE]", "AGFsaWNlAHNlY3JldA==", "AQ==", "USER ", "PASS ",
    "AUTH ", "EHLO ", "+OK ", "-ERR ", "250 ", "334 ", "235 ",
};

std::vector<std::string> loadSeeds(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      for (const auto& e : fs::directory_iterator(p, ec)) {
        if (e.is_regular_file()) files.push_back(e.path().string());
      }
    } else if (fs::is_regular_file(p, ec)) {
      files.push_back(p);
    } else {
      std::fprintf(stderr, "standalone_driver: no such corpus path: %s\n", p.c_str());
    }
  }
  std::sort(files.begin(), files.end());  // directory order is not deterministic
  std::vector<std::string> seeds;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    seeds.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return seeds;
}

void runOne(const std::string& input) {
  // Exactly-sized copy: no slack after the last byte for a parser to read.
  std::unique_ptr<uint8_t[]> buf(new uint8_t[input.size() ? input.size() : 1]);
  if (!input.empty()) std::memcpy(buf.get(), input.data(), input.size());
  LLVMFuzzerTestOneInput(buf.get(), input.size());
}

class Generator {
 public:
  Generator(uint64_t seed, const std::vector<std::string>& seeds) : rng_(seed), seeds_(seeds) {}

  std::string next() {
    if (seeds_.empty() || pick(4) == 0) return randomInput();
    std::string s = seeds_[pick(seeds_.size())];
    const size_t rounds = 1 + pick(8);
    for (size_t i = 0; i < rounds; ++i) mutate(s);
    if (s.size() > kMaxInput) s.resize(kMaxInput);
    return s;
  }

 private:
  static constexpr size_t kMaxInput = 64 * 1024;

  size_t pick(size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }

  std::string randomInput() {
    std::string s;
    const size_t len = pick(2) ? pick(64) : pick(4096);
    const bool text = pick(2) == 0;
    while (s.size() < len) {
      if (text && pick(3) == 0) {
        s += kDictionary[pick(std::size(kDictionary))];
      } else {
        s += static_cast<char>(text ? 0x20 + pick(0x5f) : pick(256));
      }
    }
    return s;
  }

  void mutate(std::string& s) {
    const size_t pos = pick(s.size() + 1);
    switch (pick(8)) {
      case 0:  // flip a bit
        if (!s.empty()) s[pick(s.size())] ^= static_cast<char>(1u << pick(8));
        break;
      case 1:  // random byte
        s.insert(pos, 1, static_cast<char>(pick(256)));
        break;
      case 2:  // erase a run
        if (!s.empty()) s.erase(pick(s.size()), 1 + pick(16));
        break;
      case 3:  // dictionary token
        s.insert(pos, kDictionary[pick(std::size(kDictionary))]);
        break;
      case 4: {  // duplicate a run (repetition finds limit bugs)
        if (s.empty()) break;
        const size_t from = pick(s.size());
        const std::string run = s.substr(from, 1 + pick(64));
        for (size_t n = 1 + pick(16); n > 0; --n) s.insert(pos, run);
        break;
      }
      case 5:  // splice with another seed
        if (!seeds_.empty()) {
          const std::string& other = seeds_[pick(seeds_.size())];
          s = s.substr(0, pos) + other.substr(pick(other.size() + 1));
        }
        break;
      case 6:  // truncate
        s.resize(pos);
        break;
      case 7:  // a long run of one byte
        s.insert(pos, 1 + pick(pick(2) ? 256 : 20000), static_cast<char>(pick(256)));
        break;
    }
  }

  std::mt19937_64 rng_;
  const std::vector<std::string>& seeds_;
};

uint64_t envNumber(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  long long runs = -1;
  std::vector<std::string> paths;
  bool onlyFiles = argc > 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("-runs=", 0) == 0) {
      runs = std::atoll(a.c_str() + 6);
      onlyFiles = false;
    } else if (!a.empty() && std::all_of(a.begin(), a.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      runs = std::atoll(a.c_str());
      onlyFiles = false;
    } else {
      if (!fs::is_regular_file(a)) onlyFiles = false;
      paths.push_back(a);
    }
  }
  const std::vector<std::string> seeds = loadSeeds(paths);
  for (const auto& s : seeds) runOne(s);
  if (onlyFiles) {
    std::printf("standalone_driver: ran %zu input file(s)\n", seeds.size());
    return 0;
  }
  if (runs < 0 && envNumber("MAILGATE_FUZZ_RUNS", 0) > 0) {
    runs = static_cast<long long>(envNumber("MAILGATE_FUZZ_RUNS", 0));
  }
  const auto budget = std::chrono::seconds(envNumber("MAILGATE_FUZZ_SECONDS", 10));
  const auto start = std::chrono::steady_clock::now();
  Generator gen(envNumber("MAILGATE_FUZZ_SEED", 0x6d61696c67617465ull), seeds);
  long long done = 0;
  for (; runs < 0 || done < runs; ++done) {
    if (runs < 0 && (done & 63) == 0 && std::chrono::steady_clock::now() - start > budget) break;
    runOne(gen.next());
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("standalone_driver: %zu seed(s), %lld generated input(s) in %.1f s\n", seeds.size(), done, secs);
  return 0;
}
