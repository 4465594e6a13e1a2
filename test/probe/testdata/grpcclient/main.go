// Command grpcclient is, with -serve, a gRPC server (the standard health
// service) that records each call's x-test-id metadata and client port,
// and serves them as JSON at /truth on -truth; without it, an HTTP service
// whose handlers call that server over one shared gRPC connection: /grpc
// from the handler's goroutine, /grpcpool from a worker started with the
// service, with the request's context. A call's x-case metadata (the
// request's {n} modulo len(cases)) says how the server answers it: which
// status code, after how long; the server records both. /grpcwatch
// opens a Watch stream, reads its first message and cancels it (status
// Canceled, ended by whichever of the caller and grpc-go's goroutine
// that watches the stream's context gets there first).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// cases are the answers the server gives, by a call's x-case.
var cases = []struct {
	code  codes.Code
	delay time.Duration
}{
	{codes.OK, 0},
	{codes.NotFound, 0},
	{codes.OK, 30 * time.Millisecond},
	{codes.Unavailable, 0},
	{codes.PermissionDenied, 20 * time.Millisecond},
}

type call struct {
	TestID     string `json:"testId"`
	RemotePort int    `json:"remotePort"`
	Method     string `json:"method"`
	Code       int    `json:"code"` // as the client sees it
	DelayNs    int64  `json:"delayNs"`
}

// record notes a call as the server sees it.
func (h *health) record(ctx context.Context, method string, code codes.Code, delay time.Duration) {
	c := call{Method: method, Code: int(code), DelayNs: int64(delay)}
	if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get("x-test-id")) > 0 {
		c.TestID = md.Get("x-test-id")[0]
	}
	if p, ok := peer.FromContext(ctx); ok {
		if a, ok := p.Addr.(*net.TCPAddr); ok {
			c.RemotePort = a.Port
		}
	}
	h.mu.Lock()
	h.calls = append(h.calls, c)
	h.mu.Unlock()
}

type health struct {
	grpc_health_v1.UnimplementedHealthServer
	mu    sync.Mutex
	calls []call
}

func (h *health) Check(ctx context.Context, _ *grpc_health_v1.HealthCheckRequest) (*grpc_health_v1.HealthCheckResponse, error) {
	n := 0
	if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get("x-case")) > 0 {
		n, _ = strconv.Atoi(md.Get("x-case")[0])
	}
	k := cases[n%len(cases)]
	time.Sleep(k.delay)
	h.record(ctx, grpc_health_v1.Health_Check_FullMethodName, k.code, k.delay)
	if k.code != codes.OK {
		return nil, status.Error(k.code, "answered as asked")
	}
	return &grpc_health_v1.HealthCheckResponse{Status: grpc_health_v1.HealthCheckResponse_SERVING}, nil
}

// Watch sends one message, then waits for the client to cancel.
func (h *health) Watch(_ *grpc_health_v1.HealthCheckRequest, st grpc.ServerStreamingServer[grpc_health_v1.HealthCheckResponse]) error {
	h.record(st.Context(), grpc_health_v1.Health_Watch_FullMethodName, codes.Canceled, 0)
	if err := st.Send(&grpc_health_v1.HealthCheckResponse{Status: grpc_health_v1.HealthCheckResponse_SERVING}); err != nil {
		return err
	}
	<-st.Context().Done()
	return status.FromContextError(st.Context().Err()).Err()
}

func serve(addr, truth string) {
	h := &health{}
	s := grpc.NewServer()
	grpc_health_v1.RegisterHealthServer(s, h)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		log.Fatal(http.ListenAndServe(truth, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.mu.Lock()
			defer h.mu.Unlock()
			json.NewEncoder(w).Encode(h.calls)
		})))
	}()
	log.Printf("listening on %s", ln.Addr())
	log.Fatal(s.Serve(ln))
}

type job struct {
	ctx      context.Context
	id, kase string
	done     chan error
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	server := flag.Bool("serve", false, "be the gRPC server")
	truth := flag.String("truth", "127.0.0.1:0", "with -serve: where /truth is served")
	target := flag.String("grpc", "", "the gRPC server's address")
	flag.Parse()
	if *server {
		serve(*addr, *truth)
		return
	}

	conn, err := grpc.NewClient(*target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	client := grpc_health_v1.NewHealthClient(conn)
	check := func(ctx context.Context, id, kase string) error {
		ctx = metadata.AppendToOutgoingContext(ctx, "x-test-id", id, "x-case", kase)
		_, err := client.Check(ctx, &grpc_health_v1.HealthCheckRequest{}) // the gRPC call
		return err
	}
	// The call's status code, as the client saw it (an error is an
	// answer here, not the service's failure).
	reply := func(w http.ResponseWriter, err error) {
		w.Write([]byte(status.Code(err).String() + "\n"))
	}
	jobs := make(chan job)
	for i := 0; i < 4; i++ {
		go func() {
			for j := range jobs {
				j.done <- check(j.ctx, j.id, j.kase)
			}
		}()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /grpc/{n}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, check(r.Context(), r.Header.Get("X-Test-Id"), r.PathValue("n")))
	})
	mux.HandleFunc("GET /grpcwatch/{n}", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		ctx = metadata.AppendToOutgoingContext(ctx, "x-test-id", r.Header.Get("X-Test-Id"))
		st, err := client.Watch(ctx, &grpc_health_v1.HealthCheckRequest{}) // the gRPC call
		if err == nil {
			if _, err = st.Recv(); err == nil {
				cancel()
				_, err = st.Recv() // Canceled, once the stream has ended
			}
		}
		reply(w, err)
	})
	mux.HandleFunc("GET /grpcpool/{n}", func(w http.ResponseWriter, r *http.Request) {
		j := job{ctx: r.Context(), id: r.Header.Get("X-Test-Id"), kase: r.PathValue("n"), done: make(chan error, 1)}
		jobs <- j
		reply(w, <-j.done)
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s", ln.Addr())
	log.Fatal(http.Serve(ln, mux))
}
