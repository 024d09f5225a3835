package cluster

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tracerproject/tracer/cluster/heuristic"
)

// TestLinkLogTornTail: bytes written to the link log after the index's last
// commit (a crash mid-write) are cut on reopen, and an undo after the
// restart still rebuilds the clusters of the clean chain.
func TestLinkLogTornTail(t *testing.T) {
	blocks, _ := simChain(t, 30, 100, 11)
	cut := 25
	clean := chainState(t, blocks[:cut])

	dir := t.TempDir()
	s := openState(t, dir, 0)
	seq := apply(t, s, 0, blocksOf(blocks))
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	end := s.llog.end
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, linkLogFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("a torn record that no commit covers")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s = openState(t, dir, 0)
	defer s.Close()
	if fi, err := os.Stat(filepath.Join(dir, linkLogFile)); err != nil || fi.Size() != end {
		t.Fatalf("link log after reopen: %v bytes (%v), want it cut at %d", fi.Size(), err, end)
	}
	apply(t, s, seq, undosOf(blocks[cut:]))
	want := partition(t, clean)
	if len(want) == 0 {
		t.Fatal("the clean chain has no clusters")
	}
	samePartition(t, "undone after a torn link log", partition(t, s), want)
}

// TestLinkLogShorterThanIndex: a log that lost bytes the index says it
// has is refused with an error, not silently used.
func TestLinkLogShorterThanIndex(t *testing.T) {
	blocks, _ := simChain(t, 10, 100, 12)
	dir := t.TempDir()
	s := openState(t, dir, 0)
	apply(t, s, 0, blocksOf(blocks))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, linkLogFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()-10); err != nil {
		t.Fatal(err)
	}
	if s, err := OpenState(dir, s.h, 0, nil); err == nil {
		s.Close()
		t.Fatal("a link log shorter than the index was accepted")
	}
}

// TestMigrateLinks: a state written before the link and address logs
// (links in the index under both ends, addresses as 'a' and 'i' entries, a
// version 1 forest snapshot without heads) is moved to the logs on open,
// keeps its ids, and undoing blocks then gives the clusters of the chain
// that never had them.
func TestMigrateLinks(t *testing.T) {
	blocks, _ := simChain(t, 30, 100, 13)
	cut := 24
	clean := chainState(t, blocks[:cut])

	dir := t.TempDir()
	s := openState(t, dir, 0)
	seq := apply(t, s, 0, blocksOf(blocks))
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	// Rewrite it the old way: every link under both ends in the index...
	links := 0
	for id := range uint32(s.f.Len()) {
		for off := s.head(id); off != 0; {
			r, err := s.llog.read(off)
			if err != nil {
				t.Fatal(err)
			}
			v := encodeLink(&r.link)
			for _, end := range []uint32{r.link.a, r.link.b} {
				if err := s.b.Set(linkKey(end, r.link.seq, r.link.k), v, nil); err != nil {
					t.Fatal(err)
				}
			}
			links++
			off = r.prev
		}
	}
	if links == 0 {
		t.Fatal("the chain drew no links")
	}
	// ... addresses in the index ...
	ids := map[string]uint32{}
	for id := range uint32(s.Addresses()) {
		a, err := s.Address(id)
		if err != nil {
			t.Fatal(err)
		}
		ids[a] = id
		key := binary.BigEndian.AppendUint32([]byte{keyID}, id)
		if err := s.b.Set(key, []byte(a), nil); err != nil {
			t.Fatal(err)
		}
		if err := s.b.Set(append([]byte{keyAddr}, a...), key[1:], nil); err != nil {
			t.Fatal(err)
		}
	}
	// ... no logs and no ends of them ...
	if err := s.b.Delete([]byte{keyLog}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.b.Commit(nil); err != nil {
		t.Fatal(err)
	}
	s.b.Close()
	s.llog.f.Close()
	s.alog.f.Close()
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{linkLogFile, addrLogFile, addrMapFile} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	// ... and a version 1 snapshot: the forest without heads.
	raw, err := os.ReadFile(filepath.Join(dir, snapshotFile))
	if err != nil {
		t.Fatal(err)
	}
	n := int(binary.LittleEndian.Uint32(raw[16:]))
	v1 := append([]byte(snapshotMagicV1), raw[8:20+12*n]...)
	v1 = binary.LittleEndian.AppendUint32(v1, crc32.Checksum(v1, crcTable))
	if err := os.WriteFile(filepath.Join(dir, snapshotFile), v1, 0o644); err != nil {
		t.Fatal(err)
	}

	s = openState(t, dir, 0)
	defer s.Close()
	if s.LastSeq() != seq {
		t.Fatalf("reopened at seq %d, want %d", s.LastSeq(), seq)
	}
	it, err := s.db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		if k := it.Key()[0]; k == keyLink || k == keyID || k == keyAddr {
			t.Fatalf("entry %x left in the index after the move", it.Key())
		}
	}
	it.Close()
	if s.Addresses() != len(ids) {
		t.Fatalf("%d ids after the move, want %d", s.Addresses(), len(ids))
	}
	for a, id := range ids {
		if got, ok, _ := s.LookupID(a); !ok || got != id {
			t.Fatalf("LookupID(%s) after the move: %d, %v; want %d", a, got, ok, id)
		}
		if back, err := s.Address(id); err != nil || back != a {
			t.Fatalf("Address(%d) after the move: %q, %v; want %s", id, back, err, a)
		}
	}
	apply(t, s, seq, undosOf(blocks[cut:]))
	samePartition(t, "undone after moving the links", partition(t, s), partition(t, clean))
}

