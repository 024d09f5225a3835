package stream

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ServerConfig configures the embedded NATS server.
type ServerConfig struct {
	// StoreDir holds the JetStream file store.
	StoreDir string
	// Listen is host:port for clients. Port 0 picks a free port. If the
	// requested port is taken, a free one is used and logged.
	Listen string
	// MaxPayload overrides the server's max message size (0: NATS default, 1 MB).
	MaxPayload int32
	Logger     *slog.Logger
}

// Server is an embedded nats-server with JetStream enabled.
type Server struct {
	ns *server.Server
}

// StartServer starts an embedded NATS server with JetStream and a file store
// and waits until it accepts connections.
func StartServer(cfg ServerConfig) (*Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("stream: embedded NATS needs a store directory")
	}
	host, port, err := splitListen(cfg.Listen)
	if err != nil {
		return nil, err
	}
	if port > 0 && !portFree(host, port) {
		if cfg.Logger != nil {
			cfg.Logger.Warn("NATS port busy, using a free one", "listen", cfg.Listen)
		}
		port = -1
	}
	if port == 0 {
		port = -1 // nats-server: -1 means random
	}
	opts := &server.Options{
		ServerName: "tracer-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		NoSigs:     true,
		NoLog:      true,
		MaxPayload: cfg.MaxPayload,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("stream: configuring embedded NATS: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("stream: embedded NATS did not become ready within 30s")
	}
	return &Server{ns: ns}, nil
}

// ClientURL is the nats:// URL clients connect to.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// Close shuts the server down and waits for it.
func (s *Server) Close() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

func splitListen(listen string) (string, int, error) {
	if listen == "" {
		return "127.0.0.1", 0, nil
	}
	host, p, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("stream: NATS listen address %q: %w", listen, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("stream: NATS listen address %q: bad port", listen)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return host, port, nil
}

func portFree(host string, port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
