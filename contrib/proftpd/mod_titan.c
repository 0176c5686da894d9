/*
 * mod_titan: FTP virtual users for ProFTPd 1.3.8, served by titan-authd.
 *
 * The same mailboxes table that serves IMAP, POP3 and SMTP AUTH serves FTP: a login
 * name "local@domain" is looked up in titan-authd (home, uid, gid, transfer limits)
 * and its password checked there, with the same password schemes, app passwords
 * scoped to "ftp", brute-force budget, cache and outage behaviour as the mail
 * protocols. It replaces mod_sql + mod_quotatab_sql for these users.
 *
 * Transport: HTTP/1.0 POST with JSON bodies to authd's loopback HTTP API
 * (docs/protocols/ftp.md), one short connection per request, bounded in time
 * (TitanConnectTimeout, TitanTimeout) and size (titan_client.h).
 *
 * Decisions:
 *  - names without '@' are never asked about: local accounts keep working whatever
 *    authd's state, and the daemon's own lookups (User, Group) stay local;
 *  - a name authd does not know is DECLINED, so the next module in AuthOrder answers;
 *  - before login, "try again later" (database down and user not cached, authd
 *    unreachable, throttled) closes the session with 421; it is never a login;
 *  - after login, lookups of other names that fail are simply declined.
 *
 * Directives: TitanEngine on|off, TitanServer address:port, TitanConnectTimeout,
 * TitanTimeout (e.g. "500ms", "5s"), TitanKeyFile path (the bearer key authd's
 * ftp.key_file requires). With mod_quotatab loaded, "QuotaLimitTable titan:"
 * and "QuotaTallyTable titan:" take per-user limits and shared tallies from authd.
 * Build: contrib/proftpd/CMakeLists.txt. Layer: contrib (C, ProFTPd module API 0x20).
 */

#include "conf.h"
#include "privs.h"

#include <dlfcn.h>

/* Types only: mod_quotatab's functions are found at run time (it may be loaded after
 * this module, or not at all). */
#include "mod_quotatab.h"

#include "titan_client.h"

#define MOD_TITAN_VERSION "mod_titan/0.1"

#define TITAN_CACHE_SLOTS 8
#define TITAN_MAX_USER 512
#define TITAN_MAX_PASSWORD 1024

module titan_module;

static const char *trace_channel = "titan";

/* Session configuration (sess_init). */
static int titan_engine = FALSE;
static struct titan_endpoint titan_ep;
static long titan_connect_ms = 1000;
static long titan_total_ms = 5000;
static const char *titan_key = NULL; /* TitanKeyFile's content, read as root at startup */
static pool *titan_pool = NULL;

/* A user authd answered for in this session (the data handed to the core must outlive
 * the handler call, so it lives in titan_pool). */
struct titan_user {
  char *asked;        /* the name as looked up */
  struct passwd pw;   /* pw_name is the canonical name */
  int quota_per_session, quota_hard;
  double bytes_in, bytes_out, bytes_xfer;
  unsigned int files_in, files_out, files_xfer;
};

static struct titan_user *titan_cache[TITAN_CACHE_SLOTS];
static unsigned int titan_cache_next = 0;

/* Response buffers: one request at a time per session process. */
static char titan_resp[TITAN_MAX_RESPONSE];
static char titan_store[TITAN_MAX_RESPONSE];
static struct titan_member titan_members[TITAN_MAX_MEMBERS];

enum titan_lookup_result { TITAN_FOUND, TITAN_NOT_FOUND, TITAN_INVALID, TITAN_UNAVAILABLE };

/* ---- helpers ---------------------------------------------------------------------- */

static void titan_on_eintr(void) {
  pr_signals_handle();
}

static const char *titan_http_error(int rc) {
  switch (rc) {
    case TITAN_HTTP_CONNECT: return "cannot connect to titan-authd";
    case TITAN_HTTP_TIMEOUT: return "titan-authd did not answer in time";
    case TITAN_HTTP_TOO_LARGE: return "titan-authd answer too large";
    case TITAN_HTTP_MALFORMED: return "malformed answer from titan-authd";
    default: return "connection to titan-authd failed";
  }
}

/* POST body to path; on success the members of the answer are in titan_members and
 * their count is returned; -1 on any failure (logged). */
