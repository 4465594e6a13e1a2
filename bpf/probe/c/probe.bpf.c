// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Outbound Lens probes.
 *
 * Attribution happens here, in the kernel, so that it holds under any
 * concurrency: every goroutine that serves a request, or was started
 * (transitively) by one that did, maps goid -> request id. Outbound
 * connections and HTTP client round trips look up the goroutine they run
 * in. User space only joins, symbolizes and prints.
 *
 * Go is never probed with uretprobes (they corrupt moved goroutine
 * stacks). A uprobe costs what the kernel does at the probed instruction:
 * it emulates a call, jump, conditional jump, NOP or push (amd64; branches
 * on arm64) and single-steps anything else, ten times slower. So the
 * programs run at such instructions (chosen by bpf/inspect): a function's
 * first instruction after its stack check, the call instruction of a
 * direct call (the callee's arguments are in registers there), or the
 * first emulated instruction after a call returns. A RET is probed only
 * where a binary offers nothing else (the *_return programs).
 * Nothing here writes to the traced process. */
#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "goabi.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define MAX_PATH 256
#define MAX_ROUTE 128
#define MAX_METHOD 16
#define MAX_HEADERS 8
#define MAX_HEADER_NAME 64
#define MAX_HEADER_VALUE 256
#define MAX_STACK 32
#define MAX_CTX_TYPES 8
#define MAX_CTX_DEPTH 8

#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_CLOSE 7
#define IPPROTO_TCP 6
#define AF_INET 2
#define AF_INET6 10
#define EINPROGRESS 115

enum event_type {
	EV_REQUEST_START = 1,
	EV_REQUEST_END = 2,
	EV_ROUTE = 3,
	EV_CONNECT = 4,
	EV_ROUND_TRIP = 5,
	EV_WRITE = 6,
	EV_GRPC_CALL = 7,
	EV_CALL_END = 8,
	EV_GRPC_IMPL = 9, /* a gRPC call's service implementation (server side) */
	EV_CONNECT_FAILED = 10, /* a connect that never got established */
};

/* Set by the loader from the binary's DWARF or the per-version table. */
struct config {
	u32 tgid;
	u32 swiss_maps;
	u64 g_goid;
	u64 g_parent_goid;
	u64 request_method;
	u64 request_url;
	u64 request_header;
	u64 url_path;
	u64 pconn_conn;
	u64 pconn_reused;
	u64 conn_fd;
	u64 netfd_family;
	u64 netfd_sotype;
	u64 netfd_laddr;
	u64 netfd_raddr;
	u64 tcpaddr_ip;
	u64 tcpaddr_port;
	u64 tlsconn_conn;
	u64 gin_fullpath;
	u64 gin_handlers;
	u64 chi_route_patterns; /* chi Context.RoutePatterns, 0: no chi */
	u64 echo_path;          /* echo context.path, 0: no echo */
	u64 echo_handler;       /* echo context.handler */
	u64 echo_add_closure;   /* runtime address of echo.(*Echo).add.func1, 0: none */
	u64 request_pattern; /* Request.Pattern (Go 1.23+), 0: none */
	u64 request_pat;     /* Request.pat, a *pattern (Go 1.22+), 0: none */
	u64 pattern_str;     /* pattern.str */
	/* gRPC servers (grpc-go): ServerStream's embedded Stream and its method
	 * (0: no gRPC server), serviceInfo.serviceImpl; the nameOff of the
	 * incoming metadata's context key type's name (0: not found) and the
	 * lower-case names' hashes of the headers asked for. */
	u64 grpc_stream_stream;
	u64 grpc_stream_method;
	u64 grpc_info_impl;
	u32 grpc_md_key_name;
	u64 md_header_hash[MAX_HEADERS];
	u32 n_headers;
	u32 header_len[MAX_HEADERS];
	u64 header_hash[MAX_HEADERS];
	u64 request_ctx;
	u64 treq_request;
	u64 netfd_pfd;
	u64 pollfd_sysfd;
	/* Runtime addresses of context.(*cancelCtx).Deadline, (*valueCtx)…:
	 * the first method in the itab of each context type whose parent is
	 * the Context at offset 0, so a chain can be walked up to a request's. */
	u64 h2cc_tconn;
	u64 h2icc_tconn;
	u64 h2ireq_ctx;
	u64 grpc_client_conn;
	u64 grpc_callhdr_host;
	u64 grpc_callhdr_method;
	/* gRPC clients: csAttempt.cs, clientStream.callHdr; a *status.Error's
	 * code: Error.s, Status.s, spb.Status.Code; the nameOff of
	 * *status.Error's type name (0: not found). */
	u64 grpc_attempt_cs;
	u64 grpc_cs_callhdr;
	u64 grpc_err_status;
	u64 grpc_status_proto;
	u64 grpc_proto_code;
	u32 grpc_status_error_name;
	u32 grpc_call_end; /* grpc_call_end is attached: gRPC calls await it */
	u64 url_scheme;
	u64 url_host;
	u64 h2ireq_method;
	u64 h2ireq_url;
	u64 response_status;
	u64 h2iresp_status;
	u32 round_trip_end; /* round_trip_end is attached: calls await it */
	u32 h2_round_trip_end; /* h2_round_trip_end or h2i_round_trip_end is attached: HTTP/2 calls await it */
	u32 capture_payload; /* how many of the first bytes of an exchange's first write to copy (<= MAX_OP; a ClientHello: MAX_OP) */
	u32 n_ctx_types;
	u64 ctx_deadline[MAX_CTX_TYPES];
	/* every program returns at once (npm run bench: what the probe hits
	 * cost the service by themselves); the verifier drops the rest */
	u32 empty_programs;
};

volatile const struct config CFG = {};

struct event_header {
	u32 type;
	u32 tid;
	u64 ts;
	u64 goid;
	u64 request; /* 0: no request */
};

struct header_value {
	u32 len;
	u32 present;
	char value[MAX_HEADER_VALUE];
};

struct request_start {
	struct event_header h;
	u32 method_len;
	u32 path_len;
	char method[MAX_METHOD];
	char path[MAX_PATH];
	struct header_value headers[MAX_HEADERS];
};

struct route {
	struct event_header h;
	u64 handler_pc;
	u32 route_len;
	u32 _pad;
	char route[MAX_ROUTE];
};

/* The end of a request, with its route: Gin's (framework_route set, with
 * its handler's pc; a request Gin matched no route for carries the
 * ServeMux pattern, if any) or the ServeMux pattern that matched it. Sent
 * up to the route's last byte. */
struct request_ended {
	struct event_header h;
	u64 handler_pc;
	u32 route_len;
	u32 framework_route;
	char route[MAX_ROUTE];
};

struct tuple {
	u16 family;
	u16 sport;
	u16 dport;
	u16 _pad;
	u8 saddr[16];
	u8 daddr[16];
};

/* The address a goroutine gave net.Dialer, as the service named it
 * ("db.internal:5432"): the name of the connection it opens. */
#define MAX_NAME 64

struct remote_name {
	u32 len;
	char name[MAX_NAME];
};

struct outbound {
	struct event_header h;
	struct tuple t;
	u16 reused;
	u16 sock_err; /* EV_CONNECT_FAILED: the socket's error (ECONNREFUSED, ETIMEDOUT, …), 0 if closed first */
	u32 stack_len; /* bytes */
	u64 stack[MAX_STACK];
	struct remote_name remote;
};

/* A new connect_by_thread entry's value: never written. */
volatile const struct outbound ZERO_OUTBOUND = {};

/* What a call or an exchange did, for user space to name: a use seen at a
 * write carries the first bytes written (op_lens[0] of them; op_lens[1]:
 * how many it wrote, at most 65535);
 * an HTTP or gRPC client call carries its method, scheme, host and path
 * (op_lens[0..3]) at the OP_* offsets of op. */
#define MAX_OP 256
enum op_layout {
	OP_METHOD = 0,
	OP_SCHEME = 16,
	OP_HOST = 24,
	OP_PATH = 128,
	OP_METHOD_MAX = 16,
	OP_SCHEME_MAX = 8,
	OP_HOST_MAX = 104,
	OP_PATH_MAX = 128,
};

struct call {
	struct outbound o;
	u16 op_lens[4];
	u32 awaits_end; /* a call_end event follows, for the same goroutine (a gRPC stream's may come from another): 1, it names no start (an HTTP call's, from the goroutine that made it); 2, it names the call by its start */
	u32 hello_only; /* a write: a TLS ClientHello in the exchange the connect reported, sent for its server name alone */
	u8 op[MAX_OP];
};

/* An HTTP client call returned: its response's status, or an error; a
 * gRPC call attempt ended: its status code. */
struct call_end {
	struct event_header h;
	u64 start; /* bpf_ktime_get_ns at the call; 0: the call of the goroutine awaiting an end that names none */
	u32 status;
	u32 failed;
};


/* Anchors so the event types are in BTF for bpf2go's Go definitions. */
const enum event_type *unused_event_type __attribute__((unused));
const struct request_start *unused_request_start __attribute__((unused));
const struct route *unused_route __attribute__((unused));
const struct request_ended *unused_request_ended __attribute__((unused));
const struct outbound *unused_outbound __attribute__((unused));
const struct conn_state *unused_conn_state __attribute__((unused));
const enum conn_flag *unused_conn_flag __attribute__((unused));
const struct call *unused_call __attribute__((unused));
const enum op_layout *unused_op_layout __attribute__((unused));

/* Where a runtime type descriptor (abi.Type, Go 1.21+) keeps its name: a
 * nameOff from the types base, the key the loader gives for a type the
 * probes must recognize (inspect reads names at the same offset; a test
 * holds the two together). */
enum go_abi {
	ABI_TYPE_STR = 40,
};
const enum go_abi *unused_go_abi __attribute__((unused));
const struct call_end *unused_call_end __attribute__((unused));

/* The cookie the loader attaches to each uprobe site: SITE_AT_ENTRY, the
 * site is a function's entry, before its prologue saves the frame
 * pointer (see probe_stack). */
enum site_cookie {
	SITE_AT_ENTRY = 1,
};
const enum site_cookie *unused_site_cookie __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

/* What a goroutine works for: a request id, for request goroutines and
 * their descendants; and for the goroutine serving an HTTP request, its
 * *http.Request (0 for the others), from the request's start to its end,
 * where the ServeMux pattern the handler was chosen by is read and the
 * request's context is released. One value, so the start and the end each
 * touch one entry. */
struct goroutine_req {
	u64 id;
	u64 req;
	u64 ctx; /* the request's context in ctx_request, deleted at its end */
	/* Gin's route template (a string of the router's tree, which lives
	 * as long as the engine) and handler, kept once the handlers ran for
	 * the end to send: one record per request, not two. */
	u64 route;
	u64 route_len;
	u64 handler_pc;
	u64 routed; /* route and handler_pc are set (a route may be empty) */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, u64);
	__type(value, struct goroutine_req);
} goroutine_request SEC(".maps");

/* New keys and deletes of the LRU maps whose entries outlive requests,
 * per CPU: the kernel counts no LRU evictions, so user space derives them
 * as inserts - deletes - entries. goroutine_request keeps the entries of
 * goroutines that never served a request and those of HTTP/1
 * connections' goroutines between requests (the next request writes it in
 * place; the last is evicted once the connection is gone), dial_name those of goroutines
 * whose dial got no connection established (the others' are deleted
 * then), outbound_conns one per connection, connect_by_thread one
 * per thread; the other maps' entries are deleted as their request or
 * call ends. */
