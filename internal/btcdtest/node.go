package btcdtest

import (
	"bytes"
	"errors"
	"fmt"
	"go/build"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/wire"
)

// Environment variables read by Start.
const (
	// EnvBin is the path of the btcd binary to use.
	EnvBin = "BTCD_BIN"
	// EnvRequire, set to 1, turns a missing binary from a skip into a failure.
	EnvRequire = "TRACER_REQUIRE_BTCD"
)

const (
	rpcUser = "u"
	rpcPass = "p"

	startTimeout = time.Minute
	stopTimeout  = 15 * time.Second
	// startAttempts covers another process taking a port between our
	// choosing it and btcd binding it.
	startAttempts = 3
)

// Node is a btcd process in regtest, its RPC client and the harness wallet.
type Node struct {
	tb       testing.TB
	dir      string
	rpcHost  string
	p2pAddr  string
	cmd      *exec.Cmd
	exited   chan struct{}
	waitErr  error
	client   *rpcclient.Client
	stopOnce sync.Once

	wallet wallet
}

// Start starts btcd in regtest and returns when it answers RPC. The node is
// stopped when the test ends. Without a btcd binary the test is skipped
// (or fails with TRACER_REQUIRE_BTCD=1).
func Start(tb testing.TB) *Node {
	tb.Helper()
	bin, err := findBinary()
	if err != nil {
		if os.Getenv(EnvRequire) == "1" {
			tb.Fatalf("%v; %s=1 requires btcd", err, EnvRequire)
		}
		tb.Skipf("%v (%s=1 makes this a failure)", err, EnvRequire)
	}
	n := &Node{tb: tb, dir: tb.TempDir()}
	n.wallet.init(&chaincfg.RegressionNetParams)
	begin := time.Now()
	for attempt := 1; ; attempt++ {
		err = n.start(bin)
		if err == nil {
			break
		}
		if attempt == startAttempts || !errors.Is(err, errPortTaken) {
			tb.Fatal(err)
		}
	}
	n.wallet.client = n.client
	tb.Logf("btcdtest: btcd answering on %s after %v (log %s)", n.rpcHost, time.Since(begin).Round(time.Millisecond), n.LogPath())
	tb.Cleanup(n.Stop)
	return n
}

var errPortTaken = errors.New("port taken")

func (n *Node) start(bin string) error {
	ports, err := freePorts(2)
	if err != nil {
		return fmt.Errorf("btcdtest: choosing ports: %w", err)
	}
	n.rpcHost = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	n.p2pAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
	out, err := os.Create(filepath.Join(n.dir, "btcd.out"))
	if err != nil {
		return fmt.Errorf("btcdtest: %w", err)
	}
	defer out.Close() // the child holds its own descriptor

	cmd := exec.Command(bin,
		"--regtest",
		"--datadir="+filepath.Join(n.dir, "data"),
		"--logdir="+filepath.Join(n.dir, "logs"),
		"--rpcuser="+rpcUser,
		"--rpcpass="+rpcPass,
		"--rpclisten="+n.rpcHost,
		"--listen="+n.p2pAddr,
		"--notls",
		"--miningaddr="+n.wallet.mining.Address.EncodeAddress(),
		"--txindex",
		"--relaynonstd",
		"--debuglevel=info",
	)
	// btcd creates ~/.btcd (and would read btcd.conf there on other
	// networks) whatever --datadir says.
	cmd.Env = append(os.Environ(), "HOME="+n.dir)
	cmd.Dir = n.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("btcdtest: starting %s: %w", bin, err)
	}
	n.cmd = cmd
	n.exited = make(chan struct{})
	go func() {
		n.waitErr = cmd.Wait()
		close(n.exited)
	}()

	n.client, err = rpcclient.New(&rpcclient.ConnConfig{
		Host:         n.rpcHost,
		User:         rpcUser,
		Pass:         rpcPass,
		HTTPPostMode: true,
		DisableTLS:   true,
	}, nil)
	if err == nil {
		err = n.waitRPC()
	}
	if err != nil {
		if n.client != nil {
			n.client.Shutdown()
		}
		n.kill()
		logs := n.logTail()
		if strings.Contains(logs, "address already in use") {
			return fmt.Errorf("btcdtest: %w: %v", errPortTaken, err)
		}
		return fmt.Errorf("btcdtest: btcd did not start: %w\n%s", err, logs)
	}
	return nil
}

