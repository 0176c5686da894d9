// titanctl: the operator's command line (see `titanctl --help`).
#include <unistd.h>

#include <iostream>

#include "titanctl/commands.h"

int main(int argc, char** argv) {
    std::string config_path = titan::authd::kDefaultConfigPath;
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "--config" || a == "-c") && i + 1 < argc) {
            config_path = argv[++i];
        } else if (a == "--help" || a == "-h") {
            std::cout << titan::ctl::usage();
            return 0;
        } else {
            args.push_back(a);
        }
    }
    auto loaded = titan::authd::loadConfig(config_path);
    if (!loaded) {
        std::cerr << "titanctl: " << config_path << ": configuration errors:\n" << loaded.error().message << "\n";
        return 2;
    }
    titan::ctl::Context ctx{*loaded->config, std::cout, std::cerr, std::cin, isatty(STDIN_FILENO) == 1};
    return titan::ctl::run(ctx, args);
}
