package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tracerproject/tracer/alert"
	"github.com/tracerproject/tracer/report"
)

// Config mirrors configs/tracer.yaml, which documents every key. Precedence:
// flags, then TRACER_* environment variables (the key path in upper case,
// joined by underscores: TRACER_STORE_DSN), then the file, then defaults.
type Config struct {
	Data      string `yaml:"data"`
	LogLevel  string `yaml:"log_level"`
	GCPercent int    `yaml:"gc_percent"`
	NATS      struct {
		URL      string `yaml:"url"`
		Listen   string `yaml:"listen"`
		Replicas int    `yaml:"replicas"`
	} `yaml:"nats"`
	Store struct {
		DSN     string `yaml:"dsn"`
		ChdbLib string `yaml:"chdb_lib"`
	} `yaml:"store"`
	Loader struct {
		BatchRows int      `yaml:"batch_rows"`
		BatchWait Duration `yaml:"batch_wait"`
		IdleWait  Duration `yaml:"idle_wait"`
		AckWait   Duration `yaml:"ack_wait"`
	} `yaml:"loader"`
	BTC struct {
		RPC           string   `yaml:"rpc"`
		RPCUser       string   `yaml:"rpc_user"`
		RPCPass       string   `yaml:"rpc_pass"`
		RPCTLS        bool     `yaml:"rpc_tls"`
		RPCTimeout    Duration `yaml:"rpc_timeout"`
		BlocksDir     string   `yaml:"blocks_dir"`
		Confirmations int64    `yaml:"confirmations"`
		PollInterval  Duration `yaml:"poll_interval"`
		UndoDepth     int64    `yaml:"undo_depth"`
	} `yaml:"btc"`
	ETH     ETHConfig `yaml:"eth"`
	Cluster struct {
		Enabled          bool        `yaml:"enabled"`
		MultiInput       bool        `yaml:"multi_input"`
		Change           bool        `yaml:"change"`
		Dust             int64       `yaml:"dust"`
		SuperclusterSize int64       `yaml:"supercluster_size"`
		BatchWait        Duration    `yaml:"batch_wait"`
		AckWait          Duration    `yaml:"ack_wait"`
		SnapshotInterval Duration    `yaml:"snapshot_interval"`
		Deposit          depositKeys `yaml:"deposit"`
	} `yaml:"cluster"`
	Alerts struct {
		Confirmations int64              `yaml:"confirmations"`
		Rules         []alert.RuleConfig `yaml:"rules"`
	} `yaml:"alerts"`
	Reports struct {
		Out       string            `yaml:"out"`
		Schedules []report.Schedule `yaml:"schedules"`
	} `yaml:"reports"`
	Metrics struct {
		Listen string `yaml:"listen"`
	} `yaml:"metrics"`
	Labels struct {
		Categories     []string `yaml:"categories"`
		OFACConfidence int64    `yaml:"ofac_confidence"`
		AddedBy        string   `yaml:"added_by"`
	} `yaml:"labels"`
	Exposure struct {
		// IndexCron rebuilds the exposure index on a cron expression
		// within tracer run and tracer report schedule; empty: never.
		IndexCron string `yaml:"index_cron"`
	} `yaml:"exposure"`
	Trace struct {
		Model    string   `yaml:"model"`
		Hops     int      `yaml:"hops"`
		StopAt   []string `yaml:"stop_at"`
		MaxNodes int      `yaml:"max_nodes"`
		Timeout  Duration `yaml:"timeout"`
	} `yaml:"trace"`
}

// Duration reads "1s", "250ms" from YAML and the environment.
type Duration struct{ time.Duration }

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (e.g. 1s, 250ms)", n.Line, n.Value)
	}
	d.Duration = v
	return nil
}

func defaultConfig() Config {
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
	c.ETH = defaultETHConfig()
	c.Cluster.Enabled = true
	c.Cluster.MultiInput = true
	c.Cluster.Dust = 546
	c.Cluster.SuperclusterSize = 100_000
	c.Cluster.BatchWait = Duration{time.Second}
	c.Cluster.AckWait = Duration{30 * time.Second}
	c.Cluster.SnapshotInterval = Duration{5 * time.Minute}
	c.Cluster.Deposit = defaultDepositKeys()
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

func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "tracer")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "tracer")
	}
	return ".tracer"
}

// loadConfig reads the file (if any) and applies the environment.
func loadConfig(path string) (Config, error) {
	c := defaultConfig()
	if path == "" {
		path = os.Getenv("TRACER_CONFIG")
	}
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(raw)))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := applyEnv(reflect.ValueOf(&c).Elem(), "TRACER"); err != nil {
		return c, err
	}
	if _, err := c.Cluster.Deposit.config(); err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	if c.Data == "" {
		// A file that leaves data empty means the default, not "none".
		c.Data = defaultDataDir()
	}
	return c, nil
}

// applyEnv sets every leaf field from TRACER_<PATH> when that is set.
func applyEnv(v reflect.Value, prefix string) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		name := prefix + "_" + strings.ToUpper(tag)
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeOf(Duration{}) {
			if err := applyEnv(fv, name); err != nil {
				return err
			}
			continue
		}
		s, ok := os.LookupEnv(name)
		if !ok {
			continue
		}
		if err := setField(fv, s); err != nil {
			return fmt.Errorf("config: %s=%q: %w", name, s, err)
		}
	}
	return nil
}

func setField(fv reflect.Value, s string) error {
	switch fv.Interface().(type) {
	case Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		fv.Set(reflect.ValueOf(Duration{d}))
		return nil
	}
	switch fv.Kind() {
	case reflect.Slice:
		if fv.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported type %s", fv.Type())
		}
		// A list of strings from the environment: comma-separated.
		var list []string
		for _, e := range strings.Split(s, ",") {
			if e = strings.TrimSpace(e); e != "" {
				list = append(list, e)
			}
		}
		fv.Set(reflect.ValueOf(list))
	case reflect.String:
		fv.SetString(s)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return err
		}
		fv.SetInt(n)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		fv.SetBool(b)
	default:
		return fmt.Errorf("unsupported type %s", fv.Type())
	}
	return nil
}
