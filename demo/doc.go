// Package demo runs `tracer demo`: it simulates a small Bitcoin chain with
// planted precursor brokers, buyers, cartels and exchanges, writes it as a
// Bitcoin Core blocks directory (xor-obfuscated like Core 28+), runs it
// through the real pipeline (blocks dir → ingest → NATS JetStream → loader,
// clusterer and alerter → ClickHouse), does the same for a synthetic
// Ethereum world, labels the planted wallets and writes an exposure report.
// Along the way it prints what an investigator looks at first, next to what
// the simulator's ground truth planted, and the commands to explore further.
//
// Everything lives under Config.Dir, which Run replaces. The services log
// through Config.Pipeline.Logger: the command gives them one at warn level,
// so that the findings are not buried under a line per alert.
package demo