static int titan_call(const char *path, const char *body, size_t body_len) {
  const char *resp_body = NULL;
  size_t resp_len = 0;
  int status = 0, rc, count;

  rc = titan_http_post(&titan_ep, path, titan_key, body, body_len, titan_connect_ms, titan_total_ms,
                       titan_on_eintr, titan_resp, sizeof(titan_resp), &status, &resp_body, &resp_len);
  if (rc != TITAN_HTTP_OK) {
    pr_log_pri(PR_LOG_WARNING, MOD_TITAN_VERSION ": %s: %s (%s)", path, titan_http_error(rc),
               titan_ep.host_header);
    return -1;
  }
  if (status != 200) {
    pr_log_pri(PR_LOG_WARNING, MOD_TITAN_VERSION ": %s: titan-authd answered HTTP %d%s", path, status,
               status == 401 ? " (TitanKeyFile does not hold authd's ftp.key_file key)" : "");
    return -1;
  }
  count = titan_json_parse_object(resp_body, resp_len, titan_members, TITAN_MAX_MEMBERS, titan_store,
                                  sizeof(titan_store));
  if (count < 0) {
    pr_log_pri(PR_LOG_WARNING, MOD_TITAN_VERSION ": %s: malformed JSON from titan-authd", path);
    return -1;
  }
  return count;
}

static int titan_parse_id(const char *text, unsigned long *out) {
  char *end = NULL;
  if (text == NULL || *text < '0' || *text > '9') return -1;
  errno = 0;
  *out = strtoul(text, &end, 10);
  if (errno != 0 || *end != '\0' || *out == 0 || *out >= 0xffffffffUL) return -1;
  return 0;
}

static double titan_parse_limit(const char *text) {
  char *end = NULL;
  double v;
  if (text == NULL) return 0.0;
  v = strtod(text, &end);
  if (end == text || *end != '\0' || v < 0.0) return 0.0;
  return v;
}

static int titan_is_true(const char *text) {
  return text != NULL && strcmp(text, "true") == 0;
}

static struct titan_user *titan_cache_find(const char *name) {
  unsigned int i;
  if (name == NULL) return NULL;
  for (i = 0; i < TITAN_CACHE_SLOTS; i++) {
    struct titan_user *u = titan_cache[i];
    if (u != NULL && (strcmp(u->asked, name) == 0 || strcmp(u->pw.pw_name, name) == 0)) {
      return u;
    }
  }
  return NULL;
}

static struct titan_user *titan_cache_find_uid(uid_t uid) {
  unsigned int i;
  /* the most recently added first: the logged-in user */
  for (i = 0; i < TITAN_CACHE_SLOTS; i++) {
    struct titan_user *u = titan_cache[(titan_cache_next + TITAN_CACHE_SLOTS - 1 - i) % TITAN_CACHE_SLOTS];
    if (u != NULL && u->pw.pw_uid == uid) return u;
  }
  return NULL;
}

/* Whether a failure may still end the session with 421: a client is connected and
 * nobody has logged in yet. */
static int titan_before_login(void) {
  return session.c != NULL && get_param_ptr(main_server->conf, "authenticated", FALSE) == NULL;
}

static void titan_refuse(const char *client_text, const char *why) {
  pr_log_pri(PR_LOG_NOTICE, MOD_TITAN_VERSION ": closing session from %s: %s",
             session.c != NULL ? pr_netaddr_get_ipstr(session.c->remote_addr) : "?", why);
  pr_response_send(R_421, "%s", client_text);
  pr_session_disconnect(&titan_module, PR_SESS_DISCONNECT_BY_APPLICATION, why);
}

/* Ask authd about `name`. */
static enum titan_lookup_result titan_lookup(const char *name, struct titan_user **out) {
  char body[TITAN_MAX_USER * 6 + 32];
  struct titan_buf b;
  struct titan_user *u;
  const char *status, *user, *home;
  unsigned long uid, gid;
  size_t len;
  int count;

  *out = NULL;
  if (!titan_engine || name == NULL || titan_pool == NULL) return TITAN_NOT_FOUND;
  len = strlen(name);
  /* Virtual users are local@domain; anything else belongs to other modules. */
  if (len == 0 || len > TITAN_MAX_USER || strchr(name, '@') == NULL || !titan_utf8_valid(name, len)) {
    return TITAN_NOT_FOUND;
  }
  u = titan_cache_find(name);
  if (u != NULL) {
    *out = u;
    return TITAN_FOUND;
  }