// waitRPC waits for the RPC port to accept connections, then checks that
// RPC answers. rpcclient itself is no poller: in HTTP POST mode it retries
// a refused connection ten times with a growing backoff (0.5 s, 1 s, ...),
// so a call to a node that is not up blocks for about 27 s.
func (n *Node) waitRPC() error {
	deadline := time.Now().Add(startTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.DialTimeout("tcp", n.rpcHost, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("RPC port %s not open within %v: %w", n.rpcHost, startTimeout, err)
		}
		select {
		case <-n.exited:
			return fmt.Errorf("exited: %v", n.waitErr)
		case <-tick.C:
		}
	}
	if _, err := n.client.GetBlockCount(); err != nil {
		return fmt.Errorf("getblockcount on %s: %w", n.rpcHost, err)
	}
	return nil
}

// Stop stops btcd (SIGTERM, then SIGKILL) and waits for it. The test's
// cleanup calls it; calling it earlier simulates a node going away.
func (n *Node) Stop() {
	n.stopOnce.Do(func() {
		n.client.Shutdown()
		if err := n.cmd.Process.Signal(syscall.SIGTERM); err == nil {
			select {
			case <-n.exited:
			case <-time.After(stopTimeout):
				n.tb.Errorf("btcdtest: btcd still running %v after SIGTERM, killed", stopTimeout)
			}
		}
		n.kill()
	})
}

func (n *Node) kill() {
	select {
	case <-n.exited:
		return
	default:
	}
	killGroup(n.cmd.Process.Pid)
	<-n.exited
}

func (n *Node) logTail() string {
	var b strings.Builder
	for _, path := range []string{filepath.Join(n.dir, "btcd.out"), n.LogPath()} {
		data, err := os.ReadFile(path)
		if err != nil || len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		fmt.Fprintf(&b, "--- %s ---\n%s\n", path, bytes.TrimSpace(data))
	}
	return b.String()
}

// RPCHost is the host:port of the JSON-RPC server (plain HTTP).
func (n *Node) RPCHost() string { return n.rpcHost }

// P2PAddr is the host:port btcd listens on for peers.
func (n *Node) P2PAddr() string { return n.p2pAddr }

// User is the RPC user name.
func (n *Node) User() string { return rpcUser }

// Pass is the RPC password.
func (n *Node) Pass() string { return rpcPass }

// Params are the chain parameters (regtest).
func (n *Node) Params() *chaincfg.Params { return n.wallet.params }

// LogPath is the path of btcd's log file.
func (n *Node) LogPath() string { return filepath.Join(n.dir, "logs", "regtest", "btcd.log") }

// Client is an RPC client in HTTP POST mode without TLS. It is shut down
// when the node stops.
func (n *Node) Client() *rpcclient.Client { return n.client }

// MiningAddress is the harness's P2PKH address that coinbases and change pay.
func (n *Node) MiningAddress() btcutil.Address { return n.wallet.mining.Address }

// Generate mines num blocks with btcd's generate RPC, which takes the
// mempool's transactions, and returns their hashes.
func (n *Node) Generate(num uint32) []*chainhash.Hash {
	n.tb.Helper()
	hashes, err := n.wallet.generate(num)
	if err != nil {
		n.tb.Fatal(err)
	}
	return hashes
}

// ActivationHeight is the regtest tip height from which CSV, segwit and
// taproot rules apply to the next block. btcd's regtest, unlike Bitcoin
// Core's, activates them by BIP9 votes in windows of 144 blocks: the
// deployments start at block 144, lock in at 288 after 108 votes, and
// are active from block 432. Before that the mempool rejects any
// transaction with witness data ("segwit isn't active yet").
const ActivationHeight = 431

