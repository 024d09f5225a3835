// Package gethtest runs a real go-ethereum node in the test process: the
// same pieces as ethclient/simulated (eth service, simulated beacon that
// seals a block on Commit, Fork for reorgs) plus what that package does not
// offer, a JSON-RPC HTTP endpoint with the debug namespace, so that
// debug_traceBlockByNumber and any HTTP client can be tested against it.
package gethtest

import (
	"context"
	"crypto/ecdsa"
	"maps"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth"
	"github.com/ethereum/go-ethereum/eth/catalyst"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/eth/tracers"
	_ "github.com/ethereum/go-ethereum/eth/tracers/native" // callTracer
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/params"
)

// Node is an in-process geth dev chain (chain id 1337).
type Node struct {
	URL     string // JSON-RPC over HTTP
	WSURL   string // JSON-RPC over WebSocket, when Config.WS
	Client  *ethclient.Client
	ChainID *big.Int
	Keys    []*ecdsa.PrivateKey // funded accounts
	Addrs   []common.Address

	stack  *node.Node
	beacon *catalyst.SimulatedBeacon
	eth    *eth.Ethereum
	nonces map[common.Address]uint64
}

// Config of a test node.
type Config struct {
	Accounts int  // funded accounts (default 3), 1000 ETH each
	Debug    bool // serve the debug namespace (call traces)
	WS       bool // also serve JSON-RPC over WebSocket
}

// Start starts a node; it stops when the test ends.
func Start(t testing.TB, cfg Config) *Node {
	t.Helper()
	if cfg.Accounts <= 0 {
		cfg.Accounts = 3
	}
	n := &Node{ChainID: big.NewInt(1337), nonces: map[common.Address]uint64{}}
	alloc := core.SystemContractAllocs()
	for i := 0; i < cfg.Accounts; i++ {
		k, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		a := crypto.PubkeyToAddress(k.PublicKey)
		n.Keys, n.Addrs = append(n.Keys, k), append(n.Addrs, a)
		alloc[a] = types.Account{Balance: new(big.Int).Mul(big.NewInt(1000), big.NewInt(params.Ether))}
	}
	nodeConf := node.DefaultConfig
	nodeConf.DataDir = ""
	nodeConf.P2P = p2p.Config{NoDiscovery: true, MaxPeers: 0, ListenAddr: ""}
	nodeConf.HTTPHost = "127.0.0.1"
	nodeConf.HTTPPort = 0
	nodeConf.HTTPModules = []string{"eth", "net", "web3"}
	if cfg.Debug {
		nodeConf.HTTPModules = append(nodeConf.HTTPModules, "debug")
	}
	nodeConf.WSHost = ""
	if cfg.WS {
		nodeConf.WSHost, nodeConf.WSPort, nodeConf.WSModules = "127.0.0.1", 0, nodeConf.HTTPModules
	}
	nodeConf.AuthPort = 0
	ethConf := ethconfig.Defaults
	ethConf.Genesis = &core.Genesis{Config: params.AllDevChainProtocolChanges, GasLimit: ethconfig.Defaults.Miner.GasCeil, Alloc: maps.Clone(alloc)}
	ethConf.SyncMode = ethconfig.FullSync
	ethConf.TxPool.NoLocals = true
	stack, err := node.New(&nodeConf)
	if err != nil {
		t.Fatal(err)
	}
	backend, err := eth.New(stack, &ethConf)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Debug {
		stack.RegisterAPIs(tracers.APIs(backend.APIBackend))
	}
	if err := stack.Start(); err != nil {
		t.Fatal(err)
	}
	beacon, err := catalyst.NewSimulatedBeacon(0, common.Address{}, backend)
	if err != nil {
		stack.Close()
		t.Fatal(err)
	}
	if err := beacon.Fork(backend.BlockChain().GetCanonicalHash(0)); err != nil {
		stack.Close()
		t.Fatal(err)
	}
	n.stack, n.beacon, n.eth = stack, beacon, backend
	n.URL = stack.HTTPEndpoint()
	if cfg.WS {
		n.WSURL = stack.WSEndpoint()
	}
	n.Client = ethclient.NewClient(stack.Attach())
	t.Cleanup(func() {
		n.Client.Close()
		_ = beacon.Stop()
		_ = stack.Close()
	})
	return n
}

// Commit seals the pending transactions into a block.
func (n *Node) Commit() common.Hash { return n.beacon.Commit() }

// Fork makes the block with this hash the head; committing then builds a
// side branch that replaces the old one.
func (n *Node) Fork(parent common.Hash) error {
	n.nonces = map[common.Address]uint64{}
	return n.beacon.Fork(parent)
}

// Send signs and submits a transaction from account i. to nil creates a
// contract. gas 0 means 1,000,000.
func (n *Node) Send(t testing.TB, i int, to *common.Address, value *big.Int, data []byte, gas uint64) *types.Transaction {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	from := n.Addrs[i]
	nonce, ok := n.nonces[from]
	if !ok {
		var err error
		if nonce, err = n.Client.PendingNonceAt(ctx, from); err != nil {
			t.Fatal(err)
		}
	}
	if gas == 0 {
		gas = 1_000_000
	}
	if value == nil {
		value = new(big.Int)
	}
	head, err := n.Client.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	tip := big.NewInt(params.GWei)
	feeCap := new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip)
	tx, err := types.SignNewTx(n.Keys[i], types.LatestSignerForChainID(n.ChainID), &types.DynamicFeeTx{
		ChainID: n.ChainID, Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap, Gas: gas, To: to, Value: value, Data: data,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Client.SendTransaction(ctx, tx); err != nil {
		t.Fatalf("sending %s: %v", tx.Hash(), err)
	}
	// The pool takes a transaction in at once but promotes it to pending,
	// where the next Commit's block builder looks, on its own goroutine: on
	// a busy machine a Commit right after Send could seal a block without
	// it. The pool's pending nonce passing this one says it is pending.
	for {
		pending, err := n.Client.PendingNonceAt(ctx, from)
		if err != nil {
			t.Fatalf("waiting for %s to be pending: %v", tx.Hash(), err)
		}
		if pending > nonce {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s to be pending: %v", tx.Hash(), ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
	n.nonces[from] = nonce + 1
	return tx
}