// TestCrashLosesUnsyncedLogs: the machine crashes after commits that were
// not synced; the index survives them, the logs keep only what was synced.
// Reopening works from the snapshot, and the replay ends where an
// uninterrupted run ends.
func TestCrashLosesUnsyncedLogs(t *testing.T) {
	blocks, _ := simChain(t, 30, 100, 14)
	once := openState(t, t.TempDir(), 0)
	defer once.Close()
	apply(t, once, 0, blocksOf(blocks))

	dir := t.TempDir()
	s := openState(t, dir, 0)
	apply(t, s, 0, blocksOf(blocks[:10]))
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	apply(t, s, 10, blocksOf(blocks[10:])) // committed, never synced
	synced := s.synced
	if uint64(s.llog.end) <= synced[1] || uint64(s.alog.end) <= synced[2] {
		t.Fatalf("the unsynced blocks wrote nothing to the logs (ends %d, %d; synced %d, %d)", s.llog.end, s.alog.end, synced[1], synced[2])
	}
	// The crash: the index's writes survive, the logs' unsynced tails not.
	s.b.Close()
	s.llog.f.Close()
	s.alog.f.Close()
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		name string
		end  uint64
	}{{linkLogFile, synced[1]}, {addrLogFile, synced[2]}} {
		if err := os.Truncate(filepath.Join(dir, f.name), int64(f.end)); err != nil {
			t.Fatal(err)
		}
	}
	s = openState(t, dir, 0)
	defer s.Close()
	if s.LastSeq() != 10 || uint64(s.Addresses()) != synced[0] {
		t.Fatalf("reopened at seq %d with %d ids, want the snapshot's 10 and the synced %d", s.LastSeq(), s.Addresses(), synced[0])
	}
	apply(t, s, 10, blocksOf(blocks[10:]))
	samePartition(t, "replayed after the crash", partition(t, s), partition(t, once))
}

