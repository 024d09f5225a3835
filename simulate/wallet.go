package simulate

import (
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// coin is an unspent output the generator can spend.
type coin struct {
	op    wire.OutPoint
	value int64
	addr  uint32
}

// wallet is the bounded pool of coins an entity can spend.
type wallet struct {
	coins   []coin
	max     int
	balance int64
}

func newWallet(max int) wallet { return wallet{max: max} }

// add puts c in the pool. A full pool forgets its smallest coin: it stays
// unspent on the chain, like the dust and the long-held coins of mainnet, and
// the generator's working set stays bounded.
func (w *wallet) add(c coin) {
	if len(w.coins) >= w.max {
		small := 0
		for i := range w.coins {
			if w.coins[i].value < w.coins[small].value {
				small = i
			}
		}
		if w.coins[small].value < c.value {
			w.balance += c.value - w.coins[small].value
			w.coins[small] = c
		}
		return
	}
	w.coins = append(w.coins, c)
	w.balance += c.value
}

// remove takes coin i out of the pool.
func (w *wallet) remove(i int) coin {
	c := w.coins[i]
	last := len(w.coins) - 1
	w.coins[i] = w.coins[last]
	w.coins = w.coins[:last]
	w.balance -= c.value
	return c
}

// largest is the index of the largest coin, -1 when the pool is empty.
func (w *wallet) largest() int {
	best := -1
	for i := range w.coins {
		if best < 0 || w.coins[i].value > w.coins[best].value {
			best = i
		}
	}
	return best
}

// Kind is what an entity is.
type Kind string

// Kinds of entities.
const (
	KindBroker       Kind = "precursor-broker"
	KindBuyer        Kind = "buyer"
	KindCartel       Kind = "cartel"
	KindExchange     Kind = "exchange"
	KindIntermediary Kind = "intermediary"
	KindUser         Kind = "user"
	KindMiner        Kind = "miner"
	KindCoordinator  Kind = "coinjoin-coordinator"
)

// entity is anyone who owns addresses.
type entity struct {
	kind  Kind
	ord   int32 // number within its kind, from 1, for the name
	typ   uint8 // wallet script type
	reuse bool  // receives on a few addresses again and again
	nrecv uint8
	recv  [4]uint32 // the receive addresses a reusing entity hands out
	mark  uint64    // CoinJoin round the entity last joined
	w     wallet
}

// exchange is a custodial exchange: a deposit address per customer, swept
// into the hot wallet (the entity's wallet), which pays withdrawals in
// batches.
type exchange struct {
	ent      int
	hot      uint32 // hot wallet address, reused for change as exchanges do
	depType  uint8
	deposits wallet // coins on deposit addresses, waiting for a sweep
}

// broker is a precursor broker.
type broker struct {
	ent    int
	addrs  []uint32 // the addresses buyers pay
	inters []int    // the intermediaries it routes through
	exs    []int    // exchanges where it cashes out
	cartel int      // index into Generator.cartels
}

// buyer pays one broker the same amount again and again.
type buyer struct {
	ent       int
	broker    int    // index into Generator.brokers
	addr      uint32 // the broker address it usually pays
	amount    int64
	cartel    int // index into Generator.cartels: who funds it
	funding   bool
	purchases int
}

// fwdChain is broker money on its way through intermediaries.
type fwdChain struct {
	broker int
	hops   int              // intermediaries to pass before the last payment
	path   []chainhash.Hash // txids so far, the broker's spend first
}

type taskKind uint8

const (
	taskPeel     taskKind = iota // next step of a background peel chain
	taskHop                      // next hop of broker money
	taskPurchase                 // a buyer pays its broker
	taskForward                  // a broker sends its takings to an intermediary
	taskFunding                  // a cartel tops up a buyer
)

// task is a transaction planned for a block: the planted scenario and the
// later steps of chains.
type task struct {
	kind  taskKind
	who   int  // entity, or index into brokers / buyers
	steps int  // peel steps left, or intermediaries passed
	c     coin // the coin in flight (peel, hop)
	chain *fwdChain
}

// taskRing bounds how far ahead tasks are scheduled, in blocks.
const taskRing = 16
