package app

import (
	"net/http"
	"net/http/httptest"
)

func newStatusServer(code int) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }))
}
