package stream

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/stream/payload"
)

// Format and Encoding are those of the payloads this build writes (see the
// package documentation). Readers also accept tracer.event.v1 (json+s2).
const (
	Format   = payload.V2
	Encoding = payload.EncodingV2
)

// Header names.
const (
	HdrFormat   = "Tracer-Format"
	HdrEncoding = "Tracer-Encoding"
	HdrSeq      = "Tracer-Seq"
	HdrKind     = "Tracer-Kind"
	HdrHeight   = "Tracer-Height"
	HdrHash     = "Tracer-Hash"
	HdrPart     = "Tracer-Part"
)

// headroom is kept free in every message for headers and protocol framing.
const headroom = 4 << 10

// StreamName is the JetStream stream holding a chain's events.
func StreamName(chain string) string { return "CHAIN_" + strings.ToUpper(chain) }

// Subject is the subject of a chain's events of one kind.
func Subject(chain string, kind chain.EventKind) string {
	return "chain." + chain + "." + string(kind)
}

// MsgID is the JetStream de-duplication id of one part of an event.
func MsgID(ev *chain.Event, part int) string {
	return fmt.Sprintf("%s:%d:%s:%d:%s:%d", ev.Chain, ev.Seq, ev.Kind, ev.Height, ev.Hash, part)
}

// Encode turns an encoded event into the messages that carry it, each at
// most maxPayload bytes including headers.
func Encode(m *payload.Message, maxPayload int) ([]*nats.Msg, error) {
	ev := m.Event
	if ev.Kind != chain.KindBlock && ev.Kind != chain.KindUndo {
		return nil, fmt.Errorf("stream: unknown event kind %q", ev.Kind)
	}
	body := m.Body
	// A payload from an older build's outbox goes out in its own format.
	format := payload.FormatOf(body)
	encoding := payload.EncodingOf(format)
	chunk := maxPayload - headroom
	if chunk < 1024 {
		return nil, fmt.Errorf("stream: max payload %d is too small", maxPayload)
	}
	n := (len(body) + chunk - 1) / chunk
	if n == 0 {
		n = 1
	}
	msgs := make([]*nats.Msg, 0, n)
	for i := 0; i < n; i++ {
		end := min((i+1)*chunk, len(body))
		m := nats.NewMsg(Subject(ev.Chain, ev.Kind))
		m.Data = body[i*chunk : end]
		m.Header.Set(nats.MsgIdHdr, MsgID(ev, i+1))
		m.Header.Set(HdrFormat, format)
		m.Header.Set(HdrEncoding, encoding)
		m.Header.Set(HdrSeq, strconv.FormatUint(ev.Seq, 10))
		m.Header.Set(HdrKind, string(ev.Kind))
		m.Header.Set(HdrHeight, strconv.FormatInt(ev.Height, 10))
		m.Header.Set(HdrHash, ev.Hash)
		m.Header.Set(HdrPart, strconv.Itoa(i+1)+"/"+strconv.Itoa(n))
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// partInfo is what a reader needs from a message's headers.
type partInfo struct {
	seq    uint64
	hash   string
	part   int
	parts  int
	format string
}

var errNotEvent = errors.New("stream: not a tracer event message")

func parseHeaders(h nats.Header) (partInfo, error) {
	var pi partInfo
	if h == nil || h.Get(HdrFormat) == "" {
		return pi, errNotEvent
	}
	f := h.Get(HdrFormat)
	want := payload.EncodingOf(f)
	if want == "" {
		return pi, fmt.Errorf("stream: unsupported payload format %q (this build reads %s and %s)", f, payload.V1, payload.V2)
	}
	if e := h.Get(HdrEncoding); e != want {
		return pi, fmt.Errorf("stream: payload format %s with encoding %q, want %q", f, e, want)
	}
	seq, err := strconv.ParseUint(h.Get(HdrSeq), 10, 64)
	if err != nil {
		return pi, fmt.Errorf("stream: bad %s header %q", HdrSeq, h.Get(HdrSeq))
	}
	a, b, ok := strings.Cut(h.Get(HdrPart), "/")
	part, err1 := strconv.Atoi(a)
	parts, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || part < 1 || parts < part || parts > 1<<16 {
		return pi, fmt.Errorf("stream: bad %s header %q", HdrPart, h.Get(HdrPart))
	}
	return partInfo{seq: seq, hash: h.Get(HdrHash), part: part, parts: parts, format: f}, nil
}

// Decode reassembles an event from the bodies of its parts, in order, and
// returns it with the payload format it was in.
func Decode(bodies [][]byte) (*chain.Event, string, error) {
	if len(bodies) == 0 {
		return nil, "", errors.New("stream: decoding an event of no parts")
	}
	body := bodies[0]
	if len(bodies) > 1 {
		var size int
		for _, b := range bodies {
			size += len(b)
		}
		body = make([]byte, 0, size)
		for _, b := range bodies {
			body = append(body, b...)
		}
	}
	ev, format, err := payload.Decode(body)
	if err != nil {
		return nil, "", fmt.Errorf("stream: %w", err)
	}
	if ev.Kind == chain.KindBlock && ev.Block == nil {
		return nil, "", fmt.Errorf("stream: block event %d at height %d has no block", ev.Seq, ev.Height)
	}
	return ev, format, nil
}
