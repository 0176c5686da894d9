/* titan_client: see titan_client.h. */
#include "titan_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- endpoint and durations ---------------------------------------------------- */

int titan_endpoint_parse(struct titan_endpoint *ep, const char *text, char *err, size_t err_len) {
  char host[64];
  const char *port_text;
  size_t host_len;
  char *end = NULL;
  unsigned long port;

  memset(ep, 0, sizeof(*ep));
  if (text == NULL || *text == '\0') {
    snprintf(err, err_len, "empty address");
    return -1;
  }
  if (text[0] == '[') {
    const char *close = strchr(text, ']');
    if (close == NULL || close[1] != ':') {
      snprintf(err, err_len, "expected [IPv6]:port");
      return -1;
    }
    host_len = (size_t) (close - text - 1);
    if (host_len == 0 || host_len >= sizeof(host)) {
      snprintf(err, err_len, "bad IPv6 address");
      return -1;
    }
    memcpy(host, text + 1, host_len);
    port_text = close + 2;
  } else {
    const char *colon = strrchr(text, ':');
    if (colon == NULL || strchr(text, ':') != colon) {
      snprintf(err, err_len, "expected address:port (an IPv6 address goes in brackets)");
      return -1;
    }
    host_len = (size_t) (colon - text);
    if (host_len == 0 || host_len >= sizeof(host)) {
      snprintf(err, err_len, "bad address");
      return -1;
    }
    memcpy(host, text, host_len);
    port_text = colon + 1;
  }
  host[host_len] = '\0';
  if (*port_text < '0' || *port_text > '9') {
    snprintf(err, err_len, "bad port");
    return -1;
  }
  errno = 0;
  port = strtoul(port_text, &end, 10);
  if (errno != 0 || end == NULL || *end != '\0' || port == 0 || port > 65535) {
    snprintf(err, err_len, "bad port");
    return -1;
  }

  if (text[0] == '[') {
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *) &ep->addr;
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1) {
      snprintf(err, err_len, "'%s' is not a numeric IPv6 address", host);
      return -1;
    }
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((unsigned short) port);
    ep->addr_len = sizeof(*a6);
    snprintf(ep->host_header, sizeof(ep->host_header), "[%s]:%lu", host, port);
  } else {
    struct sockaddr_in *a4 = (struct sockaddr_in *) &ep->addr;
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1) {
      snprintf(err, err_len, "'%s' is not a numeric IPv4 address (no host names)", host);
      return -1;
    }
    a4->sin_family = AF_INET;
    a4->sin_port = htons((unsigned short) port);
    ep->addr_len = sizeof(*a4);
    snprintf(ep->host_header, sizeof(ep->host_header), "%s:%lu", host, port);
  }
  return 0;
}

long titan_parse_duration_ms(const char *text) {
  char *end = NULL;
  unsigned long n;
  long ms;

  if (text == NULL || *text < '0' || *text > '9') {
    return -1;
  }
  errno = 0;
  n = strtoul(text, &end, 10);
  if (errno != 0 || n > 600000UL) {
    return -1;
  }
  if (strcmp(end, "ms") == 0) {
    ms = (long) n;
  } else if (*end == '\0' || strcmp(end, "s") == 0) {
    if (n > 600UL) {
      return -1;
    }
    ms = (long) n * 1000L;
  } else {
    return -1;
  }
  if (ms < 1 || ms > 600000L) {
    return -1;
  }
  return ms;
}

/* ---- output buffer -------------------------------------------------------------- */

void titan_buf_init(struct titan_buf *b, char *data, size_t cap) {
  b->data = data;
  b->len = 0;
  b->cap = cap;
  b->failed = (cap == 0);
  if (cap > 0) {
    data[0] = '\0';
  }
}

void titan_buf_add(struct titan_buf *b, const char *text, size_t len) {
  if (b->failed) {
    return;
  }
  if (len >= b->cap - b->len) {
    b->failed = 1;
    return;
  }
  memcpy(b->data + b->len, text, len);
  b->len += len;
  b->data[b->len] = '\0';
}

void titan_buf_adds(struct titan_buf *b, const char *text) {
  titan_buf_add(b, text, strlen(text));
}

