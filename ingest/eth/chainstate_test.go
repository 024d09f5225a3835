package eth

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tracerproject/tracer/chain"
)

func stateBlock(h int64, parent string) *chain.Block {
	return &chain.Block{Chain: chain.ETH, Height: h, Hash: fmt.Sprintf("0x%064x", h*1000+int64(len(parent))), Parent: parent}
}

func TestChainState(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenChainState(dir, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	// An empty state starts at any height (--from).
	var blocks []*chain.Block
	parent := "0xparent"
	for h := int64(100); h < 105; h++ {
		b := stateBlock(h, parent)
		ev, err := s.Connect(b)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Seq != uint64(h-99) || ev.Kind != chain.KindBlock || ev.Body == nil {
			t.Fatalf("block %d: event %+v", h, ev)
		}
		blocks = append(blocks, b)
		parent = b.Hash
	}
	if _, err := s.Connect(stateBlock(105, "0xwrong")); err == nil {
		t.Error("a block with another parent connected")
	}
	if _, err := s.Connect(stateBlock(107, parent)); err == nil {
		t.Error("a block leaving a gap connected")
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	out, err := s.Outbox()
	if err != nil || len(out) != 5 {
		t.Fatalf("outbox: %d events, %v; want 5", len(out), err)
	}
	if err := s.Published(3); err != nil {
		t.Fatal(err)
	}
	if out, _ = s.Outbox(); len(out) != 2 || out[0].Seq != 4 {
		t.Fatalf("outbox after publishing 3: %d events, first %d", len(out), out[0].Seq)
	}
	// Reopen: the tip and the counter survive.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = OpenChainState(dir, 3, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if h, hash := s.Tip(); h != 104 || hash != blocks[4].Hash {
		t.Fatalf("tip after reopening: %d %s", h, hash)
	}
	// Undo newest first, within the kept hashes (3).
	for want := int64(104); want >= 102; want-- {
		ev, err := s.Disconnect()
		if err != nil {
			t.Fatalf("disconnect %d: %v", want, err)
		}
		if ev.Height != want || ev.Kind != chain.KindUndo || ev.Hash != blocks[want-100].Hash {
			t.Fatalf("undo: got %d %s, want %d", ev.Height, ev.Hash, want)
		}
	}
	if _, err := s.Disconnect(); !errors.Is(err, ErrReorgTooDeep) {
		t.Errorf("disconnecting below the kept hashes: got %v, want ErrReorgTooDeep", err)
	}
	if h, _ := s.Tip(); h != 101 {
		t.Errorf("tip %d, want 101", h)
	}
}

// The first block connected can be undone: the state is empty again.
func TestChainStateUndoRoot(t *testing.T) {
	s, err := OpenChainState(t.TempDir(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Connect(stateBlock(50, "0xp")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Disconnect(); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.Tip(); h != -1 {
		t.Fatalf("tip %d, want -1 (empty)", h)
	}
	if _, err := s.Connect(stateBlock(50, "0xother")); err != nil {
		t.Fatalf("connecting another block 50 to the emptied state: %v", err)
	}
}
