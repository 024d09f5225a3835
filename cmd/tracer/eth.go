package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/ingest/eth"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/service"
	"github.com/tracerproject/tracer/simulate/ethsim"
	"github.com/tracerproject/tracer/store"
)

type ethFlags struct {
	rpc, confirmations, tokens string
	senders                    string
	blocksDir                  string
	from, to                   int64
	follow, traces             bool
}

func newIngestETHCmd(a *app) *cobra.Command {
	var f ethFlags
	cmd := &cobra.Command{
		Use:   "eth",
		Short: "Ingest Ethereum (native, ERC-20 and internal transfers) from a node's JSON-RPC",
		Long: `Ingest Ethereum blocks from any node's JSON-RPC (geth, erigon, …; http:// or
ws://), normalize them into transfers and publish them on the CHAIN_ETH stream:
the ETH value of every transaction with its fee (failed ones marked), the ERC-20
Transfer logs of the selected tokens (zero-value ones flagged: the
address-poisoning pattern), and with --traces the ETH moved by internal calls
(debug_traceBlockByNumber, callTracer). Every block is checked against its
header (transactions and receipts roots, block hash, signatures) before
anything of it is stored. Resumes where it stopped; reorgs are undone.

--tokens: "default" keeps the major USD stablecoins (USDT, USDC, DAI, BUSD,
TUSD, USDP, PYUSD, GUSD), "all" every Transfer log, or a comma-separated list
of symbols and contract addresses.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opt, err := a.ethIngest(cmd, &f)
			if err != nil {
				return err
			}
			if err := a.loadAlerts(); err != nil {
				return err
			}
			return a.withPipeline(func(p *pipeline.Pipeline) error {
				prog := newETHProgress(os.Stderr)
				opt.Progress = prog.update
				err := p.IngestETH(cmd.Context(), opt)
				prog.done()
				return err
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.rpc, "rpc", "", "node JSON-RPC URL, http(s):// or ws(s):// ($TRACER_ETH_RPC)")
	fl.StringVar(&f.blocksDir, "blocks-dir", "", "read saved blocks (DIR/blocks/<height>.json, as tracer simulate eth writes) instead of a node")
	fl.Int64Var(&f.from, "from", 0, "first height to ingest into an empty data directory")
	fl.Int64Var(&f.to, "to", -1, "last height to ingest (default: the tip less the confirmations)")
	fl.BoolVar(&f.follow, "follow", false, "keep following the node's tip")
	fl.StringVar(&f.confirmations, "confirmations", "", `confirmations a block needs (1: the tip), or "finalized" for the node's finalized block ($TRACER_ETH_CONFIRMATIONS)`)
	fl.StringVar(&f.tokens, "tokens", "", `token contracts to keep: default, all, or a list of symbols and addresses ($TRACER_ETH_TOKENS)`)
	fl.BoolVar(&f.traces, "traces", false, "also read internal ETH transfers from call traces (the node must serve debug_traceBlockByNumber)")
	fl.StringVar(&f.senders, "senders", "", `"recover": recover every sender from its signature and check the node's "from" (default); "node": take the node's "from", about twice the throughput ($TRACER_ETH_SENDERS)`)
	return cmd
}

func (a *app) ethIngest(cmd *cobra.Command, f *ethFlags) (pipeline.ETHIngest, error) {
	c := a.cfg.ETH
	c.RPC = firstNonEmpty(f.rpc, c.RPC)
	if f.blocksDir != "" && f.rpc == "" {
		c.RPC = "" // the flag wins over a configured node
	}
	if c.RPC == "" && f.blocksDir == "" {
		return pipeline.ETHIngest{}, fmt.Errorf("ingest eth needs a node: --rpc URL (or eth.rpc, $TRACER_ETH_RPC), or saved blocks: --blocks-dir DIR")
	}
	c.Traces = f.traces || c.Traces
	c.Confirmations = firstNonEmpty(f.confirmations, c.Confirmations)
	c.Tokens = firstNonEmpty(f.tokens, c.Tokens)
	c.Senders = firstNonEmpty(f.senders, c.Senders)
	opt, err := c.Ingest()
	opt.From, opt.To, opt.Follow, opt.BlocksDir = f.from, f.to, f.follow, f.blocksDir
	return opt, err
}

// ethProgress draws the ingest line on a terminal, quiet when piped.
type ethProgress struct {
	mu    sync.Mutex
	out   *os.File
	tty   bool
	start time.Time
	last  time.Time
	drawn bool
}

func newETHProgress(out *os.File) *ethProgress {
	return &ethProgress{out: out, tty: isTerminal(out), start: time.Now()}
}

func (p *ethProgress) update(pr eth.Progress) {
	if !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.last) < 200*time.Millisecond && pr.Height != pr.Target {
		return
	}
	p.last = now
	el := now.Sub(p.start).Seconds()
	bps := float64(pr.Blocks) / el
	eta := "-"
	if bps > 0 && pr.Target > pr.Height {
		eta = (time.Duration(float64(pr.Target-pr.Height)/bps) * time.Second).Round(time.Second).String()
	}
	fmt.Fprintf(p.out, "\r\033[Keth ingest: height %d/%d  %.1f blocks/s  %.0f transfers/s  ETA %s", pr.Height, pr.Target, bps, float64(pr.Transfers)/el, eta)
	p.drawn = true
}

