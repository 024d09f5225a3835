package demo

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/tracerproject/tracer/chain"
	"github.com/tracerproject/tracer/ingest/eth"
	"github.com/tracerproject/tracer/pipeline"
	"github.com/tracerproject/tracer/simulate/ethsim"
)

// ethereum is the Ethereum part of the demo: a synthetic ETH and USDT world
// with planted brokers through the same pipeline, into dir. It returns a
// broker's address to explore.
func ethereum(ctx context.Context, w io.Writer, p *pipeline.Pipeline, cfg Config, dir string) (string, error) {
	sc := ethsim.DefaultConfig()
	sc.Blocks = 30
	fmt.Fprintf(w, "\n7. Ethereum: simulating %d blocks (%d txs, about %d token transfers each) in ETH, USDT and USDC into %s\n",
		sc.Blocks, sc.TxsPerBlock, sc.TokenTransfersPerBlock, dir)
	truth, err := ethsim.Generate(sc, dir)
	if err != nil {
		return "", err
	}
	err = p.IngestETH(ctx, pipeline.ETHIngest{BlocksDir: dir, To: -1, Confirmations: 1, Tokens: eth.DefaultTokens(), Progress: cfg.Progress.ETH})
	if cfg.Progress.ETHDone != nil {
		cfg.Progress.ETHDone()
	}
	if err != nil {
		return "", err
	}
	st, err := p.Store(ctx)
	if err != nil {
		return "", err
	}
	es, err := st.EthStats(ctx)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(w, "   The store holds %d blocks, %d transactions, %d transfers (%d token, %d zero-value token), %d addresses\n",
		es.Blocks, es.Txs, es.Transfers, es.Token, es.ZeroValue, es.Addresses)
	t := newTable(w)
	row(t, "  broker", "USDT received", "USDT sent", "ETH sent", "zero-value (poisoning)", "address")
	example := ""
	for _, a := range truth.Actors {
		if a.Role != "precursor-broker" {
			continue
		}
		if example == "" {
			example = a.Address
		}
		assets, err := st.EthAddress(ctx, a.Address)
		if err != nil {
			continue
		}
		var recv, sent, ethSent, zero = "0", "0", "0", uint64(0)
		for _, x := range assets {
			switch x.Asset {
			case strings.ToLower(ethsim.USDT.Hex()):
				recv, sent, zero = chain.FormatAsset(x.Received, x.Asset, true), chain.FormatAsset(x.Sent, x.Asset, true), x.ZeroValue
			case chain.AssetETH:
				ethSent = chain.FormatAsset(x.Sent, x.Asset, true)
			}
		}
		row(t, "  "+a.Name, recv, sent, ethSent, zero, a.Address)
	}
	t.Flush()
	kinds := map[string]int{}
	for _, f := range truth.Flows {
		kinds[f.Kind]++
	}
	fmt.Fprintf(w, "   Planted: %d USDT purchases, %d cash-outs to exchanges, %d ETH payments to cartels, %d poisoning transfers (%s)\n",
		kinds["purchase"], kinds["cash-out"], kinds["cartel-payment"], kinds["poisoning"], filepath.Join(dir, "truth.json"))
	return example, nil
}