  titan_buf_init(&b, body, sizeof(body));
  titan_buf_adds(&b, "{\"user\":");
  titan_buf_json_string(&b, name, len);
  titan_buf_adds(&b, "}");
  if (b.failed) return TITAN_NOT_FOUND;

  count = titan_call("/ftp/v1/lookup", b.data, b.len);
  if (count < 0) return TITAN_UNAVAILABLE;
  status = titan_json_get(titan_members, count, "status");
  if (status == NULL) {
    pr_log_pri(PR_LOG_WARNING, MOD_TITAN_VERSION ": lookup answer without status");
    return TITAN_UNAVAILABLE;
  }
  if (strcmp(status, "not_found") == 0) {
    pr_trace_msg(trace_channel, 8, "lookup '%s': not found", name);
    return TITAN_NOT_FOUND;
  }
  if (strcmp(status, "invalid") == 0) {
    pr_log_pri(PR_LOG_NOTICE, MOD_TITAN_VERSION ": account '%s' is not usable for FTP (see titan-authd's log)",
               name);
    return TITAN_INVALID;
  }
  if (strcmp(status, "found") != 0) {
    pr_log_pri(PR_LOG_WARNING, MOD_TITAN_VERSION ": lookup '%s': %s", name, status);
    return TITAN_UNAVAILABLE;
  }

  user = titan_json_get(titan_members, count, "user");
  home = titan_json_get(titan_members, count, "home");
  if (user == NULL || *user == '\0' || home == NULL || home[0] != '/' ||
      titan_parse_id(titan_json_get(titan_members, count, "uid"), &uid) < 0 ||
      titan_parse_id(titan_json_get(titan_members, count, "gid"), &gid) < 0) {
    pr_log_pri(PR_LOG_WARNING, MOD_TITAN_VERSION ": lookup '%s': incomplete answer", name);
    return TITAN_UNAVAILABLE;
  }

  u = pcalloc(titan_pool, sizeof(*u));
  u->asked = pstrdup(titan_pool, name);
  u->pw.pw_name = pstrdup(titan_pool, user);
  u->pw.pw_passwd = pstrdup(titan_pool, "x"); /* never compared: authd checks passwords */
  u->pw.pw_uid = (uid_t) uid;
  u->pw.pw_gid = (gid_t) gid;
  u->pw.pw_gecos = pstrdup(titan_pool, "");
  u->pw.pw_dir = pstrdup(titan_pool, home);
  u->pw.pw_shell = NULL; /* passes RequireValidShell, as mod_sql's users do */
  u->quota_per_session = titan_is_true(titan_json_get(titan_members, count, "quota_per_session"));
  u->quota_hard = titan_is_true(titan_json_get(titan_members, count, "quota_hard"));
  u->bytes_in = titan_parse_limit(titan_json_get(titan_members, count, "bytes_in_avail"));
  u->bytes_out = titan_parse_limit(titan_json_get(titan_members, count, "bytes_out_avail"));
  u->bytes_xfer = titan_parse_limit(titan_json_get(titan_members, count, "bytes_xfer_avail"));
  u->files_in = (unsigned int) titan_parse_limit(titan_json_get(titan_members, count, "files_in_avail"));
  u->files_out = (unsigned int) titan_parse_limit(titan_json_get(titan_members, count, "files_out_avail"));
  u->files_xfer = (unsigned int) titan_parse_limit(titan_json_get(titan_members, count, "files_xfer_avail"));

  titan_cache[titan_cache_next] = u;
  titan_cache_next = (titan_cache_next + 1) % TITAN_CACHE_SLOTS;
  pr_trace_msg(trace_channel, 8, "lookup '%s': %s home %s uid %lu gid %lu", name, user, home, uid, gid);
  *out = u;
  return TITAN_FOUND;
}

/* ---- auth handlers ------------------------------------------------------------------ */

MODRET titan_getpwnam(cmd_rec *cmd) {
  struct titan_user *u = NULL;

  switch (titan_lookup(cmd->argv[0], &u)) {
    case TITAN_FOUND:
      return mod_create_data(cmd, &u->pw);
    case TITAN_NOT_FOUND:
      return PR_DECLINED(cmd);
    case TITAN_INVALID:
      /* Ours, but unusable: no other module may answer for it. */
      return PR_ERROR_INT(cmd, PR_AUTH_NOPWD);
    case TITAN_UNAVAILABLE:
      break;
  }
  if (titan_before_login()) {
    titan_refuse("Service not available, try again later", "user lookup temporarily unavailable");
  }
  return PR_DECLINED(cmd);
}