enum lru_count {
	GOROUTINE_REQUEST_INSERTS,
	GOROUTINE_REQUEST_DELETES,
	DIAL_NAME_INSERTS,
	DIAL_NAME_DELETES,
	OUTBOUND_CONNS_INSERTS,
	CONNECT_BY_THREAD_INSERTS,
	LRU_COUNTS,
};
const enum lru_count *unused_lru_count __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LRU_COUNTS);
	__type(key, u32);
	__type(value, u64);
} lru_counts SEC(".maps");

static __always_inline void count_lru(u32 i)
{
	u64 *n = bpf_map_lookup_elem(&lru_counts, &i);
	if (n)
		(*n)++;
}

/* Sets key to value; true if the key was new (a new key is the usual
 * case; a key that exists costs a second update). */
#define set_key(map, key, value)                                                 \
	({                                                                       \
		bool __new = !bpf_map_update_elem(map, key, value, BPF_NOEXIST); \
		if (!__new)                                                      \
			bpf_map_update_elem(map, key, value, BPF_EXIST);         \
		__new;                                                           \
	})

/* Sets key to value, counting a new key in counter i. */
#define lru_set(map, i, key, value)               \
	do {                                      \
		if (set_key(map, key, value))     \
			count_lru(i);             \
	} while (0)

/* Deletes key, counting it in counter i if it was there. */
#define lru_delete(map, i, key)                   \
	do {                                      \
		if (!bpf_map_delete_elem(map, key)) \
			count_lru(i);             \
	} while (0)

/* goid -> *gin.Context, between handleHTTPRequest's entry and its RET
 * (only where a binary offers no emulated site for the route). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, u64);
	__type(value, u64);
} gin_context SEC(".maps");

/* Connect in flight: first keyed by thread (syscall entry), then by socket
 * (SYN_SENT) until the handshake completes (ESTABLISHED) with the tuple. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, u32);
	__type(value, struct outbound);
} connect_by_thread SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, u64);
	__type(value, struct outbound);
} connect_by_sock SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} request_seq SEC(".maps");

/* An inbound request's context (the data word of Request.ctx) -> request
 * id, while it is served. A plain hash map, not an LRU one: each entry is
 * deleted at its request's end, and an LRU map's insert and delete cost
 * twice a plain one's (its lists and their locks); full (16384 requests
 * in flight), it refuses a new request's context, which stats show. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, u64);
	__type(value, u64);
} ctx_request SEC(".maps");

/* goid -> the address it last gave net.Dialer (inherited by the
 * goroutines it starts meanwhile: a dual-stack dial races two). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, u64);
	__type(value, struct remote_name);
} dial_name SEC(".maps");


/* A gRPC call attempt's CallHdr -> the goroutine that started it and
 * when (its call event's timestamp), until the attempt ends: a stream's
 * may end in another goroutine. */
struct grpc_started {
	u64 goid;
	u64 start;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, u64);
	__type(value, struct grpc_started);
} grpc_call_start SEC(".maps");

/* goid -> the request of the goroutine's last library call that carried a
 * context descending from a request's (database/sql, go-redis): its
 * connection's uses count for that request, not the goroutine's own. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, u64);
	__type(value, u64);
} goroutine_call SEC(".maps");

/* How many keys dial_name and goroutine_call may hold: counted up before a
 * new key goes in and down after a key is deleted, so never below the
 * keys there (an LRU eviction leaves it above). At 0 their lookups are
 * skipped: a goroutine's start, a request's end and a write look in both,
 * and a service that opens no connection and makes no context-carrying
 * library call keeps both empty. A lookup that matters follows the insert
 * in the same goroutine (a child's start, its dial's connect, its writes,
 * its request's end), which sees the count the insert raised. */
volatile u64 dial_name_keys = 0;
volatile u64 goroutine_call_keys = 0;

#define MAY_HOLD(keys) ((keys) != 0)

/* Sets key to value in a map whose keys are counted in *keys; true if
 * the key was new. */
#define counted_set(map, keys, key, value)                 \
	({                                                 \
		__sync_fetch_and_add(keys, 1);             \
		bool __added = set_key(map, key, value);   \
		if (!__added)                              \
			__sync_fetch_and_add(keys, -1);    \
		__added;                                   \
	})

/* Deletes key from a map whose keys are counted in *keys; true if it was
 * there. */
#define counted_delete(map, keys, key)                  \
	({                                              \
		bool __gone = !bpf_map_delete_elem(map, key); \
		if (__gone)                             \
			__sync_fetch_and_add(keys, -1); \
		__gone;                                 \
	})

/* Outbound TCP connections of the target, by socket inode: those it
 * connected while traced, and those the loader found open in /proc when
 * the trace started. Every write to one is a use; a write starts a new
 * exchange (and an outbound record) when bytes came in since the last
 * write, the connection was idle, or another request writes. */
enum conn_flag {
	CONN_PREEXISTING = 1, /* found open in /proc when the trace started */
	CONN_CALLER_SIDE = 2, /* reported by the client's own probe (round_trip) */
	CONN_WRITTEN = 4,     /* a write to it was seen */
	CONN_TUPLE = 8,       /* t holds its tuple, as its netFD gave it */
};
#define IDLE_NS (1000ULL * 1000 * 1000)

struct conn_state {
	struct remote_name remote; /* what the dialer was asked for, if seen */
	u64 opened_by;   /* request that connected it; 0: none or before the trace */
	u64 request;     /* request of the last write */
	u64 last_rx;     /* tcp bytes_received at the last write */
	u64 last_ts;
	u32 uses;        /* exchanges seen at writes */
	u32 flags;
	u32 calls;       /* client calls reported by a client's own probe */
	u32 _pad;
	struct tuple t;  /* with CONN_TUPLE: its next calls copy it */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, u64);
	__type(value, struct conn_state);
} outbound_conns SEC(".maps");

/* Which of the target's file descriptors may be an outbound connection's:
 * set at the fd's connect (and by the helper for the connections open
 * before the trace); cleared when a client's own probe reports the
 * connection (caller_side), whose writes are never reported. A write to
 * any other fd below FILTERED_FDS (an accepted connection's response, a
 * file, a pipe, an HTTP client's connection) returns at once, before the
 * walk from fd to socket; a set fd is still checked by its socket's
 * inode, as it may have been closed and reused. */
enum { FILTERED_FDS = 65536 };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FILTERED_FDS);
	__type(key, u32);
	__type(value, u8);
} outbound_fds SEC(".maps");

/* Events dropped because the ring buffer was full, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} lost SEC(".maps");

/* A request_start is built here and only its used part (the configured
 * headers) goes to the ring buffer: most of the struct is header slots. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct request_start);
} request_scratch SEC(".maps");

static __always_inline void count_lost(void)
{
	u32 zero = 0;
	u64 *n = bpf_map_lookup_elem(&lost, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
}

/* Records never wake the reader: it reads the buffer on a timer (the
 * helper's drainEvery), and a wakeup would cost more than the record. */
#define RB_NO_WAKEUP 1

static __always_inline void *reserve(u64 size)
{
	void *e = bpf_ringbuf_reserve(&events, size, 0);
	if (!e)
		count_lost();
	return e;
}

static __always_inline u64 read_u64(u64 addr)
{
	u64 v = 0;
	bpf_probe_read_user(&v, sizeof(v), (void *)addr);
	return v;
}

static __always_inline u64 goid_of(u64 g)
{
	if (!g)
		return 0;
	return read_u64(g + CFG.g_goid);
}

static __always_inline u64 current_goid(struct pt_regs *ctx)
{
	return goid_of(GO_G(ctx));
}

static __always_inline bool is_target(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == CFG.tgid;
}

static __always_inline void fill_header(struct event_header *h, u32 type, u64 goid, u64 request)
{
	h->type = type;
	h->tid = (u32)bpf_get_current_pid_tgid();
	h->ts = bpf_ktime_get_ns();
	h->goid = goid;
	h->request = request;
}

static __always_inline u64 request_of(u64 goid)
{
	struct goroutine_req *r = bpf_map_lookup_elem(&goroutine_request, &goid);
	return r ? r->id : 0;
}

/* The request a connection use by goroutine goid counts for: that of the
 * goroutine's last context-carrying library call (ctx_call), else the
 * goroutine's own. */
static __always_inline u64 request_of_use(u64 goid)
{
	u64 *call = MAY_HOLD(goroutine_call_keys) ? bpf_map_lookup_elem(&goroutine_call, &goid) : 0;
	return call ? *call : request_of(goid);
}

/* ---- reading the target's structs ----------------------------------
 * Each copy out of the target's memory costs a fixed amount several times
 * that of the bytes it copies, so the fields a program reads of one struct
 * are copied at once: the span from the struct's start to the end of the
 * highest of them, into this CPU's block. A program reads its fields out
 * of the block before it reads another; programs that run in interrupt
 * context (inet_sock_set_state) never use it. */
#define BLOCK_SIZE 512

struct block {
	u8 b[BLOCK_SIZE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct block);
} block_scratch SEC(".maps");

#define MAX2(a, b) ((a) > (b) ? (a) : (b))
#define MAX3(a, b, c) MAX2(MAX2(a, b), c)
#define MAX4(a, b, c, d) MAX2(MAX2(a, b), MAX2(c, d))

/* A struct's fields copied at once: b, its first BLOCK_SIZE bytes at
 * most (0: none copied), of the struct at addr. */
struct span {
	const u8 *b;
	u64 addr;
};

/* Copies size bytes at addr (size: the end of the highest field the
 * caller reads, a constant) into the block. */
static __always_inline struct span read_span(u64 addr, u64 size)
{
	struct span s = { .addr = addr };
	u32 zero = 0;
	struct block *b = bpf_map_lookup_elem(&block_scratch, &zero);
	if (!b || !addr)
		return s;
	if (size > BLOCK_SIZE)
		size = BLOCK_SIZE;
	if (bpf_probe_read_user(b->b, size, (void *)addr) == 0)
		s.b = b->b;
	return s;
}

/* A map bucket or group copied into the block (size: a constant under
 * 4096): where the whole copy fails, its part before the next 4 KiB
 * boundary is copied and the rest reads as zero. A fresh bucket or group
 * can end in a page the target has not touched yet, which is not there to
 * copy: the slots there were never written, so they read as empty. (It
 * crosses at most one 4 KiB boundary, and any larger page's boundary is
 * one.) s.b is NULL if nothing could be copied. A bucket never read field
 * by field keeps the verifier's walk of its slots to one path. */
static __always_inline struct span read_map_block(u64 addr, u64 size)
{
	struct span s = read_span(addr, size);
	u64 n = 4096 - (addr & 4095);
	if (s.b || !addr || n >= size)
		return s;
	/* read_span's failed copy left the block zeroed */
	u32 zero = 0;
	struct block *b = bpf_map_lookup_elem(&block_scratch, &zero);
	if (b && bpf_probe_read_user(b->b, n, (void *)addr) == 0)
		s.b = b->b;
	return s;
}

