package cluster

import (
	"fmt"
	"os"
	"testing"
)

// TestAddrMapReload: every address keeps its id across a restart, whether
// the map comes from its file (with ids given out after it was saved read
// back from the index), is rebuilt because the file is missing, or
// because the file is damaged.
func TestAddrMapReload(t *testing.T) {
	dir := t.TempDir()
	s := openState(t, dir, 0)
	addr := func(i int) string { return fmt.Sprintf("bc1qtest%034d", i) }
	const saved, total = 150_000, 200_000 // past several doublings of the map
	want := make(map[string]uint32, total)
	for i := range total {
		if i == saved {
			if err := s.Snapshot(); err != nil {
				t.Fatal(err)
			}
		}
		id, err := s.ID(addr(i))
		if err != nil {
			t.Fatal(err)
		}
		want[addr(i)] = id
		if again, _ := s.ID(addr(i)); again != id {
			t.Fatalf("ID(%s) twice: got %d, then %d", addr(i), id, again)
		}
	}
	if s.Addresses() != total {
		t.Fatalf("got %d ids for %d addresses", s.Addresses(), total)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check := func(name string) {
		t.Helper()
		s := openState(t, dir, 0)
		defer s.Close()
		if s.Addresses() != total || s.m.n != total {
			t.Fatalf("%s: %d ids, %d in the map; want %d", name, s.Addresses(), s.m.n, total)
		}
		for a, id := range want {
			got, ok, err := s.LookupID(a)
			if err != nil || !ok || got != id {
				t.Fatalf("%s: LookupID(%s) = %d, %v, %v; want %d", name, a, got, ok, err, id)
			}
			if back, err := s.Address(id); err != nil || back != a {
				t.Fatalf("%s: Address(%d) = %q, %v; want %s", name, id, back, err, a)
			}
		}
		if _, ok, _ := s.LookupID("bc1qnever-seen"); ok {
			t.Fatalf("%s: an address never seen has an id", name)
		}
		if _, err := s.ID(""); err == nil {
			t.Fatalf("%s: the empty address got an id", name)
		}
	}
	check("map file of 150,000 ids and 50,000 from the index")

	raw, err := os.ReadFile(s.addrMapPath())
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 0x40
	if err := os.WriteFile(s.addrMapPath(), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	check("damaged map file")

	if err := os.Remove(s.addrMapPath()); err != nil {
		t.Fatal(err)
	}
	check("no map file")
}

// TestAddrMapFileChecks: readAddrMap refuses files that would map an
// address to a wrong id.
func TestAddrMapFileChecks(t *testing.T) {
	dir := t.TempDir()
	s := openState(t, dir, 0)
	for i := range 10 {
		if _, err := s.ID(fmt.Sprint("a", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	good, err := os.ReadFile(s.addrMapPath())
	if err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func([]byte) []byte{
		"bad magic":        func(b []byte) []byte { b[0] = 'X'; return b },
		"truncated":        func(b []byte) []byte { return b[:len(b)-5] },
		"flipped slot bit": func(b []byte) []byte { b[24+3] ^= 1; return b },
		"more ids than the index": func(b []byte) []byte {
			b[8] = 200
			return b
		},
	} {
		b := mutate(append([]byte(nil), good...))
		if err := os.WriteFile(s.addrMapPath(), b, 0o644); err != nil {
			t.Fatal(err)
		}
		st := &State{dir: dir, nextID: 10}
		if err := st.readAddrMap(); err == nil {
			t.Errorf("%s: the file was accepted", name)
		}
	}
}