MODRET titan_getpwuid(cmd_rec *cmd) {
  struct titan_user *u;
  if (!titan_engine || cmd->argv[0] == NULL) return PR_DECLINED(cmd);
  u = titan_cache_find_uid(*((uid_t *) cmd->argv[0]));
  return u != NULL ? mod_create_data(cmd, &u->pw) : PR_DECLINED(cmd);
}

MODRET titan_name2uid(cmd_rec *cmd) {
  struct titan_user *u = NULL;
  if (titan_lookup(cmd->argv[0], &u) != TITAN_FOUND) return PR_DECLINED(cmd);
  return mod_create_data(cmd, (void *) &u->pw.pw_uid);
}

MODRET titan_uid2name(cmd_rec *cmd) {
  struct titan_user *u;
  if (!titan_engine || cmd->argv[0] == NULL) return PR_DECLINED(cmd);
  u = titan_cache_find_uid(*((uid_t *) cmd->argv[0]));
  return u != NULL ? mod_create_data(cmd, u->pw.pw_name) : PR_DECLINED(cmd);
}

/* The primary group only: authd has no supplementary groups. The group's name comes
 * from the other modules (e.g. /etc/group), or is the number. */
MODRET titan_getgroups(cmd_rec *cmd) {
  static int zero = 0;
  struct titan_user *u;
  array_header *gids, *names;

  if (!titan_engine) return PR_DECLINED(cmd);
  u = titan_cache_find(cmd->argv[0]);
  if (u == NULL) return PR_DECLINED(cmd);
  gids = (array_header *) cmd->argv[1];
  names = (array_header *) cmd->argv[2];
  if (gids != NULL) {
    *((gid_t *) push_array(gids)) = u->pw.pw_gid;
  }
  if (names != NULL) {
    const char *name = pr_auth_gid2name(cmd->tmp_pool, u->pw.pw_gid);
    *((char **) push_array(names)) = pstrdup(titan_pool, name != NULL ? name : "");
  }
  if (gids != NULL) return mod_create_data(cmd, (void *) &gids->nelts);
  if (names != NULL) return mod_create_data(cmd, (void *) &names->nelts);
  return mod_create_data(cmd, (void *) &zero);
}

MODRET titan_auth(cmd_rec *cmd) {
  char body[TITAN_MAX_USER * 6 + TITAN_MAX_PASSWORD * 2 + 256];
  struct titan_buf b;
  struct titan_user *u;
  const char *name = cmd->argv[0];
  char *pass = cmd->argv[1];
  const char *status, *reason;
  size_t pass_len;
  int count;

  if (!titan_engine) return PR_DECLINED(cmd);
  u = titan_cache_find(name);
  if (u == NULL) return PR_DECLINED(cmd); /* not a user we answered getpwnam for */

  pass_len = pass != NULL ? strlen(pass) : 0;
  if (pass_len == 0 || pass_len > TITAN_MAX_PASSWORD) {
    return PR_ERROR_INT(cmd, PR_AUTH_BADPWD);
  }
  titan_buf_init(&b, body, sizeof(body));
  titan_buf_adds(&b, "{\"user\":");
  titan_buf_json_string(&b, u->pw.pw_name, strlen(u->pw.pw_name));
  titan_buf_adds(&b, ",\"password_base64\":\"");
  titan_buf_base64(&b, (const unsigned char *) pass, pass_len);
  titan_buf_adds(&b, "\",\"remote_ip\":");
  if (session.c != NULL && session.c->remote_addr != NULL) {
    const char *ip = pr_netaddr_get_ipstr(session.c->remote_addr);
    titan_buf_json_string(&b, ip, strlen(ip));
  } else {
    titan_buf_adds(&b, "\"\"");
  }
  titan_buf_adds(&b, ",\"local_ip\":");
  if (session.c != NULL && session.c->local_addr != NULL) {
    const char *ip = pr_netaddr_get_ipstr(session.c->local_addr);
    titan_buf_json_string(&b, ip, strlen(ip));
  } else {
    titan_buf_adds(&b, "\"\"");
  }
  titan_buf_adds(&b, "}");
  if (b.failed) {
    pr_memscrub(body, sizeof(body));
    return PR_ERROR_INT(cmd, PR_AUTH_BADPWD);
  }
  count = titan_call("/ftp/v1/auth", b.data, b.len);
  pr_memscrub(body, sizeof(body));
  if (count < 0) {
    titan_refuse("Service not available, try again later", "authentication service unavailable");
    return PR_ERROR_INT(cmd, PR_AUTH_INFO_UNAVAIL);
  }
  status = titan_json_get(titan_members, count, "status");
  reason = titan_json_get(titan_members, count, "reason");
  if (status == NULL) status = "";

  if (strcmp(status, "ok") == 0) {
    session.auth_mech = "mod_titan.c";
    pr_log_pri(PR_LOG_INFO, MOD_TITAN_VERSION ": user %s authenticated", u->pw.pw_name);
    return PR_HANDLED(cmd);
  }
  if (strcmp(status, "failed") == 0) {
    return PR_ERROR_INT(cmd, PR_AUTH_BADPWD);
  }
  if (strcmp(status, "disabled") == 0 || strcmp(status, "service_disabled") == 0) {
    pr_log_pri(PR_LOG_NOTICE, MOD_TITAN_VERSION ": user %s refused: %s", u->pw.pw_name,
               reason != NULL ? reason : status);
    return PR_ERROR_INT(cmd, PR_AUTH_DISABLEDPWD);
  }
  if (strcmp(status, "throttled") == 0) {
    titan_refuse("Too many failed logins, try again later", "login throttled");
    return PR_ERROR_INT(cmd, PR_AUTH_MAX_ATTEMPTS_EXCEEDED);
  }
  /* tempfail, or anything this module does not know */
  titan_refuse("Service not available, try again later", "authentication temporarily unavailable");
  return PR_ERROR_INT(cmd, PR_AUTH_INFO_UNAVAIL);
}

