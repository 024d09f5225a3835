// Package bench measures the pipeline the way `tracer bench` reports it:
// each benchmark generates its own synthetic chain, runs the real
// components on the engine it is given (embedded chDB, or a ClickHouse
// server in a database of the benchmark's own) and measures a baseline in
// the same run, so that its figures are read as ratios that hold from one
// machine to another.
//
//   - Ingest and IngestETH: blocks through decode → NATS JetStream → loader
//     → ClickHouse, against the same rows inserted straight into ClickHouse.
//   - Alerts: latency from a block entering the stream to its alerts
//     reaching a NATS subscriber, against a plain message through the same
//     server.
//   - Trace: trace and exposure latency from the planted brokers, against
//     one keyed read of an address's rows.
//   - Report: an exposure report over every cluster, against one scan of
//     the clusters table.
//
// The clusterer's benchmark needs neither NATS nor ClickHouse and lives
// beside it (cluster.Bench); this package gives it the process figures it
// takes (ProcessCPU, PeakRSSMiB, ResetPeakRSS).
//
// Each benchmark takes a Config whose Pipeline is the base configuration
// (loader batches, clusterer, logger); the benchmark sets the data
// directory, the NATS server (embedded, on a random port) and the store
// itself. Results are structs with JSON names, and each has a table for
// people (WriteTable, WriteAlertsTable, WriteTraceTable, WriteClusterTable);
// WorkDir and Cluster are the harness the command runs them in.
package bench
