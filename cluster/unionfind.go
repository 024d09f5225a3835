package cluster

import "unsafe"

// Forest is a union-find over compact address ids 0..Len()-1, in flat
// arrays outside the Go heap (mapped_linux.go): 12 bytes per address. parent is the tree, with path halving on
// every find; size counts a root's members (meaningless for non-roots);
// next threads each cluster's members into a ring, so that a cluster's
// members can be listed (to rewrite the smaller side of a merge, or to
// recompute a cluster after a reorg) without an index.
//
// Three arrays rather than one array of 12-byte nodes: a union of two
// random ids then touches about six cache lines instead of three, which
// caps random unions over ids far beyond the caches (see Bench); unions
// as the chain draws them mostly join recent ids, which stay cached.
type Forest struct {
	parent []uint32
	size   []uint32
	next   []uint32
}

// Len is the number of ids.
func (f *Forest) Len() int { return len(f.parent) }

// Grow makes ids up to n-1 exist, each new one its own cluster.
func (f *Forest) Grow(n int) {
	old := len(f.parent)
	if n <= old {
		return
	}
	if n > cap(f.parent) {
		// Ids arrive one or a few at a time: room for an eighth more, so
		// that copies stay rare and the slack small. A bulk grow (a
		// reload, a benchmark) takes what it asks for.
		extra := n - old
		if extra < 64 {
			extra += n/8 + 16
		}
		f.parent = mappedGrow(f.parent, old+extra)
		f.size = mappedGrow(f.size, old+extra)
		f.next = mappedGrow(f.next, old+extra)
	}
	f.parent, f.size, f.next = f.parent[:n], f.size[:n], f.next[:n]
	for i := old; i < n; i++ {
		f.parent[i], f.size[i], f.next[i] = uint32(i), 1, uint32(i)
	}
}

// free gives the arrays' memory back (mapped_linux.go); the forest is
// empty after.
func (f *Forest) free() {
	mappedFree(f.parent)
	mappedFree(f.size)
	mappedFree(f.next)
	*f = Forest{}
}

// Find returns the root of x's cluster, halving the path on the way. x
// must be below Len (checked once; the walk stays inside the forest
// because every parent is an id of it).
func (f *Forest) Find(x uint32) uint32 {
	_ = f.parent[x]
	p := unsafe.Pointer(unsafe.SliceData(f.parent))
	for {
		px := *(*uint32)(unsafe.Add(p, uintptr(x)*4))
		if px == x {
			return x
		}
		gp := *(*uint32)(unsafe.Add(p, uintptr(px)*4))
		if gp == px {
			return px
		}
		*(*uint32)(unsafe.Add(p, uintptr(x)*4)) = gp
		x = gp
	}
}

// touch reads x's entries (parent, size and ring), so that a Find, Union
// or Members soon after finds them in the cache; the result means
// nothing.
func (f *Forest) touch(x uint32) uint32 {
	return f.parent[x] + f.size[x] + f.next[x]
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
	sa, sb := f.size[ra], f.size[rb]
	if sa < sb || (sa == sb && rb < ra) {
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

// cap is the number of ids the forest has room for.
func (f *Forest) cap() int { return cap(f.parent) }

// bytes is the memory the forest holds.
func (f *Forest) bytes() int { return 4 * (cap(f.parent) + cap(f.size) + cap(f.next)) }
