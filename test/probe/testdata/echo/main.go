// Command echo is an HTTP service routed by echo v4: a static route, a
// route with a parameter, and routes of a group with its own middleware
// (one with a route middleware too). Every handler calls the downstream,
// forwarding X-Test-Id and naming its route in X-Caller-Route, so the
// downstream's /truth names the inbound request behind each outbound
// connection use, and answers with its route.
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

	"github.com/labstack/echo/v4"
)

var (
	down   string
	client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
)

// callDown calls the downstream for the request and answers with route.
func callDown(c echo.Context, route string) error {
	time.Sleep(5 * time.Millisecond) // keeps requests in flight together
	r := c.Request()
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, down+"/echo-router", nil)
	req.Header.Set("X-Test-Id", r.Header.Get("X-Test-Id"))
	req.Header.Set("X-Caller-Route", route)
	resp, err := client.Do(req)
	if err != nil {
		return c.String(http.StatusBadGateway, err.Error())
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return c.String(http.StatusOK, route+"\n")
}

func health(c echo.Context) error {
	return callDown(c, "/health")
}

func getUser(c echo.Context) error {
	return callDown(c, "/users/:id")
}

func getOrder(c echo.Context) error {
	return callDown(c, "/api/orders/:id")
}

func createOrder(c echo.Context) error {
	return callDown(c, "/api/orders")
}

// tagged is a middleware, as Use, Group and the routes take them.
func tagged(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("X-Tagged", "1")
		return next(c)
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "")
	flag.StringVar(&down, "downstream", "", "downstream base URL")
	flag.Parse()
	e := echo.New()
	e.Use(tagged)
	e.GET("/health", health)
	e.GET("/users/:id", getUser)
	api := e.Group("/api", tagged)
	api.GET("/orders/:id", getOrder, tagged)
	api.POST("/orders", createOrder)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "listening on %s\n", ln.Addr())
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}
