// titanctl: the operator's command line (see `titanctl --help`).
#include <unistd.h>

#include <iostream>
#include <memory>

#include "titanctl/commands.h"

int main(int argc, char** argv) {
    std::string config_path = titan::authd::kDefaultConfigPath;
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "--config" || a == "-c") && i + 1 < argc) {
            config_path = argv[++i];
        } else if ((a == "--help" || a == "-h") && args.empty()) {
            std::cout << titan::ctl::usage();
            return 0;
        } else {
            args.push_back(a == "--help" || a == "-h" ? "help" : a);
        }
    }
    // Help needs no configuration: `titanctl policy help` works before authd is set up.
    const bool help = args.empty() || args[0] == "help" || (args.size() >= 2 && args[1] == "help");
    titan::authd::AuthdConfig defaults;
    std::shared_ptr<const titan::authd::AuthdConfig> config;
    if (!help) {
        auto loaded = titan::authd::loadConfig(config_path);
        if (!loaded) {
            std::cerr << "titanctl: " << config_path << ": configuration errors:\n" << loaded.error().message << "\n";
            return 2;
        }
        config = loaded->config;
    }
    titan::ctl::Context ctx{config ? *config : defaults, std::cout, std::cerr, std::cin, isatty(STDIN_FILENO) == 1};
    return titan::ctl::run(ctx, args);
}