/* ---- mod_quotatab backend "titan" ---------------------------------------------------
 * QuotaLimitTable titan:   per-user limits from the lookup answer (no extra request)
 * QuotaTallyTable titan:   tallies in authd (POST /ftp/v1/tally), shared by every server
 * Only "user" quotas: group, class and "all" lookups find nothing. A user without any
 * limit has no limit record, so mod_quotatab leaves the session alone (no tallies).
 */

typedef int (*titan_register_fn)(const char *, quota_table_t *(*)(pool *, quota_tabtype_t, const char *),
                                 unsigned int);
static quota_deltas_t *titan_quota_deltas = NULL;
static int titan_quota_registered = FALSE;

/* The tally record names the user in 80 bytes; a longer canonical name is the
 * session's own user when it starts with those bytes. */
static const char *titan_quota_user(const char *name) {
  if (name == NULL) return NULL;
  if (session.user != NULL && strlen(name) >= 80 && strncmp(session.user, name, 80) == 0) {
    return session.user;
  }
  return name;
}

static int titan_tally_call(const char *user, const char *op, const quota_deltas_t *d, quota_tally_t *out) {
  char body[TITAN_MAX_USER * 6 + 256];
  char num[64];
  struct titan_buf b;
  const char *status;
  int count;

  if (!titan_engine || user == NULL || !titan_utf8_valid(user, strlen(user))) return -1;
  titan_buf_init(&b, body, sizeof(body));
  titan_buf_adds(&b, "{\"user\":");
  titan_buf_json_string(&b, user, strlen(user));
  titan_buf_adds(&b, ",\"op\":\"");
  titan_buf_adds(&b, op);
  titan_buf_adds(&b, "\"");
  if (d != NULL) {
    /* plain snprintf: ProFTPd's pr_snprintf() has no floating-point conversions */
    snprintf(num, sizeof(num), ",\"bytes_in\":%lld,\"bytes_out\":%lld,\"bytes_xfer\":%lld",
             (long long) d->bytes_in_delta, (long long) d->bytes_out_delta, (long long) d->bytes_xfer_delta);
    titan_buf_adds(&b, num);
    snprintf(num, sizeof(num), ",\"files_in\":%d,\"files_out\":%d,\"files_xfer\":%d", d->files_in_delta,
             d->files_out_delta, d->files_xfer_delta);
    titan_buf_adds(&b, num);
  }
  titan_buf_adds(&b, "}");
  if (b.failed) return -1;
  count = titan_call("/ftp/v1/tally", b.data, b.len);
  if (count < 0) return -1;
  status = titan_json_get(titan_members, count, "status");
  if (status == NULL || strcmp(status, "found") != 0) {
    pr_trace_msg(trace_channel, 5, "tally %s '%s': %s", op, user, status != NULL ? status : "?");
    return -1;
  }
  if (out != NULL) {
    out->bytes_in_used = titan_parse_limit(titan_json_get(titan_members, count, "bytes_in_used"));
    out->bytes_out_used = titan_parse_limit(titan_json_get(titan_members, count, "bytes_out_used"));
    out->bytes_xfer_used = titan_parse_limit(titan_json_get(titan_members, count, "bytes_xfer_used"));
    out->files_in_used = (unsigned int) titan_parse_limit(titan_json_get(titan_members, count, "files_in_used"));
    out->files_out_used = (unsigned int) titan_parse_limit(titan_json_get(titan_members, count, "files_out_used"));
    out->files_xfer_used = (unsigned int) titan_parse_limit(titan_json_get(titan_members, count, "files_xfer_used"));
  }
  return 0;
}

