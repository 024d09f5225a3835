package config

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tracerproject/tracer/alert"
	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/cluster/heuristic"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/report"
)

// Config mirrors configs/tracer.yaml, which documents every key.
type Config struct {
	Data      string   `yaml:"data"`
	LogLevel  string   `yaml:"log_level"`
	GCPercent int      `yaml:"gc_percent"`
	NATS      NATS     `yaml:"nats"`
	Store     Store    `yaml:"store"`
	Loader    Loader   `yaml:"loader"`
	BTC       BTC      `yaml:"btc"`
	ETH       ETH      `yaml:"eth"`
	Cluster   Cluster  `yaml:"cluster"`
	Alerts    Alerts   `yaml:"alerts"`
	Reports   Reports  `yaml:"reports"`
	Metrics   Metrics  `yaml:"metrics"`
	Labels    Labels   `yaml:"labels"`
	Exposure  Exposure `yaml:"exposure"`
	Trace     Trace    `yaml:"trace"`
}

// NATS is the nats: section.
type NATS struct {
	URL      string `yaml:"url"`
	Listen   string `yaml:"listen"`
	Replicas int    `yaml:"replicas"`
}

// Store is the store: section.
type Store struct {
	DSN     string `yaml:"dsn"`
	ChdbLib string `yaml:"chdb_lib"`
}

// Loader is the loader: section.
type Loader struct {
	BatchRows int      `yaml:"batch_rows"`
	BatchWait Duration `yaml:"batch_wait"`
	IdleWait  Duration `yaml:"idle_wait"`
	AckWait   Duration `yaml:"ack_wait"`
}

// BTC is the btc: section.
type BTC struct {
	RPC           string   `yaml:"rpc"`
	RPCUser       string   `yaml:"rpc_user"`
	RPCPass       string   `yaml:"rpc_pass"`
	RPCTLS        bool     `yaml:"rpc_tls"`
	RPCTimeout    Duration `yaml:"rpc_timeout"`
	BlocksDir     string   `yaml:"blocks_dir"`
	Confirmations int64    `yaml:"confirmations"`
	PollInterval  Duration `yaml:"poll_interval"`
	UndoDepth     int64    `yaml:"undo_depth"`
}

// ETH is the eth: section.
type ETH struct {
	RPC        string   `yaml:"rpc"`
	RPCTimeout Duration `yaml:"rpc_timeout"`
	MaxReply   int64    `yaml:"max_reply"`
	// Confirmations is a number of blocks (1: the tip) or "finalized".
	Confirmations string `yaml:"confirmations"`
	Tokens        string `yaml:"tokens"`
	Traces        bool   `yaml:"traces"`
	// Senders is "recover" (every sender recovered from its signature
	// and checked against the node's "from") or "node" (the node's taken).
	Senders      string   `yaml:"senders"`
	PollInterval Duration `yaml:"poll_interval"`
	HashDepth    int64    `yaml:"hash_depth"`
}

// Cluster is the cluster: section.
type Cluster struct {
	Enabled          bool     `yaml:"enabled"`
	MultiInput       bool     `yaml:"multi_input"`
	Change           bool     `yaml:"change"`
	Dust             int64    `yaml:"dust"`
	SuperclusterSize int64    `yaml:"supercluster_size"`
	BatchWait        Duration `yaml:"batch_wait"`
	AckWait          Duration `yaml:"ack_wait"`
	SnapshotInterval Duration `yaml:"snapshot_interval"`
	Deposit          Deposit  `yaml:"deposit"`
}

// Deposit is the cluster.deposit: section, Ethereum deposit-address reuse.
type Deposit struct {
	Enabled      bool  `yaml:"enabled"`
	WindowBlocks int64 `yaml:"window_blocks"`
	// ASSET=AMOUNT in base units; ASSET is ETH, a known token symbol or a
	// token contract.
	Tolerance    []string `yaml:"tolerance"`
	ToleranceBps int64    `yaml:"tolerance_bps"`
	// ENTITY:0xADDRESS or 0xADDRESS.
	Exchanges       []string `yaml:"exchanges"`
	ExchangeRefresh Duration `yaml:"exchange_refresh"`
}

