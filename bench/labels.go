package bench

import (
	"bytes"
	"context"
	"fmt"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/labels"
	"github.com/tracerproject/tracer/simulate"
)

// truthLabel is a labelled address of a simulator's truth. Its JSON form is
// kept in a trace benchmark's bench.json.
type truthLabel struct{ Address, Entity, Kind string }

// truthLabels labels the planted brokers, cartels and exchanges of a
// Bitcoin truth, the addresses that labels accept.
func truthLabels(truth *simulate.Truth) []truthLabel {
	var out []truthLabel
	for _, e := range truth.Entities {
		switch e.Kind {
		case simulate.KindBroker, simulate.KindCartel, simulate.KindExchange:
			for _, ad := range e.Addresses {
				if _, err := labels.CanonicalAddress(chain.BTC, ad); err == nil {
					out = append(out, truthLabel{ad, e.Name, string(e.Kind)})
				}
			}
		}
	}
	return out
}

// labelTruth imports the truth's labels on chainName as an investigator's
// CSV list would be imported.
func labelTruth(ctx context.Context, ls *labels.Store, chainName string, ts []truthLabel) error {
	var csv bytes.Buffer
	csv.WriteString("chain,address,entity,category,source,confidence\n")
	for _, l := range ts {
		fmt.Fprintf(&csv, "%s,%s,%s,%s,truth,100\n", chainName, l.Address, l.Entity, l.Kind)
	}
	imp, err := labels.Parse(labels.FormatCSV, []labels.File{{Name: "truth.csv", Data: csv.Bytes()}}, labels.Options{Source: "truth"})
	if err != nil {
		return err
	}
	_, err = ls.Write(ctx, imp, labels.WriteOptions{})
	return err
}
