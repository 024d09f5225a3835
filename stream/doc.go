// Package stream carries the normalized chain events of package ingest over
// NATS JetStream: an embedded nats-server for the single-machine setup, a
// publisher that makes re-publishing idempotent and splits events that do not
// fit in one message, and a reader that reassembles them for durable
// consumers (the loader, later the clusterer and the alerter).
//
// # Streams and subjects
//
// One stream per chain, named CHAIN_<CHAIN> (CHAIN_BTC), holding the
// subjects chain.<chain>.block and chain.<chain>.undo.
//
// # Payload format, version 1
//
// An event (ingest.Event, JSON) is encoded as JSON, compressed with S2
// (github.com/klauspost/compress/s2, block format) and cut into parts of at
// most the server's max payload minus a margin for headers, so a 4 MB block or
// a 1 MB transaction passes whatever the server's limit. Each part is one
// message with these headers:
//
//	Nats-Msg-Id      <chain>:<seq>:<kind>:<height>:<hash>:<part>
//	Tracer-Format    tracer.event.v1
//	Tracer-Encoding  json+s2
//	Tracer-Seq       source event sequence number (decimal)
//	Tracer-Kind      block | undo
//	Tracer-Height    block height
//	Tracer-Hash      block hash
//	Tracer-Part      <i>/<n>, 1-based
//
// The message id holds chain, height and block hash as well as the source's
// event sequence and kind: a block re-published after a crash is a duplicate
// that JetStream drops, while a block connected again after being reorged out
// (a new event) is not mistaken for one. Consumers concatenate the parts of
// one (seq, hash) in order, decompress and decode. Readers reject a
// Tracer-Format they do not know instead of guessing.
package stream
