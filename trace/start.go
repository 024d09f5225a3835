package trace

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/cluster"
	"github.com/tracerproject/tracer/labels"
)

// ErrNoLabel: no address carries the label category asked for.
var ErrNoLabel = errors.New("trace: no address has the label category")

// maxClusterStart bounds the members a cluster start set reads.
const maxClusterStart = 1_000_000

// ParseStart resolves ADDR, cluster:ID or label:CATEGORY into a start set.
// A label start takes the labelled addresses and, for cluster labels (and
// labels that apply to their cluster), the members of those clusters.
func ParseStart(ctx context.Context, from string, cl *cluster.Clusters, ls *labels.Store, asOf time.Time) (Start, error) {
	switch {
	case from == "":
		return Start{}, fmt.Errorf("%w: no start (want ADDR, cluster:ID or label:CATEGORY)", ErrConfig)
	case strings.HasPrefix(from, "cluster:"):
		s := strings.TrimPrefix(from, "cluster:")
		id, err := strconv.ParseUint(s, 10, 32)
		if err != nil || id == 0 {
			return Start{}, fmt.Errorf("%w: cluster id %q is not a positive integer", ErrConfig, s)
		}
		members, err := clusterMembers(ctx, cl, uint32(id))
		if err != nil {
			return Start{}, err
		}
		return Start{Desc: from, Addresses: members}, nil
	case strings.HasPrefix(from, "label:"):
		cat := strings.TrimPrefix(from, "label:")
		if ls == nil {
			return Start{}, fmt.Errorf("%w: %s: no label store", ErrNoLabel, cat)
		}
		list, err := ls.List(ctx, labels.Filter{Category: cat, Chain: chain.BTC, AsOf: asOf})
		if err != nil {
			return Start{}, fmt.Errorf("trace: labels of category %s: %w", cat, err)
		}
		seen := map[string]bool{}
		var addrs []string
		add := func(a string) {
			if !seen[a] {
				seen[a] = true
				addrs = append(addrs, a)
			}
		}
		for _, l := range list {
			if l.Address != "" {
				add(l.Address)
			}
			var id uint32
			switch {
			case l.Cluster != "":
				v, err := strconv.ParseUint(l.Cluster, 10, 32)
				if err != nil {
					continue
				}
				id = uint32(v)
			case l.ApplyToCluster && cl != nil:
				c, err := cl.ClusterOf(ctx, l.Address)
				if errors.Is(err, cluster.ErrNotClustered) {
					continue
				}
				if err != nil {
					return Start{}, err
				}
				id = c
			}
			if id != 0 && cl != nil {
				members, err := clusterMembers(ctx, cl, id)
				if errors.Is(err, cluster.ErrNoCluster) {
					continue
				}
				if err != nil {
					return Start{}, err
				}
				for _, m := range members {
					add(m)
				}
			}
		}
		if len(addrs) == 0 {
			return Start{}, fmt.Errorf("%w: %s", ErrNoLabel, cat)
		}
		return Start{Desc: from, Addresses: addrs}, nil
	}
	return Start{Desc: from, Addresses: []string{from}}, nil
}

func clusterMembers(ctx context.Context, cl *cluster.Clusters, id uint32) ([]string, error) {
	if cl == nil {
		return nil, fmt.Errorf("%w: %d", cluster.ErrNoCluster, id)
	}
	if _, err := cl.Cluster(ctx, id); err != nil {
		return nil, err
	}
	return cl.Members(ctx, id, 0, maxClusterStart)
}

// ErrNoAccountClusters: cluster starts on an account chain wait for its
// clusterer.
var ErrNoAccountClusters = errors.New("trace: no clusters on this chain yet")

// ParseAccountStart resolves ADDR or label:CATEGORY into a start set on an
// account chain (eth). An address may be in any case; mixed case must pass
// its EIP-55 checksum. cluster:ID is refused until Ethereum has a
// clusterer.
func ParseAccountStart(ctx context.Context, chainName, from string, ls *labels.Store, asOf time.Time) (Start, error) {
	if chainName != chain.ETH {
		return Start{}, fmt.Errorf("%w: chain %q is not an account chain", ErrConfig, chainName)
	}
	switch {
	case from == "":
		return Start{}, fmt.Errorf("%w: no start (want ADDR or label:CATEGORY)", ErrConfig)
	case strings.HasPrefix(from, "cluster:"):
		return Start{}, fmt.Errorf("%w: %s: Ethereum addresses are not clustered yet; start from an address or label:CATEGORY", ErrNoAccountClusters, from)
	case strings.HasPrefix(from, "label:"):
		cat := strings.TrimPrefix(from, "label:")
		if ls == nil {
			return Start{}, fmt.Errorf("%w: %s: no label store", ErrNoLabel, cat)
		}
		list, err := ls.List(ctx, labels.Filter{Category: cat, Chain: chain.ETH, AsOf: asOf})
		if err != nil {
			return Start{}, fmt.Errorf("trace: labels of category %s: %w", cat, err)
		}
		seen := map[string]bool{}
		var addrs []string
		for _, l := range list {
			// A label on a cluster waits for the clusterer, like cluster:ID.
			if l.Address != "" && !seen[l.Address] {
				seen[l.Address] = true
				addrs = append(addrs, l.Address)
			}
		}
		if len(addrs) == 0 {
			return Start{}, fmt.Errorf("%w: %s (chain eth)", ErrNoLabel, cat)
		}
		return Start{Desc: from, Addresses: addrs}, nil
	}
	a, err := chain.ParseETHAddress(from)
	if err != nil {
		return Start{}, fmt.Errorf("%w: --from: %w", ErrConfig, err)
	}
	return Start{Desc: a, Addresses: []string{a}}, nil
}
