// Command sample is a small gin HTTP service used to demonstrate Outbound
// Lens. Each route makes a different shape of outbound traffic (single call,
// fan-out from goroutines, sequential calls over a kept-alive connection,
// a raw TCP dial, a delayed call, a call from a method value handler) so
// that every attribution path of the tool can be exercised.
package main

import (
	"bufio"
	"context"
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
)

// server holds the shared outbound client and the configuration every
// handler needs.
type server struct {
	client     *http.Client
	downstream string // base URL of the HTTP downstream, e.g. http://127.0.0.1:8081
	raw        string // host:port of the raw TCP endpoint
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

	return r
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	downstream := flag.String("downstream", "http://127.0.0.1:8081", "base URL of the HTTP downstream")
	raw := flag.String("raw", "127.0.0.1:8082", "host:port of the raw TCP endpoint")
	heartbeat := flag.Duration("heartbeat", 0, "interval of background downstream calls (0 = off)")
	flag.Parse()

	gin.SetMode(gin.ReleaseMode)
	s := newServer(*downstream, *raw)

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
