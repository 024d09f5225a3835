package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/tracerproject/tracer/alert"
	"gopkg.in/yaml.v3"
)

// shipped is the reference configuration, documenting every key.
const shipped = "../configs/tracer.yaml"

// TestShippedKeys: configs/tracer.yaml lists every key of Config, and
// every key it holds is one of Config's (Load refuses unknown ones too).
func TestShippedKeys(t *testing.T) {
	raw, err := os.ReadFile(shipped)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	inFile := map[string]bool{}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i].Value, n.Content[i+1]
			inFile[prefix+k] = true
			if v.Kind == yaml.MappingNode {
				walk(v, prefix+k+".")
			}
		}
	}
	walk(doc.Content[0], "")

	known := map[string]bool{}
	var fields func(typ reflect.Type, prefix string)
	fields = func(typ reflect.Type, prefix string) {
		for i := 0; i < typ.NumField(); i++ {
			tag := strings.Split(typ.Field(i).Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			known[prefix+tag] = true
			if ft := typ.Field(i).Type; ft.Kind() == reflect.Struct && ft != reflect.TypeOf(Duration{}) {
				fields(ft, prefix+tag+".")
			}
		}
	}
	fields(reflect.TypeOf(Config{}), "")

	var missing, unknown []string
	for k := range known {
		if !inFile[k] {
			missing = append(missing, k)
		}
	}
	for k := range inFile {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(unknown)
	if len(missing) > 0 {
		t.Errorf("keys of Config missing from %s: %v", shipped, missing)
	}
	if len(unknown) > 0 {
		t.Errorf("keys in %s that Config does not know: %v", shipped, unknown)
	}
	if len(known) < 60 {
		t.Errorf("got %d keys in Config, want the whole tree walked", len(known))
	}
	if _, err := Load(shipped); err != nil {
		t.Errorf("loading %s: %v", shipped, err)
	}
}

// configs/tracer.yaml documents cluster.deposit with its real defaults;
// the environment overrides it; bad values are refused with the key named.
func TestDepositConfig(t *testing.T) {
	c, err := Load(shipped)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(c.Cluster.Deposit), fmt.Sprint(DefaultDeposit()); got != want {
		t.Errorf("cluster.deposit in configs/tracer.yaml: got %s, want the defaults %s", got, want)
	}
	dep, err := c.Cluster.Deposit.Heuristic()
	if err != nil || !dep.Enabled || dep.Window != 3200 || dep.Tolerance["0xdac17f958d2ee523a2206206994597c13d831ec7"].String() != "1000000" {
		t.Errorf("deposit config: got %+v, %v", dep, err)
	}
	t.Setenv("TRACER_CLUSTER_DEPOSIT_EXCHANGES", "binance:0x28C6c06298d514Db089934071355E5743bf21d60, 0x21a31ee1afc51d94c2efccaa2092ad1028285549")
	t.Setenv("TRACER_CLUSTER_DEPOSIT_WINDOW_BLOCKS", "100")
	if c, err = Load(""); err != nil {
		t.Fatal(err)
	}
	dep, err = c.Cluster.Deposit.Heuristic()
	if err != nil || dep.Window != 100 || dep.Exchanges["0x28c6c06298d514db089934071355e5743bf21d60"] != "binance" ||
		dep.Exchanges["0x21a31ee1afc51d94c2efccaa2092ad1028285549"] != "0x21a31ee1afc51d94c2efccaa2092ad1028285549" {
		t.Errorf("from the environment: got %+v, %v", dep, err)
	}
	for _, tc := range []struct{ env, value, want string }{
		{"TRACER_CLUSTER_DEPOSIT_TOLERANCE", "DOGE=5", `asset "DOGE"`},
		{"TRACER_CLUSTER_DEPOSIT_TOLERANCE", "USDT=1.5", "decimal digits"},
		{"TRACER_CLUSTER_DEPOSIT_TOLERANCE", "USDT", "ASSET=AMOUNT"},
		{"TRACER_CLUSTER_DEPOSIT_EXCHANGES", "binance:0x12", `"binance:0x12"`},
		{"TRACER_CLUSTER_DEPOSIT_WINDOW_BLOCKS", "0", "window 0"},
		{"TRACER_CLUSTER_DEPOSIT_EXCHANGE_REFRESH", "0s", "exchange_refresh"},
	} {
		t.Run(tc.env+"="+tc.value, func(t *testing.T) {
			t.Setenv(tc.env, tc.value)
			_, err := Load("")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "cluster.deposit") {
				t.Errorf("got %v, want an error naming cluster.deposit and %s", err, tc.want)
			}
		})
	}
}