void titan_buf_json_string(struct titan_buf *b, const char *text, size_t len) {
  static const char hex[] = "0123456789abcdef";
  size_t i;

  titan_buf_add(b, "\"", 1);
  for (i = 0; i < len && !b->failed; i++) {
    unsigned char c = (unsigned char) text[i];
    if (c == '"' || c == '\\') {
      char esc[2] = {'\\', (char) c};
      titan_buf_add(b, esc, 2);
    } else if (c < 0x20 || c == 0x7f) {
      char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0x0f]};
      titan_buf_add(b, esc, 6);
    } else {
      titan_buf_add(b, (const char *) &text[i], 1);
    }
  }
  titan_buf_add(b, "\"", 1);
}

void titan_buf_base64(struct titan_buf *b, const unsigned char *bytes, size_t len) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i;

  for (i = 0; i + 2 < len && !b->failed; i += 3) {
    char out[4];
    unsigned long v = ((unsigned long) bytes[i] << 16) | ((unsigned long) bytes[i + 1] << 8) | bytes[i + 2];
    out[0] = alphabet[(v >> 18) & 63];
    out[1] = alphabet[(v >> 12) & 63];
    out[2] = alphabet[(v >> 6) & 63];
    out[3] = alphabet[v & 63];
    titan_buf_add(b, out, 4);
  }
  if (i < len) {
    char out[4];
    unsigned long v = (unsigned long) bytes[i] << 16;
    if (i + 1 < len) {
      v |= (unsigned long) bytes[i + 1] << 8;
    }
    out[0] = alphabet[(v >> 18) & 63];
    out[1] = alphabet[(v >> 12) & 63];
    out[2] = (i + 1 < len) ? alphabet[(v >> 6) & 63] : '=';
    out[3] = '=';
    titan_buf_add(b, out, 4);
  }
}

int titan_utf8_valid(const char *text, size_t len) {
  const unsigned char *s = (const unsigned char *) text;
  size_t i = 0;

  while (i < len) {
    unsigned char c = s[i];
    unsigned long cp;
    size_t n, k;

    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) {
        return 0;
      }
      i++;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      cp = c & 0x07;
    } else {
      return 0;
    }
    if (len - i <= n) {
      return 0;
    }
    for (k = 1; k <= n; k++) {
      if ((s[i + k] & 0xc0) != 0x80) {
        return 0;
      }
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff)) {
      return 0;
    }
    i += n + 1;
  }
  return 1;
}

/* ---- JSON (flat objects only) --------------------------------------------------- */

struct json_in {
  const char *p, *end;
  char *store;
  size_t store_len, used;
};

static void json_ws(struct json_in *in) {
  while (in->p < in->end && (*in->p == ' ' || *in->p == '\t' || *in->p == '\n' || *in->p == '\r')) {
    in->p++;
  }
}

static int store_byte(struct json_in *in, unsigned char c) {
  if (in->used + 1 >= in->store_len) {
    return -1;
  }
  in->store[in->used++] = (char) c;
  return 0;
}

static int hex4(const char *p, unsigned long *out) {
  int i;
  *out = 0;
  for (i = 0; i < 4; i++) {
    char c = p[i];
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else {
      return -1;
    }
    *out = (*out << 4) | (unsigned long) v;
  }
  return 0;
}

static int store_utf8(struct json_in *in, unsigned long cp) {
  if (cp < 0x80) {
    return store_byte(in, (unsigned char) cp);
  }
  if (cp < 0x800) {
    return store_byte(in, (unsigned char) (0xc0 | (cp >> 6))) || store_byte(in, (unsigned char) (0x80 | (cp & 0x3f)));
  }
  if (cp < 0x10000) {
    return store_byte(in, (unsigned char) (0xe0 | (cp >> 12))) ||
           store_byte(in, (unsigned char) (0x80 | ((cp >> 6) & 0x3f))) ||
           store_byte(in, (unsigned char) (0x80 | (cp & 0x3f)));
  }
  return store_byte(in, (unsigned char) (0xf0 | (cp >> 18))) ||
         store_byte(in, (unsigned char) (0x80 | ((cp >> 12) & 0x3f))) ||
         store_byte(in, (unsigned char) (0x80 | ((cp >> 6) & 0x3f))) ||
         store_byte(in, (unsigned char) (0x80 | (cp & 0x3f)));
}

