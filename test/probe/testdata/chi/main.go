// Command chi is an HTTP service routed by chi v5: a static route, a route
// with a parameter, routes nested with Route, Group and With, and a router
// mounted under a prefix. Every handler calls the downstream, forwarding
// X-Test-Id and naming its route in X-Caller-Route, so the downstream's
// /truth names the inbound request behind each outbound connection use, and
// answers with its route.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/go-chi/chi/v5"
)

var (
	down   string
	client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
)

// callDown calls the downstream for the request and answers with route.
func callDown(w http.ResponseWriter, r *http.Request, route string) {
	time.Sleep(5 * time.Millisecond) // keeps requests in flight together
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, down+"/chi", nil)
	req.Header.Set("X-Test-Id", r.Header.Get("X-Test-Id"))
	req.Header.Set("X-Caller-Route", route)
	resp, err := client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	fmt.Fprintln(w, route)
}

func health(w http.ResponseWriter, r *http.Request) {
	callDown(w, r, "/health")
}

func getUser(w http.ResponseWriter, r *http.Request) {
	callDown(w, r, "/users/{id}")
}

func getOrder(w http.ResponseWriter, r *http.Request) {
	callDown(w, r, "/api/orders/{id}")
}

func createOrder(w http.ResponseWriter, r *http.Request) {
	callDown(w, r, "/api/orders")
}

func adminStats(w http.ResponseWriter, r *http.Request) {
	callDown(w, r, "/admin/stats")
}

// tagged is a middleware, as With and Use take them.
func tagged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Tagged", "1")
		next.ServeHTTP(w, r)
	})
}

func adminRouter() http.Handler {
	r := chi.NewRouter()
	r.Get("/stats", adminStats)
	return r
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "")
	flag.StringVar(&down, "downstream", "", "downstream base URL")
	flag.Parse()
	r := chi.NewRouter()
	r.Use(tagged)
	r.Get("/health", health)
	r.Get("/users/{id}", getUser)
	r.Route("/api", func(r chi.Router) {
		r.With(tagged).Get("/orders/{id}", getOrder)
		r.Group(func(r chi.Router) {
			r.Post("/orders", createOrder)
		})
	})
	r.Mount("/admin", adminRouter())
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "listening on %s\n", ln.Addr())
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}
