package routes

import (
	"encoding/json"
	"path/filepath"
	"testing"
)

const grpcGoMod = "module example.com/grpcsvc\n\ngo 1.24\n"

// What protoc-gen-go-grpc generates, in part.
const grpcPbGo = `package pb

import "context"

const (
	Greeter_SayHello_FullMethodName   = "/helloworld.Greeter/SayHello"
	Greeter_SayGoodbye_FullMethodName = "/helloworld.Greeter/SayGoodbye"
)

type GreeterServer interface {
	SayHello(context.Context, *HelloRequest) (*HelloReply, error)
	SayGoodbye(context.Context, *HelloRequest) (*HelloReply, error)
}

type UnimplementedGreeterServer struct{}

func (UnimplementedGreeterServer) SayGoodbye(context.Context, *HelloRequest) (*HelloReply, error) {
	return nil, nil
}

type HelloRequest struct{}
type HelloReply struct{}

func RegisterGreeterServer(s any, srv GreeterServer) {}
`

const grpcMainGo = `package main

import (
	"context"

	"google.golang.org/grpc"

	"example.com/grpcsvc/pb"
)

type greeter struct {
	pb.UnimplementedGreeterServer
}

func (g *greeter) SayHello(ctx context.Context, in *pb.HelloRequest) (*pb.HelloReply, error) {
	return &pb.HelloReply{}, nil
}

func (g *greeter) helper() {}

func main() {
	s := grpc.NewServer()
	pb.RegisterGreeterServer(s, &greeter{})
}
`

func TestIndexGRPC(t *testing.T) {
	dir := t.TempDir()
	mainFile := filepath.Join(dir, "main.go")
	writeFile(t, filepath.Join(dir, "go.mod"), grpcGoMod)
	writeFile(t, mainFile, grpcMainGo)
	writeFile(t, filepath.Join(dir, "pb", "greeter_grpc.pb.go"), grpcPbGo)
	got, err := Index(dir)
	if err != nil {
		t.Fatal(err)
	}
	// SayGoodbye is the embedded Unimplemented type's: not the service's code.
	if len(got) != 1 {
		js, _ := json.MarshalIndent(got, "", "  ")
		t.Fatalf("got %d routes, want 1:\n%s", len(got), js)
	}
	r := got[0]
	if r.Method != "POST" || r.Path != "/helloworld.Greeter/SayHello" || r.Pattern != "" {
		t.Errorf("route %s %s (pattern %q), want POST /helloworld.Greeter/SayHello", r.Method, r.Path, r.Pattern)
	}
	if r.Handler.Func != "main.(*greeter).SayHello" || r.Handler.File != mainFile || r.Handler.Line != lineOf(t, grpcMainGo, "func (g *greeter) SayHello(") {
		t.Errorf("handler %+v", r.Handler)
	}
	if r.Registration.Func != "main.main" || r.Registration.Line != lineOf(t, grpcMainGo, "pb.RegisterGreeterServer(") {
		t.Errorf("registration %+v", r.Registration)
	}
}
