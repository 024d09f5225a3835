package btcdtest

import (
	"crypto/sha256"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// Kind is a kind of output script.
type Kind int

// Kinds of output script that NewScript makes.
const (
	P2PKH             Kind = iota + 1 // compressed key
	P2PKHUncompressed                 // uncompressed key, as in early blocks
	P2PK                              // compressed key
	P2PKUncompressed                  // uncompressed key, as in early coinbases
	Multisig                          // bare 1-of-2 multisig
	P2SHMultisig                      // P2SH-wrapped 1-of-2 multisig
	P2SHP2WPKH                        // P2SH-wrapped P2WPKH (nested segwit)
	P2WPKH
	P2WSH         // 1-of-2 multisig witness script
	P2TR          // BIP86 key path: output key = internal key tweaked by H(P)
	NullData      // OP_RETURN; unspendable
	NonStandard   // <pubkey> OP_CHECKSIG OP_NOP: spendable, but no standard form
	WitnessFuture // segwit version 2 program; unspendable under today's policy
)

// Kinds lists every Kind.
var Kinds = []Kind{P2PKH, P2PKHUncompressed, P2PK, P2PKUncompressed, Multisig,
	P2SHMultisig, P2SHP2WPKH, P2WPKH, P2WSH, P2TR, NullData, NonStandard, WitnessFuture}

var kindNames = map[Kind]string{
	P2PKH: "p2pkh", P2PKHUncompressed: "p2pkh-uncompressed", P2PK: "p2pk",
	P2PKUncompressed: "p2pk-uncompressed", Multisig: "multisig", P2SHMultisig: "p2sh-multisig",
	P2SHP2WPKH: "p2sh-p2wpkh", P2WPKH: "p2wpkh", P2WSH: "p2wsh", P2TR: "p2tr",
	NullData: "nulldata", NonStandard: "nonstandard", WitnessFuture: "witness-v2",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Spendable tells whether the harness can spend outputs of this kind.
func (k Kind) Spendable() bool { return k != NullData && k != WitnessFuture }

// Script is an output script for keys that the harness holds.
type Script struct {
	Kind     Kind
	PkScript []byte
	// Address is the script's address, or nil where it has none: bare
	// multisig, OP_RETURN and nonstandard. For P2PK it is the public key
	// (btcutil.AddressPubKey, whose EncodeAddress is the P2PKH form).
	Address btcutil.Address
	// RedeemScript is the script a P2SH output commits to.
	RedeemScript []byte
	// WitnessScript is the script a P2WSH output commits to.
	WitnessScript []byte

	keys []*btcec.PrivateKey // keys[0] signs
}

// TxOut pays value satoshis to the script.
func (s *Script) TxOut(value int64) *wire.TxOut { return wire.NewTxOut(value, s.PkScript) }

// NewScript returns an output script of the given kind for fresh keys and
// remembers how to spend it.
func (n *Node) NewScript(kind Kind) *Script {
	n.tb.Helper()
	s, err := n.wallet.newScript(kind)
	if err != nil {
		n.tb.Fatal(err)
	}
	return s
}

// newKey derives the next harness key from a counter: addresses repeat from
// run to run, which makes failures easier to compare.
func (w *wallet) newKey() *btcec.PrivateKey {
	w.keySeq++
	seed := sha256.Sum256(fmt.Appendf(nil, "tracer btcdtest key %d", w.keySeq))
	key, _ := btcec.PrivKeyFromBytes(seed[:])
	return key
}

func (w *wallet) newScript(kind Kind) (*Script, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, err := w.makeScript(kind)
	if err != nil {
		return nil, fmt.Errorf("btcdtest: making a %v script: %w", kind, err)
	}
	w.scripts[string(s.PkScript)] = s
	return s, nil
}

func (w *wallet) makeScript(kind Kind) (*Script, error) {
	net := w.params
	key := w.newKey()
	s := &Script{Kind: kind, keys: []*btcec.PrivateKey{key}}
	pub := key.PubKey()
	var err error
	switch kind {
	case P2PKH:
		s.Address, err = btcutil.NewAddressPubKeyHash(btcutil.Hash160(pub.SerializeCompressed()), net)
	case P2PKHUncompressed:
		s.Address, err = btcutil.NewAddressPubKeyHash(btcutil.Hash160(pub.SerializeUncompressed()), net)
	case P2PK:
		s.Address, err = btcutil.NewAddressPubKey(pub.SerializeCompressed(), net)
	case P2PKUncompressed:
		s.Address, err = btcutil.NewAddressPubKey(pub.SerializeUncompressed(), net)
	case Multisig, P2SHMultisig, P2WSH:
		other := w.newKey()
		s.keys = append(s.keys, other)
		var ms []byte
		ms, err = multisig1of2(key, other, net)
		if err != nil {
			return nil, err
		}
		switch kind {
		case Multisig:
			s.PkScript = ms
		case P2SHMultisig:
			s.RedeemScript = ms
			s.Address, err = btcutil.NewAddressScriptHash(ms, net)
		case P2WSH:
			s.WitnessScript = ms
			h := sha256.Sum256(ms)
			s.Address, err = btcutil.NewAddressWitnessScriptHash(h[:], net)
		}
	case P2SHP2WPKH:
		var wpkh *btcutil.AddressWitnessPubKeyHash
		wpkh, err = btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(pub.SerializeCompressed()), net)
		if err != nil {
			return nil, err
		}
		s.RedeemScript, err = txscript.PayToAddrScript(wpkh)
		if err != nil {
			return nil, err
		}
		s.Address, err = btcutil.NewAddressScriptHash(s.RedeemScript, net)
	case P2WPKH:
		s.Address, err = btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(pub.SerializeCompressed()), net)
	case P2TR:
		outputKey := txscript.ComputeTaprootKeyNoScript(pub)
		s.Address, err = btcutil.NewAddressTaproot(schnorr.SerializePubKey(outputKey), net)
	case NullData:
		s.PkScript, err = txscript.NullDataScript(fmt.Appendf(nil, "tracer btcdtest %d", w.keySeq))
	case NonStandard:
		s.PkScript, err = txscript.NewScriptBuilder().
			AddData(pub.SerializeCompressed()).AddOp(txscript.OP_CHECKSIG).AddOp(txscript.OP_NOP).
			Script()
	case WitnessFuture:
		program := sha256.Sum256(pub.SerializeCompressed())
		s.PkScript, err = txscript.NewScriptBuilder().AddOp(txscript.OP_2).AddData(program[:]).Script()
	default:
		return nil, fmt.Errorf("unknown kind %d", int(kind))
	}
	if err != nil {
		return nil, err
	}
	if s.PkScript == nil {
		if s.PkScript, err = txscript.PayToAddrScript(s.Address); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// multisig1of2 is OP_1 <a> <b> OP_2 OP_CHECKMULTISIG with compressed keys.
func multisig1of2(a, b *btcec.PrivateKey, net *chaincfg.Params) ([]byte, error) {
	pa, err := btcutil.NewAddressPubKey(a.PubKey().SerializeCompressed(), net)
	if err != nil {
		return nil, err
	}
	pb, err := btcutil.NewAddressPubKey(b.PubKey().SerializeCompressed(), net)
	if err != nil {
		return nil, err
	}
	return txscript.MultiSigScript([]*btcutil.AddressPubKey{pa, pb}, 1)
}
