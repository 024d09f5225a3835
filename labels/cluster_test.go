package labels_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tracerproject/tracer/cluster"
	"github.com/tracerproject/tracer/internal/chserver"
	"github.com/tracerproject/tracer/labels"
	"github.com/tracerproject/tracer/store"
	"github.com/tracerproject/tracer/store/clickhouse"
)

// clusters adapts the real cluster.Clusters, as cmd/tracer does.
type clusters struct{ c *cluster.Clusters }

func (f clusters) ClusterOf(ctx context.Context, a string) (uint32, bool, error) {
	id, err := f.c.ClusterOf(ctx, a)
	if errors.Is(err, cluster.ErrNotClustered) {
		return 0, false, nil
	}
	return id, err == nil, err
}

// TestThroughCluster: a cluster-defining label (TagPack
// is_cluster_definer) on one member reaches the other members of its
// cluster, and a cluster:ID label reaches every member; a label that does
// not define the cluster stays on its address. Clusters are rows the
// clusterer writes (trace_btc_address_cluster), read by cluster.Clusters.
func TestThroughCluster(t *testing.T) {
	ctx := context.Background()
	conn, err := clickhouse.Open(ctx, chserver.TempDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ls, err := labels.NewStore(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	const (
		exchangeHot  = "34xp4vRoCGJym3xR7yCVPFHoCNxv4Twseo"
		exchangeDep  = "3LYJfcfHPXYJreMsASk2jkn69LWEYKzexb"
		brokerAddr   = "1JPfVv5cWRLx1js9NWxg46dG2CGbeRz4th"
		brokerChange = "3M219KR5vEneNb47ewrPfWyb5jQ2DjxRP6"
		loner        = "1Kr6QSydW9bFQG1mXiPNNu6WpJGmUa9i1g"
	)
	// Cluster 7: the exchange's addresses; cluster 9: the broker's.
	err = conn.Insert(ctx, "trace_btc_address_cluster", []store.Column{
		{Name: "address", Values: []string{exchangeHot, exchangeDep, brokerAddr, brokerChange}},
		{Name: "address_id", Values: []uint32{1, 2, 3, 4}},
		{Name: "cluster", Values: []uint32{7, 7, 9, 9}},
		{Name: "block_height", Values: []uint32{100, 100, 100, 100}},
		{Name: "seq", Values: []uint64{1, 1, 1, 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	imp, err := labels.Parse(labels.FormatTagPack, []labels.File{{Name: "ex.yaml", Data: []byte(
		"title: x\ncurrency: BTC\nconfidence: service_data\ncategory: exchange\nlabel: Binance\nis_cluster_definer: true\ntags:\n- address: " + exchangeHot + "\n")}}, labels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ls.Write(ctx, imp, labels.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	imp, err = labels.Parse(labels.FormatCSV, []labels.File{{Name: "b.csv", Data: []byte("chain,address,entity,category,source,confidence\n" +
		"btc," + brokerAddr + ",Broker,precursor-broker,case,80\nbtc,cluster:9,Broker wallet,precursor-broker,case,70\n")}}, labels.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ls.Write(ctx, imp, labels.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	cf := clusters{cluster.NewClusters(conn)}

	sh, err := ls.ShowWithCluster(ctx, exchangeDep, time.Time{}, cf)
	if err != nil {
		t.Fatal(err)
	}
	if sh.Cluster != 7 || len(sh.Labels) != 0 || len(sh.ViaCluster) != 1 || sh.ViaCluster[0].Via != exchangeHot || sh.ViaCluster[0].Label.Entity != "Binance" {
		t.Errorf("exchange deposit address: %+v", sh)
	}
	// The broker's change address gets the cluster:9 label only: the
	// address label (CSV, no apply_to_cluster) stays on its address.
	sh, err = ls.ShowWithCluster(ctx, brokerChange, time.Time{}, cf)
	if err != nil {
		t.Fatal(err)
	}
	if len(sh.ViaCluster) != 1 || sh.ViaCluster[0].Via != "" || sh.ViaCluster[0].Label.Entity != "Broker wallet" {
		t.Errorf("broker change address: %+v", sh.ViaCluster)
	}
	// An address in no cluster and without labels is not found.
	if _, err := ls.ShowWithCluster(ctx, loner, time.Time{}, cf); !errors.Is(err, labels.ErrNotFound) {
		t.Errorf("loner: got %v, want ErrNotFound", err)
	}
}
