// Command grpc is a gRPC service (grpc-go's interop TestService) whose
// methods call an HTTP downstream three times, each with the X-Test-Id the
// caller sent as metadata: from the method itself, from a goroutine it
// starts (with context.Background()), and from a worker started with the
// service, with the call's context. With -servehttp (built with -tags
// servehttp) it serves gRPC through net/http's HTTP/2 server (h2c);
// without the tag it has no net/http server. With -load it is the client
// instead: it makes -n calls, -c in flight, in turn to the unary, the
// server-streaming and the bidirectional method, and sends each call's test
// id as x-test-id metadata (and a traceparent).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
)

type server struct {
	testgrpc.UnimplementedTestServiceServer
	downstream string
	client     *http.Client
	jobs       chan job
}

// job is a call a worker makes for a method, with its context.
type job struct {
	ctx  context.Context
	id   string
	done chan error
}

func (s *server) worker() {
	for j := range s.jobs {
		j.done <- s.call(j.ctx, j.id, "/pool")
	}
}

func (s *server) call(ctx context.Context, id, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.downstream+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Test-Id", id)
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// all calls the downstream from this goroutine, then from one it starts,
// then from a worker.
func (s *server) all(ctx context.Context, id string) error {
	if err := s.call(ctx, id, "/direct"); err != nil {
		return err
	}
	done := make(chan error)
	go func() { done <- s.call(context.Background(), id, "/child") }()
	if err := <-done; err != nil {
		return err
	}
	s.jobs <- job{ctx: ctx, id: id, done: done}
	return <-done
}

func testID(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("x-test-id"); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (s *server) UnaryCall(ctx context.Context, in *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	if err := s.all(ctx, testID(ctx)); err != nil {
		return nil, err
	}
	return &testgrpc.SimpleResponse{Payload: in.GetPayload()}, nil
}

func (s *server) StreamingOutputCall(in *testgrpc.StreamingOutputCallRequest, stream testgrpc.TestService_StreamingOutputCallServer) error {
	ctx := stream.Context()
	if err := s.all(ctx, testID(ctx)); err != nil {
		return err
	}
	for i := 0; i < 3; i++ {
		if err := stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: in.GetPayload()}); err != nil {
			return err
		}
	}
	return nil
}

// serveHTTP serves gs through net/http (servehttp.go); nil in a build
// without the servehttp tag, which has no net/http server at all.
var serveHTTP func(gs *grpc.Server, lis net.Listener) error

// FullDuplexCall answers each request with a reply, sent from a goroutine
// of its own, after the downstream calls.
func (s *server) FullDuplexCall(stream testgrpc.TestService_FullDuplexCallServer) error {
	ctx := stream.Context()
	for {
		in, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.all(ctx, testID(ctx)); err != nil {
			return err
		}
		sent := make(chan error)
		go func() { sent <- stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: in.GetPayload()}) }()
		if err := <-sent; err != nil {
			return err
		}
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on (or, with -load, to call)")
	downstream := flag.String("downstream", "", "base URL of the HTTP downstream")
	load := flag.Bool("load", false, "be the client")
	viaHTTP := flag.Bool("servehttp", false, "serve gRPC through net/http (h2c) with grpc.Server.ServeHTTP")
	n := flag.Int("n", 64, "calls to make (-load)")
	c := flag.Int("c", 32, "calls in flight (-load)")
	flag.Parse()
	if *load {
		if err := runLoad(*addr, *n, *c); err != nil {
			log.Fatal(err)
		}
		return
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	gs := grpc.NewServer()
	srv := &server{downstream: *downstream, client: &http.Client{}, jobs: make(chan job)}
	for i := 0; i < 4; i++ {
		go srv.worker()
	}
	testgrpc.RegisterTestServiceServer(gs, srv)
	fmt.Fprintf(os.Stderr, "listening on %s\n", lis.Addr())
	if *viaHTTP {
		if serveHTTP == nil {
			log.Fatal("-servehttp needs a build with -tags servehttp")
		}
		log.Fatal(serveHTTP(gs, lis))
	}
	log.Fatal(gs.Serve(lis))
}

func runLoad(addr string, n, inFlight int) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := testgrpc.NewTestServiceClient(conn)
	sem := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			id := fmt.Sprintf("g%d", i)
			ctx := metadata.AppendToOutgoingContext(context.Background(),
				"x-test-id", id,
				"traceparent", fmt.Sprintf("00-%032x-%016x-01", i+1, i+1))
			var err error
			switch i % 3 {
			case 0:
				_, err = client.UnaryCall(ctx, &testgrpc.SimpleRequest{})
			case 2:
				var st testgrpc.TestService_FullDuplexCallClient
				if st, err = client.FullDuplexCall(ctx); err == nil {
					if err = st.Send(&testgrpc.StreamingOutputCallRequest{}); err == nil {
						err = st.CloseSend()
					}
					for err == nil {
						_, err = st.Recv()
					}
					if err == io.EOF {
						err = nil
					}
				}
			default:
				var st testgrpc.TestService_StreamingOutputCallClient
				if st, err = client.StreamingOutputCall(ctx, &testgrpc.StreamingOutputCallRequest{}); err == nil {
					for err == nil {
						_, err = st.Recv()
					}
					if err == io.EOF {
						err = nil
					}
				}
			}
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("call %s: %w", id, err)
				}
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	return firstErr
}