/* Parse a string at in->p (on the opening quote) into the store; *out = its start. */
static int json_string(struct json_in *in, const char **out) {
  size_t start = in->used;

  in->p++;
  while (in->p < in->end) {
    unsigned char c = (unsigned char) *in->p++;
    if (c == '"') {
      if (store_byte(in, 0) < 0) {
        return -1;
      }
      *out = in->store + start;
      return 0;
    }
    if (c < 0x20) {
      return -1;
    }
    if (c != '\\') {
      if (store_byte(in, c) < 0) {
        return -1;
      }
      continue;
    }
    if (in->p >= in->end) {
      return -1;
    }
    c = (unsigned char) *in->p++;
    switch (c) {
      case '"': case '\\': case '/':
        if (store_byte(in, c) < 0) return -1;
        break;
      case 'b': if (store_byte(in, '\b') < 0) return -1; break;
      case 'f': if (store_byte(in, '\f') < 0) return -1; break;
      case 'n': if (store_byte(in, '\n') < 0) return -1; break;
      case 'r': if (store_byte(in, '\r') < 0) return -1; break;
      case 't': if (store_byte(in, '\t') < 0) return -1; break;
      case 'u': {
        unsigned long cp;
        if (in->end - in->p < 4 || hex4(in->p, &cp) < 0) {
          return -1;
        }
        in->p += 4;
        if (cp >= 0xd800 && cp <= 0xdbff) {
          unsigned long lo;
          if (in->end - in->p < 6 || in->p[0] != '\\' || in->p[1] != 'u' || hex4(in->p + 2, &lo) < 0 ||
              lo < 0xdc00 || lo > 0xdfff) {
            return -1;
          }
          in->p += 6;
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
          return -1;
        }
        if (cp == 0 || store_utf8(in, cp) < 0) {
          return -1; /* an embedded NUL would cut the value short */
        }
        break;
      }
      default:
        return -1;
    }
  }
  return -1;
}

/* A number (JSON grammar), true, false or null, copied as text. *out = NULL for null. */
static int json_scalar(struct json_in *in, const char **out) {
  const char *s = in->p;
  size_t start = in->used, n;

  if (*s == 't' || *s == 'f' || *s == 'n') {
    const char *word = (*s == 't') ? "true" : (*s == 'f') ? "false" : "null";
    n = strlen(word);
    if ((size_t) (in->end - s) < n || memcmp(s, word, n) != 0) {
      return -1;
    }
    in->p += n;
    if (*s == 'n') {
      *out = NULL;
      return 0;
    }
  } else {
    const char *p = s;
    if (p < in->end && *p == '-') p++;
    if (p >= in->end || *p < '0' || *p > '9') return -1;
    if (*p == '0') {
      p++;
    } else {
      while (p < in->end && *p >= '0' && *p <= '9') p++;
    }
    if (p < in->end && *p == '.') {
      p++;
      if (p >= in->end || *p < '0' || *p > '9') return -1;
      while (p < in->end && *p >= '0' && *p <= '9') p++;
    }
    if (p < in->end && (*p == 'e' || *p == 'E')) {
      p++;
      if (p < in->end && (*p == '+' || *p == '-')) p++;
      if (p >= in->end || *p < '0' || *p > '9') return -1;
      while (p < in->end && *p >= '0' && *p <= '9') p++;
    }
    n = (size_t) (p - s);
    in->p = p;
  }
  for (size_t i = 0; i < n; i++) {
    if (store_byte(in, (unsigned char) s[i]) < 0) return -1;
  }
  if (store_byte(in, 0) < 0) return -1;
  *out = in->store + start;
  return 0;
}