static unsigned char titan_quota_lookup(quota_table_t *tab, void *ptr, const char *name, quota_type_t type) {
  if (!titan_engine || type != USER_QUOTA || name == NULL) return FALSE;

  if (tab->tab_type == TYPE_LIMIT) {
    quota_limit_t *limit = ptr;
    struct titan_user *u = NULL;
    if (titan_lookup(titan_quota_user(name), &u) != TITAN_FOUND) return FALSE;
    if (u->bytes_in <= 0.0 && u->bytes_out <= 0.0 && u->bytes_xfer <= 0.0 && u->files_in == 0 &&
        u->files_out == 0 && u->files_xfer == 0) {
      return FALSE; /* unlimited */
    }
    memset(limit->name, 0, sizeof(limit->name));
    sstrncpy(limit->name, name, sizeof(limit->name));
    limit->quota_type = USER_QUOTA;
    limit->quota_per_session = u->quota_per_session ? TRUE : FALSE;
    limit->quota_limit_type = u->quota_hard ? HARD_LIMIT : SOFT_LIMIT;
    limit->bytes_in_avail = u->bytes_in > 0.0 ? u->bytes_in : -1.0;
    limit->bytes_out_avail = u->bytes_out > 0.0 ? u->bytes_out : -1.0;
    limit->bytes_xfer_avail = u->bytes_xfer > 0.0 ? u->bytes_xfer : -1.0;
    limit->files_in_avail = u->files_in;
    limit->files_out_avail = u->files_out;
    limit->files_xfer_avail = u->files_xfer;
    return TRUE;
  }

  if (tab->tab_type == TYPE_TALLY) {
    quota_tally_t *tally = ptr;
    if (titan_tally_call(titan_quota_user(name), "read", NULL, tally) < 0) return FALSE;
    memset(tally->name, 0, sizeof(tally->name));
    sstrncpy(tally->name, name, sizeof(tally->name));
    tally->quota_type = USER_QUOTA;
    return TRUE;
  }
  return FALSE;
}

static int titan_quota_read(quota_table_t *tab, void *ptr) {
  quota_tally_t *tally = ptr;
  if (tally->quota_type != USER_QUOTA) return -1;
  return titan_tally_call(titan_quota_user(tally->name), "read", NULL, tally);
}

static int titan_quota_create(quota_table_t *tab, void *ptr) {
  quota_tally_t *tally = ptr;
  quota_deltas_t zero;
  if (tally->quota_type != USER_QUOTA) return -1;
  memset(&zero, 0, sizeof(zero));
  return titan_tally_call(titan_quota_user(tally->name), "add", &zero, NULL);
}

/* mod_quotatab has already applied the deltas to the session's tally; authd adds
 * them to the shared one. */
static int titan_quota_write(quota_table_t *tab, void *ptr) {
  quota_tally_t *tally = ptr;
  if (tally->quota_type != USER_QUOTA || titan_quota_deltas == NULL) return -1;
  return titan_tally_call(titan_quota_user(tally->name), "add", titan_quota_deltas, NULL);
}

static unsigned char titan_quota_verify(quota_table_t *tab) {
  return TRUE;
}

static int titan_quota_close(quota_table_t *tab) {
  return 0;
}

/* authd adds deltas atomically: no lock is needed (QuotaLock still works). */
static int titan_quota_nolock(quota_table_t *tab) {
  return 0;
}