/* The word at off of a struct read_span copied (off + 8 within the size it
 * was given); a field beyond the block, or of a struct that could not be
 * copied, is read on its own. */
static __always_inline u64 span_u64(struct span s, u64 off)
{
	if (s.b && off <= BLOCK_SIZE - 8)
		return *(const u64 *)(s.b + off);
	return s.addr ? read_u64(s.addr + off) : 0;
}

static __always_inline u8 span_u8(struct span s, u64 off)
{
	u8 v = 0;
	if (s.b && off <= BLOCK_SIZE - 1)
		return s.b[off];
	if (s.addr)
		bpf_probe_read_user(&v, 1, (void *)(s.addr + off));
	return v;
}

/* A Go string header. */
struct gostr {
	u64 ptr;
	u64 len;
};

/* A Go interface value. */
struct iface {
	u64 itab;
	u64 data;
};

static __always_inline struct gostr span_gostr(struct span b, u64 off)
{
	struct gostr s = { .ptr = span_u64(b, off), .len = span_u64(b, off + 8) };
	return s;
}

/* Copies a Go string's bytes into dst, truncated; returns the length copied. */
static __always_inline u32 read_gostr(struct gostr s, char *dst, u32 max)
{
	u64 len = s.len;
	if (!s.ptr || !len)
		return 0;
	if (len > max)
		len = max;
	len &= (MAX_PATH * 2 - 1); /* bound for the verifier; max <= MAX_PATH */
	if (len > max)
		len = max;
	if (bpf_probe_read_user(dst, len, (void *)s.ptr) < 0)
		return 0;
	return len;
}

/* Reads a Go string (ptr, len) into dst, truncated; returns the length read. */
static __always_inline u32 read_go_string(u64 addr, char *dst, u32 max)
{
	struct gostr s = {};
	if (!addr || bpf_probe_read_user(&s, sizeof(s), (void *)addr) < 0)
		return 0;
	return read_gostr(s, dst, max);
}

/* ---- request headers -------------------------------------------------
 * http.Header is map[string][]string. Before Go 1.24 maps are hmaps with
 * buckets of 8; from 1.24 they are Swiss tables with groups of 8. Header
 * keys are canonical ("Traceparent"), so the loader sends the canonical
 * names' lengths and FNV-1a hashes and we compare those. */

#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL

struct header_scan {
	struct request_start *e;
	u64 base;   /* bucket array or group array */
	u64 count;  /* buckets or groups */
	u32 found;
	u32 lower;  /* gRPC metadata: lower-case keys */
};

/* Which header asked for the key is (-1: none). A global function,
 * verified once on its own: inlined into the slot loops (24 slots a
 * bucket chain), its hash loop over a key of unknown length multiplied
 * the states the verifier walked past its million-instruction limit on
 * some kernels (6.18.44, with three headers asked for). */
__attribute__((noinline)) int match_name(u64 key_ptr, u64 key_len, u32 lower)
{
	int idx = -1;
	for (int j = 0; j < MAX_HEADERS; j++) {
		if (j >= CFG.n_headers)
			break;
		if (CFG.header_len[j] == key_len)
			idx = j;
	}
	if (idx < 0)
		return -1;

	char name[MAX_HEADER_NAME] = {};
	if (key_len > MAX_HEADER_NAME)
		return -1;
	if (bpf_probe_read_user(name, key_len & (MAX_HEADER_NAME - 1) ? key_len & (MAX_HEADER_NAME - 1) : MAX_HEADER_NAME, (void *)key_ptr) < 0)
		return -1;
	u64 h = FNV_OFFSET;
	for (int i = 0; i < MAX_HEADER_NAME; i++) {
		if (i >= key_len)
			break;
		h ^= (u8)name[i];
		h *= FNV_PRIME;
	}
	for (int j = 0; j < MAX_HEADERS; j++) {
		if (j >= CFG.n_headers)
			break;
		if (CFG.header_len[j] == key_len && (lower ? CFG.md_header_hash[j] : CFG.header_hash[j]) == h)
			return j;
	}
	return -1;
}

/* A map slot of a bucket or group copied into the block b: its key, a
 * Go string at key_off, and its element, a []string at elem_off. Only a
 * key as long as a header asked for is copied, and only its element's
 * first value of one that matches. */
static __always_inline void check_slot(struct request_start *e, u32 lower, struct span b, u64 key_off, u64 elem_off)
{
	struct gostr key = span_gostr(b, key_off);
	if (!key.ptr || !key.len || key.len > MAX_HEADER_NAME)
		return;
	int j = match_name(key.ptr, key.len, lower);
	if (j < 0 || j >= MAX_HEADERS)
		return;
	struct gostr vals = span_gostr(b, elem_off); /* a []string's pointer and length */
	if (!vals.ptr || !vals.len)
		return;
	struct header_value *hv = &e->headers[j];
	struct gostr v = {};
	bpf_probe_read_user(&v, sizeof(v), (void *)vals.ptr);
	hv->present = 1;
	if (!v.ptr || !v.len)
		return;
	u64 slen = v.len;
	if (slen > MAX_HEADER_VALUE)
		slen = MAX_HEADER_VALUE;
	if (bpf_probe_read_user(hv->value, slen & (MAX_HEADER_VALUE - 1) ? slen & (MAX_HEADER_VALUE - 1) : MAX_HEADER_VALUE, (void *)v.ptr) == 0)
		hv->len = slen;
}

/* hmap bucket for map[string][]string: tophash[8], keys[8]string,
 * elems[8][]string, overflow *bmap. */
#define HMAP_BUCKET_SIZE (8 + 8 * 16 + 8 * 24 + 8)
#define HMAP_MIN_TOPHASH 5

static long scan_hmap_bucket(u64 index, void *arg)
{
	struct header_scan *s = arg;
	if (index >= s->count)
		return 1;
	u64 addr = s->base + index * HMAP_BUCKET_SIZE;
	for (int chain = 0; chain < 3 && addr; chain++) {
		struct span b = read_map_block(addr, HMAP_BUCKET_SIZE);
		if (!b.b)
			break;
		for (int i = 0; i < 8; i++) {
			if (span_u8(b, i) < HMAP_MIN_TOPHASH) /* empty or evacuated */
				continue;
			check_slot(s->e, s->lower, b, 8 + i * 16, 8 + 8 * 16 + i * 24);
		}
		addr = span_u64(b, HMAP_BUCKET_SIZE - 8);
	}
	return 0;
}

/* Swiss group for map[string][]string: ctrl word, then 8 slots of
 * {key string, elem []string}. A ctrl byte with the high bit clear is full. */
#define SWISS_SLOT_SIZE (16 + 24)
#define SWISS_GROUP_SIZE (8 + 8 * SWISS_SLOT_SIZE)

static __always_inline void scan_swiss_group(struct request_start *e, u32 lower, u64 g)
{
	struct span b = read_map_block(g, SWISS_GROUP_SIZE);
	if (!b.b)
		return;
	u64 ctrl = span_u64(b, 0);
	for (int i = 0; i < 8; i++) {
		u8 c = (ctrl >> (i * 8)) & 0xff;
		if (c & 0x80)
			continue;
		u64 slot = 8 + i * SWISS_SLOT_SIZE;
		check_slot(e, lower, b, slot, slot + 16);
	}
}

static long scan_swiss_group_cb(u64 index, void *arg)
{
	struct header_scan *s = arg;
	if (index >= s->count)
		return 1;
	scan_swiss_group(s->e, s->lower, s->base + index * SWISS_GROUP_SIZE);
	return 0;
}

static long scan_swiss_table_cb(u64 index, void *arg)
{
	struct header_scan *s = arg;
	/* base: directory of *table; table.groups{data, lengthMask} at 16. */
	u64 table = read_u64(s->base + index * 8);
	if (!table)
		return 0;
	struct header_scan g = { .e = s->e, .lower = s->lower };
	g.base = read_u64(table + 16);
	g.count = read_u64(table + 24) + 1;
	if (g.count > 64)
		g.count = 64;
	bpf_loop(g.count, scan_swiss_group_cb, &g, 0);
	return 0;
}

/* Reads the headers asked for out of a map[string][]string: an
 * http.Header (canonical keys) or gRPC metadata (lower-case keys). */
static __always_inline void read_header_map(struct request_start *e, u64 m, u32 lower)
{
	if (!m)
		return;
	struct header_scan s = { .e = e, .lower = lower };
	if (CFG.swiss_maps) {
		/* internal/runtime/maps.Map: used, seed, dirPtr, dirLen, ... */
		u64 dir_words[2] = {};
		bpf_probe_read_user(dir_words, sizeof(dir_words), (void *)(m + 16));
		u64 dir = dir_words[0];
		s64 dir_len = (s64)dir_words[1];
		if (!dir)
			return;
		if (dir_len == 0) {
			scan_swiss_group(e, lower, dir);
			return;
		}
		if (dir_len < 0 || dir_len > 16)
			dir_len = 16;
		s.base = dir;
		s.count = dir_len;
		bpf_loop(dir_len, scan_swiss_table_cb, &s, 0);
		return;
	}
	/* runtime.hmap: count, flags, B, noverflow, hash0, buckets, oldbuckets */
	u8 fb[2] = {};
	bpf_probe_read_user(fb, 2, (void *)(m + 8));
	u8 B = fb[1] > 6 ? 6 : fb[1];
	u64 nb = 1ULL << B;
	s.base = read_u64(m + 16);
	s.count = nb;
	if (s.base)
		bpf_loop(nb, scan_hmap_bucket, &s, 0);
	u64 old = read_u64(m + 24);
	if (old) {
		/* growing: cells not yet evacuated are still in the old array */
		s.base = old;
		s.count = (fb[0] & 8) ? nb : nb / 2; /* sameSizeGrow flag */
		if (s.count)
			bpf_loop(s.count, scan_hmap_bucket, &s, 0);
	}
}

/* ---- inbound requests ---------------------------------------------- */

/* net/http.serverHandler.ServeHTTP(sh, rw ResponseWriter, req *Request) */
/* A request starts on goroutine goid: a new id (in *id), the goroutine's
 * from now on, and the scratch request_start for it, with its header
 * filled and no header value yet. */
static __always_inline struct request_start *start_request(u64 goid, u64 req, u64 rctx, u64 *id)
{
	u32 zero = 0;
	u64 *seq = bpf_map_lookup_elem(&request_seq, &zero);
	if (!seq)
		return 0;
	*id = __sync_fetch_and_add(seq, 1) + 1;
	/* A connection's goroutine serves its requests one after another:
	 * its entry, kept when a request ends, is written in place. */
	struct goroutine_req *cur = bpf_map_lookup_elem(&goroutine_request, &goid);
	if (cur) {
		cur->id = *id;
		cur->req = req;
		cur->ctx = rctx;
		cur->routed = 0;
	} else {
		struct goroutine_req v = { .id = *id, .req = req, .ctx = rctx };
		lru_set(&goroutine_request, GOROUTINE_REQUEST_INSERTS, &goid, &v);
	}
	struct request_start *e = bpf_map_lookup_elem(&request_scratch, &zero);
	if (!e)
		return 0;
	fill_header(&e->h, EV_REQUEST_START, goid, *id);
	for (int j = 0; j < MAX_HEADERS; j++) {
		e->headers[j].len = 0;
		e->headers[j].present = 0;
	}
	return e;
}

