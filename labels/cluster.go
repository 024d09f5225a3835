package labels

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tracerproject/tracer/chain"
)

// ClusterFinder names the cluster an address is in; ok is false for an
// address that no heuristic has linked to another. trace.Clusters provides
// it (through a small adapter, since trace builds on labels and not the
// other way round).
type ClusterFinder interface {
	ClusterOf(ctx context.Context, address string) (id uint32, ok bool, err error)
}

// ClusterLabel is a label that reaches an address through its cluster:
// a label on cluster:ID, or a label of another member whose source says it
// applies to the whole cluster (TagPack is_cluster_definer).
type ClusterLabel struct {
	Label   Label  `json:"label"`
	Cluster uint32 `json:"cluster"`
	// Via is the member address the label is on ("" for a cluster:ID label).
	Via string `json:"via,omitempty"`
}

// ThroughCluster adds to sh the labels in force at sh.AsOf that reach its
// address through the address's cluster (Bitcoin only: the clusterer
// clusters Bitcoin). The cluster is today's: cluster ids follow the
// clusterer's merges, so a label on cluster:ID names the cluster that id
// had when it was given.
func (s *Store) ThroughCluster(ctx context.Context, sh *Show, cf ClusterFinder) error {
	if sh.Chain != chain.BTC {
		return nil
	}
	id, ok, err := cf.ClusterOf(ctx, sh.Subject)
	if err != nil {
		return fmt.Errorf("labels: cluster of %s: %w", sh.Subject, err)
	}
	if !ok {
		return nil
	}
	sh.Cluster = id
	list, err := s.List(ctx, Filter{Chain: chain.BTC, AsOf: sh.AsOf})
	if err != nil {
		return err
	}
	cl := strconv.FormatUint(uint64(id), 10)
	seen := map[string]uint32{sh.Subject: id}
	for _, l := range list {
		switch {
		case l.Cluster == cl:
			sh.ViaCluster = append(sh.ViaCluster, ClusterLabel{Label: l, Cluster: id})
		case l.ApplyToCluster && l.Address != "" && l.Address != sh.Subject:
			other, known := seen[l.Address]
			if !known {
				c, ok, err := cf.ClusterOf(ctx, l.Address)
				if err != nil {
					return fmt.Errorf("labels: cluster of %s: %w", l.Address, err)
				}
				if !ok {
					c = ^uint32(0)
				}
				seen[l.Address], other = c, c
			}
			if other == id {
				sh.ViaCluster = append(sh.ViaCluster, ClusterLabel{Label: l, Cluster: id, Via: l.Address})
			}
		}
	}
	return nil
}

// ShowWithCluster is Show plus the labels that reach the address through
// its cluster (cf may be nil: no clusters). An address with no label of
// its own but one through its cluster is found.
func (s *Store) ShowWithCluster(ctx context.Context, subject string, asOf time.Time, cf ClusterFinder) (*Show, error) {
	sh, err := s.Show(ctx, subject, asOf)
	if cf == nil {
		return sh, err
	}
	if errors.Is(err, ErrNotFound) {
		chain, canon, isCluster, perr := ParseSubject(subject)
		if perr != nil || isCluster {
			return nil, err
		}
		if asOf.IsZero() {
			asOf = s.now()
		}
		sh = &Show{Chain: chain, Subject: canon, AsOf: asOf}
	} else if err != nil {
		return nil, err
	}
	if err := s.ThroughCluster(ctx, sh, cf); err != nil {
		return nil, err
	}
	if len(sh.Labels) == 0 && len(sh.History) == 0 && len(sh.ViaCluster) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, subject)
	}
	return sh, nil
}
