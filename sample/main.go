// Command sample is a small gin HTTP service used to demonstrate Outbound
// Lens. Each route makes a different shape of outbound traffic (single call,
// fan-out from goroutines, sequential calls over a kept-alive connection,
// a raw TCP dial, a delayed call, a call from a method value handler, calls
// made by worker goroutines started outside any request, a call made after
// the handler has returned, and, with -pg and -redis, queries on database
// and cache pools whose connections were opened before serving) so that
// every attribution path of the tool can be exercised.
package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	_ "github.com/lib/pq"
	"github.com/redis/go-redis/v9"
)

// server holds the shared outbound client and the configuration every
// handler needs.
type server struct {
	client     *http.Client
	downstream string // base URL of the HTTP downstream, e.g. http://127.0.0.1:8081
	raw        string // host:port of the raw TCP endpoint

	db  *sql.DB       // the PostgreSQL pool (-pg), nil without it
	rdb *redis.Client // the Redis pool (-redis), nil without it

	poolJobs chan job  // served by the fixed pool of workers started in main
	lazyJobs chan job  // served by the one worker the first /lazy request starts
	lazyOnce sync.Once // starts that worker
	dataJobs chan task // queries and commands run by the workers started in main
}

// poolWorkers is how many workers serve /pool.
const poolWorkers = 4

// job is a downstream call handed to a worker goroutine: the inbound
// request's context and headers travel with it, the result comes back on done.
type job struct {
	ctx    context.Context
	testID string // the inbound X-Test-Id
	route  string // the inbound gin route, sent as X-Caller-Route
	path   string // the downstream path
	done   chan result
}

// task is a query or command handed to a data worker, with the context
// of the request it is for.
type task struct {
	ctx  context.Context
	run  func(ctx context.Context) (string, error)
	done chan result
}

type result struct {
	body []byte
	err  error
}

func newServer(downstream, raw string) *server {
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
	return &server{
		client:     &http.Client{Transport: transport, Timeout: 10 * time.Second},
		downstream: strings.TrimRight(downstream, "/"),
		raw:        raw,
		poolJobs:   make(chan job),
		lazyJobs:   make(chan job),
		dataJobs:   make(chan task),
	}
}

// callDown makes one GET request to the downstream on behalf of the inbound
// request c. It forwards X-Test-Id, names the calling route in
// X-Caller-Route, and returns the fully read response body.
func (s *server) callDown(ctx context.Context, c *gin.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.downstream+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Test-Id", c.GetHeader("X-Test-Id"))
	req.Header.Set("X-Caller-Route", c.FullPath())

	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	return readAndClose(resp)
}

// heartbeatOnce makes one background GET to the downstream. It is not tied
// to any inbound request, so it carries no X-Caller-Route.
func (s *server) heartbeatOnce(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.downstream+"/heartbeat", nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Test-Id", "background")

	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	_, err = readAndClose(resp)
	return err
}

// readAndClose drains and closes the body so the connection goes back to
// the idle pool, and turns a non-2xx status into an error.
func readAndClose(resp *http.Response) ([]byte, error) {
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("downstream returned %s", resp.Status)
	}
	return body, nil
}

// testIDKey is the context key of a worker call's test id.
type testIDKey struct{}

// downRequest builds j's GET to the downstream, bound to a context derived
// from j.ctx, forwarding X-Test-Id and naming the inbound route as callDown
// does.
func (s *server) downRequest(j job) (*http.Request, error) {
	// The call's context descends from the job's, as a worker's usually
	// does (a value on top, here the test id).
	ctx := context.WithValue(j.ctx, testIDKey{}, j.testID)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.downstream+j.path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Test-Id", j.testID)
	req.Header.Set("X-Caller-Route", j.route)
	return req, nil
}

// readResult turns what client.Do returned into a result (body read, closed).
func readResult(resp *http.Response, err error) result {
	if err != nil {
		return result{err: err}
	}
	body, err := readAndClose(resp)
	return result{body: body, err: err}
}

