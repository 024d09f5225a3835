// Package trace follows value through the Bitcoin UTXO graph and through
// Ethereum transfers: from a start set of addresses (given, a cluster's
// members, or every address of a label category) downstream to where the
// money went and upstream to where it came from, hop by hop, under a
// selectable taint model. The account model (Config.Chain eth) is described
// at the end.
//
// # Graph
//
// The nodes are outputs (txid:n). Downstream, a tainted output passes taint
// to the transaction that spends it, and that transaction passes taint to
// its outputs. Upstream, a tainted output passes taint to the inputs of the
// transaction that created it, that is to the earlier outputs they spend.
// The start set's outputs are the seeds, fully tainted: downstream every
// output the start addresses received, upstream every output they
// received too (whose sources are then followed back).
//
// # Hops
//
// A hop is one transaction moving value from one owner to another. When
// the clusterer has run, a transaction that moves value between two
// addresses of the same cluster (or back to the same address) is not a hop:
// the output it creates keeps the hop count of the input that fed it, and
// the path shows the step with the clusterer's evidence for that
// transaction when there is some. An output's hop count is the least over
// the tainted inputs that feed it.
//
// # Models
//
// All amounts are exact satoshi in int64; no float64 touches a value.
// The step rules below (the haircut split and its rounding, the hop count
// and the same-owner rule, the min-value cut-off) are written once, in
// kernel.go, and the exposure index, the all-cluster reports and the
// alerter's exposure rules call them too.
//
//   - poison: an output of a transaction with any tainted input is tainted
//     for its whole value (upstream: every input of a transaction that
//     created a tainted output is tainted for its whole value).
//   - haircut: a transaction's taint T is the sum of its inputs' taint and
//     V the sum of its input values; each output of value v gets
//     floor(v·T/V) (128-bit intermediate, rounded down). The fee takes its
//     proportional share. Rounding loses less than one satoshi per output
//     per hop, so an amount k hops away is at most k satoshi below the
//     exact rational value. Upstream, with T the taint of the transaction's
//     outputs and V its input value, input i of value w gets floor(w·T/V):
//     its share of the tainted outputs, so the shares never add up to more
//     than what the subject received (the fee is nobody's source).
//   - fifo: first-in-first-out per address and per transaction, exact to
//     the satoshi. Every output is a sequence of segments, each clean or
//     tainted (a tainted segment remembers the output it came from). An
//     address is a queue: its received outputs enter it in chain order
//     (block height, position in the block, output index) as their
//     segments; each input that spends from the address, in chain order
//     (block height, position in block, input index), takes as many
//     satoshi from the front of the queue as its value, regardless of
//     which output it names. Within a transaction the inputs' segments are
//     laid end to end in input order and cut into the outputs in output
//     order; what is left over is the fee. Downstream only: upstream fifo
//     returns ErrModel.
//
// # Stops and caps
//
// An output at an address (or cluster) labelled with a stop category is an
// endpoint and is not followed: its taint counts there and nowhere else,
// even when the transaction that spends it also spends followed taint. So is an unspent output, one whose taint
// is below MinValue, a spend outside [Since, Until] and a spend that would
// exceed the hop limit. MaxNodes caps the tainted outputs reached (seeds aside) and
// Timeout the wall time; the result says which cap was hit, and what it
// holds up to then is correct but incomplete.
//
// # Store
//
// Each round is a handful of batched queries (IN lists of at most 2,000
// keys, bound by the client): the address index of the addresses reached,
// the inputs and outputs of the transactions that spend from them, and the
// clusters of the addresses they pay. They read without FINAL, which makes
// ClickHouse 18.16 merge on every read, and drop rows inserted twice by
// their keys instead. Labels are read once per trace, and a Tracer keeps
// them for its next trace while the same label imports are in force (a
// store may hold a million labels: every exchange deposit address).
//
// # Exposure index
//
// Exposure traces from the subject both ways, seconds on a large store.
// BuildExposureIndex instead traces from each label category once per
// direction and stores, per subject (every address and every cluster
// reached), category and direction, the haircut taint direct and
// indirect, in taint_exposure under a build number; taint_exposure_builds
// records each build with the chain tip and the label imports it read.
// ExposureIndex.Exposure is then a keyed read, and reports the build as
// stale once the tip or the label imports have moved. How the index
// counts, and how far it may differ from the per-subject trace, is
// described in index.go.
//
// # Account chains (Ethereum)
//
// With Config.Chain eth the tracer reads eth_address_transfers and traces
// each asset on its own (ETH, and each token contract; Config.Asset picks
// one): one Result per direction and asset, amounts exact in base units
// (wei, token units) as decimal strings (AmountUnits, SeedUnits), never
// floats. A failed transfer and a zero-value transfer (address poisoning)
// move nothing and are never followed; a native transfer's fee leaves its
// sender's ETH even when the call failed. A transfer to oneself moves
// nothing.
//
// An address is a balance per asset. Its history is its transfers in chain
// order: block height, position in the block, then within a transaction
// the native value first, token logs and internal calls by index (the
// store cannot order a log against a call of the same transaction). Taint
// arrives with a transfer at a point of that history, and only transfers
// leaving the address after that point carry it on.
//
// The start of an address's history may be missing from the store (the
// ingest began later, or a token minted the money): an address may send
// more than the store saw it receive. Its opening balance is the least it
// must have held before its first stored row for its balance never to go
// below zero, and that money is clean (downstream: conservative, taint is
// never invented) and of unknown origin (upstream: an "opening" endpoint
// with reason not-stored). Block rewards, which no transfer records, count
// as opening balance too.
//
// Downstream, the start set's addresses are tainted through and through:
// every transfer they send in the time window (to outside the set) is
// tainted for its whole value and is a hop-1 node; SeedUnits is their sum.
// At any other address the models are:
//
//   - haircut: replaying the history with the running balance B (opening
//     included) and taint T, an arrival adds its value to B and its taint
//     to T; a transfer of value v (or a fee) leaving takes floor(v·T/B) of
//     the taint (math/big, rounded down: at most one base unit lost per
//     transfer per hop).
//   - poison: every transfer leaving after the first tainted arrival is
//     tainted for its whole value.
//   - fifo: the address is a queue of received amounts (the opening
//     balance first, clean); a leaving transfer or fee takes its value from
//     the front, tainted and clean runs alike.
//
// Endpoints downstream are the tainted transfers into a stop-category
// address (one each, reason stop:<category>) and, per address, what it did
// not pass on along a followed transfer: still held when the store ends
// (unspent; Value is the address's balance), gone along transfers beyond
// the hop limit (hop-limit), outside the window (time-window) or after a
// cap (truncated). Labelled addresses passed are listed as labelled.
//
// Upstream (haircut and poison; fifo has none) the seeds are the transfers
// the start set received in the window from outside it. The taint of a
// transfer that left an address X is shared among what X held at that
// moment: under haircut in proportion to what is left of each earlier
// arrival (and of the opening balance) after X's earlier outflows took
// their proportional shares (floor per outflow, then floor per source);
// under poison every earlier arrival and the opening balance whole. The
// sources found are the next nodes, followed back from their senders.
//
// A move between two addresses of one cluster is no hop. Ethereum has no
// clusterer yet: plug one in with SetAccountClusters (an AccountClusters
// is asked for the clusters of the addresses a round reaches); without one
// every address is its own owner and cluster:ID starts are refused.
package trace
