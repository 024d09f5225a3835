package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tracerproject/tracer/cluster/heuristic"
)

// FuzzDecodeLink: a corrupt link entry is an error, never a panic, and a
// good one round-trips.
func FuzzDecodeLink(f *testing.F) {
	l := storedLink{a: 1, b: 2, seq: 3, k: 4, heuristic: heuristic.NameMultiInput, version: 1, txid: "ab", height: 7}
	f.Add(linkKey(1, 3, 4), encodeLink(&l))
	f.Add([]byte{keyLink}, []byte{})
	f.Fuzz(func(t *testing.T, key, v []byte) {
		got, err := decodeLink(key, v)
		if err != nil {
			return
		}
		if again, err := decodeLink(key, encodeLink(&got)); err != nil || again != got {
			t.Fatalf("round trip of %+v: got %+v, %v", got, again, err)
		}
	})
}

// FuzzDecodeLinkRec: a corrupt link log record is an error or a request
// for more bytes, never a panic, and a good one round-trips.
func FuzzDecodeLinkRec(f *testing.F) {
	l := storedLink{a: 1, b: 2, seq: 3, k: 4, heuristic: heuristic.NameMultiInput, version: 1, txid: strings.Repeat("ab", 32), height: 7}
	v, _ := appendLinkRec(nil, 100, 60, &l)
	f.Add(uint64(100), v)
	l.heuristic, l.txid, l.extra = "other", "0xAB", "more"
	v, _ = appendLinkRec(nil, 100, 0, &l)
	f.Add(uint64(100), v)
	f.Add(uint64(8), []byte{})
	f.Fuzz(func(t *testing.T, off uint64, v []byte) {
		got, n, err := decodeLinkRec(off, v)
		if err != nil || n > len(v) {
			return
		}
		if got.prev >= off && got.prev != 0 {
			t.Fatalf("record at %d points to %d", off, got.prev)
		}
		again, err := appendLinkRec(nil, off, got.prev, &got.link)
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", got.link, err)
		}
		back, _, err := decodeLinkRec(off, again)
		if err != nil || back.link != got.link || back.prev != got.prev {
			t.Fatalf("round trip of %+v: got %+v, %v", got.link, back.link, err)
		}
	})
}

// FuzzDecodeBlock: a corrupt block record is an error, never a panic.
func FuzzDecodeBlock(f *testing.F) {
	f.Add(encodeBlock("00ff", 12, [][3]uint32{{1, 2, 0}, {1, 3, 1}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, v []byte) {
		hash, height, links, err := decodeBlock(v)
		if err != nil {
			return
		}
		if h2, ht2, l2, err := decodeBlock(encodeBlock(hash, height, links)); err != nil || h2 != hash || ht2 != height || len(l2) != len(links) {
			t.Fatalf("round trip of %q %d %v: got %q %d %v, %v", hash, height, links, h2, ht2, l2, err)
		}
	})
}

// FuzzSnapshot: a damaged snapshot file is refused with an error, never a
// panic or a forest with ids out of range.
func FuzzSnapshot(f *testing.F) {
	dir := f.TempDir()
	s, err := OpenState(dir, heuristic.DefaultConfig(), 0, nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, a := range []string{"a", "b", "c"} {
		if _, err := s.ID(a); err != nil {
			f.Fatal(err)
		}
	}
	s.f.Union(0, 1)
	if err := s.Snapshot(); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(s.SnapshotPath())
	if err != nil {
		f.Fatal(err)
	}
	s.Close()
	f.Add(good)
	f.Add(good[:20])
	f.Fuzz(func(t *testing.T, raw []byte) {
		d := t.TempDir()
		st := &State{dir: d, nextID: 3}
		if err := os.WriteFile(filepath.Join(d, snapshotFile), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := st.loadSnapshot(); err != nil {
			return
		}
		n := st.f.Len()
		for i := range n {
			if st.f.parent[i] >= uint32(n) || st.f.next[i] >= uint32(n) {
				t.Fatalf("id %d points outside a forest of %d", i, n)
			}
		}
	})
}