// badGateway reports a downstream failure to the inbound client.
func badGateway(c *gin.Context, err error) {
	c.String(http.StatusBadGateway, "downstream error: %v", err)
}

// echo makes one downstream call and relays its body.
func (s *server) echo(c *gin.Context) {
	body, err := s.callDown(c.Request.Context(), c, "/echo")
	if err != nil {
		badGateway(c, err)
		return
	}
	c.Data(http.StatusOK, "application/json", body)
}

// getUser makes one downstream call whose path depends on a route parameter.
func (s *server) getUser(c *gin.Context) {
	body, err := s.callDown(c.Request.Context(), c, "/users/"+c.Param("id"))
	if err != nil {
		badGateway(c, err)
		return
	}
	c.Data(http.StatusOK, "application/json", body)
}

// fanout makes three concurrent downstream calls, each from its own
// goroutine, and waits for all of them.
func (s *server) fanout(c *gin.Context) {
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func(n int) {
			defer wg.Done()
			_, errs[n] = s.callDown(c.Request.Context(), c, "/part/"+strconv.Itoa(n))
		}(i)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		badGateway(c, err)
		return
	}
	c.String(http.StatusOK, "fanout done")
}

// twice makes two sequential downstream calls; the second one normally
// reuses the kept-alive connection of the first.
func (s *server) twice(c *gin.Context) {
	for i := 0; i < 2; i++ {
		if _, err := s.callDown(c.Request.Context(), c, "/twice/"+strconv.Itoa(i)); err != nil {
			badGateway(c, err)
			return
		}
	}
	c.String(http.StatusOK, "twice done")
}

// slow sleeps for ?ms=N milliseconds and then makes one downstream call.
func (s *server) slow(c *gin.Context) {
	ms, _ := strconv.Atoi(c.Query("ms"))
	if ms > 0 {
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	body, err := s.callDown(c.Request.Context(), c, "/slow")
	if err != nil {
		badGateway(c, err)
		return
	}
	c.Data(http.StatusOK, "application/json", body)
}

// createOrder is registered as a method value; it checks stock downstream.
func (s *server) createOrder(c *gin.Context) {
	body, err := s.callDown(c.Request.Context(), c, "/stock")
	if err != nil {
		badGateway(c, err)
		return
	}
	c.Data(http.StatusCreated, "application/json", body)
}

// deep recurses ?depth=N levels (at most 5000), each with a 512-byte frame
// and ?kb=K KiB of garbage every 64 levels, then makes one downstream call
// from the bottom: the goroutine's stack grows (and is copied) on the way
// down, and the collector has work, while probed functions run.
func (s *server) deep(c *gin.Context) {
	depth, _ := strconv.Atoi(c.DefaultQuery("depth", "1000"))
	kb, _ := strconv.Atoi(c.DefaultQuery("kb", "64"))
	depth = min(max(depth, 1), 5000)
	var body []byte
	var err error
	s.descend(depth, kb, func() { body, err = s.callDown(c.Request.Context(), c, "/deep") })
	if err != nil {
		badGateway(c, err)
		return
	}
	c.Data(http.StatusOK, "application/json", body)
}

//go:noinline
func (s *server) descend(n, kb int, bottom func()) byte {
	var frame [512]byte
	frame[n%512] = byte(n)
	if n%64 == 0 && kb > 0 {
		g := make([]byte, kb<<10) // a size known only at run time: on the heap
		g[n%len(g)] = byte(n)
		frame[1] ^= g[(n*7)%len(g)]
	}
	if n <= 1 {
		bottom()
		return frame[0]
	}
	return s.descend(n-1, kb, bottom) + frame[n%512]
}

// dialRaw opens a plain TCP connection (no HTTP), sends the test id as one
// line and returns the single reply line.
func dialRaw(addr, testID string) (string, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))

	if _, err := fmt.Fprintf(conn, "%s\n", testID); err != nil {
		return "", err
	}
	reply, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(reply), nil
}

