// The admin unix socket every daemon offers to titanctl and operators.
// Protocol: one command per line ("stats", "cache-flush bob@example.test", ...);
// the answer is zero or more text lines, then "OK" or "ERR <message>" on a line of
// its own. Commands are registered by the daemon. Loop thread only.
// Layer: common/daemon.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/result.h"
#include "common/event/line_server.h"

namespace titan::daemon {

class AdminServer {
public:
    // Result body: the text lines before "OK" (may be empty; each line ends in '\n').
    using Command = std::function<Result<std::string>(const std::vector<std::string>& args)>;

    explicit AdminServer(event::Loop& loop);
    void add(const std::string& name, std::string help, Command command);
    Status listen(const event::ListenSpec& spec) { return server_.listen(spec); }
    event::LineServer& server() { return server_; }

    // Run one command line (also used by tests). Always returns the full reply text.
    std::string execute(std::string_view line);

private:
    struct Entry {
        std::string help;
        Command command;
    };
    std::map<std::string, Entry> commands_;
    event::LineServer server_;
};

}  // namespace titan::daemon