/* Sends a request_start without the header slots it does not need: up to
 * the last slot of a header the request carries, or, carrying none, up to
 * its path's last byte. The helper reads what was not sent as absent. */
static __always_inline void send_request_start(struct request_start *e)
{
	u32 n = 0;
	for (int j = 0; j < MAX_HEADERS; j++) {
		if (j >= CFG.n_headers)
			break;
		if (e->headers[j].present)
			n = j + 1;
	}
	u64 size = offsetof(struct request_start, headers) + n * sizeof(struct header_value);
	if (!n)
		size = offsetof(struct request_start, path) + (e->path_len > MAX_PATH ? MAX_PATH : e->path_len);
	if (bpf_ringbuf_output(&events, e, size, RB_NO_WAKEUP))
		count_lost();
}

SEC("uprobe/serve_http")
int serve_http(struct pt_regs *ctx)
{
	if (CFG.empty_programs)
		return 0;
	u64 goid = current_goid(ctx);
	if (!goid)
		return 0;
	u64 id = 0;
	u64 req = GO_ARG4(ctx);
	struct span r = read_span(req, MAX4(CFG.request_ctx + 16, CFG.request_method + 16, CFG.request_url + 8,
					  CFG.request_header + 8));
	u64 rctx = span_u64(r, CFG.request_ctx + 8);
	struct request_start *e = start_request(goid, req, rctx, &id);
	if (!e)
		return 0;
	struct gostr method = span_gostr(r, CFG.request_method);
	u64 url = span_u64(r, CFG.request_url);
	u64 header = span_u64(r, CFG.request_header);
	if (rctx)
		bpf_map_update_elem(&ctx_request, &rctx, &id, BPF_ANY);
	e->method_len = read_gostr(method, e->method, MAX_METHOD);
	e->path_len = url ? read_go_string(url + CFG.url_path, e->path, MAX_PATH) : 0;
	if (CFG.n_headers)
		read_header_map(e, header, 0);
	send_request_start(e);
	return 0;
}

/* The ServeMux pattern ServeMux.ServeHTTP stored in the *Request it was
 * given: Request.Pattern (Go 1.23+), else Request.pat.str (Go 1.22). */
static __always_inline u32 read_pattern(u64 req, char *dst)
{
	if (!req || (!CFG.request_pattern && !CFG.request_pat))
		return 0;
	if (CFG.request_pattern)
		return read_go_string(req + CFG.request_pattern, dst, MAX_ROUTE);
	u64 pat = read_u64(req + CFG.request_pat);
	return pat ? read_go_string(pat + CFG.pattern_str, dst, MAX_ROUTE) : 0;
}

/* Sends a request_ended up to its route's last byte. */
static __always_inline void send_end(struct request_ended *e)
{
	u64 n = e->route_len > MAX_ROUTE ? MAX_ROUTE : e->route_len;
	if (bpf_ringbuf_output(&events, e, offsetof(struct request_ended, route) + n, RB_NO_WAKEUP))
		count_lost();
}

/* The request served by the current goroutine ends. keep: the goroutine
 * serves the connection's next request too (HTTP/1), so its entry stays
 * for that one to write in place; else it is deleted. */
static __always_inline int end_request(struct pt_regs *ctx, bool keep)
{
	u64 goid = current_goid(ctx);
	struct goroutine_req *r = bpf_map_lookup_elem(&goroutine_request, &goid);
	if (!r || !r->id)
		return 0;
	u64 id = r->id, req = r->req, rctx = r->ctx;
	struct gostr route = { .ptr = r->route, .len = r->route_len };
	u64 handler_pc = r->handler_pc, routed = r->routed;
	if (keep) {
		r->id = 0;
		r->req = 0;
		r->ctx = 0;
		r->routed = 0;
	} else {
		lru_delete(&goroutine_request, GOROUTINE_REQUEST_DELETES, &goid);
	}
	/* a delete takes the bucket's lock, a lookup none: most requests
	 * made no context-carrying library call */
	if (MAY_HOLD(goroutine_call_keys) && bpf_map_lookup_elem(&goroutine_call, &goid))
		counted_delete(&goroutine_call, &goroutine_call_keys, &goid);
	/* its context is no longer the request's to claim */
	if (rctx)
		bpf_map_delete_elem(&ctx_request, &rctx);
	struct request_ended e;
	fill_header(&e.h, EV_REQUEST_END, goid, id);
	e.handler_pc = routed ? handler_pc : 0;
	e.framework_route = routed != 0;
	/* Gin's route, else (its 404s too) the ServeMux pattern */
	e.route_len = routed && route.len ? read_gostr(route, e.route, MAX_ROUTE) : read_pattern(req, e.route);
	send_end(&e);
	return 0;
}

/* An HTTP/1 request's end: the first emulated instruction after
 * conn.serve's call of serverHandler.ServeHTTP returns, or, where a binary
 * offers none, each RET of serverHandler.ServeHTTP. Runs in the
 * connection's goroutine, after the handler returned and while the
 * *Request is still referenced. */
SEC("uprobe/request_end")
int request_end(struct pt_regs *ctx)
{
	if (CFG.empty_programs)
		return 0;
	return end_request(ctx, true);
}

/* An HTTP/2 request's end: the entry of the response writer's
 * handlerDone, in the goroutine net/http started for the request alone. */
SEC("uprobe/request_end_h2")
int request_end_h2(struct pt_regs *ctx)
{
	if (CFG.empty_programs)
		return 0;
	return end_request(ctx, false);
}

/* The route and handler of the request served by goroutine goid, from
 * its *gin.Context once the handlers have run: kept in the goroutine's
 * entry for the request's end to send, where the goroutine serves the
 * request; sent now where it is one the request started (a handler run in
 * a goroutine of its own, as http.TimeoutHandler does). */
static __always_inline void emit_route(u64 goid, u64 c)
{
	struct goroutine_req *r = bpf_map_lookup_elem(&goroutine_request, &goid);
	if (!r || !r->id || !c)
		return;
	struct span b = read_span(c, MAX2(CFG.gin_fullpath + 16, CFG.gin_handlers + 16));
	struct gostr full = span_gostr(b, CFG.gin_fullpath);
	/* handlers is a HandlersChain ([]HandlerFunc); the last is the handler */
	u64 hp = span_u64(b, CFG.gin_handlers);
	u64 hn = span_u64(b, CFG.gin_handlers + 8);
	u64 pc = 0;
	if (hp && hn > 0 && hn < 256) {
		u64 fv = read_u64(hp + (hn - 1) * 8);
		if (fv)
			pc = read_u64(fv);
	}
	if (r->req) {
		r->route = full.ptr;
		r->route_len = full.len;
		r->handler_pc = pc;
		r->routed = 1;
		return;
	}
	struct route *e = reserve(sizeof(*e));
	if (!e)
		return;
	fill_header(&e->h, EV_ROUTE, goid, r->id);
	e->route_len = read_gostr(full, e->route, MAX_ROUTE);
	e->handler_pc = pc;
	bpf_ringbuf_submit(e, RB_NO_WAKEUP);
}

/* gin.(*Engine).ServeHTTP's call of engine.pool.Put(c), after
 * handleHTTPRequest ran the handlers and before the context goes back to
 * the pool: Put(x any) has the *Context in its third register. */
SEC("uprobe/gin_route")
int gin_route(struct pt_regs *ctx)
{
	if (CFG.empty_programs)
		return 0;
	emit_route(current_goid(ctx), GO_ARG3(ctx));
	return 0;
}

/* Where a binary has no such call: handleHTTPRequest(engine, c *Context)'s
 * entry keeps c, each of its RETs reports the route. */
SEC("uprobe/gin_handle")
int gin_handle(struct pt_regs *ctx)
{
	if (CFG.empty_programs)
		return 0;
	u64 goid = current_goid(ctx);
	u64 c = GO_ARG2(ctx);
	if (goid && c)
		bpf_map_update_elem(&gin_context, &goid, &c, BPF_ANY);
	return 0;
}

SEC("uprobe/gin_handle_return")
int gin_handle_return(struct pt_regs *ctx)
{
	if (CFG.empty_programs)
		return 0;
	u64 goid = current_goid(ctx);
	u64 *cp = bpf_map_lookup_elem(&gin_context, &goid);
	if (!cp)
		return 0;
	u64 c = *cp;
	bpf_map_delete_elem(&gin_context, &goid);
	emit_route(goid, c);
	return 0;
}

/* ---- chi and echo ----------------------------------------------------
 * Both routers, like Gin, put their per-request context back into a
 * sync.Pool once the handlers have run: the probe sits on that call of
 * Put(x any), whose third register is the context. */

#define CHI_MAX_PATTERNS 8

struct route_buf {
	char buf[2 * MAX_ROUTE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct route_buf);
} route_scratch SEC(".maps");

/* s->buf[i], bounded for the verifier: the barrier keeps the compiler
 * from dropping the mask on what it knows of i. */
static __always_inline char route_buf_at(struct route_buf *s, u64 i)
{
	asm volatile("" : "+r"(i));
	return s->buf[i & (2 * MAX_ROUTE - 1)];
}

/* chi's Context.RoutePattern(): the patterns of the routers the request
 * went through (RoutePatterns), joined, where a mounted router's trailing
 * wildcard (slash, star) and the next pattern's leading slash make one
 * slash, then "//" and "/" trimmed from the end (unless the whole is "/").
 * Returns MAX_ROUTE when cut. */
static __always_inline u32 chi_pattern(u64 c, char *dst)
{
	u32 zero = 0;
	struct route_buf *s = bpf_map_lookup_elem(&route_scratch, &zero);
	if (!s)
		return 0;
	u64 p = read_u64(c + CFG.chi_route_patterns);
	u64 n = read_u64(c + CFG.chi_route_patterns + 8);
	if (!p || n == 0)
		return 0;
	u64 off = 0;
	bool cut = n > CHI_MAX_PATTERNS;
	for (int i = 0; i < CHI_MAX_PATTERNS; i++) {
		if (i >= n)
			break;
		u64 sp = read_u64(p + i * 16);
		u64 sl = read_u64(p + i * 16 + 8);
		if (!sp || !sl)
			continue;
		if (off >= 2 && route_buf_at(s, off - 2) == '/' && route_buf_at(s, off - 1) == '*')
			off -= 2;
		if (off >= MAX_ROUTE) {
			cut = true;
			break;
		}
		u64 len = sl;
		if (len > MAX_ROUTE - off) {
			len = MAX_ROUTE - off;
			cut = true;
		}
		u64 at = off;
		asm volatile("" : "+r"(at), "+r"(len));
		at &= MAX_ROUTE - 1;
		len &= 2 * MAX_ROUTE - 1;
		if (len > MAX_ROUTE)
			len = MAX_ROUTE;
		if (bpf_probe_read_user(&s->buf[at], len, (void *)sp) < 0)
			return 0;
		off += len;
		if (cut)
			break;
	}
	if (off > MAX_ROUTE)
		off = MAX_ROUTE;
	if (cut)
		off = MAX_ROUTE;
	else if (!(off == 1 && s->buf[0] == '/')) {
		if (off >= 2 && route_buf_at(s, off - 2) == '/' && route_buf_at(s, off - 1) == '/')
			off -= 2;
		if (off >= 1 && route_buf_at(s, off - 1) == '/')
			off -= 1;
	}
	u64 len = off;
	asm volatile("" : "+r"(len));
	len &= 2 * MAX_ROUTE - 1;
	if (len > MAX_ROUTE)
		len = MAX_ROUTE;
	if (bpf_probe_read_kernel(dst, len, s->buf) < 0)
		return 0;
	return len;
}

