package btc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/nats-io/nats.go"

	"github.com/tracerproject/tracer/internal/btcdtest"
	"github.com/tracerproject/tracer/stream"
)

func newTestRPCSource(t *testing.T, cfg RPCConfig) *RPCSource {
	t.Helper()
	s, err := NewRPCSource(cfg)
	if err != nil {
		t.Fatalf("NewRPCSource(%+v): %v", cfg, err)
	}
	t.Cleanup(s.Close)
	return s
}

// wantErr checks that err is an error whose message holds every part.
func wantErr(t *testing.T, name string, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got no error, want one mentioning %q", name, parts)
		return
	}
	t.Logf("%s: %v", name, err)
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: got error %q, want it to mention %q", name, err, p)
		}
	}
}

// TestRPCSourceBtcd runs RPCSource and the Ingestor against a real btcd in
// regtest, directly and through a proxy that corrupts one answer.
func TestRPCSourceBtcd(t *testing.T) {
	node := btcdtest.Start(t)
	hashes := node.Generate(3)
	ctx := context.Background()
	cfg := RPCConfig{Host: node.RPCHost(), User: node.User(), Pass: node.Pass(), Timeout: 10 * time.Second}

	t.Run("wrong password", func(t *testing.T) {
		bad := cfg
		bad.Pass = "not-" + cfg.Pass
		_, err := newTestRPCSource(t, bad).Params(ctx)
		wantErr(t, "Params", err, node.RPCHost(), "getblockhash 0", "authentication failed", "--rpc-pass")
	})

	t.Run("calls", func(t *testing.T) {
		s := newTestRPCSource(t, cfg)
		params, err := s.Params(ctx)
		if err != nil {
			t.Fatalf("Params: %v", err)
		}
		if params != &chaincfg.RegressionNetParams {
			t.Errorf("Params: got %s, want regtest", params.Name)
		}
		best, err := s.BestHeight(ctx)
		if err != nil || best != 3 {
			t.Fatalf("BestHeight: got %d, %v, want 3", best, err)
		}
		for h := int64(0); h <= best; h++ {
			want := *node.BlockHash(h)
			got, err := s.BlockHash(ctx, h)
			if err != nil || got != want {
				t.Fatalf("BlockHash(%d): got %s, %v, want %s", h, got, err, want)
			}
			mb, err := s.Block(ctx, got)
			if err != nil {
				t.Fatalf("Block(%s): %v", got, err)
			}
			nb := node.Block(&want)
			if mb.BlockHash() != want || len(mb.Transactions) != len(nb.Transactions) || mb.Transactions[0].TxHash() != nb.Transactions[0].TxHash() {
				t.Errorf("Block(%s) at height %d: got block %s with %d txs, want the node's with %d", want, h, mb.BlockHash(), len(mb.Transactions), len(nb.Transactions))
			}
		}
		_, err = s.BlockHash(ctx, best+1)
		wantErr(t, "BlockHash above the tip", err, "getblockhash 4")
		var unknown chainhash.Hash
		unknown[0] = 1
		_, err = s.Block(ctx, unknown)
		wantErr(t, "Block of an unknown hash", err, "getblock "+unknown.String())
	})

	// A proxy in front of btcd plays a node that lies once. The ingestor
	// must stop with an error rather than store the lie or spin.
	ingestCases := []struct {
		name string
		// rewrite returns the answer to send instead of btcd's, or nil.
		rewrite func(t *testing.T, method string, params []json.RawMessage) []byte
		want    []string // nil: the run succeeds
	}{
		{name: "honest proxy"},
		{
			name: "getblock answers another block",
			rewrite: func(t *testing.T, method string, params []json.RawMessage) []byte {
				if method != "getblock" || string(params[0]) != `"`+hashes[1].String()+`"` {
					return nil
				}
				return forward(t, node, "getblock", hashes[0].String(), 0)
			},
			want: []string{"source returned block " + hashes[0].String() + " when asked for " + hashes[1].String() + " at height 2"},
		},
		{
			name: "getblockhash names the parent",
			rewrite: func(t *testing.T, method string, params []json.RawMessage) []byte {
				if method != "getblockhash" || string(params[0]) != "2" {
					return nil
				}
				return []byte(`{"result":"` + hashes[0].String() + `","error":null,"id":1}`)
			},
			want: []string{"height 2"},
		},
	}
	for _, c := range ingestCases {
		t.Run("ingestor/"+c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				var req struct {
					Method string            `json:"method"`
					Params []json.RawMessage `json:"params"`
				}
				if err := json.Unmarshal(body, &req); err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				if c.rewrite != nil {
					if answer := c.rewrite(t, req.Method, req.Params); answer != nil {
						w.Write(answer)
						return
					}
				}
				w.Write(forwardRaw(t, node, body))
			}))
			t.Cleanup(srv.Close)
			pcfg := cfg
			pcfg.Host = srv.Listener.Addr().String()
			state, err := OpenChainState(t.TempDir(), 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer state.Close()
			g, err := New(Config{
				Source: newTestRPCSource(t, pcfg), State: state, Publisher: testPublisher(t),
				Params: &chaincfg.RegressionNetParams, To: -1, PollInterval: 20 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			err = g.Run(rctx)
			tip, tipHash := state.Tip()
			if c.want == nil {
				if err != nil || tip != 3 || tipHash != *hashes[2] {
					t.Errorf("Run: got %v with tip %d %s, want nil with tip 3 %s", err, tip, tipHash, hashes[2])
				}
				return
			}
			wantErr(t, "Run", err, c.want...)
			if rctx.Err() != nil {
				t.Errorf("Run: still running after 20s, want it to give up on the lying node")
			}
			if tip != 1 || tipHash != *hashes[0] {
				t.Errorf("tip after the lie: got %d %s, want 1 %s (nothing past the lie stored)", tip, tipHash, hashes[0])
			}
		})
	}
}

