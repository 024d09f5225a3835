package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/cluster"
)

// clusters opens the cluster reader of a chain (btc or eth).
func (s *Service) clusters(chainName string) (*cluster.Clusters, error) {
	if chainName == "" || chainName == chain.BTC {
		return s.btc, nil
	}
	c, err := cluster.NewChainClusters(s.st.Conn(), chainName)
	if err != nil {
		return nil, invalid(err)
	}
	return c, nil
}

// ClusterChain is the chain of cluster arguments: chainName when given
// (btc or eth), else Ethereum when any argument is 0x…, else Bitcoin.
func ClusterChain(chainName string, args ...string) (string, error) {
	switch chainName {
	case chain.BTC, chain.ETH:
		return chainName, nil
	case "":
		for _, a := range args {
			if ChainOf("", a) == chain.ETH {
				return chain.ETH, nil
			}
		}
		return chain.BTC, nil
	}
	return "", invalidf("--chain %q: want btc or eth", chainName)
}

// ClusterRequest asks for a cluster by id or by one of its addresses.
type ClusterRequest struct {
	// Subject: a cluster id (a number) or an address.
	Subject string
	// Chain: btc or eth; empty: told by the subject (ClusterChain).
	Chain string
	// Offset and Limit page the members (in address order).
	Offset, Limit int
	// Growth: the first merges to list, oldest first (0: none).
	Growth int
}

// ClusterLabel is a label carried by members of a cluster.
type ClusterLabel struct {
	Category string `json:"category"`
	Entity   string `json:"entity"`
	Source   string `json:"source"`
	Members  int    `json:"members"`
}

// Cluster is a cluster's summary, the labels of its members, a page of
// its members and how it grew. An address that no heuristic linked to
// another is in no cluster: Cluster.ID is 0 and Address names it.
type Cluster struct {
	Chain string
	cluster.Cluster
	Labels  []ClusterLabel
	Offset  int
	Members []string
	Growth  []cluster.Edge
	// Address: the address asked about, when it is in no cluster.
	Address string
}

// Clustered reports whether the subject is in a cluster.
func (c *Cluster) Clustered() bool { return c.Address == "" }

func (c Cluster) MarshalJSON() ([]byte, error) {
	if !c.Clustered() {
		return json.Marshal(map[string]any{"address": c.Address, "cluster": nil, "size": 1})
	}
	return json.Marshal(struct {
		cluster.Cluster
		Labels  []ClusterLabel `json:"labels"`
		Offset  int            `json:"offset"`
		Members []string       `json:"members"`
		Growth  []cluster.Edge `json:"growth"`
	}{c.Cluster, c.Labels, c.Offset, c.Members, c.Growth})
}

// maxLabelMembers bounds the members whose labels a cluster's summary
// reads: past it (an exchange's cluster) the labels are of the first
// members only.
const maxLabelMembers = 100_000

// Cluster returns a cluster's size, labels, members (paged) and growth.
func (s *Service) Cluster(ctx context.Context, r ClusterRequest) (*Cluster, error) {
	if r.Offset < 0 || r.Limit < 0 || r.Growth < 0 {
		return nil, invalidf("--offset, --limit and --growth must not be negative")
	}
	chainName, err := ClusterChain(r.Chain, r.Subject)
	if err != nil {
		return nil, err
	}
	c, err := s.clusters(chainName)
	if err != nil {
		return nil, err
	}
	id, addr, err := clusterID(ctx, c, r.Subject)
	if errors.Is(err, cluster.ErrNotClustered) {
		return &Cluster{Chain: chainName, Address: addr}, nil
	}
	if err != nil {
		return nil, err
	}
	out := &Cluster{Chain: chainName, Offset: r.Offset}
	if out.Cluster, err = c.Cluster(ctx, id); err != nil {
		if errors.Is(err, cluster.ErrNoCluster) {
			return nil, &Error{Kind: ErrNotFound, Msg: err.Error(), Err: err}
		}
		return nil, err
	}
	if out.Members, err = c.Members(ctx, id, r.Offset, r.Limit); err != nil {
		return nil, err
	}
	if r.Growth > 0 {
		if out.Growth, err = c.Growth(ctx, id, r.Growth); err != nil {
			return nil, err
		}
	}
	if out.Labels, err = s.memberLabels(ctx, c, id); err != nil {
		return nil, err
	}
	return out, nil
}

