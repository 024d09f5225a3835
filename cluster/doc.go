// Package cluster groups addresses by owner: a union-find over the links
// the heuristics find, with every merge recorded with its evidence
// (tracing is in package trace).
//
// The clusterer (Clusterer) is a durable consumer of a chain's stream
// ("clusterer" on CHAIN_BTC, and on CHAIN_ETH for Ethereum). For every
// block it asks the heuristics (package cluster/heuristic) which addresses
// share an owner, and unites their clusters in a union-find over compact
// address ids (Forest: parent, size and a ring of members, 12 bytes an
// address). Bitcoin links come from the multi-input and change heuristics;
// Ethereum links from deposit-address reuse (eth.go), whose payments
// waiting for a sweep are kept in the state.
//
// Address ids come from an in-memory map of address fingerprints
// (addrmap.go); addresses are kept in an append-only address log
// (addrlog.go) and every link in an append-only link log chained per
// address (linklog.go); Pebble keeps the next id, the logs' ends and the
// block records. The forest (with the link chains' heads) and the map are
// saved in snapshots with the stream sequence they cover, and a restart
// resumes from there (State).
//
// Every merge is stored in ClickHouse with its evidence: the transaction,
// the heuristic and its version, the two clusters joined and the two
// addresses (trace_<chain>_merges), together with the clusters themselves
// (trace_<chain>_address_cluster, trace_<chain>_clusters). Clusters reads
// them back: a cluster's members and growth, and Explain, the chain of
// transactions that links two addresses.
//
// A merge of two clusters both above a configured size is held for review
// (trace_<chain>_held) rather than applied: such merges are likely false
// positives (Harrigan and Fretter, 2016). An undo (a reorg) removes the
// block's links and rebuilds the clusters they touched from their remaining
// links, in chain order.
package cluster
