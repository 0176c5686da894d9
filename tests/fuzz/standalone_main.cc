// Replay driver for fuzz targets built without a fuzzing engine (STYLE 3.2): calls
// LLVMFuzzerTestOneInput once per input file so the seed corpus runs under ctest.
// It does not mutate inputs or measure coverage. Arguments are files or directories
// (every regular file inside, sorted, not recursive); arguments starting with '-' are
// libFuzzer flags and are ignored, so one command line works for both builds.
// Layer: tests.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

namespace fs = std::filesystem;

bool collect(const std::string& arg, std::vector<fs::path>& out) {
    std::error_code ec;
    const fs::path path(arg);
    if (fs::is_directory(path, ec)) {
        std::vector<fs::path> files;
        for (const auto& entry : fs::directory_iterator(path, ec)) {
            if (entry.is_regular_file(ec)) files.push_back(entry.path());
        }
        if (ec) return false;
        std::sort(files.begin(), files.end());
        out.insert(out.end(), files.begin(), files.end());
        return true;
    }
    if (fs::is_regular_file(path, ec)) {
        out.push_back(path);
        return true;
    }
    return false;
}

}  // namespace

int main(int argc, char** argv) {
    if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
    std::vector<fs::path> inputs;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg.empty() || arg.front() == '-') continue;
        if (!collect(arg, inputs)) {
            std::fprintf(stderr, "cannot read %s\n", arg.c_str());
            return 2;
        }
    }
    if (inputs.empty()) {
        std::fprintf(stderr, "usage: %s FILE_OR_DIR...  (no inputs found)\n", argv[0]);
        return 2;
    }
    for (const auto& path : inputs) {
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            std::fprintf(stderr, "cannot open %s\n", path.c_str());
            return 2;
        }
        const std::string bytes((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
        // An exact-size heap copy, so a sanitizer build catches reads past the end.
        auto copy = std::make_unique<std::uint8_t[]>(bytes.size() + (bytes.empty() ? 1 : 0));
        std::copy(bytes.begin(), bytes.end(), copy.get());
        std::fprintf(stderr, "running %s (%zu bytes)\n", path.c_str(), bytes.size());
        LLVMFuzzerTestOneInput(copy.get(), bytes.size());
    }
    std::fprintf(stderr, "replayed %zu inputs\n", inputs.size());
    return 0;
}
