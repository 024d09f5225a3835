package chserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNotFound means no ClickHouse server binary was found.
var ErrNotFound = errors.New("chserver: no clickhouse-server binary on PATH, in /usr/sbin or /usr/bin (Debian: apt-get install clickhouse-server)")

// Config configures Start. The zero value is ready to use.
type Config struct {
	// Binary is the path of clickhouse-server, or of the single clickhouse
	// binary of newer releases (run as `clickhouse server`). Empty: look up
	// clickhouse-server, then clickhouse, on PATH, then in /usr/sbin and
	// /usr/bin.
	Binary string
	// Dir holds the configuration, data and logs. Empty: a new temporary
	// directory, removed by Close.
	Dir string
	// StopTimeout bounds the graceful stop of a server in Dir before Close
	// kills it. Zero: 10 s.
	StopTimeout time.Duration
}

// Server is a running clickhouse-server process.
type Server struct {
	cmd      *exec.Cmd
	dir      string
	ownDir   bool
	tcpPort  int
	httpPort int
	stopWait time.Duration

	exited  chan struct{} // closed when the process has been waited for
	waitErr error         // set before exited is closed

	closeOnce sync.Once
	closeErr  error
}

// markerFile, in a temporary directory made by Start, holds the pid of the
// process that owns the server, so that a later Start can remove the
// directories of owners that died without calling Close.
const markerFile = "chserver.owner"

// startAttempts covers the short window between choosing a free port and
// the server binding it, in which another process may take the port.
const startAttempts = 3

// Start starts a clickhouse-server on free loopback ports (native and HTTP)
// and returns once it answers. ctx bounds the start; without a deadline
// the start is given a minute.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	bin, args, err := findBinary(cfg.Binary)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Minute)
		defer cancel()
	}
	s := &Server{dir: cfg.Dir, stopWait: cfg.StopTimeout}
	if s.stopWait <= 0 {
		s.stopWait = 10 * time.Second
	}
	if s.dir == "" {
		removeStaleDirs()
		s.dir, err = os.MkdirTemp("", "tracer-chserver-")
		if err != nil {
			return nil, fmt.Errorf("chserver: %w", err)
		}
		s.ownDir = true
		if err := os.WriteFile(filepath.Join(s.dir, markerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			os.RemoveAll(s.dir)
			return nil, fmt.Errorf("chserver: %w", err)
		}
	} else if s.dir, err = filepath.Abs(s.dir); err != nil {
		return nil, fmt.Errorf("chserver: %w", err)
	}

	for attempt := 1; ; attempt++ {
		err = s.start(ctx, bin, args)
		if err == nil {
			return s, nil
		}
		if attempt == startAttempts || ctx.Err() != nil || !errors.Is(err, errPortTaken) {
			break
		}
	}
	if s.ownDir {
		os.RemoveAll(s.dir)
	}
	return nil, err
}

var errPortTaken = errors.New("port taken")

// start runs one attempt: choose ports, write the configuration, start the
// process and wait until it answers.
func (s *Server) start(ctx context.Context, bin string, args []string) error {
	ports, err := freePorts(2)
	if err != nil {
		return fmt.Errorf("chserver: choosing ports: %w", err)
	}
	s.tcpPort, s.httpPort = ports[0], ports[1]
	configPath, err := writeConfig(s.dir, s.tcpPort, s.httpPort)
	if err != nil {
		return fmt.Errorf("chserver: writing configuration: %w", err)
	}
	out, err := os.Create(filepath.Join(s.dir, "log", "console.log"))
	if err != nil {
		return fmt.Errorf("chserver: %w", err)
	}
	defer out.Close() // the child holds its own descriptor

	cmd := exec.Command(bin, append(args, "--config-file="+configPath)...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = out, out
	// Newer releases may fork a watchdog that outlives a kill of its child.
	cmd.Env = append(os.Environ(), "CLICKHOUSE_WATCHDOG_ENABLE=0")
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("chserver: starting %s: %w", bin, err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()

	if err := s.waitReady(ctx); err != nil {
		s.kill()
		logs := s.logTail()
		if strings.Contains(logs, "Address already in use") {
			return fmt.Errorf("chserver: %w: %v", errPortTaken, err)
		}
		return fmt.Errorf("chserver: %s did not start: %w\n%s", bin, err, logs)
	}
	return nil
}

// waitReady polls the HTTP /ping endpoint until it answers, the process
// exits or ctx ends. The server starts accepting on all its ports together,
// after it has loaded its metadata, so HTTP answering means the native port
// does too.
func (s *Server) waitReady(ctx context.Context) error {
	// A kept-alive connection would hold up a graceful stop until the
	// server's keep_alive_timeout.
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	url := s.HTTPURL() + "/ping"
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.ping(ctx, client, url) {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("exited: %v", s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("no answer on %s: %w", url, ctx.Err())
		case <-tick.C:
		}
	}
}

func (s *Server) ping(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK && bytes.HasPrefix(body, []byte("Ok."))
}

// DSN is the clickhouse-go DSN of the default database.
func (s *Server) DSN() string { return "clickhouse://" + s.Addr() + "/default" }

// Addr is the host:port of the native protocol.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.tcpPort)) }

// HTTPURL is the base URL of the HTTP interface.
func (s *Server) HTTPURL() string {
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.httpPort))
}

