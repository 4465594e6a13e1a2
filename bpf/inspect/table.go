package inspect

import (
	"strconv"
	"strings"
)

// ginTable: gin.Context's layout has been the same from v1.7 to v1.10.
var ginTable = Offsets{GinContextHandlers: 80, GinContextFullPath: 112}

const (
	ginModule  = "github.com/gin-gonic/gin"
	chiModule  = "github.com/go-chi/chi/v5"
	echoModule = "github.com/labstack/echo/v4"
)

// chiTable: chi v5's Context (RoutePatterns after Routes, parentCtx,
// RoutePath, RouteMethod, URLParams, routeParams and routePattern).
var chiTable = Offsets{ChiContextRoutePatterns: 176}

// echoTable: echo v4's context has had three layouts: path and handler
// among the first fields up to v4.11, after the lock in v4.12, and
// handler before path from v4.13.
func echoTable(version string) Offsets {
	minor := -1
	if p := strings.Split(strings.TrimPrefix(version, "v"), "."); len(p) >= 2 {
		minor, _ = strconv.Atoi(p[1])
	}
	switch {
	case minor >= 0 && minor < 12:
		return Offsets{EchoContextPath: 16, EchoContextHandler: 88}
	case minor == 12:
		return Offsets{EchoContextPath: 80, EchoContextHandler: 144}
	default:
		return Offsets{EchoContextPath: 88, EchoContextHandler: 80}
	}
}