// rawAddrKey is the gin context key under which withRawAddr stores the
// raw TCP endpoint for dial.
const rawAddrKey = "rawAddr"

// withRawAddr is a tiny middleware that hands the configured raw TCP
// endpoint to plain function handlers.
func (s *server) withRawAddr(c *gin.Context) {
	c.Set(rawAddrKey, s.raw)
	c.Next()
}

// dial is a plain function handler: it dials the raw TCP endpoint directly,
// without HTTP, and relays the reply line.
func dial(c *gin.Context) {
	testID := c.GetHeader("X-Test-Id")
	if testID == "" {
		testID = "-"
	}
	reply, err := dialRaw(c.GetString(rawAddrKey), testID)
	if err != nil {
		badGateway(c, err)
		return
	}
	c.String(http.StatusOK, reply)
}

// intParam is the route parameter n as a canonical integer; it answers 400
// and returns false when n is not one.
func intParam(c *gin.Context) (string, bool) {
	n, err := strconv.Atoi(c.Param("n"))
	if err != nil {
		c.String(http.StatusBadRequest, "n must be an integer")
		return "", false
	}
	return strconv.Itoa(n), true
}

// dbQuery runs one query on the PostgreSQL pool, on a connection opened
// before serving (or a new one when they are all busy), and relays the value.
func (s *server) dbQuery(c *gin.Context) {
	n, ok := intParam(c)
	if !ok {
		return
	}
	var got string
	row := s.db.QueryRowContext(c.Request.Context(), "SELECT 'ol-req-"+n+"'")
	if err := row.Scan(&got); err != nil {
		badGateway(c, err)
		return
	}
	c.String(http.StatusOK, got)
}

// cacheGet reads one key from the Redis pool; a missing key answers "".
func (s *server) cacheGet(c *gin.Context) {
	n, ok := intParam(c)
	if !ok {
		return
	}
	val, err := s.rdb.Get(c.Request.Context(), "ol-req-"+n).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		badGateway(c, err)
		return
	}
	c.String(http.StatusOK, val)
}

// poolWorker serves /pool jobs; poolWorkers of them start in main, outside
// any request.
func (s *server) poolWorker() {
	for j := range s.poolJobs {
		req, err := s.downRequest(j)
		if err != nil {
			j.done <- result{err: err}
			continue
		}
		resp, err := s.client.Do(req) // /pool's downstream call
		j.done <- readResult(resp, err)
	}
}

// lazyWorker serves every /lazy job; the first /lazy request starts it.
func (s *server) lazyWorker() {
	for j := range s.lazyJobs {
		req, err := s.downRequest(j)
		if err != nil {
			j.done <- result{err: err}
			continue
		}
		resp, err := s.client.Do(req) // /lazy's downstream call
		j.done <- readResult(resp, err)
	}
}

// handOff sends a job for this request to a worker and waits for its result.
func handOff(c *gin.Context, jobs chan<- job, path string) {
	j := job{ctx: c.Request.Context(), testID: c.GetHeader("X-Test-Id"), route: c.FullPath(), path: path, done: make(chan result, 1)}
	jobs <- j
	r := <-j.done
	if r.err != nil {
		badGateway(c, r.err)
		return
	}
	c.Data(http.StatusOK, "application/json", r.body)
}

// pool has one of the workers started in main make its downstream call.
func (s *server) pool(c *gin.Context) {
	if n, ok := intParam(c); ok {
		handOff(c, s.poolJobs, "/pool/"+n)
	}
}

// lazy has the lazily started worker make its downstream call.
func (s *server) lazy(c *gin.Context) {
	n, ok := intParam(c)
	if !ok {
		return
	}
	s.lazyOnce.Do(func() { go s.lazyWorker() })
	handOff(c, s.lazyJobs, "/lazy/"+n)
}

