package ingest

import (
	"fmt"

	"github.com/klauspost/compress/s2"
	json "github.com/segmentio/encoding/json"
)

// Payload formats, told apart by their first byte:
//
//   - PayloadV1, encoding "json+s2": the event's JSON compressed as one S2
//     block (github.com/klauspost/compress/s2, block format). Its first
//     byte starts the uvarint of the JSON's length, never 0x02 for an
//     event.
//   - PayloadV2, encoding "bin": the byte 0x02, then the binary encoding of
//     payloadv2.go, uncompressed: hashes travel as raw bytes, and what S2
//     saves on the rest (a fifth) costs more CPU than it saves in NATS.
//
// Since v2 the ingestors write v2; v1 payloads (an outbox or a stream
// written by an older build) still decode.
const (
	PayloadV1 = "tracer.event.v1"
	PayloadV2 = "tracer.event.v2"

	EncodingV1 = "json+s2"
	EncodingV2 = "bin"
)

// PayloadEncoding is the Tracer-Encoding that goes with a payload format,
// "" for a format this build does not know.
func PayloadEncoding(format string) string {
	switch format {
	case PayloadV1:
		return EncodingV1
	case PayloadV2:
		return EncodingV2
	}
	return ""
}

// PayloadFormatOf is the format of an encoded payload, by its first byte:
// PayloadV2 or else PayloadV1 (DecodePayload checks it really is).
func PayloadFormatOf(body []byte) string {
	if len(body) > 0 && body[0] == payloadV2Tag {
		return PayloadV2
	}
	return PayloadV1
}

// EncodePayload returns the event in the current payload format (PayloadV2)
// and records the format in ev.PayloadFormat. The ingestors encode each
// event once, keep the payload in their outbox and publish the same bytes.
func EncodePayload(ev *Event) ([]byte, error) {
	raw, err := appendEventV2(make([]byte, 0, eventSizeHint(ev)), ev)
	if err != nil {
		return nil, fmt.Errorf("encoding %s event %d: %w", ev.Kind, ev.Seq, err)
	}
	ev.PayloadFormat = PayloadV2
	return raw, nil
}

// EncodePayloadV1 returns the event in payload format v1 (JSON and S2).
func EncodePayloadV1(ev *Event) ([]byte, error) {
	raw, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encoding %s event %d: %w", ev.Kind, ev.Seq, err)
	}
	return s2.Encode(nil, raw), nil
}

// DecodePayload reads an event in any payload format this build knows (v1
// or v2, told apart by their first byte). The event's Payload is not set;
// its PayloadFormat is. The event shares no memory with body.
func DecodePayload(body []byte) (*Event, error) {
	if len(body) == 0 {
		return nil, fmt.Errorf("decoding event: empty payload")
	}
	if body[0] == payloadV2Tag {
		ev, err := decodeEventV2(body[1:])
		if err != nil {
			return nil, fmt.Errorf("decoding event (%s): %w", PayloadV2, err)
		}
		ev.PayloadFormat = PayloadV2
		return ev, nil
	}
	raw, err := s2.Decode(nil, body)
	if err != nil {
		return nil, fmt.Errorf("decoding event: neither %s (first byte 0x02) nor %s: decompressing: %w", PayloadV2, PayloadV1, err)
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, fmt.Errorf("decoding event (%s): not a JSON object", PayloadV1)
	}
	var ev Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, fmt.Errorf("decoding event (%s): %w", PayloadV1, err)
	}
	ev.PayloadFormat = PayloadV1
	return &ev, nil
}