func (p *ethProgress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.out)
	}
}

// writeETHAddress prints an Ethereum address's totals per asset.
func writeETHAddress(w io.Writer, a *service.ETHAddress) error {
	fmt.Fprintf(w, "address %s (ethereum)\n", a.Address)
	t := newTable(w)
	t.row("asset", "received", "sent", "fees", "net", "in", "out", "zero-value", "failed", "txs", "first seen", "last seen")
	for _, x := range a.Assets {
		t.row(chain.AssetSymbol(x.Asset), chain.FormatAsset(x.Received, x.Asset, true), chain.FormatAsset(x.Sent, x.Asset, true), chain.FormatAsset(x.Fees, chain.AssetETH, true), chain.FormatAsset(x.Net, x.Asset, true),
			x.In, x.Out, x.ZeroValue, x.Failed, x.TxCount, ts(x.FirstSeen), ts(x.LastSeen))
	}
	return t.flush()
}

// writeETHTx prints an Ethereum transaction's transfers.
func writeETHTx(w io.Writer, tx *service.ETHTx) error {
	trs := tx.Transfers
	t := newTable(w)
	t.row("txid", tx.Txid)
	t.row("block", fmt.Sprintf("%d %s", trs[0].BlockHeight, trs[0].BlockHash))
	t.row("time", ts(trs[0].Time))
	for _, tr := range trs {
		if tr.Kind == chain.TransferNative {
			t.row("status", map[bool]string{true: "success", false: "failed"}[tr.Success])
			t.row("fee", chain.FormatAsset(tr.Fee, chain.AssetETH, true))
		}
	}
	t.flush()
	fmt.Fprintln(w)
	t = newTable(w)
	t.row("  kind", "index", "asset", "from", "to", "value", "note")
	for _, tr := range trs {
		note := ""
		switch {
		case !tr.Success:
			note = "failed: nothing moved"
		case tr.Zero && tr.Kind == chain.TransferToken:
			note = "zero-value (address poisoning pattern)"
		}
		t.row("  "+tr.Kind, tr.Index, chain.AssetSymbol(tr.Asset), tr.From, tr.To, chain.FormatAsset(tr.Value, tr.Asset, true), note)
	}
	return t.flush()
}

func ethStatsRows(t *table, s *store.EthStats) {
	t.row("chain", s.Chain)
	t.row("engine", s.Engine)
	t.row("blocks", s.Blocks)
	t.row("transactions", s.Txs)
	t.row("transfers", s.Transfers)
	t.row("  token", s.Token)
	t.row("  internal", s.Internal)
	t.row("  zero-value token", s.ZeroValue)
	t.row("  failed", s.Failed)
	t.row("assets", s.Assets)
	t.row("addresses", s.Addresses)
	if s.TipHeight >= 0 {
		t.row("tip", fmt.Sprintf("%d %s", s.TipHeight, s.TipHash))
	} else {
		t.row("tip", "-")
	}
}

