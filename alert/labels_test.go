package alert_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tracerproject/tracer/alert"
	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/labels"
)

// labelSource reads the labels store as the pipeline does.
type labelSource struct{ st *labels.Store }

func (l labelSource) Labelled(ctx context.Context, chain string, cats []string) ([]alert.Labelled, error) {
	list, err := l.st.List(ctx, labels.Filter{Categories: cats, Chain: chain})
	var out []alert.Labelled
	for _, lb := range list {
		out = append(out, alert.Labelled{Address: lb.Address, Category: lb.Category, Entity: lb.Entity, Source: lb.Source})
	}
	return out, err
}

// TestAlerterWatchesLabelCategories: a rule that watches the category
// precursor-broker alerts on an address an investigator's label list
// names, and says which label matched, from which source.
func TestAlerterWatchesLabelCategories(t *testing.T) {
	const broker = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"
	e := newEnv(t)
	ctx := context.Background()
	ls, err := labels.NewStore(ctx, e.conn)
	if err != nil {
		t.Fatal(err)
	}
	imp, err := labels.Parse(labels.FormatCSV, []labels.File{{Name: "case-42.csv", Data: []byte(
		"chain,address,entity,category,source,confidence\n" +
			"btc," + broker + ",Broker X,precursor-broker,undercover buy,80\n" +
			"btc,3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy,Exchange Y,exchange,exchange list,90\n")}}, labels.Options{Source: "case-42"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ls.Write(ctx, imp, labels.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	rules, err := alert.Rules([]alert.RuleConfig{{Name: "brokers", Watch: alert.WatchList{Categories: []string{"precursor-broker"}}}}, anyAddress)
	if err != nil {
		t.Fatal(err)
	}
	cfg := alert.DefaultConfig(chain.BTC)
	cfg.Rules, cfg.Confirmations = rules, 1
	if _, err := alert.New(e.conn, e.js, cfg); err == nil || !strings.Contains(err.Error(), "no labels store") {
		t.Errorf("categories without a labels store: got %v", err)
	}
	cfg.Labels = labelSource{ls}
	in := subscribe(t, e.nc)
	stop := run(t, e, cfg)
	defer stop()
	var w world
	b := w.block("",
		w.tx([]io{{"buyer", 9000}}, []io{{broker, 8000}}),
		w.tx([]io{{"buyer", 9000}}, []io{{"3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", 8000}}), // an exchange: not watched
	)
	e.publish(t, blockEv(b))
	in.first(t)
	in.mu.Lock()
	got := in.msgs
	in.mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("alerts: got %d, want 1", len(got))
	}
	a := got[0]
	if a.Address != broker || a.Status != alert.Confirmed || len(a.Matched) != 1 ||
		a.Matched[0] != (alert.Match{List: "labels", Entry: "precursor-broker: Broker X", Source: "case-42"}) {
		t.Errorf("alert: %+v, matched %+v", a, a.Matched)
	}
}