// forget answers at once; a goroutine it starts calls the downstream 50 ms
// later, after the handler has returned, with a context of its own.
func (s *server) forget(c *gin.Context) {
	n, ok := intParam(c)
	if !ok {
		return
	}
	j := job{ctx: context.Background(), testID: c.GetHeader("X-Test-Id"), route: c.FullPath(), path: "/forget/" + n}
	go func() {
		time.Sleep(50 * time.Millisecond)
		req, err := s.downRequest(j)
		if err != nil {
			log.Printf("forget: %v", err)
			return
		}
		resp, err := s.client.Do(req) // /forget's downstream call
		if r := readResult(resp, err); r.err != nil {
			log.Printf("forget: %v", r.err)
		}
	}()
	c.String(http.StatusAccepted, "scheduled")
}

// openDB opens the PostgreSQL pool and four connections at once, which
// stay in it idle: the pool holds connections older than any request.
func openDB(dsn string) (*sql.DB, error) {
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conns := make([]*sql.Conn, 4)
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if conns[i], errs[i] = db.Conn(ctx); errs[i] == nil {
				errs[i] = conns[i].PingContext(ctx)
			}
		}(i)
	}
	wg.Wait()
	for _, c := range conns {
		if c != nil {
			c.Close() // back to the pool, still open
		}
	}
	if err := errors.Join(errs...); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// openRedis opens the Redis pool and pings it.
func openRedis(addr string) (*redis.Client, error) {
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 8})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, err
	}
	return rdb, nil
}

// runHeartbeat calls the downstream every interval until ctx is done.
func (s *server) runHeartbeat(ctx context.Context, interval time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if err := s.heartbeatOnce(ctx); err != nil {
				log.Printf("heartbeat: %v", err)
			}
		}
	}
}

func (s *server) routes() *gin.Engine {
	r := gin.New()
	r.Use(gin.Recovery())

	// A func literal registered inline.
	r.GET("/health", func(c *gin.Context) {
		c.String(http.StatusOK, "ok")
	})

	// Method values on *server.
	r.GET("/echo", s.echo)
	r.GET("/users/:id", s.getUser)
	r.GET("/fanout", s.fanout)
	r.GET("/twice", s.twice)
	r.GET("/slow", s.slow)
	r.GET("/deep", s.deep)

	// A plain function handler.
	r.GET("/dial", s.withRawAddr, dial)

	api := r.Group("/api/v1")
	api.POST("/orders", s.createOrder)

	// A call whose response has the status :code (?ms=N: N ms late).
	r.GET("/status/:code", s.status)

	// Calls made by worker goroutines, and one after the handler returned.
	r.GET("/pool/:n", s.pool)
	r.GET("/lazy/:n", s.lazy)
	r.GET("/forget/:n", s.forget)

	// Database and cache pools, only when configured.
	if s.db != nil {
		r.GET("/db/:n", s.dbQuery)
	}
	if s.rdb != nil {
		r.GET("/cache/:n", s.cacheGet)
	}
	// One query and one command in one request (for benchmarks).
	if s.db != nil && s.rdb != nil {
		r.GET("/data/:n", s.data)
	}
	// The same, run by workers started with the service.
	if s.db != nil {
		r.GET("/dbpool/:n", s.dbPool)
	}
	if s.rdb != nil {
		r.GET("/cachepool/:n", s.cachePool)
	}

	return r
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	downstream := flag.String("downstream", "http://127.0.0.1:8081", "base URL of the HTTP downstream")
	raw := flag.String("raw", "127.0.0.1:8082", "host:port of the raw TCP endpoint")
	heartbeat := flag.Duration("heartbeat", 0, "interval of background downstream calls (0 = off)")
	pg := flag.String("pg", "", "PostgreSQL DSN for /db/:n (empty = no /db route)")
	redisAddr := flag.String("redis", "", "host:port of Redis for /cache/:n (empty = no /cache route)")
	flag.Parse()

	gin.SetMode(gin.ReleaseMode)
	s := newServer(*downstream, *raw)
	if *pg != "" {
		db, err := openDB(*pg)
		if err != nil {
			log.Fatalf("postgres: %v", err)
		}
		s.db = db
	}
	if *redisAddr != "" {
		rdb, err := openRedis(*redisAddr)
		if err != nil {
			log.Fatalf("redis: %v", err)
		}
		s.rdb = rdb
	}
	for i := 0; i < poolWorkers; i++ {
		go s.poolWorker()
		go s.dataWorker()
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	fmt.Fprintf(os.Stderr, "listening on %s\n", ln.Addr())

	if *heartbeat > 0 {
		go s.runHeartbeat(context.Background(), *heartbeat)
	}

	srv := &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("serve: %v", err)
	}
}