func newInspectETHBlockCmd() *cobra.Command {
	var format, receipts, traces, tokens string
	cmd := &cobra.Command{
		Use:   "eth-block FILE",
		Short: "Decode a saved JSON-RPC Ethereum block (+ receipts) and print its normalized transfers",
		Long: `Decode a saved eth_getBlockByNumber reply (full transactions) and the block's
receipts (eth_getBlockReceipts, --receipts FILE) and print the normalized
transfers. FILE may also hold both: a JSON object {"block": …, "receipts": …}.
Each may be the bare result, a JSON-RPC response, or a recorded
request/response pair. The block is checked against its header: transactions
root, receipts root, block hash and signatures. --traces FILE adds internal
transfers from a saved debug_traceBlockByNumber (callTracer) reply. - reads
standard input.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format, "table", "json"); err != nil {
				return err
			}
			read := func(name string) (json.RawMessage, error) {
				var data []byte
				var err error
				if name == "-" {
					data, err = io.ReadAll(cmd.InOrStdin())
				} else {
					data, err = os.ReadFile(name)
				}
				if err != nil {
					return nil, err
				}
				r, err := eth.ResultOf(data)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
				return r, nil
			}
			blockJSON, err := read(args[0])
			if err != nil {
				return err
			}
			var rec, tr json.RawMessage
			if receipts != "" {
				if rec, err = read(receipts); err != nil {
					return err
				}
			}
			if traces != "" {
				if tr, err = read(traces); err != nil {
					return err
				}
			}
			raw, err := eth.SavedBlock(blockJSON, rec, tr)
			if err != nil {
				return err
			}
			tokenSet, err := eth.ParseTokens(tokens)
			if err != nil {
				return err
			}
			b, stats, err := eth.Decode(raw, eth.DecodeOptions{Tokens: tokenSet})
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(cmd.OutOrStdout(), struct {
					*chain.Block
					Skipped map[string]int `json:"skipped_logs,omitempty"`
				}{b, stats.Skipped})
			}
			w := cmd.OutOrStdout()
			t := newTable(w)
			t.row("height", b.Height)
			t.row("hash", b.Hash)
			t.row("parent", b.Parent)
			t.row("time", ts(unixTime(b.Time)))
			t.row("transactions", stats.Txs)
			t.row("logs", stats.Logs)
			t.row("transfers", len(b.Transfers))
			for reason, n := range stats.Skipped {
				t.row("skipped logs: "+reason, n)
			}
			t.flush()
			fmt.Fprintln(w)
			t = newTable(w)
			t.row("tx", "kind", "index", "asset", "from", "to", "value", "note")
			for _, tr := range b.Transfers {
				note := ""
				switch {
				case !tr.Success:
					note = "failed"
				case tr.Zero && tr.Kind == chain.TransferToken:
					note = "zero-value"
				}
				t.row(tr.TxIndex, tr.Kind, tr.Index, chain.AssetSymbol(tr.Asset), tr.From, tr.To, chain.FormatAsset(tr.Value.String(), tr.Asset, true), note)
			}
			return t.flush()
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "table or json")
	cmd.Flags().StringVar(&receipts, "receipts", "", "saved eth_getBlockReceipts reply")
	cmd.Flags().StringVar(&traces, "traces", "", "saved debug_traceBlockByNumber (callTracer) reply")
	cmd.Flags().StringVar(&tokens, "tokens", "default", "token contracts to keep: default, all, or symbols and addresses")
	return cmd
}

func newSimulateETHCmd() *cobra.Command {
	cfg := ethsim.DefaultConfig()
	var out string
	cmd := &cobra.Command{
		Use:   "eth",
		Short: "Write a synthetic Ethereum chain (ETH, USDT, USDC) with planted broker flows and truth.json",
		Long: `Write a synthetic Ethereum mainnet-like chain (chain id 1; real USDT and USDC
contract addresses) as saved JSON-RPC replies, DIR/blocks/<height>.json, with
the ground truth in DIR/truth.json: precursor brokers paid in USDT by buyers,
cashing out to exchanges, paying cartels in ETH, and poisoned with zero-value
transfers. Transactions are signed and every root and hash is real, so the
blocks pass every check of 'tracer ingest eth --blocks-dir DIR'; they were
never executed by an EVM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("--out DIR is required")
			}
			truth, err := ethsim.Generate(cfg, out)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d blocks, %d transactions, %d token transfers to %s (ground truth in %s/truth.json: %d planted transfers)\n",
				truth.Blocks, truth.Txs, truth.Transfers, out, out, len(truth.Flows))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "output directory")
	f.IntVar(&cfg.Blocks, "blocks", cfg.Blocks, "number of blocks")
	f.IntVar(&cfg.TxsPerBlock, "txs-per-block", cfg.TxsPerBlock, "transactions per block (mainnet: about 200)")
	f.IntVar(&cfg.TokenTransfersPerBlock, "token-transfers-per-block", cfg.TokenTransfersPerBlock, "token transfers per block (mainnet: about 300)")
	f.Int64Var(&cfg.Seed, "seed", cfg.Seed, "random seed")
	return cmd
}