/* chi.(*Mux).ServeHTTP's call of mx.pool.Put(rctx), in the router that
 * made the routing context (a mounted router reuses it and puts none):
 * the route pattern; chi keeps no handler in its context. */
SEC("uprobe/chi_route")
int chi_route(struct pt_regs *ctx)
{
	if (CFG.empty_programs)
		return 0;
	u64 goid = current_goid(ctx);
	u64 id = request_of(goid);
	u64 c = GO_ARG3(ctx);
	if (!id || !c)
		return 0;
	struct route *e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->h, EV_ROUTE, goid, id);
	e->handler_pc = 0;
	e->_pad = 0;
	e->route_len = chi_pattern(c, e->route);
	if (!e->route_len) {
		bpf_ringbuf_discard(e, 0);
		return 0;
	}
	bpf_ringbuf_submit(e, RB_NO_WAKEUP);
	return 0;
}

/* echo.(*Echo).ServeHTTP's call of e.pool.Put(c): the matched route path
 * and handler the router stored in the context. Echo registers each
 * handler wrapped in a closure (Echo.add's func1) that applies the route's
 * middleware; the handler is that closure's first captured variable. */
SEC("uprobe/echo_route")
int echo_route(struct pt_regs *ctx)
{
	if (CFG.empty_programs)
		return 0;
	u64 goid = current_goid(ctx);
	u64 id = request_of(goid);
	u64 c = GO_ARG3(ctx);
	if (!id || !c)
		return 0;
	struct route *e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->h, EV_ROUTE, goid, id);
	e->_pad = 0;
	e->route_len = read_go_string(c + CFG.echo_path, e->route, MAX_ROUTE);
	if (!e->route_len) {
		bpf_ringbuf_discard(e, 0);
		return 0;
	}
	u64 fv = read_u64(c + CFG.echo_handler);
	u64 pc = fv ? read_u64(fv) : 0;
	if (pc && pc == CFG.echo_add_closure) {
		u64 inner = read_u64(fv + 8);
		pc = inner ? read_u64(inner) : 0;
	}
	e->handler_pc = pc;
	bpf_ringbuf_submit(e, RB_NO_WAKEUP);
	return 0;
}

/* ---- gRPC servers (grpc-go) -------------------------------------------
 * grpc-go serves each stream in a goroutine of its own, which runs
 * (*Server).handleStream -> processUnaryRPC or processStreamingRPC, and
 * those call the method's handler. A call's request starts at their entry
 * and ends when that goroutine writes the stream's status, after the
 * handler returned. */

/* The service implementation of a gRPC call, for its handler. */
struct grpc_impl {
	struct event_header h;
	u64 impl_type; /* runtime type of serviceInfo.serviceImpl, 0: none */
};

const struct grpc_impl *unused_grpc_impl __attribute__((unused));

/* goid -> the context data word the call's request is claimed by. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, u64);
	__type(value, u64);
} grpc_serving SEC(".maps");

static __always_inline bool ctx_walkable(u64 itab);

/* The incoming metadata map of a gRPC call's context: the value of the
 * valueCtx whose key is a metadata.mdIncomingKey (known by its type's
 * name offset), an MD: a map, so the interface's data word itself. */
static __always_inline u64 incoming_metadata(u64 itab, u64 data)
{
	if (!CFG.grpc_md_key_name)
		return 0;
	for (int i = 0; i < MAX_CTX_DEPTH; i++) {
		if (!data || !ctx_walkable(itab))
			return 0;
		u64 kt = read_u64(data + 16); /* valueCtx.key's type */
		u32 name = 0;
		if (kt && bpf_probe_read_user(&name, sizeof(name), (void *)(kt + ABI_TYPE_STR)) == 0 && name == CFG.grpc_md_key_name) {
			return read_u64(data + 40); /* valueCtx.val's data */
		}
		itab = read_u64(data);
		data = read_u64(data + 8);
	}
	return 0;
}

/* Reports the service implementation serving request id, from the
 * call's *serviceInfo. */
static __always_inline void emit_grpc_impl(u64 goid, u64 id, u64 info)
{
	if (!id)
		return;
	struct grpc_impl *c = reserve(sizeof(*c));
	if (!c)
		return;
	fill_header(&c->h, EV_GRPC_IMPL, goid, id);
	c->impl_type = info ? read_u64(info + CFG.grpc_info_impl) : 0;
	bpf_ringbuf_submit(c, RB_NO_WAKEUP);
}

/* (*Server).processUnaryRPC and processStreamingRPC(s, ctx, stream, info,
 * desc, trInfo), at entry (arm64: handleStream's bl to them): a call
 * starts in the goroutine that will run its handler; calls made with ctx
 * (or a context derived from it) are its. */
SEC("uprobe/grpc_start")
int grpc_start(struct pt_regs *ctx)
{
	if (CFG.empty_programs)
		return 0;
	u64 goid = current_goid(ctx);
	u64 stream = GO_ARG4(ctx);
	if (!goid || !stream)
		return 0;
	/* A gRPC server mounted in net/http (Server.ServeHTTP) serves the call
	 * in a goroutine the HTTP handler starts: the call is the HTTP request
	 * that carries it, which gets its route and handler. (A goroutine that
	 * started a call of its own before holds that call, not a carrier.) */
	u64 carrier = request_of(goid);
	if (carrier && !bpf_map_lookup_elem(&grpc_serving, &goid)) {
		emit_grpc_impl(goid, carrier, GO_ARG5(ctx));
		return 0;
	}
	u64 id = 0;
	struct request_start *e = start_request(goid, 0, 0, &id);
	if (!e)
		return 0;
	u64 citab = GO_ARG2(ctx);
	u64 cdata = GO_ARG3(ctx);
	bpf_map_update_elem(&grpc_serving, &goid, &cdata, BPF_ANY);
	if (cdata)
		bpf_map_update_elem(&ctx_request, &cdata, &id, BPF_ANY);
	__builtin_memcpy(e->method, "POST", 4);
	e->method_len = 4;
	e->path_len = read_go_string(stream + CFG.grpc_stream_stream + CFG.grpc_stream_method, e->path, MAX_PATH);
	if (CFG.n_headers)
		read_header_map(e, incoming_metadata(citab, cdata), 1);
	send_request_start(e);

	emit_grpc_impl(goid, id, GO_ARG5(ctx));
	return 0;
}

/* The HTTP/2 transport's writeStatus, at entry (arm64: the first emulated
 * instruction after handleStream's call of processUnaryRPC or
 * processStreamingRPC returns): the call ends when the goroutine that
 * started it (and ran the handler) writes its status; a stream the
 * handler's goroutines write to, or a second status, finds no call
 * started there. */
SEC("uprobe/grpc_end")
int grpc_end(struct pt_regs *ctx)
{
	if (CFG.empty_programs)
		return 0;
	u64 goid = current_goid(ctx);
	u64 *cp = bpf_map_lookup_elem(&grpc_serving, &goid);
	if (!cp)
		return 0;
	u64 cdata = *cp;
	bpf_map_delete_elem(&grpc_serving, &goid);
	if (cdata)
		bpf_map_delete_elem(&ctx_request, &cdata);
	u64 id = request_of(goid);
	if (!id)
		return 0;
	lru_delete(&goroutine_request, GOROUTINE_REQUEST_DELETES, &goid);
	struct request_ended e;
	fill_header(&e.h, EV_REQUEST_END, goid, id);
	e.handler_pc = 0;
	e.route_len = 0;
	e.framework_route = 0;
	send_end(&e);
	return 0;
}

/* ---- goroutine ancestry --------------------------------------------- */

/* A new g records its creator in g.parentGoid (Go 1.21+), so one probe
 * per goroutine creation is enough: the child inherits its parent's
 * request, or that of the call its parent is making for a request (a
 * pool that dials in a goroutine of its own). */
static __always_inline void inherit_request(u64 newg)
{
	struct span g = read_span(newg, MAX2(CFG.g_goid, CFG.g_parent_goid) + 8);
	u64 parent = span_u64(g, CFG.g_parent_goid);
	u64 child = span_u64(g, CFG.g_goid);
	if (!parent)
		return;
	struct remote_name *dn = MAY_HOLD(dial_name_keys) ? bpf_map_lookup_elem(&dial_name, &parent) : 0;
	if (dn && child && counted_set(&dial_name, &dial_name_keys, &child, dn))
		count_lru(DIAL_NAME_INSERTS);
	u64 id = request_of_use(parent);
	if (!id)
		return;
	struct goroutine_req v = { .id = id };
	if (child)
		lru_set(&goroutine_request, GOROUTINE_REQUEST_INSERTS, &child, &v);
}

/* runtime.newproc's system-stack closure calls runqput(pp, newg, true)
 * with the new g in its second register. */
SEC("uprobe/goroutine_start")
int goroutine_start(struct pt_regs *ctx)
{
	if (CFG.empty_programs)
		return 0;
	inherit_request(GO_ARG2(ctx));
	return 0;
}

/* Where a binary has no such call: each RET of runtime.newproc1, which
 * returns the new g. */
SEC("uprobe/newproc1_return")
int newproc1_return(struct pt_regs *ctx)
{
	if (CFG.empty_programs)
		return 0;
	inherit_request(GO_RET1(ctx));
	return 0;
}

/* ---- outbound: HTTP client round trips (covers keep-alive reuse) ---- */

static __always_inline bool read_tcpaddr(u64 iface_data, u8 *addr, u16 *port)
{
	if (!iface_data)
		return false;
	struct span b = read_span(iface_data, MAX2(CFG.tcpaddr_ip + 16, CFG.tcpaddr_port + 8));
	u64 ip = span_u64(b, CFG.tcpaddr_ip);
	u64 ip_len = span_u64(b, CFG.tcpaddr_ip + 8);
	*port = (u16)span_u64(b, CFG.tcpaddr_port);
	if (ip && (ip_len == 4 || ip_len == 16))
		bpf_probe_read_user(addr, ip_len == 4 ? 4 : 16, (void *)ip);
	return true;
}

/* The fields of a *net.netFD the probes use. */
struct netfd {
	u64 sysfd;
	u64 family;
	u64 laddr; /* the data words of its local and remote net.Addr */
	u64 raddr;
};

/* The netFD of a *net.TCPConn (conn), read into nf; false if conn is not
 * one (family/sotype check). */
static __always_inline bool tcp_netfd(u64 conn, struct netfd *nf)
{
	u64 fd = conn ? read_u64(conn + CFG.conn_fd) : 0;
	if (!fd)
		return false;
	struct span b = read_span(fd, MAX4(CFG.netfd_pfd + CFG.pollfd_sysfd + 8, CFG.netfd_family + 8,
					   CFG.netfd_sotype + 8, MAX2(CFG.netfd_laddr, CFG.netfd_raddr) + 16));
	s64 family = (s64)span_u64(b, CFG.netfd_family);
	s64 sotype = (s64)span_u64(b, CFG.netfd_sotype);
	if (!((family == AF_INET || family == AF_INET6) && sotype == 1 /* SOCK_STREAM */))
		return false;
	nf->sysfd = (u64)(s64)(int)span_u64(b, CFG.netfd_pfd + CFG.pollfd_sysfd);
	nf->family = family;
	nf->laddr = span_u64(b, CFG.netfd_laddr + 8);
	nf->raddr = span_u64(b, CFG.netfd_raddr + 8);
	return true;
}