int titan_json_parse_object(const char *text, size_t len, struct titan_member *members, int max_members,
                            char *store, size_t store_len) {
  struct json_in in;
  int count = 0;

  if (text == NULL || store == NULL || store_len == 0) {
    return -1;
  }
  in.p = text;
  in.end = text + len;
  in.store = store;
  in.store_len = store_len;
  in.used = 0;

  json_ws(&in);
  if (in.p >= in.end || *in.p != '{') return -1;
  in.p++;
  json_ws(&in);
  if (in.p < in.end && *in.p == '}') {
    in.p++;
  } else {
    for (;;) {
      const char *key = NULL, *value = NULL;
      int is_string = 0;

      json_ws(&in);
      if (in.p >= in.end || *in.p != '"' || json_string(&in, &key) < 0) return -1;
      json_ws(&in);
      if (in.p >= in.end || *in.p != ':') return -1;
      in.p++;
      json_ws(&in);
      if (in.p >= in.end) return -1;
      if (*in.p == '"') {
        if (json_string(&in, &value) < 0) return -1;
        is_string = 1;
      } else if (*in.p == '{' || *in.p == '[') {
        return -1;
      } else if (json_scalar(&in, &value) < 0) {
        return -1;
      }
      if (value != NULL) {
        if (count >= max_members) return -1;
        members[count].key = key;
        members[count].value = value;
        members[count].is_string = is_string;
        count++;
      }
      json_ws(&in);
      if (in.p >= in.end) return -1;
      if (*in.p == ',') {
        in.p++;
        continue;
      }
      if (*in.p == '}') {
        in.p++;
        break;
      }
      return -1;
    }
  }
  json_ws(&in);
  return in.p == in.end ? count : -1;
}

const char *titan_json_get(const struct titan_member *members, int count, const char *key) {
  int i;
  for (i = 0; i < count; i++) {
    if (strcmp(members[i].key, key) == 0) {
      return members[i].value;
    }
  }
  return NULL;
}

/* ---- HTTP ------------------------------------------------------------------------- */

static int ci_prefix(const char *s, size_t len, const char *prefix) {
  size_t i, n = strlen(prefix);
  if (len < n) return 0;
  for (i = 0; i < n; i++) {
    char a = s[i], b = prefix[i];
    if (a >= 'A' && a <= 'Z') a = (char) (a - 'A' + 'a');
    if (b >= 'A' && b <= 'Z') b = (char) (b - 'A' + 'a');
    if (a != b) return 0;
  }
  return 1;
}

int titan_http_parse(const char *buf, size_t len, int complete, int *status, size_t *body_off, size_t *body_len) {
  size_t i, head_end = 0, line;
  long content_length = -1;
  int found = 0;

  for (i = 0; i + 3 < len; i++) {
    if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n') {
      head_end = i;
      found = 1;
      break;
    }
  }
  if (!found) {
    return complete ? -1 : 1;
  }
  /* "HTTP/1.x NNN" */
  if (head_end < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || (buf[7] != '0' && buf[7] != '1') || buf[8] != ' ' ||
      buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' || buf[11] < '0' || buf[11] > '9' ||
      (head_end > 12 && buf[12] != ' ')) {
    return -1;
  }
  *status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');

  line = 0;
  while (line < head_end && buf[line] != '\n') line++;
  line++;
  while (line < head_end) {
    size_t eol = line;
    while (eol < head_end && buf[eol] != '\r') eol++;
    if (ci_prefix(buf + line, eol - line, "content-length:")) {
      size_t p = line + 15;
      long v = 0;
      int digits = 0;
      while (p < eol && (buf[p] == ' ' || buf[p] == '\t')) p++;
      while (p < eol && buf[p] >= '0' && buf[p] <= '9') {
        if (v > TITAN_MAX_RESPONSE) return -1;
        v = v * 10 + (buf[p] - '0');
        digits++;
        p++;
      }
      while (p < eol && (buf[p] == ' ' || buf[p] == '\t')) p++;
      if (digits == 0 || p != eol || (content_length >= 0 && content_length != v)) return -1;
      content_length = v;
    }
    line = eol + 2;
  }
  *body_off = head_end + 4;
  if (content_length >= 0) {
    if (len - *body_off < (size_t) content_length) {
      return complete ? -1 : 1;
    }
    *body_len = (size_t) content_length;
    return 0;
  }
  if (!complete) {
    return 1;
  }
  *body_len = len - *body_off;
  return 0;
}

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long) ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Wait for `events` on fd until the deadline. 0 ready, -2 timeout, -3 error. */
static int wait_fd(int fd, short events, long deadline, titan_eintr_fn on_eintr) {
  for (;;) {
    struct pollfd pfd;
    long left = deadline - now_ms();
    int r;
    if (left <= 0) {
      return TITAN_HTTP_TIMEOUT;
    }
    pfd.fd = fd;
    pfd.events = events;
    pfd.revents = 0;
    r = poll(&pfd, 1, (int) left);
    if (r > 0) {
      return 0;
    }
    if (r == 0) {
      return TITAN_HTTP_TIMEOUT;
    }
    if (errno != EINTR) {
      return TITAN_HTTP_IO;
    }
    if (on_eintr != NULL) {
      on_eintr();
    }
  }
}

