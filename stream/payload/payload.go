// Package payload encodes chain events as the bodies of stream messages and
// decodes them back. It is the one codec of the chain streams: the
// ingestors use it for their outboxes, package stream for what it
// publishes and reads.
package payload

import (
	"fmt"

	"github.com/klauspost/compress/s2"
	json "github.com/segmentio/encoding/json"

	"github.com/tracerproject/tracer/chain"
)

// Payload formats, told apart by their first byte:
//
//   - V1, encoding "json+s2": the event's JSON compressed as one S2
//     block (github.com/klauspost/compress/s2, block format). Its first
//     byte starts the uvarint of the JSON's length, never 0x02 for an
//     event.
//   - V2, encoding "bin": the byte 0x02, then the binary encoding of
//     v2.go, uncompressed: hashes travel as raw bytes, and what S2
//     saves on the rest (a fifth) costs more CPU than it saves in NATS.
//
// The ingestors write v2; v1 payloads (in an outbox or a stream written by
// an older build) still decode.
const (
	V1 = "tracer.event.v1"
	V2 = "tracer.event.v2"

	EncodingV1 = "json+s2"
	EncodingV2 = "bin"
)

// EncodingOf is the Tracer-Encoding that goes with a payload format,
// "" for a format this build does not know.
func EncodingOf(format string) string {
	switch format {
	case V1:
		return EncodingV1
	case V2:
		return EncodingV2
	}
	return ""
}

// FormatOf is the format of an encoded payload, by its first byte:
// V2 or else V1 (Decode checks it really is).
func FormatOf(body []byte) string {
	if len(body) > 0 && body[0] == payloadV2Tag {
		return V2
	}
	return V1
}

// Message is an event with its payload, encoded once: an ingestor keeps
// the payload in its outbox and the publisher sends the same bytes.
type Message struct {
	*chain.Event
	Body []byte // the payload, in the format FormatOf(Body) says
}

// NewMessage encodes ev in the current payload format.
func NewMessage(ev *chain.Event) (*Message, error) {
	body, err := Encode(ev)
	if err != nil {
		return nil, err
	}
	return &Message{Event: ev, Body: body}, nil
}

// Encode returns the event in the current payload format (V2).
func Encode(ev *chain.Event) ([]byte, error) {
	raw, err := appendEventV2(make([]byte, 0, eventSizeHint(ev)), ev)
	if err != nil {
		return nil, fmt.Errorf("encoding %s event %d: %w", ev.Kind, ev.Seq, err)
	}
	return raw, nil
}

// EncodeV1 returns the event in payload format v1 (JSON and S2).
func EncodeV1(ev *chain.Event) ([]byte, error) {
	raw, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encoding %s event %d: %w", ev.Kind, ev.Seq, err)
	}
	return s2.Encode(nil, raw), nil
}

// Decode reads an event in any payload format this build knows (v1
// or v2, told apart by their first byte) and returns it with the format
// it was in. The event shares no memory with body.
func Decode(body []byte) (*chain.Event, string, error) {
	if len(body) == 0 {
		return nil, "", fmt.Errorf("decoding event: empty payload")
	}
	if body[0] == payloadV2Tag {
		ev, err := decodeEventV2(body[1:])
		if err != nil {
			return nil, "", fmt.Errorf("decoding event (%s): %w", V2, err)
		}
		return ev, V2, nil
	}
	raw, err := s2.Decode(nil, body)
	if err != nil {
		return nil, "", fmt.Errorf("decoding event: neither %s (first byte 0x02) nor %s: decompressing: %w", V2, V1, err)
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, "", fmt.Errorf("decoding event (%s): not a JSON object", V1)
	}
	var ev chain.Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, "", fmt.Errorf("decoding event (%s): %w", V1, err)
	}
	return &ev, V1, nil
}