// Alerts is the alerts: section.
type Alerts struct {
	Confirmations int64              `yaml:"confirmations"`
	Rules         []alert.RuleConfig `yaml:"rules"`
}

// Reports is the reports: section.
type Reports struct {
	Out       string            `yaml:"out"`
	Schedules []report.Schedule `yaml:"schedules"`
}

// Metrics is the metrics: section.
type Metrics struct {
	Listen string `yaml:"listen"`
}

// Labels is the labels: section.
type Labels struct {
	Categories     []string `yaml:"categories"`
	OFACConfidence int64    `yaml:"ofac_confidence"`
	AddedBy        string   `yaml:"added_by"`
}

// Exposure is the exposure: section.
type Exposure struct {
	// IndexCron rebuilds the exposure index on a cron expression
	// within tracer run and tracer report schedule; empty: never.
	IndexCron string `yaml:"index_cron"`
}

// Trace is the trace: section, the defaults of traces and exposure.
type Trace struct {
	Model    string   `yaml:"model"`
	Hops     int      `yaml:"hops"`
	StopAt   []string `yaml:"stop_at"`
	MaxNodes int      `yaml:"max_nodes"`
	Timeout  Duration `yaml:"timeout"`
}

// Duration reads "1s", "250ms" from YAML and the environment.
type Duration struct{ time.Duration }

// UnmarshalYAML reads a Go duration (time.ParseDuration).
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (e.g. 1s, 250ms)", n.Line, n.Value)
	}
	d.Duration = v
	return nil
}

// Default is the configuration when no file and no variable says
// otherwise: the values configs/tracer.yaml lists.
func Default() Config {
	var c Config
	c.Data = defaultDataDir()
	c.LogLevel = "info"
	c.GCPercent = 200
	c.NATS.Listen = "127.0.0.1:4222"
	c.NATS.Replicas = 1
	c.Loader.BatchRows = 250_000
	c.Loader.BatchWait = Duration{time.Second}
	c.Loader.IdleWait = Duration{200 * time.Millisecond}
	c.Loader.AckWait = Duration{15 * time.Second}
	c.BTC.RPCTimeout = Duration{time.Minute}
	c.BTC.Confirmations = 1
	c.BTC.PollInterval = Duration{2 * time.Second}
	c.BTC.UndoDepth = 288
	c.ETH = DefaultETH()
	c.Cluster.Enabled = true
	c.Cluster.MultiInput = true
	c.Cluster.Dust = 546
	c.Cluster.SuperclusterSize = 100_000
	c.Cluster.BatchWait = Duration{time.Second}
	c.Cluster.AckWait = Duration{30 * time.Second}
	c.Cluster.SnapshotInterval = Duration{5 * time.Minute}
	c.Cluster.Deposit = DefaultDeposit()
	c.Alerts.Confirmations = 2
	c.Metrics.Listen = ""
	c.Labels.OFACConfidence = 90
	c.Trace.Model = "haircut"
	c.Trace.Hops = 6
	c.Trace.StopAt = []string{"exchange", "mixer"}
	c.Trace.MaxNodes = 100_000
	c.Trace.Timeout = Duration{time.Minute}
	return c
}

// DefaultETH is the eth: section's defaults.
func DefaultETH() ETH {
	d := pipeline.DefaultETHSettings()
	return ETH{
		RPCTimeout: Duration{d.RPCTimeout}, MaxReply: d.MaxReply, Confirmations: d.Confirmations,
		Tokens: d.Tokens, Senders: d.Senders, PollInterval: Duration{d.PollInterval}, HashDepth: d.HashDepth,
	}
}

// DefaultDeposit is the cluster.deposit: section's defaults, those of the
// heuristic.
func DefaultDeposit() Deposit {
	d := heuristic.DefaultDepositConfig()
	return Deposit{
		Enabled: d.Enabled, WindowBlocks: d.Window, ToleranceBps: d.ToleranceBps,
		Tolerance:       []string{"ETH=" + d.Tolerance[chain.AssetETH].String(), "USDT=" + d.Tolerance[heuristic.TokenUSDT].String(), "USDC=" + d.Tolerance[heuristic.TokenUSDC].String()},
		ExchangeRefresh: Duration{10 * time.Minute},
	}
}

func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "tracer")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "tracer")
	}
	return ".tracer"
}