// memberLabels sums the labels in force on a cluster's members.
func (s *Service) memberLabels(ctx context.Context, c *cluster.Clusters, id uint32) ([]ClusterLabel, error) {
	members, err := c.Members(ctx, id, 0, maxLabelMembers)
	if err != nil {
		return nil, err
	}
	byAddr, err := s.ls.Lookup(ctx, c.Chain(), members, time.Time{})
	if err != nil {
		return nil, err
	}
	count := map[ClusterLabel]int{}
	for _, list := range byAddr {
		for _, l := range list {
			count[ClusterLabel{Category: l.Category, Entity: l.Entity, Source: l.Source}]++
		}
	}
	out := make([]ClusterLabel, 0, len(count))
	for l, n := range count {
		l.Members = n
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Members != out[j].Members {
			return out[i].Members > out[j].Members
		}
		return out[i].Category+out[i].Entity+out[i].Source < out[j].Category+out[j].Entity+out[j].Source
	})
	return out, nil
}

// clusterID reads ADDR|ID: a number is a cluster id, anything else an
// address of the chain (returned in its canonical form).
func clusterID(ctx context.Context, c *cluster.Clusters, arg string) (uint32, string, error) {
	if n, err := strconv.ParseUint(arg, 10, 32); err == nil {
		return uint32(n), "", nil
	}
	addr, err := ClusterAddress(c.Chain(), arg)
	if err != nil {
		return 0, arg, invalidf("%q is neither a cluster id nor an address: %w", arg, err)
	}
	id, err := c.ClusterOf(ctx, addr)
	return id, addr, err
}

// ClusterAddress checks an address of chain and returns it in the form
// the clusterer stores (Ethereum: lower case).
func ClusterAddress(chainName, s string) (string, error) {
	if chainName == chain.ETH {
		return chain.ParseETHAddress(s)
	}
	return s, chain.CheckBTCAddress(s)
}

// ExplainRequest asks why two addresses are in one cluster.
type ExplainRequest struct {
	A, B string
	// Chain: btc or eth; empty: told by the addresses (ClusterChain).
	Chain string
}

// Explanation is the chain of merges that links two addresses, or why
// they are not linked.
type Explanation struct {
	A, B   string
	Linked bool
	// Reason: why they are not linked.
	Reason string
	Path   []cluster.Edge
}

func (e Explanation) MarshalJSON() ([]byte, error) {
	if !e.Linked {
		return json.Marshal(map[string]any{"linked": false, "reason": e.Reason})
	}
	return json.Marshal(map[string]any{"linked": true, "path": e.Path})
}

// Explain returns the transactions that link a and b.
func (s *Service) Explain(ctx context.Context, r ExplainRequest) (*Explanation, error) {
	chainName, err := ClusterChain(r.Chain, r.A, r.B)
	if err != nil {
		return nil, err
	}
	var addrs [2]string
	for i, a := range []string{r.A, r.B} {
		if addrs[i], err = ClusterAddress(chainName, a); err != nil {
			return nil, invalid(err)
		}
	}
	c, err := s.clusters(chainName)
	if err != nil {
		return nil, err
	}
	out := &Explanation{A: addrs[0], B: addrs[1]}
	path, err := c.Explain(ctx, addrs[0], addrs[1])
	if errors.Is(err, cluster.ErrNotLinked) {
		out.Reason = err.Error()
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	out.Linked, out.Path = true, path
	return out, nil
}

// HeldRequest asks for the merges the supercluster guard held.
type HeldRequest struct {
	Chain string
	Limit int
}

// Held returns the merges held for review (never nil).
func (s *Service) Held(ctx context.Context, r HeldRequest) ([]cluster.Edge, error) {
	chainName, err := ClusterChain(r.Chain)
	if err != nil {
		return nil, err
	}
	c, err := s.clusters(chainName)
	if err != nil {
		return nil, err
	}
	edges, err := c.Held(ctx, r.Limit)
	if err != nil {
		return nil, fmt.Errorf("reading held merges: %w", err)
	}
	if edges == nil {
		edges = []cluster.Edge{}
	}
	return edges, nil
}
