package pipeline

import (
	"fmt"
	"strings"
	"time"

	"github.com/tracerproject/tracer/ingest/eth"
)

// ETHSettings are the Ethereum ingest settings as a configuration gives
// them, in plain values (the eth.* keys of configs/tracer.yaml).
type ETHSettings struct {
	RPC        string
	RPCTimeout time.Duration
	MaxReply   int64
	Traces     bool
	// Confirmations is a number of blocks (1: the tip) or "finalized".
	Confirmations string
	// Tokens is "default", "all", or symbols and contracts (eth.ParseTokens).
	Tokens string
	// Senders is "recover" or "node" (ParseSenders).
	Senders      string
	PollInterval time.Duration
	HashDepth    int64
}

// DefaultETHSettings are the ingestor's defaults.
func DefaultETHSettings() ETHSettings {
	return ETHSettings{
		RPCTimeout: eth.DefaultRPCTimeout, MaxReply: eth.DefaultMaxReply, Confirmations: "1",
		Tokens: "default", Senders: "recover", PollInterval: 2 * time.Second, HashDepth: eth.DefaultHashDepth,
	}
}

// Ingest turns the settings into the Ethereum ingestor's options: the
// node, its confirmations, tokens and senders. The caller sets what the
// command line says: the range, following, a blocks directory.
func (e ETHSettings) Ingest() (ETHIngest, error) {
	opt := ETHIngest{
		RPC:          eth.RPCConfig{URL: e.RPC, Timeout: e.RPCTimeout, MaxReply: e.MaxReply, Traces: e.Traces},
		PollInterval: e.PollInterval, HashDepth: e.HashDepth,
	}
	if strings.EqualFold(e.Confirmations, "finalized") {
		opt.Finalized, opt.Confirmations = true, 1
	} else {
		n, err := parsePositive(e.Confirmations)
		if err != nil {
			return opt, fmt.Errorf(`--confirmations %q: want a number of blocks (1: the tip) or "finalized"`, e.Confirmations)
		}
		opt.Confirmations = n
	}
	var err error
	if opt.Tokens, err = eth.ParseTokens(e.Tokens); err != nil {
		return opt, err
	}
	if opt.NodeSenders, err = ParseSenders(e.Senders); err != nil {
		return opt, err
	}
	return opt, nil
}

// ParseSenders reads eth.senders: true for "node".
func ParseSenders(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "recover", "":
		return false, nil
	case "node":
		return true, nil
	}
	return false, fmt.Errorf(`eth senders %q: want "recover" (from the signatures) or "node" (the node's "from")`, s)
}

func parsePositive(s string) (int64, error) {
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil || n < 1 || fmt.Sprint(n) != strings.TrimSpace(s) {
		return 0, fmt.Errorf("not a positive number")
	}
	return n, nil
}
