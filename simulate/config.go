package simulate

import (
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
)

// Config says what chain to generate. Start from DefaultConfig and change
// what you need; New rejects values it cannot honour.
type Config struct {
	// Blocks is the number of blocks, height 0 included: the network's
	// genesis block, then the premine (a block per 20,000 starting coins,
	// one for every 3,600 users), then the traffic. Zero
	// means Next never runs out (for benchmarks that stream);
	// WriteBlocksDir needs a limit.
	Blocks int
	// TxsPerBlock is the number of transactions in each block after the
	// premine, the coinbase included. Planted transactions count toward it; a
	// block holds more when they alone exceed it.
	TxsPerBlock int
	// Seed drives every random choice: the same Config yields the same bytes.
	Seed int64
	// Params selects the network: magic, address encoding, subsidy schedule
	// and pow limit. Nil means regtest.
	Params *chaincfg.Params
	// StartTime is the time of block 1 (block 0 is the network's genesis
	// block, with its own time). Blocks follow about 10 minutes apart.
	StartTime time.Time

	// Users is the number of ordinary users, whose traffic is the bulk of
	// the chain.
	Users int
	// Miners is the number of mining pools that the coinbases pay.
	Miners int
	// Exchanges is the number of exchanges: deposit addresses per customer,
	// swept into a hot wallet that makes batch payouts.
	Exchanges int

	// The planted scenario.
	Brokers        int // precursor brokers
	Buyers         int // buyers paying brokers fixed amounts repeatedly
	Cartels        int // cartel wallets receiving broker money and funding buyers
	Intermediaries int // intermediaries (mules) the brokers route funds through
}

// DefaultConfig is a day of regtest chain at a modest density with the
// default scenario: 3 brokers, 10 buyers, 2 cartels, 3 exchanges.
func DefaultConfig() Config {
	return Config{
		Blocks:         144,
		TxsPerBlock:    400,
		Seed:           1,
		Params:         &chaincfg.RegressionNetParams,
		StartTime:      time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		Users:          10000,
		Miners:         4,
		Exchanges:      3,
		Brokers:        3,
		Buyers:         10,
		Cartels:        2,
		Intermediaries: 6,
	}
}

// Limits of Config values.
const (
	MaxTxsPerBlock = 50000
	MaxUsers       = 10_000_000
	maxScenario    = 1000
)

// ErrConfig is wrapped by every error New returns for a bad Config.
var ErrConfig = errors.New("simulate: invalid config")

func (c *Config) validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, a...)...)
	}
	if c.Params == nil {
		c.Params = &chaincfg.RegressionNetParams
	}
	switch {
	case c.Blocks < 0:
		return bad("Blocks %d is negative", c.Blocks)
	case c.TxsPerBlock < 1 || c.TxsPerBlock > MaxTxsPerBlock:
		return bad("TxsPerBlock %d is outside 1..%d", c.TxsPerBlock, MaxTxsPerBlock)
	case c.Users < 100 || c.Users > MaxUsers:
		return bad("Users %d is outside 100..%d", c.Users, MaxUsers)
	case c.Miners < 1 || c.Miners > maxScenario:
		return bad("Miners %d is outside 1..%d", c.Miners, maxScenario)
	case c.Exchanges < 1 || c.Exchanges > maxScenario:
		return bad("Exchanges %d is outside 1..%d", c.Exchanges, maxScenario)
	case c.Brokers < 1 || c.Brokers > maxScenario:
		return bad("Brokers %d is outside 1..%d", c.Brokers, maxScenario)
	case c.Buyers < 1 || c.Buyers > maxScenario:
		return bad("Buyers %d is outside 1..%d", c.Buyers, maxScenario)
	case c.Cartels < 1 || c.Cartels > maxScenario:
		return bad("Cartels %d is outside 1..%d", c.Cartels, maxScenario)
	case c.Intermediaries < 1 || c.Intermediaries > maxScenario:
		return bad("Intermediaries %d is outside 1..%d", c.Intermediaries, maxScenario)
	}
	// Header timestamps are uint32 seconds; leave room for the whole chain.
	start := c.StartTime.Unix()
	span := int64(c.Blocks) * 840
	if c.Blocks == 0 {
		span = 10 * 365 * 24 * 3600 // an endless stream gets ten years
	}
	if gen := c.Params.GenesisBlock; gen == nil || c.Params.GenesisHash == nil {
		return bad("Params %q have no genesis block", c.Params.Name)
	} else if start <= gen.Header.Timestamp.Unix() || start+span > 1<<32-1 {
		return bad("StartTime %s must be after the %s genesis block (%s) and leave the chain within 2106",
			c.StartTime.UTC().Format(time.RFC3339), c.Params.Name, gen.Header.Timestamp.UTC().Format(time.RFC3339))
	}
	return nil
}
