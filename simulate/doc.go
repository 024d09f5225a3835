// Package simulate generates a synthetic Bitcoin chain with a planted
// fentanyl-precursor money flow and the ground truth to score the tracer
// against, for demos, tests and benchmarks.
//
// The chain is real wire format: valid txids and merkle roots, a witness
// commitment in every coinbase, headers linked by PrevBlock, BIP34 heights,
// and every input spending an output that exists and is still unspent, with
// the values adding up. Scripts are not signed (signatures and keys are
// random bytes of the realistic size); no consumer of the chain validates them.
//
// The traffic is shaped like mainnet: mostly P2WPKH with P2PKH, P2SH,
// P2WSH and P2TR mixed in and a sprinkling of P2PK, bare multisig and
// OP_RETURN outputs; 1-in/2-out payments with change (sometimes back to the
// spending address), consolidations, exchange deposit sweeps and batch
// payouts, peel chains, CoinJoin-like equal-output transactions and address
// reuse. At mainnet density (Config.TxsPerBlock = 2500) a transaction has
// about 2.3 inputs and 2.6 outputs on average.
//
// Planted in that traffic: buyers pay precursor brokers fixed amounts again
// and again; brokers move the proceeds through one to three intermediary hops
// (simple forwards or peels) to their exchange deposit addresses and to cartel
// wallets; cartels top up the buyers. Truth records every entity with all of
// its addresses (the owner of every address on the chain), every planted flow
// with its path of txids, and the CoinJoin and batch payout txids.
//
// Height 0 is genesis-like: its prev hash is zero and its coinbase hands out
// the initial coins to every entity (a premine), which, unlike on a real
// chain, can be spent from height 1 on. All other coinbases pay exactly the
// subsidy plus the fees and mature after 100 blocks.
//
// The generator tracks a bounded working set of unspent outputs: each
// wallet holds at most a fixed number of coins and, when full, forgets its
// smallest one, which then stays unspent on the chain like a lost or
// long-held coin. What grows with the chain is the ownership table behind
// Truth (a few bytes an address).
//
// All randomness comes from Config.Seed through integer arithmetic, so the
// same Config yields byte-identical blocks on every platform.
package simulate
