// Package stream carries the normalized chain events of package chain over
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
// # Payload formats
//
// An event (chain.Event) is encoded once by its ingestor
// (package stream/payload) and cut into parts of at most the server's max
// payload minus a margin for headers, so a 4 MB block or a 1 MB transaction
// passes whatever the server's limit. Version 2 (tracer.event.v2, encoding
// "bin") is a compact binary encoding, written since it exists; version 1
// (tracer.event.v1, "json+s2": JSON compressed as one S2 block) is still
// read, and an event an older build left in its outbox goes out in its own
// format. Each part is one message with these headers:
//
//	Nats-Msg-Id      <chain>:<seq>:<kind>:<height>:<hash>:<part>
//	Tracer-Format    tracer.event.v2 (or tracer.event.v1)
//	Tracer-Encoding  bin (or json+s2)
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
// one (seq, hash) in order and decode (payload.Decode). Readers reject
// a Tracer-Format they do not know, or a payload that is not in the format
// its headers name, instead of guessing.
package stream
