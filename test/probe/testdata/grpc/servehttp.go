//go:build servehttp

package main

import (
	"net"
	"net/http"

	"google.golang.org/grpc"
)

func init() {
	serveHTTP = func(gs *grpc.Server, lis net.Listener) error {
		var h2c http.Protocols
		h2c.SetUnencryptedHTTP2(true)
		return (&http.Server{Handler: gs, Protocols: &h2c}).Serve(lis)
	}
}