// ActivateSoftForks mines up to ActivationHeight, unless the chain is there
// already, and checks with getblockchaininfo that segwit and taproot are
// active. It matures coinbases too: every script kind can then be spent.
func (n *Node) ActivateSoftForks() []*chainhash.Hash {
	n.tb.Helper()
	var hashes []*chainhash.Hash
	if _, h := n.Tip(); h < ActivationHeight {
		hashes = n.Generate(uint32(ActivationHeight - h))
	}
	info, err := n.client.GetBlockChainInfo()
	if err != nil {
		n.tb.Fatalf("btcdtest: getblockchaininfo: %v", err)
	}
	for _, name := range []string{"segwit", "taproot"} {
		if fork, ok := info.Bip9SoftForks[name]; !ok || fork.Status != "active" {
			n.tb.Fatalf("btcdtest: %s not active at height %d: %+v", name, info.Blocks, fork)
		}
	}
	return hashes
}

// InvalidateBlock marks the block and its descendants invalid, so the node
// reorganizes to the best remaining chain.
func (n *Node) InvalidateBlock(hash *chainhash.Hash) {
	n.tb.Helper()
	if err := n.client.InvalidateBlock(hash); err != nil {
		n.tb.Fatalf("btcdtest: invalidateblock %s: %v", hash, err)
	}
}

// ReconsiderBlock undoes InvalidateBlock for the block and its descendants.
func (n *Node) ReconsiderBlock(hash *chainhash.Hash) {
	n.tb.Helper()
	if err := n.client.ReconsiderBlock(hash); err != nil {
		n.tb.Fatalf("btcdtest: reconsiderblock %s: %v", hash, err)
	}
}

// Tip returns the hash and height of the best block.
func (n *Node) Tip() (*chainhash.Hash, int64) {
	n.tb.Helper()
	hash, err := n.client.GetBestBlockHash()
	if err != nil {
		n.tb.Fatalf("btcdtest: getbestblockhash: %v", err)
	}
	hdr, err := n.client.GetBlockHeaderVerbose(hash)
	if err != nil {
		n.tb.Fatalf("btcdtest: getblockheader %s: %v", hash, err)
	}
	return hash, int64(hdr.Height)
}

// BlockHash returns the hash of the best chain's block at height.
func (n *Node) BlockHash(height int64) *chainhash.Hash {
	n.tb.Helper()
	hash, err := n.client.GetBlockHash(height)
	if err != nil {
		n.tb.Fatalf("btcdtest: getblockhash %d: %v", height, err)
	}
	return hash
}

// Block returns a block of the node.
func (n *Node) Block(hash *chainhash.Hash) *wire.MsgBlock {
	n.tb.Helper()
	b, err := n.client.GetBlock(hash)
	if err != nil {
		n.tb.Fatalf("btcdtest: getblock %s: %v", hash, err)
	}
	return b
}

// findBinary looks for btcd where Start's documentation says.
func findBinary() (string, error) {
	if p := os.Getenv(EnvBin); p != "" {
		if isExecutable(p) {
			return filepath.Abs(p)
		}
		return "", fmt.Errorf("btcdtest: %s=%s is not an executable file", EnvBin, p)
	}
	if p, err := exec.LookPath("btcd"); err == nil {
		return p, nil
	}
	tried := []string{"$PATH"}
	for _, gopath := range filepath.SplitList(build.Default.GOPATH) {
		p := filepath.Join(gopath, "bin", "btcd")
		if isExecutable(p) {
			return p, nil
		}
		tried = append(tried, p)
	}
	if root, ok := moduleRoot(); ok {
		p := filepath.Join(root, "bin", "btcd")
		if isExecutable(p) {
			return p, nil
		}
		tried = append(tried, p)
	}
	return "", fmt.Errorf("btcdtest: no btcd binary (looked in $%s, %s): run `make btcd`", EnvBin, strings.Join(tried, ", "))
}

// moduleRoot walks up from the working directory (the package's, under go
// test) to the directory holding go.mod.
func moduleRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// freePorts returns n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
