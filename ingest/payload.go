package ingest

import (
	"fmt"

	"github.com/klauspost/compress/s2"
	json "github.com/segmentio/encoding/json"
)

// EncodePayload returns the event in the stream's payload format v1
// (tracer.event.v1, json+s2): the event's JSON, compressed as one S2 block.
// The ingestors encode each event once, keep the payload in their outbox
// and publish the same bytes.
func EncodePayload(ev *Event) ([]byte, error) {
	raw, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encoding %s event %d: %w", ev.Kind, ev.Seq, err)
	}
	return s2.Encode(nil, raw), nil
}

// DecodePayload reads an event in payload format v1. The event's Payload is
// not set.
func DecodePayload(body []byte) (*Event, error) {
	raw, err := s2.Decode(nil, body)
	if err != nil {
		return nil, fmt.Errorf("decompressing event: %w", err)
	}
	var ev Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, fmt.Errorf("decoding event: %w", err)
	}
	return &ev, nil
}