// forward sends one JSON-RPC call to the node and returns its raw answer.
func forward(t *testing.T, node *btcdtest.Node, method string, params ...any) []byte {
	body, err := json.Marshal(map[string]any{"jsonrpc": "1.0", "id": 1, "method": method, "params": params})
	if err != nil {
		t.Error(err)
		return nil
	}
	return forwardRaw(t, node, body)
}

func forwardRaw(t *testing.T, node *btcdtest.Node, body []byte) []byte {
	req, err := http.NewRequest(http.MethodPost, "http://"+node.RPCHost(), bytes.NewReader(body))
	if err != nil {
		t.Error(err)
		return nil
	}
	req.SetBasicAuth(node.User(), node.Pass())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("proxy to btcd: %v", err)
		return nil
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Errorf("proxy to btcd: %v", err)
	}
	return answer
}

// testPublisher is a publisher on an embedded JetStream server of the test.
func testPublisher(t *testing.T) *stream.Publisher {
	t.Helper()
	ns, err := stream.StartServer(stream.ServerConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Close)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	pub, err := stream.NewPublisher(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.EnsureStream(context.Background(), pub.JetStream(), "btc", 1); err != nil {
		t.Fatal(err)
	}
	return pub
}

// TestRPCSourceHostileNode points RPCSource at servers that answer garbage
// or nothing: every failure must name the call and say what is wrong.
func TestRPCSourceHostileNode(t *testing.T) {
	ctx := context.Background()
	someHash := chaincfg.MainNetParams.GenesisHash.String()
	const blockHashHeight = 7

	cases := []struct {
		name   string
		status int
		body   string
		call   string // params, bestheight, blockhash or block
		want   []string
	}{
		{"html page", 200, "<html><body>It works!</body></html>", "params",
			[]string{"getblockhash 0", "not valid JSON-RPC", "It works!"}},
		{"bad gateway", 502, "<html><body>502 Bad Gateway</body></html>", "bestheight",
			[]string{"getblockcount", "not valid JSON-RPC", "502"}},
		{"empty answer", 200, "", "params",
			[]string{"getblockhash 0", "not valid JSON-RPC"}},
		{"truncated JSON", 200, `{"result":"` + someHash[:20], "blockhash",
			[]string{"getblockhash 7", "not valid JSON-RPC"}},
		{"number for a hash", 200, `{"result":5,"error":null,"id":1}`, "blockhash",
			[]string{"getblockhash 7", "not valid JSON-RPC"}},
		{"string for a height", 200, `{"result":"ten","error":null,"id":1}`, "bestheight",
			[]string{"getblockcount", "not valid JSON-RPC"}},
		{"hash not hex", 200, `{"result":"` + strings.Repeat("z", 64) + `","error":null,"id":1}`, "blockhash",
			[]string{"getblockhash 7", "not a block hash"}},
		{"null result", 200, `{"result":null,"error":null,"id":1}`, "blockhash",
			[]string{"getblockhash 7", "not valid JSON-RPC"}},
		{"node error", 500, `{"result":null,"error":{"code":-8,"message":"Block height out of range"},"id":1}`, "blockhash",
			[]string{"getblockhash 7", "Block height out of range", "-8"}},
		{"unknown genesis", 200, `{"result":"` + strings.Repeat("ab", 32) + `","error":null,"id":1}`, "params",
			[]string{"unknown network", strings.Repeat("ab", 32)}},
		{"block not hex", 200, `{"result":"this is not hex","error":null,"id":1}`, "block",
			[]string{"getblock " + someHash, "not hex"}},
		{"block that does not decode", 200, `{"result":"0100000000","error":null,"id":1}`, "block",
			[]string{"getblock " + someHash, "not a serialized block"}},
		{"wrong auth", 401, "", "params",
			[]string{"getblockhash 0", "authentication failed", "--rpc-user", "--rpc-pass"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(c.status)
				io.WriteString(w, c.body)
			}))
			t.Cleanup(srv.Close)
			s := newTestRPCSource(t, RPCConfig{Host: srv.Listener.Addr().String(), User: "u", Pass: "p", Timeout: 5 * time.Second})
			var err error
			switch c.call {
			case "params":
				_, err = s.Params(ctx)
			case "bestheight":
				_, err = s.BestHeight(ctx)
			case "blockhash":
				_, err = s.BlockHash(ctx, blockHashHeight)
			case "block":
				var h *chainhash.Hash
				h, err = chainhash.NewHashFromStr(someHash)
				if err != nil {
					t.Fatal(err)
				}
				_, err = s.Block(ctx, *h)
			}
			wantErr(t, c.call, err, append([]string{srv.Listener.Addr().String()}, c.want...)...)
		})
	}

	t.Run("testnet4 genesis", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"result":"`+TestNet4Params.GenesisHash.String()+`","error":null,"id":1}`)
		}))
		t.Cleanup(srv.Close)
		p, err := newTestRPCSource(t, RPCConfig{Host: srv.Listener.Addr().String(), User: "u", Pass: "p", Timeout: 5 * time.Second}).Params(ctx)
		if err != nil || p != &TestNet4Params {
			t.Errorf("Params: got %v, %v, want testnet4", p, err)
		}
	})

	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		s := newTestRPCSource(t, RPCConfig{Host: addr, User: "u", Pass: "p", Timeout: 5 * time.Second})
		start := time.Now()
		_, err = s.Params(ctx)
		wantErr(t, "Params", err, addr, "getblockhash 0", "connection refused", "--rpc")
		// Retrying a refused connection hides the cause behind the wait.
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Params: failed after %v, want at once", d)
		}
	})

	t.Run("no answer", func(t *testing.T) {
		// The first request hangs, later ones are answered: a hung
		// request must neither outlive its timeout nor hold up the next.
		release := make(chan struct{})
		first := make(chan struct{}, 1)
		first <- struct{}{}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-first:
				select {
				case <-r.Context().Done():
				case <-release:
				}
				return
			default:
			}
			io.WriteString(w, `{"result":42,"error":null,"id":1}`)
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(release) }) // runs before srv.Close
		const timeout = 300 * time.Millisecond
		s := newTestRPCSource(t, RPCConfig{Host: srv.Listener.Addr().String(), User: "u", Pass: "p", Timeout: timeout})
		start := time.Now()
		_, err := s.BestHeight(ctx)
		d := time.Since(start)
		wantErr(t, "BestHeight", err, "getblockcount", "no answer within 300ms")
		if d < timeout || d > timeout+2*time.Second {
			t.Errorf("BestHeight: failed after %v, want just after %v", d, timeout)
		}
		if h, err := s.BestHeight(ctx); err != nil || h != 42 {
			t.Errorf("BestHeight after a hung call: got %d, %v, want 42", h, err)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(release) })
		s := newTestRPCSource(t, RPCConfig{Host: srv.Listener.Addr().String(), User: "u", Pass: "p", Timeout: time.Minute})
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err := s.BestHeight(cctx)
		if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
			t.Errorf("BestHeight with a cancelled context: got %v after %v, want context.Canceled at once", err, time.Since(start))
		}
	})
}