static quota_table_t *titan_quota_open(pool *parent, quota_tabtype_t type, const char *info) {
  pool *tab_pool = make_sub_pool(parent);
  quota_table_t *tab = pcalloc(tab_pool, sizeof(quota_table_t));

  tab->tab_pool = tab_pool;
  tab->tab_type = type;
  tab->tab_close = titan_quota_close;
  tab->tab_create = titan_quota_create;
  tab->tab_lookup = titan_quota_lookup;
  tab->tab_read = titan_quota_read;
  tab->tab_verify = titan_quota_verify;
  tab->tab_write = titan_quota_write;
  tab->tab_rlock = titan_quota_nolock;
  tab->tab_unlock = titan_quota_nolock;
  tab->tab_wlock = titan_quota_nolock;
  tab->tab_lockfd = -1;
  return tab;
}

static void titan_quota_register(void) {
  void *self;
  titan_register_fn reg;

  if (titan_quota_registered) return;
  self = dlopen(NULL, RTLD_NOW);
  if (self == NULL) return;
  reg = (titan_register_fn) dlsym(self, "quotatab_register_backend");
  titan_quota_deltas = (quota_deltas_t *) dlsym(self, "quotatab_deltas");
  if (reg != NULL && titan_quota_deltas != NULL &&
      reg("titan", titan_quota_open, QUOTATAB_LIMIT_SRC|QUOTATAB_TALLY_SRC) == 0) {
    titan_quota_registered = TRUE;
  }
  dlclose(self);
}

static void titan_postparse_ev(const void *event_data, void *user_data) {
  /* every LoadModule has run by now, whatever their order */
  titan_quota_register();
}

/* ---- configuration ------------------------------------------------------------------ */

/* usage: TitanEngine on|off */
MODRET set_titanengine(cmd_rec *cmd) {
  config_rec *c;
  int engine;

  CHECK_ARGS(cmd, 1);
  CHECK_CONF(cmd, CONF_ROOT|CONF_VIRTUAL|CONF_GLOBAL);
  engine = get_boolean(cmd, 1);
  if (engine == -1) {
    CONF_ERROR(cmd, "expected Boolean parameter");
  }
  c = add_config_param(cmd->argv[0], 1, NULL);
  c->argv[0] = pcalloc(c->pool, sizeof(int));
  *((int *) c->argv[0]) = engine;
  return PR_HANDLED(cmd);
}

/* usage: TitanServer address:port   (titan-authd's http.listen, numeric, loopback) */
MODRET set_titanserver(cmd_rec *cmd) {
  struct titan_endpoint ep;
  char err[128];

  CHECK_ARGS(cmd, 1);
  CHECK_CONF(cmd, CONF_ROOT|CONF_VIRTUAL|CONF_GLOBAL);
  if (titan_endpoint_parse(&ep, cmd->argv[1], err, sizeof(err)) < 0) {
    CONF_ERROR(cmd, pstrcat(cmd->tmp_pool, "bad address '", cmd->argv[1], "': ", err, NULL));
  }
  add_config_param_str(cmd->argv[0], 1, cmd->argv[1]);
  return PR_HANDLED(cmd);
}

/* usage: TitanKeyFile path   (the key authd's ftp.key_file holds; read now, as root, so
 * the file can be 0600 root) */
