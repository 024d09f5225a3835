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
