#include "common/daemon/settings.h"

#include "common/base/strings.h"

namespace titan::daemon {

using std::chrono::milliseconds;

LogSettings readLog(config::Section s) {
    LogSettings out;
    auto level = s.getEnum("level", "info", {"debug", "info", "warning", "error"});
    out.level = log::parseLevel(level).value_or(log::Level::Info);
    out.sink = s.getEnum("sink", "stderr", {"stderr", "syslog"}) == "syslog" ? log::Sink::Syslog : log::Sink::Stderr;
    out.format = s.getEnum("format", "logfmt", {"logfmt", "json"}) == "json" ? log::Format::Json : log::Format::Logfmt;
    return out;
}

void applyLog(const LogSettings& settings, std::string_view ident) {
    log::configure(settings.level, settings.sink, settings.format, ident);
}

sql::Options readDatabase(config::Section s) {
    sql::Options o;
    for (const auto& h : s.getStringList("hosts", {"127.0.0.1:3306"})) {
        sql::HostSpec spec;
        if (!h.empty() && h.front() == '/') {
            spec.unix_socket = h;
            spec.host = "localhost";
        } else {
            auto colon = h.rfind(':');
            spec.host = colon == std::string::npos ? h : h.substr(0, colon);
            if (colon != std::string::npos) {
                auto port = base::parseUnsigned(h.substr(colon + 1));
                if (!port || *port == 0 || *port > 65535) {
                    s.error("hosts", "bad port in '" + h + "'");
                } else {
                    spec.port = static_cast<unsigned>(*port);
                }
            }
        }
        o.hosts.push_back(spec);
    }
    if (o.hosts.empty()) s.error("hosts", "at least one database host is required");
    o.user = s.getString("user", "titan");
    o.password = s.getSecretFile("password_file");
    o.database = s.getString("name", "titan");
    o.charset = s.getString("charset", "utf8mb4");
    o.connect_timeout = s.getDuration("connect_timeout", milliseconds(2000), milliseconds(100), milliseconds(60000));
    o.read_timeout = s.getDuration("read_timeout", milliseconds(5000), milliseconds(1000), milliseconds(600000));
    o.write_timeout = s.getDuration("write_timeout", milliseconds(5000), milliseconds(1000), milliseconds(600000));
    o.retry_interval = s.getDuration("retry_interval", milliseconds(2000), milliseconds(100), milliseconds(600000));
    o.queue_timeout = s.getDuration("queue_timeout", milliseconds(5000), milliseconds(100), milliseconds(600000));
    o.pool_size = static_cast<unsigned>(s.getInt("pool_size", 4, 1, 256));
    o.max_queue = static_cast<size_t>(s.getInt("max_queue", 10000, 1, 10000000));
    return o;
}

event::ListenSpec readListen(config::Section s, unsigned default_mode) {
    event::ListenSpec spec;
    spec.path = s.getString("path", "");
    spec.address = s.getString("address", "");
    spec.mode = s.getFileMode("mode", default_mode);
    spec.group = s.getString("group", "");
    spec.backlog = static_cast<int>(s.getInt("backlog", 128, 1, 65535));
    if (spec.path.empty() == spec.address.empty()) s.error("", "set exactly one of 'path' or 'address'");
    if (!spec.path.empty() && spec.path.front() != '/') s.error("path", "must be an absolute path");
    return spec;
}

event::ServerLimits readLimits(config::Section s, const event::ServerLimits& d) {
    event::ServerLimits l = d;
    l.max_connections = static_cast<size_t>(s.getInt("max_connections", static_cast<long long>(d.max_connections), 1, 1000000));
    l.idle_timeout = s.getDuration("idle_timeout", d.idle_timeout, milliseconds(100), milliseconds(86400000));
    l.max_line_bytes = static_cast<size_t>(s.getSize("max_line_bytes", d.max_line_bytes, 64, 16u << 20));
    l.max_pending = static_cast<size_t>(s.getInt("max_pending", static_cast<long long>(d.max_pending), 1, 100000));
    l.max_output_bytes = static_cast<size_t>(s.getSize("max_output_bytes", d.max_output_bytes, 4096, 1u << 30));
    return l;
}

RunAs readRunAs(config::Section s) {
    RunAs r;
    r.user = s.getString("user", "");
    r.group = s.getString("group", "");
    return r;
}

CommonSettings readCommon(config::Section root) {
    CommonSettings c;
    c.log = readLog(root.child("log"));
    c.metrics_address = root.child("metrics").getString("listen", "");
    if (root.has("admin")) c.admin = readListen(root.child("admin"), 0600);
    c.run_as = readRunAs(root.child("run_as"));
    return c;
}

}  // namespace titan::daemon