// configs/tracer.yaml documents the eth keys with their real defaults, and
// TRACER_ETH_* overrides them.
func TestETHConfig(t *testing.T) {
	c, err := Load(shipped)
	if err != nil {
		t.Fatal(err)
	}
	if c.ETH != DefaultETH() {
		t.Errorf("eth in configs/tracer.yaml: got %+v, want the defaults %+v", c.ETH, DefaultETH())
	}
	t.Setenv("TRACER_ETH_CONFIRMATIONS", "finalized")
	t.Setenv("TRACER_ETH_TOKENS", "USDT,USDC")
	t.Setenv("TRACER_ETH_SENDERS", "node")
	if c, err = Load(shipped); err != nil {
		t.Fatal(err)
	}
	if c.ETH.Confirmations != "finalized" || c.ETH.Tokens != "USDT,USDC" || c.ETH.Senders != "node" {
		t.Errorf("environment: got %+v", c.ETH)
	}
}

// TestLabelsConfig: the labels keys load from the file and from TRACER_*
// variables (a list as comma-separated values).
func TestLabelsConfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tracer.yaml")
	if err := os.WriteFile(p, []byte("labels:\n  categories: [gambling]\n  ofac_confidence: 80\n  added_by: alice\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Labels.Categories, []string{"gambling"}) || c.Labels.OFACConfidence != 80 || c.Labels.AddedBy != "alice" {
		t.Errorf("from file: got %+v", c.Labels)
	}
	t.Setenv("TRACER_LABELS_CATEGORIES", "ransomware, scam ,")
	t.Setenv("TRACER_LABELS_OFAC_CONFIDENCE", "95")
	if c, err = Load(p); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Labels.Categories, []string{"ransomware", "scam"}) || c.Labels.OFACConfidence != 95 {
		t.Errorf("from the environment: got %+v", c.Labels)
	}
	// The shipped file documents the keys and loads.
	if c, err = Load(shipped); err != nil {
		t.Fatal(err)
	}
	if c.Labels.OFACConfidence != 95 { // the environment still wins
		t.Errorf("shipped file: got %+v", c.Labels)
	}
	t.Setenv("TRACER_LABELS_OFAC_CONFIDENCE", "")
	os.Unsetenv("TRACER_LABELS_OFAC_CONFIDENCE")
	os.Unsetenv("TRACER_LABELS_CATEGORIES")
	if c, err = Load(shipped); err != nil || c.Labels.OFACConfidence != 90 || len(c.Labels.Categories) != 0 {
		t.Errorf("shipped defaults: %v %+v", err, c.Labels)
	}
}

// TestETHIngest: the eth keys become the ingestor's options, and bad
// values are refused with the same messages as the flags'.
func TestETHIngest(t *testing.T) {
	e := DefaultETH()
	e.RPC, e.Confirmations, e.Senders, e.Traces = "http://node:8545", "finalized", "node", true
	opt, err := e.Ingest()
	if err != nil || opt.RPC.URL != e.RPC || !opt.RPC.Traces || !opt.Finalized || opt.Confirmations != 1 || !opt.NodeSenders || opt.HashDepth != e.HashDepth {
		t.Errorf("got %+v, %v", opt, err)
	}
	e.Confirmations = "12"
	if opt, err = e.Ingest(); err != nil || opt.Finalized || opt.Confirmations != 12 {
		t.Errorf("12 confirmations: got %+v, %v", opt, err)
	}
	for _, tc := range []struct{ name, conf, senders, want string }{
		{"zero confirmations", "0", "recover", `--confirmations "0"`},
		{"word confirmations", "many", "recover", `--confirmations "many"`},
		{"senders", "1", "trust", `eth senders "trust"`},
	} {
		e.Confirmations, e.Senders = tc.conf, tc.senders
		if _, err := e.Ingest(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %s", tc.name, err, tc.want)
		}
	}
}

// TestAlerter: no rule is no alerter; a rule's label categories must be
// known (built in or labels.categories), and the rule is named when not.
func TestAlerter(t *testing.T) {
	same := func(_, s string) (string, error) { return s, nil }
	c := Default()
	if cfg, err := c.Alerter(same); cfg != nil || err != nil {
		t.Fatalf("no rules: got %+v, %v, want nil, nil", cfg, err)
	}
	c.Alerts.Rules = []alert.RuleConfig{{Name: "brokers", Watch: alert.WatchList{Categories: []string{"gambling"}}}}
	if _, err := c.Alerter(same); err == nil || !strings.Contains(err.Error(), `alert rule "brokers": watch.categories`) {
		t.Errorf("unknown category: got %v, want an error naming the rule and watch.categories", err)
	}
	c.Labels.Categories = []string{"gambling"}
	cfg, err := c.Alerter(same)
	if err != nil || cfg == nil || len(cfg.Rules) != 1 || cfg.Confirmations != 2 {
		t.Errorf("configured category: got %+v, %v", cfg, err)
	}
}