static int send_all(int fd, const char *data, size_t len, long deadline, titan_eintr_fn on_eintr) {
  while (len > 0) {
    ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
    if (n > 0) {
      data += n;
      len -= (size_t) n;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      int w = wait_fd(fd, POLLOUT, deadline, on_eintr);
      if (w != 0) return w;
      continue;
    }
    return TITAN_HTTP_IO;
  }
  return 0;
}

int titan_http_post(const struct titan_endpoint *ep, const char *path, const char *key, const char *body,
                    size_t body_len, long connect_ms, long total_ms, titan_eintr_fn on_eintr, char *resp,
                    size_t resp_cap, int *status, const char **resp_body, size_t *resp_body_len) {
  char head[512 + TITAN_MAX_KEY];
  int fd, n, rc = TITAN_HTTP_IO;
  long start = now_ms(), deadline;
  size_t got = 0, body_off = 0, blen = 0;

  if (resp_cap > TITAN_MAX_RESPONSE) {
    resp_cap = TITAN_MAX_RESPONSE;
  }
  if (resp_cap < 2) {
    return TITAN_HTTP_TOO_LARGE;
  }
  if (key != NULL && strlen(key) > TITAN_MAX_KEY) {
    return TITAN_HTTP_MALFORMED;
  }
  n = snprintf(head, sizeof(head),
               "POST %s HTTP/1.0\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %lu\r\n"
               "%s%s%sConnection: close\r\n\r\n",
               path, ep->host_header, (unsigned long) body_len, (key != NULL && *key) ? "Authorization: Bearer " : "",
               (key != NULL && *key) ? key : "", (key != NULL && *key) ? "\r\n" : "");
  if (n < 0 || (size_t) n >= sizeof(head)) {
    return TITAN_HTTP_MALFORMED;
  }

  fd = socket(ep->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    return TITAN_HTTP_CONNECT;
  }
  if (connect(fd, (const struct sockaddr *) &ep->addr, ep->addr_len) < 0) {
    int err = 0;
    socklen_t err_len = sizeof(err);
    if (errno != EINPROGRESS && errno != EINTR) {
      close(fd);
      return TITAN_HTTP_CONNECT;
    }
    if (wait_fd(fd, POLLOUT, start + connect_ms, on_eintr) != 0 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) < 0 || err != 0) {
      close(fd);
      return TITAN_HTTP_CONNECT;
    }
  }
  deadline = now_ms() + total_ms;

  rc = send_all(fd, head, (size_t) n, deadline, on_eintr);
  memset(head, 0, sizeof(head)); /* it held the key */
  if (rc == 0 && body_len > 0) {
    rc = send_all(fd, body, body_len, deadline, on_eintr);
  }
  if (rc != 0) {
    close(fd);
    return rc;
  }

  for (;;) {
    ssize_t r;
    int parsed;
    if (got >= resp_cap - 1) {
      rc = TITAN_HTTP_TOO_LARGE;
      break;
    }
    r = recv(fd, resp + got, resp_cap - 1 - got, 0);
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        int w = wait_fd(fd, POLLIN, deadline, on_eintr);
        if (w != 0) {
          rc = w;
          break;
        }
        continue;
      }
      rc = TITAN_HTTP_IO;
      break;
    }
    got += (size_t) r;
    parsed = titan_http_parse(resp, got, r == 0, status, &body_off, &blen);
    if (parsed == 0) {
      rc = TITAN_HTTP_OK;
      break;
    }
    if (parsed < 0) {
      rc = (r == 0 && got == 0) ? TITAN_HTTP_IO : TITAN_HTTP_MALFORMED;
      break;
    }
    if (r == 0) {
      rc = TITAN_HTTP_IO;
      break;
    }
  }
  close(fd);
  if (rc != TITAN_HTTP_OK) {
    return rc;
  }
  resp[body_off + blen] = '\0';
  *resp_body = resp + body_off;
  *resp_body_len = blen;
  return TITAN_HTTP_OK;
}