/* ---- sockets: fd -> file -> socket inode and sock --------------------- */

static __always_inline struct file *file_of_fd(u64 fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = 0;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

static __always_inline u64 inode_of_file(struct file *f)
{
	return f ? BPF_CORE_READ(f, f_inode, i_ino) : 0;
}

/* The request an outbound call's context descends from, or 0: walks the
 * parent chain of the standard context types (their parent Context is
 * their first word) up to a context an inbound request is served with. */
#define ITAB_FUN 24 /* itab: inter, _type, hash (+pad), fun[] */

static __always_inline bool ctx_walkable(u64 itab)
{
	if (!itab || !CFG.n_ctx_types)
		return false;
	u64 deadline = read_u64(itab + ITAB_FUN);
	for (int i = 0; i < MAX_CTX_TYPES; i++) {
		if (i >= CFG.n_ctx_types)
			break;
		if (CFG.ctx_deadline[i] == deadline)
			return true;
	}
	return false;
}

static __always_inline u64 request_of_ctx(u64 itab, u64 data)
{
	for (int i = 0; i < MAX_CTX_DEPTH; i++) {
		if (!data)
			return 0;
		u64 *r = bpf_map_lookup_elem(&ctx_request, &data);
		if (r)
			return *r;
		if (!ctx_walkable(itab))
			return 0;
		struct iface parent = {};
		bpf_probe_read_user(&parent, sizeof(parent), (void *)data);
		itab = parent.itab;
		data = parent.data;
	}
	return 0;
}

/* ---- outbound: HTTP client round trips (covers keep-alive reuse) ---- */

/* The outbound connection state of the socket behind a *net.TCPConn's
 * netFD, created if the probes have not seen it yet; marked as reported
 * by the client's own probe, so its writes are not reported again (its
 * fd, the first time, cleared in outbound_fds: they return at once). */
static __always_inline struct conn_state *caller_side(const struct netfd *nf)
{
	u64 ino = inode_of_file(file_of_fd(nf->sysfd));
	if (!ino)
		return 0;
	struct conn_state *c = bpf_map_lookup_elem(&outbound_conns, &ino);
	if (!c) {
		struct conn_state n = {};
		if (!bpf_map_update_elem(&outbound_conns, &ino, &n, BPF_NOEXIST))
			count_lru(OUTBOUND_CONNS_INSERTS);
		c = bpf_map_lookup_elem(&outbound_conns, &ino);
		if (!c)
			return 0;
	}
	if (!(c->flags & CONN_CALLER_SIDE) && nf->sysfd < FILTERED_FDS) {
		u32 k = nf->sysfd;
		u8 no = 0;
		bpf_map_update_elem(&outbound_fds, &k, &no, BPF_ANY);
	}
	c->flags |= CONN_CALLER_SIDE;
	return c;
}

/* The netFD of a net.Conn interface's data word: a *net.TCPConn, or a
 * *tls.Conn wrapping one. */
static __always_inline bool conn_netfd(u64 data, struct netfd *nf)
{
	return tcp_netfd(data, nf) || (data && tcp_netfd(read_u64(data + CFG.tlsconn_conn + 8), nf));
}

/* A call's operation: its method, scheme, host and path, as Go strings
 * (absent: zero). */
struct call_op {
	struct gostr method, scheme, host, path;
};

/* ---- the stack of a syscall's caller ---------------------------------
 * What bpf_get_stack(BPF_F_USER_STACK) gives, for less: the pc, then the
 * return address of each frame up the frame-pointer chain (a frame record
 * is {caller's frame pointer, return address} on amd64 and arm64). The
 * kernel copies each record on its own, and a Go stack at a socket write
 * is some 30 frames deep; here the STACK_WINDOW bytes above the stack
 * pointer are copied at once and the records in them read from the copy,
 * and only those beyond are copied one by one. */
#define STACK_WINDOW 4096

struct stack_window {
	u8 b[STACK_WINDOW];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct stack_window);
} stack_scratch SEC(".maps");

struct user_stack {
	u64 pcs[MAX_STACK];
};

/* Fills dst with pc (0: the return address at sp) and the return
 * addresses up the frame-pointer chain from fp (sp: the stack pointer);
 * returns the bytes filled, as bpf_get_stack does. A global function:
 * verified once, whatever its callers do after it. */
__attribute__((noinline)) int walk_stack(struct user_stack *dst, u64 pc, u64 sp, u64 fp)
{
	if (!dst)
		return 0;
	u32 zero = 0;
	struct stack_window *w = bpf_map_lookup_elem(&stack_scratch, &zero);
	if (w && bpf_probe_read_user(w->b, STACK_WINDOW, (void *)sp) < 0)
		w = 0;
	if (!pc) {
		if (w)
			__builtin_memcpy(&pc, w->b, sizeof(pc));
		else
			bpf_probe_read_user(&pc, sizeof(pc), (void *)sp);
	}
	dst->pcs[0] = pc;
	int n = 1;
	for (int i = 1; i < MAX_STACK; i++) {
		u64 rec[2]; /* the caller's frame pointer, the return address */
		if (!fp || (fp & 7))
			break;
		u64 off = fp - sp;
		if (w && fp >= sp && off <= STACK_WINDOW - sizeof(rec))
			__builtin_memcpy(rec, w->b + off, sizeof(rec));
		else if (bpf_probe_read_user(rec, sizeof(rec), (void *)fp) < 0)
			break;
		dst->pcs[i] = rec[1];
		n = i + 1;
		if (rec[0] <= fp) /* frames go up the stack */
			break;
		fp = rec[0];
	}
	return n * sizeof(u64);
}

/* The stack at a uprobe. A site at a function's entry (its cookie says)
 * is before the prologue saves the frame pointer: the chain from fp
 * starts at the caller's caller, and the return address into the caller
 * is where the call left it (at sp on amd64, in the link register on
 * arm64). The stack starts there: the probed function's own frame, a
 * library's, is left out. */
static __always_inline long probe_stack(struct pt_regs *ctx, u64 *dst)
{
	u64 pc = PT_REGS_IP(ctx);
	if (bpf_get_attach_cookie(ctx) & SITE_AT_ENTRY) {
#if defined(__TARGET_ARCH_x86)
		pc = 0;
#elif defined(__TARGET_ARCH_arm64)
		pc = ctx->regs[30];
#endif
	}
	return walk_stack((struct user_stack *)dst, pc, PT_REGS_SP(ctx), PT_REGS_FP(ctx));
}

/* The stack of a syscall's caller, from the user registers its entry saved. */
static __always_inline long syscall_stack(struct pt_regs *regs, u64 *dst)
{
	return walk_stack((struct user_stack *)dst, PT_REGS_IP_CORE(regs), PT_REGS_SP_CORE(regs),
			  PT_REGS_FP_CORE(regs));
}

/* Reports a client call (event type ev) on the connection of netFD nf,
 * made in the current goroutine with the context (itab, data). The request
 * is the one the context descends from (a worker serving many requests
 * passes each one's), else the goroutine's. Returns the event's timestamp
 * (0: not reported); awaits_end 1: an HTTP call, whose end the same
 * goroutine reports (its call_end names no start: user space pairs the
 * two by goroutine, as it keeps one call awaiting its end per goroutine,
 * and no map entry is written here and deleted there); 2: a call whose
 * end names it by start (the caller keeps that). */
static __always_inline u64 report_call(struct pt_regs *ctx, struct conn_state *c, u32 ev, u64 goid,
					 const struct netfd *nf, u64 itab, u64 data, u32 reused, const struct call_op *op,
					 u32 awaits_end, u64 ts)
{
	u64 id = data ? request_of_ctx(itab, data) : 0;
	if (!id)
		id = request_of(goid);
	struct call *e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->o.h, ev, goid, id);
	if (ts)
		e->o.h.ts = ts;
	if (c && (c->flags & CONN_TUPLE)) {
		__builtin_memcpy(&e->o.t, &c->t, sizeof(e->o.t));
	} else {
		__builtin_memset(&e->o.t, 0, sizeof(e->o.t));
		e->o.t.family = (u16)nf->family;
		read_tcpaddr(nf->laddr, e->o.t.saddr, &e->o.t.sport);
		read_tcpaddr(nf->raddr, e->o.t.daddr, &e->o.t.dport);
		/* a connection's addresses never change: its next calls copy
		 * them (the flag is stored after the copy) */
		if (c && e->o.t.sport && e->o.t.dport) {
			__builtin_memcpy(&c->t, &e->o.t, sizeof(c->t));
			asm volatile("" ::: "memory");
			c->flags |= CONN_TUPLE;
		}
	}
	e->o.reused = reused;
	e->o.stack_len = probe_stack(ctx, e->o.stack);
	if (c)
		__builtin_memcpy(&e->o.remote, &c->remote, sizeof(e->o.remote));
	else
		e->o.remote.len = 0;
	e->op_lens[0] = read_gostr(op->method, (char *)e->op + OP_METHOD, OP_METHOD_MAX);
	e->op_lens[1] = read_gostr(op->scheme, (char *)e->op + OP_SCHEME, OP_SCHEME_MAX);
	e->op_lens[2] = read_gostr(op->host, (char *)e->op + OP_HOST, OP_HOST_MAX);
	e->op_lens[3] = read_gostr(op->path, (char *)e->op + OP_PATH, OP_PATH_MAX);
	e->awaits_end = awaits_end;
	e->hello_only = 0;
	u64 now = e->o.h.ts;
	bpf_ringbuf_submit(e, RB_NO_WAKEUP);
	return now;
}

/* Reports an HTTP call with the context, method and URL of an
 * *http.Request (or the HTTP/2 client's *ClientRequest, whose offsets
 * differ). */
static __always_inline void report_http(struct pt_regs *ctx, struct conn_state *c, u64 goid,
					const struct netfd *nf, u64 req, u64 ctx_off, u64 method_off, u64 url_off,
					u32 reused, u32 awaits_end, u64 ts)
{
	struct call_op op = {};
	struct span r = read_span(req, MAX3(ctx_off + 16, method_off + 16, url_off + 8));
	u64 itab = span_u64(r, ctx_off);
	u64 data = span_u64(r, ctx_off + 8);
	u64 url = span_u64(r, url_off);
	op.method = span_gostr(r, method_off);
	struct span u = read_span(url, MAX3(CFG.url_scheme, CFG.url_host, CFG.url_path) + 16);
	op.scheme = span_gostr(u, CFG.url_scheme);
	op.host = span_gostr(u, CFG.url_host);
	op.path = span_gostr(u, CFG.url_path);
	report_call(ctx, c, EV_ROUND_TRIP, goid, nf, itab, data, reused, &op, awaits_end, ts);
}

