package trace

import "slices"

// Forest is a union-find over compact address ids 0..Len()-1, in flat
// arrays: 12 bytes per address. parent is the tree, with path halving on
// every find; size counts a root's members (meaningless for non-roots);
// next threads each cluster's members into a ring, so that a cluster's
// members can be listed (to rewrite the smaller side of a merge, or to
// recompute a cluster after a reorg) without an index.
type Forest struct {
	parent []uint32
	size   []uint32
	next   []uint32
}

// Len is the number of ids.
func (f *Forest) Len() int { return len(f.parent) }

// Grow makes ids up to n-1 exist, each new one its own cluster.
func (f *Forest) Grow(n int) {
	if n > cap(f.parent) && n-len(f.parent) > 1 {
		// A bulk grow (a reload, a benchmark) allocates once.
		f.parent = slices.Grow(f.parent, n-len(f.parent))
		f.size = slices.Grow(f.size, n-len(f.size))
		f.next = slices.Grow(f.next, n-len(f.next))
	}
	for i := len(f.parent); i < n; i++ {
		f.parent = append(f.parent, uint32(i))
		f.size = append(f.size, 1)
		f.next = append(f.next, uint32(i))
	}
}

// Find returns the root of x's cluster, halving the path on the way.
func (f *Forest) Find(x uint32) uint32 {
	p := f.parent
	for p[x] != x {
		p[x] = p[p[x]]
		x = p[x]
	}
	return x
}

// Size is the number of members of x's cluster.
func (f *Forest) Size(x uint32) uint32 { return f.size[f.Find(x)] }

// Union joins the clusters of roots ra and rb (both must be roots and
// differ). The larger cluster's root stays root (the lower id on a tie, so
// replays are deterministic); it returns the new root and the absorbed one.
func (f *Forest) Union(ra, rb uint32) (root, absorbed uint32) {
	ra, rb = f.Order(ra, rb)
	f.parent[rb] = ra
	f.size[ra] += f.size[rb]
	// Splice the two rings.
	f.next[ra], f.next[rb] = f.next[rb], f.next[ra]
	return ra, rb
}

// Order returns the roots ra and rb as Union would join them: the one that
// stays root first.
func (f *Forest) Order(ra, rb uint32) (root, absorbed uint32) {
	if f.size[ra] < f.size[rb] || (f.size[ra] == f.size[rb] && rb < ra) {
		return rb, ra
	}
	return ra, rb
}

// Members calls fn for each member of root's cluster until fn returns false.
func (f *Forest) Members(root uint32, fn func(uint32) bool) {
	x := root
	for {
		if !fn(x) {
			return
		}
		x = f.next[x]
		if x == root {
			return
		}
	}
}

// Reset makes each of ids its own cluster again. ids must be whole
// clusters (every member of every cluster they touch).
func (f *Forest) Reset(ids []uint32) {
	for _, x := range ids {
		f.parent[x], f.size[x], f.next[x] = x, 1, x
	}
}
