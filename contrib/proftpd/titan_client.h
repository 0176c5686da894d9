/*
 * titan_client: the part of mod_titan that knows nothing about ProFTPd -- one HTTP/1.0
 * POST of a JSON body to titan-authd on loopback, with a connect timeout and an overall
 * deadline, a bounded response, and a strict reader for the flat JSON objects authd
 * answers (docs/protocols/ftp.md). Plain C99 + POSIX; no allocation (every buffer is
 * the caller's), no global state, so it is unit-tested on its own.
 * Layer: contrib/proftpd (C, used by mod_titan.c and tests/unit/contrib/proftpd).
 */
#ifndef TITAN_CLIENT_H
#define TITAN_CLIENT_H

#include <stddef.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest response (status line, headers and body) the client accepts. */
#define TITAN_MAX_RESPONSE 16384
/* Largest number of members read from one JSON object. */
#define TITAN_MAX_MEMBERS 32

/* Where authd's HTTP API listens: a numeric IPv4 or IPv6 address and a port. */
struct titan_endpoint {
  struct sockaddr_storage addr;
  socklen_t addr_len;
  char host_header[80]; /* "127.0.0.1:9151" or "[::1]:9151" */
};

/* Parse "127.0.0.1:9151" or "[::1]:9151" (no host names: no DNS lookups at login).
 * Returns 0, or -1 with a message in err. */
int titan_endpoint_parse(struct titan_endpoint *ep, const char *text, char *err, size_t err_len);

/* Parse a duration: "250ms", "2s", or a plain number of seconds, 1 ms .. 600 s.
 * Returns the milliseconds, or -1. */
long titan_parse_duration_ms(const char *text);

/* Called when poll() is interrupted by a signal (ProFTPd handles its signals there);
 * may be NULL. */
typedef void (*titan_eintr_fn)(void);

enum titan_http_result {
  TITAN_HTTP_OK = 0,          /* a complete response was read */
  TITAN_HTTP_CONNECT = -1,    /* connection refused or connect timeout */
  TITAN_HTTP_TIMEOUT = -2,    /* deadline passed while sending or reading */
  TITAN_HTTP_IO = -3,         /* other socket error, or the peer closed early */
  TITAN_HTTP_TOO_LARGE = -4,  /* response larger than the buffer */
  TITAN_HTTP_MALFORMED = -5   /* not an HTTP/1.x response we understand */
};

/* Longest bearer key (TitanKeyFile; authd's ftp.key_file). */
#define TITAN_MAX_KEY 1024

/* POST `body` (JSON) to `path` and read the whole response into resp (capacity
 * resp_cap, at most TITAN_MAX_RESPONSE used). With a non-empty `key`, the request
 * carries "Authorization: Bearer <key>" (at most TITAN_MAX_KEY bytes). On TITAN_HTTP_OK,
 * *status is the HTTP status and *resp_body / *resp_body_len the body inside resp
 * (NUL-terminated). Blocks at most connect_ms + total_ms. Never raises SIGPIPE. */
int titan_http_post(const struct titan_endpoint *ep, const char *path, const char *key, const char *body,
                    size_t body_len, long connect_ms, long total_ms, titan_eintr_fn on_eintr, char *resp,
                    size_t resp_cap, int *status, const char **resp_body, size_t *resp_body_len);

/* Split a complete HTTP/1.x response: status code, body (per Content-Length when
 * present, else the rest). Returns 0; 1 when more bytes are needed; -1 when malformed.
 * `complete` says the peer closed (no more bytes will come). */
int titan_http_parse(const char *buf, size_t len, int complete, int *status, size_t *body_off, size_t *body_len);

/* One member of a flat JSON object: strings are unescaped (UTF-8, NUL-terminated),
 * numbers and true/false are kept as their text; null members are dropped. */
struct titan_member {
  const char *key;
  const char *value;
  int is_string;
};

/* Parse a flat JSON object (values: string, number, true, false, null; no nested
 * objects or arrays). Strings are copied into `store` (capacity store_len). Returns the
 * number of members (<= max_members), or -1 if malformed, nested, or too big. */
int titan_json_parse_object(const char *text, size_t len, struct titan_member *members, int max_members,
                            char *store, size_t store_len);

/* The value of `key`, or NULL. */
const char *titan_json_get(const struct titan_member *members, int count, const char *key);

/* Bounded output buffer for building request bodies. `failed` is set once anything did
 * not fit; the text is then unusable. */
struct titan_buf {
  char *data;
  size_t len, cap;
  int failed;
};
void titan_buf_init(struct titan_buf *b, char *data, size_t cap);
void titan_buf_add(struct titan_buf *b, const char *text, size_t len);
void titan_buf_adds(struct titan_buf *b, const char *text);
/* Append a JSON string literal (quotes included). Bytes >= 0x80 are copied as they are:
 * callers pass valid UTF-8 (see titan_utf8_valid). */
void titan_buf_json_string(struct titan_buf *b, const char *text, size_t len);
/* Append the base64 (RFC 4648, padded) encoding of bytes. */
void titan_buf_base64(struct titan_buf *b, const unsigned char *bytes, size_t len);

/* 1 when text[0..len) is well-formed UTF-8 without NUL or control bytes, else 0. */
int titan_utf8_valid(const char *text, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* TITAN_CLIENT_H */