/* A call on a multiplexed connection: new only on its first call, which
 * is also the first by timestamp: *ts is taken here, next to the count
 * that decides (two calls racing on a new connection on two CPUs). */
static __always_inline u32 next_call(struct conn_state *c, u64 *ts)
{
	*ts = bpf_ktime_get_ns();
	if (!c)
		return 0;
	u32 reused = c->calls > 0 || (c->flags & CONN_PREEXISTING);
	c->calls++;
	return reused;
}

/* net/http.(*persistConn).roundTrip(pc, req *transportRequest), called in
 * the goroutine that made the request. */
SEC("uprobe/round_trip")
int round_trip(struct pt_regs *ctx)
{
	if (CFG.empty_programs)
		return 0;
	u64 goid = current_goid(ctx);
	u64 pc = GO_ARG1(ctx);
	if (!goid || !pc)
		return 0;
	/* pc.conn is a net.Conn */
	struct span b = read_span(pc, MAX2(CFG.pconn_conn + 16, CFG.pconn_reused + 1));
	u64 conn = span_u64(b, CFG.pconn_conn + 8);
	u8 reused = span_u8(b, CFG.pconn_reused);
	struct netfd nf;
	if (!conn_netfd(conn, &nf))
		return 0;
	struct conn_state *c = caller_side(&nf);
	u64 treq = GO_ARG2(ctx);
	u64 req = treq ? read_u64(treq + CFG.treq_request) : 0;
	report_http(ctx, c, goid, &nf, req, CFG.request_ctx, CFG.request_method, CFG.request_url, reused,
		    CFG.round_trip_end, 0);
	return 0;
}

/* The first emulated instruction after net/http.(*Transport).roundTrip's
 * call of (*persistConn).roundTrip returns, with only compares, tests and
 * stores between: its results (resp *Response, err error) are in the first
 * result registers; resp's status code at status_off. The end of the HTTP
 * call the goroutine last reported (start 0: user space pairs them); a
 * round trip on a connection round_trip did not report (not TCP) ends here
 * too, and user space, awaiting no call of the goroutine, drops it. */
static __always_inline int call_ended(struct pt_regs *ctx, u64 status_off)
{
	u64 goid = current_goid(ctx);
	if (!goid)
		return 0;
	struct call_end *e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->h, EV_CALL_END, goid, 0);
	e->start = 0;
	u64 resp = GO_RET1(ctx);
	e->failed = GO_RET2(ctx) != 0; /* err's itab */
	e->status = 0;
	if (resp && !e->failed)
		e->status = (u32)read_u64(resp + status_off);
	bpf_ringbuf_submit(e, RB_NO_WAKEUP);
	return 0;
}

SEC("uprobe/round_trip_end")
int round_trip_end(struct pt_regs *ctx)
{
	if (CFG.empty_programs)
		return 0;
	return call_ended(ctx, CFG.response_status);
}

/* The same after an HTTP/2 call returns to the transport's RoundTripOpt:
 * net/http's bundled copy returns an *http.Response; internal/http2's
 * (Go 1.27+) a *ClientResponse. */
SEC("uprobe/h2_round_trip_end")
int h2_round_trip_end(struct pt_regs *ctx)
{
	if (CFG.empty_programs)
		return 0;
	return call_ended(ctx, CFG.response_status);
}

SEC("uprobe/h2i_round_trip_end")
int h2i_round_trip_end(struct pt_regs *ctx)
{
	if (CFG.empty_programs)
		return 0;
	return call_ended(ctx, CFG.h2iresp_status);
}

/* An HTTP/2 client call: (*ClientConn).roundTrip(cc, req, …) (RoundTrip
 * before Go 1.24), in the goroutine that made the request, once per call
 * on a multiplexed connection; reused after the connection's first. */
static __always_inline int h2_call(struct pt_regs *ctx, u64 tconn, u64 req_ctx, u64 req_method, u64 req_url)
{
	u64 goid = current_goid(ctx);
	u64 cc = GO_ARG1(ctx);
	if (!goid || !cc || !tconn)
		return 0;
	struct netfd nf;
	if (!conn_netfd(read_u64(cc + tconn + 8), &nf))
		return 0;
	struct conn_state *c = caller_side(&nf);
	u64 ts;
	u32 reused = next_call(c, &ts);
	report_http(ctx, c, goid, &nf, GO_ARG2(ctx), req_ctx, req_method, req_url, reused, CFG.h2_round_trip_end, ts);
	return 0;
}

/* net/http's bundled copy (Go 1.21-1.26): req is an *http.Request. */
SEC("uprobe/h2_round_trip")
int h2_round_trip(struct pt_regs *ctx)
{
	if (CFG.empty_programs)
		return 0;
	return h2_call(ctx, CFG.h2cc_tconn, CFG.request_ctx, CFG.request_method, CFG.request_url);
}

/* net/http/internal/http2 (Go 1.27+): req is a *ClientRequest. */
SEC("uprobe/h2i_round_trip")
int h2i_round_trip(struct pt_regs *ctx)
{
	if (CFG.empty_programs)
		return 0;
	return h2_call(ctx, CFG.h2icc_tconn, CFG.h2ireq_ctx, CFG.h2ireq_method, CFG.h2ireq_url);
}

/* A gRPC-go client call: the transport's
 * (*http2Client).NewStream(t, ctx, callHdr), in the caller's goroutine,
 * once per call attempt. Its bytes are written by the connection's loopy
 * writer for every caller: they are not reported again. */
SEC("uprobe/grpc_call")
int grpc_call(struct pt_regs *ctx)
{
	if (CFG.empty_programs)
		return 0;
	u64 goid = current_goid(ctx);
	u64 t = GO_ARG1(ctx);
	if (!goid || !t || !CFG.grpc_client_conn)
		return 0;
	struct netfd nf;
	if (!conn_netfd(read_u64(t + CFG.grpc_client_conn + 8), &nf))
		return 0;
	struct conn_state *c = caller_side(&nf);
	u64 t0;
	u32 reused = next_call(c, &t0);
	/* callHdr *CallHdr: Host (the authority) and Method (/pkg.Service/Method) */
	u64 hdr = GO_ARG4(ctx);
	u32 awaits = CFG.grpc_call_end && hdr ? 2 : 0;
	struct call_op op = {};
	struct span h = read_span(hdr, MAX2(CFG.grpc_callhdr_host, CFG.grpc_callhdr_method) + 16);
	op.host = span_gostr(h, CFG.grpc_callhdr_host);
	op.path = span_gostr(h, CFG.grpc_callhdr_method);
	u64 ts = report_call(ctx, c, EV_GRPC_CALL, goid, &nf, GO_ARG2(ctx), GO_ARG3(ctx), reused, &op, awaits, t0);
	if (awaits && ts) {
		struct grpc_started s = {.goid = goid, .start = ts};
		bpf_map_update_elem(&grpc_call_start, &hdr, &s, BPF_ANY);
	}
	return 0;
}

/* A gRPC-go call attempt ends: google.golang.org/grpc.(*csAttempt).finish(a,
 * err error), after its stack check, in the caller's goroutine for a
 * unary call (a stream's may end in another). The attempt is the one
 * grpc_call saw start with the same CallHdr; its end is reported for the
 * goroutine that started it, with the start's timestamp. err nil: status
 * 0 (OK); a *status.Error: its code; any other error: 2 (Unknown), as
 * grpc-go's status.Code says. */
SEC("uprobe/grpc_call_end")
int grpc_call_end(struct pt_regs *ctx)
{
	if (CFG.empty_programs)
		return 0;
	u64 a = GO_ARG1(ctx);
	if (!a)
		return 0;
	u64 cs = read_u64(a + CFG.grpc_attempt_cs);
	u64 hdr = cs ? read_u64(cs + CFG.grpc_cs_callhdr) : 0;
	if (!hdr)
		return 0;
	struct grpc_started *sp = bpf_map_lookup_elem(&grpc_call_start, &hdr);
	if (!sp)
		return 0;
	struct grpc_started s = *sp;
	bpf_map_delete_elem(&grpc_call_start, &hdr);
	struct call_end *e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->h, EV_CALL_END, s.goid, 0);
	e->start = s.start;
	u64 itab = GO_ARG2(ctx), data = GO_ARG3(ctx);
	e->status = 0;
	e->failed = itab != 0;
	if (itab) {
		e->status = 2; /* codes.Unknown */
		u64 type = read_u64(itab + 8);
		u32 name = 0;
		if (CFG.grpc_status_error_name && type &&
		    bpf_probe_read_user(&name, sizeof(name), (void *)(type + ABI_TYPE_STR)) == 0 &&
		    name == CFG.grpc_status_error_name && data) {
			u64 st = read_u64(data + CFG.grpc_err_status);
			u64 pb = st ? read_u64(st + CFG.grpc_status_proto) : 0;
			__s32 code = 0;
			if (pb && bpf_probe_read_user(&code, sizeof(code), (void *)(pb + CFG.grpc_proto_code)) == 0)
				e->status = (u32)code;
		}
	}
	bpf_ringbuf_submit(e, RB_NO_WAKEUP);
	return 0;
}

/* net.(*Dialer).DialContext(d, ctx, network, address string), after its
 * stack check: the address names the connection the goroutine opens. */
SEC("uprobe/dial")
int dial(struct pt_regs *ctx)
{
	if (CFG.empty_programs)
		return 0;
	u64 goid = current_goid(ctx);
	u64 ptr = GO_ARG6(ctx), len = GO_ARG7(ctx);
	if (!goid || !ptr || !len)
		return 0;
	struct remote_name n = {};
	if (len > MAX_NAME)
		len = MAX_NAME;
	len &= (MAX_NAME * 2 - 1);
	if (len > MAX_NAME)
		len = MAX_NAME;
	if (bpf_probe_read_user(n.name, len, (void *)ptr) < 0)
		return 0;
	n.len = len;
	if (counted_set(&dial_name, &dial_name_keys, &goid, &n))
		count_lru(DIAL_NAME_INSERTS);
	return 0;
}

/* ---- outbound: every TCP connect, with the kernel's tuple ----------- */

/* The goroutine that made a syscall: Go code made it, so the user
 * registers the syscall entry saved still hold g. */
static __always_inline u64 syscall_goid(struct pt_regs *regs)
{
	return goid_of(BPF_CORE_READ(regs, GO_REG_G_FIELD));
}

static __always_inline int on_connect(void *tp, struct pt_regs *regs, u64 fd)
{
	if (fd < FILTERED_FDS) {
		u32 k = fd;
		u8 one = 1;
		bpf_map_update_elem(&outbound_fds, &k, &one, BPF_ANY);
	}
	u64 goid = syscall_goid(regs);

	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct outbound *p = bpf_map_lookup_elem(&connect_by_thread, &tid);
	if (!p) {
		/* the zero value comes from read-only data: on the stack it
		 * would take most of the 512 bytes sys_enter shares with
		 * walk_stack's frame */
		lru_set(&connect_by_thread, CONNECT_BY_THREAD_INSERTS, &tid, (void *)&ZERO_OUTBOUND);
		p = bpf_map_lookup_elem(&connect_by_thread, &tid);
		if (!p)
			return 0;
	}
	fill_header(&p->h, EV_CONNECT, goid, goid ? request_of_use(goid) : 0);
	__builtin_memset(&p->t, 0, sizeof(p->t));
	p->reused = 0;
	struct remote_name *dn = goid && MAY_HOLD(dial_name_keys) ? bpf_map_lookup_elem(&dial_name, &goid) : 0;
	if (dn)
		__builtin_memcpy(&p->remote, dn, sizeof(p->remote));
	else
		p->remote.len = 0;
	p->stack_len = syscall_stack(regs, p->stack);
	return 0;
}


