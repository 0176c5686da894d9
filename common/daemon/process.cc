#include "common/daemon/process.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace titan::daemon {

std::string usage(const std::string& program, const std::string& default_config) {
    return "usage: " + program +
           " [--config PATH] [--check-config] [--dump-config] [--version]\n"
           "  --config PATH    configuration file (default " +
           default_config +
           ")\n"
           "  --check-config   validate the configuration and exit\n"
           "  --dump-config    print the effective configuration, secrets redacted, and exit\n";
}

Result<CommandLine> parseCommandLine(int argc, char** argv, const std::string& default_config) {
    CommandLine cl;
    cl.config_path = default_config;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "--config" || a == "-c") && i + 1 < argc) {
            cl.config_path = argv[++i];
        } else if (a.rfind("--config=", 0) == 0) {
            cl.config_path = a.substr(9);
        } else if (a == "--check-config") {
            cl.check_config = true;
        } else if (a == "--dump-config") {
            cl.dump_config = true;
        } else if (a == "--help" || a == "-h") {
            cl.help = true;
        } else if (a == "--version") {
            cl.version = true;
        } else {
            return Error::invalidInput("unknown argument '" + a + "'\n" + usage(argv[0], default_config));
        }
    }
    return cl;
}

Status dropPrivileges(const RunAs& run_as) {
    if (run_as.user.empty()) return {};
    struct passwd* pw = getpwnam(run_as.user.c_str());
    if (pw == nullptr) return Error::config("run_as.user: unknown user '" + run_as.user + "'");
    gid_t gid = pw->pw_gid;
    if (!run_as.group.empty()) {
        struct group* gr = getgrnam(run_as.group.c_str());
        if (gr == nullptr) return Error::config("run_as.group: unknown group '" + run_as.group + "'");
        gid = gr->gr_gid;
    }
    uid_t uid = pw->pw_uid;
    if (setgroups(1, &gid) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) {
        return Error::config(std::string("cannot drop privileges: ") + std::strerror(errno));
    }
    if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        return Error::config("privilege drop failed: root could be regained");
    }
    return {};
}

}  // namespace titan::daemon