// Dir is the directory holding the configuration, data and logs (log/).
func (s *Server) Dir() string { return s.dir }

// Close stops the server and waits for it to exit. A server in a directory
// of its own is killed and the directory removed: its data goes anyway, and
// a graceful stop takes about a second. A server in Config.Dir gets SIGTERM
// and Config.StopTimeout to stop before it is killed. Close is safe to call
// more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if !s.ownDir {
			if err := s.cmd.Process.Signal(syscall.SIGTERM); err == nil {
				select {
				case <-s.exited:
				case <-time.After(s.stopWait):
					s.closeErr = fmt.Errorf("chserver: no exit %v after SIGTERM, killed", s.stopWait)
				}
			}
		}
		s.kill()
		if s.ownDir {
			if err := os.RemoveAll(s.dir); err != nil {
				s.closeErr = fmt.Errorf("chserver: %w", err)
			}
		}
	})
	return s.closeErr
}

// kill ends the process group, unless the process has already exited,
// and waits for the process.
func (s *Server) kill() {
	select {
	case <-s.exited:
		return
	default:
	}
	killGroup(s.cmd.Process.Pid)
	<-s.exited
}

// logTail returns the end of the error log and of the console output, which
// say why a start failed.
func (s *Server) logTail() string {
	var b strings.Builder
	for _, name := range []string{"server.err.log", "console.log"} {
		data, err := os.ReadFile(filepath.Join(s.dir, "log", name))
		if err != nil || len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		fmt.Fprintf(&b, "--- %s ---\n%s\n", name, bytes.TrimSpace(data))
	}
	return b.String()
}

// findBinary returns the program and the arguments that start a server.
func findBinary(explicit string) (string, []string, error) {
	args := func(path string) []string {
		if filepath.Base(path) == "clickhouse" {
			return []string{"server"}
		}
		return nil
	}
	if explicit != "" {
		path, err := exec.LookPath(explicit)
		if err != nil {
			return "", nil, fmt.Errorf("%w: %v", ErrNotFound, err)
		}
		return path, args(path), nil
	}
	for _, name := range []string{"clickhouse-server", "clickhouse"} {
		if path, err := exec.LookPath(name); err == nil {
			return path, args(path), nil
		}
	}
	// Debian installs /usr/sbin/clickhouse-server, which is not on a normal
	// user's PATH.
	for _, path := range []string{"/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server", "/usr/bin/clickhouse"} {
		if fi, err := os.Stat(path); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return path, args(path), nil
		}
	}
	return "", nil, ErrNotFound
}

// freePorts returns n distinct free loopback ports, holding all listeners
// open until all are chosen so the kernel gives n different ones.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// removeStaleDirs removes the temporary directories of servers whose owner
// process is gone (killed test binaries; their servers died with them).
func removeStaleDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "tracer-chserver-*"))
	for _, dir := range dirs {
		data, err := os.ReadFile(filepath.Join(dir, markerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		os.RemoveAll(dir)
	}
}