// TestLinkRecordRoundTrip: every kind of link survives the record format:
// txids stored as bytes (plain and 0x hex) and as they are (upper case,
// short), heuristics by id and by name, extra evidence, and sizes whose
// length field takes one, two and three bytes. A record cut short asks
// for more bytes, never decodes.
func TestLinkRecordRoundTrip(t *testing.T) {
	tx := "00ff" + strings.Repeat("9a", 30)
	links := []storedLink{
		{a: 1, b: 2, seq: 3, k: 0, heuristic: heuristic.NameMultiInput, version: 1, txid: tx, height: 7},
		{a: math.MaxUint32, b: 0, seq: math.MaxUint64, k: math.MaxUint32, held: true, heuristic: heuristic.NameChangeOptimal, version: 255, txid: tx, height: math.MaxUint32},
		{a: 5, b: 6, seq: 9, k: 2, heuristic: heuristic.NameDeposit, version: 1, txid: "0x" + tx, height: 18_000_000, extra: "forwarded 0x12 to 0x34 within 3 blocks"},
		{a: 5, b: 6, seq: 9, k: 3, heuristic: "a-heuristic-without-an-id", version: 2, txid: strings.ToUpper(tx), height: 1},
		{a: 5, b: 6, seq: 9, k: 4, heuristic: heuristic.NameMultiInput, version: 1, txid: "ab", height: 1},
		{a: 5, b: 6, seq: 9, k: 5, heuristic: heuristic.NameMultiInput, version: 1, txid: "", height: 1},
		{a: 5, b: 6, seq: 9, k: 6, heuristic: heuristic.NameMultiInput, version: 1, txid: tx, height: 1, extra: strings.Repeat("x", 100)},
		{a: 5, b: 6, seq: 9, k: 7, heuristic: heuristic.NameMultiInput, version: 1, txid: tx, height: 1, extra: strings.Repeat("y", 20000)},
	}
	sizes := map[int]bool{}
	for i, l := range links {
		for _, prev := range []uint64{0, 8, 1 << 40} {
			off := uint64(1<<40 + 100)
			v, err := appendLinkRec([]byte("junk before"), off, prev, &l)
			if err != nil {
				t.Fatal(err)
			}
			rec := v[len("junk before"):]
			_, n := binary.Uvarint(rec[1:])
			sizes[n] = true
			got, used, err := decodeLinkRec(off, append(rec, "and after"...))
			if err != nil || used != len(rec) {
				t.Fatalf("link %d: decoded %d of %d bytes, %v", i, used, len(rec), err)
			}
			if got.link != l || got.prev != prev || got.off != off || got.undone {
				t.Fatalf("link %d, prev %d: got %+v (prev %d), want %+v", i, prev, got.link, got.prev, l)
			}
			for cut := 0; cut < len(rec); cut++ {
				r, want, err := decodeLinkRec(off, rec[:cut])
				if err == nil && want <= cut {
					t.Fatalf("link %d cut at %d of %d bytes decoded as %+v", i, cut, len(rec), r.link)
				}
			}
		}
		if l.txid == tx && l.extra == "" && l.heuristic == heuristic.NameMultiInput {
			v, _ := appendLinkRec(nil, 1000, 900, &l)
			if len(v) > 50 {
				t.Errorf("a multi-input link with a 64-digit txid takes %d bytes, want at most 50", len(v))
			}
		}
	}
	for n := 1; n <= 3; n++ {
		if !sizes[n] {
			t.Errorf("no record had a size field of %d bytes", n)
		}
	}
	if _, err := appendLinkRec(nil, 100, 100, &links[0]); err == nil {
		t.Error("a previous link at the record's own offset was accepted")
	}
}

// TestLinkLogFirstFormat: a state whose link log is in the first format
// (TRCLL001) keeps working after the upgrade: it is read, appended to in
// its own format, and an undo across both sides of the upgrade gives the
// clusters of the chain that never had the undone blocks.
func TestLinkLogFirstFormat(t *testing.T) {
	blocks, _ := simChain(t, 30, 100, 15)
	cut := 20
	clean := chainState(t, blocks[:cut])

	dir := t.TempDir()
	newLinkLogMagic = linkLogMagic1
	s := openState(t, dir, 0)
	newLinkLogMagic = linkLogMagic
	seq := apply(t, s, 0, blocksOf(blocks[:25]))
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openState(t, dir, 0)
	defer s.Close()
	if !s.llog.v1 {
		t.Fatal("the reopened link log is not read as the first format")
	}
	before := s.llog.end
	seq = apply(t, s, seq, blocksOf(blocks[25:]))
	if s.llog.end <= before {
		t.Fatal("the blocks after the upgrade drew no links")
	}
	if err := s.Commit(true); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 8)
	if _, err := s.llog.f.ReadAt(head, 0); err != nil || string(head) != linkLogMagic1 {
		t.Fatalf("log header after the upgrade: %q, %v", head, err)
	}
	// A record appended after the upgrade is in the first format.
	r, err := s.llog.read(uint64(before))
	if err != nil {
		t.Fatal(err)
	}
	if r.link.seq <= 25 {
		t.Fatalf("the first record after the upgrade is of event %d, want one after 25", r.link.seq)
	}
	apply(t, s, seq, undosOf(blocks[cut:]))
	want := partition(t, clean)
	if len(want) == 0 {
		t.Fatal("the clean chain has no clusters")
	}
	samePartition(t, "undone across the upgrade", partition(t, s), want)
}