SEC("tracepoint/sock/inet_sock_set_state")
int inet_sock_set_state(struct tp_inet_sock_set_state *tp)
{
	if (CFG.empty_programs)
		return 0;
	if (tp->protocol != IPPROTO_TCP)
		return 0;
	u64 sk = (u64)tp->skaddr;
	if (tp->newstate == TCP_SYN_SENT) {
		/* inside connect(2), on the connecting thread */
		if (!is_target())
			return 0;
		u32 tid = (u32)bpf_get_current_pid_tgid();
		struct outbound *p = bpf_map_lookup_elem(&connect_by_thread, &tid);
		if (p)
			bpf_map_update_elem(&connect_by_sock, &sk, p, BPF_ANY);
		return 0;
	}
	struct outbound *p = bpf_map_lookup_elem(&connect_by_sock, &sk);
	if (!p)
		return 0;
	u32 type = 0;
	if (tp->newstate == TCP_ESTABLISHED) {
		/* The dial's address named this connection; not the ones of
		 * goroutines the dialing one starts later (a failed attempt
		 * leaves it to the dial's next address). */
		if (p->remote.len && counted_delete(&dial_name, &dial_name_keys, &p->h.goid))
			count_lru(DIAL_NAME_DELETES);
		/* From now on every write to it is a use. */
		struct socket *so = BPF_CORE_READ((struct sock *)sk, sk_socket);
		u64 ino = so ? inode_of_file(BPF_CORE_READ(so, file)) : 0;
		if (ino) {
			struct conn_state c = {
				.opened_by = p->h.request,
				.request = p->h.request,
				.last_ts = bpf_ktime_get_ns(),
			};
			__builtin_memcpy(&c.remote, &p->remote, sizeof(c.remote));
			lru_set(&outbound_conns, OUTBOUND_CONNS_INSERTS, &ino, &c);
		}
		type = EV_CONNECT;
	} else if (tp->oldstate == TCP_SYN_SENT && tp->newstate == TCP_CLOSE) {
		/* refused, timed out, unreachable, or closed by the service
		 * before the handshake completed */
		type = EV_CONNECT_FAILED;
	}
	if (type) {
		/* the source port is bound by now (it is not yet at SYN_SENT) */
		struct outbound *e = reserve(sizeof(*e));
		if (e) {
			__builtin_memcpy(e, p, sizeof(*e));
			e->h.type = type;
			e->sock_err = type == EV_CONNECT_FAILED ? (u16)BPF_CORE_READ((struct sock *)sk, sk_err) : 0;
			e->t.family = tp->family;
			e->t.sport = tp->sport;
			e->t.dport = tp->dport;
			if (tp->family == AF_INET6) {
				__builtin_memcpy(e->t.saddr, tp->saddr_v6, 16);
				__builtin_memcpy(e->t.daddr, tp->daddr_v6, 16);
			} else {
				__builtin_memcpy(e->t.saddr, tp->saddr, 4);
				__builtin_memcpy(e->t.daddr, tp->daddr, 4);
			}
			bpf_ringbuf_submit(e, RB_NO_WAKEUP);
		}
	}
	/* established, or failed (SYN_SENT -> CLOSE): either way done */
	bpf_map_delete_elem(&connect_by_sock, &sk);
	return 0;
}


/* ---- outbound: every use of a connection, seen at its writes --------- */

/* A library call that takes a context, made just before it writes to its
 * connection in the same goroutine: database/sql's (*DB).conn(db, ctx, …)
 * (every query, exec, prepare and begin) and go-redis's
 * (*baseClient).getConn(c, ctx) (every command and pipeline). The
 * goroutine's next uses count for the request the context descends from
 * (a worker serving many requests), else for the goroutine's own. */
SEC("uprobe/ctx_call")
int ctx_call(struct pt_regs *ctx)
{
	if (CFG.empty_programs)
		return 0;
	u64 goid = current_goid(ctx);
	if (!goid)
		return 0;
	u64 id = request_of_ctx(GO_ARG2(ctx), GO_ARG3(ctx));
	u64 *cur = MAY_HOLD(goroutine_call_keys) ? bpf_map_lookup_elem(&goroutine_call, &goid) : 0;
	if (id && cur)
		*cur = id; /* a pooled worker's next call: written in place */
	else if (id)
		counted_set(&goroutine_call, &goroutine_call_keys, &goid, &id);
	else if (cur)
		counted_delete(&goroutine_call, &goroutine_call_keys, &goid);
	return 0;
}

static __always_inline void tuple_of_sock(struct sock *sk, struct tuple *t)
{
	t->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	t->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	t->dport = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (t->family == AF_INET6) {
		BPF_CORE_READ_INTO(&t->saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&t->daddr, sk, __sk_common.skc_v6_daddr);
	} else {
		BPF_CORE_READ_INTO((u32 *)t->saddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((u32 *)t->daddr, sk, __sk_common.skc_daddr);
	}
}

/* A write by the target (sys_enter checked the process). */
static __always_inline int on_write(void *tp, struct pt_regs *regs, u64 fd, u64 buf, u64 len)
{
	if (fd < FILTERED_FDS) {
		u32 k = fd;
		u8 *maybe = bpf_map_lookup_elem(&outbound_fds, &k);
		if (maybe && !*maybe)
			return 0;
	}
	struct file *f = file_of_fd(fd);
	u64 ino = inode_of_file(f);
	if (!ino)
		return 0;
	struct conn_state *c = bpf_map_lookup_elem(&outbound_conns, &ino);
	if (!c || (c->flags & CONN_CALLER_SIDE))
		return 0;
	struct socket *so = BPF_CORE_READ(f, private_data);
	struct sock *sk = so ? BPF_CORE_READ(so, sk) : 0;
	if (!sk)
		return 0;
	u64 rx = BPF_CORE_READ((struct tcp_sock *)sk, bytes_received);

	u64 goid = syscall_goid(regs);
	u64 id = goid ? request_of_use(goid) : 0;
	u64 now = bpf_ktime_get_ns();

	bool fresh = id != c->request || rx != c->last_rx || now - c->last_ts > IDLE_NS;
	c->request = id;
	c->last_rx = rx;
	c->last_ts = now;
	/* A connection's first write that is a TLS ClientHello (handshake
	 * record, type 1) is sent whole, fresh or not, for its server name. */
	bool hello = false;
	if (!(c->flags & CONN_WRITTEN)) {
		c->flags |= CONN_WRITTEN;
		u8 h[6];
		hello = buf && len >= sizeof(h) && bpf_probe_read_user(h, sizeof(h), (void *)buf) == 0 &&
			h[0] == 0x16 && h[5] == 0x01;
	}
	if (!fresh && !hello)
		return 0;
	if (fresh)
		c->uses++;

	struct call *e = reserve(sizeof(*e));
	if (!e)
		return 0;
	fill_header(&e->o.h, EV_WRITE, goid, id);
	__builtin_memset(&e->o.t, 0, sizeof(e->o.t));
	tuple_of_sock(sk, &e->o.t);
	__builtin_memcpy(&e->o.remote, &c->remote, sizeof(e->o.remote));
	/* new while the request that connected it uses it */
	e->o.reused = !(id && c->opened_by == id);
	e->o.stack_len = syscall_stack(regs, e->o.stack);
	e->op_lens[0] = e->op_lens[2] = e->op_lens[3] = 0;
	e->op_lens[1] = len > 0xffff ? 0xffff : len;
	e->awaits_end = 0;
	e->hello_only = !fresh;
	if (CFG.capture_payload && buf && len) {
		if (len > CFG.capture_payload && !hello)
			len = CFG.capture_payload;
		if (len > MAX_OP)
			len = MAX_OP;
		len &= (MAX_OP * 2 - 1);
		if (len > MAX_OP)
			len = MAX_OP;
		if (bpf_probe_read_user(e->op, len, (void *)buf) == 0)
			e->op_lens[0] = len;
	}
	bpf_ringbuf_submit(e, RB_NO_WAKEUP);
	return 0;
}

/* The first buffer of an iovec array: {iov_base, iov_len}, one copy. */
static __always_inline void first_iov(u64 iov, u64 *buf, u64 *len)
{
	u64 v[2] = {};
	if (iov)
		bpf_probe_read_user(v, sizeof(v), (void *)iov);
	*buf = v[0];
	*len = v[1];
}

/* ---- the target's syscalls ------------------------------------------ */

#if defined(__TARGET_ARCH_x86)
#define NR_WRITE 1
#define NR_WRITEV 20
#define NR_SENDFILE 40
#define NR_CONNECT 42
#define NR_SENDTO 44
#define NR_SENDMSG 46
#define SYSCALL_ARG1(r) BPF_CORE_READ(r, di)
#define SYSCALL_ARG2(r) BPF_CORE_READ(r, si)
#define SYSCALL_ARG3(r) BPF_CORE_READ(r, dx)
#elif defined(__TARGET_ARCH_arm64)
#define NR_WRITE 64
#define NR_WRITEV 66
#define NR_SENDFILE 71
#define NR_CONNECT 203
#define NR_SENDTO 206
#define NR_SENDMSG 211
#define SYSCALL_ARG1(r) BPF_CORE_READ(r, regs[0])
#define SYSCALL_ARG2(r) BPF_CORE_READ(r, regs[1])
#define SYSCALL_ARG3(r) BPF_CORE_READ(r, regs[2])
#endif

/* Every syscall's entry, one program for all of them (one link to remove
 * at the end, not one per syscall): the target's connects, and the forms
 * Go writes to a socket with: write (net.Conn.Write), writev
 * (net.Buffers), sendto and sendmsg, and sendfile (io.Copy from a file).
 * Other processes' syscalls return at the first test. */
SEC("raw_tracepoint/sys_enter")
int sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	if (CFG.empty_programs)
		return 0;
	if (!is_target())
		return 0;
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	u64 buf, len;
	switch (ctx->args[1]) {
	case NR_CONNECT:
		return on_connect(ctx, regs, SYSCALL_ARG1(regs));
	case NR_WRITE:
	case NR_SENDTO:
		return on_write(ctx, regs, SYSCALL_ARG1(regs), SYSCALL_ARG2(regs), SYSCALL_ARG3(regs));
	case NR_WRITEV:
		first_iov(SYSCALL_ARG2(regs), &buf, &len);
		return on_write(ctx, regs, SYSCALL_ARG1(regs), buf, len);
	case NR_SENDMSG: {
		/* struct user_msghdr: msg_name, msg_namelen (+pad), msg_iov, msg_iovlen */
		u64 msg = SYSCALL_ARG2(regs);
		first_iov(msg ? read_u64(msg + 16) : 0, &buf, &len);
		return on_write(ctx, regs, SYSCALL_ARG1(regs), buf, len);
	}
	case NR_SENDFILE:
		return on_write(ctx, regs, SYSCALL_ARG1(regs), 0, 0);
	}
	return 0;
}
