package service

import (
	"errors"
	"fmt"
	"time"

	"github.com/tracerproject/tracer/cluster"
	"github.com/tracerproject/tracer/labels"
	"github.com/tracerproject/tracer/store"
	"github.com/tracerproject/tracer/trace"
)

// Errors of the operations. An operation's error wraps one of them (and
// the cause from the layer below, such as store.ErrNotFound), so that a
// caller can tell a bad request from a missing subject from a failure.
var (
	// ErrInvalid: the request cannot be answered as asked (a malformed
	// address, an unknown option, values out of range).
	ErrInvalid = errors.New("service: invalid request")
	// ErrNotFound: the subject asked about is not in the store (an
	// address or transaction never seen, a subject no import labelled).
	ErrNotFound = errors.New("service: not found")
)

// Error is an operation's failure with the message a user reads. Kind is
// ErrInvalid or ErrNotFound; Err, when set, is the cause.
type Error struct {
	Kind error
	Msg  string
	Err  error
}

func (e *Error) Error() string { return e.Msg }

// Unwrap gives both the kind and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// invalid marks err as a bad request, keeping its message.
func invalid(err error) error {
	return &Error{Kind: ErrInvalid, Msg: err.Error(), Err: err}
}

// invalidf is a bad request with a message of its own.
func invalidf(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &Error{Kind: ErrInvalid, Msg: err.Error(), Err: errors.Unwrap(err)}
}

// notFound turns the store's not-found into ErrNotFound naming what was
// asked for; other errors pass unchanged.
func notFound(err error, what string) error {
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, labels.ErrNotFound) {
		return &Error{Kind: ErrNotFound, Msg: what + " not found in the store", Err: err}
	}
	return err
}

// TraceDefaults are the options a trace or exposure request leaves empty
// (the configuration's trace section).
type TraceDefaults struct {
	Model    string
	Hops     int
	MaxNodes int
	Timeout  time.Duration
	// StopAt: label categories that end a trace's paths.
	StopAt []string
}

// DefaultTrace is the trace package's defaults, stopping at exchanges
// and mixers.
func DefaultTrace() TraceDefaults {
	c := trace.DefaultConfig()
	return TraceDefaults{Model: c.Model, Hops: c.Hops, MaxNodes: c.MaxNodes, Timeout: c.Timeout, StopAt: []string{"exchange", "mixer"}}
}

// Config is what a Service works on.
type Config struct {
	// Store is the opened store (required).
	Store *store.Store
	// Labels is the label store on it (required).
	Labels *labels.Store
	// Trace fills what trace and exposure requests leave empty (zero:
	// DefaultTrace).
	Trace TraceDefaults
	// Categories are label categories beyond labels.BuiltinCategories.
	Categories []string
	// OFACConfidence is the confidence of labels from the OFAC formats,
	// 0 to 100.
	OFACConfidence int
	// ReportsDir is where reports are written when a request names no
	// directory.
	ReportsDir string
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Service answers investigators' requests on one store.
type Service struct {
	cfg  Config
	st   *store.Store
	ls   *labels.Store
	cats *labels.Categories
	// btc reads Bitcoin clusters; clusters of other chains are opened
	// per request (cluster.NewChainClusters).
	btc *cluster.Clusters
	tr  *trace.Tracer
}

// New checks cfg and returns a service on its store.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Labels == nil {
		return nil, errors.New("service: a store and its label store are required")
	}
	cats, err := labels.NewCategories(cfg.Categories...)
	if err != nil {
		return nil, fmt.Errorf("config labels.categories: %w", err)
	}
	if cfg.OFACConfidence < 0 || cfg.OFACConfidence > 100 {
		return nil, fmt.Errorf("config labels.ofac_confidence %d: want 0 to 100", cfg.OFACConfidence)
	}
	if cfg.Trace.Model == "" && cfg.Trace.Hops == 0 && cfg.Trace.MaxNodes == 0 && cfg.Trace.Timeout == 0 && cfg.Trace.StopAt == nil {
		cfg.Trace = DefaultTrace()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	conn := cfg.Store.Conn()
	return &Service{
		cfg: cfg, st: cfg.Store, ls: cfg.Labels, cats: cats,
		btc: cluster.NewClusters(conn),
		tr:  trace.New(conn, cfg.Labels),
	}, nil
}

// Store is the store the service reads.
func (s *Service) Store() *store.Store { return s.st }
