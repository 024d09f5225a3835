package cluster

// IDSet is a set of address ids: the ids in the order they were first
// added and a bitmap over the id space for membership. Adding is a bit
// test (an eighth of a byte an id: 12.5 MB for 100 million ids) instead
// of a hash map's probe, and emptying clears only the words it set.
type IDSet struct {
	ids  []uint32
	bits []uint64
}

// Add puts id in the set.
func (s *IDSet) Add(id uint32) {
	w := int(id >> 6)
	if w >= len(s.bits) {
		s.bits = append(s.bits, make([]uint64, w+1-len(s.bits)+len(s.bits)/4)...)
	}
	m := uint64(1) << (id & 63)
	if s.bits[w]&m != 0 {
		return
	}
	s.bits[w] |= m
	s.ids = append(s.ids, id)
}

// Has reports whether id is in the set.
func (s *IDSet) Has(id uint32) bool {
	w := int(id >> 6)
	return w < len(s.bits) && s.bits[w]&(uint64(1)<<(id&63)) != 0
}

// Len is the number of ids in the set.
func (s *IDSet) Len() int { return len(s.ids) }

// IDs are the ids in the order they were first added; the slice is the
// set's own until the set changes.
func (s *IDSet) IDs() []uint32 { return s.ids }

// Reset empties the set, keeping its memory.
func (s *IDSet) Reset() {
	if 64*len(s.ids) > len(s.bits) {
		clear(s.bits)
	} else {
		for _, id := range s.ids {
			s.bits[id>>6] = 0
		}
	}
	s.ids = s.ids[:0]
}
