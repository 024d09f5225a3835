package eth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ResultOf extracts a JSON-RPC result from a saved reply in any of the
// forms people keep them: the bare result, a response object
// {"jsonrpc","id","result"}, or a recorded exchange (or an array of them)
// {"request":…,"response":{…}} as in erigon's rpc-tests. An error object
// in the reply is returned as an error.
func ResultOf(data []byte) (json.RawMessage, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, errors.New("empty file")
	}
	if data[0] == '[' {
		var arr []json.RawMessage
		if err := json.Unmarshal(data, &arr); err != nil {
			return nil, fmt.Errorf("not JSON: %w", err)
		}
		// An array of recorded exchanges: take the first.
		if len(arr) > 0 {
			var probe map[string]json.RawMessage
			if json.Unmarshal(arr[0], &probe) == nil {
				if _, ok := probe["response"]; ok {
					return ResultOf(arr[0])
				}
			}
		}
		return data, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if resp, ok := obj["response"]; ok {
		return ResultOf(resp)
	}
	if e, ok := obj["error"]; ok && string(e) != "null" {
		return nil, fmt.Errorf("the saved reply is an error: %s", e)
	}
	if r, ok := obj["result"]; ok {
		return r, nil
	}
	return data, nil
}

// SavedBlock assembles a block's replies saved in files (each already
// passed through ResultOf): block is an eth_getBlockByNumber result with
// full transactions, or an object {"block": …, "receipts": …, "traces": …}
// holding them together; receipts (eth_getBlockReceipts) and traces
// (debug_traceBlockByNumber with the callTracer), when given, take the
// place of what the object holds. Receipts are required: without them no
// token transfer or failure can be known.
func SavedBlock(block, receipts, traces json.RawMessage) (RawBlock, error) {
	raw := RawBlock{Block: block}
	var both struct {
		Block    json.RawMessage `json:"block"`
		Receipts json.RawMessage `json:"receipts"`
		Traces   json.RawMessage `json:"traces"`
	}
	if json.Unmarshal(block, &both) == nil && both.Block != nil {
		raw = RawBlock{Block: both.Block, Receipts: both.Receipts, Traces: both.Traces}
	}
	if receipts != nil {
		raw.Receipts = receipts
	}
	if traces != nil {
		raw.Traces = traces
	}
	if raw.Receipts == nil {
		return RawBlock{}, errors.New(`no receipts: give --receipts FILE (eth_getBlockReceipts), or a FILE holding {"block": …, "receipts": …}`)
	}
	return raw, nil
}