// dataWorker runs /dbpool and /cachepool tasks; poolWorkers of them start
// in main, outside any request. Each task runs with its request's context.
func (s *server) dataWorker() {
	for t := range s.dataJobs {
		v, err := t.run(t.ctx)
		t.done <- result{body: []byte(v), err: err}
	}
}

// handData hands run to a data worker with the request's context and
// answers with its result.
func (s *server) handData(c *gin.Context, run func(ctx context.Context) (string, error)) {
	t := task{ctx: c.Request.Context(), run: run, done: make(chan result, 1)}
	s.dataJobs <- t
	r := <-t.done
	if r.err != nil {
		badGateway(c, r.err)
		return
	}
	c.Data(http.StatusOK, "text/plain", r.body)
}

// dbPool has a data worker run /db's query.
func (s *server) dbPool(c *gin.Context) {
	n, ok := intParam(c)
	if !ok {
		return
	}
	s.handData(c, func(ctx context.Context) (string, error) {
		var got string
		err := s.db.QueryRowContext(ctx, "SELECT 'ol-req-"+n+"'").Scan(&got) // /dbpool's query
		return got, err
	})
}

// cachePool has a data worker run /cache's command.
func (s *server) cachePool(c *gin.Context) {
	n, ok := intParam(c)
	if !ok {
		return
	}
	s.handData(c, func(ctx context.Context) (string, error) {
		val, err := s.rdb.Get(ctx, "ol-req-"+n).Result() // /cachepool's command
		if errors.Is(err, redis.Nil) {
			err = nil
		}
		return val, err
	})
}

// data runs /db's query and /cache's command, one after the other.
func (s *server) data(c *gin.Context) {
	n, ok := intParam(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	var got string
	if err := s.db.QueryRowContext(ctx, "SELECT 'ol-req-"+n+"'").Scan(&got); err != nil { // /data's query
		badGateway(c, err)
		return
	}
	if _, err := s.rdb.Get(ctx, "ol-req-"+n).Result(); err != nil && !errors.Is(err, redis.Nil) { // /data's command
		badGateway(c, err)
		return
	}
	c.String(http.StatusOK, got)
}

// status calls {downstream}/status/:code, which answers with that status
// (and, with ?ms=N, N ms late), and answers 200 with the status it got.
func (s *server) status(c *gin.Context) {
	code, err := strconv.Atoi(c.Param("code"))
	ms, _ := strconv.Atoi(c.DefaultQuery("ms", "0"))
	if err != nil || code < 200 || code > 599 || ms < 0 || ms > 10000 {
		c.String(http.StatusBadRequest, "want /status/CODE?ms=N")
		return
	}
	url := fmt.Sprintf("%s/status/%d?delay=%d", s.downstream, code, ms)
	req, err := http.NewRequestWithContext(c.Request.Context(), http.MethodGet, url, nil)
	if err != nil {
		badGateway(c, err)
		return
	}
	req.Header.Set("X-Test-Id", c.GetHeader("X-Test-Id"))
	resp, err := s.client.Do(req) // /status's downstream call
	if err != nil {
		badGateway(c, err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	c.String(http.StatusOK, strconv.Itoa(resp.StatusCode))
}
