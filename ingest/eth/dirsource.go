package eth

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// DirSource reads blocks saved as files: DIR/blocks/<height>.json, each
// holding {"block": eth_getBlockByNumber result (full transactions),
// "receipts": eth_getBlockReceipts result, optionally "traces"}, as
// `tracer simulate eth` writes them. A chain id may be in DIR/chainid.
// The files get the same checks as a node's replies.
type DirSource struct {
	dir   string
	files map[int64]string
	best  int64
}

var _ Source = (*DirSource)(nil)

// OpenDir indexes the directory's block files.
func OpenDir(dir string) (*DirSource, error) {
	entries, err := os.ReadDir(filepath.Join(dir, "blocks"))
	if err != nil {
		return nil, fmt.Errorf("eth: blocks directory: %w", err)
	}
	d := &DirSource{dir: dir, files: map[int64]string{}, best: -1}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		h, err := strconv.ParseInt(name, 10, 64)
		if err != nil || h < 0 {
			continue
		}
		d.files[h] = filepath.Join(dir, "blocks", e.Name())
		d.best = max(d.best, h)
	}
	if len(d.files) == 0 {
		return nil, fmt.Errorf("eth: no <height>.json block files in %s/blocks", dir)
	}
	heights := make([]int64, 0, len(d.files))
	for h := range d.files {
		heights = append(heights, h)
	}
	sort.Slice(heights, func(i, j int) bool { return heights[i] < heights[j] })
	for i := 1; i < len(heights); i++ {
		if heights[i] != heights[i-1]+1 {
			return nil, fmt.Errorf("eth: %s/blocks lacks height %d", dir, heights[i-1]+1)
		}
	}
	return d, nil
}

// ChainID is the content of DIR/chainid, "unknown" without it.
func (d *DirSource) ChainID(context.Context) (string, error) {
	b, err := os.ReadFile(filepath.Join(d.dir, "chainid"))
	if err != nil {
		return "unknown", nil
	}
	return strings.TrimSpace(string(b)), nil
}

// RootHeight is the lowest height in the directory.
func (d *DirSource) RootHeight() int64 {
	r := d.best
	for h := range d.files {
		r = min(r, h)
	}
	return r
}

// BestHeight is the highest block in the directory.
func (d *DirSource) BestHeight(context.Context) (int64, error) { return d.best, nil }

// Finalized is the highest block: saved blocks do not change.
func (d *DirSource) Finalized(context.Context) (int64, error) { return d.best, nil }

// BlockHash reads the block's hash from its file.
func (d *DirSource) BlockHash(ctx context.Context, height int64) (string, error) {
	raw, err := d.Block(ctx, height)
	if err != nil {
		return "", err
	}
	var b struct {
		Hash string `json:"hash"`
	}
	if err := json.Unmarshal(raw.Block, &b); err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrBadBlock, d.files[height], err)
	}
	return strings.ToLower(b.Hash), nil
}

// Block reads the block file at height.
func (d *DirSource) Block(_ context.Context, height int64) (RawBlock, error) {
	p, ok := d.files[height]
	if !ok {
		return RawBlock{}, fmt.Errorf("%w at height %d in %s", ErrNoBlock, height, d.dir)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return RawBlock{}, fmt.Errorf("eth: %w", err)
	}
	raw, err := splitBlockFile(data)
	if err != nil || raw.Block == nil || raw.Receipts == nil {
		return RawBlock{}, fmt.Errorf("%w: %s: want {\"block\": …, \"receipts\": …}", ErrBadBlock, p)
	}
	return raw, nil
}

// splitBlockFile finds the members of a saved block file without copying
// them (the file is a few MB and Decode reads each part once). A null
// member is the text null, as encoding/json gives a json.RawMessage.
func splitBlockFile(data []byte) (RawBlock, error) {
	var raw RawBlock
	s := &scanner{b: data}
	var f seen
	err := s.object(func(key []byte) error {
		var dst *json.RawMessage
		var bit uint
		switch string(key) {
		case "block":
			dst, bit = &raw.Block, 0
		case "receipts":
			dst, bit = &raw.Receipts, 1
		case "traces":
			dst, bit = &raw.Traces, 2
		default:
			return s.skip()
		}
		if err := f.once(bit, key); err != nil {
			return err
		}
		v, err := s.raw()
		*dst = v
		return err
	})
	if err == nil {
		err = s.end()
	}
	return raw, err
}