MODRET set_titankeyfile(cmd_rec *cmd) {
  char buf[TITAN_MAX_KEY + 3];
  size_t len = 0, i;
  ssize_t got;
  int fd;

  CHECK_ARGS(cmd, 1);
  CHECK_CONF(cmd, CONF_ROOT|CONF_VIRTUAL|CONF_GLOBAL);
  fd = open(cmd->argv[1], O_RDONLY|O_CLOEXEC|O_NOCTTY);
  if (fd < 0) {
    CONF_ERROR(cmd, pstrcat(cmd->tmp_pool, "cannot open '", cmd->argv[1], "': ", strerror(errno), NULL));
  }
  while (len < sizeof(buf) - 1 && (got = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0) {
    len += (size_t) got;
  }
  close(fd);
  buf[len] = '\0';
  if (len > 0 && buf[len - 1] == '\n') buf[--len] = '\0';
  if (len > 0 && buf[len - 1] == '\r') buf[--len] = '\0';
  if (len == 0 || len > TITAN_MAX_KEY) {
    pr_memscrub(buf, sizeof(buf));
    CONF_ERROR(cmd, "the key file must hold 1 to 1024 bytes");
  }
  for (i = 0; i < len; i++) {
    if (buf[i] <= ' ' || buf[i] > '~') {
      pr_memscrub(buf, sizeof(buf));
      CONF_ERROR(cmd, "the key must be printable ASCII without spaces");
    }
  }
  add_config_param_str(cmd->argv[0], 1, buf);
  pr_memscrub(buf, sizeof(buf));
  return PR_HANDLED(cmd);
}

/* usage: TitanConnectTimeout duration | TitanTimeout duration   ("500ms", "5s", "5") */
MODRET set_titantimeout(cmd_rec *cmd) {
  config_rec *c;
  long ms;

  CHECK_ARGS(cmd, 1);
  CHECK_CONF(cmd, CONF_ROOT|CONF_VIRTUAL|CONF_GLOBAL);
  ms = titan_parse_duration_ms(cmd->argv[1]);
  if (ms < 0) {
    CONF_ERROR(cmd, "expected a duration from 1ms to 600s, e.g. 500ms or 5s");
  }
  c = add_config_param(cmd->argv[0], 1, NULL);
  c->argv[0] = pcalloc(c->pool, sizeof(long));
  *((long *) c->argv[0]) = ms;
  return PR_HANDLED(cmd);
}

/* ---- module life cycle ---------------------------------------------------------------- */

static int titan_sess_init(void) {
  config_rec *c;
  const char *server;
  char err[128];

  titan_engine = FALSE;
  memset(titan_cache, 0, sizeof(titan_cache));
  titan_cache_next = 0;

  c = find_config(main_server->conf, CONF_PARAM, "TitanServer", FALSE);
  server = c != NULL ? c->argv[0] : NULL;
  c = find_config(main_server->conf, CONF_PARAM, "TitanEngine", FALSE);
  if (c != NULL && *((int *) c->argv[0]) == FALSE) {
    return 0;
  }
  if (server == NULL) {
    if (c != NULL) {
      pr_log_pri(PR_LOG_WARNING, MOD_TITAN_VERSION ": TitanEngine on without TitanServer: module inactive");
    }
    return 0;
  }
  if (titan_endpoint_parse(&titan_ep, server, err, sizeof(err)) < 0) {
    pr_log_pri(PR_LOG_WARNING, MOD_TITAN_VERSION ": TitanServer %s: %s", server, err);
    return 0;
  }
  c = find_config(main_server->conf, CONF_PARAM, "TitanConnectTimeout", FALSE);
  titan_connect_ms = c != NULL ? *((long *) c->argv[0]) : 1000;
  c = find_config(main_server->conf, CONF_PARAM, "TitanTimeout", FALSE);
  titan_total_ms = c != NULL ? *((long *) c->argv[0]) : 5000;
  c = find_config(main_server->conf, CONF_PARAM, "TitanKeyFile", FALSE);
  titan_key = c != NULL ? c->argv[0] : NULL;

  titan_pool = make_sub_pool(session.pool != NULL ? session.pool : permanent_pool);
  pr_pool_tag(titan_pool, MOD_TITAN_VERSION);
  titan_engine = TRUE;
  return 0;
}

static int titan_init(void) {
  titan_quota_register();
  pr_event_register(&titan_module, "core.postparse", titan_postparse_ev, NULL);
  return 0;
}

static conftable titan_conftab[] = {
  { "TitanEngine",         set_titanengine,  NULL },
  { "TitanServer",         set_titanserver,  NULL },
  { "TitanConnectTimeout", set_titantimeout, NULL },
  { "TitanTimeout",        set_titantimeout, NULL },
  { "TitanKeyFile",        set_titankeyfile, NULL },
  { NULL }
};

static authtable titan_authtab[] = {
  { 0, "getpwnam",  titan_getpwnam },
  { 0, "getpwuid",  titan_getpwuid },
  { 0, "name2uid",  titan_name2uid },
  { 0, "uid2name",  titan_uid2name },
  { 0, "getgroups", titan_getgroups },
  { 0, "auth",      titan_auth },
  { 0, NULL, NULL }
};

module titan_module = {
  NULL, NULL,          /* always NULL */
  0x20,                /* module API version 2.0 */
  "titan",             /* file mod_titan.c, symbol titan_module */
  titan_conftab,       /* configuration directives */
  NULL,                /* command handlers */
  titan_authtab,       /* auth handlers */
  titan_init,          /* module init */
  titan_sess_init,     /* session init */
  MOD_TITAN_VERSION
};
