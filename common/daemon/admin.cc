#include "common/daemon/admin.h"

#include "common/base/strings.h"
#include "common/log/log.h"

namespace titan::daemon {
namespace {

class AdminSession : public event::LineHandler {
public:
    AdminSession(event::LineConnection& conn, AdminServer& admin) : conn_(conn), admin_(admin) {}
    void onLine(std::string_view line) override { conn_.write(admin_.execute(line)); }

private:
    event::LineConnection& conn_;
    AdminServer& admin_;
};

event::ServerLimits adminLimits() {
    event::ServerLimits l;
    l.max_connections = 16;
    l.idle_timeout = std::chrono::milliseconds(300000);
    l.max_line_bytes = 4096;
    l.max_pending = 1;
    l.strip_cr = true;
    return l;
}

}  // namespace

AdminServer::AdminServer(event::Loop& loop)
    : server_(loop, "admin", adminLimits(),
              [this](event::LineConnection& c) { return std::make_unique<AdminSession>(c, *this); }) {
    add("help", "list commands", [this](const std::vector<std::string>&) -> Result<std::string> {
        std::string out;
        for (const auto& [name, e] : commands_) out += name + "\t" + e.help + "\n";
        return out;
    });
}

void AdminServer::add(const std::string& name, std::string help, Command command) {
    commands_[name] = Entry{std::move(help), std::move(command)};
}

std::string AdminServer::execute(std::string_view line) {
    std::vector<std::string> words;
    for (auto w : base::split(line, ' ')) {
        if (!w.empty()) words.emplace_back(w);
    }
    if (words.empty()) return "ERR empty command\n";
    auto it = commands_.find(words.front());
    if (it == commands_.end()) return "ERR unknown command (try 'help')\n";
    std::vector<std::string> args(words.begin() + 1, words.end());
    auto result = it->second.command(args);
    if (!result) return "ERR " + result.error().message + "\n";
    log::info("admin command", {{"command", words.front()}});
    return *result + "OK\n";
}

}  // namespace titan::daemon
