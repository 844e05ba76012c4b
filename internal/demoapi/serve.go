package demoapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Server is a handler served on a loopback port. It is safe for concurrent use.
type Server struct {
	// URL is the server's base URL, http://127.0.0.1:port.
	URL  string
	http *http.Server
	done chan struct{}
}

// Serve serves h on a fresh loopback port (127.0.0.1:0) until Close.
func Serve(h http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("weir/demoapi: listening on loopback: %w", err)
	}
	s := &Server{
		URL:  "http://" + ln.Addr().String(),
		http: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		// Serve returns http.ErrServerClosed after Close; any other error means the listener
		// broke, and the callers' requests will say so.
		_ = s.http.Serve(ln)
	}()
	return s, nil
}

// Close stops the server, giving requests in flight a moment to finish.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.http.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.http.Close())
	}
	<-s.done
	if err != nil {
		return fmt.Errorf("weir/demoapi: closing: %w", err)
	}
	return nil
}
