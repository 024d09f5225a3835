// Package trace holds what an investigator asks of the chain beyond single
// addresses. So far: address clustering.
//
// The clusterer (Clusterer) is a durable consumer of a chain's stream
// ("clusterer" on CHAIN_BTC). For every block it asks the heuristics
// (package trace/heuristic) which addresses share an owner, and unites
// their clusters in a union-find over compact address ids (Forest: parent,
// size and a ring of members, 12 bytes an address). Address ids, and every
// link drawn (by address and by block), are kept in Pebble, so memory holds
// only the forest; the forest is saved in snapshots with the stream
// sequence they cover, and a restart resumes from there (State).
//
// Every merge is stored in ClickHouse with its evidence: the transaction,
// the heuristic and its version, the two clusters joined and the two
// addresses (trace_btc_merges), together with the clusters themselves
// (trace_btc_address_cluster, trace_btc_clusters). Clusters reads them back:
// a cluster's members and growth, and Explain, the chain of transactions
// that links two addresses.
//
// A merge of two clusters both above a configured size is held for review
// (trace_btc_held) rather than applied: such merges are likely false
// positives (Harrigan and Fretter, 2016). An undo (a reorg) removes the
// block's links and rebuilds the clusters they touched from their remaining
// links, in chain order.
package trace
